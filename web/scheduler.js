// Väylä — the scheduler's page: search free slots for a service (at a service point or on one device, with any
// or a named expert, in the customer's language, with an interpreter when needed), book one, and see a device's
// or an expert's day and week; select an appointment to reschedule it, cancel it with a reason or mark a no-show.
//
// REST API: GET /api/calendar/agencies, GET /api/calendar/experts, GET /api/rooms, POST /api/slots/search,
// POST /api/appointments, GET /api/appointments, GET /api/appointments/{id}, POST …/reschedule, …/cancel,
// …/no-show (docs/appointments.md). Schedulers and admins book anywhere; advisors at their own service point.
// The selected appointment's interpreter request is shown live (scheduler-interpreting.js): the page watches
// `interpreter_requests` and `appointments` over the events WebSocket (events.js) and reads them again on change.

import { apiFetch, api } from './api.js';
import {
  addDays,
  formatClock,
  formatDate,
  formatHour,
  formatRange,
  helsinkiParts,
  helsinkiToday,
  inLanguage,
  interpreterText,
  isoWeek,
  languageName,
  modalityName,
  mondayOf,
  showApiError,
  statusLabel,
} from './appointments-common.js';
import { Auth } from './call.js';
import { h } from './dom.js';
import { watch } from './events.js';
import { interpreterPanel } from './scheduler-interpreting.js';
import { initI18n, onLanguageChange, registerStrings, roleLabel, t } from './i18n.js';
import { bindSignInForm, forgetLogin, savedLogin, saveLogin } from './signin.js';

registerStrings({
  fi: {
    'sched.docTitle': 'Ajanvaraus – Väylä',
    'sched.title': 'Ajanvaraus',
    'sched.logout': 'Kirjaudu ulos',
    'sched.signedIn': '{name} ({role})',
    'sched.login.title': 'Kirjaudu sisään',
    'sched.login.username': 'Käyttäjätunnus',
    'sched.login.password': 'Salasana',
    'sched.login.submit': 'Kirjaudu',
    'sched.login.failed': 'Kirjautuminen ei onnistunut: tarkista käyttäjätunnus ja salasana.',
    'sched.login.error': 'Kirjautuminen ei onnistunut ({code}). Yritä hetken kuluttua uudelleen.',
    'sched.login.missing': 'Anna käyttäjätunnus ja salasana.',
    'sched.login.expired': 'Kirjautumisesi on vanhentunut. Kirjaudu uudelleen.',
    'sched.login.role': 'Ajanvaraus on ajanvaraajille ja palvelupisteiden neuvojille. Kirjaudu heidän tunnuksillaan.',
    'sched.loadFailed': 'Palveluiden ja laitteiden tietoja ei saatu haettua.',
    'sched.jump.label': 'Sivun osat',
    'sched.search.title': 'Hae vapaita aikoja',
    'sched.search.service': 'Palvelu',
    'sched.search.servicePoint': 'Palvelupiste',
    'sched.search.device': 'Laite',
    'sched.search.anyDevice': 'Mikä tahansa palvelupisteen laite',
    'sched.search.expert': 'Asiantuntija',
    'sched.search.anyExpert': 'Kuka tahansa palvelun asiantuntija',
    'sched.search.language': 'Asiakkaan asiointikieli',
    'sched.search.from': 'Alkaen',
    'sched.search.to': 'Päättyen',
    'sched.search.interpreter': 'Tulkkaus',
    'sched.search.interpreterNeeded': 'Asiakas tarvitsee tulkin',
    'sched.search.interpreterLanguage': 'Tulkattava kieli',
    'sched.search.modality': 'Tulkkaustapa',
    'sched.search.submit': 'Hae ajat',
    'sched.search.searching': 'Haetaan vapaita aikoja…',
    'sched.search.badDates': 'Valitse alku- ja loppupäivä. Loppupäivä ei voi olla ennen alkupäivää.',
    'sched.results.title': 'Vapaat ajat',
    'sched.results.count': {
      one: 'Löytyi {n} vapaa aika.',
      other: 'Löytyi {n} vapaata aikaa.',
    },
    'sched.results.none': 'Vapaita aikoja ei löytynyt. Kokeile pidempää aikaväliä, toista palvelupistettä tai ketä tahansa asiantuntijaa.',
    'sched.results.truncated': 'Näytetään {n} ensimmäistä aikaa; rajaa hakua nähdäksesi myöhemmät.',
    'sched.results.resources': '{devices} · {experts}',
    'sched.results.devices': { one: '{n} laite', other: '{n} laitetta' },
    'sched.results.experts': { one: '{n} asiantuntija', other: '{n} asiantuntijaa' },
    'sched.results.choose': 'Valitse aika varataksesi sen.',
    'sched.book.title': 'Varaa aika',
    'sched.book.ref': 'Asiakkaan viite (valinnainen)',
    'sched.book.refHint': 'Esimerkiksi asianumero. Älä kirjoita asiakkaan nimeä.',
    'sched.book.accessibility': 'Saavutettavuustarpeet (valinnainen)',
    'sched.book.accessibilityHint': 'Esimerkiksi pyörätuoli, kuulolaite tai isompi teksti.',
    'sched.book.submit': 'Vahvista varaus',
    'sched.book.booking': 'Varataan…',
    'sched.dialog.close': 'Peruuta',
    'sched.confirm.title': 'Aika on varattu',
    'sched.confirm.announce': 'Aika on varattu: {service}, {date} klo {time}.',
    'sched.confirm.deviceDay': 'Näytä laitteen päivänäkymä',
    'sched.confirm.expertWeek': 'Näytä asiantuntijan viikkonäkymä',
    'sched.fact.service': 'Palvelu',
    'sched.fact.time': 'Aika',
    'sched.fact.servicePoint': 'Palvelupiste',
    'sched.fact.device': 'Laite',
    'sched.fact.expert': 'Asiantuntija',
    'sched.fact.status': 'Tila',
    'sched.fact.ref': 'Asiakkaan viite',
    'sched.fact.language': 'Asiointikieli',
    'sched.fact.interpreter': 'Tulkkaus',
    'sched.fact.accessibility': 'Saavutettavuustarpeet',
    'sched.fact.cancelReason': 'Perumisen syy',
    'sched.fact.oldTime': 'Nykyinen aika',
    'sched.fact.newTime': 'Uusi aika',
    'sched.fact.none': '–',
    'sched.dateTime': '{date} klo {time}',
    'sched.cal.title': 'Kalenteri',
    'sched.cal.whose': 'Kenen kalenteri',
    'sched.cal.kindDevice': 'Laite',
    'sched.cal.kindExpert': 'Asiantuntija',
    'sched.cal.device': 'Laite',
    'sched.cal.expert': 'Asiantuntija',
    'sched.cal.date': 'Päivä',
    'sched.cal.span': 'Näkymä',
    'sched.cal.day': 'Päivä',
    'sched.cal.week': 'Viikko',
    'sched.cal.show': 'Näytä',
    'sched.cal.prev': 'Edellinen',
    'sched.cal.next': 'Seuraava',
    'sched.cal.today': 'Tänään',
    'sched.cal.time': 'Aika',
    'sched.cal.captionDay': '{who}: {date}',
    'sched.cal.captionWeek': '{who}: viikko {week}, {from}–{to}',
    'sched.cal.count': {
      one: '{n} varaus näkymässä.',
      other: '{n} varausta näkymässä.',
    },
    'sched.cal.empty': 'Näkymässä ei ole varauksia.',
    'sched.cal.scrollLabel': 'Kalenterinäkymä',
    'sched.cal.loading': 'Haetaan varauksia…',
    'sched.detail.title': 'Varauksen tiedot',
    'sched.detail.reschedule': 'Siirrä toiseen aikaan',
    'sched.detail.cancel': 'Peru varaus',
    'sched.detail.noShow': 'Merkitse: asiakas ei saapunut',
    'sched.detail.noShowConfirm': 'Merkitäänkö, ettei asiakas saapunut?',
    'sched.detail.rescheduled': 'Varaus siirrettiin: {date} klo {time}.',
    'sched.detail.cancelled': 'Varaus peruttiin.',
    'sched.detail.markedNoShow': 'Varaukseen merkittiin, ettei asiakas saapunut.',
    'sched.resched.title': 'Uusi aika',
    'sched.resched.search': 'Hae uudet ajat',
    'sched.resched.confirmTitle': 'Siirrä varaus',
    'sched.resched.submit': 'Siirrä varaus',
    'sched.cancel.title': 'Peru varaus',
    'sched.cancel.reason': 'Perumisen syy (pakollinen)',
    'sched.cancel.reasonMissing': 'Kirjoita perumisen syy.',
    'sched.cancel.submit': 'Peru varaus',
    'sched.cancel.keep': 'Älä peru',
  },
  sv: {
    'sched.docTitle': 'Tidsbokning – Väylä',
    'sched.title': 'Tidsbokning',
    'sched.logout': 'Logga ut',
    'sched.signedIn': '{name} ({role})',
    'sched.login.title': 'Logga in',
    'sched.login.username': 'Användarnamn',
    'sched.login.password': 'Lösenord',
    'sched.login.submit': 'Logga in',
    'sched.login.failed': 'Inloggningen misslyckades: kontrollera användarnamn och lösenord.',
    'sched.login.error': 'Inloggningen misslyckades ({code}). Försök igen om en stund.',
    'sched.login.missing': 'Ange användarnamn och lösenord.',
    'sched.login.expired': 'Din inloggning har gått ut. Logga in igen.',
    'sched.login.role': 'Tidsbokningen är för tidsbokare och servicerådgivare. Logga in med deras användarnamn.',
    'sched.loadFailed': 'Uppgifterna om tjänster och enheter kunde inte hämtas.',
    'sched.jump.label': 'Sidans delar',
    'sched.search.title': 'Sök lediga tider',
    'sched.search.service': 'Tjänst',
    'sched.search.servicePoint': 'Serviceställe',
    'sched.search.device': 'Enhet',
    'sched.search.anyDevice': 'Vilken enhet som helst på servicestället',
    'sched.search.expert': 'Expert',
    'sched.search.anyExpert': 'Vilken expert som helst för tjänsten',
    'sched.search.language': 'Kundens språk',
    'sched.search.from': 'Från',
    'sched.search.to': 'Till',
    'sched.search.interpreter': 'Tolkning',
    'sched.search.interpreterNeeded': 'Kunden behöver tolk',
    'sched.search.interpreterLanguage': 'Språk som tolkas',
    'sched.search.modality': 'Tolkningssätt',
    'sched.search.submit': 'Sök tider',
    'sched.search.searching': 'Lediga tider söks…',
    'sched.search.badDates': 'Välj start- och slutdatum. Slutdatumet kan inte vara före startdatumet.',
    'sched.results.title': 'Lediga tider',
    'sched.results.count': {
      one: '{n} ledig tid hittades.',
      other: '{n} lediga tider hittades.',
    },
    'sched.results.none': 'Inga lediga tider hittades. Pröva en längre period, ett annat serviceställe eller vilken expert som helst.',
    'sched.results.truncated': 'De {n} första tiderna visas; avgränsa sökningen för att se senare tider.',
    'sched.results.resources': '{devices} · {experts}',
    'sched.results.devices': { one: '{n} enhet', other: '{n} enheter' },
    'sched.results.experts': { one: '{n} expert', other: '{n} experter' },
    'sched.results.choose': 'Välj en tid för att boka den.',
    'sched.book.title': 'Boka tid',
    'sched.book.ref': 'Kundens referens (frivillig)',
    'sched.book.refHint': 'Till exempel ett ärendenummer. Skriv inte kundens namn.',
    'sched.book.accessibility': 'Tillgänglighetsbehov (frivilligt)',
    'sched.book.accessibilityHint': 'Till exempel rullstol, hörapparat eller större text.',
    'sched.book.submit': 'Bekräfta bokningen',
    'sched.book.booking': 'Bokar…',
    'sched.dialog.close': 'Avbryt',
    'sched.confirm.title': 'Tiden är bokad',
    'sched.confirm.announce': 'Tiden är bokad: {service}, {date} kl. {time}.',
    'sched.confirm.deviceDay': 'Visa enhetens dagsvy',
    'sched.confirm.expertWeek': 'Visa expertens veckovy',
    'sched.fact.service': 'Tjänst',
    'sched.fact.time': 'Tid',
    'sched.fact.servicePoint': 'Serviceställe',
    'sched.fact.device': 'Enhet',
    'sched.fact.expert': 'Expert',
    'sched.fact.status': 'Läge',
    'sched.fact.ref': 'Kundens referens',
    'sched.fact.language': 'Språk',
    'sched.fact.interpreter': 'Tolkning',
    'sched.fact.accessibility': 'Tillgänglighetsbehov',
    'sched.fact.cancelReason': 'Orsak till avbokning',
    'sched.fact.oldTime': 'Nuvarande tid',
    'sched.fact.newTime': 'Ny tid',
    'sched.fact.none': '–',
    'sched.dateTime': '{date} kl. {time}',
    'sched.cal.title': 'Kalender',
    'sched.cal.whose': 'Vems kalender',
    'sched.cal.kindDevice': 'Enhet',
    'sched.cal.kindExpert': 'Expert',
    'sched.cal.device': 'Enhet',
    'sched.cal.expert': 'Expert',
    'sched.cal.date': 'Dag',
    'sched.cal.span': 'Vy',
    'sched.cal.day': 'Dag',
    'sched.cal.week': 'Vecka',
    'sched.cal.show': 'Visa',
    'sched.cal.prev': 'Föregående',
    'sched.cal.next': 'Nästa',
    'sched.cal.today': 'I dag',
    'sched.cal.time': 'Tid',
    'sched.cal.captionDay': '{who}: {date}',
    'sched.cal.captionWeek': '{who}: vecka {week}, {from}–{to}',
    'sched.cal.count': {
      one: '{n} bokning i vyn.',
      other: '{n} bokningar i vyn.',
    },
    'sched.cal.empty': 'Inga bokningar i vyn.',
    'sched.cal.scrollLabel': 'Kalendervy',
    'sched.cal.loading': 'Bokningarna hämtas…',
    'sched.detail.title': 'Bokningens uppgifter',
    'sched.detail.reschedule': 'Flytta till en annan tid',
    'sched.detail.cancel': 'Avboka',
    'sched.detail.noShow': 'Markera: kunden kom inte',
    'sched.detail.noShowConfirm': 'Markera att kunden inte kom?',
    'sched.detail.rescheduled': 'Bokningen flyttades: {date} kl. {time}.',
    'sched.detail.cancelled': 'Bokningen avbokades.',
    'sched.detail.markedNoShow': 'Bokningen markerades: kunden kom inte.',
    'sched.resched.title': 'Ny tid',
    'sched.resched.search': 'Sök nya tider',
    'sched.resched.confirmTitle': 'Flytta bokningen',
    'sched.resched.submit': 'Flytta bokningen',
    'sched.cancel.title': 'Avboka',
    'sched.cancel.reason': 'Orsak till avbokning (obligatorisk)',
    'sched.cancel.reasonMissing': 'Skriv orsaken till avbokningen.',
    'sched.cancel.submit': 'Avboka',
    'sched.cancel.keep': 'Avboka inte',
  },
  en: {
    'sched.docTitle': 'Appointments – Väylä',
    'sched.title': 'Appointments',
    'sched.logout': 'Sign out',
    'sched.signedIn': '{name} ({role})',
    'sched.login.title': 'Sign in',
    'sched.login.username': 'User name',
    'sched.login.password': 'Password',
    'sched.login.submit': 'Sign in',
    'sched.login.failed': 'Sign-in failed: check your user name and password.',
    'sched.login.error': 'Sign-in failed ({code}). Please try again in a moment.',
    'sched.login.missing': 'Enter your user name and password.',
    'sched.login.expired': 'Your sign-in has expired. Please sign in again.',
    'sched.login.role': 'Appointments are booked by schedulers and service-point advisors. Sign in with their user names.',
    'sched.loadFailed': 'Could not fetch the services and devices.',
    'sched.jump.label': 'Parts of this page',
    'sched.search.title': 'Search free times',
    'sched.search.service': 'Service',
    'sched.search.servicePoint': 'Service point',
    'sched.search.device': 'Device',
    'sched.search.anyDevice': "Any of the service point's devices",
    'sched.search.expert': 'Expert',
    'sched.search.anyExpert': 'Any expert of the service',
    'sched.search.language': "Customer's language",
    'sched.search.from': 'From',
    'sched.search.to': 'To',
    'sched.search.interpreter': 'Interpreting',
    'sched.search.interpreterNeeded': 'The customer needs an interpreter',
    'sched.search.interpreterLanguage': 'Language interpreted',
    'sched.search.modality': 'How',
    'sched.search.submit': 'Search',
    'sched.search.searching': 'Searching for free times…',
    'sched.search.badDates': 'Choose the first and last day. The last day cannot be before the first.',
    'sched.results.title': 'Free times',
    'sched.results.count': {
      one: '{n} free time found.',
      other: '{n} free times found.',
    },
    'sched.results.none': 'No free times found. Try a longer period, another service point or any expert.',
    'sched.results.truncated': 'Showing the first {n} times; narrow the search to see later ones.',
    'sched.results.resources': '{devices} · {experts}',
    'sched.results.devices': { one: '{n} device', other: '{n} devices' },
    'sched.results.experts': { one: '{n} expert', other: '{n} experts' },
    'sched.results.choose': 'Choose a time to book it.',
    'sched.book.title': 'Book a time',
    'sched.book.ref': "Customer's reference (optional)",
    'sched.book.refHint': "A case number, for example. Do not write the customer's name.",
    'sched.book.accessibility': 'Accessibility needs (optional)',
    'sched.book.accessibilityHint': 'A wheelchair, a hearing aid or larger text, for example.',
    'sched.book.submit': 'Confirm booking',
    'sched.book.booking': 'Booking…',
    'sched.dialog.close': 'Cancel',
    'sched.confirm.title': 'The time is booked',
    'sched.confirm.announce': 'The time is booked: {service}, {date} at {time}.',
    'sched.confirm.deviceDay': "Show the device's day",
    'sched.confirm.expertWeek': "Show the expert's week",
    'sched.fact.service': 'Service',
    'sched.fact.time': 'Time',
    'sched.fact.servicePoint': 'Service point',
    'sched.fact.device': 'Device',
    'sched.fact.expert': 'Expert',
    'sched.fact.status': 'Status',
    'sched.fact.ref': "Customer's reference",
    'sched.fact.language': 'Language',
    'sched.fact.interpreter': 'Interpreting',
    'sched.fact.accessibility': 'Accessibility needs',
    'sched.fact.cancelReason': 'Reason for cancelling',
    'sched.fact.oldTime': 'Current time',
    'sched.fact.newTime': 'New time',
    'sched.fact.none': '–',
    'sched.dateTime': '{date} at {time}',
    'sched.cal.title': 'Calendar',
    'sched.cal.whose': 'Whose calendar',
    'sched.cal.kindDevice': 'Device',
    'sched.cal.kindExpert': 'Expert',
    'sched.cal.device': 'Device',
    'sched.cal.expert': 'Expert',
    'sched.cal.date': 'Day',
    'sched.cal.span': 'View',
    'sched.cal.day': 'Day',
    'sched.cal.week': 'Week',
    'sched.cal.show': 'Show',
    'sched.cal.prev': 'Previous',
    'sched.cal.next': 'Next',
    'sched.cal.today': 'Today',
    'sched.cal.time': 'Time',
    'sched.cal.captionDay': '{who}: {date}',
    'sched.cal.captionWeek': '{who}: week {week}, {from}–{to}',
    'sched.cal.count': {
      one: '{n} appointment in view.',
      other: '{n} appointments in view.',
    },
    'sched.cal.empty': 'No appointments in view.',
    'sched.cal.scrollLabel': 'Calendar view',
    'sched.cal.loading': 'Fetching appointments…',
    'sched.detail.title': 'Appointment details',
    'sched.detail.reschedule': 'Move to another time',
    'sched.detail.cancel': 'Cancel appointment',
    'sched.detail.noShow': 'Mark: the customer did not come',
    'sched.detail.noShowConfirm': 'Mark that the customer did not come?',
    'sched.detail.rescheduled': 'The appointment was moved: {date} at {time}.',
    'sched.detail.cancelled': 'The appointment was cancelled.',
    'sched.detail.markedNoShow': 'The appointment was marked: the customer did not come.',
    'sched.resched.title': 'New time',
    'sched.resched.search': 'Search new times',
    'sched.resched.confirmTitle': 'Move the appointment',
    'sched.resched.submit': 'Move the appointment',
    'sched.cancel.title': 'Cancel appointment',
    'sched.cancel.reason': 'Reason for cancelling (required)',
    'sched.cancel.reasonMissing': 'Write the reason for cancelling.',
    'sched.cancel.submit': 'Cancel appointment',
    'sched.cancel.keep': 'Keep it',
  },
});

const SESSION_KEY = 'vayla.scheduler.login';
/** Roles that book (the API decides in the end; the page says early who it is for). */
const BOOKING_ROLES = ['scheduler', 'admin', 'advisor'];
/** Languages a customer is served in (what experts speak). */
const CUSTOMER_LANGUAGES = ['fi', 'sv', 'en'];
/** Languages an interpreter can be asked for: sign languages first, then spoken ones. */
const INTERPRETER_LANGUAGES = ['fse', 'fss', 'fi', 'sv', 'en', 'ru', 'ar', 'so', 'uk', 'fa'];
/** How an interpreter takes part (the interpreting registry's words): by video in the room, by phone, on site. */
const MODALITIES = ['remote_video', 'phone', 'on_site'];
/** Slots shown at most per search (the API allows more; a person reads no more). */
const SLOT_LIMIT = 300;
/** Hours a day grid shows at least; it grows to fit any appointment outside them. */
const GRID_HOURS = [8, 17];

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
  appView: $('app-view'),
  searchForm: $('search-form'),
  service: $('service'),
  servicePoint: $('service-point'),
  device: $('device'),
  expert: $('expert'),
  language: $('language'),
  from: $('from'),
  to: $('to'),
  interpreterNeeded: $('interpreter-needed'),
  interpreterFields: $('interpreter-fields'),
  interpreterLanguage: $('interpreter-language'),
  interpreterModality: $('interpreter-modality'),
  searchButton: $('search-button'),
  results: $('results'),
  resultsSummary: $('results-summary'),
  resultsList: $('results-list'),
  searchLive: $('search-live'),
  confirmation: $('confirmation'),
  confirmationDetails: $('confirmation-details'),
  confirmationDeviceDay: $('confirmation-device-day'),
  confirmationExpertWeek: $('confirmation-expert-week'),
  calendarForm: $('calendar-form'),
  calResource: $('cal-resource'),
  calResourceLabel: $('cal-resource-label'),
  calDate: $('cal-date'),
  calPrev: $('calendar-prev'),
  calNext: $('calendar-next'),
  calToday: $('calendar-today'),
  calendarView: $('calendar-view'),
  calendarLive: $('calendar-live'),
  detail: $('detail'),
  detailFacts: $('detail-facts'),
  detailActions: $('detail-actions'),
  detailReschedule: $('detail-reschedule'),
  detailCancel: $('detail-cancel'),
  detailNoShow: $('detail-no-show'),
  detailNotice: $('detail-notice'),
  reschedPanel: $('reschedule-panel'),
  reschedForm: $('reschedule-form'),
  reschedFrom: $('resched-from'),
  reschedTo: $('resched-to'),
  reschedSummary: $('resched-summary'),
  reschedList: $('resched-list'),
  bookDialog: $('book-dialog'),
  bookForm: $('book-form'),
  bookSummary: $('book-summary'),
  bookDevice: $('book-device'),
  bookExpert: $('book-expert'),
  bookRef: $('book-ref'),
  bookAccess: $('book-access'),
  bookError: $('book-error'),
  bookSubmit: $('book-submit'),
  bookClose: $('book-close'),
  reschedDialog: $('resched-dialog'),
  reschedDialogForm: $('resched-dialog-form'),
  reschedDialogSummary: $('resched-dialog-summary'),
  reschedExpert: $('resched-expert'),
  reschedError: $('resched-error'),
  reschedSubmit: $('resched-submit'),
  reschedClose: $('resched-close'),
  cancelDialog: $('cancel-dialog'),
  cancelForm: $('cancel-form'),
  cancelSummary: $('cancel-summary'),
  cancelReason: $('cancel-reason'),
  cancelReasonError: $('cancel-reason-error'),
  cancelError: $('cancel-error'),
  cancelSubmit: $('cancel-submit'),
  cancelClose: $('cancel-close'),
};

// ---- state --------------------------------------------------------------------------------------------------------

let auth = null;
let me = null;
/** What the API knows: agencies with services, experts, devices (rooms). */
const catalog = { agencies: [], experts: [], rooms: [] };
/** The last search: its request and reply (slots). */
let search = null;
/** The slot being booked, and the last appointment booked (for the confirmation). */
let bookingSlot = null;
let booked = null;
/** The calendar shown: kind (device/expert), resource id, date, span (day/week), and its appointments. */
const view = { kind: 'device', resource: '', date: '', span: 'day', loaded: false, appointments: [] };
/** The appointment selected in the calendar (the API's view of it), and its reschedule search. */
let selected = null;
let resched = null;
let reschedSlot = null;
/** The live-changes watch while signed in. */
let watcher = null;

// ---- interpreting, live ------------------------------------------------------------------------------------------

const interp = interpreterPanel($('detail-interp'), {
  call: (path, options) => call(path, options),
  onMoveTime: () => els.detailReschedule.click(),
  onChanged: () => reloadSelected(),
});

/** Reads the selected appointment again (its interpreters, its status) and shows it, keeping the notice. */
async function reloadSelected() {
  if (!selected) return;
  const id = selected.id;
  try {
    const fresh = await call(`/api/appointments/${encodeURIComponent(id)}`);
    if (selected?.id !== id) return;
    selected = fresh;
    renderDetail();
  } catch (err) {
    if (err.code !== 'auth') showApiError(els.error, err);
  }
}

/** A change pushed by the server: read again what it concerns. */
function onLiveChange(topic, key) {
  if (!selected) return;
  if (topic === 'appointments' && (key === '' || key === selected.id)) reloadSelected();
  // A new request has a key we do not know yet: any request change may be the selected appointment's.
  if (topic === 'interpreter_requests') interp.refresh();
}

// ---- names of things ---------------------------------------------------------------------------------------------

function serviceInfo(id) {
  for (const agency of catalog.agencies) {
    const spec = agency.services.find((s) => s.id === id);
    if (spec) return { agency, spec };
  }
  return null;
}

/** Service names come from the rooms-config in Finnish. */
const serviceName = (id) => inLanguage(serviceInfo(id)?.spec.name ?? id);
const serviceNameText = (id) => serviceInfo(id)?.spec.name ?? id;
const roomOf = (id) => catalog.rooms.find((r) => r.room === id);
const deviceName = (id) => roomOf(id)?.name ?? id;
const expertName = (id) => catalog.experts.find((e) => e.id === id)?.name ?? id ?? '';
function servicePointName(id) {
  return catalog.rooms.find((r) => r.service_point === id)?.service_point_name ?? id;
}

function servicePoints() {
  const seen = new Map();
  for (const r of catalog.rooms) {
    if (me?.role === 'advisor' && r.service_point !== me.service_point) continue;
    if (!seen.has(r.service_point)) seen.set(r.service_point, r.service_point_name ?? r.service_point);
  }
  return [...seen.entries()].sort((a, b) => a[1].localeCompare(b[1], 'fi'));
}

function devicesOf(servicePoint) {
  return catalog.rooms.filter((r) => r.service_point === servicePoint);
}

function bookableDevices() {
  return catalog.rooms.filter((r) => me?.role !== 'advisor' || r.service_point === me.service_point);
}

/** `el.replaceChildren(…)` without the nulls of optional parts (which would become the text "null"). */
function setChildren(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

function option(value, text, { selected = false, lang } = {}) {
  return h('option', { value, selected, lang }, text);
}

/** Refill a select, keeping its value when it is still offered. */
function fill(select, children) {
  const old = select.value;
  setChildren(select, ...children);
  if ([...select.options].some((o) => o.value === old)) select.value = old;
}

function dateTimeText(iso) {
  return t('sched.dateTime', { date: formatDate(helsinkiParts(iso).date), time: formatClock(iso) });
}

function fact(label, value) {
  return h('div', {}, h('dt', {}, label), h('dd', {}, value ?? t('sched.fact.none')));
}

// ---- errors and sign-in -----------------------------------------------------------------------------------------

function showError(text) {
  setChildren(els.error);
  if (text) els.error.append(h('p', {}, text));
  els.error.hidden = !text;
}

function showView(name) {
  els.loginView.hidden = name !== 'login';
  els.appView.hidden = name !== 'app';
  els.userLine.hidden = name === 'login';
  document.body.dataset.view = name;
}

function renderUser() {
  if (!me) return;
  els.userName.textContent = t('sched.signedIn', { name: me.display_name, role: roleLabel(me.role, { capitalize: false }) });
}

async function signedIn(reply) {
  if (!BOOKING_ROLES.includes(reply.role)) {
    signOut(t('sched.login.role'));
    return;
  }
  me = reply;
  auth?.stop();
  watcher?.stop();
  auth = new Auth(reply);
  watcher = watch(auth, ['interpreter_requests', 'appointments'], onLiveChange, { client: 'vayla-web-scheduler' });
  auth.addEventListener('refreshed', (e) => saveLogin(SESSION_KEY, { ...e.detail }));
  auth.addEventListener('expired', () => signOut(t('sched.login.expired')));
  saveLogin(SESSION_KEY, reply);
  renderUser();
  showView('app');
  try {
    await loadCatalog();
  } catch (err) {
    if (err.code === 'auth') return;
    els.error.hidden = false;
    showApiError(els.error, err);
    els.error.prepend(h('p', {}, t('sched.loadFailed')));
    return;
  }
  initForms();
  const heading = $('search-title');
  heading.setAttribute('tabindex', '-1');
  heading.focus();
}

function signOut(message) {
  watcher?.stop();
  watcher = null;
  auth?.stop();
  auth = null;
  me = null;
  forgetLogin(SESSION_KEY);
  for (const d of [els.bookDialog, els.reschedDialog, els.cancelDialog]) if (d.open) d.close();
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
  strings: 'sched.login',
  onSignedIn: signedIn,
});

els.logout.addEventListener('click', () => signOut());

/** An API call with the signed-in person's token. An expired sign-in signs out (the Auth says so). */
async function call(path, options = {}) {
  return apiFetch(path, { ...options, token: await auth.token() });
}

async function loadCatalog() {
  const [agencies, experts, rooms] = await Promise.all([
    call('/api/calendar/agencies'),
    call('/api/calendar/experts'),
    call('/api/rooms'),
  ]);
  catalog.agencies = agencies.filter((a) => (a.services ?? []).length > 0);
  catalog.experts = experts;
  catalog.rooms = rooms;
}

// ---- the search form ----------------------------------------------------------------------------------------------

let formsReady = false;

function initForms() {
  const today = helsinkiToday();
  if (!formsReady) {
    els.from.value = today;
    els.to.value = addDays(today, 13);
    els.calDate.value = today;
    formsReady = true;
  }
  renderSearchOptions();
  renderCalendarOptions();
}

function renderSearchOptions() {
  fill(
    els.service,
    catalog.agencies.map((a) =>
      h(
        'optgroup',
        { label: a.name },
        a.services.map((s) => option(s.id, s.name, { lang: 'fi' })),
      ),
    ),
  );
  fill(
    els.servicePoint,
    servicePoints().map(([id, name]) => option(id, name, { lang: 'fi' })),
  );
  renderDeviceOptions();
  renderExpertOptions();
  fill(els.language, CUSTOMER_LANGUAGES.map((l) => option(l, languageName(l))));
  fill(els.interpreterLanguage, INTERPRETER_LANGUAGES.map((l) => option(l, languageName(l))));
  fill(els.interpreterModality, MODALITIES.map((m) => option(m, modalityName(m))));
  els.interpreterFields.hidden = !els.interpreterNeeded.checked;
}

function renderDeviceOptions() {
  fill(els.device, [
    option('', t('sched.search.anyDevice')),
    ...devicesOf(els.servicePoint.value).map((d) => option(d.room, d.name, { lang: 'fi' })),
  ]);
}

function renderExpertOptions() {
  const info = serviceInfo(els.service.value);
  const eligible = catalog.experts.filter(
    (x) => info && x.agency === info.agency.id && (x.services ?? []).includes(info.spec.id),
  );
  fill(els.expert, [option('', t('sched.search.anyExpert')), ...eligible.map((x) => option(x.id, x.name))]);
}

els.service.addEventListener('change', renderExpertOptions);
els.servicePoint.addEventListener('change', renderDeviceOptions);
els.interpreterNeeded.addEventListener('change', () => {
  els.interpreterFields.hidden = !els.interpreterNeeded.checked;
});

function searchRequest() {
  const body = {
    service: els.service.value,
    language: els.language.value,
    from: els.from.value,
    to: els.to.value,
    limit: SLOT_LIMIT,
  };
  if (els.device.value) body.devices = [els.device.value];
  else body.service_points = [els.servicePoint.value];
  if (els.expert.value) body.expert = els.expert.value;
  if (els.interpreterNeeded.checked) {
    body.interpreter = { language: els.interpreterLanguage.value, modality: els.interpreterModality.value };
  }
  return body;
}

/** Say `text` in a live region (cleared first so that the same words are read again). */
function announce(region, text) {
  region.textContent = '';
  setTimeout(() => {
    region.textContent = text;
  }, 50);
}

els.searchForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  if (!els.from.value || !els.to.value || els.to.value < els.from.value) {
    showError(t('sched.search.badDates'));
    (els.from.value ? els.to : els.from).focus();
    return;
  }
  showError('');
  await runSearch(searchRequest(), { announce: true });
});

async function runSearch(request, { announce: say = false } = {}) {
  els.searchButton.disabled = true;
  els.results.setAttribute('aria-busy', 'true');
  if (say) announce(els.searchLive, t('sched.search.searching'));
  try {
    const reply = await call('/api/slots/search', { method: 'POST', body: request });
    search = { request, reply };
    renderResults();
    if (say) announce(els.searchLive, resultsSummaryText());
  } catch (err) {
    search = null;
    els.results.hidden = true;
    showApiError(els.error, err);
    if (say) announce(els.searchLive, '');
  } finally {
    els.searchButton.disabled = false;
    els.results.setAttribute('aria-busy', 'false');
  }
}

function resultsSummaryText() {
  if (!search) return '';
  const n = search.reply.slots.length;
  if (n === 0) return t('sched.results.none');
  let text = t('sched.results.count', { n });
  if (search.reply.truncated) text += ' ' + t('sched.results.truncated', { n });
  return `${text} ${t('sched.results.choose')}`;
}

/** Slots grouped by their Helsinki date: `[[date, [slot, …]], …]`. */
function byDay(slots) {
  const days = new Map();
  slots.forEach((slot, index) => {
    const date = helsinkiParts(slot.start).date;
    if (!days.has(date)) days.set(date, []);
    days.get(date).push({ slot, index });
  });
  return [...days.entries()];
}

function slotButton(slot, index, date, kind) {
  const devices = t('sched.results.devices', { n: slot.devices.length });
  const experts = t('sched.results.experts', { n: slot.experts.length });
  return h(
    'li',
    {},
    h(
      'button',
      { type: 'button', class: 'slot-button', [`data-${kind}`]: String(index), 'data-start': slot.start },
      h('span', { class: 'visually-hidden' }, `${formatDate(date)}, `),
      h('span', { class: 'slot-button__time' }, formatRange(slot.start, slot.end)),
      h('span', { class: 'slot-button__meta' }, t('sched.results.resources', { devices, experts })),
    ),
  );
}

function slotDays(slots, kind, headingLevel) {
  return byDay(slots).map(([date, list]) =>
    h(
      'div',
      { class: 'slot-day' },
      h(headingLevel, { class: 'slot-day__title' }, formatDate(date, { long: true })),
      h('ul', { class: 'slot-list', role: 'list' }, list.map(({ slot, index }) => slotButton(slot, index, date, kind))),
    ),
  );
}

function renderResults() {
  if (!search) return;
  els.results.hidden = false;
  els.resultsSummary.textContent = resultsSummaryText();
  setChildren(els.resultsList, ...slotDays(search.reply.slots, 'slot', 'h4'));
}

els.resultsList.addEventListener('click', (e) => {
  const button = e.target.closest('[data-slot]');
  if (button && search) openBooking(search.reply.slots[Number(button.dataset.slot)], button);
});

// ---- booking -----------------------------------------------------------------------------------------------------

let returnFocus = null;

function openBooking(slot, from) {
  bookingSlot = { slot, request: search.request };
  returnFocus = from;
  const request = search.request;
  setChildren(els.bookSummary,
    fact(t('sched.fact.service'), serviceName(request.service)),
    fact(t('sched.fact.time'), `${formatDate(helsinkiParts(slot.start).date, { long: true })} ${formatRange(slot.start, slot.end)}`),
    fact(t('sched.fact.language'), languageName(request.language)),
    request.interpreter ? fact(t('sched.fact.interpreter'), interpreterText(request.interpreter)) : null,
  );
  fill(els.bookDevice, slot.devices.map((d) => option(d, deviceName(d), { lang: 'fi' })));
  els.bookDevice.value = slot.devices[0];
  fill(els.bookExpert, slot.experts.map((x) => option(x, expertName(x))));
  els.bookExpert.value = request.expert && slot.experts.includes(request.expert) ? request.expert : slot.experts[0];
  els.bookRef.value = '';
  els.bookAccess.value = '';
  showApiError(els.bookError, null);
  els.bookSubmit.disabled = false;
  els.bookDialog.showModal();
  els.bookDevice.focus();
}

els.bookClose.addEventListener('click', () => els.bookDialog.close());
els.bookDialog.addEventListener('close', () => {
  if (returnFocus?.isConnected) returnFocus.focus();
  returnFocus = null;
});

els.bookForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  if (!bookingSlot) return;
  const { slot, request } = bookingSlot;
  const needs = { language: request.language };
  if (request.interpreter) needs.interpreter = request.interpreter;
  const access = els.bookAccess.value.trim();
  if (access) needs.accessibility = access;
  const body = {
    service: request.service,
    device: els.bookDevice.value,
    expert: els.bookExpert.value,
    start: slot.start,
    special_needs: needs,
  };
  const ref = els.bookRef.value.trim();
  if (ref) body.customer_ref = ref;
  els.bookSubmit.disabled = true;
  try {
    booked = await call('/api/appointments', { method: 'POST', body });
    returnFocus = null;
    els.bookDialog.close();
    showConfirmation();
    // The booked time is no longer free: refresh the list quietly (the confirmation has the focus).
    runSearch(search.request);
  } catch (err) {
    showApiError(els.bookError, err);
    els.bookSubmit.disabled = false;
  }
});

function appointmentFacts(a) {
  const needs = a.special_needs ?? {};
  return [
    fact(t('sched.fact.service'), serviceName(a.service)),
    fact(t('sched.fact.time'), `${formatDate(helsinkiParts(a.start).date, { long: true })} ${formatRange(a.start, a.end)}`),
    fact(t('sched.fact.servicePoint'), inLanguage(servicePointName(a.service_point))),
    fact(t('sched.fact.device'), inLanguage(deviceName(a.device))),
    fact(t('sched.fact.expert'), expertName(a.expert)),
    fact(t('sched.fact.status'), h('span', { class: `appt-status appt-status--${a.status}` }, statusLabel(a.status))),
    a.customer_ref ? fact(t('sched.fact.ref'), a.customer_ref) : null,
    needs.language ? fact(t('sched.fact.language'), languageName(needs.language)) : null,
    needs.interpreter ? fact(t('sched.fact.interpreter'), interpreterText(needs.interpreter)) : null,
    needs.accessibility ? fact(t('sched.fact.accessibility'), needs.accessibility) : null,
    a.cancel_reason ? fact(t('sched.fact.cancelReason'), a.cancel_reason) : null,
  ];
}

function showConfirmation({ focus = true } = {}) {
  if (!booked) return;
  els.confirmation.hidden = false;
  els.confirmation.dataset.appointment = booked.id;
  setChildren(els.confirmationDetails, ...appointmentFacts(booked));
  if (focus) {
    const heading = $('confirmation-title');
    heading.setAttribute('tabindex', '-1');
    heading.focus();
    announce(
      els.searchLive,
      t('sched.confirm.announce', {
        service: serviceNameText(booked.service),
        date: formatDate(helsinkiParts(booked.start).date, { long: true }),
        time: formatClock(booked.start),
      }),
    );
  }
}

els.confirmationDeviceDay.addEventListener('click', () => {
  if (booked) showCalendar({ kind: 'device', resource: booked.device, date: helsinkiParts(booked.start).date, span: 'day' });
});
els.confirmationExpertWeek.addEventListener('click', () => {
  if (booked) showCalendar({ kind: 'expert', resource: booked.expert, date: helsinkiParts(booked.start).date, span: 'week' });
});

// ---- the calendar ------------------------------------------------------------------------------------------------

function formKind() {
  return els.calendarForm.elements.kind.value || 'device';
}

function renderCalendarOptions() {
  const kind = formKind();
  els.calResourceLabel.textContent = t(kind === 'device' ? 'sched.cal.device' : 'sched.cal.expert');
  if (kind === 'device') {
    const groups = new Map();
    for (const d of bookableDevices()) {
      if (!groups.has(d.service_point)) groups.set(d.service_point, []);
      groups.get(d.service_point).push(d);
    }
    fill(
      els.calResource,
      [...groups.entries()].map(([sp, list]) =>
        h('optgroup', { label: servicePointName(sp) }, list.map((d) => option(d.room, d.name, { lang: 'fi' }))),
      ),
    );
  } else {
    fill(
      els.calResource,
      catalog.agencies.map((a) =>
        h(
          'optgroup',
          { label: a.name },
          catalog.experts.filter((x) => x.agency === a.id).map((x) => option(x.id, x.name)),
        ),
      ),
    );
  }
}

for (const radio of els.calendarForm.querySelectorAll('input[name="kind"]')) {
  radio.addEventListener('change', renderCalendarOptions);
}

els.calendarForm.addEventListener('submit', (e) => {
  e.preventDefault();
  showCalendar({
    kind: formKind(),
    resource: els.calResource.value,
    date: els.calDate.value || helsinkiToday(),
    span: els.calendarForm.elements.span.value || 'day',
  });
});

function shift(days) {
  if (!view.loaded) return;
  showCalendar({ ...view, date: addDays(view.date, days) }, { focusTable: false });
}
els.calPrev.addEventListener('click', () => shift(view.span === 'week' ? -7 : -1));
els.calNext.addEventListener('click', () => shift(view.span === 'week' ? 7 : 1));
els.calToday.addEventListener('click', () => {
  const target = { kind: formKind(), resource: els.calResource.value, span: els.calendarForm.elements.span.value };
  showCalendar({ ...(view.loaded ? view : target), date: helsinkiToday() }, { focusTable: false });
});

/** The first and last date a view shows. */
function viewDays(v) {
  if (v.span === 'week') {
    const monday = mondayOf(v.date);
    return Array.from({ length: 7 }, (_, i) => addDays(monday, i));
  }
  return [v.date];
}

/** Show a calendar: set the form to it, fetch its appointments, draw the grid. */
async function showCalendar(next, { focusTable = true } = {}) {
  Object.assign(view, next);
  // The form shows what the view shows.
  els.calendarForm.elements.kind.value = view.kind;
  renderCalendarOptions();
  els.calResource.value = view.resource;
  els.calDate.value = view.date;
  els.calendarForm.elements.span.value = view.span;
  const days = viewDays(view);
  const params = new URLSearchParams({ [view.kind]: view.resource, from: days[0], to: days.at(-1) });
  els.calendarView.setAttribute('aria-busy', 'true');
  try {
    const list = await call(`/api/appointments?${params}`);
    // Cancelled appointments leave the grid: their time is free again.
    view.appointments = list.filter((a) => a.status !== 'cancelled');
    view.loaded = true;
    showApiError(els.error, null);
  } catch (err) {
    showApiError(els.error, err);
    return;
  } finally {
    els.calendarView.setAttribute('aria-busy', 'false');
  }
  renderCalendar();
  const n = view.appointments.length;
  announce(els.calendarLive, `${calendarCaption()}. ${n ? t('sched.cal.count', { n }) : t('sched.cal.empty')}`);
  if (focusTable) {
    const caption = els.calendarView.querySelector('caption');
    caption?.setAttribute('tabindex', '-1');
    els.calendarView.scrollIntoView({ block: 'start' });
    caption?.focus({ preventScroll: true });
  }
}

function calendarCaption() {
  const who = view.kind === 'device' ? deviceName(view.resource) : expertName(view.resource);
  const days = viewDays(view);
  if (view.span === 'week') {
    return t('sched.cal.captionWeek', {
      who,
      week: isoWeek(days[0]),
      from: formatDate(days[0], { year: false }),
      to: formatDate(days.at(-1)),
    });
  }
  return t('sched.cal.captionDay', { who, date: formatDate(days[0], { long: true }) });
}

function appointmentButton(a) {
  const other = view.kind === 'device' ? expertName(a.expert) : deviceName(a.device);
  const isSelected = selected?.id === a.id;
  return h(
    'li',
    {},
    h(
      'button',
      {
        type: 'button',
        class: `appt-button appt-button--${a.status}${isSelected ? ' appt-button--selected' : ''}`,
        'data-appointment': a.id,
        'aria-pressed': String(isSelected),
      },
      h('span', { class: 'appt-button__time' }, formatRange(a.start, a.end)),
      h('span', { class: 'appt-button__service' }, serviceName(a.service)),
      h('span', { class: 'appt-button__other' }, view.kind === 'device' ? other : inLanguage(other)),
      a.status !== 'booked' ? h('span', { class: 'appt-button__status' }, statusLabel(a.status)) : null,
      a.special_needs?.interpreter
        ? h('span', { class: 'appt-button__other' }, `${t('sched.fact.interpreter')}: ${interpreterText(a.special_needs.interpreter)}`)
        : null,
    ),
  );
}

function renderCalendar() {
  if (!view.loaded) return;
  const days = viewDays(view);
  const placed = view.appointments.map((a) => ({ a, at: helsinkiParts(a.start) }));
  let [first, last] = GRID_HOURS;
  for (const { at } of placed) {
    first = Math.min(first, at.hour);
    last = Math.max(last, at.hour);
  }
  const hours = Array.from({ length: last - first + 1 }, (_, i) => first + i);
  const captionId = 'calendar-caption';
  const table = h(
    'table',
    { class: `sched-table sched-table--${view.span}`, 'data-kind': view.kind, 'data-resource': view.resource },
    h('caption', { id: captionId }, calendarCaption()),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col', class: 'sched-table__time' }, t('sched.cal.time')),
        days.map((d) => h('th', { scope: 'col', 'data-date': d }, formatDate(d, { year: view.span === 'day' }))),
      ),
    ),
    h(
      'tbody',
      {},
      hours.map((hour) =>
        h(
          'tr',
          {},
          h('th', { scope: 'row', class: 'sched-table__time' }, formatHour(hour)),
          days.map((d) => {
            const here = placed.filter(({ at }) => at.date === d && at.hour === hour).map(({ a }) => a);
            return h(
              'td',
              { 'data-date': d, 'data-hour': String(hour) },
              here.length ? h('ul', { class: 'appt-list', role: 'list' }, here.map(appointmentButton)) : null,
            );
          }),
        ),
      ),
    ),
  );
  const scroller = h(
    'div',
    { class: 'sched-table-scroll', tabindex: '0', role: 'region', 'aria-labelledby': captionId },
    table,
  );
  setChildren(els.calendarView,
    scroller,
    view.appointments.length ? null : h('p', { class: 'muted sched-empty' }, t('sched.cal.empty')),
  );
  els.calendarView.hidden = false;
}

els.calendarView.addEventListener('click', (e) => {
  const button = e.target.closest('[data-appointment]');
  if (button) selectAppointment(button.dataset.appointment);
});

// ---- the selected appointment ------------------------------------------------------------------------------------

/** The outcome shown (and announced) under the selected appointment: a function of the language, or null. */
let shownNotice = null;
function setNotice(next) {
  shownNotice = next;
  els.detailNotice.textContent = shownNotice ? shownNotice() : '';
}

function reschedSummaryText(reply) {
  const n = reply.slots.length;
  return n ? `${t('sched.results.count', { n })} ${t('sched.results.choose')}` : t('sched.results.none');
}

async function selectAppointment(id, { focus = true, notice = null } = {}) {
  try {
    selected = await call(`/api/appointments/${encodeURIComponent(id)}`);
  } catch (err) {
    showApiError(els.error, err);
    return;
  }
  resched = null;
  els.reschedPanel.hidden = true;
  renderCalendar();
  renderDetail();
  setNotice(notice);
  if (focus) {
    const heading = $('detail-title');
    heading.setAttribute('tabindex', '-1');
    els.detail.scrollIntoView({ block: 'start' });
    heading.focus({ preventScroll: true });
  }
}

function renderDetail() {
  interp.show(selected);
  if (!selected) {
    els.detail.hidden = true;
    return;
  }
  els.detail.hidden = false;
  els.detail.dataset.appointment = selected.id;
  els.detail.dataset.status = selected.status;
  setChildren(els.detailFacts, ...appointmentFacts(selected));
  const open = selected.status === 'booked';
  const started = Date.parse(selected.start) <= Date.now();
  els.detailReschedule.hidden = !open;
  els.detailCancel.hidden = !open;
  els.detailNoShow.hidden = !(open && started);
  els.detailActions.hidden = !open;
  if (!open) els.reschedPanel.hidden = true;
}

els.detailReschedule.addEventListener('click', () => {
  if (!selected) return;
  const today = helsinkiToday();
  const date = helsinkiParts(selected.start).date;
  const from = date < today ? today : date;
  els.reschedFrom.value = from;
  els.reschedTo.value = addDays(from, 13);
  els.reschedPanel.hidden = false;
  els.reschedSummary.textContent = '';
  setChildren(els.reschedList);
  els.reschedFrom.focus();
});

els.reschedForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  if (!selected) return;
  if (!els.reschedFrom.value || !els.reschedTo.value || els.reschedTo.value < els.reschedFrom.value) {
    els.reschedSummary.textContent = t('sched.search.badDates');
    els.reschedFrom.focus();
    return;
  }
  const needs = selected.special_needs ?? {};
  const request = {
    service: selected.service,
    devices: [selected.device],
    from: els.reschedFrom.value,
    to: els.reschedTo.value,
    limit: SLOT_LIMIT,
  };
  if (needs.language) request.language = needs.language;
  if (needs.interpreter) request.interpreter = needs.interpreter;
  const button = $('resched-search');
  button.disabled = true;
  try {
    const reply = await call('/api/slots/search', { method: 'POST', body: request });
    resched = { request, reply };
    els.reschedSummary.textContent = reschedSummaryText(reply);
    setChildren(els.reschedList, ...slotDays(reply.slots, 'resched-slot', 'h5'));
    setNotice(() => reschedSummaryText(reply));
  } catch (err) {
    showApiError(els.error, err);
  } finally {
    button.disabled = false;
  }
});

els.reschedList.addEventListener('click', (e) => {
  const button = e.target.closest('[data-resched-slot]');
  if (!button || !resched || !selected) return;
  reschedSlot = resched.reply.slots[Number(button.dataset.reschedSlot)];
  returnFocus = button;
  setChildren(els.reschedDialogSummary,
    fact(t('sched.fact.service'), serviceName(selected.service)),
    fact(t('sched.fact.oldTime'), `${formatDate(helsinkiParts(selected.start).date, { long: true })} ${formatRange(selected.start, selected.end)}`),
    fact(t('sched.fact.newTime'), `${formatDate(helsinkiParts(reschedSlot.start).date, { long: true })} ${formatRange(reschedSlot.start, reschedSlot.end)}`),
    fact(t('sched.fact.device'), inLanguage(deviceName(selected.device))),
  );
  fill(els.reschedExpert, reschedSlot.experts.map((x) => option(x, expertName(x))));
  els.reschedExpert.value = reschedSlot.experts.includes(selected.expert) ? selected.expert : reschedSlot.experts[0];
  showApiError(els.reschedError, null);
  els.reschedSubmit.disabled = false;
  els.reschedDialog.showModal();
  els.reschedExpert.focus();
});

els.reschedClose.addEventListener('click', () => els.reschedDialog.close());
els.reschedDialog.addEventListener('close', () => {
  if (returnFocus?.isConnected) returnFocus.focus();
  returnFocus = null;
});

els.reschedDialogForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  if (!selected || !reschedSlot) return;
  els.reschedSubmit.disabled = true;
  try {
    const updated = await call(`/api/appointments/${encodeURIComponent(selected.id)}/reschedule`, {
      method: 'POST',
      body: { start: reschedSlot.start, expert: els.reschedExpert.value },
    });
    returnFocus = null;
    els.reschedDialog.close();
    if (booked?.id === updated.id) {
      booked = updated;
      showConfirmation({ focus: false });
    }
    const notice = () =>
      t('sched.detail.rescheduled', {
        date: formatDate(helsinkiParts(updated.start).date, { long: true }),
        time: formatClock(updated.start),
      });
    // Follow the appointment to its new day.
    await showCalendar({ ...view, date: helsinkiParts(updated.start).date }, { focusTable: false });
    await selectAppointment(updated.id, { notice });
  } catch (err) {
    showApiError(els.reschedError, err);
    els.reschedSubmit.disabled = false;
  }
});

els.detailCancel.addEventListener('click', () => {
  if (!selected) return;
  returnFocus = els.detailCancel;
  setChildren(els.cancelSummary,
    fact(t('sched.fact.service'), serviceName(selected.service)),
    fact(t('sched.fact.time'), `${formatDate(helsinkiParts(selected.start).date, { long: true })} ${formatRange(selected.start, selected.end)}`),
    fact(t('sched.fact.device'), inLanguage(deviceName(selected.device))),
  );
  els.cancelReason.value = '';
  setReasonError('');
  showApiError(els.cancelError, null);
  els.cancelSubmit.disabled = false;
  els.cancelDialog.showModal();
  els.cancelReason.focus();
});

function setReasonError(text) {
  els.cancelReasonError.textContent = text;
  els.cancelReasonError.hidden = !text;
  if (text) els.cancelReason.setAttribute('aria-invalid', 'true');
  else els.cancelReason.removeAttribute('aria-invalid');
}

els.cancelClose.addEventListener('click', () => els.cancelDialog.close());
els.cancelDialog.addEventListener('close', () => {
  if (returnFocus?.isConnected) returnFocus.focus();
  returnFocus = null;
});

els.cancelForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  if (!selected) return;
  const reason = els.cancelReason.value.trim();
  if (!reason) {
    setReasonError(t('sched.cancel.reasonMissing'));
    els.cancelReason.focus();
    return;
  }
  setReasonError('');
  els.cancelSubmit.disabled = true;
  try {
    const updated = await call(`/api/appointments/${encodeURIComponent(selected.id)}/cancel`, {
      method: 'POST',
      body: { reason },
    });
    returnFocus = null;
    els.cancelDialog.close();
    await afterChange(updated, () => t('sched.detail.cancelled'));
  } catch (err) {
    showApiError(els.cancelError, err);
    els.cancelSubmit.disabled = false;
  }
});

els.detailNoShow.addEventListener('click', async () => {
  if (!selected || !window.confirm(t('sched.detail.noShowConfirm'))) return;
  try {
    const updated = await call(`/api/appointments/${encodeURIComponent(selected.id)}/no-show`, { method: 'POST' });
    await afterChange(updated, () => t('sched.detail.markedNoShow'));
  } catch (err) {
    showApiError(els.error, err);
  }
});

/** After a cancel or no-show: the grid without it, its details with the new status, the outcome said. */
async function afterChange(updated, notice) {
  selected = updated;
  if (booked?.id === updated.id) {
    // The confirmation was of a booking that is no more.
    booked = null;
    els.confirmation.hidden = true;
  }
  await showCalendar({ ...view }, { focusTable: false });
  renderDetail();
  setNotice(notice);
  const heading = $('detail-title');
  heading.setAttribute('tabindex', '-1');
  heading.focus();
}

// ---- language and start -------------------------------------------------------------------------------------------

initI18n({ switcher: $('lang-switcher') });
onLanguageChange(() => {
  document.title = t('sched.docTitle');
  renderUser();
  if (!me || !catalog.rooms.length) return;
  renderSearchOptions();
  renderCalendarOptions();
  if (view.loaded) els.calendarForm.elements.kind.value = view.kind;
  renderResults();
  showConfirmation({ focus: false });
  renderCalendar();
  renderDetail();
  if (shownNotice) els.detailNotice.textContent = shownNotice();
  if (resched) {
    els.reschedSummary.textContent = reschedSummaryText(resched.reply);
    setChildren(els.reschedList, ...slotDays(resched.reply.slots, 'resched-slot', 'h5'));
  }
});
document.title = t('sched.docTitle');

const saved = savedLogin(SESSION_KEY);
if (saved) {
  signedIn(saved);
} else {
  showView('login');
  els.username.focus();
}
