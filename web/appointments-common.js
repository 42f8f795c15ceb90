// Väylä — what the appointment pages share (scheduler.html and the expert page's "my appointments today"):
// Helsinki wall-time formatting, language and modality names, appointment statuses, and the API's error codes
// (docs/appointments.md) in words.
//
// The API speaks instants as ISO 8601 UTC (`2026-06-02T07:00:00Z`) and dates as Helsinki local `YYYY-MM-DD`.
// Everything is shown in Helsinki time whatever the browser's own time zone is: the service points are in Finland.

import { h } from './dom.js';
import { getLanguage, getLocale, registerStrings, t } from './i18n.js';

export const TIME_ZONE = 'Europe/Helsinki';

registerStrings({
  fi: {
    'appt.status.booked': 'Varattu',
    'appt.status.cancelled': 'Peruttu',
    'appt.status.no_show': 'Asiakas ei saapunut',
    'appt.status.completed': 'Päättynyt',
    'appt.modality.remote': 'Etätulkkaus',
    'appt.modality.remote_video': 'Etätulkkaus videolla',
    'appt.modality.phone': 'Puhelintulkkaus',
    'appt.modality.on_site': 'Tulkki paikan päällä',
    'appt.lang.fse': 'suomalainen viittomakieli',
    'appt.lang.fss': 'suomenruotsalainen viittomakieli',
    'appt.interpreterNeed': '{language}, {modality}',
    'appt.timeRange': '{start}–{end}',
    'appt.err.detail': 'Palvelimen selitys',
    'appt.err.network': 'Palvelimeen ei saatu yhteyttä. Tarkista verkkoyhteys ja yritä uudelleen.',
    'appt.err.auth': 'Kirjautumisesi on vanhentunut. Kirjaudu uudelleen.',
    'appt.err.forbidden': 'Sinulla ei ole oikeutta tähän toimintoon.',
    'appt.err.slot_taken': 'Aika ehdittiin juuri varata toiselle. Hae vapaat ajat uudelleen.',
    'appt.err.slot_unavailable': 'Aikaa ei voi varata.',
    'appt.err.slot_unavailable.too_soon': 'Aika on liian pian: palvelu on varattava aikaisemmin.',
    'appt.err.slot_unavailable.beyond_horizon': 'Aika on liian kaukana tulevaisuudessa.',
    'appt.err.slot_unavailable.holiday': 'Aika osuu yleiselle vapaapäivälle.',
    'appt.err.slot_unavailable.outside_windows': 'Aika ei ole viraston vastaanottoaikana.',
    'appt.err.slot_unavailable.outside_days': 'Aika ei ole haettujen päivien sisällä.',
    'appt.err.slot_unavailable.unavailable': 'Laite tai asiantuntija ei ole silloin käytettävissä.',
    'appt.err.appointment_closed': 'Varaus on jo peruttu tai päättynyt.',
    'appt.err.not_started': 'Poissaolon voi merkitä vasta, kun aika on alkanut.',
    'appt.err.unknown_appointment': 'Varausta ei löytynyt.',
    'appt.err.unknown_service': 'Palvelua ei löytynyt.',
    'appt.err.unknown_device': 'Laitetta ei löytynyt.',
    'appt.err.unknown_service_point': 'Palvelupistettä ei löytynyt.',
    'appt.err.unknown_expert': 'Asiantuntijaa ei löytynyt.',
    'appt.err.expert_not_eligible': 'Asiantuntija ei hoida tätä palvelua tällä kielellä.',
    'appt.err.device_change_unsupported': 'Laitetta ei voi vaihtaa siirrossa: peru varaus ja varaa uusi aika.',
    'appt.err.invalid_range': 'Tarkista päivät: loppupäivä ei voi olla ennen alkupäivää, ja haku voi kattaa enintään noin kaksi kuukautta.',
    'appt.err.invalid_time': 'Aika tai päivä on virheellinen.',
    'appt.err.bad_request': 'Pyyntö oli virheellinen.',
    'appt.err.other': 'Toiminto epäonnistui ({code}).',
  },
  sv: {
    'appt.status.booked': 'Bokad',
    'appt.status.cancelled': 'Avbokad',
    'appt.status.no_show': 'Kunden kom inte',
    'appt.status.completed': 'Avslutad',
    'appt.modality.remote': 'Distanstolkning',
    'appt.modality.remote_video': 'Distanstolkning med video',
    'appt.modality.phone': 'Telefontolkning',
    'appt.modality.on_site': 'Tolk på plats',
    'appt.lang.fse': 'finskt teckenspråk',
    'appt.lang.fss': 'finlandssvenskt teckenspråk',
    'appt.interpreterNeed': '{language}, {modality}',
    'appt.timeRange': '{start}–{end}',
    'appt.err.detail': 'Serverns förklaring',
    'appt.err.network': 'Ingen förbindelse till servern. Kontrollera nätverket och försök igen.',
    'appt.err.auth': 'Din inloggning har gått ut. Logga in igen.',
    'appt.err.forbidden': 'Du har inte rätt till den här åtgärden.',
    'appt.err.slot_taken': 'Tiden bokades nyss av någon annan. Sök lediga tider igen.',
    'appt.err.slot_unavailable': 'Tiden kan inte bokas.',
    'appt.err.slot_unavailable.too_soon': 'Tiden är för snart: tjänsten måste bokas tidigare.',
    'appt.err.slot_unavailable.beyond_horizon': 'Tiden ligger för långt fram i tiden.',
    'appt.err.slot_unavailable.holiday': 'Tiden infaller på en allmän helgdag.',
    'appt.err.slot_unavailable.outside_windows': 'Tiden ligger utanför myndighetens mottagningstider.',
    'appt.err.slot_unavailable.outside_days': 'Tiden ligger utanför de sökta dagarna.',
    'appt.err.slot_unavailable.unavailable': 'Enheten eller experten är inte tillgänglig då.',
    'appt.err.appointment_closed': 'Bokningen är redan avbokad eller avslutad.',
    'appt.err.not_started': 'Uteblivet besök kan markeras först när tiden har börjat.',
    'appt.err.unknown_appointment': 'Bokningen hittades inte.',
    'appt.err.unknown_service': 'Tjänsten hittades inte.',
    'appt.err.unknown_device': 'Enheten hittades inte.',
    'appt.err.unknown_service_point': 'Servicestället hittades inte.',
    'appt.err.unknown_expert': 'Experten hittades inte.',
    'appt.err.expert_not_eligible': 'Experten sköter inte den här tjänsten på det här språket.',
    'appt.err.device_change_unsupported': 'Enheten kan inte bytas vid flyttning: avboka och boka en ny tid.',
    'appt.err.invalid_range': 'Kontrollera datumen: slutdatumet kan inte vara före startdatumet, och sökningen kan gälla högst cirka två månader.',
    'appt.err.invalid_time': 'Tiden eller datumet är felaktigt.',
    'appt.err.bad_request': 'Begäran var felaktig.',
    'appt.err.other': 'Åtgärden misslyckades ({code}).',
  },
  en: {
    'appt.status.booked': 'Booked',
    'appt.status.cancelled': 'Cancelled',
    'appt.status.no_show': 'Customer did not come',
    'appt.status.completed': 'Completed',
    'appt.modality.remote': 'Remote interpreting',
    'appt.modality.remote_video': 'Remote interpreting by video',
    'appt.modality.phone': 'Phone interpreting',
    'appt.modality.on_site': 'Interpreter on site',
    'appt.lang.fse': 'Finnish Sign Language',
    'appt.lang.fss': 'Finland-Swedish Sign Language',
    'appt.interpreterNeed': '{language}, {modality}',
    'appt.timeRange': '{start}–{end}',
    'appt.err.detail': "The server's explanation",
    'appt.err.network': 'Could not reach the server. Check the network connection and try again.',
    'appt.err.auth': 'Your sign-in has expired. Please sign in again.',
    'appt.err.forbidden': 'You may not do this.',
    'appt.err.slot_taken': 'The time was just booked by someone else. Search for free times again.',
    'appt.err.slot_unavailable': 'The time cannot be booked.',
    'appt.err.slot_unavailable.too_soon': 'The time is too soon: this service must be booked earlier.',
    'appt.err.slot_unavailable.beyond_horizon': 'The time is too far ahead.',
    'appt.err.slot_unavailable.holiday': 'The time falls on a public holiday.',
    'appt.err.slot_unavailable.outside_windows': "The time is outside the agency's appointment windows.",
    'appt.err.slot_unavailable.outside_days': 'The time is outside the days searched.',
    'appt.err.slot_unavailable.unavailable': 'The device or the expert is not available then.',
    'appt.err.appointment_closed': 'The appointment has already been cancelled or closed.',
    'appt.err.not_started': 'A no-show can be marked only once the appointment has started.',
    'appt.err.unknown_appointment': 'The appointment was not found.',
    'appt.err.unknown_service': 'The service was not found.',
    'appt.err.unknown_device': 'The device was not found.',
    'appt.err.unknown_service_point': 'The service point was not found.',
    'appt.err.unknown_expert': 'The expert was not found.',
    'appt.err.expert_not_eligible': 'The expert does not handle this service in this language.',
    'appt.err.device_change_unsupported': 'The device cannot change in a reschedule: cancel and book a new time.',
    'appt.err.invalid_range': 'Check the dates: the last day cannot be before the first, and a search covers about two months at most.',
    'appt.err.invalid_time': 'The time or date is not valid.',
    'appt.err.bad_request': 'The request was not valid.',
    'appt.err.other': 'The action failed ({code}).',
  },
});

// ---- Helsinki dates and times ----------------------------------------------------------------------------------

const partsFormat = new Intl.DateTimeFormat('en-GB', {
  timeZone: TIME_ZONE,
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  hourCycle: 'h23',
});

/** `{ date: 'YYYY-MM-DD', hour, minute }` of an instant (ms or ISO string) in Helsinki. */
export function helsinkiParts(instant) {
  const ms = typeof instant === 'string' ? Date.parse(instant) : instant;
  const p = Object.fromEntries(partsFormat.formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  return { date: `${p.year}-${p.month}-${p.day}`, hour: Number(p.hour) % 24, minute: Number(p.minute) };
}

/** Today's date in Helsinki, `YYYY-MM-DD`. */
export function helsinkiToday(now = Date.now()) {
  return helsinkiParts(now).date;
}

const dateUtc = (key) => {
  const [y, m, d] = key.split('-').map(Number);
  return Date.UTC(y, m - 1, d);
};

/** `addDays('2026-06-01', 6)` → `'2026-06-07'` (calendar arithmetic on local dates, no time zone involved). */
export function addDays(key, n) {
  return new Date(dateUtc(key) + n * 86_400_000).toISOString().slice(0, 10);
}

/** 0 = Monday … 6 = Sunday. */
export function weekdayIndex(key) {
  return (new Date(dateUtc(key)).getUTCDay() + 6) % 7;
}

export function mondayOf(key) {
  return addDays(key, -weekdayIndex(key));
}

/** The ISO week number of a local date. */
export function isoWeek(key) {
  const thursday = addDays(key, 3 - weekdayIndex(key));
  const jan1 = `${thursday.slice(0, 4)}-01-01`;
  return Math.floor((dateUtc(thursday) - dateUtc(jan1)) / (7 * 86_400_000)) + 1;
}

/** A clock time in Helsinki, in the page's language: "09.30" / "09:30". */
export function formatClock(instant) {
  const ms = typeof instant === 'string' ? Date.parse(instant) : instant;
  return new Intl.DateTimeFormat(getLocale(), { timeZone: TIME_ZONE, hour: '2-digit', minute: '2-digit' }).format(ms);
}

/** "09.30–10.00". */
export function formatRange(start, end) {
  return t('appt.timeRange', { start: formatClock(start), end: formatClock(end) });
}

/** A local date in words: `formatDate('2026-06-02')` → "ti 2.6.2026"; `{ long: true }` names the weekday in full. */
export function formatDate(key, { long = false, year = true } = {}) {
  const options = { timeZone: 'UTC', weekday: long ? 'long' : 'short', day: 'numeric', month: 'numeric' };
  if (year) options.year = 'numeric';
  return new Intl.DateTimeFormat(getLocale(), options).format(dateUtc(key));
}

/** An hour of the day as a clock time ("09.00"), for a grid's row headers. */
export function formatHour(hour) {
  return new Intl.DateTimeFormat(getLocale(), { timeZone: 'UTC', hour: '2-digit', minute: '2-digit' }).format(
    Date.UTC(2000, 0, 1, hour),
  );
}

// ---- names -------------------------------------------------------------------------------------------------------

/** A language's name in the page's language ("ruotsi", "svenska", "Swedish"); sign languages from our strings. */
export function languageName(code) {
  if (!code) return '';
  const own = t(`appt.lang.${code}`);
  if (own !== `appt.lang.${code}`) return own;
  try {
    const name = new Intl.DisplayNames([getLocale()], { type: 'language' }).of(code);
    if (name && name !== code) return name;
  } catch {
    /* an unknown tag: show it as it is */
  }
  return code;
}

export function modalityName(modality) {
  const key = `appt.modality.${modality}`;
  const text = t(key);
  return text === key ? modality : text;
}

export function statusLabel(status) {
  const key = `appt.status.${status}`;
  const text = t(key);
  return text === key ? status : text;
}

export function interpreterText(need) {
  if (!need) return '';
  return t('appt.interpreterNeed', { language: languageName(need.language), modality: modalityName(need.modality) });
}

/**
 * Text that the configuration gives in one language (service names are Finnish): a span marked with that
 * language when the page is in another, so that a screen reader pronounces it right.
 */
export function inLanguage(text, lang = 'fi') {
  return getLanguage() === lang ? text : h('span', { lang }, text);
}

// ---- errors ------------------------------------------------------------------------------------------------------

/** The API's error in the page's words: `{ text, detail }` (detail: the server's own English message). */
export function errorWords(err) {
  const code = err?.code ?? 'network';
  let text;
  if (code === 'slot_unavailable') {
    const reason = String(err.message ?? '').split(':')[0].trim();
    const key = `appt.err.slot_unavailable.${reason}`;
    text = t(key) !== key ? t(key) : t('appt.err.slot_unavailable');
  } else {
    const key = `appt.err.${code}`;
    text = t(key) !== key ? t(key) : t('appt.err.other', { code });
  }
  const detail = code === 'network' || !err?.message ? '' : err.message;
  return { text, detail, code };
}

/** Fill `box` (a `role="alert"` element) with an API error, or hide it when `err` is null. */
export function showApiError(box, err) {
  if (!err) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  const { text, detail, code } = errorWords(err);
  box.replaceChildren(
    ...[
    h('p', {}, text),
    detail
      ? h('p', { class: 'small' }, `${t('appt.err.detail')}: `, h('span', { lang: 'en' }, detail), ` (${code})`)
      : null,
    ].filter(Boolean),
  );
  box.hidden = false;
}
