// Admin pages (系统管理): remote seat groups and thresholds, the diversion
// catalogue, API tokens.  No validation of their own: the API's answers, with
// the field they name, are shown next to that field.
import { api, ApiError } from './api.js';
import { h, fill, clock } from './dom.js';
import { bi, label, text, ROLES } from './i18n.js';
import { live } from './live.js';
import { form } from './forms.js';
import { surgeOf } from './dashboard.js';

export const ADMIN_PAGES = [
  { id: 'overflow', label: 'remoteGroups', mount: mountOverflow },
  { id: 'catalogue', label: 'catalogue', mount: mountCatalogue },
  { id: 'tokens', label: 'tokens', mount: mountTokens },
];

export function mountAdmin(container, { args }) {
  const page = ADMIN_PAGES.find((p) => p.id === args[0]) || ADMIN_PAGES[0];
  const body = h('div', { class: 'admin-body', id: `admin-${page.id}` });
  fill(container, h('div', { class: 'admin' },
    h('nav', { class: 'tabs', 'aria-label': text('admin') }, ADMIN_PAGES.map((p) => h('a', {
      href: `#/admin/${p.id}`, class: p === page ? 'active' : null, dataset: { tab: p.id },
      'aria-current': p === page ? 'page' : null }, bi(p.label)))),
    body));
  return page.mount(body) || null;
}

function problem(err) {
  if (err instanceof ApiError && err.status === 404) return h('p', { class: 'problem' }, bi('notAvailable'));
  if (err instanceof ApiError && err.status === 403) return h('p', { class: 'problem' }, bi('forbidden'));
  return h('p', { class: 'problem', role: 'alert' }, String(err.message || err));
}

const yesNo = (v) => (v ? '✓' : '—');

// ------------------------------------------------------------------ remote seat groups

const GROUP_FIELDS = [
  { name: 'name', label: ['组名', 'Group name'], placeholder: 'nanning-remote' },
  { name: 'centre', label: ['所属中心', 'Centre'], type: 'select' },
  { name: 'members', label: ['成员（拨号串）', 'Members (dial strings)'], type: 'list',
    placeholder: 'PJSIP/nn-7, PJSIP/13800138000@gx-trunk, Local/9001@remote-phones',
    hint: ['多个成员用逗号或空格分隔', 'separate members with commas or spaces'] },
  { name: 'priority', label: ['优先级（1 最先）', 'Priority (1 first)'], type: 'number' },
  { name: 'min_waiting', label: ['排队数 ≥', 'Waiting calls ≥'], type: 'number',
    hint: ['达到即启用远程座席；留空为不按排队数', 'open at this many waiting; empty: not used'] },
  { name: 'max_wait_s', label: ['最长等待 ≥（秒）', 'Longest wait ≥ (s)'], type: 'number' },
  { name: 'when_no_local_free', label: ['本地坐席全忙时启用', 'Open when no local seat is free'], type: 'checkbox' },
  { name: 'enabled', label: ['启用', 'Enabled'], type: 'checkbox', value: true },
];

function mountOverflow(container) {
  const centres = (live.snapshot?.centres || []).map((c) => [c.id, [`${c.id} ${c.name}`, '']]);
  const fields = GROUP_FIELDS.map((f) => (f.name === 'centre'
    ? { ...f, options: centres.length ? centres : [['12345', ['12345', '']], ['110', ['110', '']]] } : f));
  const list = h('div', { id: 'groups' }, h('p', { class: 'empty' }, bi('loading')));
  const surge = h('div', { class: 'surge-now' });
  let editing = null;
  const heading = h('h3', {}, bi('add'));
  const cancel = h('button', { type: 'button', class: 'link', hidden: true, onclick: () => startEdit(null) }, bi('cancel'));
  const f = form({
    id: 'group-form', fields, submit: 'save', extraButtons: [cancel],
    async onSubmit(values, self) {
      if (editing) {
        const { name, ...changes } = values;
        await api('PATCH', `/api/overflow/groups/${encodeURIComponent(editing)}`, changes);
      } else {
        await api('POST', '/api/overflow/groups', values);
      }
      self.say(h('span', { class: 'ok' }, bi('saved'), ` · ${values.name || editing}`));
      startEdit(null, true);
      await load();
    },
  });

  function startEdit(group, keepMessage = false) {
    editing = group ? group.name : null;
    fill(heading, bi(group ? ['编辑远程座席组', 'Edit group'] : ['新增远程座席组', 'Add a remote seat group']),
      group ? ` · ${group.name}` : '');
    if (!keepMessage) f.clearErrors();
    f.setValues(group || { name: '', members: [], priority: 1, min_waiting: null, max_wait_s: null,
      when_no_local_free: false, enabled: true });
    f.setReadonly('name', Boolean(group));
    cancel.hidden = !group;
  }

  async function load() {
    let groups;
    try {
      groups = (await api('GET', '/api/overflow/groups')).groups;
    } catch (err) { fill(list, problem(err)); return; }
    fill(list, groups.length ? h('table', { class: 'groups' },
      h('thead', {}, h('tr', {}, [['组名', 'Group'], ['中心', 'Centre'], ['成员', 'Members'], ['优先级', 'Priority'],
        ['排队数 ≥', 'Waiting ≥'], ['等待 ≥ 秒', 'Wait ≥ s'], ['全忙', 'No free'], ['启用', 'Enabled'], ['', '']]
        .map((p) => h('th', {}, bi(p))))),
      h('tbody', {}, groups.map((g) => h('tr', { dataset: { group: g.name } },
        h('td', {}, g.name), h('td', {}, g.centre), h('td', { class: 'mono' }, (g.members || []).join(' ')),
        h('td', {}, g.priority), h('td', {}, g.min_waiting ?? '—'), h('td', {}, g.max_wait_s ?? '—'),
        h('td', {}, yesNo(g.when_no_local_free)), h('td', {}, yesNo(g.enabled)),
        h('td', { class: 'row-actions' },
          h('button', { type: 'button', class: 'link', dataset: { edit: g.name }, onclick: () => startEdit(g) }, bi('edit')),
          h('button', { type: 'button', class: 'link danger', dataset: { delete: g.name }, onclick: async () => {
            if (!window.confirm(`${text('delete')} ${g.name}?`)) return;
            try { await api('DELETE', `/api/overflow/groups/${encodeURIComponent(g.name)}`); } catch (err) { f.showError(err); }
            await load();
          } }, bi('delete'))))))) : h('p', { class: 'empty' }, bi(['尚无远程座席组', 'No remote seat group yet'])));
  }

  const states = (live.snapshot?.centres || []).map((c) => {
    const surge = surgeOf(c);
    return h('span', { class: `badge surge surge-${surge.state}`, dataset: { surgeCentre: c.id, surge: surge.state } },
      `${c.id}: `, bi(surge.state === 'on' ? 'surgeOn' : surge.state === 'off' ? 'surgeOff' : 'surgeUnknown'),
      surge.detail ? ` · ${surge.detail}` : '');
  });
  fill(surge, states);
  fill(container, h('section', { class: 'card' }, h('h2', {}, bi('remoteGroups'), ' ', h('small', {}, bi('thresholds'))),
    surge, list), h('section', { class: 'card' }, heading, f.el));
  startEdit(null);
  load();
}

// ------------------------------------------------------------------ catalogue

const ENTRY_FIELDS = [
  { name: 'code', label: ['编码', 'Code'], placeholder: 'QZ-9-01' },
  { name: 'section', label: ['所属部分', 'Section'] },
  { name: 'group', label: ['类别', 'Group'] },
  { name: 'name', label: ['事项', 'Matter'], type: 'textarea', rows: 2 },
  { name: 'aliases', label: ['俗称（市民常用说法，用于查询）', 'Everyday words (for search)'], type: 'list',
    placeholder: '下水道堵了, 井盖没了' },
  { name: 'destinations', label: ['去向（首个为主）', 'Destinations (first is primary)'], type: 'list',
    placeholder: '12345, 110, 120, 12315, 95598' },
  { name: 'linkage', label: ['联动方式', 'Linkage'], type: 'select', options: [] },
  { name: 'handling', label: ['处置方式', 'Handling'] },
  { name: 'note', label: ['备注', 'Note'] },
  { name: 'enabled', label: ['启用', 'Enabled'], type: 'checkbox', value: true },
];

function mountCatalogue(container) {
  const q = h('input', { id: 'catalogue-q', type: 'search', placeholder: '电梯 / 停电 / QZ-1', autocomplete: 'off' });
  const list = h('div', { id: 'catalogue-list' }, h('p', { class: 'empty' }, bi('loading')));
  const jurisdiction = h('span', { class: 'badge' });
  const heading = h('h3', {});
  let editing = null;
  let original = null;
  let f = null;
  const formSlot = h('div');
  const cancel = h('button', { type: 'button', class: 'link', onclick: () => startEdit(null) }, bi('cancel'));

  function build(linkages) {
    const fields = ENTRY_FIELDS.map((x) => (x.name === 'linkage'
      ? { ...x, options: Object.entries(linkages).map(([k, v]) => [k, [v, k]]) } : x));
    f = form({
      id: 'entry-form', fields, submit: 'save', extraButtons: [cancel],
      async onSubmit(values, self) {
        if (!values.note) delete values.note;
        if (editing) {
          const { code, ...rest } = values;
          const changes = {};
          for (const [k, v] of Object.entries(rest)) {
            if (JSON.stringify(v ?? null) !== JSON.stringify(original[k] ?? null)) changes[k] = v;
          }
          await api('PATCH', `/api/catalogue/${encodeURIComponent(editing)}`, changes);
        } else {
          await api('POST', '/api/catalogue', values);
        }
        self.say(h('span', { class: 'ok' }, bi('saved'), ` · ${values.code || editing}`));
        q.value = values.code || editing;
        startEdit(null, true);
        await search();
      },
    });
    fill(formSlot, f.el);
    startEdit(null);
  }

  function startEdit(entry, keepMessage = false) {
    editing = entry ? entry.code : null;
    original = entry;
    fill(heading, bi(entry ? ['编辑分流事项', 'Edit entry'] : ['新增分流事项', 'Add an entry']), entry ? ` · ${entry.code}` : '');
    if (!f) return;
    if (!keepMessage) f.clearErrors();
    f.setValues(entry || { code: '', section: '', group: '', name: '', aliases: [], destinations: [], handling: '', note: '', enabled: true });
    f.setReadonly('code', Boolean(entry));
    cancel.hidden = !entry;
  }

  async function search() {
    let found;
    try {
      found = await api('GET', `/api/catalogue?include_disabled=true${q.value.trim() ? `&limit=50&q=${encodeURIComponent(q.value.trim())}` : ''}`);
    } catch (err) { fill(list, problem(err)); return; }
    fill(jurisdiction, found.jurisdiction);
    if (!f) build(found.linkage_modes || {});
    const shown = found.entries.slice(0, 50);
    fill(list, h('p', { class: 'hint' }, `${found.count} · ${text(['显示前 50 条', 'first 50 shown'])}`),
      h('table', { class: 'catalogue' },
        h('thead', {}, h('tr', {}, [['编码', 'Code'], ['类别', 'Group'], ['事项', 'Matter'], ['去向', 'To'],
          ['联动', 'Linkage'], ['启用', 'On'], ['', '']].map((p) => h('th', {}, bi(p))))),
        h('tbody', {}, shown.map((e) => h('tr', { dataset: { code: e.code } },
          h('td', { class: 'mono' }, e.code), h('td', {}, e.group), h('td', {}, e.name),
          h('td', {}, e.destinations.join(' / ')), h('td', {}, e.linkage), h('td', {}, yesNo(e.enabled)),
          h('td', {}, h('button', { type: 'button', class: 'link', dataset: { edit: e.code },
            onclick: () => startEdit(e) }, bi('edit'))))))));
  }

  let timer = null;
  q.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(search, 250); });
  fill(container,
    h('section', { class: 'card' }, h('h2', {}, bi('catalogue'), ' ', jurisdiction),
      h('label', { for: 'catalogue-q' }, bi('search')), q, list),
    h('section', { class: 'card' }, heading, formSlot));
  search();
}

// ------------------------------------------------------------------ tokens

function mountTokens(container) {
  const list = h('div', { id: 'token-list' }, h('p', { class: 'empty' }, bi('loading')));
  const fresh = h('div', { id: 'new-token' });
  const f = form({
    id: 'token-form', submit: 'create',
    fields: [
      { name: 'name', label: ['持有人', 'Holder'], placeholder: 'zhang-1001' },
      { name: 'role', label: 'role', type: 'select', options: Object.entries(ROLES) },
    ],
    async onSubmit(values, self) {
      const made = await api('POST', '/api/tokens', values);
      fill(fresh, h('div', { class: 'new-token card' }, h('p', {}, bi('shownOnce')),
        h('output', { class: 'mono secret', dataset: { tokenFor: made.name } }, made.token)));
      self.setValues({ name: '' });
      await load();
    },
  });

  async function load() {
    let tokens;
    try { tokens = (await api('GET', '/api/tokens')).tokens; } catch (err) { fill(list, problem(err)); return; }
    fill(list, h('table', { class: 'tokens' },
      h('thead', {}, h('tr', {}, ['name', 'role', 'created', 'status', ['', '']].map((k) => h('th', {}, bi(k))))),
      h('tbody', {}, tokens.map((t) => h('tr', { dataset: { token: t.name, active: String(t.active) } },
        h('td', {}, t.name), h('td', {}, bi(label(ROLES, t.role))), h('td', {}, clock(t.created_at)),
        h('td', {}, bi(t.active ? 'active' : 'revoked'), t.revoked_at ? ` ${clock(t.revoked_at)}` : ''),
        h('td', {}, t.active ? h('button', { type: 'button', class: 'link danger', dataset: { revoke: t.name },
          onclick: async () => {
            if (!window.confirm(`${text('revoke')} ${t.name}?`)) return;
            try { await api('DELETE', `/api/tokens/${encodeURIComponent(t.name)}`); } catch (err) { f.showError(err); }
            await load();
          } }, bi('revoke')) : null))))));
  }

  fill(container, h('section', { class: 'card' }, h('h2', {}, bi('tokens')), list),
    h('section', { class: 'card' }, h('h3', {}, bi(['生成令牌', 'Create a token'])), f.el, fresh));
  load();
}
