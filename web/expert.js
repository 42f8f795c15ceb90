// Väylä — the agency expert's page: sign in, see the rooms (your sessions first), join one, read the customer's
// document large (zoom, pan, full screen, still pictures), see the customer's camera beside it, lock/unlock the
// room and end the session.

import { api } from './api.js';
import { Auth, Call, isSignLanguage, openCallSources, stopSources } from './call.js';
import { bindSourceToggle, h, icon, isPressed, setButtonIcon, setPressed, show, syncAudio, Tiles, videoTile } from './call-ui.js';
import { formatClock } from './appointments-common.js';
import { mountAppointments } from './expert-appointments.js';
import { mountWalkinExpert } from './walkin-expert.js';
import {
  formatTime,
  getLocale,
  initI18n,
  onLanguageChange,
  registerStrings,
  roleLabel,
  stateLabel,
  t,
} from './i18n.js';
import { bindSignInForm, forgetLogin, savedLogin, saveLogin } from './signin.js';

registerStrings({
  fi: {
    'expert.docTitle': 'Asiantuntija – Väylä',
    'expert.title': 'Asiantuntijan etäpalvelu',
    'expert.logout': 'Kirjaudu ulos',
    'expert.signedIn': '{name} ({agency})',
    'expert.login.title': 'Kirjaudu sisään',
    'expert.login.username': 'Käyttäjätunnus',
    'expert.login.password': 'Salasana',
    'expert.login.submit': 'Kirjaudu',
    'expert.login.failed': 'Kirjautuminen ei onnistunut: tarkista käyttäjätunnus ja salasana.',
    'expert.login.error': 'Kirjautuminen ei onnistunut ({code}). Yritä hetken kuluttua uudelleen.',
    'expert.login.missing': 'Anna käyttäjätunnus ja salasana.',
    'expert.login.expired': 'Kirjautumisesi on vanhentunut. Kirjaudu uudelleen.',
    'expert.rooms.mine': 'Omat istuntosi',
    'expert.rooms.mineEmpty': 'Sinulle ei ole nyt avoimia istuntoja.',
    'expert.rooms.others': 'Muut huoneet',
    'expert.rooms.updated': 'Päivitetty klo {time}. Lista päivittyy automaattisesti.',
    'expert.rooms.error': 'Huoneiden tilaa ei saatu haettua ({code}). Yritetään uudelleen automaattisesti.',
    'expert.rooms.join': 'Liity',
    'expert.rooms.joinLabel': 'Liity huoneeseen {room}',
    'expert.rooms.noSession': 'Ei istuntoa',
    'expert.rooms.lockedOut': 'Lukittu, ei paikkaa sinulle',
    'expert.rooms.present': 'Paikalla {taken}/{total}',
    'expert.rooms.yourSeat': 'Sinulla on paikka tässä istunnossa',
    'expert.lock': 'Lukitse huone',
    'expert.leave': 'Poistu huoneesta',
    'expert.endSession': 'Päätä istunto',
    'expert.endConfirm': 'Päätetäänkö istunto kaikilta osallistujilta?',
    'expert.backToRooms': 'Takaisin huoneisiin',
    'expert.doc.title': 'Asiakkaan asiakirja',
    'expert.doc.caption': 'Dokumenttikamera',
    'expert.doc.videoLabel': 'Asiakkaan dokumenttikamera, {room}',
    'expert.doc.viewLabel': 'Asiakirjan näkymä: vieritä nuolinäppäimillä tai vetämällä',
    'expert.doc.zoom': 'Suurennus',
    'expert.doc.zoomIn': 'Suurenna',
    'expert.doc.zoomOut': 'Pienennä',
    'expert.doc.fit': 'Sovita koko kuva näkyviin',
    'expert.doc.fullscreen': 'Koko näyttö',
    'expert.doc.still': 'Ota pysäytyskuva',
    'expert.doc.waiting': 'Odotetaan dokumenttikameran kuvaa…',
    'expert.doc.none': 'Asiakkaan dokumenttikamera ei ole käytössä.',
    'expert.doc.stats': '{width} × {height}, {fps} fps',
    'expert.customer': 'Asiakas',
    'expert.customerLabel': 'Asiakkaan kamera, {room}',
    'expert.otherLabel': '{name}: kamerakuva',
    'expert.selfLabel': 'Oma kamerakuvasi',
    'expert.self': 'Sinä',
    'expert.still.title': 'Pysäytyskuva',
    'expert.still.tools': 'Pysäytyskuvan suurennus',
    'expert.still.info': '{width} × {height} pikseliä, otettu klo {time}',
    'expert.still.download': 'Lataa PNG',
    'expert.still.close': 'Sulje',
    'expert.still.viewLabel': 'Pysäytyskuvan näkymä: vieritä nuolinäppäimillä tai vetämällä',
    'expert.still.imageLabel': 'Pysäytyskuva asiakkaan asiakirjasta',
    'expert.status.connecting': 'Yhdistetään huoneeseen…',
    'expert.status.gathering': 'Odotetaan osallistujia: {missing}.',
    'expert.status.gatheringAll': 'Kaikki odotetut osallistujat ovat paikalla.',
    'expert.status.locked': 'Huone on lukittu. Vain odotetut osallistujat pääsevät sisään.',
    'expert.status.unlocked': 'Huone on avattu: kuka tahansa huonetunnisteen saanut pääsee sisään. Lukitse huone, kun kaikki ovat paikalla.',
    'expert.status.reconnecting': 'Yhteys katkesi. Yhdistetään uudelleen…',
    'expert.status.ended': 'Istunto on päättynyt.',
    'expert.status.left': 'Poistuit huoneesta. Paikkasi säilyy, kunnes istunto päättyy.',
    'expert.status.no_session': 'Huoneessa ei ole avointa istuntoa.',
    'expert.status.room_locked': 'Huone on lukittu, eikä sinulla ole siinä paikkaa.',
    'expert.status.forbidden': 'Sinulla ei ole oikeutta liittyä tähän huoneeseen.',
    'expert.status.too_early': 'Ajanvaraus alkaa klo {start}. Huoneeseen voi liittyä klo {opens} alkaen.',
    'expert.status.not_booked': 'Tämä aika on varattu toiselle asiantuntijalle: et voi liittyä tähän istuntoon.',
    'expert.status.session_open': 'Huoneessa on vielä toinen istunto. Yritä hetken kuluttua uudelleen.',
    'expert.status.auth': 'Kirjautumisesi on vanhentunut. Kirjaudu uudelleen.',
    'expert.status.other': 'Yhteys päättyi ({reason}).',
    'expert.status.customerAway': 'Asiakkaan laitteen yhteys katkesi. Odotetaan, että se palaa.',
    'expert.actionFailed': 'Toiminto epäonnistui ({code}).',
  },
  sv: {
    'expert.docTitle': 'Expert – Väylä',
    'expert.title': 'Expertens distansservice',
    'expert.logout': 'Logga ut',
    'expert.signedIn': '{name} ({agency})',
    'expert.login.title': 'Logga in',
    'expert.login.username': 'Användarnamn',
    'expert.login.password': 'Lösenord',
    'expert.login.submit': 'Logga in',
    'expert.login.failed': 'Inloggningen misslyckades: kontrollera användarnamn och lösenord.',
    'expert.login.error': 'Inloggningen misslyckades ({code}). Försök igen om en stund.',
    'expert.login.missing': 'Ange användarnamn och lösenord.',
    'expert.login.expired': 'Din inloggning har gått ut. Logga in igen.',
    'expert.rooms.mine': 'Dina sessioner',
    'expert.rooms.mineEmpty': 'Du har inga öppna sessioner just nu.',
    'expert.rooms.others': 'Övriga rum',
    'expert.rooms.updated': 'Uppdaterat kl. {time}. Listan uppdateras automatiskt.',
    'expert.rooms.error': 'Rummens läge kunde inte hämtas ({code}). Vi försöker igen automatiskt.',
    'expert.rooms.join': 'Gå in',
    'expert.rooms.joinLabel': 'Gå in i rummet {room}',
    'expert.rooms.noSession': 'Ingen session',
    'expert.rooms.lockedOut': 'Låst, ingen plats för dig',
    'expert.rooms.present': 'På plats {taken}/{total}',
    'expert.rooms.yourSeat': 'Du har en plats i den här sessionen',
    'expert.lock': 'Lås rummet',
    'expert.leave': 'Lämna rummet',
    'expert.endSession': 'Avsluta sessionen',
    'expert.endConfirm': 'Avsluta sessionen för alla deltagare?',
    'expert.backToRooms': 'Tillbaka till rummen',
    'expert.doc.title': 'Kundens dokument',
    'expert.doc.caption': 'Dokumentkamera',
    'expert.doc.videoLabel': 'Kundens dokumentkamera, {room}',
    'expert.doc.viewLabel': 'Dokumentvy: rulla med piltangenterna eller genom att dra',
    'expert.doc.zoom': 'Förstoring',
    'expert.doc.zoomIn': 'Förstora',
    'expert.doc.zoomOut': 'Förminska',
    'expert.doc.fit': 'Visa hela bilden',
    'expert.doc.fullscreen': 'Helskärm',
    'expert.doc.still': 'Ta stillbild',
    'expert.doc.waiting': 'Väntar på bild från dokumentkameran…',
    'expert.doc.none': 'Kundens dokumentkamera används inte.',
    'expert.doc.stats': '{width} × {height}, {fps} fps',
    'expert.customer': 'Kund',
    'expert.customerLabel': 'Kundens kamera, {room}',
    'expert.otherLabel': '{name}: kamerabild',
    'expert.selfLabel': 'Din egen kamerabild',
    'expert.self': 'Du',
    'expert.still.title': 'Stillbild',
    'expert.still.tools': 'Stillbildens förstoring',
    'expert.still.info': '{width} × {height} pixlar, tagen kl. {time}',
    'expert.still.download': 'Ladda ner PNG',
    'expert.still.close': 'Stäng',
    'expert.still.viewLabel': 'Stillbildsvy: rulla med piltangenterna eller genom att dra',
    'expert.still.imageLabel': 'Stillbild av kundens dokument',
    'expert.status.connecting': 'Ansluter till rummet…',
    'expert.status.gathering': 'Väntar på deltagare: {missing}.',
    'expert.status.gatheringAll': 'Alla väntade deltagare är på plats.',
    'expert.status.locked': 'Rummet är låst. Bara väntade deltagare kommer in.',
    'expert.status.unlocked': 'Rummet är öppet: alla med en rumstoken kommer in. Lås rummet när alla är på plats.',
    'expert.status.reconnecting': 'Förbindelsen bröts. Ansluter igen…',
    'expert.status.ended': 'Sessionen är slut.',
    'expert.status.left': 'Du lämnade rummet. Din plats finns kvar tills sessionen tar slut.',
    'expert.status.no_session': 'Rummet har ingen öppen session.',
    'expert.status.room_locked': 'Rummet är låst och du har ingen plats i det.',
    'expert.status.forbidden': 'Du har inte rätt att gå in i det här rummet.',
    'expert.status.too_early': 'Bokningen börjar kl. {start}. Du kan gå in i rummet från kl. {opens}.',
    'expert.status.not_booked': 'Den här tiden är bokad för en annan expert: du kan inte gå in i sessionen.',
    'expert.status.session_open': 'Rummet har fortfarande en annan session. Försök igen om en stund.',
    'expert.status.auth': 'Din inloggning har gått ut. Logga in igen.',
    'expert.status.other': 'Förbindelsen avslutades ({reason}).',
    'expert.status.customerAway': 'Kundens enhet tappade förbindelsen. Vi väntar på att den kommer tillbaka.',
    'expert.actionFailed': 'Åtgärden misslyckades ({code}).',
  },
  en: {
    'expert.docTitle': 'Expert – Väylä',
    'expert.title': 'Expert remote service',
    'expert.logout': 'Sign out',
    'expert.signedIn': '{name} ({agency})',
    'expert.login.title': 'Sign in',
    'expert.login.username': 'User name',
    'expert.login.password': 'Password',
    'expert.login.submit': 'Sign in',
    'expert.login.failed': 'Sign-in failed: check your user name and password.',
    'expert.login.error': 'Sign-in failed ({code}). Please try again in a moment.',
    'expert.login.missing': 'Enter your user name and password.',
    'expert.login.expired': 'Your sign-in has expired. Please sign in again.',
    'expert.rooms.mine': 'Your sessions',
    'expert.rooms.mineEmpty': 'You have no open sessions right now.',
    'expert.rooms.others': 'Other rooms',
    'expert.rooms.updated': 'Updated at {time}. The list refreshes automatically.',
    'expert.rooms.error': 'Could not fetch the rooms ({code}). Retrying automatically.',
    'expert.rooms.join': 'Join',
    'expert.rooms.joinLabel': 'Join room {room}',
    'expert.rooms.noSession': 'No session',
    'expert.rooms.lockedOut': 'Locked, no seat for you',
    'expert.rooms.present': 'Present {taken}/{total}',
    'expert.rooms.yourSeat': 'You have a seat in this session',
    'expert.lock': 'Lock room',
    'expert.leave': 'Leave room',
    'expert.endSession': 'End session',
    'expert.endConfirm': 'End the session for every participant?',
    'expert.backToRooms': 'Back to rooms',
    'expert.doc.title': "Customer's document",
    'expert.doc.caption': 'Document camera',
    'expert.doc.videoLabel': "Customer's document camera, {room}",
    'expert.doc.viewLabel': 'Document view: scroll with the arrow keys or by dragging',
    'expert.doc.zoom': 'Zoom',
    'expert.doc.zoomIn': 'Zoom in',
    'expert.doc.zoomOut': 'Zoom out',
    'expert.doc.fit': 'Fit the whole picture',
    'expert.doc.fullscreen': 'Full screen',
    'expert.doc.still': 'Take still',
    'expert.doc.waiting': 'Waiting for the document camera…',
    'expert.doc.none': "The customer's document camera is not in use.",
    'expert.doc.stats': '{width} × {height}, {fps} fps',
    'expert.customer': 'Customer',
    'expert.customerLabel': "Customer's camera, {room}",
    'expert.otherLabel': '{name}: camera',
    'expert.selfLabel': 'Your own camera picture',
    'expert.self': 'You',
    'expert.still.title': 'Still picture',
    'expert.still.tools': 'Still picture zoom',
    'expert.still.info': '{width} × {height} pixels, taken at {time}',
    'expert.still.download': 'Download PNG',
    'expert.still.close': 'Close',
    'expert.still.viewLabel': 'Still picture view: scroll with the arrow keys or by dragging',
    'expert.still.imageLabel': "Still picture of the customer's document",
    'expert.status.connecting': 'Connecting to the room…',
    'expert.status.gathering': 'Waiting for participants: {missing}.',
    'expert.status.gatheringAll': 'Every expected participant is here.',
    'expert.status.locked': 'The room is locked. Only expected participants can get in.',
    'expert.status.unlocked': 'The room is open: anyone with a room token can get in. Lock it once everyone is here.',
    'expert.status.reconnecting': 'The connection was lost. Reconnecting…',
    'expert.status.ended': 'The session has ended.',
    'expert.status.left': 'You left the room. Your seat is kept until the session ends.',
    'expert.status.no_session': 'The room has no open session.',
    'expert.status.room_locked': 'The room is locked and you have no seat in it.',
    'expert.status.forbidden': 'You may not join this room.',
    'expert.status.too_early': 'The appointment starts at {start}. You can join the room from {opens}.',
    'expert.status.not_booked': 'This time is booked for another expert: you cannot join this session.',
    'expert.status.session_open': 'Another session is still open in the room. Try again in a moment.',
    'expert.status.auth': 'Your sign-in has expired. Please sign in again.',
    'expert.status.other': 'The connection ended ({reason}).',
    'expert.status.customerAway': "The customer's device lost its connection. Waiting for it to come back.",
    'expert.actionFailed': 'The action failed ({code}).',
  },
});

const SESSION_KEY = 'vayla.expert.login';
const ROOMS_POLL_MS = 4000;

const $ = (id) => document.getElementById(id);
const els = {
  error: $('error'),
  userLine: $('user-line'),
  userName: $('user-name'),
  logout: $('logout-button'),
  loginView: $('login-view'),
  loginForm: $('login-form'),
  username: $('username'),
  password: $('password'),
  roomsView: $('rooms-view'),
  mineList: $('mine-list'),
  mineEmpty: $('mine-empty'),
  othersList: $('others-list'),
  roomsUpdated: $('rooms-updated'),
  callView: $('call-view'),
  callTitle: $('call-title'),
  status: $('call-status'),
  statusIcon: $('call-status-icon'),
  statusText: $('call-status-text'),
  statusBadge: $('call-status-badge'),
  docPanel: $('doc-panel'),
  docView: $('doc-view'),
  docCanvas: $('doc-canvas'),
  docStats: $('doc-stats'),
  zoomIn: $('zoom-in'),
  zoomOut: $('zoom-out'),
  zoomRange: $('zoom-range'),
  zoomValue: $('zoom-value'),
  zoomFit: $('zoom-fit'),
  stillButton: $('still-button'),
  fullscreen: $('fullscreen-button'),
  sideTiles: $('side-tiles'),
  mute: $('mute-button'),
  camera: $('camera-button'),
  lock: $('lock-button'),
  leave: $('leave-button'),
  endSession: $('end-session-button'),
  endedPanel: $('ended-panel'),
  back: $('back-button'),
  audio: $('remote-audio'),
  stillDialog: $('still-dialog'),
  stillInfo: $('still-info'),
  stillView: $('still-view'),
  stillBox: $('still-canvas-box'),
  stillCanvas: $('still-canvas'),
  stillZoomIn: $('still-zoom-in'),
  stillZoomOut: $('still-zoom-out'),
  stillZoomRange: $('still-zoom-range'),
  stillZoomValue: $('still-zoom-value'),
  stillDownload: $('still-download'),
  stillClose: $('still-close'),
};

let auth = null;
let me = null; // the login reply
let rooms = [];
let roomsTimer = null;
let roomsError = null;
let roomsUpdatedAt = null;
let call = null;
let room = null; // the room object of the room joined
let callState = { state: 'connecting' };
let participants = [];
let seats = [];
let remoteTracks = [];
const local = { microphone: null, camera: null };
/** "My appointments today", shown with the rooms; its Join opens the appointment's device room. */
const appointments = mountAppointments({ token: () => auth.token(), onJoin: (id) => joinRoom(id) });
/** The walk-in queue of the expert's agency, shown with the rooms; Accept (or Join) opens the device's room. */
const walkinQueue = mountWalkinExpert({ slot: $('walkin-slot'), token: () => auth.token(), onJoin: (id) => joinRoom(id) });

function showError(text) {
  els.error.textContent = text ?? '';
  show(els.error, Boolean(text));
}

function focusHeading(section) {
  const heading = section.querySelector('h2');
  heading.setAttribute('tabindex', '-1');
  heading.focus();
}

function showView(name) {
  show(els.loginView, name === 'login');
  show(els.roomsView, name === 'rooms');
  appointments.show(name === 'rooms');
  walkinQueue.show(name === 'rooms' && me?.role === 'expert');
  show(els.callView, name === 'call');
  show(els.userLine, name !== 'login');
  document.body.dataset.view = name;
}

// ---- sign in ---------------------------------------------------------------------------------------------------

function signedIn(reply) {
  me = reply;
  auth?.stop();
  auth = new Auth(reply);
  auth.addEventListener('refreshed', (e) => saveLogin(SESSION_KEY, { ...e.detail }));
  auth.addEventListener('expired', () => signOut(t('expert.login.expired')));
  saveLogin(SESSION_KEY, reply);
  renderUser();
  showRooms();
}

function renderUser() {
  if (!me) return;
  els.userName.textContent = t('expert.signedIn', { name: me.display_name, agency: me.agency ?? roleLabel(me.role) });
}

function signOut(message) {
  stopCall();
  auth?.stop();
  auth = null;
  me = null;
  clearInterval(roomsTimer);
  forgetLogin(SESSION_KEY);
  showView('login');
  showError(message ?? '');
  els.username.focus();
}

bindSignInForm({
  form: els.loginForm,
  username: els.username,
  password: els.password,
  button: $('login-button'),
  showError,
  strings: 'expert.login',
  onSignedIn: signedIn,
});

els.logout.addEventListener('click', () => signOut());

// ---- rooms -----------------------------------------------------------------------------------------------------

function showRooms() {
  showView('rooms');
  renderRooms();
  focusHeading(els.roomsView);
  clearInterval(roomsTimer);
  loadRooms();
  roomsTimer = setInterval(loadRooms, ROOMS_POLL_MS);
}

async function loadRooms() {
  if (!auth) return;
  try {
    rooms = await api.rooms(await auth.token());
    roomsError = null;
    roomsUpdatedAt = Date.now();
  } catch (err) {
    roomsError = err.code;
  }
  renderRooms();
}

const hasSeat = (r) => me && (r.seats ?? []).some((s) => s.subject === me.subject);

function roomRow(r) {
  const taken = (r.seats ?? []).filter((s) => s.taken).length;
  const total = (r.seats ?? []).length;
  const mine = hasSeat(r);
  const canJoin = r.state !== 'idle' && (r.state !== 'locked' || mine);
  const titleId = `room-${r.room}-name`;
  const state = ['idle', 'gathering', 'locked', 'unlocked'].includes(r.state) ? r.state : 'idle';
  return h(
    'li',
    { class: `room-row room-row--${state}`, 'data-room': r.room, 'data-state': r.state },
    h(
      'div',
      { class: 'room-row__main' },
      h('p', { class: 'room-row__name', id: titleId }, r.name),
      h('p', { class: 'room-row__meta' }, h('span', { class: 'room-row__address' }, r.room), ' · ', r.service_point_name),
      mine ? h('p', { class: 'room-row__mine' }, icon('person'), t('expert.rooms.yourSeat')) : null,
    ),
    h(
      'div',
      { class: 'room-row__state' },
      h('span', { class: `badge badge--${state}` }, icon(state === 'idle' ? 'info' : state === 'gathering' ? 'waiting' : state), stateLabel(r.state)),
      total ? h('span', { class: 'room-row__count' }, t('expert.rooms.present', { taken, total })) : null,
    ),
    h(
      'div',
      { class: 'room-row__action' },
      canJoin
        ? h(
            'button',
            {
              type: 'button',
              class: `button ${mine ? 'button--primary' : ''}`,
              'data-join': r.room,
              'aria-label': t('expert.rooms.joinLabel', { room: r.name }),
            },
            t('expert.rooms.join'),
          )
        : h('span', { class: 'muted' }, r.state === 'idle' ? t('expert.rooms.noSession') : t('expert.rooms.lockedOut')),
    ),
  );
}

function renderRooms() {
  const mine = rooms.filter(hasSeat);
  const others = rooms.filter((r) => !hasSeat(r));
  // Keep focus on a join button across refreshes.
  const focused = document.activeElement?.dataset?.join;
  els.mineList.replaceChildren(...mine.map(roomRow));
  els.othersList.replaceChildren(...others.map(roomRow));
  show(els.mineEmpty, mine.length === 0);
  els.roomsUpdated.textContent = roomsError
    ? t('expert.rooms.error', { code: roomsError })
    : roomsUpdatedAt
      ? t('expert.rooms.updated', { time: formatTime(roomsUpdatedAt, { seconds: true }) })
      : '';
  if (focused) document.querySelector(`[data-join="${CSS.escape(focused)}"]`)?.focus();
}

els.roomsView.addEventListener('click', (e) => {
  const button = e.target.closest('[data-join]');
  if (button) joinRoom(button.dataset.join);
});

// ---- the call --------------------------------------------------------------------------------------------------

const docTile = videoTile({ label: '', caption: '', className: 'tile--document' });
// The document view has its own caption and toolbar: only the frame (video + overlay) goes in the zoom box.
els.docCanvas.append(docTile.figure.querySelector('.tile__frame'));
const docVideo = docTile.video;
docVideo.id = 'document-video';
docTile.figure.dataset.source = 'document';

const selfTile = videoTile({ label: t('expert.selfLabel'), caption: t('expert.self'), className: 'tile--self', mirror: true });
const side = new Tiles(els.sideTiles, () => videoTile({ label: '', caption: '', className: 'tile--side' }));

async function joinRoom(id) {
  clearInterval(roomsTimer);
  showError('');
  room = rooms.find((r) => r.room === id) ?? { room: id, name: id };
  els.callTitle.textContent = room.name;
  showView('call');
  show(els.endedPanel, false);
  for (const b of [els.leave, els.endSession, els.lock]) b.disabled = false;
  setZoom(1);
  callState = { state: 'connecting' };
  participants = [];
  seats = room.seats ?? [];
  remoteTracks = [];
  render();
  focusHeading(els.callView);

  await openCallSources(local, { failed: (err) => showError(t('call.noMedia', { reason: err.name || err.message })) });
  if (local.microphone) local.microphone.enabled = !isPressed(els.mute);
  if (local.camera) local.camera.enabled = !isPressed(els.camera);
  selfTile.setTrack(local.camera);
  selfTile.setOff(!local.camera || !local.camera.enabled);

  call = new Call({ room: id, auth, tracks: { ...local }, client: 'vayla-expert-web/1' });
  call.addEventListener('state', (e) => {
    callState = e.detail;
    if (e.detail.state === 'ended') {
      show(els.endedPanel, true);
      for (const b of [els.leave, els.endSession, els.lock]) b.disabled = true;
      if (e.detail.reason === 'auth') signOut(t('expert.login.expired'));
    }
    render();
  });
  call.addEventListener('participants', (e) => {
    participants = e.detail.participants;
    seats = e.detail.seats;
    render();
  });
  call.addEventListener('tracks', (e) => {
    remoteTracks = e.detail.tracks;
    syncAudio(els.audio, remoteTracks);
    render();
  });
  call.addEventListener('error', (e) => {
    if (!e.detail.fatal) showError(t('expert.actionFailed', { code: e.detail.code }));
  });
  call.start();
  startStats();
}

function stopCall() {
  call?.leave();
  call = null;
  stopStats();
  docTile.setTrack(null);
  side.sync([]);
  syncAudio(els.audio, []);
  stopSources(local, ['microphone', 'camera']);
  selfTile.setTrack(null);
  if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
}

function backToRooms() {
  stopCall();
  showRooms();
}

els.back.addEventListener('click', backToRooms);
els.leave.addEventListener('click', async () => {
  await call?.leave();
  backToRooms();
});
els.endSession.addEventListener('click', async () => {
  if (!window.confirm(t('expert.endConfirm'))) return;
  try {
    await call?.endSession();
  } catch (err) {
    showError(t('expert.actionFailed', { code: err.code ?? err.message }));
  }
});
els.lock.addEventListener('click', async () => {
  const locked = callState.state === 'locked';
  els.lock.disabled = true;
  try {
    await (locked ? call.unlock() : call.lock());
  } catch (err) {
    showError(t('expert.actionFailed', { code: err.code ?? err.message }));
  } finally {
    els.lock.disabled = false;
  }
});

bindSourceToggle(els.mute, { on: 'micOff', off: 'mic' }, () => local.microphone);
bindSourceToggle(els.camera, { on: 'cameraOff', off: 'camera' }, () => local.camera, (off, track) => selfTile.setOff(off || !track));
setButtonIcon(els.leave, 'leave');
setButtonIcon(els.endSession, 'end');
setButtonIcon(els.stillButton, 'still');
setButtonIcon(els.fullscreen, 'fullscreen');
els.zoomIn.append(icon('zoomIn'));
els.zoomOut.append(icon('zoomOut'));
els.zoomFit.append(icon('fit'));
els.stillZoomIn.append(icon('zoomIn'));
els.stillZoomOut.append(icon('zoomOut'));
setButtonIcon(els.stillDownload, 'download');
setButtonIcon(els.stillClose, 'close');

function personName(p) {
  if (!p) return '';
  return p.display_name && p.display_name !== p.role ? `${roleLabel(p.role)} ${p.display_name}` : roleLabel(p.role);
}

function statusFor({ state, reason, startsAt, opensAt }) {
  const device = participants.find((p) => p.role === 'device');
  switch (state) {
    case 'connecting':
      return { text: t('expert.status.connecting'), icon: 'waiting', tone: 'waiting' };
    case 'gathering': {
      const missing = seats.filter((s) => !s.taken).map((s) => (s.role === 'device' ? s.display_name : personName(s)));
      return missing.length
        ? { text: t('expert.status.gathering', { missing: missing.join(', ') }), icon: 'waiting', tone: 'waiting' }
        : { text: t('expert.status.gatheringAll'), icon: 'connected', tone: 'ok' };
    }
    case 'locked':
    case 'unlocked':
      if (!device) return { text: t('expert.status.customerAway'), icon: 'waiting', tone: 'waiting' };
      return { text: t(`expert.status.${state}`), icon: state, tone: state === 'locked' ? 'ok' : 'warning' };
    case 'reconnecting':
      return { text: t('expert.status.reconnecting'), icon: 'reconnecting', tone: 'warning' };
    case 'ended': {
      const key = {
        session_ended: 'expert.status.ended',
        left: 'expert.status.left',
        no_session: 'expert.status.no_session',
        room_locked: 'expert.status.room_locked',
        forbidden: 'expert.status.forbidden',
        not_booked: 'expert.status.not_booked',
        session_open: 'expert.status.session_open',
        auth: 'expert.status.auth',
      }[reason];
      if (reason === 'replaced') return { text: t('call.replaced'), icon: 'info', tone: 'warning' };
      if (reason === 'too_early' && startsAt && opensAt) {
        // Appointment times are Helsinki times, as everywhere else on the page.
        const [start, opens] = [startsAt, opensAt].map((iso) => formatClock(iso));
        return { text: t('expert.status.too_early', { start, opens }), icon: 'waiting', tone: 'waiting' };
      }
      return { text: key ? t(key) : t('expert.status.other', { reason }), icon: 'info', tone: 'ended' };
    }
    default:
      return { text: t('expert.status.connecting'), icon: 'waiting', tone: 'waiting' };
  }
}

let lastStatus = '';
function render() {
  if (els.callView.hidden) return;
  const s = statusFor(callState);
  els.status.dataset.state = callState.state;
  els.status.dataset.tone = s.tone;
  if (s.text !== lastStatus) {
    els.statusText.textContent = s.text;
    lastStatus = s.text;
  }
  els.statusIcon.replaceChildren(icon(s.icon, 'icon icon--status'));
  const inRoom = ['gathering', 'locked', 'unlocked'].includes(callState.state);
  els.statusBadge.textContent = inRoom ? stateLabel(callState.state) : '';
  show(els.statusBadge, inRoom);
  setPressed(els.lock, callState.state === 'locked', { on: 'locked', off: 'unlocked' });
  els.lock.disabled = !inRoom;

  const roomName = room?.name ?? '';
  const videos = remoteTracks.filter((x) => x.kind === 'video');
  const doc = videos.find((x) => x.source === 'document' && x.participant?.role === 'device') ??
    videos.find((x) => x.source === 'document');
  docTile.setTrack(doc?.track ?? null);
  docTile.setLabel(t('expert.doc.videoLabel', { room: roomName }));
  docTile.update();
  const overlayText = docTile.overlay.querySelector('.tile__overlay-text');
  if (!doc) overlayText.textContent = inRoom ? t('expert.doc.none') : statusFor(callState).text;
  else if (!docVideo.videoWidth) overlayText.textContent = t('expert.doc.waiting');
  els.docPanel.dataset.playing = docTile.figure.dataset.playing;
  els.stillButton.disabled = !doc;

  // Beside the document: the customer's camera first, then everyone else, then yourself.
  const others = videos
    .filter((x) => x !== doc)
    .map((x) => ({ ...x, key: `${x.participantId}/${x.mid}` }))
    .sort((a, b) => rank(a) - rank(b));
  const tiles = side.sync(others);
  for (const tile of tiles) {
    const { participant, source } = tile.item;
    const isDevice = participant?.role === 'device';
    tile.setLabel(
      isDevice ? t('expert.customerLabel', { room: roomName }) : t('expert.otherLabel', { name: personName(participant) }),
    );
    tile.setCaption(isDevice ? t('expert.customer') : personName(participant), source === 'document' ? t('expert.doc.caption') : '');
    tile.figure.dataset.role = participant?.role ?? '';
    tile.figure.dataset.source = source;
    tile.figure.classList.toggle('tile--customer', isDevice);
    tile.figure.classList.toggle('tile--sign', signCamera(tile.item));
    if (signCamera(tile.item)) tile.setCaption(personName(participant), t('call.signLanguage'));
    tile.update();
  }
  // A sign-language interpreter is shown large beside the document (the side column widens).
  els.sideTiles.closest('.expert-stage').classList.toggle('expert-stage--sign', tiles.some((tile) => signCamera(tile.item)));
  if (selfTile.figure.parentElement !== els.sideTiles || els.sideTiles.lastElementChild !== selfTile.figure) {
    els.sideTiles.append(selfTile.figure);
  }
  selfTile.setLabel(t('expert.selfLabel'));
  selfTile.setCaption(t('expert.self'));
  selfTile.update();
}

/** A sign-language interpreter's camera: first beside the document, and large. */
const signCamera = (x) => x.source === 'camera' && isSignLanguage(x.participant);
const rank = (x) =>
  signCamera(x) ? -1 : x.participant?.role === 'device' ? 0 : x.participant?.role === 'interpreter' ? 1 : 2;

/** For diagnostics in the browser console (and the e2e tests' statistics): the current call. */
window.vaylaDebug = { get call() { return call; } };

// ---- document statistics: resolution and frame rate of what is received ----------------------------------------

let statsTimer = null;
function startStats() {
  stopStats();
  statsTimer = setInterval(updateStats, 1000);
}
function stopStats() {
  clearInterval(statsTimer);
  els.docStats.textContent = '';
}
async function updateStats() {
  const doc = remoteTracks.find((x) => x.kind === 'video' && x.source === 'document');
  if (!doc || !docVideo.videoWidth) {
    els.docStats.textContent = '';
    return;
  }
  let width = docVideo.videoWidth;
  let height = docVideo.videoHeight;
  let fps = null;
  try {
    const report = await doc.receiver.getStats();
    for (const s of report.values()) {
      if (s.type === 'inbound-rtp' && s.kind === 'video') {
        width = s.frameWidth ?? width;
        height = s.frameHeight ?? height;
        fps = s.framesPerSecond ?? null;
      }
    }
  } catch {
    /* stats unavailable: the element's size is enough */
  }
  const nf = new Intl.NumberFormat(getLocale(), { maximumFractionDigits: 0 });
  els.docStats.textContent = t('expert.doc.stats', { width, height, fps: fps === null ? '–' : nf.format(fps) });
  els.docStats.dataset.width = String(width);
  els.docStats.dataset.height = String(height);
}

// ---- zoom and pan ----------------------------------------------------------------------------------------------

/** Zoom a scroll box (`view`) whose content box (`box`) is `zoom` times its size, keeping the centre in place. */
function zoomer({ view, box, range, value, onChange }) {
  let zoom = 1;
  const set = (next) => {
    next = Math.min(4, Math.max(1, Math.round(next * 4) / 4));
    const cx = (view.scrollLeft + view.clientWidth / 2) / Math.max(1, view.scrollWidth);
    const cy = (view.scrollTop + view.clientHeight / 2) / Math.max(1, view.scrollHeight);
    zoom = next;
    box.style.width = `${zoom * 100}%`;
    box.style.height = `${zoom * 100}%`;
    range.value = String(Math.round(zoom * 100));
    const text = `${new Intl.NumberFormat(getLocale()).format(Math.round(zoom * 100))} %`;
    value.textContent = text;
    range.setAttribute('aria-valuetext', text);
    view.classList.toggle('doc-view--zoomed', zoom > 1);
    view.scrollLeft = cx * view.scrollWidth - view.clientWidth / 2;
    view.scrollTop = cy * view.scrollHeight - view.clientHeight / 2;
    onChange?.(zoom);
  };
  range.addEventListener('input', () => set(Number(range.value) / 100));
  // Drag to pan (the arrow keys scroll the focused view natively).
  let drag = null;
  view.addEventListener('pointerdown', (e) => {
    if (zoom <= 1 || e.button !== 0) return;
    drag = { x: e.clientX, y: e.clientY, left: view.scrollLeft, top: view.scrollTop };
    view.setPointerCapture(e.pointerId);
    view.classList.add('doc-view--dragging');
  });
  view.addEventListener('pointermove', (e) => {
    if (!drag) return;
    view.scrollLeft = drag.left - (e.clientX - drag.x);
    view.scrollTop = drag.top - (e.clientY - drag.y);
  });
  const end = () => {
    drag = null;
    view.classList.remove('doc-view--dragging');
  };
  view.addEventListener('pointerup', end);
  view.addEventListener('pointercancel', end);
  return { set, get: () => zoom };
}

const docZoom = zoomer({ view: els.docView, box: els.docCanvas, range: els.zoomRange, value: els.zoomValue });
const setZoom = (z) => docZoom.set(z);
els.zoomIn.addEventListener('click', () => setZoom(docZoom.get() + 0.5));
els.zoomOut.addEventListener('click', () => setZoom(docZoom.get() - 0.5));
els.zoomFit.addEventListener('click', () => setZoom(1));
els.docView.addEventListener('keydown', (e) => {
  if (e.key === '+' || e.key === '=') setZoom(docZoom.get() + 0.5);
  else if (e.key === '-') setZoom(docZoom.get() - 0.5);
  else return;
  e.preventDefault();
});

// ---- full screen -----------------------------------------------------------------------------------------------

els.fullscreen.addEventListener('click', async () => {
  try {
    if (document.fullscreenElement) await document.exitFullscreen();
    else await els.docPanel.requestFullscreen();
  } catch (err) {
    showError(t('expert.actionFailed', { code: err.name || err.message }));
  }
});
document.addEventListener('fullscreenchange', () => {
  setPressed(els.fullscreen, document.fullscreenElement === els.docPanel);
});
if (!document.fullscreenEnabled) els.fullscreen.hidden = true;

// ---- still pictures --------------------------------------------------------------------------------------------

let stillUrl = null;
const stillZoom = zoomer({ view: els.stillView, box: els.stillBox, range: els.stillZoomRange, value: els.stillZoomValue });
els.stillZoomIn.addEventListener('click', () => stillZoom.set(stillZoom.get() + 0.5));
els.stillZoomOut.addEventListener('click', () => stillZoom.set(stillZoom.get() - 0.5));

els.stillButton.addEventListener('click', async () => {
  const width = docVideo.videoWidth;
  const height = docVideo.videoHeight;
  if (!width || !height) return;
  // The frame at its full received resolution, not at the size it is shown.
  const canvas = els.stillCanvas;
  canvas.width = width;
  canvas.height = height;
  canvas.getContext('2d').drawImage(docVideo, 0, 0, width, height);
  const taken = Date.now();
  els.stillInfo.textContent = t('expert.still.info', { width, height, time: formatTime(taken, { seconds: true }) });
  canvas.dataset.width = String(width);
  canvas.dataset.height = String(height);
  if (stillUrl) URL.revokeObjectURL(stillUrl);
  stillUrl = null;
  els.stillDownload.removeAttribute('href');
  const stamp = new Date(taken).toISOString().replace(/[:.]/g, '-').slice(0, 19);
  els.stillDownload.download = `${room?.room ?? 'vayla'}-asiakirja-${stamp}.png`;
  if (document.fullscreenElement) await document.exitFullscreen().catch(() => {});
  els.stillDialog.showModal();
  stillZoom.set(1);
  canvas.toBlob((blob) => {
    if (!blob) return;
    stillUrl = URL.createObjectURL(blob);
    els.stillDownload.href = stillUrl;
    els.stillDownload.dataset.ready = 'true';
  }, 'image/png');
});
els.stillClose.addEventListener('click', () => els.stillDialog.close());
els.stillDialog.addEventListener('close', () => {
  delete els.stillDownload.dataset.ready;
  els.stillButton.focus();
});

// ---- language and start ----------------------------------------------------------------------------------------

initI18n({ switcher: $('lang-switcher') });
onLanguageChange(() => {
  document.title = t('expert.docTitle');
  renderUser();
  if (!els.roomsView.hidden) renderRooms();
  appointments.render();
  lastStatus = '';
  render();
  docZoom.set(docZoom.get());
  stillZoom.set(stillZoom.get());
});
document.title = t('expert.docTitle');

const saved = savedLogin(SESSION_KEY);
if (saved) {
  signedIn(saved);
} else {
  showView('login');
  els.username.focus();
}
