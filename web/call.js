// Väylä — the call client shared by the service-point page (device.html), the expert page (expert.html) and the
// interpreter page (interpreter.html).
//
// It speaks the signalling protocol of docs/protocol.md over one WebSocket and keeps one RTCPeerConnection to
// the server's SFU:
//
//   hello → join (room token from POST /api/rooms/{room}/join-token) → our offer with send-only transceivers
//   (and `tracks`: mid → microphone/camera/document) → the server's answer; then every server `offer` is applied
//   and answered. Received tracks are mapped to their participant and source through the `tracks` list of the
//   server's offers, by transceiver mid.
//
// After a drop — the WebSocket closing without `leave`, the signalling going silent, the peer connection failing
// (or staying disconnected for a few seconds), `media_failed`, `shutdown` — it reconnects by itself with
// exponential backoff and jitter (0.5 s → 8 s): a new WebSocket, hello, join with a fresh room token, a NEW
// peer connection and a new offer (the server replaces the old media connection). `replaced` (another tab
// took this seat over) stops it for good.
//
// Events (all `CustomEvent`s, read `event.detail`):
//   state         { state, reason?, attempt? } — connecting, waiting-for-session, gathering, locked, unlocked,
//                 reconnecting, ended (reason: left, session_ended, replaced, no_session, room_locked, auth, …)
//   participants  { participants, seats, you }
//   tracks        { tracks: [{ mid, participantId, participant, source, kind, track, receiver }] } — every
//                 remote track received now (the whole list, after each negotiation and participant change)
//   media         { connectionState } — the peer connection's state, for diagnostics
//   error         { code, message, fatal } — something the user should be told about
//
// ICE servers: before each peer connection the client asks GET /api/ice-servers for the site's TURN servers
// (short-lived credentials; an empty list when the site has none). `relayOnly` (or `?relay=1` in the page's
// address) sends all media through TURN (`iceTransportPolicy: 'relay'`), for tests and for sites that want it.

import { ApiError, apiFetch, signallingUrl } from './api.js';

export const PROTOCOL_VERSION = 1;

/** What getUserMedia asks for, per source. */
export const CAPTURE = {
  microphone: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
  camera: { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 15 } },
  // Small print must stay legible: full HD, few frames.
  document: { width: { ideal: 1920 }, height: { ideal: 1080 }, frameRate: { ideal: 5, max: 10 } },
};

/**
 * How each source is sent. Under bandwidth pressure the camera yields first: it is sent in three simulcast
 * layers (quarter, half and full resolution) and the server forwards each receiver the layer its link can carry,
 * pausing the camera before anything else. The document is one full-resolution encoding that gives up frame rate,
 * never resolution.
 */
export const SENDING = {
  microphone: {
    encodings: [{ maxBitrate: 64_000, priority: 'high', networkPriority: 'high' }],
  },
  camera: {
    contentHint: 'motion',
    degradationPreference: 'balanced',
    encodings: [
      { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000, maxFramerate: 15, priority: 'low', networkPriority: 'low' },
      { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 450_000, maxFramerate: 15, priority: 'low', networkPriority: 'low' },
      { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1_000_000, maxFramerate: 15, priority: 'low', networkPriority: 'low' },
    ],
  },
  document: {
    contentHint: 'detail',
    degradationPreference: 'maintain-resolution',
    encodings: [
      {
        maxBitrate: 1_500_000,
        maxFramerate: 10,
        scaleResolutionDownBy: 1,
        priority: 'high',
        networkPriority: 'high',
      },
    ],
  },
};

/**
 * A sign-language interpreter's camera: signing needs its frame rate more than its resolution. Captured at
 * 25–30 fps, sent with `maintain-framerate` (under pressure the browser lowers the resolution, never the rate)
 * and the same three simulcast layers at up to 30 fps. (Browsers refuse a raised `priority` on simulcast
 * layers, so the camera keeps the default one; the server gives it precedence instead: it never pauses such a
 * camera, `sign_language` in docs/protocol.md.)
 */
export const SIGN_LANGUAGE = {
  capture: { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { min: 25, ideal: 30 } },
  sending: {
    contentHint: 'motion',
    degradationPreference: 'maintain-framerate',
    encodings: [
      { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 250_000, maxFramerate: 30 },
      { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 700_000, maxFramerate: 30 },
      { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1_500_000, maxFramerate: 30 },
    ],
  },
};

/** Whether a participant (the protocol's Participant object) interprets a sign language in this session. */
export function isSignLanguage(participant) {
  return participant?.sign_language === true;
}

const SOURCES = ['microphone', 'camera', 'document'];

/** Errors after which the server closes the connection (docs/protocol.md, "error"). */
const FATAL_ERRORS = new Set([
  'handshake_required',
  'unsupported_version',
  'message_too_large',
  'slow_consumer',
  'idle_timeout',
  'shutting_down',
  'room_restarted',
]);

/** Reconnect delays: 0.5 s, 1 s, 2 s, 4 s, then 8 s, each with ±25 % jitter. */
export function backoffDelay(attempt, random = Math.random) {
  const base = Math.min(8000, 500 * 2 ** Math.max(0, attempt));
  return Math.round(base * (0.75 + random() * 0.5));
}

/** How often the device asks again while its room has no session. */
const NO_SESSION_RETRY_MS = 3000;
/** A peer connection `disconnected` for this long counts as a drop. */
const DISCONNECTED_GRACE_MS = 3000;
/** Signalling liveness: a `ping` this often; nothing heard for `SILENCE_MS` counts as a drop. */
const PING_MS = 4000;
const SILENCE_MS = 10_000;
/** A request unanswered for this long fails (and, for hello/join/offer, the connection counts as dropped). */
const REQUEST_TIMEOUT_MS = 10_000;

/**
 * Open one capture source: `openSource('document', deviceId)` → a MediaStreamTrack with its content hint set.
 * `capture` replaces the source's constraints of `CAPTURE` (a sign-language interpreter's camera).
 */
export async function openSource(source, deviceId, capture = CAPTURE[source]) {
  if (source === 'microphone') {
    const audio = { ...CAPTURE.microphone };
    if (deviceId) audio.deviceId = { exact: deviceId };
    const stream = await navigator.mediaDevices.getUserMedia({ audio });
    return stream.getAudioTracks()[0];
  }
  const video = { ...capture };
  if (deviceId) video.deviceId = { exact: deviceId };
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video });
  } catch (e) {
    // A camera that cannot give the minimum frame rate asked for still gives its best.
    if (e?.name !== 'OverconstrainedError' || !video.frameRate?.min) throw e;
    stream = await navigator.mediaDevices.getUserMedia({ video: { ...video, frameRate: { ideal: video.frameRate.ideal } } });
  }
  const track = stream.getVideoTracks()[0];
  if (SENDING[source]?.contentHint) track.contentHint = SENDING[source].contentHint;
  return track;
}

/**
 * Opens into `local` the microphone and camera a person joins a call with, those not open yet; `camera` is the
 * camera's capture constraints (`CAPTURE.camera` when not given). A source that cannot be opened stays `null`
 * (the call goes on without it) and `failed(error)` is told why. Call it from the join click: that user gesture
 * is what lets remote audio play.
 */
export async function openCallSources(local, { camera, failed }) {
  for (const source of ['microphone', 'camera']) {
    if (local[source]) continue;
    local[source] = await openSource(source, undefined, source === 'camera' ? camera : undefined).catch((err) => {
      failed(err);
      return null;
    });
  }
}

/** Stops the tracks of `sources` in `local` and forgets them. */
export function stopSources(local, sources) {
  for (const source of sources) {
    local[source]?.stop();
    local[source] = null;
  }
}

/** `?relay=1` in the page's address: media only through TURN. */
function relayFlag() {
  try {
    return new URLSearchParams(window.location.search).get('relay') === '1';
  } catch {
    return false;
  }
}

// ---- access tokens ---------------------------------------------------------------------------------------------

/**
 * An access token kept fresh: renewed with POST /api/refresh two minutes before it expires (15 min lifetime).
 * `relogin` (optional) is called when renewal is no longer possible (token expired, e.g. after a long sleep);
 * without it an `expired` event is dispatched and `token()` rejects with code `auth`.
 */
export class Auth extends EventTarget {
  constructor(login, { relogin } = {}) {
    super();
    this.relogin = relogin;
    this.timer = null;
    this.pending = null;
    this.set(login);
  }

  /** Take a login or refresh reply. */
  set(reply) {
    this.login = reply;
    this.accessToken = reply.access_token;
    this.expiresAt = Date.now() + reply.expires_in * 1000;
    clearTimeout(this.timer);
    const lead = Math.min(120_000, (reply.expires_in * 1000) / 4);
    this.timer = setTimeout(() => this.refresh().catch(() => {}), Math.max(1000, this.expiresAt - lead - Date.now()));
    this.dispatchEvent(new CustomEvent('refreshed', { detail: reply }));
  }

  /** A valid access token, renewed first if it is about to expire. */
  async token() {
    if (Date.now() > this.expiresAt - 30_000) await this.refresh();
    return this.accessToken;
  }

  refresh() {
    this.pending ??= (async () => {
      try {
        this.set(await apiFetch('/api/refresh', { method: 'POST', token: this.accessToken }));
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) {
          if (this.relogin) {
            this.set(await this.relogin());
            return;
          }
          clearTimeout(this.timer);
          this.dispatchEvent(new CustomEvent('expired', { detail: { code: e.code } }));
          throw new ApiError('auth', e.message, 401);
        }
        // Not reached the server (offline): try again soon, the token may still be valid.
        clearTimeout(this.timer);
        this.timer = setTimeout(() => this.refresh().catch(() => {}), 10_000);
        throw e;
      } finally {
        this.pending = null;
      }
    })();
    return this.pending;
  }

  stop() {
    clearTimeout(this.timer);
  }
}

// ---- the call --------------------------------------------------------------------------------------------------

class Dropped extends Error {}

/**
 * One participant's presence in one room.
 *
 *   const call = new Call({ room: 'mikkeli-2', auth, tracks: { microphone, camera, document } });
 *   call.addEventListener('state', (e) => …);
 *   call.start();
 *   … call.lock(); call.endSession(); await call.leave();
 */
export class Call extends EventTarget {
  /**
   * @param {object} o
   * @param {string} o.room the room address
   * @param {Auth} o.auth the caller's access token
   * @param {{microphone?: MediaStreamTrack, camera?: MediaStreamTrack, document?: MediaStreamTrack}} o.tracks
   * @param {boolean} [o.waitForSession] keep asking while the room has no session (the device) instead of ending
   * @param {string} [o.client] names the client in the server's logs
   * @param {boolean} [o.relayOnly] media only through TURN; default: `?relay=1` in the page's address
   * @param {object} [o.sending] per source, how to send it instead of `SENDING` (e.g. `{ camera: SIGN_LANGUAGE.sending }`)
   */
  constructor({ room, auth, tracks = {}, waitForSession = false, client = 'vayla-web/1', relayOnly = relayFlag(), sending = {} }) {
    super();
    this.sending = { ...SENDING, ...sending };
    this.relayOnly = relayOnly;
    this.room = room;
    this.auth = auth;
    this.localTracks = { ...tracks };
    this.waitForSession = waitForSession;
    this.client = client;

    this.state = 'idle';
    this.stopped = false;
    this.generation = 0;
    this.attempt = 0;
    this.retryTimer = null;
    this.roomToken = null; // { token, expiresAt }
    this.ws = null;
    this.pc = null;
    this.requests = new Map();
    this.nextId = 0;
    this.you = null;
    this.participants = new Map();
    this.seats = [];
    this.remote = [];
    this.receiving = []; // the `tracks` of the latest server offer
    this.mediaChain = Promise.resolve();

    this.onOnline = () => {
      // The network is back: try at once rather than at the end of the current backoff.
      if (this.state === 'reconnecting' && this.retryTimer) this.scheduleConnect(0);
    };
    window.addEventListener('online', this.onOnline);
  }

  /**
   * A session has just been opened for this room (a walk-in ticket was accepted): while waiting for one, ask
   * again now rather than at the next retry.
   */
  retryNow() {
    if (this.state !== 'waiting-for-session' || this.stopped || !this.noSessionTimer) return;
    clearTimeout(this.noSessionTimer);
    this.noSessionTimer = null;
    const gen = this.generation;
    this.roomTokenNow()
      .then((token) => this.join(gen, token))
      .catch((err) => {
        if (gen === this.generation && !this.stopped) this.dropped(gen, err.message);
      });
  }

  /** Start: connect and join; reconnects by itself until `leave()`, the session's end or `replaced`. */
  start() {
    this.stopped = false;
    this.setState('connecting');
    this.connect();
  }

  /** Leave the room for good (`leave`, then close). */
  async leave() {
    if (this.stopped) return;
    const ws = this.ws;
    this.finish('left', undefined, { keepSocket: true });
    if (ws?.readyState === WebSocket.OPEN) {
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, 1500);
        ws.addEventListener('message', (e) => {
          try {
            if (JSON.parse(e.data).id === 'leave') {
              clearTimeout(timer);
              resolve();
            }
          } catch {
            /* ignore */
          }
        });
        ws.send(JSON.stringify({ type: 'leave', id: 'leave' }));
      });
      ws.close(1000);
    } else {
      ws?.close(1000);
    }
  }

  lock() {
    return this.request({ type: 'lock' }, 'ok');
  }

  unlock() {
    return this.request({ type: 'unlock' }, 'ok');
  }

  endSession() {
    return this.request({ type: 'end_session' }, 'ok');
  }

  /** Switch a local source to another track (e.g. another camera), or to none (`null`). */
  async replaceTrack(source, track) {
    this.localTracks[source] = track;
    if (track && this.sending[source]?.contentHint) track.contentHint = this.sending[source].contentHint;
    const sender = this.senders?.[source];
    if (sender) await sender.replaceTrack(track);
  }

  /** The peer connection now (changes at every reconnect), for statistics. */
  get peerConnection() {
    return this.pc;
  }

  // ---- internals ---------------------------------------------------------------------------------------------

  setState(state, extra = {}) {
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: { state, ...extra } }));
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  emitParticipants() {
    this.emit('participants', {
      participants: [...this.participants.values()],
      seats: this.seats,
      you: this.you,
    });
  }

  /** End the call for good (no reconnect). */
  finish(reason, message, { keepSocket = false, details = {} } = {}) {
    if (this.stopped) return;
    this.stopped = true;
    this.generation++;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    window.removeEventListener('online', this.onOnline);
    this.teardown({ closeSocket: !keepSocket });
    this.participants.clear();
    this.remote = [];
    this.emit('tracks', { tracks: [] });
    this.setState('ended', { reason, message, ...details });
  }

  /** Close the socket (without `leave`: a drop, from the server's side) and the peer connection. */
  teardown({ closeSocket = true } = {}) {
    clearInterval(this.pingTimer);
    clearTimeout(this.disconnectedTimer);
    clearTimeout(this.noSessionTimer);
    for (const { reject, timer } of this.requests.values()) {
      clearTimeout(timer);
      reject(new Dropped('connection closed'));
    }
    this.requests.clear();
    if (this.ws) {
      const ws = this.ws;
      ws.onmessage = ws.onclose = ws.onerror = ws.onopen = null;
      if (closeSocket && ws.readyState <= WebSocket.OPEN) ws.close(1000);
    }
    this.ws = null;
    if (this.pc) {
      this.pc.onicecandidate = this.pc.onconnectionstatechange = null;
      this.pc.close();
    }
    this.pc = null;
    this.senders = null;
    this.mediaChain = Promise.resolve();
  }

  /** The connection was lost (or is unusable): tear it down and reconnect after a backoff. */
  dropped(generation, why) {
    if (this.stopped || generation !== this.generation) return;
    this.generation++;
    this.teardown();
    this.roomToken = null; // every reconnect joins with a fresh room token
    console.info(`[väylä] connection lost (${why}); reconnecting`);
    this.remote = [];
    this.emit('tracks', { tracks: [] });
    this.setState('reconnecting', { reason: why, attempt: this.attempt + 1 });
    this.scheduleConnect(backoffDelay(this.attempt++));
  }

  scheduleConnect(delay) {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
  }

  async roomTokenNow() {
    if (this.roomToken && Date.now() < this.roomToken.expiresAt - 20_000) return this.roomToken.token;
    const reply = await apiFetch(`/api/rooms/${encodeURIComponent(this.room)}/join-token`, {
      method: 'POST',
      token: await this.auth.token(),
    });
    this.roomToken = { token: reply.token, expiresAt: Date.now() + reply.expires_in * 1000 };
    return reply.token;
  }

  async connect() {
    if (this.stopped) return;
    const gen = ++this.generation;
    let token;
    try {
      token = await this.roomTokenNow();
    } catch (e) {
      if (gen !== this.generation || this.stopped) return;
      if (e.code === 'auth') return this.finish('auth', e.message);
      if (e instanceof ApiError && ['forbidden', 'wrong_room', 'unknown_room'].includes(e.code)) {
        return this.finish(e.code, e.message);
      }
      // Offline, or the server is restarting: try again later.
      return this.dropped(gen, `join-token: ${e.code || e.message}`);
    }
    if (gen !== this.generation || this.stopped) return;

    const ws = new WebSocket(signallingUrl());
    this.ws = ws;
    this.lastHeard = Date.now();
    ws.onmessage = (e) => this.onMessage(gen, e.data);
    ws.onclose = (e) => this.dropped(gen, `socket closed (${e.code}${e.reason ? ' ' + e.reason : ''})`);
    ws.onerror = () => {}; // a close follows
    ws.onopen = async () => {
      try {
        const welcome = await this.request({ type: 'hello', versions: [PROTOCOL_VERSION], client: this.client }, 'welcome');
        this.heartbeatMs = welcome.heartbeat_ms;
        this.startLiveness(gen);
        await this.join(gen, token);
      } catch (e) {
        if (e instanceof Dropped) return;
        this.dropped(gen, e.message);
      }
    };
  }

  async join(gen, token) {
    let joined;
    try {
      joined = await this.request({ type: 'join', room: this.room, token }, 'joined');
    } catch (e) {
      if (gen !== this.generation || this.stopped || e instanceof Dropped) return;
      switch (e.code) {
        case 'no_session':
          if (!this.waitForSession) return this.finish('no_session', e.message);
          this.attempt = 0;
          this.setState('waiting-for-session');
          this.noSessionTimer = setTimeout(async () => {
            this.noSessionTimer = null;
            if (gen !== this.generation || this.stopped) return;
            try {
              await this.join(gen, await this.roomTokenNow());
            } catch (err) {
              this.dropped(gen, err.message);
            }
          }, NO_SESSION_RETRY_MS);
          return;
        case 'token_expired':
        case 'invalid_token':
          this.roomToken = null;
          return this.dropped(gen, e.code);
        case 'room_locked':
        case 'forbidden':
        case 'wrong_room':
        case 'unknown_room':
        case 'not_booked':
        case 'session_open':
          return this.finish(e.code, e.message);
        case 'too_early':
          // An appointment's room opens shortly before its start: say when, rather than retry in a loop.
          return this.finish(e.code, e.message, { details: { startsAt: e.startsAt, opensAt: e.opensAt } });
        default:
          return this.dropped(gen, e.code || e.message);
      }
    }
    if (gen !== this.generation || this.stopped) return;
    this.sessionId = joined.session_id;
    this.you = joined.you;
    this.seats = joined.seats;
    this.participants = new Map(joined.participants.map((p) => [p.participant_id, p]));
    this.emitParticipants();
    this.setState(joined.state);
    this.queueMedia(() => this.startMedia(gen));
  }

  startLiveness(gen) {
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      if (gen !== this.generation) return clearInterval(this.pingTimer);
      if (Date.now() - this.lastHeard > SILENCE_MS) return this.dropped(gen, 'signalling silent');
      this.send({ type: 'ping' });
    }, PING_MS);
  }

  send(message) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  /** Send a request with an id; resolve with the reply of type `replyType`, reject with its `error`. */
  request(message, replyType, timeoutMs = REQUEST_TIMEOUT_MS) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(Object.assign(new Error('not connected'), { code: 'not_connected' }));
    }
    const id = `r${++this.nextId}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.requests.delete(id);
        reject(Object.assign(new Error(`${message.type}: no reply`), { code: 'timeout' }));
      }, timeoutMs);
      this.requests.set(id, { resolve, reject, replyType, timer });
      this.send({ ...message, id });
    });
  }

  onMessage(gen, data) {
    if (gen !== this.generation) return;
    this.lastHeard = Date.now();
    let m;
    try {
      m = JSON.parse(data);
    } catch {
      return;
    }
    const pending = m.id !== undefined && this.requests.get(m.id);
    if (pending && (m.type === pending.replyType || m.type === 'error')) {
      this.requests.delete(m.id);
      clearTimeout(pending.timer);
      if (m.type === 'error') {
        // `too_early` carries when the appointment starts and when its room opens.
        const extra = { code: m.code, startsAt: m.starts_at, opensAt: m.opens_at };
        pending.reject(Object.assign(new Error(`${m.code}: ${m.message}`), extra));
      }
      else pending.resolve(m);
      return;
    }
    switch (m.type) {
      case 'participant_joined':
        this.participants.set(m.participant.participant_id, m.participant);
        this.markSeat(m.participant.seat, true);
        this.emitParticipants();
        this.emitTracks();
        break;
      case 'participant_left':
        this.participants.delete(m.participant_id);
        if (m.reason !== 'replaced') this.markSeat(m.seat, false);
        this.emitParticipants();
        this.emitTracks();
        break;
      case 'room_locked':
        this.seats = m.seats;
        this.emitParticipants();
        this.setState('locked');
        break;
      case 'room_unlocked':
        this.setState('unlocked');
        break;
      case 'session_ended':
        this.finish('session_ended');
        break;
      case 'offer':
        this.queueMedia(() => this.answerOffer(gen, m));
        break;
      case 'layers':
        // Between our offer and its answer a `layers` may be about the connection being replaced: ignore it.
        if (this.answered) this.queueMedia(() => this.applyLayers(gen, m));
        break;
      case 'shutdown':
        this.generation++;
        this.teardown();
        this.roomToken = null;
        this.setState('reconnecting', { reason: 'shutdown', attempt: 1 });
        this.scheduleConnect(m.reconnect_after_ms + Math.round(Math.random() * 1000));
        break;
      case 'error':
        this.onError(gen, m);
        break;
      default:
        break; // pong, welcome, ok, unknown types: nothing to do
    }
  }

  markSeat(seat, taken) {
    if (!seat) return;
    this.seats = this.seats.map((s) => (s.seat === seat ? { ...s, taken } : s));
  }

  onError(gen, m) {
    switch (m.code) {
      case 'replaced':
        this.finish('replaced', m.message);
        break;
      case 'media_failed':
      case 'media_unavailable':
        this.dropped(gen, m.code);
        break;
      case 'rate_limited':
      case 'bad_message':
        console.warn(`[väylä] ${m.code}: ${m.message}`);
        break;
      default: {
        // Fatal ones are followed by a close, and so by a reconnect: the page shows `reconnecting`, not an error.
        const fatal = FATAL_ERRORS.has(m.code);
        console.warn(`[väylä] ${m.code}: ${m.message}`);
        this.emit('error', { code: m.code, message: m.message, fatal });
      }
    }
  }

  /** Run media work in order. A negotiation that fails starts over with a new connection. */
  queueMedia(task) {
    const gen = this.generation;
    this.mediaChain = this.mediaChain.then(task).catch((e) => {
      if (e instanceof Dropped) return;
      console.warn('[väylä] negotiation failed', e);
      this.dropped(gen, `negotiation failed: ${e.message}`);
    });
  }

  // ---- media -------------------------------------------------------------------------------------------------

  /** The site's TURN servers with fresh credentials; none if the server has none or cannot be asked. */
  async iceServers() {
    try {
      const reply = await apiFetch('/api/ice-servers', { token: await this.auth.token() });
      return reply?.ice_servers ?? [];
    } catch (e) {
      console.info(`[väylä] no TURN servers: ${e.code || e.message}`);
      return [];
    }
  }

  async startMedia(gen) {
    if (gen !== this.generation) return;
    const iceServers = await this.iceServers();
    if (gen !== this.generation) return;
    const pc = new RTCPeerConnection({
      bundlePolicy: 'max-bundle',
      rtcpMuxPolicy: 'require',
      iceServers,
      iceTransportPolicy: this.relayOnly ? 'relay' : 'all',
    });
    this.pc = pc;
    this.answered = false;
    this.senders = {};
    const published = [];
    for (const source of SOURCES) {
      const track = this.localTracks[source];
      if (!track) continue;
      const spec = this.sending[source];
      if (spec.contentHint && track.kind === 'video') track.contentHint = spec.contentHint;
      const sendEncodings = spec.encodings.map((encoding) => ({ ...encoding }));
      const transceiver = pc.addTransceiver(track, { direction: 'sendonly', sendEncodings });
      this.senders[source] = transceiver.sender;
      published.push({ source, transceiver });
    }
    if (published.length === 0) {
      // Nothing to send (no camera or microphone allowed): an empty audio m-line keeps the session valid.
      const transceiver = pc.addTransceiver('audio', { direction: 'sendonly' });
      this.senders.microphone = transceiver.sender;
      published.push({ source: 'microphone', transceiver });
    }

    const candidates = [];
    let offerSent = false;
    pc.onicecandidate = ({ candidate }) => {
      if (gen !== this.generation || !candidate?.candidate) return;
      const message = {
        type: 'candidate',
        candidate: candidate.candidate,
        sdp_mid: candidate.sdpMid ?? undefined,
        sdp_mline_index: candidate.sdpMLineIndex ?? undefined,
      };
      if (offerSent) this.send(message);
      else candidates.push(message);
    };
    pc.onconnectionstatechange = () => this.onConnectionState(gen, pc);

    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const tracks = published.map(({ source, transceiver }) => ({ mid: transceiver.mid, source }));
    const reply = this.request({ type: 'offer', sdp: pc.localDescription.sdp, tracks }, 'answer');
    offerSent = true;
    for (const c of candidates) this.send(c);
    let answer;
    try {
      answer = await reply;
    } catch (e) {
      if (e instanceof Dropped || gen !== this.generation) throw e;
      if (e.code === 'not_joined') return; // the session ended meanwhile: session_ended follows
      this.dropped(gen, `offer: ${e.code || e.message}`);
      throw new Dropped(e.message);
    }
    if (gen !== this.generation) return;
    this.answered = true;
    await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
    await this.applySenderParameters();
  }

  /**
   * The server asks for only some simulcast layers of one of our tracks (the others nobody receives): pause the
   * rest. The browser stops encoding them, which spares the service point's uplink and CPU.
   */
  async applyLayers(gen, m) {
    if (gen !== this.generation || !this.pc) return;
    const transceiver = this.pc.getTransceivers().find((t) => t.mid === m.mid);
    const sender = transceiver?.sender;
    if (!sender?.track) return;
    try {
      const params = sender.getParameters();
      if (!params.encodings?.some((enc) => enc.rid)) return;
      params.encodings = params.encodings.map((enc) => (enc.rid ? { ...enc, active: m.rids.includes(enc.rid) } : enc));
      await sender.setParameters(params);
    } catch (e) {
      console.info(`[väylä] simulcast layers for mid ${m.mid}: ${e.message}`);
    }
  }

  /** Sender details that only `setParameters` can set (degradation preference), after negotiation. */
  async applySenderParameters() {
    for (const [source, sender] of Object.entries(this.senders ?? {})) {
      const spec = this.sending[source];
      if (!spec || !sender.track) continue;
      try {
        const params = sender.getParameters();
        if (spec.degradationPreference) params.degradationPreference = spec.degradationPreference;
        // Encodings keep their order; the browser may have dropped simulcast layers it cannot send.
        params.encodings = (params.encodings?.length ? params.encodings : [{}]).map((enc, i) => {
          const wanted = spec.encodings.find((e) => e.rid !== undefined && e.rid === enc.rid) ?? spec.encodings[i];
          const { rid: _rid, ...settable } = wanted ?? {};
          return { ...enc, ...settable };
        });
        await sender.setParameters(params);
      } catch (e) {
        // Older browsers lack some fields (degradationPreference): keep what the transceiver was given.
        console.info(`[väylä] sender parameters for ${source}: ${e.message}`);
      }
    }
  }

  async answerOffer(gen, m) {
    const pc = this.pc;
    if (gen !== this.generation || !pc) return;
    this.receiving = m.tracks;
    await pc.setRemoteDescription({ type: 'offer', sdp: m.sdp });
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    if (gen !== this.generation) return;
    this.send({ type: 'answer', sdp: pc.localDescription.sdp });
    this.emitTracks();
  }

  /** The remote tracks now, by the latest server offer's `tracks` (mid → participant + source). */
  emitTracks() {
    const pc = this.pc;
    if (!pc) return;
    const transceivers = pc.getTransceivers();
    this.remote = this.receiving
      .map((t) => {
        const transceiver = transceivers.find((x) => x.mid === t.mid);
        if (!transceiver?.receiver?.track) return null;
        return {
          mid: t.mid,
          participantId: t.participant_id,
          participant: this.participants.get(t.participant_id) ?? null,
          source: t.source,
          kind: t.kind,
          track: transceiver.receiver.track,
          receiver: transceiver.receiver,
        };
      })
      .filter(Boolean);
    this.emit('tracks', { tracks: this.remote });
  }

  onConnectionState(gen, pc) {
    if (gen !== this.generation) return;
    const state = pc.connectionState;
    this.emit('media', { connectionState: state });
    clearTimeout(this.disconnectedTimer);
    if (state === 'connected') {
      this.attempt = 0; // a working call: the next drop starts the backoff again from 0.5 s
    } else if (state === 'failed') {
      this.dropped(gen, 'media failed');
    } else if (state === 'disconnected') {
      this.disconnectedTimer = setTimeout(() => this.dropped(gen, 'media disconnected'), DISCONNECTED_GRACE_MS);
    }
  }
}
