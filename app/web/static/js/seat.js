// The seat desk (坐席工作台): the seat's current call with the citizen's number
// and the handoff order it came with, and the seat's actions — through the
// same API as the phone keys.
import { api, ApiError } from './api.js';
import { h, fill, clock } from './dom.js';
import { bi, label, text, LABELS, SEAT_STATES, ORDER_STATUSES, MODES, CLASSES, THREEWAY_PHASES, THREEWAY_PARTIES,
  THREEWAY_REFUSALS, PRESENCE } from './i18n.js';
import { live, onLive } from './live.js';
import { form } from './forms.js';
import { catalogueSearch } from './divert.js';

const SEAT_KEY = 'hotline.seat';

/**
 * The seat's actions, in display order: {id, render(ctx) -> Node}.  ctx holds
 * the seat, its centre, the live snapshot, whether it is in a call, the
 * seat's active three-way call (or null) and setThreeWay(state), refresh().
 */
const SEAT_ACTIONS = [
  { id: 'presence', render: renderPresence },
  { id: 'transfer', render: renderTransfer },
  { id: 'threeway', render: renderThreeWay },
];

let pauseReasons = null;  // GET /api/seats/pause-reasons, asked once

async function reasonsOnce() {
  if (!pauseReasons) pauseReasons = api('GET', '/api/seats/pause-reasons').catch(() => ({ reasons: [] }));
  return pauseReasons;
}

/** 签入/签出 and 示忙/示闲: POST /api/seats/{seat}/signin|signout|pause|unpause — what *5 and *6 do. */
function renderPresence(ctx) {
  const base = `/api/seats/${encodeURIComponent(ctx.seat)}`;
  const state = ctx.mine?.state;
  async function run(action, body) {
    ctx.say(null);
    try {
      const answer = await api('POST', `${base}/${action}`, body);
      ctx.say(h('p', { class: 'ok', dataset: { seatState: answer.state } }, bi(label(PRESENCE, answer.state)),
        answer.reason ? ` · ${answer.reason}` : ''));
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      ctx.say(h('p', { class: 'problem', role: 'alert', dataset: { status: String(err.status) } },
        err.status === 503 ? bi('noAmi') : (err.body?.error || err.message)));
    }
  }
  const button = (action, pair, cls, onclick) => h('button', {
    type: 'button', class: `big ${cls}`.trim(), dataset: { action }, onclick }, bi(pair));
  const signedOut = state === 'signed_out';
  const paused = state === 'paused';
  const reason = h('select', { id: 'pause-reason', 'aria-label': text('pauseReason'), disabled: signedOut },
    h('option', { value: '' }, text('pauseNoReason')));
  reasonsOnce().then((body) => {
    for (const r of body.reasons || []) reason.append(h('option', { value: r.code }, `${r.code} ${r.name}`));
  });
  const controls = [button(signedOut ? 'signin' : 'signout', signedOut ? 'signIn' : 'signOut',
    signedOut ? 'primary' : '', () => run(signedOut ? 'signin' : 'signout'))];
  if (!signedOut) {
    controls.push(h('label', { for: 'pause-reason' }, bi('pauseReason')), reason,
      button('pause', paused ? 'pauseChange' : 'pauseGo', '', () => run('pause', reason.value ? { reason: reason.value } : {})));
    if (paused) controls.push(button('unpause', 'unpauseGo', 'primary', () => run('unpause')));
  }
  return h('section', { class: 'action card', dataset: { actionPanel: 'presence', seatState: state || '' } },
    h('h3', {}, bi('presence'), paused && ctx.mine?.pause_reason ? ` · ${ctx.mine.pause_reason}` : ''),
    h('div', { class: 'quick' }, controls));
}

function seatsOf(snapshot) {
  return (snapshot?.centres || []).flatMap((c) => (c.seats || []).map((s) => ({ ...s, centre: c })));
}

function renderTransfer(ctx) {
  const others = (ctx.snapshot?.centres || []).filter((c) => c.id !== ctx.centre?.id);
  const categories = h('datalist', { id: 'transfer-categories' });
  const f = form({
    id: 'transfer',
    submit: 'transferGo',
    fields: [
      { name: 'target', label: 'target', placeholder: others.map((c) => c.id).concat(['120']).join(' / ') },
      { name: 'category', label: 'category', placeholder: 'QZ-1-01' },
      { name: 'note', label: 'note', type: 'textarea', rows: 2 },
    ],
    async onSubmit(values) {
      ctx.say(null);
      const body = { seat: ctx.seat, target: values.target };
      if (values.category) body.category = values.category;
      if (values.note) body.note = values.note;
      try {
        const answer = await api('POST', '/api/handoffs', body);
        ctx.say(h('p', { class: 'ok', dataset: { handoff: answer.handoff_id } }, bi('transferred'),
          ` · ${answer.order?.number || answer.handoff_id} → ${answer.target}`));
        ctx.refresh();
      } catch (err) {
        if (err instanceof ApiError && err.status === 409) {
          ctx.say(h('p', { class: 'refused', dataset: { reason: err.body.reason || '' } }, bi('refused'),
            ` · ${err.body.error || err.message}`));
          return;
        }
        throw err;
      }
    },
  });
  f.input('category').setAttribute('list', 'transfer-categories');
  let timer = null;
  f.input('category').addEventListener('input', () => {
    clearTimeout(timer);
    const q = f.input('category').value.trim();
    if (q.length < 1) return;
    timer = setTimeout(async () => {
      try {
        const found = await api('GET', `/api/catalogue?q=${encodeURIComponent(q)}`);
        fill(categories, found.entries.slice(0, 12).map((e) => h('option', { value: e.code },
          `${e.name} → ${e.destinations.join('/')}`)));
      } catch { /* suggestions are a convenience */ }
    }, 250);
  });
  const quick = others.map((c) => h('button', {
    type: 'button', class: 'big primary', dataset: { action: 'transfer', target: c.id }, disabled: !ctx.inCall,
    onclick: () => { f.input('target').value = c.id; f.el.requestSubmit(); },
  }, bi([`${LABELS.transferTo[0]} ${c.id}`, `${LABELS.transferTo[1]} ${c.id}`]), h('small', {}, c.name)));
  for (const b of f.el.querySelectorAll('button[type=submit]')) b.disabled = !ctx.inCall;
  // 分流查询: what the citizen said -> the catalogue entry -> destination and category filled in
  const divert = catalogueSearch({
    onPick({ target, category }) {
      f.input('target').value = target;
      f.input('category').value = category;
      f.input('note').focus();
    },
  });
  return h('section', { class: 'action card', dataset: { actionPanel: 'transfer' } },
    h('h3', {}, bi('transfer')), h('div', { class: 'quick' }, quick), divert.el, f.el, categories);
}

/**
 * The three-way call's state (GET /api/threeway/{id}) when `seat` is still in
 * it with the citizen, else null — the same rule as the service's
 * `active_for_seat`.
 */
function activeFor(state, seat) {
  if (!state || state.phase === 'ended' || !state.present.includes('citizen')) return null;
  const role = seat === state.initiator_seat ? 'initiator' : seat === state.invited_seat ? 'invited' : null;
  return role && state.present.includes(role) ? state : null;
}

function refusalText(body) {
  const known = THREEWAY_REFUSALS[body.reason];
  return known ? text(known) : (body.error || '');
}

// 三方通话: start it (optionally marked emergency) in a two-party call; while
// it is on, leave & hand over, cancel (the initiator's) and mark emergency —
// POST /api/threeway and /api/threeway/{id}/leave|cancel|emergency, the
// keys' code path.  Refusals (409) show the core.refusals reason.
function renderThreeWay(ctx) {
  const tw = ctx.threeway;
  async function run(path, body, done) {
    ctx.say(null);
    try {
      const state = await api('POST', path, body);
      ctx.say(h('p', { class: 'ok', dataset: { threeway: state.threeway_id } }, bi(done),
        ` · ${state.order?.number || state.threeway_id}`));
      ctx.setThreeWay(activeFor(state, ctx.seat));
      ctx.refresh();
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      if (err.status === 409) {
        ctx.say(h('p', { class: 'refused', dataset: { reason: err.body.reason || '' } }, bi('threeWayRefused'),
          ` · ${refusalText(err.body)}`));
      } else {
        ctx.say(h('p', { class: 'problem', role: 'alert', dataset: { status: String(err.status) } },
          err.status === 503 ? bi('noAmi') : err.message));
      }
    }
  }
  const button = (action, pair, hint, cls, onclick, disabled = false) => h('button', {
    type: 'button', class: `big ${cls}`.trim(), dataset: { action }, disabled, title: text(hint), onclick,
  }, bi(pair), h('small', {}, text(hint)));
  if (!tw) {
    const start = (emergency) => run('/api/threeway', emergency ? { seat: ctx.seat, emergency: true } : { seat: ctx.seat },
      'threeWayStarted');
    const plain = button('threeway', 'threeWayGo', 'threeWayHint', 'primary', () => start(false), !ctx.inCall);
    const urgent = button('threeway', 'threeWayEmergencyGo', 'threeWayEmergencyHint', 'danger', () => start(true),
      !ctx.inCall);
    urgent.dataset.emergency = 'true';
    return h('section', { class: 'action card', dataset: { actionPanel: 'threeway', threeway: '' } },
      h('h3', {}, bi('threeWay')), h('div', { class: 'quick' }, plain, urgent));
  }
  const role = ctx.seat === tw.initiator_seat ? 'initiator' : 'invited';
  const path = `/api/threeway/${encodeURIComponent(tw.threeway_id)}`;
  const present = tw.present.map((p) => text(label(THREEWAY_PARTIES, p))).join(' · ');
  return h('section', { class: 'action card', dataset: { actionPanel: 'threeway', threeway: tw.threeway_id,
    role, phase: tw.phase } },
  h('h3', {}, bi('threeWay'), ` · ${tw.order?.number || ''}`),
  h('p', { class: 'threeway-state' }, bi(label(THREEWAY_PHASES, tw.phase)),
    ` — ${text('participants')}: ${present}`,
    tw.order?.handoff_rule ? ` — ${tw.order.handoff_rule}` : null),
  h('div', { class: 'quick' },
    button('threeway-leave', 'threeWayLeave', 'threeWayLeaveHint', 'primary',
      () => run(`${path}/leave`, { seat: ctx.seat }, 'threeWayLeft')),
    button('threeway-cancel', 'threeWayCancel', 'threeWayCancelHint', '',
      () => run(`${path}/cancel`, { seat: ctx.seat }, 'threeWayCancelled')),
    button('threeway-emergency', 'threeWayEmergency', 'threeWayEmergencyMarkHint', 'danger',
      () => run(`${path}/emergency`, { seat: ctx.seat }, 'threeWayMarked'))));
}

function orderCard(order) {
  if (!order) return h('p', { class: 'empty', id: 'seat-order', dataset: { order: '' } }, bi('noOrder'));
  const row = (key, value) => h('div', { class: 'kv' }, h('dt', {}, bi(key)), h('dd', {}, value ?? '—'));
  return h('dl', { class: 'order-card', id: 'seat-order', dataset: { order: order.id, status: order.status } },
    row('orderNumber', order.number),
    row('status', h('span', { class: `status status-${order.status}` }, bi(label(ORDER_STATUSES, order.status)))),
    row('citizen', h('span', { class: 'number' }, order.citizen_number || order.citizen_number_label || '—')),
    row('direction', (order.direction || '').replace('->', ' → ')),
    row('mode', bi(label(MODES, order.mode))),
    row('class', bi(label(CLASSES, order.order_class))),
    row('category', order.category),
    row('seatsPath', `${order.source_seat || '—'} → ${order.target_seat || '—'}`),
    row('time', clock(order.created_at)),
    row('note', order.note));
}

export function mountSeat(container, { args }) {
  let seat = args[0] || sessionStorage.getItem(SEAT_KEY) || '';
  if (seat) sessionStorage.setItem(SEAT_KEY, seat);
  let current = null;           // GET /api/seats/{seat}/current
  let threeway = null;          // the seat's active three-way call: GET /api/threeway?seat= or a POST's answer
  let currentError = null;
  let lastSeatKey = null;       // the seat's live entry when we last asked for /current
  let actionsKey = null;        // what the action panels were built for (kept while unchanged)
  let asking = null;

  const picker = h('select', { id: 'seat-picker', 'aria-label': text('chooseSeat') });
  picker.addEventListener('change', () => { location.hash = `#/seat/${picker.value}`; });
  const status = h('div', { id: 'seat-status', class: 'seat-status' });
  const call = h('section', { class: 'card call', id: 'seat-call' });
  const flash = h('div', { id: 'seat-flash', class: 'flash', role: 'status' });
  const actions = h('div', { class: 'actions', id: 'seat-actions' });
  fill(container, h('div', { class: 'seat-desk' },
    h('div', { class: 'page-head' }, h('h2', {}, bi('seatView')),
      h('label', { for: 'seat-picker' }, bi('chooseSeat')), picker),
    h('div', { class: 'desk-grid' }, h('div', {}, status, call), h('div', {}, flash, actions))));

  function liveSeat() { return seatsOf(live.snapshot).find((s) => s.extension === seat) || null; }

  async function refresh() {
    if (!seat) return;
    const asked = seat;
    const ask = (asking = api('GET', `/api/seats/${encodeURIComponent(asked)}/current`));
    const askThreeWay = threeWayOf(asked);
    try {
      const answer = await ask;
      if (ask !== asking) return;
      current = answer; currentError = null;
    } catch (err) {
      if (ask !== asking) return;
      current = null; currentError = err;
    }
    const active = await askThreeWay;
    if (ask !== asking) return;
    threeway = active;
    render();
  }

  async function threeWayOf(which) {
    try {
      return (await api('GET', `/api/threeway?seat=${encodeURIComponent(which)}`)).threeway;
    } catch {
      return null; // no three-way service in this process: the start button's click says so (503)
    }
  }

  function renderPicker() {
    const seats = seatsOf(live.snapshot);
    if (!seats.length) return;
    const options = [h('option', { value: '' }, text('chooseSeat'))].concat(seats.map((s) =>
      h('option', { value: s.extension }, `${s.extension} · ${s.centre.id}`)));
    if (picker.options.length !== options.length) fill(picker, options);
    picker.value = seat;
  }

  function render() {
    renderPicker();
    const mine = liveSeat();
    if (!seat || !mine) {
      fill(status); fill(call, h('p', { class: 'empty' }, bi('chooseSeat'))); fill(actions);
      actionsKey = null;
      return;
    }
    const inCall = mine.state === 'in_call' || Boolean(current && current.in_call);
    fill(status, h('div', { class: `seat big state-${mine.state}`, dataset: { seat, state: mine.state } },
      h('span', { class: 'seat-ext' }, seat), h('span', { class: 'seat-state' }, bi(label(SEAT_STATES, mine.state))),
      h('span', { class: 'centre-name' }, mine.centre.name)));
    // The number shown is the live view's or the order's: both masked by the
    // server for roles without the privilege (保护隐私).
    const number = mine.talking_to || current?.order?.citizen_number || null;
    fill(call, h('h3', {}, bi('currentCall')),
      inCall
        ? h('div', { class: 'citizen', dataset: { inCall: 'true' } },
          h('div', { class: 'stat-label' }, bi('citizen')),
          h('div', { class: 'number huge', id: 'citizen-number' }, number || '—'))
        : h('p', { class: 'empty', dataset: { inCall: 'false' } }, bi('noCall')),
      currentError ? h('p', { class: 'problem', role: 'alert' },
        currentError.status === 503 ? bi('noAmi') : currentError.message) : null,
      h('h3', {}, bi('withOrder')), orderCard(current?.order));
    // Action panels are rebuilt only when what they offer changes, so a form
    // being filled in and its field errors survive other seats' updates.
    const centres = (live.snapshot.centres || []).map((c) => c.id).join(',');
    const mineTw = activeFor(threeway, seat); // never another seat's, while the picker's new answer is on its way
    const tw = mineTw ? `${mineTw.threeway_id}:${mineTw.phase}:${mineTw.present.join('+')}:` +
      `${mineTw.order?.handoff_rule || ''}` : '';
    // signed in or out, paused and why: the presence panel's buttons
    const presence = mine.state === 'signed_out' ? 'out' : mine.state === 'paused' ? `paused:${mine.pause_reason || ''}` : 'in';
    const key = `${seat}|${inCall}|${centres}|${tw}|${presence}`;
    if (key !== actionsKey) {
      actionsKey = key;
      const ctx = { seat, mine, centre: mine.centre, snapshot: live.snapshot, inCall, current, refresh, threeway: mineTw,
        setThreeWay: (state) => { threeway = state; render(); },
        say: (node) => fill(flash, node) };
      fill(actions, SEAT_ACTIONS.map((a) => a.render(ctx)));
    }
  }

  const off = onLive((kind) => {
    if (kind !== 'live') return;
    const mine = liveSeat();
    const key = mine ? `${mine.state}|${mine.talking_to}` : null;
    if (key !== lastSeatKey) {
      lastSeatKey = key;
      refresh();
    }
    render();
  });
  render();
  refresh();
  return off;
}
