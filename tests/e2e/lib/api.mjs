// Tiny helpers for the Väylä HTTP API and signalling WebSocket (docs/protocol.md), for setting the scene in
// browser tests. Every HTTP helper resolves to the reply's JSON and rejects with an Error carrying `code`,
// `message` and `status` from the server's error body.

import WebSocket from 'ws';

export const DEMO_PASSWORD = 'vayla-demo';
export const DEVICE_CREDENTIAL = 'device-demo';

export class ApiError extends Error {
  constructor(code, message, status) {
    super(`${status} ${code}: ${message}`);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
  }
}

export async function call(url, path, { method = 'GET', token, body } = {}) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(new URL(path, url), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    throw new ApiError(data?.code ?? `http_${response.status}`, data?.message ?? text, response.status);
  }
  return data;
}

/** A person's login: resolves to `{ access_token, role, subject, … }`. */
export function login(url, user, password = DEMO_PASSWORD) {
  return call(url, '/api/login', { method: 'POST', body: { username: user, password } });
}

/** A device's login; the device id is its room's address. */
export function deviceLogin(url, room, credential = DEVICE_CREDENTIAL) {
  return call(url, '/api/device-login', { method: 'POST', body: { device: room, credential } });
}

/** Open a session: `seats` is `[{ role: 'expert', subject: 'kela-anna' }, …]` (the device is added). */
export function openSession(url, token, room, seats) {
  return call(url, `/api/rooms/${encodeURIComponent(room)}/session`, { method: 'POST', token, body: { seats } });
}

export function endSession(url, token, room) {
  return call(url, `/api/rooms/${encodeURIComponent(room)}/session`, { method: 'DELETE', token });
}

/** A room token: resolves to `{ token, room, seat?, session_id?, expires_in }`. */
export function joinToken(url, token, room) {
  return call(url, `/api/rooms/${encodeURIComponent(room)}/join-token`, { method: 'POST', token });
}

export function getRooms(url, token) {
  return call(url, '/api/rooms', { token });
}

/**
 * Open the signalling WebSocket. The wrapper buffers every message, so `next()` never misses one that came
 * before it was called:
 *
 *   const ws = await signal(url);
 *   await ws.hello();
 *   const joined = await ws.join('mikkeli-2', roomToken);
 *   await ws.next((m) => m.type === 'room_locked');
 *   ws.close();
 */
export async function signal(url, { client = 'vayla-e2e' } = {}) {
  const wsUrl = new URL('/ws', url);
  wsUrl.protocol = wsUrl.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(wsUrl);
  const inbox = [];
  const waiters = new Set();
  let closed = null;
  let ids = 0;

  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    const message = JSON.parse(data.toString());
    inbox.push(message);
    for (const w of waiters) w.check();
  });
  ws.on('close', (code, reason) => {
    closed = { code, reason: reason.toString() };
    for (const w of waiters) w.check();
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  ws.on('error', () => {}); // reported through 'close'

  const matcher = (predicate) =>
    typeof predicate === 'string' ? (m) => m.type === predicate : (predicate ?? (() => true));

  const wrapper = {
    ws,
    /** Every message received so far, including those already taken by `next()`. */
    received: [],
    send(message) {
      ws.send(JSON.stringify(message));
    },
    /**
     * The first unread message matching `predicate` (a function, or a message type): taken from the buffer or
     * awaited for up to `timeoutMs`.
     */
    next(predicate, timeoutMs = 5000) {
      const match = matcher(predicate);
      return new Promise((resolve, reject) => {
        const waiter = {
          check() {
            const i = inbox.findIndex(match);
            if (i >= 0) {
              const [message] = inbox.splice(i, 1);
              finish();
              resolve(message);
            } else if (closed) {
              finish();
              reject(new Error(`the WebSocket closed (${closed.code} ${closed.reason}) before the message came`));
            }
          },
        };
        const timer = setTimeout(() => {
          finish();
          reject(
            new Error(`no matching message within ${timeoutMs} ms; unread: ${JSON.stringify(inbox).slice(0, 2000)}`),
          );
        }, timeoutMs);
        function finish() {
          clearTimeout(timer);
          waiters.delete(waiter);
        }
        waiters.add(waiter);
        waiter.check();
      });
    },
    /** Send a request with a fresh `id`; resolve to its reply (of type `replyType`), reject on its `error`. */
    async request(message, replyType, timeoutMs = 5000) {
      const id = `e2e-${++ids}`;
      wrapper.send({ ...message, id });
      const reply = await wrapper.next((m) => m.id === id && (m.type === replyType || m.type === 'error'), timeoutMs);
      if (reply.type === 'error') {
        throw Object.assign(new Error(`${message.type} failed: ${reply.code}: ${reply.message}`), {
          code: reply.code,
        });
      }
      return reply;
    },
    hello() {
      return wrapper.request({ type: 'hello', versions: [1], client }, 'welcome');
    },
    join(room, token) {
      return wrapper.request({ type: 'join', room, token }, 'joined');
    },
    leave() {
      return wrapper.request({ type: 'leave' }, 'ok');
    },
    lock() {
      return wrapper.request({ type: 'lock' }, 'ok');
    },
    unlock() {
      return wrapper.request({ type: 'unlock' }, 'ok');
    },
    close() {
      ws.close();
    },
  };
  ws.on('message', (data, isBinary) => {
    if (!isBinary) wrapper.received.push(JSON.parse(data.toString()));
  });
  return wrapper;
}

/** Log in as a person or a device, get a room token and join over a new WebSocket. */
export async function enterRoom(url, room, { user, device } = {}) {
  const auth = device ? await deviceLogin(url, device) : await login(url, user);
  const { token } = await joinToken(url, auth.access_token, room);
  const ws = await signal(url);
  await ws.hello();
  const joined = await ws.join(room, token);
  return { ws, joined, auth };
}
