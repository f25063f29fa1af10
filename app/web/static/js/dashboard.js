// The live dashboard (实时监控): per centre waiting calls, longest wait, seats,
// surge state; latest handoffs; overdue orders.  Everything comes from the
// shared event stream (live.js); waiting times tick locally between events.
import { h, fill, duration, clock } from './dom.js';
import { bi, label, text, SEAT_STATES, ORDER_STATUSES, MODES, BREACHES, CLASSES, QUEUE_KINDS } from './i18n.js';
import { live, onLive } from './live.js';

/**
 * A centre's remote-seat overflow (远程座席) from /api/live's `surge` block
 * ({open, groups: [{name, open, reason, ...}]}): 'on' while a group is open,
 * 'off' when groups exist but none is open, 'none' with no group configured
 * (or a server that reports no surge block at all).
 */
export function surgeOf(centre) {
  const raw = centre.surge;
  if (!raw || typeof raw !== 'object') return { state: 'none', detail: null };
  const groups = Array.isArray(raw.groups) ? raw.groups : [];
  const open = groups.filter((g) => g.open);
  if (raw.open || open.length) {
    return { state: 'on', detail: open.map((g) => (g.reason ? `${g.name} (${g.reason})` : g.name)).join('、') || null };
  }
  return { state: groups.length ? 'off' : 'none', detail: null };
}

function waitedNow(seconds, waiting) {
  if (!waiting) return 0;
  return seconds + (performance.now() - live.receivedAt) / 1000;
}

function stat(key, value, attrs = {}) {
  return h('div', { class: 'stat', dataset: { stat: key }, ...attrs },
    h('div', { class: 'stat-label' }, bi(key)), h('div', { class: 'stat-value' }, value));
}

function centrePanel(centre) {
  const queues = centre.queues || [];
  const waiting = queues.reduce((n, q) => n + (q.waiting || 0), 0);
  const longest = Math.max(0, ...queues.map((q) => q.longest_wait_s || 0));
  const surge = surgeOf(centre);
  const entries = queues.flatMap((q) => (q.entries || []).map((e) => ({ ...e, kind: q.kind })))
    .sort((a, b) => b.waited_s - a.waited_s);
  const seats = centre.seats || [];
  const count = (state) => seats.filter((s) => s.state === state).length;

  return h('section', { class: 'centre card', dataset: { centre: centre.id }, 'aria-label': centre.name },
    h('header', { class: 'centre-head' },
      h('h2', {}, h('span', { class: 'centre-id' }, centre.id), ' ', h('span', { class: 'centre-name' }, centre.name)),
      h('span', { class: `badge surge surge-${surge.state}`, dataset: { surge: surge.state },
        title: surge.detail || '' }, bi('surge'), ' ',
        bi(surge.state === 'on' ? 'surgeOn' : surge.state === 'off' ? 'surgeOff' : 'surgeUnknown'),
        surge.detail ? h('span', { class: 'surge-detail' }, ` · ${surge.detail}`) : null)),
    h('div', { class: 'stats' },
      stat('waiting', String(waiting), { class: `stat ${waiting ? 'hot' : ''}`, dataset: { stat: 'waiting', value: waiting } }),
      stat('longestWait', h('span', { class: 'ticking', dataset: { base: longest, waiting } }, duration(waitedNow(longest, waiting))),
        { class: `stat ${longest >= 15 ? 'hot' : ''}` }),
      stat('seats', h('span', {}, `${count('idle')}`, h('small', {}, ` / ${seats.length} ${text(['空闲', 'idle'])}`))),
      stat('channels', String(centre.channels ?? 0))),
    h('div', { class: 'waiting-list' },
      h('h3', {}, bi('queueWaiting')),
      entries.length
        ? h('ol', { class: 'entries' }, entries.map((e) => h('li', { dataset: { caller: e.caller_number || '' } },
          h('span', { class: 'number' }, e.caller_number || '—'),
          h('span', { class: `queue-kind kind-${e.kind}` }, bi(label(QUEUE_KINDS, e.kind))),
          h('span', { class: 'ticking waited', dataset: { base: e.waited_s, waiting: 1 } }, duration(waitedNow(e.waited_s, 1))))))
        : h('p', { class: 'empty' }, bi('noneWaiting'))),
    h('div', { class: 'seats' },
      h('h3', {}, bi('seats')),
      h('ul', { class: 'seat-grid' }, seats.map((s) => h('li', {
        class: `seat state-${s.state}`, dataset: { seat: s.extension, state: s.state } },
        h('a', { href: `#/seat/${s.extension}`, class: 'seat-ext' }, s.extension),
        h('span', { class: 'seat-state' }, bi(label(SEAT_STATES, s.state))),
        s.state === 'paused' && s.pause_reason
          ? h('span', { class: 'pause-reason', dataset: { reason: s.pause_reason } }, s.pause_reason) : null,
        (s.state === 'paused' || s.state === 'signed_out') && s.since
          ? h('span', { class: 'seat-since', title: text(['起始时间', 'since']) }, `${text(['自', 'since'])} ${sinceClock(s.since)}`)
          : null,
        s.talking_to ? h('span', { class: 'number talking' }, s.talking_to) : null)))));
}

/** A seat's `since` (epoch seconds) as the wall clock (paused / signed out since). */
function sinceClock(epochSeconds) {
  return clock(new Date(epochSeconds * 1000).toISOString());
}

function handoffRow(o) {
  const wait = o.wait_ms === null || o.wait_ms === undefined ? '—'
    : (o.wait_ms < 1000 ? `${Math.round(o.wait_ms)} ms` : duration(o.wait_ms / 1000));
  return h('tr', { dataset: { handoff: o.id, status: o.status } },
    h('td', {}, clock(o.created_at)),
    h('td', { class: 'number' }, o.citizen_number || o.citizen_number_label || '—'),
    h('td', { class: 'direction' }, (o.direction || '').replace('->', ' → ')),
    h('td', {}, bi(label(MODES, o.mode))),
    h('td', {}, `${o.source_seat || '—'} → ${o.target_seat || o.target || '—'}`),
    h('td', {}, h('span', { class: `status status-${o.status}` }, bi(label(ORDER_STATUSES, o.status)))),
    h('td', {}, wait));
}

function overdueRow(o) {
  const due = (o.overdue || []).includes('sign') ? o.sign_due_at : o.on_site_due_at;
  return h('tr', { dataset: { order: o.id, status: o.status } },
    h('td', {}, o.number),
    h('td', {}, h('span', { class: `class class-${o.order_class}` }, bi(label(CLASSES, o.order_class)))),
    h('td', {}, bi(label(ORDER_STATUSES, o.status))),
    h('td', {}, (o.overdue || []).map((b) => h('span', { class: 'breach' }, bi(label(BREACHES, b))))),
    h('td', {}, clock(due)),
    h('td', {}, o.handling_unit || '—'));
}

/**
 * One row per peer platform from /api/live's `federation` block (supervisors
 * only; app.federation.health): the trunk's qualify state, the push queue's
 * depth, failed items, the oldest unsent item's age, the last error.
 */
export function linkRow(link) {
  const trunks = (link.trunks || []);
  return h('tr', { dataset: { peer: link.peer, ok: link.ok ? 'true' : 'false' } },
    h('td', {}, link.peer, link.mapping ? h('span', { class: 'muted' }, ` (${link.mapping})`) : null),
    h('td', {}, trunks.length ? trunks.map((t) => h('span', {
      class: `badge ${t.reachable ? 'ok' : 'bad'}`, dataset: { trunk: t.name, status: t.status } },
    `${t.name} ${t.status}${t.rtt_ms ? ` ${t.rtt_ms} ms` : ''}`)) : bi('noTrunk')),
    h('td', { dataset: { stat: 'pending' } }, String(link.pending)),
    h('td', { dataset: { stat: 'failed' }, class: link.failed ? 'hot' : '' }, String(link.failed)),
    h('td', {}, link.oldest_unsent_age_s == null ? '—' : duration(link.oldest_unsent_age_s)),
    h('td', { class: 'error' }, link.last_error || '—'),
    h('td', {}, h('span', { class: `badge ${link.ok ? 'ok' : 'bad'}` }, bi(link.ok ? 'linkOk' : 'linkBad'))));
}

function table(headers, rows, emptyKey, attrs) {
  if (!rows.length) return h('p', { class: 'empty' }, bi(emptyKey));
  return h('table', attrs, h('thead', {}, h('tr', {}, headers.map((k) => h('th', {}, bi(k))))), h('tbody', {}, rows));
}

export function mountDashboard(container) {
  const centres = h('div', { class: 'centres', id: 'centres' }, h('p', { class: 'empty' }, bi('loading')));
  const ami = h('span', { class: 'badge', id: 'ami-state' });
  const problem = h('p', { class: 'problem', id: 'live-problem', role: 'alert', hidden: true });
  const handoffs = h('div', { id: 'handoffs' }, h('p', { class: 'empty' }, bi('loading')));
  const overdue = h('div', { id: 'overdue' }, h('p', { class: 'empty' }, bi('loading')));
  const overdueCount = h('span', { class: 'count', id: 'overdue-count' });
  const links = h('section', { class: 'card', id: 'links', 'aria-label': text('links'), hidden: true });

  fill(container, h('div', { class: 'dashboard' },
    h('div', { class: 'page-head' }, h('h2', {}, bi('dashboard')), h('span', {}, bi('ami'), ' ', ami), problem),
    centres,
    links,
    h('div', { class: 'lower' },
      h('section', { class: 'card', 'aria-label': text('handoffs') }, h('h2', {}, bi('handoffs')), handoffs),
      h('section', { class: 'card', 'aria-label': text('overdue') }, h('h2', {}, bi('overdue'), ' ', overdueCount), overdue))));

  function renderLive() {
    const snap = live.snapshot;
    if (!snap) return;
    fill(centres, (snap.centres || []).map((c) => centrePanel(c)));
    const up = snap.ami && snap.ami.connected;
    ami.className = `badge ${up ? 'ok' : 'bad'}`;
    ami.dataset.connected = up ? 'true' : 'false';
    fill(ami, bi(up ? 'amiUp' : 'amiDown'));
    const peers = Array.isArray(snap.federation) ? snap.federation : null;
    links.hidden = !peers || !peers.length;
    if (peers && peers.length) {
      fill(links, h('h2', {}, bi('links')),
        table(['linkPeer', 'linkTrunk', 'linkQueue', 'linkFailed', 'linkOldest', 'linkError', 'status'],
          peers.map(linkRow), 'noTrunk', { class: 'links' }));
    }
  }

  function renderOrders() {
    const o = live.orders;
    if (!o) return;
    fill(handoffs, table(['time', 'citizen', 'direction', 'mode', 'seatsPath', 'outcome', 'wait'],
      (o.handoffs || []).map(handoffRow), 'noHandoffs', { class: 'handoffs' }));
    fill(overdue, table(['orderNumber', 'class', 'status', 'breach', 'due', 'handlingUnit'],
      (o.overdue || []).map(overdueRow), 'noOverdue', { class: 'overdue' }));
    fill(overdueCount, o.overdue_total ? String(o.overdue_total) : '');
    overdueCount.className = `count ${o.overdue_total ? 'hot' : ''}`;
  }

  function renderProblem() {
    problem.hidden = !live.problem;
    fill(problem, live.problem ? `${live.problem.service}: ${live.problem.error}` : '');
  }

  const off = onLive((kind) => {
    if (kind === 'live') { renderLive(); renderProblem(); } else if (kind === 'orders') renderOrders();
    else if (kind === 'problem') renderProblem();
  });
  renderLive(); renderOrders(); renderProblem();
  const ticker = setInterval(() => {
    for (const el of container.querySelectorAll('.ticking')) {
      el.textContent = duration(waitedNow(Number(el.dataset.base), Number(el.dataset.waiting)));
    }
  }, 1000);
  return () => { off(); clearInterval(ticker); };
}
