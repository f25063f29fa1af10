// 分流查询: the seat types what the citizen said and picks where it goes
// (GET /api/catalogue?q=&limit=).  A combobox usable from the keyboard alone:
// type, ↓/↑ to move, Enter to choose, Esc to close.  Choosing calls
// onPick({target, category, entry}); emergency services put first for safety
// come marked 紧急 with the words that called them.
import { api } from './api.js';
import { h, fill } from './dom.js';
import { bi, text, LABELS } from './i18n.js';

const LIMIT = 8;
const DIALABLE = /^[A-Za-z0-9_]{1,32}$/; // what the transfer form's target accepts (a hotline, a centre)
const HOW = {
  alias: ['俗称', 'everyday word'], phrase: ['原文', 'seed wording'], words: ['词', 'word'],
  synonym: ['近义', 'synonym'], characters: ['字', 'characters'], pinyin: ['同音', 'sounds alike'],
  code: ['编码', 'code'], destination: ['去向', 'destination'], emergency: ['险情', 'danger'],
};

/** The transfer target for an entry: its first destination the phone system can dial, else ''. */
export function dialable(entry) {
  return (entry.destinations || []).find((d) => DIALABLE.test(d)) || '';
}

function why(entry) {
  const parts = (entry.match?.why || []).slice(0, 4).map((w) => {
    const how = text(HOW[w.how] || [w.how, '']);
    return w.term === w.matched ? `${w.term}（${how}）` : `${w.term}→${w.matched}（${how}）`;
  });
  return parts.length ? `${text(LABELS.matchedBy)}：${parts.join('、')}` : '';
}

export function catalogueSearch({ onPick, linkages = {} }) {
  const input = h('input', {
    id: 'divert-q', type: 'search', autocomplete: 'off', role: 'combobox', 'aria-expanded': 'false',
    'aria-controls': 'divert-results', 'aria-autocomplete': 'list', placeholder: text('divertPlaceholder'),
  });
  const list = h('ul', { id: 'divert-results', role: 'listbox', class: 'divert-results', 'aria-label': text('divert') });
  const status = h('p', { id: 'divert-status', class: 'hint', role: 'status' });
  let entries = [];
  let active = -1;
  let asked = 0;
  let timer = null;
  let modes = linkages;

  function setActive(n) {
    active = entries.length ? (n + entries.length) % entries.length : -1;
    list.querySelectorAll('[role=option]').forEach((li, i) => li.setAttribute('aria-selected', String(i === active)));
    if (active >= 0) {
      input.setAttribute('aria-activedescendant', `divert-opt-${active}`);
      list.children[active]?.scrollIntoView?.({ block: 'nearest' });
    } else {
      input.removeAttribute('aria-activedescendant');
    }
  }

  function close() {
    entries = []; active = -1;
    fill(list); input.setAttribute('aria-expanded', 'false'); input.removeAttribute('aria-activedescendant');
  }

  function pick(n) {
    const entry = entries[n];
    if (!entry) return;
    const target = dialable(entry);
    const category = entry.code || '';
    close();
    const chosen = `${entry.code || entry.destination} ${entry.group} → ${entry.destinations.join(' / ')}`;
    fill(status, bi('divertChosen'), ` · ${chosen}`,
      target ? null : h('span', { class: 'warn' }, ` · ${text('divertGuide')}${entry.destinations.join('、')}`));
    status.dataset.code = category;
    onPick({ target, category, entry });
  }

  function option(e, i) {
    const emergency = e.emergency;
    return h('li', {
      id: `divert-opt-${i}`, role: 'option', 'aria-selected': 'false',
      class: `divert-option${emergency ? ' emergency' : ''}`,
      dataset: { code: e.code || '', destination: e.destination, emergency: emergency ? emergency.service : '' },
      onmousedown: (ev) => { ev.preventDefault(); pick(i); },
    },
    h('div', { class: 'divert-head' },
      emergency ? h('span', { class: 'badge bad' }, bi(['紧急', 'Emergency']), ` ${emergency.service}`) : null,
      h('strong', { class: 'divert-dest' }, `→ ${e.destinations.join(' / ')}`),
      h('span', { class: 'divert-linkage' }, modes[e.linkage] || e.linkage),
      h('span', { class: 'mono' }, e.code || text(['内置', 'built-in']))),
    h('div', { class: 'divert-name' }, `${e.group} · ${e.name}`),
    h('div', { class: 'hint' }, why(e), e.section ? ` · ${e.section}` : ''));
  }

  async function search() {
    const q = input.value.trim();
    const mine = ++asked;
    if (!q) { close(); fill(status); return; }
    let found;
    try {
      found = await api('GET', `/api/catalogue?limit=${LIMIT}&q=${encodeURIComponent(q)}`);
    } catch (err) {
      if (mine === asked) fill(status, h('span', { class: 'problem' }, err.message));
      return;
    }
    if (mine !== asked) return; // a newer query is on its way
    modes = found.linkage_modes || modes;
    entries = found.entries;
    if (!found.matched) {
      close();
      fill(status, h('span', { class: 'warn', dataset: { nomatch: 'true' } }, bi('divertNone')),
        found.closest_groups?.length ? h('span', {}, ` ${text('divertClosest')}：`,
          found.closest_groups.map((g) => `${g.group}（${g.destinations.join('/')}）`).join('；')) : null);
      return;
    }
    fill(list, entries.map(option));
    input.setAttribute('aria-expanded', 'true');
    fill(status, `${entries.length} · ${text('divertKeys')}`);
    setActive(0);
  }

  input.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(search, 200); });
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
      ev.preventDefault();
      if (!entries.length) { clearTimeout(timer); search(); return; }
      setActive(active + (ev.key === 'ArrowDown' ? 1 : -1));
    } else if (ev.key === 'Enter') {
      ev.preventDefault(); // never submits a form around it
      if (entries.length) pick(active < 0 ? 0 : active);
      else { clearTimeout(timer); search(); }
    } else if (ev.key === 'Escape') {
      close();
    }
  });
  input.addEventListener('blur', () => setTimeout(close, 150));

  const el = h('div', { class: 'divert', dataset: { panel: 'divert' } },
    h('label', { for: 'divert-q' }, bi('divert')), input, list, status);
  return { el, input };
}
