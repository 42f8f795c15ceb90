// Live changes pushed by the server: a page calls `watch(auth, topics, onChange)` and is told whenever something
// on those topics changed, so that it fetches it again over REST (the pushed message carries no data).
//
// It keeps its own signalling WebSocket (docs/protocol.md: hello, then `watch` with the access token), separate
// from a call's, so that a page watches its queue or offers whether or not it is in a room. After a drop it
// reconnects with backoff and calls `onChange(topic, '')` for every topic — "anything may have changed while we
// were away" — so the page is never left showing stale state. It also does that when the server says the client
// fell behind (an empty key).

import { signallingUrl } from './api.js';
import { backoffDelay, PROTOCOL_VERSION } from './call.js';

/**
 * Watch `topics` (e.g. ['walkin_queue']) with `auth` (a call.js `Auth`, or anything with `async token()`).
 * `onChange(topic, key)` runs for each change on those topics; `key` names what changed ('' = anything).
 * Returns `{ stop() }`. The optional `onState(state)` hears 'connecting' | 'live' | 'offline'.
 */
export function watch(auth, topics, onChange, { onState = () => {}, client = 'vayla-web-events' } = {}) {
  const wanted = new Set(topics);
  let ws = null;
  let stopped = false;
  let attempt = 0;
  let retry = null;
  let everLive = false;

  const tellAll = () => wanted.forEach((t) => onChange(t, ''));

  const connect = async () => {
    if (stopped) return;
    onState('connecting');
    let token;
    try {
      token = await auth.token();
    } catch {
      return schedule();
    }
    if (stopped) return;
    const socket = new WebSocket(signallingUrl());
    ws = socket;
    socket.onopen = () => socket.send(JSON.stringify({ type: 'hello', id: 'h', versions: [PROTOCOL_VERSION], client }));
    socket.onmessage = (event) => {
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch {
        return;
      }
      if (msg.type === 'welcome') {
        socket.send(JSON.stringify({ type: 'watch', id: 'w', token }));
      } else if (msg.type === 'watching') {
        attempt = 0;
        onState('live');
        // Whatever happened before this watch started (or while we were away) must be fetched now.
        if (everLive) tellAll();
        everLive = true;
      } else if (msg.type === 'changed' && wanted.has(msg.topic)) {
        if (msg.key === '') onChange(msg.topic, '');
        else onChange(msg.topic, msg.key);
      } else if (msg.type === 'error' && msg.id === 'w') {
        // The token was refused (expired between token() and watch): drop and try again with a fresh one.
        socket.close(1000);
      }
    };
    socket.onclose = () => {
      if (ws === socket) ws = null;
      if (!stopped) schedule();
    };
  };

  const schedule = () => {
    onState('offline');
    clearTimeout(retry);
    retry = setTimeout(connect, backoffDelay(attempt++));
  };

  connect();
  return {
    stop() {
      stopped = true;
      clearTimeout(retry);
      if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000);
      ws = null;
    },
  };
}
