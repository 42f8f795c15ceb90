// Väylä — the service point's remote-service device: sign in, pick and preview the camera and the document
// camera, join the device's own room (its id), and show the expert large with a calm, always-present status.

import { api } from './api.js';
import { Auth, Call, CAPTURE, isSignLanguage, openSource, stopSources } from './call.js';
import { bindSourceToggle, h, icon, setButtonIcon, show, store, stored, syncAudio, Tiles, videoTile } from './call-ui.js';
import { initI18n, onLanguageChange, registerStrings, roleLabel, stateLabel, t } from './i18n.js';
import { mountWalkinDevice } from './walkin-device.js';
import { Survey } from './survey.js';

registerStrings({
  fi: {
    'device.docTitle': 'Etäpalvelu – Väylä',
    'device.tagline': 'Etäpalvelu',
    'device.title': 'Etäpalvelu',
    'device.login.title': 'Laitteen kirjautuminen',
    'device.login.intro': 'Palveluneuvoja kirjaa laitteen sisään laitteen tunnuksella.',
    'device.login.id': 'Laitteen tunnus',
    'device.login.credential': 'Laitteen salasana',
    'device.login.submit': 'Kirjaudu',
    'device.login.failed': 'Kirjautuminen ei onnistunut: tarkista laitteen tunnus ja salasana.',
    'device.login.error': 'Kirjautuminen ei onnistunut ({code}). Yritä hetken kuluttua uudelleen.',
    'device.login.missing': 'Anna laitteen tunnus ja salasana.',
    'device.setup.title': 'Kamerat',
    'device.setup.intro': 'Valitse kamera ja dokumenttikamera ja tarkista kuvat ennen kuin liityt huoneeseen.',
    'device.setup.camera': 'Kamera',
    'device.setup.document': 'Dokumenttikamera',
    'device.setup.none': 'Ei kameraa',
    'device.setup.same': 'Kamera ja dokumenttikamera ovat sama laite. Valitse dokumenttikameraksi toinen kamera, jos mahdollista.',
    'device.setup.one': 'Laitteessa on vain yksi kamera.',
    'device.setup.join': 'Liity huoneeseen',
    'device.setup.cameraPreview': 'Kameran esikatselu',
    'device.setup.documentPreview': 'Dokumenttikameran esikatselu',
    'device.call.title': 'Etäyhteys',
    'device.call.help': 'Palveluneuvoja auttaa tarvittaessa.',
    'device.call.end': 'Lopeta',
    'device.call.restart': 'Odota seuraavaa istuntoa',
    'device.self.camera': 'Sinun kamerasi',
    'device.self.cameraLabel': 'Oma kamerakuvasi',
    'device.self.document': 'Dokumenttikamera',
    'device.self.documentLabel': 'Dokumenttikamerasi kuva',
    'device.remote.label': '{name}: kamerakuva',
    'device.status.connecting': 'Yhdistetään palveluun…',
    'device.status.waitingSession': 'Odotetaan, että etäpalveluistunto avataan.',
    'device.status.waitingExpert': 'Odotetaan asiantuntijaa. Hän liittyy pian.',
    'device.status.expertAway': 'Asiantuntijan yhteys katkesi hetkeksi. Odotetaan, että hän palaa.',
    'device.status.connected': 'Yhteys asiantuntijaan on muodostettu.',
    'device.status.connectedLocked': 'Yhteys asiantuntijaan on muodostettu. Huone on lukittu: muut eivät pääse mukaan.',
    'device.status.connectedUnlocked': 'Yhteys asiantuntijaan on muodostettu. Huone on avattu uudelle osallistujalle.',
    'device.status.reconnecting': 'Yhteys katkesi. Yhdistetään uudelleen…',
    'device.status.waitingVideo': 'Odotetaan asiantuntijan kuvaa…',
    'device.status.ended': 'Istunto on päättynyt. Kiitos asioinnista!',
    'device.status.left': 'Lopetit yhteyden.',
    'device.status.endedOther': 'Yhteys päättyi ({reason}).',
    'device.status.auth': 'Laitteen kirjautuminen on vanhentunut. Pyydä palveluneuvojaa kirjaamaan laite uudelleen.',
  },
  sv: {
    'device.docTitle': 'Distansservice – Väylä',
    'device.tagline': 'Distansservice',
    'device.title': 'Distansservice',
    'device.login.title': 'Inloggning för enheten',
    'device.login.intro': 'Servicerådgivaren loggar in enheten med enhetens kod.',
    'device.login.id': 'Enhetens kod',
    'device.login.credential': 'Enhetens lösenord',
    'device.login.submit': 'Logga in',
    'device.login.failed': 'Inloggningen misslyckades: kontrollera enhetens kod och lösenord.',
    'device.login.error': 'Inloggningen misslyckades ({code}). Försök igen om en stund.',
    'device.login.missing': 'Ange enhetens kod och lösenord.',
    'device.setup.title': 'Kameror',
    'device.setup.intro': 'Välj kamera och dokumentkamera och kontrollera bilderna innan du går in i rummet.',
    'device.setup.camera': 'Kamera',
    'device.setup.document': 'Dokumentkamera',
    'device.setup.none': 'Ingen kamera',
    'device.setup.same': 'Kameran och dokumentkameran är samma enhet. Välj en annan kamera som dokumentkamera om det går.',
    'device.setup.one': 'Enheten har bara en kamera.',
    'device.setup.join': 'Gå in i rummet',
    'device.setup.cameraPreview': 'Förhandsvisning av kameran',
    'device.setup.documentPreview': 'Förhandsvisning av dokumentkameran',
    'device.call.title': 'Distansförbindelse',
    'device.call.help': 'Servicerådgivaren hjälper vid behov.',
    'device.call.end': 'Avsluta',
    'device.call.restart': 'Vänta på nästa session',
    'device.self.camera': 'Din kamera',
    'device.self.cameraLabel': 'Din egen kamerabild',
    'device.self.document': 'Dokumentkamera',
    'device.self.documentLabel': 'Bilden från din dokumentkamera',
    'device.remote.label': '{name}: kamerabild',
    'device.status.connecting': 'Ansluter till tjänsten…',
    'device.status.waitingSession': 'Väntar på att distansservicesessionen öppnas.',
    'device.status.waitingExpert': 'Väntar på experten. Hen ansluter snart.',
    'device.status.expertAway': 'Expertens förbindelse bröts för en stund. Vi väntar på att hen kommer tillbaka.',
    'device.status.connected': 'Förbindelsen till experten är upprättad.',
    'device.status.connectedLocked': 'Förbindelsen till experten är upprättad. Rummet är låst: ingen annan kommer in.',
    'device.status.connectedUnlocked': 'Förbindelsen till experten är upprättad. Rummet är öppnat för en ny deltagare.',
    'device.status.reconnecting': 'Förbindelsen bröts. Ansluter igen…',
    'device.status.waitingVideo': 'Väntar på bild från experten…',
    'device.status.ended': 'Sessionen är slut. Tack för besöket!',
    'device.status.left': 'Du avslutade förbindelsen.',
    'device.status.endedOther': 'Förbindelsen avslutades ({reason}).',
    'device.status.auth': 'Enhetens inloggning har gått ut. Be servicerådgivaren logga in enheten igen.',
  },
  en: {
    'device.docTitle': 'Remote service – Väylä',
    'device.tagline': 'Remote service',
    'device.title': 'Remote service',
    'device.login.title': 'Device sign-in',
    'device.login.intro': 'A service advisor signs the device in with its device id.',
    'device.login.id': 'Device id',
    'device.login.credential': 'Device password',
    'device.login.submit': 'Sign in',
    'device.login.failed': 'Sign-in failed: check the device id and password.',
    'device.login.error': 'Sign-in failed ({code}). Please try again in a moment.',
    'device.login.missing': 'Enter the device id and password.',
    'device.setup.title': 'Cameras',
    'device.setup.intro': 'Choose the camera and the document camera and check both pictures before joining the room.',
    'device.setup.camera': 'Camera',
    'device.setup.document': 'Document camera',
    'device.setup.none': 'No camera',
    'device.setup.same': 'The camera and the document camera are the same device. Choose another camera as the document camera if you can.',
    'device.setup.one': 'This device has only one camera.',
    'device.setup.join': 'Join the room',
    'device.setup.cameraPreview': 'Camera preview',
    'device.setup.documentPreview': 'Document camera preview',
    'device.call.title': 'Remote connection',
    'device.call.help': 'A service advisor will help if needed.',
    'device.call.end': 'End',
    'device.call.restart': 'Wait for the next session',
    'device.self.camera': 'Your camera',
    'device.self.cameraLabel': 'Your own camera picture',
    'device.self.document': 'Document camera',
    'device.self.documentLabel': 'Your document camera picture',
    'device.remote.label': '{name}: camera',
    'device.status.connecting': 'Connecting to the service…',
    'device.status.waitingSession': 'Waiting for the remote-service session to be opened.',
    'device.status.waitingExpert': 'Waiting for the expert. They will join shortly.',
    'device.status.expertAway': "The expert's connection dropped for a moment. Waiting for them to come back.",
    'device.status.connected': 'You are connected to the expert.',
    'device.status.connectedLocked': 'You are connected to the expert. The room is locked: nobody else can join.',
    'device.status.connectedUnlocked': 'You are connected to the expert. The room is open for another participant.',
    'device.status.reconnecting': 'The connection was lost. Reconnecting…',
    'device.status.waitingVideo': "Waiting for the expert's picture…",
    'device.status.ended': 'The session has ended. Thank you for your visit!',
    'device.status.left': 'You ended the connection.',
    'device.status.endedOther': 'The connection ended ({reason}).',
    'device.status.auth': "The device's sign-in has expired. Please ask a service advisor to sign the device in again.",
  },
});

const KEY_DEVICE = 'vayla.device.id';
const KEY_CAMERA = 'vayla.device.camera';
const KEY_DOCUMENT = 'vayla.device.document';
/** After a session ends, the device goes back to waiting for the next one by itself. */
const BACK_TO_WAITING_MS = 20_000;

const $ = (id) => document.getElementById(id);
const els = {
  error: $('error'),
  loginView: $('login-view'),
  loginForm: $('login-form'),
  deviceId: $('device-id'),
  credential: $('credential'),
  deviceName: $('device-name'),
  setupView: $('setup-view'),
  cameraSelect: $('camera-select'),
  documentSelect: $('document-select'),
  setupNote: $('setup-note'),
  joinButton: $('join-button'),
  callView: $('call-view'),
  status: $('call-status'),
  statusIcon: $('call-status-icon'),
  statusText: $('call-status-text'),
  statusBadge: $('call-status-badge'),
  remoteTiles: $('remote-tiles'),
  placeholder: $('remote-placeholder'),
  placeholderIcon: $('placeholder-icon'),
  placeholderText: $('placeholder-text'),
  selfTiles: $('self-tiles'),
  mute: $('mute-button'),
  camera: $('camera-button'),
  document: $('document-button'),
  end: $('end-button'),
  endedPanel: $('ended-panel'),
  restart: $('restart-button'),
  audio: $('remote-audio'),
};

const local = { microphone: null, camera: null, document: null };
let auth = null;
let device = null; // the login reply: subject (= room), display_name, service_point
let call = null;
let callState = { state: 'connecting' };
let participants = [];
let remoteTracks = [];
let backTimer = null;
/** The "Ask for an expert" panel (walk-in queue), offered while the device waits for a session. */
let walkin = null;

// ---- errors ----------------------------------------------------------------------------------------------------

function showError(text) {
  els.error.textContent = text;
  show(els.error, Boolean(text));
}

// ---- 1. sign in ------------------------------------------------------------------------------------------------

els.deviceId.value = stored(KEY_DEVICE) ?? '';

els.loginForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  const id = els.deviceId.value.trim();
  const credential = els.credential.value;
  if (!id || !credential) {
    showError(t('device.login.missing'));
    (id ? els.credential : els.deviceId).focus();
    return;
  }
  const button = $('login-button');
  button.disabled = true;
  try {
    const reply = await api.deviceLogin(id, credential);
    showError('');
    store(KEY_DEVICE, reply.subject);
    device = reply;
    // The credential stays in this page's memory only, to sign in again after a long outage.
    auth = new Auth(reply, { relogin: () => api.deviceLogin(id, credential) });
    els.credential.value = '';
    els.deviceName.textContent = reply.display_name;
    els.deviceName.removeAttribute('data-i18n');
    await showSetup();
  } catch (err) {
    showError(err.status === 401 ? t('device.login.failed') : t('device.login.error', { code: err.code }));
    els.credential.focus();
  } finally {
    button.disabled = false;
  }
});

// ---- 2. cameras ------------------------------------------------------------------------------------------------

const previews = {
  camera: videoTile({ label: t('device.setup.cameraPreview'), caption: t('device.setup.camera'), className: 'tile--preview' }),
  document: videoTile({ label: t('device.setup.documentPreview'), caption: t('device.setup.document'), className: 'tile--preview' }),
};
$('camera-preview-slot').append(previews.camera.figure);
$('document-preview-slot').append(previews.document.figure);

let videoInputs = [];

async function showSetup() {
  show(els.loginView, false);
  show(els.setupView, true);
  els.setupView.querySelector('h2').setAttribute('tabindex', '-1');
  els.setupView.querySelector('h2').focus();
  try {
    // Ask once for both kinds so device labels become visible; keep the microphone, stop the probe camera.
    const probe = await navigator.mediaDevices.getUserMedia({ audio: CAPTURE.microphone, video: true });
    probe.getVideoTracks().forEach((tr) => tr.stop());
    local.microphone = probe.getAudioTracks()[0] ?? null;
  } catch (err) {
    showError(t('call.noMedia', { reason: err.name || err.message }));
  }
  const all = await navigator.mediaDevices.enumerateDevices().catch(() => []);
  videoInputs = all.filter((d) => d.kind === 'videoinput' && d.deviceId);
  const pick = (key, fallbackIndex, avoid) => {
    const saved = stored(key);
    if (saved && videoInputs.some((d) => d.deviceId === saved)) return saved;
    const candidates = videoInputs.filter((d) => d.deviceId !== avoid);
    return (videoInputs[fallbackIndex] ?? candidates[0] ?? videoInputs[0])?.deviceId ?? '';
  };
  const cameraId = pick(KEY_CAMERA, 0);
  const documentId = pick(KEY_DOCUMENT, 1, cameraId);
  fillSelect(els.cameraSelect, cameraId);
  fillSelect(els.documentSelect, videoInputs.length > 1 ? documentId : '');
  await Promise.all([openPreview('camera', els.cameraSelect.value), openPreview('document', els.documentSelect.value)]);
  updateSetupNote();
}

function fillSelect(select, selected) {
  const options = videoInputs.map((d, i) =>
    h('option', { value: d.deviceId }, d.label || `${t('device.setup.camera')} ${i + 1}`),
  );
  select.replaceChildren(h('option', { value: '' }, t('device.setup.none')), ...options);
  select.value = selected;
}

async function openPreview(source, deviceId) {
  stopSources(local, [source]);
  previews[source].setTrack(null);
  if (!deviceId) {
    previews[source].setOff(true);
    return;
  }
  try {
    local[source] = await openSource(source, deviceId);
    previews[source].setOff(false);
    previews[source].setTrack(local[source]);
  } catch (err) {
    showError(t('call.noMedia', { reason: err.name || err.message }));
    previews[source].setOff(true);
  }
}

function updateSetupNote() {
  const same = els.cameraSelect.value && els.cameraSelect.value === els.documentSelect.value;
  const note = same ? t('device.setup.same') : videoInputs.length === 1 ? t('device.setup.one') : '';
  els.setupNote.textContent = note;
  show(els.setupNote, Boolean(note));
}

for (const [source, select, key] of [
  ['camera', els.cameraSelect, KEY_CAMERA],
  ['document', els.documentSelect, KEY_DOCUMENT],
]) {
  select.addEventListener('change', async () => {
    store(key, select.value || null);
    updateSetupNote();
    await openPreview(source, select.value);
  });
}

els.joinButton.addEventListener('click', () => {
  show(els.setupView, false);
  show(els.callView, true);
  // The previews move into the call as the small self-view tiles.
  selfTiles.camera.setTrack(local.camera);
  selfTiles.document.setTrack(local.document);
  selfTiles.camera.setOff(!local.camera);
  selfTiles.document.setOff(!local.document);
  show(selfTiles.document.figure, Boolean(local.document));
  for (const source of ['camera', 'document']) previews[source].setTrack(null);
  startCall();
});

// ---- 3. the call -----------------------------------------------------------------------------------------------

const selfTiles = {
  camera: videoTile({ label: t('device.self.cameraLabel'), caption: t('device.self.camera'), className: 'tile--self', mirror: true }),
  document: videoTile({ label: t('device.self.documentLabel'), caption: t('device.self.document'), className: 'tile--self' }),
};
els.selfTiles.append(selfTiles.camera.figure, selfTiles.document.figure);

const remote = new Tiles(els.remoteTiles, () => videoTile({ label: '', caption: '', className: 'tile--remote' }));

function startCall() {
  clearTimeout(backTimer);
  show(els.endedPanel, false);
  els.end.disabled = false;
  call = new Call({
    room: device.subject,
    auth,
    tracks: { ...local },
    waitForSession: true,
    client: 'vayla-device-web/1',
  });
  walkin ??= mountWalkinDevice({
    slot: $('walkin-slot'),
    token: () => auth.token(),
    auth,
    // The accepted ticket's session is open: join now instead of at the next "no session yet" retry.
    onSessionReady: () => call?.retryNow(),
  });
  call.addEventListener('state', (e) => {
    callState = e.detail;
    if (e.detail.state === 'ended') onEnded(e.detail);
    // The next customer's session has started: the previous survey gives way.
    if (['gathering', 'locked', 'unlocked'].includes(e.detail.state)) survey.close();
    render();
  });
  call.addEventListener('participants', (e) => {
    participants = e.detail.participants;
    render();
  });
  call.addEventListener('tracks', (e) => {
    remoteTracks = e.detail.tracks;
    syncAudio(els.audio, remoteTracks);
    render();
  });
  call.addEventListener('error', (e) => console.warn('[väylä]', e.detail.code, e.detail.message));
  callState = { state: 'connecting' };
  render();
  call.start();
}

// The customer's survey after a session (web/survey.js): it covers the call view until answered or left alone.
const survey = new Survey($('survey-view'), { token: () => auth.token() });

function onEnded({ reason }) {
  els.end.disabled = true;
  show(els.endedPanel, reason !== 'auth');
  if (reason === 'session_ended' && call?.sessionId) {
    show(els.callView, false);
    survey.open(call.sessionId, { onClose: () => show(els.callView, true) });
  }
  if (reason === 'session_ended') {
    // A kiosk: return to waiting for the next session by itself.
    backTimer = setTimeout(startCall, BACK_TO_WAITING_MS);
  }
}

els.restart.addEventListener('click', startCall);

els.end.addEventListener('click', async () => {
  els.end.disabled = true;
  await call?.leave();
});

/** Shown large, first: a sign-language interpreter's camera. */
const signCamera = (x) => x.source === 'camera' && isSignLanguage(x.participant);

/**
 * The people whose picture the customer sees: everyone else's camera (experts, interpreters); a sign-language
 * interpreter first (shown large), cameras before shared documents.
 */
function remoteVideos() {
  const rank = (x) => (signCamera(x) ? 0 : x.source === 'camera' ? 1 : 2);
  return remoteTracks
    .filter((x) => x.kind === 'video' && x.participant && x.participant.role !== 'device')
    .sort((a, b) => rank(a) - rank(b))
    .map((x) => ({ ...x, key: `${x.participantId}/${x.mid}` }));
}

function personName(p) {
  if (!p) return '';
  return p.display_name && p.display_name !== p.role ? `${roleLabel(p.role)} ${p.display_name}` : roleLabel(p.role);
}

function statusFor({ state, reason }) {
  const experts = participants.filter((p) => p.role === 'expert');
  switch (state) {
    case 'connecting':
    case 'idle':
      return { key: 'device.status.connecting', icon: 'waiting', tone: 'waiting' };
    case 'waiting-for-session':
      return { key: 'device.status.waitingSession', icon: 'waiting', tone: 'waiting' };
    case 'gathering':
      return experts.length
        ? { key: 'device.status.connected', icon: 'connected', tone: 'ok' }
        : { key: 'device.status.waitingExpert', icon: 'waiting', tone: 'waiting' };
    case 'locked':
    case 'unlocked':
      if (!experts.length) return { key: 'device.status.expertAway', icon: 'waiting', tone: 'waiting' };
      return {
        key: state === 'locked' ? 'device.status.connectedLocked' : 'device.status.connectedUnlocked',
        icon: state,
        tone: 'ok',
      };
    case 'reconnecting':
      return { key: 'device.status.reconnecting', icon: 'reconnecting', tone: 'warning' };
    case 'ended':
      if (reason === 'session_ended') return { key: 'device.status.ended', icon: 'info', tone: 'ended' };
      if (reason === 'left') return { key: 'device.status.left', icon: 'info', tone: 'ended' };
      if (reason === 'replaced') return { key: 'call.replaced', icon: 'info', tone: 'warning' };
      if (reason === 'auth') return { key: 'device.status.auth', icon: 'info', tone: 'warning' };
      return { key: 'device.status.endedOther', icon: 'info', tone: 'ended', params: { reason } };
    default:
      return { key: 'device.status.connecting', icon: 'waiting', tone: 'waiting' };
  }
}

let lastStatus = '';
function render() {
  if (!call) return;
  walkin?.setActive(callState.state === 'waiting-for-session');
  const s = statusFor(callState);
  const text = t(s.key, s.params);
  els.status.dataset.state = callState.state;
  els.status.dataset.tone = s.tone;
  if (text !== lastStatus) {
    els.statusText.textContent = text; // the live region: announced only when the words change
    lastStatus = text;
  }
  els.statusIcon.replaceChildren(icon(s.icon, 'icon icon--status'));
  const inRoom = ['gathering', 'locked', 'unlocked'].includes(callState.state);
  els.statusBadge.textContent = inRoom ? stateLabel(callState.state) : '';
  show(els.statusBadge, inRoom);

  const videos = inRoom ? remoteVideos() : [];
  const tiles = remote.sync(videos);
  for (const tile of tiles) {
    const name = personName(tile.item.participant);
    const sign = signCamera(tile.item);
    tile.setLabel(t('device.remote.label', { name }));
    tile.setCaption(name, sign ? t('call.signLanguage') : '');
    tile.figure.dataset.role = tile.item.participant?.role ?? '';
    tile.figure.dataset.source = tile.item.source;
    tile.figure.classList.toggle('tile--sign', sign);
    tile.update();
  }
  els.remoteTiles.dataset.count = String(tiles.length);
  els.remoteTiles.dataset.sign = String(tiles.some((tile) => signCamera(tile.item)));
  show(els.placeholder, tiles.length === 0);
  // In the room with the expert but no picture of them (yet, or their video is being re-established).
  const noPicture = inRoom && s.tone === 'ok';
  els.placeholderIcon.replaceChildren(icon(noPicture ? 'waiting' : s.icon, 'icon icon--placeholder'));
  els.placeholderText.textContent = noPicture ? t('device.status.waitingVideo') : text;
}

/** For diagnostics in the browser console (and the e2e tests' statistics): the current call. */
window.vaylaDebug = { get call() { return call; } };

// ---- controls --------------------------------------------------------------------------------------------------

bindSourceToggle(els.mute, { on: 'micOff', off: 'mic' }, () => local.microphone);
for (const source of ['camera', 'document']) {
  const icons = source === 'camera' ? { on: 'cameraOff', off: 'camera' } : { on: 'documentOff', off: 'document' };
  bindSourceToggle(els[source], icons, () => local[source], (off, track) => selfTiles[source].setOff(off || !track));
}
setButtonIcon(els.end, 'end');

// ---- language --------------------------------------------------------------------------------------------------

initI18n({ switcher: $('lang-switcher') });
const relabel = () => {
  document.title = t('device.docTitle');
  if (device) els.deviceName.textContent = device.display_name;
  previews.camera.setLabel(t('device.setup.cameraPreview'));
  previews.camera.setCaption(t('device.setup.camera'));
  previews.document.setLabel(t('device.setup.documentPreview'));
  previews.document.setCaption(t('device.setup.document'));
  selfTiles.camera.setLabel(t('device.self.cameraLabel'));
  selfTiles.camera.setCaption(t('device.self.camera'));
  selfTiles.document.setLabel(t('device.self.documentLabel'));
  selfTiles.document.setCaption(t('device.self.document'));
  for (const tile of [previews.camera, previews.document, selfTiles.camera, selfTiles.document]) tile.update();
  if (videoInputs.length) {
    const [c, d] = [els.cameraSelect.value, els.documentSelect.value];
    fillSelect(els.cameraSelect, c);
    fillSelect(els.documentSelect, d);
    updateSetupNote();
  }
  render();
};
onLanguageChange(relabel);
relabel();
(els.deviceId.value ? els.credential : els.deviceId).focus();
