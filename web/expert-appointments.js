// Väylä — the expert page's "My appointments today": the signed-in expert's booked appointments of the day
// (GET /api/me/appointments), each with its time, service, service point and device, the interpreting and the
// customer's needs, and a Join button from the early-join window on (the room opens with the booked seats when
// the expert joins; joining earlier is refused by the room with `too_early`). Join reuses the page's call flow.

import { apiFetch } from './api.js';
import {
  formatClock,
  formatDate,
  formatRange,
  helsinkiToday,
  inLanguage,
  interpreterText,
  languageName,
  showApiError,
  statusLabel,
} from './appointments-common.js';
import { h } from './dom.js';
import { registerStrings, t } from './i18n.js';

/** How long before the start the room lets the booked expert in (the server's default early-join window). */
export const EARLY_JOIN_MS = 10 * 60_000;
/** The list is fetched again this often, and redrawn (the Join buttons follow the clock) more often. */
const RELOAD_MS = 60_000;
const REDRAW_MS = 15_000;

registerStrings({
  fi: {
    'expert.appts.title': 'Omat ajanvaraukset tänään',
    'expert.appts.date': 'Tänään {date}. Ajat Suomen aikaa.',
    'expert.appts.empty': 'Sinulla ei ole tänään ajanvarauksia.',
    'expert.appts.join': 'Liity',
    'expert.appts.joinLabel': 'Liity ajanvaraukseen klo {time}: {service}, {device}',
    'expert.appts.opensAt': 'Liittyminen avautuu klo {time}',
    'expert.appts.ended': 'Aika on päättynyt',
    'expert.appts.servicePoint': 'Palvelupiste',
    'expert.appts.interpreter': 'Tulkkaus',
    'expert.appts.language': 'Asiointikieli',
    'expert.appts.accessibility': 'Saavutettavuus',
    'expert.appts.ref': 'Viite',
    'expert.appts.status': 'Tila',
  },
  sv: {
    'expert.appts.title': 'Dina bokade tider i dag',
    'expert.appts.date': 'I dag {date}. Tiderna i finsk tid.',
    'expert.appts.empty': 'Du har inga bokade tider i dag.',
    'expert.appts.join': 'Gå in',
    'expert.appts.joinLabel': 'Gå in i den bokade tiden kl. {time}: {service}, {device}',
    'expert.appts.opensAt': 'Du kan gå in från kl. {time}',
    'expert.appts.ended': 'Tiden har tagit slut',
    'expert.appts.servicePoint': 'Serviceställe',
    'expert.appts.interpreter': 'Tolkning',
    'expert.appts.language': 'Språk',
    'expert.appts.accessibility': 'Tillgänglighet',
    'expert.appts.ref': 'Referens',
    'expert.appts.status': 'Läge',
  },
  en: {
    'expert.appts.title': 'My appointments today',
    'expert.appts.date': 'Today {date}. Times in Finnish time.',
    'expert.appts.empty': 'You have no appointments today.',
    'expert.appts.join': 'Join',
    'expert.appts.joinLabel': 'Join the appointment at {time}: {service}, {device}',
    'expert.appts.opensAt': 'You can join from {time}',
    'expert.appts.ended': 'The time has ended',
    'expert.appts.servicePoint': 'Service point',
    'expert.appts.interpreter': 'Interpreting',
    'expert.appts.language': 'Language',
    'expert.appts.accessibility': 'Accessibility',
    'expert.appts.ref': 'Reference',
    'expert.appts.status': 'Status',
  },
});

/**
 * `mountAppointments({ token, onJoin })`: `token()` resolves to the signed-in expert's access token; `onJoin(room)`
 * joins a device room through the page's call flow. Returns `{ show(visible), render() }`: the list loads while
 * shown and stops when hidden.
 */
export function mountAppointments({ token, onJoin }) {
  const $ = (id) => document.getElementById(id);
  const section = $('appointments-view');
  const list = $('appointments-list');
  const empty = $('appointments-empty');
  const dateLine = $('appointments-date');
  const errorBox = $('appointments-error');

  let appointments = null;
  let services = new Map(); // service id → name (from the agencies' calendars)
  let rooms = new Map(); // device id → { name, service_point_name }
  let reloadTimer = null;
  let redrawTimer = null;
  let visible = false;

  async function load() {
    try {
      const access = await token();
      const [mine, agencies, roomList] = await Promise.all([
        apiFetch('/api/me/appointments', { token: access }),
        services.size ? null : apiFetch('/api/calendar/agencies', { token: access }),
        apiFetch('/api/rooms', { token: access }),
      ]);
      if (agencies) services = new Map(agencies.flatMap((a) => (a.services ?? []).map((s) => [s.id, s.name])));
      rooms = new Map(roomList.map((r) => [r.room, r]));
      appointments = mine.filter((a) => a.status !== 'cancelled');
      showApiError(errorBox, null);
    } catch (err) {
      showApiError(errorBox, err);
    }
    render();
  }

  function fact(label, value) {
    return h('div', {}, h('dt', {}, `${label}:`), h('dd', {}, value));
  }

  function item(a, now) {
    const start = Date.parse(a.start);
    const end = Date.parse(a.end);
    const opens = start - EARLY_JOIN_MS;
    const open = a.status === 'booked' && now >= opens && now < end;
    const room = rooms.get(a.device);
    const service = services.get(a.service) ?? a.service;
    const deviceName = room?.name ?? a.device;
    const needs = a.special_needs ?? {};
    let action;
    if (open) {
      action = h(
        'button',
        {
          type: 'button',
          class: 'button button--primary',
          'data-join-appointment': a.id,
          'data-room': a.device,
          'aria-label': t('expert.appts.joinLabel', { time: formatClock(a.start), service, device: deviceName }),
        },
        t('expert.appts.join'),
      );
    } else if (a.status !== 'booked') {
      action = h('span', { class: 'muted' }, statusLabel(a.status));
    } else if (now < opens) {
      action = h('span', { class: 'muted' }, t('expert.appts.opensAt', { time: formatClock(opens) }));
    } else {
      action = h('span', { class: 'muted' }, t('expert.appts.ended'));
    }
    return h(
      'li',
      { class: `my-appt${open ? ' my-appt--now' : ''}`, 'data-appointment': a.id, 'data-status': a.status },
      h(
        'div',
        { class: 'my-appt__main' },
        h('p', {}, h('span', { class: 'my-appt__time' }, formatRange(a.start, a.end)), ' ', inLanguage(service)),
        h(
          'dl',
          { class: 'my-appt__facts' },
          fact(
            t('expert.appts.servicePoint'),
            inLanguage(room ? `${room.service_point_name}, ${deviceName}` : a.device),
          ),
          needs.language ? fact(t('expert.appts.language'), languageName(needs.language)) : null,
          needs.interpreter ? fact(t('expert.appts.interpreter'), interpreterText(needs.interpreter)) : null,
          needs.accessibility ? fact(t('expert.appts.accessibility'), needs.accessibility) : null,
          a.customer_ref ? fact(t('expert.appts.ref'), a.customer_ref) : null,
        ),
      ),
      h('div', { class: 'my-appt__action' }, action),
    );
  }

  function render() {
    dateLine.textContent = t('expert.appts.date', { date: formatDate(helsinkiToday(), { long: true }) });
    if (!appointments) return;
    const focused = document.activeElement?.dataset?.joinAppointment;
    const now = Date.now();
    list.replaceChildren(...appointments.map((a) => item(a, now)));
    empty.hidden = appointments.length > 0;
    if (focused) list.querySelector(`[data-join-appointment="${CSS.escape(focused)}"]`)?.focus();
  }

  list.addEventListener('click', (e) => {
    const button = e.target.closest('[data-join-appointment]');
    if (button) onJoin(button.dataset.room);
  });

  function show(on) {
    section.hidden = !on;
    if (on === visible) return;
    visible = on;
    clearInterval(reloadTimer);
    clearInterval(redrawTimer);
    if (on) {
      load();
      reloadTimer = setInterval(load, RELOAD_MS);
      redrawTimer = setInterval(render, REDRAW_MS);
    }
  }

  return { show, render };
}
