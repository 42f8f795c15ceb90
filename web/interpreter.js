// Väylä — the interpreter's page: sign in, answer the interpreting offers (accept or decline before the
// deadline), see one's own assignments (today and later; one whose appointment was cancelled stays listed as
// cancelled, and the page says so), withdraw from one, and join the device's room when it opens. In the room the
// interpreter sees the customer's camera and the expert(s) side by side, the customer's document only when asked
// ("Show document", off by default), and themself small; mute, camera off, leave. Walk-in customers who need
// an interpreter now are listed too, for interpreters on duty (interpreter-walkin.js).
//
// The lists follow GET /api/me/interpreter-offers and GET /api/me/interpreter-assignments (docs/appointments.md,
// "Interpreters"), fetched again whenever the server says an offer or an appointment of theirs changed
// (events.js: topics `interpreter_offers` and `appointments`), and every few seconds while that push is not
// live (every 20 s as a safety net while it is). The call is call.js's, the tiles call-ui.js's. For a
// sign-language assignment the camera is captured and sent for signing (call.js `SIGN_LANGUAGE`: ≥ 25 fps,
// `maintain-framerate`), and a sign-language interpreter among the others is shown large.

import { api, apiFetch } from './api.js';
import { watch } from './events.js';
import { mountWalkin } from './interpreter-walkin.js';
import { Auth, Call, isSignLanguage, openCallSources, SIGN_LANGUAGE, stopSources } from './call.js';
import { bindSourceToggle, h, icon, isPressed, setButtonIcon, setPressed, show, syncAudio, Tiles, videoTile } from './call-ui.js';
import {
  formatClock,
  formatDate,
  formatRange,
  helsinkiParts,
  helsinkiToday,
  inLanguage,
  languageName,
  modalityName,
  showApiError,
} from './appointments-common.js';
import { formatTime, initI18n, onLanguageChange, registerStrings, roleLabel, stateLabel, t } from './i18n.js';
import { bindSignInForm, forgetLogin, savedLogin, saveLogin } from './signin.js';

registerStrings({
  fi: {
    'interp.docTitle': 'Tulkki – Väylä',
    'interp.title': 'Tulkin etäpalvelu',
    'interp.logout': 'Kirjaudu ulos',
    'interp.signedIn': '{name} (tulkki)',
    'interp.login.title': 'Kirjaudu sisään',
    'interp.login.username': 'Käyttäjätunnus',
    'interp.login.password': 'Salasana',
    'interp.login.submit': 'Kirjaudu',
    'interp.login.failed': 'Kirjautuminen ei onnistunut: tarkista käyttäjätunnus ja salasana.',
    'interp.login.error': 'Kirjautuminen ei onnistunut ({code}). Yritä hetken kuluttua uudelleen.',
    'interp.login.missing': 'Anna käyttäjätunnus ja salasana.',
    'interp.login.expired': 'Kirjautumisesi on vanhentunut. Kirjaudu uudelleen.',
    'interp.login.notInterpreter': 'Tämä sivu on tulkeille. Asiantuntijat käyttävät asiantuntijan sivua.',
    'interp.offers.title': 'Tulkkaustarjoukset',
    'interp.offers.intro': 'Vastaa tarjoukseen ennen määräaikaa. Ajat ovat Suomen aikaa.',
    'interp.offers.empty': 'Sinulle ei ole nyt avoimia tarjouksia.',
    'interp.offers.deadline': 'Vastaa viimeistään {when}',
    'interp.offers.accept': 'Ota vastaan',
    'interp.offers.decline': 'Kieltäydy',
    'interp.offers.acceptLabel': 'Ota vastaan tulkkaus {when}: {language}',
    'interp.offers.declineLabel': 'Kieltäydy tulkkauksesta {when}: {language}',
    'interp.offers.accepted': 'Otit tulkkauksen vastaan: {when}. Se on nyt omissa tulkkauksissasi.',
    'interp.offers.declined': 'Kieltäydyit tulkkauksesta {when}.',
    'interp.assign.title': 'Omat tulkkaukset',
    'interp.assign.empty': 'Sinulla ei ole tulevia tulkkauksia.',
    'interp.assign.join': 'Liity',
    'interp.assign.joinLabel': 'Liity tulkkaukseen {when}: {place}',
    'interp.assign.opensAt': 'Liittyminen avautuu {when}',
    'interp.assign.withdraw': 'Peru osallistumiseni',
    'interp.assign.withdrawLabel': 'Peru osallistumiseni tulkkaukseen {when}',
    'interp.assign.withdrawConfirm': 'Perutaanko osallistumisesi tulkkaukseen {when}? Tulkkausta tarjotaan toiselle tulkille.',
    'interp.assign.withdrawn': 'Peruit osallistumisesi tulkkaukseen {when}. Sitä tarjotaan toiselle tulkille.',
    'interp.assign.cancelled': 'Peruttu',
    'interp.assign.cancelledNote': 'Ajanvaraus on peruttu: sinun ei tarvitse osallistua.',
    'interp.assign.cancelledNow': 'Ajanvaraus on peruttu: tulkkaus {when}, {place}.',
    'interp.assign.notNeededNote': 'Tulkkausta ei enää tarvita: sinun ei tarvitse osallistua.',
    'interp.assign.notNeededNow': 'Tulkkausta ei enää tarvita: {when}, {place}.',
    'interp.assign.cancelledSome': { one: 'Yksi tulkkauksistasi on peruttu.', other: '{n} tulkkaustasi on peruttu.' },
    'interp.fact.place': 'Paikka',
    'interp.fact.service': 'Palvelu',
    'interp.fact.language': 'Kieli',
    'interp.fact.modality': 'Tapa',
    'interp.fact.notes': 'Lisätiedot',
    'interp.when': '{date} klo {time}',
    'interp.today': 'tänään',
    'interp.updated': 'Päivitetty klo {time}. Luettelot päivittyvät automaattisesti.',
    'interp.showDocument': 'Näytä asiakirja',
    'interp.leave': 'Poistu huoneesta',
    'interp.back': 'Takaisin tulkkauksiin',
    'interp.customer': 'Asiakas',
    'interp.customerLabel': 'Asiakkaan kamera, {room}',
    'interp.otherLabel': '{name}: kamerakuva',
    'interp.docCaption': 'Asiakkaan asiakirja',
    'interp.docLabel': 'Asiakkaan dokumenttikamera, {room}',
    'interp.docNone': 'Asiakkaan dokumenttikamera ei ole käytössä.',
    'interp.self': 'Sinä',
    'interp.selfLabel': 'Oma kamerakuvasi',
    'interp.status.connecting': 'Yhdistetään huoneeseen…',
    'interp.status.gathering': 'Odotetaan osallistujia: {missing}.',
    'interp.status.gatheringAll': 'Kaikki odotetut osallistujat ovat paikalla.',
    'interp.status.locked': 'Kaikki ovat paikalla ja huone on lukittu.',
    'interp.status.unlocked': 'Huone on avattu uudelle osallistujalle.',
    'interp.status.reconnecting': 'Yhteys katkesi. Yhdistetään uudelleen…',
    'interp.status.ended': 'Istunto on päättynyt.',
    'interp.status.left': 'Poistuit huoneesta. Paikkasi säilyy, kunnes istunto päättyy.',
    'interp.status.no_session': 'Huoneessa ei ole avointa istuntoa.',
    'interp.status.room_locked': 'Huone on lukittu, eikä sinulla ole siinä paikkaa.',
    'interp.status.forbidden': 'Sinulla ei ole oikeutta liittyä tähän huoneeseen.',
    'interp.status.not_booked': 'Sinua ei ole varattu tähän istuntoon.',
    'interp.status.session_open': 'Huoneessa on vielä toinen istunto. Yritä hetken kuluttua uudelleen.',
    'interp.status.too_early': 'Ajanvaraus alkaa klo {start}. Huoneeseen voi liittyä klo {opens} alkaen.',
    'interp.status.auth': 'Kirjautumisesi on vanhentunut. Kirjaudu uudelleen.',
    'interp.status.other': 'Yhteys päättyi ({reason}).',
    'appt.err.offer_closed': 'Tarjous ei ole enää avoinna: joku muu ehti ottaa sen, tai määräaika meni umpeen.',
    'appt.err.interpreter_busy': 'Sinulla on jo tulkkaus samaan aikaan. Tarjous siirtyi seuraavalle tulkille.',
    'appt.err.not_assigned': 'Et ole enää tämän tulkkauksen tulkki.',
    'appt.err.unknown_interpreter_request': 'Tulkkauspyyntöä ei löytynyt.',
  },
  sv: {
    'interp.docTitle': 'Tolk – Väylä',
    'interp.title': 'Tolkens distansservice',
    'interp.logout': 'Logga ut',
    'interp.signedIn': '{name} (tolk)',
    'interp.login.title': 'Logga in',
    'interp.login.username': 'Användarnamn',
    'interp.login.password': 'Lösenord',
    'interp.login.submit': 'Logga in',
    'interp.login.failed': 'Inloggningen misslyckades: kontrollera användarnamn och lösenord.',
    'interp.login.error': 'Inloggningen misslyckades ({code}). Försök igen om en stund.',
    'interp.login.missing': 'Ange användarnamn och lösenord.',
    'interp.login.expired': 'Din inloggning har gått ut. Logga in igen.',
    'interp.login.notInterpreter': 'Den här sidan är för tolkar. Experter använder expertsidan.',
    'interp.offers.title': 'Tolkningserbjudanden',
    'interp.offers.intro': 'Svara på erbjudandet före tidsfristen. Tiderna i finsk tid.',
    'interp.offers.empty': 'Du har inga öppna erbjudanden just nu.',
    'interp.offers.deadline': 'Svara senast {when}',
    'interp.offers.accept': 'Ta emot',
    'interp.offers.decline': 'Tacka nej',
    'interp.offers.acceptLabel': 'Ta emot tolkningen {when}: {language}',
    'interp.offers.declineLabel': 'Tacka nej till tolkningen {when}: {language}',
    'interp.offers.accepted': 'Du tog emot tolkningen {when}. Den finns nu bland dina tolkningar.',
    'interp.offers.declined': 'Du tackade nej till tolkningen {when}.',
    'interp.assign.title': 'Mina tolkningar',
    'interp.assign.empty': 'Du har inga kommande tolkningar.',
    'interp.assign.join': 'Gå in',
    'interp.assign.joinLabel': 'Gå in i tolkningen {when}: {place}',
    'interp.assign.opensAt': 'Du kan gå in {when}',
    'interp.assign.withdraw': 'Avboka mitt deltagande',
    'interp.assign.withdrawLabel': 'Avboka mitt deltagande i tolkningen {when}',
    'interp.assign.withdrawConfirm': 'Avboka ditt deltagande i tolkningen {when}? Tolkningen erbjuds en annan tolk.',
    'interp.assign.withdrawn': 'Du avbokade ditt deltagande i tolkningen {when}. Den erbjuds en annan tolk.',
    'interp.assign.cancelled': 'Avbokad',
    'interp.assign.cancelledNote': 'Bokningen är avbokad: du behöver inte delta.',
    'interp.assign.cancelledNow': 'Bokningen är avbokad: tolkningen {when}, {place}.',
    'interp.assign.notNeededNote': 'Tolkningen behövs inte längre: du behöver inte delta.',
    'interp.assign.notNeededNow': 'Tolkningen behövs inte längre: {when}, {place}.',
    'interp.assign.cancelledSome': { one: 'En av dina tolkningar är avbokad.', other: '{n} av dina tolkningar är avbokade.' },
    'interp.fact.place': 'Plats',
    'interp.fact.service': 'Tjänst',
    'interp.fact.language': 'Språk',
    'interp.fact.modality': 'Sätt',
    'interp.fact.notes': 'Tilläggsuppgifter',
    'interp.when': '{date} kl. {time}',
    'interp.today': 'i dag',
    'interp.updated': 'Uppdaterad kl. {time}. Listorna uppdateras automatiskt.',
    'interp.showDocument': 'Visa dokumentet',
    'interp.leave': 'Lämna rummet',
    'interp.back': 'Tillbaka till tolkningarna',
    'interp.customer': 'Kund',
    'interp.customerLabel': 'Kundens kamera, {room}',
    'interp.otherLabel': '{name}: kamerabild',
    'interp.docCaption': 'Kundens dokument',
    'interp.docLabel': 'Kundens dokumentkamera, {room}',
    'interp.docNone': 'Kundens dokumentkamera används inte.',
    'interp.self': 'Du',
    'interp.selfLabel': 'Din egen kamerabild',
    'interp.status.connecting': 'Ansluter till rummet…',
    'interp.status.gathering': 'Väntar på deltagare: {missing}.',
    'interp.status.gatheringAll': 'Alla väntade deltagare är på plats.',
    'interp.status.locked': 'Alla är på plats och rummet är låst.',
    'interp.status.unlocked': 'Rummet är öppnat för en ny deltagare.',
    'interp.status.reconnecting': 'Förbindelsen bröts. Ansluter igen…',
    'interp.status.ended': 'Sessionen är slut.',
    'interp.status.left': 'Du lämnade rummet. Din plats finns kvar tills sessionen tar slut.',
    'interp.status.no_session': 'Rummet har ingen öppen session.',
    'interp.status.room_locked': 'Rummet är låst och du har ingen plats i det.',
    'interp.status.forbidden': 'Du har inte rätt att gå in i det här rummet.',
    'interp.status.not_booked': 'Du är inte bokad till den här sessionen.',
    'interp.status.session_open': 'Rummet har fortfarande en annan session. Försök igen om en stund.',
    'interp.status.too_early': 'Bokningen börjar kl. {start}. Du kan gå in i rummet från kl. {opens}.',
    'interp.status.auth': 'Din inloggning har gått ut. Logga in igen.',
    'interp.status.other': 'Förbindelsen avslutades ({reason}).',
    'appt.err.offer_closed': 'Erbjudandet är inte längre öppet: någon annan hann ta det, eller tidsfristen gick ut.',
    'appt.err.interpreter_busy': 'Du har redan en tolkning vid samma tid. Erbjudandet gick vidare till nästa tolk.',
    'appt.err.not_assigned': 'Du är inte längre tolk för den här tolkningen.',
    'appt.err.unknown_interpreter_request': 'Tolkningsbegäran hittades inte.',
  },
  en: {
    'interp.docTitle': 'Interpreter – Väylä',
    'interp.title': 'Interpreter remote service',
    'interp.logout': 'Sign out',
    'interp.signedIn': '{name} (interpreter)',
    'interp.login.title': 'Sign in',
    'interp.login.username': 'User name',
    'interp.login.password': 'Password',
    'interp.login.submit': 'Sign in',
    'interp.login.failed': 'Sign-in failed: check your user name and password.',
    'interp.login.error': 'Sign-in failed ({code}). Please try again in a moment.',
    'interp.login.missing': 'Enter your user name and password.',
    'interp.login.expired': 'Your sign-in has expired. Please sign in again.',
    'interp.login.notInterpreter': 'This page is for interpreters. Experts use the expert page.',
    'interp.offers.title': 'Interpreting offers',
    'interp.offers.intro': 'Answer an offer before its deadline. Times are in Finnish time.',
    'interp.offers.empty': 'You have no open offers right now.',
    'interp.offers.deadline': 'Answer by {when}',
    'interp.offers.accept': 'Accept',
    'interp.offers.decline': 'Decline',
    'interp.offers.acceptLabel': 'Accept the interpreting {when}: {language}',
    'interp.offers.declineLabel': 'Decline the interpreting {when}: {language}',
    'interp.offers.accepted': 'You accepted the interpreting {when}. It is now among your assignments.',
    'interp.offers.declined': 'You declined the interpreting {when}.',
    'interp.assign.title': 'My assignments',
    'interp.assign.empty': 'You have no upcoming assignments.',
    'interp.assign.join': 'Join',
    'interp.assign.joinLabel': 'Join the interpreting {when}: {place}',
    'interp.assign.opensAt': 'You can join {when}',
    'interp.assign.withdraw': 'Withdraw',
    'interp.assign.withdrawLabel': 'Withdraw from the interpreting {when}',
    'interp.assign.withdrawConfirm': 'Withdraw from the interpreting {when}? It will be offered to another interpreter.',
    'interp.assign.withdrawn': 'You withdrew from the interpreting {when}. It is offered to another interpreter.',
    'interp.assign.cancelled': 'Cancelled',
    'interp.assign.cancelledNote': 'The appointment was cancelled: you need not attend.',
    'interp.assign.cancelledNow': 'An appointment was cancelled: the interpreting {when}, {place}.',
    'interp.assign.notNeededNote': 'The interpreting is no longer needed: you need not attend.',
    'interp.assign.notNeededNow': 'The interpreting is no longer needed: {when}, {place}.',
    'interp.assign.cancelledSome': { one: 'One of your assignments was cancelled.', other: '{n} of your assignments were cancelled.' },
    'interp.fact.place': 'Place',
    'interp.fact.service': 'Service',
    'interp.fact.language': 'Language',
    'interp.fact.modality': 'Mode',
    'interp.fact.notes': 'Notes',
    'interp.when': '{date} at {time}',
    'interp.today': 'today',
    'interp.updated': 'Updated at {time}. The lists refresh automatically.',
    'interp.showDocument': 'Show document',
    'interp.leave': 'Leave room',
    'interp.back': 'Back to assignments',
    'interp.customer': 'Customer',
    'interp.customerLabel': "Customer's camera, {room}",
    'interp.otherLabel': '{name}: camera',
    'interp.docCaption': "Customer's document",
    'interp.docLabel': "Customer's document camera, {room}",
    'interp.docNone': "The customer's document camera is not in use.",
    'interp.self': 'You',
    'interp.selfLabel': 'Your own camera picture',
    'interp.status.connecting': 'Connecting to the room…',
    'interp.status.gathering': 'Waiting for participants: {missing}.',
    'interp.status.gatheringAll': 'Every expected participant is here.',
    'interp.status.locked': 'Everyone is here and the room is locked.',
    'interp.status.unlocked': 'The room is open for another participant.',
    'interp.status.reconnecting': 'The connection was lost. Reconnecting…',
    'interp.status.ended': 'The session has ended.',
    'interp.status.left': 'You left the room. Your seat is kept until the session ends.',
    'interp.status.no_session': 'The room has no open session.',
    'interp.status.room_locked': 'The room is locked and you have no seat in it.',
    'interp.status.forbidden': 'You may not join this room.',
    'interp.status.not_booked': 'You are not booked for this session.',
    'interp.status.session_open': 'Another session is still open in the room. Try again in a moment.',
    'interp.status.too_early': 'The appointment starts at {start}. You can join the room from {opens}.',
    'interp.status.auth': 'Your sign-in has expired. Please sign in again.',
    'interp.status.other': 'The connection ended ({reason}).',
    'appt.err.offer_closed': 'The offer is no longer open: someone else took it, or its deadline passed.',
    'appt.err.interpreter_busy': 'You already have an assignment at that time. The offer moved on to the next interpreter.',
    'appt.err.not_assigned': 'You are no longer the interpreter of this assignment.',
    'appt.err.unknown_interpreter_request': 'The interpreting request was not found.',
  },
});

const SESSION_KEY = 'vayla.interpreter.login';
/** Without pushed changes the lists are fetched this often (offers have deadlines of minutes when the appointment
 * is near); with them, this seldom, as a safety net. */
const POLL_MS = 5000;
const POLL_LIVE_MS = 20_000;
/** Pushed changes that tell the page to fetch its lists again. */
const TOPICS = ['interpreter_offers', 'appointments', 'walkin_queue'];
/** The Join buttons follow the clock. */
const REDRAW_MS = 15_000;
/** How long before the start the room lets the booked interpreter in (the server's default early-join window). */
const EARLY_JOIN_MS = 10 * 60_000;

const $ = (id) => document.getElementById(id);
const els = {
  error: $('error'),
  notice: $('notice'),
  userLine: $('user-line'),
  userName: $('user-name'),
  logout: $('logout-button'),
  loginView: $('login-view'),
  loginForm: $('login-form'),
  username: $('username'),
  password: $('password'),
  listsView: $('lists-view'),
  offersList: $('offers-list'),
  offersEmpty: $('offers-empty'),
  offersError: $('offers-error'),
  assignmentsList: $('assignments-list'),
  assignmentsEmpty: $('assignments-empty'),
  assignmentsError: $('assignments-error'),
  updated: $('lists-updated'),
  callView: $('call-view'),
  callTitle: $('call-title'),
  status: $('call-status'),
  statusIcon: $('call-status-icon'),
  statusText: $('call-status-text'),
  statusBadge: $('call-status-badge'),
  endedPanel: $('ended-panel'),
  back: $('back-button'),
  mute: $('mute-button'),
  camera: $('camera-button'),
  documentButton: $('document-button'),
  leave: $('leave-button'),
  remoteTiles: $('remote-tiles'),
  docSlot: $('doc-slot'),
  selfSlot: $('self-slot'),
  audio: $('remote-audio'),
};

let auth = null;
let me = null; // the login reply
let offers = null;
let assignments = null;
let rooms = new Map(); // device id → room (name, service point name)
let services = new Map(); // service id → name
let updatedAt = null;
let pollTimer = null;
let redrawTimer = null;
let watcher = null; // events.js: pushed changes while the lists are shown
let loading = null; // the load in flight; a change pushed meanwhile loads once more after it
let again = false;
/** The assignments' states as last seen, to tell the interpreter when one is cancelled. */
let seenStates = null;

let call = null;
let current = null; // the assignment whose room we are in
let callState = { state: 'connecting' };
let participants = [];
let seats = [];
let remoteTracks = [];
let showDocument = false;
const local = { microphone: null, camera: null };

function showError(text) {
  els.error.textContent = text ?? '';
  show(els.error, Boolean(text));
}

/** Say something in the polite live region (cleared first so that the same words are announced again). */
function announce(text) {
  els.notice.textContent = '';
  if (text) setTimeout(() => (els.notice.textContent = text), 50);
}

function showView(name) {
  show(els.loginView, name === 'login');
  show(els.listsView, name === 'lists');
  show(els.callView, name === 'call');
  show(els.userLine, name !== 'login');
  document.body.dataset.view = name;
}

function focusHeading(el) {
  el.setAttribute('tabindex', '-1');
  el.focus();
}

// ---- sign in ---------------------------------------------------------------------------------------------------

function signedIn(reply) {
  me = reply;
  auth?.stop();
  auth = new Auth(reply);
  auth.addEventListener('refreshed', (e) => saveLogin(SESSION_KEY, { ...e.detail }));
  auth.addEventListener('expired', () => signOut(t('interp.login.expired')));
  saveLogin(SESSION_KEY, reply);
  renderUser();
  showLists();
}

function renderUser() {
  if (me) els.userName.textContent = t('interp.signedIn', { name: me.display_name });
}

function signOut(message) {
  stopCall();
  stopPolling();
  auth?.stop();
  auth = null;
  me = null;
  offers = assignments = seenStates = null;
  forgetLogin(SESSION_KEY);
  showView('login');
  showError(message ?? '');
  announce('');
  els.username.focus();
}

bindSignInForm({
  form: els.loginForm,
  username: els.username,
  password: els.password,
  button: $('login-button'),
  showError,
  strings: 'interp.login',
  refuse: (reply) => (reply.role === 'interpreter' ? null : t('interp.login.notInterpreter')),
  onSignedIn: signedIn,
});

els.logout.addEventListener('click', () => signOut());

// ---- the lists -------------------------------------------------------------------------------------------------

function showLists() {
  showView('lists');
  render();
  focusHeading($('offers-title'));
  startPolling();
}

function startPolling() {
  stopPolling();
  refresh();
  pollEvery(POLL_MS);
  redrawTimer = setInterval(render, REDRAW_MS);
  watcher = watch(auth, TOPICS, () => refresh(), {
    client: 'vayla-interpreter-web/1',
    onState: (state) => pollEvery(state === 'live' ? POLL_LIVE_MS : POLL_MS),
  });
}

function pollEvery(ms) {
  clearInterval(pollTimer);
  pollTimer = setInterval(refresh, ms);
}

function stopPolling() {
  clearInterval(pollTimer);
  clearInterval(redrawTimer);
  watcher?.stop();
  watcher = null;
}

/**
 * Load the lists, one load at a time; a change told meanwhile loads them once more afterwards. Resolves when
 * the lists reflect everything done before the call.
 */
function refresh() {
  if (loading) {
    again = true;
    // The load running now may have read too early: wait for the one after it.
    return loading.then(() => loading ?? undefined);
  }
  loading = load().finally(() => {
    loading = null;
    if (again) {
      again = false;
      refresh();
    }
  });
  return loading;
}

async function load() {
  if (!auth) return;
  const walkinLoaded = walkin.load();
  let token;
  try {
    token = await auth.token();
  } catch {
    return; // the expired event signs out
  }
  const [o, a, r, g] = await Promise.allSettled([
    apiFetch('/api/me/interpreter-offers', { token }),
    apiFetch('/api/me/interpreter-assignments', { token }),
    api.rooms(token),
    services.size ? Promise.resolve(null) : apiFetch('/api/calendar/agencies', { token }),
  ]);
  if (!auth) return;
  if (r.status === 'fulfilled') rooms = new Map(r.value.map((x) => [x.room, x]));
  if (g.status === 'fulfilled' && g.value) {
    services = new Map(g.value.flatMap((x) => (x.services ?? []).map((s) => [s.id, s.name])));
  }
  showApiError(els.offersError, o.status === 'rejected' ? o.reason : null);
  showApiError(els.assignmentsError, a.status === 'rejected' ? a.reason : null);
  if (o.status === 'fulfilled') offers = o.value;
  if (a.status === 'fulfilled') {
    tellCancellations(a.value);
    assignments = a.value;
  }
  if (o.status === 'fulfilled' || a.status === 'fulfilled') updatedAt = Date.now();
  await walkinLoaded;
  render();
}

/** The interpreter must hear of a cancelled appointment: at the first load (how many), then each as it happens. */
function tellCancellations(list) {
  const states = new Map(list.map((x) => [x.request, x.state]));
  if (seenStates === null) {
    const n = list.filter((x) => x.state === 'cancelled').length;
    if (n) announce(t('interp.assign.cancelledSome', { n }));
  } else {
    const fresh = list.filter((x) => x.state === 'cancelled' && seenStates.get(x.request) === 'assigned');
    if (fresh.length) {
      announce(fresh.map((x) => t(notNeeded(x) ? 'interp.assign.notNeededNow' : 'interp.assign.cancelledNow', { when: when(x.start), place: placeText(x) })).join(' '));
    }
  }
  seenStates = states;
}

/** Cancelled because the scheduler withdrew the interpreter request (the appointment itself still holds). */
const notNeeded = (x) => x.cancel_reason === 'no_longer_needed';

/** "ti 15.12.2026 klo 10.00", or "tänään klo 10.00". */
function when(instant) {
  const date = helsinkiParts(instant).date;
  return t('interp.when', { date: date === helsinkiToday() ? t('interp.today') : formatDate(date), time: formatClock(instant) });
}

function dateAndRange(x) {
  const date = helsinkiParts(x.start).date;
  return `${formatDate(date)} ${formatRange(x.start, x.end)}`;
}

function placeText(x) {
  const room = x.device ? rooms.get(x.device) : [...rooms.values()].find((r) => r.service_point === x.service_point);
  if (x.device && room) return `${room.service_point_name}, ${room.name}`;
  return room?.service_point_name ?? x.service_point;
}

function fact(label, value) {
  return h('div', {}, h('dt', {}, `${label}:`), h('dd', {}, value));
}

function facts(x) {
  const service = services.get(x.service) ?? x.service;
  return h(
    'dl',
    { class: 'my-appt__facts' },
    fact(t('interp.fact.language'), languageName(x.language)),
    fact(t('interp.fact.modality'), modalityName(x.modality)),
    fact(t('interp.fact.place'), inLanguage(placeText(x))),
    fact(t('interp.fact.service'), inLanguage(service)),
    x.notes ? fact(t('interp.fact.notes'), x.notes) : null,
  );
}

function offerItem(o) {
  const whenText = when(o.start);
  const language = languageName(o.language);
  return h(
    'li',
    { class: 'my-appt interp-offer', 'data-offer': o.request },
    h(
      'div',
      { class: 'my-appt__main' },
      h('p', {}, h('span', { class: 'my-appt__time' }, dateAndRange(o))),
      facts(o),
      h('p', { class: 'interp-deadline' }, t('interp.offers.deadline', { when: when(o.deadline) })),
    ),
    h(
      'div',
      { class: 'my-appt__action interp-actions' },
      h(
        'button',
        {
          type: 'button',
          class: 'button button--primary',
          'data-accept': o.request,
          'aria-label': t('interp.offers.acceptLabel', { when: whenText, language }),
        },
        t('interp.offers.accept'),
      ),
      h(
        'button',
        {
          type: 'button',
          class: 'button',
          'data-decline': o.request,
          'aria-label': t('interp.offers.declineLabel', { when: whenText, language }),
        },
        t('interp.offers.decline'),
      ),
    ),
  );
}

function assignmentItem(a, now) {
  const start = Date.parse(a.start);
  const end = Date.parse(a.end);
  const opens = start - EARLY_JOIN_MS;
  const cancelled = a.state === 'cancelled';
  const live = !cancelled && a.appointment_status === 'booked';
  const open = live && now >= opens && now < end;
  const whenText = when(a.start);
  const actions = [];
  if (cancelled) {
    actions.push(h('span', { class: 'badge badge--unlocked' }, icon('info'), t('interp.assign.cancelled')));
  } else if (open) {
    actions.push(
      h(
        'button',
        {
          type: 'button',
          class: 'button button--primary',
          'data-join': a.request,
          'aria-label': t('interp.assign.joinLabel', { when: whenText, place: placeText(a) }),
        },
        t('interp.assign.join'),
      ),
    );
  } else if (live && now < opens) {
    actions.push(h('span', { class: 'muted' }, t('interp.assign.opensAt', { when: when(opens) })));
  }
  if (live && now < end) {
    actions.push(
      h(
        'button',
        {
          type: 'button',
          class: 'button',
          'data-withdraw': a.request,
          'aria-label': t('interp.assign.withdrawLabel', { when: whenText }),
        },
        t('interp.assign.withdraw'),
      ),
    );
  }
  return h(
    'li',
    {
      class: `my-appt interp-assignment${open ? ' my-appt--now' : ''}${cancelled ? ' interp-assignment--cancelled' : ''}`,
      'data-assignment': a.request,
      'data-appointment': a.appointment,
      'data-state': a.state,
    },
    h(
      'div',
      { class: 'my-appt__main' },
      h('p', {}, h('span', { class: 'my-appt__time' }, dateAndRange(a))),
      facts(a),
      cancelled
        ? h('p', { class: 'interp-cancelled' }, t(notNeeded(a) ? 'interp.assign.notNeededNote' : 'interp.assign.cancelledNote'))
        : null,
    ),
    h('div', { class: 'my-appt__action interp-actions' }, ...actions),
  );
}

function render() {
  if (els.listsView.hidden) return;
  // Keep the focus on the same control across redraws.
  const focused = document.activeElement;
  const key = focused && ['accept', 'decline', 'join', 'withdraw'].find((k) => focused.dataset?.[k]);
  const focusSelector = key ? `[data-${key}="${CSS.escape(focused.dataset[key])}"]` : null;
  const now = Date.now();
  if (offers) {
    els.offersList.replaceChildren(...offers.map(offerItem));
    show(els.offersEmpty, offers.length === 0);
  }
  if (assignments) {
    els.assignmentsList.replaceChildren(...assignments.map((a) => assignmentItem(a, now)));
    show(els.assignmentsEmpty, assignments.length === 0);
  }
  walkin.render();
  els.updated.textContent = updatedAt ? t('interp.updated', { time: formatTime(updatedAt, { seconds: true }) }) : '';
  if (focusSelector) document.querySelector(focusSelector)?.focus();
}

async function answerOffer(request, what) {
  const offer = offers?.find((o) => o.request === request);
  const whenText = offer ? when(offer.start) : '';
  for (const b of els.offersList.querySelectorAll(`[data-offer="${CSS.escape(request)}"] button`)) b.disabled = true;
  try {
    await apiFetch(`/api/interpreter-offers/${encodeURIComponent(request)}/${what}`, {
      method: 'POST',
      token: await auth.token(),
    });
    showApiError(els.offersError, null);
    announce(t(what === 'accept' ? 'interp.offers.accepted' : 'interp.offers.declined', { when: whenText }));
  } catch (err) {
    showApiError(els.offersError, err);
  }
  await refresh();
  if (what === 'accept') {
    const row = els.assignmentsList.querySelector(`[data-assignment="${CSS.escape(request)}"]`);
    (row?.querySelector('button') ?? $('assignments-title')).focus();
  } else {
    (els.offersList.querySelector('button') ?? $('offers-title')).focus();
  }
}

async function withdraw(request) {
  const a = assignments?.find((x) => x.request === request);
  const whenText = a ? when(a.start) : '';
  if (!window.confirm(t('interp.assign.withdrawConfirm', { when: whenText }))) return;
  try {
    await apiFetch(`/api/interpreter-requests/${encodeURIComponent(request)}/withdraw`, {
      method: 'POST',
      token: await auth.token(),
    });
    showApiError(els.assignmentsError, null);
    seenStates?.delete(request);
    announce(t('interp.assign.withdrawn', { when: whenText }));
  } catch (err) {
    showApiError(els.assignmentsError, err);
  }
  await refresh();
  focusHeading($('assignments-title'));
}

els.listsView.addEventListener('click', (e) => {
  const button = e.target.closest('button');
  if (!button) return;
  if (button.dataset.accept) answerOffer(button.dataset.accept, 'accept');
  else if (button.dataset.decline) answerOffer(button.dataset.decline, 'decline');
  else if (button.dataset.withdraw) withdraw(button.dataset.withdraw);
  else if (button.dataset.join) {
    const a = assignments?.find((x) => x.request === button.dataset.join);
    if (a) joinRoom(a);
  }
});

/** Walk-in requests: their Join opens the device's room through the same call flow as an assignment. */
const walkin = mountWalkin({
  token: () => auth.token(),
  rooms: () => rooms,
  onJoin: (a) => joinRoom(a),
  announce,
});

// ---- the call --------------------------------------------------------------------------------------------------

const selfTile = videoTile({ label: t('interp.selfLabel'), caption: t('interp.self'), className: 'tile--self', mirror: true });
els.selfSlot.append(selfTile.figure);
const docTile = videoTile({ label: '', caption: t('interp.docCaption'), className: 'tile--document' });
docTile.video.id = 'document-video';
docTile.figure.dataset.source = 'document';
els.docSlot.append(docTile.figure);
const people = new Tiles(els.remoteTiles, () => videoTile({ label: '', caption: '', className: 'tile--remote' }));

async function joinRoom(a) {
  stopPolling();
  showError('');
  announce('');
  current = a;
  const room = rooms.get(a.device);
  els.callTitle.textContent = room ? `${room.service_point_name}, ${room.name}` : a.device;
  showView('call');
  show(els.endedPanel, false);
  els.leave.disabled = false;
  callState = { state: 'connecting' };
  participants = [];
  seats = room?.seats ?? [];
  remoteTracks = [];
  render();
  renderCall();
  focusHeading(els.callTitle);

  // Signing needs the frame rate: the camera is captured and sent for it.
  const sign = a.sign_language === true;
  stopSources(local, ['camera']);
  await openCallSources(local, {
    camera: sign ? SIGN_LANGUAGE.capture : undefined,
    failed: (err) => showError(t('call.noMedia', { reason: err.name || err.message })),
  });
  if (local.microphone) local.microphone.enabled = !isPressed(els.mute);
  if (local.camera) local.camera.enabled = !isPressed(els.camera);
  selfTile.setTrack(local.camera);
  selfTile.setOff(!local.camera || !local.camera.enabled);
  if (current !== a) return; // left meanwhile

  call = new Call({
    room: a.device,
    auth,
    tracks: { ...local },
    client: 'vayla-interpreter-web/1',
    sending: sign ? { camera: SIGN_LANGUAGE.sending } : {},
  });
  call.addEventListener('state', (e) => {
    callState = e.detail;
    if (e.detail.state === 'ended') {
      show(els.endedPanel, true);
      els.leave.disabled = true;
      if (e.detail.reason === 'auth') signOut(t('interp.login.expired'));
    }
    renderCall();
  });
  call.addEventListener('participants', (e) => {
    participants = e.detail.participants;
    seats = e.detail.seats;
    renderCall();
  });
  call.addEventListener('tracks', (e) => {
    remoteTracks = e.detail.tracks;
    syncAudio(els.audio, remoteTracks);
    renderCall();
  });
  call.addEventListener('error', (e) => {
    if (!e.detail.fatal) showError(t('interp.status.other', { reason: e.detail.code }));
  });
  call.start();
}

function stopCall() {
  call?.leave();
  call = null;
  current = null;
  docTile.setTrack(null);
  people.sync([]);
  syncAudio(els.audio, []);
  stopSources(local, ['microphone', 'camera']);
  selfTile.setTrack(null);
}

function backToLists() {
  stopCall();
  showLists();
}

els.back.addEventListener('click', backToLists);
els.leave.addEventListener('click', async () => {
  await call?.leave();
  backToLists();
});

bindSourceToggle(els.mute, { on: 'micOff', off: 'mic' }, () => local.microphone);
bindSourceToggle(els.camera, { on: 'cameraOff', off: 'camera' }, () => local.camera, (off, track) => selfTile.setOff(off || !track));
setPressed(els.documentButton, false, { on: 'document', off: 'documentOff' });
els.documentButton.addEventListener('click', () => {
  showDocument = !showDocument;
  setPressed(els.documentButton, showDocument, { on: 'document', off: 'documentOff' });
  renderCall();
});
setButtonIcon(els.leave, 'leave');

function personName(p) {
  if (!p) return '';
  return p.display_name && p.display_name !== p.role ? `${roleLabel(p.role)} ${p.display_name}` : roleLabel(p.role);
}

function statusFor({ state, reason, startsAt, opensAt }) {
  switch (state) {
    case 'gathering': {
      const missing = seats.filter((s) => !s.taken).map((s) => (s.role === 'device' ? s.display_name : personName(s)));
      return missing.length
        ? { text: t('interp.status.gathering', { missing: missing.join(', ') }), icon: 'waiting', tone: 'waiting' }
        : { text: t('interp.status.gatheringAll'), icon: 'connected', tone: 'ok' };
    }
    case 'locked':
      return { text: t('interp.status.locked'), icon: 'locked', tone: 'ok' };
    case 'unlocked':
      return { text: t('interp.status.unlocked'), icon: 'unlocked', tone: 'warning' };
    case 'reconnecting':
      return { text: t('interp.status.reconnecting'), icon: 'reconnecting', tone: 'warning' };
    case 'ended': {
      if (reason === 'replaced') return { text: t('call.replaced'), icon: 'info', tone: 'warning' };
      if (reason === 'too_early' && startsAt && opensAt) {
        const [start, opens] = [startsAt, opensAt].map((iso) => formatClock(iso));
        return { text: t('interp.status.too_early', { start, opens }), icon: 'waiting', tone: 'waiting' };
      }
      const known = ['session_ended', 'left', 'no_session', 'room_locked', 'forbidden', 'not_booked', 'session_open', 'auth'];
      const key = reason === 'session_ended' ? 'interp.status.ended' : `interp.status.${reason}`;
      return {
        text: known.includes(reason) ? t(key) : t('interp.status.other', { reason }),
        icon: 'info',
        tone: 'ended',
      };
    }
    default:
      return { text: t('interp.status.connecting'), icon: 'waiting', tone: 'waiting' };
  }
}

/** A sign-language interpreter's camera (another interpreter in the room): shown first, and large. */
const signCamera = (x) => x.source === 'camera' && isSignLanguage(x.participant);
const rank = (x) => (signCamera(x) ? 0 : x.participant?.role === 'device' ? 1 : x.participant?.role === 'expert' ? 2 : 3);

let lastStatus = '';
function renderCall() {
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

  const room = rooms.get(current?.device);
  const roomName = room?.name ?? current?.device ?? '';
  const videos = inRoom ? remoteTracks.filter((x) => x.kind === 'video') : [];
  // The document only when asked: a detached track is neither shown nor decoded into the page.
  const doc = videos.find((x) => x.source === 'document' && x.participant?.role === 'device') ??
    videos.find((x) => x.source === 'document');
  docTile.setTrack(showDocument ? (doc?.track ?? null) : null);
  docTile.setLabel(t('interp.docLabel', { room: roomName }));
  docTile.setCaption(t('interp.docCaption'));
  docTile.update();
  if (showDocument && !doc) docTile.overlay.querySelector('.tile__overlay-text').textContent = t('interp.docNone');
  show(els.docSlot, showDocument);
  els.documentButton.disabled = !inRoom;

  // The customer and the expert(s) side by side, equally large.
  const others = videos
    .filter((x) => x.source !== 'document')
    .map((x) => ({ ...x, key: `${x.participantId}/${x.mid}` }))
    .sort((a, b) => rank(a) - rank(b));
  const tiles = people.sync(others);
  for (const tile of tiles) {
    const { participant, source } = tile.item;
    const isDevice = participant?.role === 'device';
    const sign = signCamera(tile.item);
    tile.setLabel(isDevice ? t('interp.customerLabel', { room: roomName }) : t('interp.otherLabel', { name: personName(participant) }));
    tile.setCaption(isDevice ? t('interp.customer') : personName(participant), sign ? t('call.signLanguage') : '');
    tile.figure.dataset.role = participant?.role ?? '';
    tile.figure.dataset.source = source;
    tile.figure.classList.toggle('tile--customer', isDevice);
    tile.figure.classList.toggle('tile--sign', sign);
    tile.update();
  }
  els.remoteTiles.dataset.count = String(tiles.length);
  els.remoteTiles.dataset.sign = String(tiles.some((tile) => signCamera(tile.item)));
  selfTile.setLabel(t('interp.selfLabel'));
  selfTile.setCaption(t('interp.self'), isSignLanguage(call?.you) ? t('call.signLanguage') : '');
  selfTile.update();
}

/** For diagnostics in the browser console (and the e2e tests' statistics): the current call. */
window.vaylaDebug = { get call() { return call; } };

// ---- language and start ----------------------------------------------------------------------------------------

initI18n({ switcher: $('lang-switcher') });
onLanguageChange(() => {
  document.title = t('interp.docTitle');
  renderUser();
  render();
  lastStatus = '';
  renderCall();
  setPressed(els.documentButton, showDocument, { on: 'document', off: 'documentOff' });
});
document.title = t('interp.docTitle');

const saved = savedLogin(SESSION_KEY);
if (saved) {
  signedIn(saved);
} else {
  showView('login');
  els.username.focus();
}
