// Väylä — a small wrapper of the HTTP API (docs/protocol.md), shared by every page.
//
// Every call resolves to the reply's JSON (or null for an empty reply such as 204) and rejects with an
// `ApiError` carrying the server's stable `code` and human `message` (and the HTTP `status`). Failures that
// never reached the server have code `network`; a reply that is not the expected JSON has `bad_response`.

export class ApiError extends Error {
  constructor(code, message, status = 0) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
  }
}

/**
 * `apiFetch('/api/rooms')`, `apiFetch('/api/login', { method: 'POST', body: {...} })`,
 * `apiFetch('/api/rooms/x/join-token', { method: 'POST', token })`.
 */
export async function apiFetch(path, { method = 'GET', body, token, signal } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: 'no-store',
    });
  } catch (e) {
    if (e?.name === 'AbortError') throw e;
    throw new ApiError('network', e?.message || 'network error');
  }
  const text = await response.text().catch(() => '');
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = undefined;
    }
  }
  if (!response.ok) {
    const code = typeof data?.code === 'string' ? data.code : `http_${response.status}`;
    const message = typeof data?.message === 'string' ? data.message : response.statusText || code;
    throw new ApiError(code, message, response.status);
  }
  if (data === undefined) throw new ApiError('bad_response', 'the reply is not JSON', response.status);
  return data;
}

/** The signalling WebSocket's address for this page's server. */
export function signallingUrl(base = location.href) {
  const url = new URL('/ws', base);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.href;
}

const room = (id) => `/api/rooms/${encodeURIComponent(id)}`;

export const api = {
  rooms: (token) => apiFetch('/api/rooms', { token }),
  room: (id, token) => apiFetch(room(id), { token }),
  login: (username, password) => apiFetch('/api/login', { method: 'POST', body: { username, password } }),
  deviceLogin: (device, credential) =>
    apiFetch('/api/device-login', { method: 'POST', body: { device, credential } }),
  /** `seats`: `[{ role: 'expert', subject: 'kela-anna' }, …]`; the device's seat is added by the server. */
  openSession: (token, id, seats) => apiFetch(`${room(id)}/session`, { method: 'POST', token, body: { seats } }),
  endSession: (token, id) => apiFetch(`${room(id)}/session`, { method: 'DELETE', token }),
  joinToken: (token, id) => apiFetch(`${room(id)}/join-token`, { method: 'POST', token }),
};
