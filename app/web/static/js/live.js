// One event stream per page load, shared by the dashboard and the seat view.
import { openStream } from './api.js';

const listeners = new Set();
export const live = {
  snapshot: null,      // the last `live` event (same body as GET /api/live)
  receivedAt: 0,       // performance.now() when it came (to tick waiting times locally)
  orders: null,        // the last `orders` event: {handoffs, overdue, overdue_total}
  problem: null,       // the last `problem` event while a backing service is down
  connected: false,
};
let stream = null;

function notify(kind) { for (const fn of listeners) fn(kind, live); }

export function startLive() {
  if (stream) return;
  stream = openStream('/api/live/stream', {
    live(body) { live.snapshot = body; live.receivedAt = performance.now(); live.problem = null; notify('live'); },
    orders(body) { live.orders = body; notify('orders'); },
    problem(body) { live.problem = body; notify('problem'); },
  }, (up) => { live.connected = up; notify('connection'); });
}

export function stopLive() {
  if (stream) stream.close();
  stream = null;
  live.snapshot = null;
  live.orders = null;
  live.connected = false;
}

/** Call fn(kind, live) on every change; returns the unsubscribe function. */
export function onLive(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
