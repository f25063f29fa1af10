// The single page: sign-in with a token, role-aware navigation, hash routes.
//   #/dashboard           live dashboard (every role)
//   #/seat[/1001]         seat desk (every role)
//   #/admin/<page>        admin pages (admin only): overflow, catalogue, tokens
import { api, auth, ApiError } from './api.js';
import { h, fill } from './dom.js';
import { bi, label, ROLES, text } from './i18n.js';
import { startLive, stopLive, live, onLive } from './live.js';
import { mountDashboard } from './dashboard.js';
import { mountSeat } from './seat.js';
import { mountAdmin } from './admin.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
let who = null;
let unmount = null;

const PAGES = [
  { id: 'dashboard', label: 'dashboard', role: 'seat', mount: mountDashboard },
  { id: 'seat', label: 'seatView', role: 'seat', mount: mountSeat },
  { id: 'admin', label: 'admin', role: 'admin', mount: mountAdmin },
];
const RANK = { seat: 0, supervisor: 1, admin: 2 };
const allowed = (page) => who && RANK[who.role] >= RANK[page.role];

function signOut() {
  auth.clear();
  who = null;
  stopLive();
  if (unmount) { unmount(); unmount = null; }
  location.hash = '';
  showLogin();
}
auth.onUnauthorized = () => { if (who) signOut(); };

function showLogin(error) {
  fill(nav);
  fill(document.getElementById('who'));
  document.getElementById('stream-state').hidden = true;
  const input = h('input', { id: 'login-token', type: 'password', autocomplete: 'off', spellcheck: 'false',
    'aria-describedby': 'login-error' });
  const err = h('p', { id: 'login-error', class: 'field-error', role: 'alert' }, error || '');
  const formEl = h('form', { id: 'login', class: 'login card', novalidate: true },
    h('h2', {}, bi('login')),
    h('label', { for: 'login-token' }, bi('token')), input,
    h('p', { class: 'hint' }, bi('tokenHint')), err,
    h('div', { class: 'buttons' }, h('button', { type: 'submit', class: 'primary' }, bi('login'))));
  formEl.addEventListener('submit', async (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (!token) { fill(err, '请输入令牌 · Enter a token'); return; }
    auth.save(token);
    try {
      who = await api('GET', '/api/whoami');
    } catch (e) {
      auth.clear();
      fill(err, e instanceof ApiError && e.status === 401 ? '令牌无效或已吊销 · Unknown or revoked token'
        : `登录失败 · Sign-in failed: ${e.message}`);
      input.setAttribute('aria-invalid', 'true');
      return;
    }
    start();
  });
  fill(main, formEl);
  input.focus();
}

function renderNav(current) {
  fill(nav, PAGES.filter(allowed).map((page) => h('a', {
    href: `#/${page.id}`, class: page.id === current ? 'active' : null, dataset: { nav: page.id },
    'aria-current': page.id === current ? 'page' : null }, bi(page.label))),
    h('button', { type: 'button', class: 'link', id: 'logout', onclick: signOut }, bi('logout')));
  fill(document.getElementById('who'), h('span', { dataset: { role: who.role } },
    `${who.name} · ${text(label(ROLES, who.role))}`));
}

function route() {
  if (!who) return;
  const [id = 'dashboard', ...rest] = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean);
  let page = PAGES.find((p) => p.id === id) || PAGES[0];
  if (!allowed(page)) page = PAGES[0];
  renderNav(page.id);
  if (unmount) { unmount(); unmount = null; }
  fill(main);
  unmount = page.mount(main, { who, args: rest }) || null;
}

function streamBadge() {
  const el = document.getElementById('stream-state');
  el.hidden = !who;
  el.className = `badge ${live.connected ? 'ok' : 'warn'}`;
  el.dataset.connected = live.connected ? 'true' : 'false';
  fill(el, bi(live.connected ? 'streamLive' : 'streamDown'));
}

function start() {
  startLive();
  streamBadge();
  if (!location.hash || location.hash === '#') location.hash = '#/dashboard';
  route();
}

window.addEventListener('hashchange', route);
onLive((kind) => { if (kind === 'connection') streamBadge(); });
const tick = () => fill(document.getElementById('clock'), new Date().toLocaleTimeString('zh-CN', { hour12: false }));
tick();
setInterval(tick, 1000);

async function boot() {
  if (!auth.token) { showLogin(); return; }
  try {
    who = await api('GET', '/api/whoami');
    start();
  } catch {
    auth.clear();
    showLogin();
  }
}
boot();
