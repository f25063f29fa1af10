// The API client: bearer token from sessionStorage, JSON in and out, errors with the API's "field".

const TOKEN_KEY = 'hotline.token';

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
    this.field = this.body.field || null;
  }
}

export const auth = {
  get token() { return sessionStorage.getItem(TOKEN_KEY); },
  save(token) { sessionStorage.setItem(TOKEN_KEY, token); },
  clear() { sessionStorage.removeItem(TOKEN_KEY); },
  // set by main.js: what to do when the server says the token is no good
  onUnauthorized: () => {},
};

function headers(json) {
  const h = {};
  if (auth.token) h.Authorization = `Bearer ${auth.token}`;
  if (json) h['Content-Type'] = 'application/json';
  return h;
}

/** Call the API; resolves to the JSON answer, rejects with ApiError (status, field). */
export async function api(method, path, body) {
  const resp = await fetch(path, {
    method, headers: headers(body !== undefined), cache: 'no-store',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const raw = await resp.text();
  let data = null;
  if (raw) { try { data = JSON.parse(raw); } catch { data = { error: raw }; } }
  if (resp.status === 401) auth.onUnauthorized();
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

/**
 * Read a server-sent-events stream with fetch(), so the token goes in the
 * Authorization header (EventSource cannot send headers).  Reconnects by
 * itself; `onState(true|false)` tells whether the stream is up.
 * Returns {close()}.
 */
export function openStream(path, handlers, onState = () => {}) {
  const controller = new AbortController();
  let retryMs = 2000;
  let closed = false;

  const dispatch = (block) => {
    let event = 'message';
    const data = [];
    for (const line of block.split('\n')) {
      if (!line || line.startsWith(':')) continue;
      const i = line.indexOf(':');
      const field = i < 0 ? line : line.slice(0, i);
      const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
      else if (field === 'retry' && /^\d+$/.test(value)) retryMs = Number(value);
    }
    if (!data.length || !handlers[event]) return;
    try { handlers[event](JSON.parse(data.join('\n'))); } catch (err) { console.error('stream event', event, err); }
  };

  (async () => {
    while (!closed) {
      try {
        const resp = await fetch(path, { headers: { ...headers(false), Accept: 'text/event-stream' },
          cache: 'no-store', signal: controller.signal });
        if (resp.status === 401) { auth.onUnauthorized(); return; }
        if (!resp.ok || !resp.body) throw new Error(`HTTP ${resp.status}`);
        onState(true);
        const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value.replace(/\r\n?/g, '\n');
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            dispatch(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
          }
        }
      } catch (err) {
        if (closed) return;
        console.warn('live stream:', err.message || err);
      }
      if (closed) return;
      onState(false);
      await new Promise((resolve) => setTimeout(resolve, retryMs));
    }
  })();

  return { close() { closed = true; controller.abort(); } };
}
