// Väylä — the reports page: an admin (or a service point's advisor, for their own point) chooses a year, a
// quarter or month, a service point and an agency, and sees the figures of GET /api/reports/summary as tables
// with simple bar charts, the billing per agency and task, and the interpreters' records; each as a CSV
// download. The charts are inline SVG with a text alternative; the tables beside them carry the same figures.

import { api, apiFetch } from './api.js';
import { h } from './dom.js';
import { getLocale, initI18n, onLanguageChange, registerStrings, t } from './i18n.js';

registerStrings({
  fi: {
    'admin.docTitle': 'Raportit – Väylä',
    'admin.title': 'Raportit',
    'admin.logout': 'Kirjaudu ulos',
    'admin.login.title': 'Kirjaudu sisään',
    'admin.login.intro': 'Raportit näkyvät ylläpitäjille ja palveluneuvojille oman palvelupisteensä osalta.',
    'admin.login.username': 'Käyttäjätunnus',
    'admin.login.password': 'Salasana',
    'admin.login.submit': 'Kirjaudu',
    'admin.login.failed': 'Kirjautuminen ei onnistunut: tarkista käyttäjätunnus ja salasana.',
    'admin.login.role': 'Raportit ovat ylläpitäjille ja palveluneuvojille.',
    'admin.filter.title': 'Valitse raportti',
    'admin.filter.year': 'Vuosi',
    'admin.filter.span': 'Jakso',
    'admin.filter.wholeYear': 'Koko vuosi',
    'admin.filter.quarter': '{n}. neljännes',
    'admin.filter.servicePoint': 'Palvelupiste',
    'admin.filter.agency': 'Virasto',
    'admin.filter.all': 'Kaikki',
    'admin.filter.show': 'Näytä raportti',
    'admin.loading': 'Haetaan raporttia…',
    'admin.loaded': 'Raportti {period} näytetään.',
    'admin.failed': 'Raportin haku ei onnistunut ({code}).',
    'admin.csv': 'Lataa CSV',
    'admin.none': 'ei vielä',
    'admin.noAgency': '(ei virastoa)',
    'admin.sessions.title': 'Istunnot',
    'admin.sessions.total': 'Istuntoja jaksolla',
    'admin.sessions.ytd': 'Istuntoja vuoden alusta ({range})',
    'admin.sessions.byMonth': 'Istunnot palvelupisteittäin, virastoittain ja kuukausittain',
    'admin.sessions.byYear': 'Istunnot vuoden alusta ({range})',
    'admin.col.servicePoint': 'Palvelupiste',
    'admin.col.agency': 'Virasto',
    'admin.col.month': 'Kuukausi',
    'admin.col.sessions': 'Istuntoja',
    'admin.col.measure': 'Mittari',
    'admin.col.value': 'Arvo',
    'admin.col.count': 'Lukumäärä',
    'admin.col.mean': 'Keskiarvo (min)',
    'admin.col.median': 'Mediaani (min)',
    'admin.col.p90': '90 % (min)',
    'admin.col.task': 'Tehtävä',
    'admin.col.unitPrice': 'Yksikköhinta (€)',
    'admin.col.total': 'Yhteensä (€)',
    'admin.col.interpreter': 'Tulkki',
    'admin.col.provider': 'Palveluntuottaja',
    'admin.col.stays': 'Käyntejä',
    'admin.col.duration': 'Aika huoneissa (min)',
    'admin.col.preparations': 'Valmisteluja',
    'admin.kinds.title': 'Ajanvaraukset ja ilman ajanvarausta',
    'admin.kinds.appointment': 'Ajanvarauksella',
    'admin.kinds.queued_walk_in': 'Jonosta ilman ajanvarausta',
    'admin.kinds.direct_walk_in': 'Suoraan ilman ajanvarausta',
    'admin.slots.title': 'Istunnot kellonajan mukaan',
    'admin.slots.other': 'muu aika',
    'admin.times.title': 'Kestot ja odotusajat',
    'admin.times.duration': 'Istunnon kesto',
    'admin.times.waiting': 'Odotusaika (jono)',
    'admin.appointments.title': 'Ajanvaraukset ja poisjäännit',
    'admin.appointments.total': 'Varauksia jaksolla',
    'admin.appointments.completed': 'Toteutuneet',
    'admin.appointments.no_show': 'Poisjäännit',
    'admin.appointments.cancelled': 'Perutut',
    'admin.appointments.booked': 'Tulevat',
    'admin.interpreting.title': 'Tulkkaus',
    'admin.interpreting.sessions': 'Tulkattuja istuntoja',
    'admin.interpreting.minutes': 'Tulkkien aika huoneissa (min)',
    'admin.interpreting.appointments': 'Tulkattuja ajanvarauksia',
    'admin.feedback.title': 'Asiakaspalaute',
    'admin.feedback.answers': 'Vastauksia',
    'admin.feedback.mean': 'Arvosanojen keskiarvo (1–5)',
    'admin.feedback.ratings': 'Arvosanat',
    'admin.feedback.rating': 'Arvosana {n}',
    'admin.feedback.outcome': 'Saiko asiansa hoidettua',
    'admin.feedback.done': 'Hoitui',
    'admin.feedback.initiated': 'Vireille',
    'admin.feedback.neither': 'Ei kumpaakaan',
    'admin.billing.title': 'Laskutus virastoittain',
    'admin.billing.quarterOnly': 'Laskutus lasketaan neljännesvuosittain: valitse neljännes.',
    'admin.billing.session_booking': 'Etäasioinnin ajanvaraus',
    'admin.billing.connection_opening': 'Etäyhteyden avaaminen',
    'admin.billing.interpretation_preparation': 'Tulkkauksen valmistelu',
    'admin.interpreters.title': 'Tulkkien kirjaukset laskutukseen',
    'admin.chart': 'Pylväskaavio: {items}',
  },
  sv: {
    'admin.docTitle': 'Rapporter – Väylä',
    'admin.title': 'Rapporter',
    'admin.logout': 'Logga ut',
    'admin.login.title': 'Logga in',
    'admin.login.intro': 'Rapporterna visas för administratörer och för servicerådgivare för det egna servicestället.',
    'admin.login.username': 'Användarnamn',
    'admin.login.password': 'Lösenord',
    'admin.login.submit': 'Logga in',
    'admin.login.failed': 'Inloggningen misslyckades: kontrollera användarnamn och lösenord.',
    'admin.login.role': 'Rapporterna är för administratörer och servicerådgivare.',
    'admin.filter.title': 'Välj rapport',
    'admin.filter.year': 'År',
    'admin.filter.span': 'Period',
    'admin.filter.wholeYear': 'Hela året',
    'admin.filter.quarter': 'Kvartal {n}',
    'admin.filter.servicePoint': 'Serviceställe',
    'admin.filter.agency': 'Myndighet',
    'admin.filter.all': 'Alla',
    'admin.filter.show': 'Visa rapporten',
    'admin.loading': 'Hämtar rapporten…',
    'admin.loaded': 'Rapporten {period} visas.',
    'admin.failed': 'Rapporten kunde inte hämtas ({code}).',
    'admin.csv': 'Ladda ner CSV',
    'admin.none': 'inte ännu',
    'admin.noAgency': '(ingen myndighet)',
    'admin.sessions.title': 'Sessioner',
    'admin.sessions.total': 'Sessioner under perioden',
    'admin.sessions.ytd': 'Sessioner sedan årets början ({range})',
    'admin.sessions.byMonth': 'Sessioner per serviceställe, myndighet och månad',
    'admin.sessions.byYear': 'Sessioner sedan årets början ({range})',
    'admin.col.servicePoint': 'Serviceställe',
    'admin.col.agency': 'Myndighet',
    'admin.col.month': 'Månad',
    'admin.col.sessions': 'Sessioner',
    'admin.col.measure': 'Mått',
    'admin.col.value': 'Värde',
    'admin.col.count': 'Antal',
    'admin.col.mean': 'Medelvärde (min)',
    'admin.col.median': 'Median (min)',
    'admin.col.p90': '90 % (min)',
    'admin.col.task': 'Uppgift',
    'admin.col.unitPrice': 'Styckpris (€)',
    'admin.col.total': 'Totalt (€)',
    'admin.col.interpreter': 'Tolk',
    'admin.col.provider': 'Tjänsteleverantör',
    'admin.col.stays': 'Besök',
    'admin.col.duration': 'Tid i rum (min)',
    'admin.col.preparations': 'Förberedelser',
    'admin.kinds.title': 'Med och utan tidsbokning',
    'admin.kinds.appointment': 'Med tidsbokning',
    'admin.kinds.queued_walk_in': 'Från kön utan tidsbokning',
    'admin.kinds.direct_walk_in': 'Direkt utan tidsbokning',
    'admin.slots.title': 'Sessioner efter tid på dagen',
    'admin.slots.other': 'annan tid',
    'admin.times.title': 'Längd och väntetider',
    'admin.times.duration': 'Sessionens längd',
    'admin.times.waiting': 'Väntetid (kö)',
    'admin.appointments.title': 'Tidsbokningar och uteblivna besök',
    'admin.appointments.total': 'Bokningar under perioden',
    'admin.appointments.completed': 'Genomförda',
    'admin.appointments.no_show': 'Uteblivna',
    'admin.appointments.cancelled': 'Avbokade',
    'admin.appointments.booked': 'Kommande',
    'admin.interpreting.title': 'Tolkning',
    'admin.interpreting.sessions': 'Tolkade sessioner',
    'admin.interpreting.minutes': 'Tolkarnas tid i rum (min)',
    'admin.interpreting.appointments': 'Tolkade tidsbokningar',
    'admin.feedback.title': 'Kundrespons',
    'admin.feedback.answers': 'Svar',
    'admin.feedback.mean': 'Medelbetyg (1–5)',
    'admin.feedback.ratings': 'Betyg',
    'admin.feedback.rating': 'Betyg {n}',
    'admin.feedback.outcome': 'Fick ärendet uträttat',
    'admin.feedback.done': 'Uträttat',
    'admin.feedback.initiated': 'Anhängiggjort',
    'admin.feedback.neither': 'Ingetdera',
    'admin.billing.title': 'Fakturering per myndighet',
    'admin.billing.quarterOnly': 'Faktureringen räknas per kvartal: välj ett kvartal.',
    'admin.billing.session_booking': 'Tidsbokning för distansservice',
    'admin.billing.connection_opening': 'Öppnande av distansförbindelse',
    'admin.billing.interpretation_preparation': 'Förberedelse av tolkning',
    'admin.interpreters.title': 'Tolkarnas uppgifter för fakturering',
    'admin.chart': 'Stapeldiagram: {items}',
  },
  en: {
    'admin.docTitle': 'Reports – Väylä',
    'admin.title': 'Reports',
    'admin.logout': 'Sign out',
    'admin.login.title': 'Sign in',
    'admin.login.intro': 'Reports are for administrators, and for service advisors about their own service point.',
    'admin.login.username': 'User name',
    'admin.login.password': 'Password',
    'admin.login.submit': 'Sign in',
    'admin.login.failed': 'Sign-in failed: check the user name and password.',
    'admin.login.role': 'Reports are for administrators and service advisors.',
    'admin.filter.title': 'Choose a report',
    'admin.filter.year': 'Year',
    'admin.filter.span': 'Period',
    'admin.filter.wholeYear': 'Whole year',
    'admin.filter.quarter': 'Quarter {n}',
    'admin.filter.servicePoint': 'Service point',
    'admin.filter.agency': 'Agency',
    'admin.filter.all': 'All',
    'admin.filter.show': 'Show the report',
    'admin.loading': 'Loading the report…',
    'admin.loaded': 'Showing the report for {period}.',
    'admin.failed': 'The report could not be loaded ({code}).',
    'admin.csv': 'Download CSV',
    'admin.none': 'not yet',
    'admin.noAgency': '(no agency)',
    'admin.sessions.title': 'Sessions',
    'admin.sessions.total': 'Sessions in the period',
    'admin.sessions.ytd': 'Sessions, year to date ({range})',
    'admin.sessions.byMonth': 'Sessions per service point, agency and month',
    'admin.sessions.byYear': 'Sessions, year to date ({range})',
    'admin.col.servicePoint': 'Service point',
    'admin.col.agency': 'Agency',
    'admin.col.month': 'Month',
    'admin.col.sessions': 'Sessions',
    'admin.col.measure': 'Measure',
    'admin.col.value': 'Value',
    'admin.col.count': 'Count',
    'admin.col.mean': 'Mean (min)',
    'admin.col.median': 'Median (min)',
    'admin.col.p90': '90th percentile (min)',
    'admin.col.task': 'Task',
    'admin.col.unitPrice': 'Unit price (€)',
    'admin.col.total': 'Total (€)',
    'admin.col.interpreter': 'Interpreter',
    'admin.col.provider': 'Provider',
    'admin.col.stays': 'Stays',
    'admin.col.duration': 'Time in rooms (min)',
    'admin.col.preparations': 'Preparations',
    'admin.kinds.title': 'Appointments and walk-ins',
    'admin.kinds.appointment': 'By appointment',
    'admin.kinds.queued_walk_in': 'Walk-in from the queue',
    'admin.kinds.direct_walk_in': 'Walk-in, opened directly',
    'admin.slots.title': 'Sessions by time of day',
    'admin.slots.other': 'other times',
    'admin.times.title': 'Durations and waiting times',
    'admin.times.duration': 'Session duration',
    'admin.times.waiting': 'Waiting time (queue)',
    'admin.appointments.title': 'Appointments and no-shows',
    'admin.appointments.total': 'Appointments in the period',
    'admin.appointments.completed': 'Completed',
    'admin.appointments.no_show': 'No-shows',
    'admin.appointments.cancelled': 'Cancelled',
    'admin.appointments.booked': 'Upcoming',
    'admin.interpreting.title': 'Interpreting',
    'admin.interpreting.sessions': 'Interpreted sessions',
    'admin.interpreting.minutes': "Interpreters' time in rooms (min)",
    'admin.interpreting.appointments': 'Interpreted appointments',
    'admin.feedback.title': 'Customer feedback',
    'admin.feedback.answers': 'Answers',
    'admin.feedback.mean': 'Mean rating (1–5)',
    'admin.feedback.ratings': 'Ratings',
    'admin.feedback.rating': 'Rating {n}',
    'admin.feedback.outcome': 'Got the matter taken care of',
    'admin.feedback.done': 'Done',
    'admin.feedback.initiated': 'Initiated',
    'admin.feedback.neither': 'Neither',
    'admin.billing.title': 'Billing per agency',
    'admin.billing.quarterOnly': 'Billing is per quarter: choose a quarter.',
    'admin.billing.session_booking': 'Remote-session booking',
    'admin.billing.connection_opening': 'Opening the remote connection',
    'admin.billing.interpretation_preparation': 'Preparing interpretation',
    'admin.interpreters.title': "Interpreters' records for invoicing",
    'admin.chart': 'Bar chart: {items}',
  },
});

const $ = (id) => document.getElementById(id);
const els = {
  error: $('error'),
  loginView: $('login-view'),
  loginForm: $('login-form'),
  appView: $('app-view'),
  userLine: $('user-line'),
  userName: $('user-name'),
  filter: $('filter-form'),
  year: $('year'),
  span: $('span'),
  servicePoint: $('service-point'),
  agency: $('agency'),
  status: $('status'),
  report: $('report'),
};

let login = null; // the login reply
let servicePoints = []; // [{ id, name }]
let agencies = []; // [{ id, name }]
let shown = null; // { params, summary, billing, interpreters }

function showError(text) {
  els.error.textContent = text;
  els.error.hidden = !text;
}

// ---- sign in ---------------------------------------------------------------------------------------------------

els.loginForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  const username = $('username').value.trim();
  const password = $('password').value;
  try {
    const reply = await api.login(username, password);
    if (!['admin', 'advisor'].includes(reply.role)) {
      showError(t('admin.login.role'));
      return;
    }
    login = reply;
    showError('');
    $('password').value = '';
    els.loginView.hidden = true;
    els.appView.hidden = false;
    els.userLine.hidden = false;
    els.userName.textContent = reply.display_name;
    await loadChoices();
    els.year.value = String(new Date().getFullYear());
    fillFilters();
    $('filter-title').setAttribute('tabindex', '-1');
    $('filter-title').focus();
  } catch (err) {
    showError(err.status === 401 ? t('admin.login.failed') : t('admin.failed', { code: err.code }));
  }
});

$('logout-button').addEventListener('click', () => {
  login = null;
  shown = null;
  els.report.replaceChildren();
  els.appView.hidden = true;
  els.userLine.hidden = true;
  els.loginView.hidden = false;
  $('username').focus();
});

async function loadChoices() {
  const rooms = await api.rooms(login.access_token).catch(() => []);
  const byId = new Map(rooms.map((r) => [r.service_point, r.service_point_name]));
  servicePoints = [...byId].map(([id, name]) => ({ id, name })).sort((a, b) => a.name.localeCompare(b.name));
  if (login.role === 'advisor') servicePoints = servicePoints.filter((s) => s.id === login.service_point);
  const list = await apiFetch('/api/calendar/agencies', { token: login.access_token }).catch(() => []);
  agencies = list.map((a) => ({ id: a.id, name: a.name })).sort((a, b) => a.name.localeCompare(b.name));
}

function fillFilters() {
  const span = els.span.value || 'year';
  const monthName = (m) => new Intl.DateTimeFormat(getLocale(), { month: 'long' }).format(new Date(2026, m - 1, 1));
  els.span.replaceChildren(
    h('option', { value: 'year' }, t('admin.filter.wholeYear')),
    ...[1, 2, 3, 4].map((n) => h('option', { value: `q${n}` }, t('admin.filter.quarter', { n }))),
    ...Array.from({ length: 12 }, (_, i) => h('option', { value: `m${i + 1}` }, monthName(i + 1))),
  );
  els.span.value = span;
  const sp = els.servicePoint.value;
  const all = login?.role === 'advisor' ? [] : [h('option', { value: '' }, t('admin.filter.all'))];
  els.servicePoint.replaceChildren(...all, ...servicePoints.map((s) => h('option', { value: s.id }, s.name)));
  if (sp) els.servicePoint.value = sp;
  const ag = els.agency.value;
  els.agency.replaceChildren(
    h('option', { value: '' }, t('admin.filter.all')),
    ...agencies.map((a) => h('option', { value: a.id }, a.name)),
  );
  els.agency.value = ag;
}

// ---- loading ---------------------------------------------------------------------------------------------------

function query() {
  const p = new URLSearchParams({ year: els.year.value.trim() });
  const span = els.span.value;
  if (span.startsWith('q')) p.set('quarter', span.slice(1));
  if (span.startsWith('m')) p.set('month', span.slice(1));
  if (els.servicePoint.value) p.set('service_point', els.servicePoint.value);
  if (els.agency.value) p.set('agency', els.agency.value);
  return p;
}

els.filter.addEventListener('submit', async (e) => {
  e.preventDefault();
  const params = query();
  els.status.textContent = t('admin.loading');
  showError('');
  try {
    const token = login.access_token;
    const summary = await apiFetch(`/api/reports/summary?${params}`, { token });
    const period = new URLSearchParams(params);
    period.delete('service_point');
    period.delete('agency');
    let billing = null;
    let interpreters = null;
    if (login.role === 'admin') {
      if (period.has('quarter')) billing = await apiFetch(`/api/reports/billing?${period}`, { token });
      interpreters = await apiFetch(`/api/reports/interpreters?${period}`, { token });
    }
    shown = { params, period, summary, billing, interpreters };
    render();
    els.status.textContent = t('admin.loaded', { period: summary.period.label });
  } catch (err) {
    els.status.textContent = '';
    showError(t('admin.failed', { code: err.code }));
  }
});

/** Fetch a CSV with the access token and hand it to the browser as a download. */
async function download(path, params, fallbackName) {
  try {
    const response = await fetch(`${path}?${params}`, { headers: { Authorization: `Bearer ${login.access_token}` } });
    if (!response.ok) throw Object.assign(new Error(response.statusText), { code: `http_${response.status}` });
    const name = /filename="([^"]+)"/.exec(response.headers.get('content-disposition') ?? '')?.[1] ?? fallbackName;
    const url = URL.createObjectURL(await response.blob());
    const a = h('a', { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (err) {
    showError(t('admin.failed', { code: err.code ?? 'network' }));
  }
}

// ---- rendering -------------------------------------------------------------------------------------------------

const nf = (digits = 0) => new Intl.NumberFormat(getLocale(), { minimumFractionDigits: digits, maximumFractionDigits: digits });
const int = (n) => nf(0).format(n);
const minutes = (s) => (s === null || s === undefined ? t('admin.none') : nf(1).format(s / 60));
const spName = (id) => (id ? (servicePoints.find((s) => s.id === id)?.name ?? id) : '–');
const agName = (id) => (id ? (agencies.find((a) => a.id === id)?.name ?? id) : t('admin.noAgency'));

function table(caption, head, rows, numeric = []) {
  return h(
    'div',
    { class: 'admin-table-scroll' },
    h(
      'table',
      { class: 'admin-table' },
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, head.map((c, i) => h('th', { scope: 'col', class: numeric.includes(i) ? 'num' : null }, c)))),
      h(
        'tbody',
        {},
        rows.map((r) =>
          h('tr', {}, r.map((c, i) => (i === 0 ? h('th', { scope: 'row' }, c) : h('td', { class: numeric.includes(i) ? 'num' : null }, c)))),
        ),
      ),
    ),
  );
}

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/** A horizontal bar chart; its text alternative names every bar and value (the table beside it has them too). */
function barChart(items) {
  const rowH = 28;
  const labelW = 170;
  const width = 460;
  const max = Math.max(1, ...items.map((i) => i.value));
  const chart = svg('svg', {
    viewBox: `0 0 ${width} ${items.length * rowH + 8}`,
    role: 'img',
    'aria-label': t('admin.chart', { items: items.map((i) => `${i.label} ${int(i.value)}`).join(', ') }),
  });
  items.forEach((item, i) => {
    const y = 4 + i * rowH;
    const w = Math.round(((width - labelW - 50) * item.value) / max);
    chart.append(
      svg('text', { x: 0, y: y + 18 }, item.label),
      svg('rect', { class: 'bar', x: labelW, y: y + 4, width: Math.max(w, item.value ? 2 : 0), height: rowH - 10, rx: 3 }),
      svg('text', { x: labelW + w + 6, y: y + 18 }, int(item.value)),
    );
  });
  return h('figure', { class: 'admin-chart' }, chart);
}

function section(id, title, ...children) {
  return h('section', { class: 'panel admin-section', id, 'aria-labelledby': `${id}-title` }, h('h2', { id: `${id}-title` }, title), ...children);
}

function csvButton(id, path, params, name) {
  const b = h('button', { type: 'button', class: 'button button--small', id }, t('admin.csv'));
  b.addEventListener('click', () => download(path, params, name));
  return b;
}

function render() {
  if (!shown) return;
  const { summary: r, billing, interpreters, params, period } = shown;
  const s = r.sessions;
  const ytd = r.period.year_to_date;
  const parts = [];

  parts.push(
    section(
      'sessions',
      t('admin.sessions.title'),
      h('div', { class: 'admin-section__head' }, h('p', {}, `${t('admin.sessions.total')}: `, h('strong', { id: 'sessions-total' }, int(s.total)), ` · ${t('admin.sessions.ytd', { range: ytd })}: `, h('strong', {}, int(s.year_to_date_total))), csvButton('summary-csv', '/api/reports/summary.csv', params, 'vayla-report.csv')),
      table(
        t('admin.sessions.byMonth'),
        [t('admin.col.servicePoint'), t('admin.col.agency'), t('admin.col.month'), t('admin.col.sessions')],
        s.by_month.map((x) => [spName(x.service_point), agName(x.agency), x.month, int(x.sessions)]),
        [3],
      ),
      table(
        t('admin.sessions.byYear', { range: ytd }),
        [t('admin.col.servicePoint'), t('admin.col.agency'), t('admin.col.sessions')],
        s.year_to_date.map((x) => [spName(x.service_point), agName(x.agency), int(x.sessions)]),
        [2],
      ),
    ),
  );

  const kinds = ['appointment', 'queued_walk_in', 'direct_walk_in'].map((k) => ({ label: t(`admin.kinds.${k}`), value: r.kinds[k] }));
  const slots = r.time_of_day.map((x) => ({ label: x.slot === 'other' ? t('admin.slots.other') : x.slot.replace('-', '–'), value: x.sessions }));
  parts.push(
    section(
      'kinds',
      t('admin.kinds.title'),
      h('div', { class: 'admin-charts' }, barChart(kinds), table(t('admin.kinds.title'), [t('admin.col.measure'), t('admin.col.sessions')], kinds.map((k) => [k.label, int(k.value)]), [1])),
    ),
    section(
      'slots',
      t('admin.slots.title'),
      h('div', { class: 'admin-charts' }, barChart(slots), table(t('admin.slots.title'), [t('admin.col.measure'), t('admin.col.sessions')], slots.map((k) => [k.label, int(k.value)]), [1])),
    ),
  );

  const stat = (label, d) => [label, int(d.count), minutes(d.mean_s), minutes(d.median_s), minutes(d.p90_s)];
  parts.push(
    section(
      'times',
      t('admin.times.title'),
      table(
        t('admin.times.title'),
        [t('admin.col.measure'), t('admin.col.count'), t('admin.col.mean'), t('admin.col.median'), t('admin.col.p90')],
        [stat(t('admin.times.duration'), r.duration), stat(t('admin.times.waiting'), r.waiting.time)],
        [1, 2, 3, 4],
      ),
    ),
  );

  const a = r.appointments;
  const i = r.interpreting;
  parts.push(
    section(
      'appointments',
      t('admin.appointments.title'),
      table(
        t('admin.appointments.title'),
        [t('admin.col.measure'), t('admin.col.value')],
        ['total', 'completed', 'no_show', 'cancelled', 'booked'].map((k) => [t(`admin.appointments.${k}`), int(a[k])]),
        [1],
      ),
    ),
    section(
      'interpreting',
      t('admin.interpreting.title'),
      table(
        t('admin.interpreting.title'),
        [t('admin.col.measure'), t('admin.col.value')],
        [
          [t('admin.interpreting.sessions'), int(i.sessions)],
          [t('admin.interpreting.minutes'), nf(1).format(i.minutes)],
          [t('admin.interpreting.appointments'), int(i.appointments)],
        ],
        [1],
      ),
    ),
  );

  const f = r.feedback;
  const ratings = f.ratings.map((n, k) => ({ label: t('admin.feedback.rating', { n: k + 1 }), value: n }));
  const outcomes = ['done', 'initiated', 'neither'].map((k) => ({ label: t(`admin.feedback.${k}`), value: f[k] }));
  parts.push(
    section(
      'feedback',
      t('admin.feedback.title'),
      h('p', {}, `${t('admin.feedback.answers')}: `, h('strong', { id: 'feedback-answers' }, int(f.answers)), ` · ${t('admin.feedback.mean')}: `, h('strong', { id: 'feedback-mean' }, f.mean_rating === null ? t('admin.none') : nf(2).format(f.mean_rating))),
      h(
        'div',
        { class: 'admin-charts' },
        barChart(ratings),
        table(t('admin.feedback.ratings'), [t('admin.col.measure'), t('admin.col.count')], ratings.map((x) => [x.label, int(x.value)]), [1]),
        barChart(outcomes),
        table(t('admin.feedback.outcome'), [t('admin.col.measure'), t('admin.col.count')], outcomes.map((x) => [x.label, int(x.value)]), [1]),
      ),
    ),
  );

  if (interpreters) {
    const money = (x) => nf(2).format(Number(x));
    parts.push(
      billing
        ? section(
            'billing',
            t('admin.billing.title'),
            h('div', { class: 'admin-section__head' }, h('span'), csvButton('billing-csv', '/api/reports/billing.csv', period, 'vayla-billing.csv')),
            table(
              t('admin.billing.title'),
              [t('admin.col.agency'), t('admin.col.task'), t('admin.col.count'), t('admin.col.unitPrice'), t('admin.col.total')],
              billing.map((b) => [agName(b.agency), t(`admin.billing.${b.task}`), int(b.count), money(b.unit_price), money(b.total)]),
              [2, 3, 4],
            ),
          )
        : section('billing', t('admin.billing.title'), h('p', {}, t('admin.billing.quarterOnly'))),
      section(
        'interpreters',
        t('admin.interpreters.title'),
        h('div', { class: 'admin-section__head' }, h('span'), csvButton('interpreters-csv', '/api/reports/interpreters.csv', period, 'vayla-interpreters.csv')),
        table(
          t('admin.interpreters.title'),
          [t('admin.col.interpreter'), t('admin.col.provider'), t('admin.col.stays'), t('admin.col.duration'), t('admin.col.preparations')],
          interpreters.totals.map((x) => [x.interpreter, x.provider ?? '–', int(x.stays), nf(1).format(x.duration_s / 60), int(x.preparations)]),
          [2, 3, 4],
        ),
      ),
    );
  }
  els.report.replaceChildren(...parts);
}

// ---- language --------------------------------------------------------------------------------------------------

initI18n({ switcher: $('lang-switcher') });
onLanguageChange(() => {
  document.title = t('admin.docTitle');
  if (login) fillFilters();
  render();
});
document.title = t('admin.docTitle');
$('username').focus();
