// Väylä — the rooms overview: every device's virtual room with its live state, grouped by service point.
// Polls GET /api/rooms every 2 seconds; announces (politely) only the rooms whose state changed.

import { api } from './api.js';
import {
  formatTime,
  getLanguage,
  initI18n,
  onLanguageChange,
  registerStrings,
  roleLabel,
  stateLabel,
  t,
} from './i18n.js';
import { h, svgIcon } from './dom.js';

export const POLL_MS = 2000;

registerStrings({
  fi: {
    'rooms.docTitle': 'Virtuaalihuoneet – Väylä',
    'rooms.title': 'Virtuaalihuoneet',
    'rooms.intro':
      'Jokaisella etäpalvelulaitteella on oma pysyvä virtuaalihuone. Huone lukitaan, kun kaikki odotetut osallistujat ovat paikalla.',
    'rooms.autoRefresh': 'Tilanne päivittyy automaattisesti kahden sekunnin välein.',
    'rooms.updated': 'Päivitetty klo {time}.',
    'rooms.loading': 'Ladataan huoneita…',
    'rooms.empty': 'Huoneita ei ole määritetty.',
    'rooms.error': 'Huoneiden tilaa ei juuri nyt saatu haettua ({code}). Yritetään uudelleen automaattisesti.',
    'rooms.summary': {
      one: '{n} huone, joista {busy} käytössä.',
      other: '{n} huonetta, joista {busy} käytössä.',
    },
    'rooms.count': { one: '{n} huone', other: '{n} huonetta' },
    'room.device': 'Laite',
    'room.state': 'Tila',
    'room.present': 'Paikalla',
    'room.seats': 'Odotetut',
    'room.nobody': 'Ei ketään',
    'room.noSession': 'Ei istuntoa',
    'room.seatsCount': '{taken}/{total} paikalla',
    'room.seatPresent': 'paikalla',
    'room.seatAwaited': 'odotetaan',
    'room.session': 'Istunto',
    'room.openedAt': 'alkoi klo {time}',
    'room.announce': 'Huone {room}: {state}.',
  },
  sv: {
    'rooms.docTitle': 'Virtuella rum – Väylä',
    'rooms.title': 'Virtuella rum',
    'rooms.intro':
      'Varje distansserviceenhet har ett eget permanent virtuellt rum. Rummet låses när alla väntade deltagare är på plats.',
    'rooms.autoRefresh': 'Läget uppdateras automatiskt varannan sekund.',
    'rooms.updated': 'Uppdaterat kl. {time}.',
    'rooms.loading': 'Rummen laddas…',
    'rooms.empty': 'Inga rum har konfigurerats.',
    'rooms.error': 'Rummens läge kunde inte hämtas just nu ({code}). Vi försöker igen automatiskt.',
    'rooms.summary': {
      one: '{n} rum, varav {busy} används.',
      other: '{n} rum, varav {busy} används.',
    },
    'rooms.count': { one: '{n} rum', other: '{n} rum' },
    'room.device': 'Enhet',
    'room.state': 'Läge',
    'room.present': 'På plats',
    'room.seats': 'Väntade',
    'room.nobody': 'Ingen',
    'room.noSession': 'Ingen session',
    'room.seatsCount': '{taken}/{total} på plats',
    'room.seatPresent': 'på plats',
    'room.seatAwaited': 'väntas',
    'room.session': 'Session',
    'room.openedAt': 'började kl. {time}',
    'room.announce': 'Rum {room}: {state}.',
  },
  en: {
    'rooms.docTitle': 'Virtual rooms – Väylä',
    'rooms.title': 'Virtual rooms',
    'rooms.intro':
      'Every remote-service device has its own permanent virtual room. A room locks once all expected participants have joined.',
    'rooms.autoRefresh': 'This overview refreshes automatically every two seconds.',
    'rooms.updated': 'Updated at {time}.',
    'rooms.loading': 'Loading rooms…',
    'rooms.empty': 'No rooms are configured.',
    'rooms.error': 'Could not fetch the state of the rooms just now ({code}). Retrying automatically.',
    'rooms.summary': {
      one: '{n} room, {busy} in use.',
      other: '{n} rooms, {busy} in use.',
    },
    'rooms.count': { one: '{n} room', other: '{n} rooms' },
    'room.device': 'Device',
    'room.state': 'State',
    'room.present': 'Present',
    'room.seats': 'Expected',
    'room.nobody': 'Nobody',
    'room.noSession': 'No session',
    'room.seatsCount': '{taken}/{total} present',
    'room.seatPresent': 'present',
    'room.seatAwaited': 'awaited',
    'room.session': 'Session',
    'room.openedAt': 'started at {time}',
    'room.announce': 'Room {room}: {state}.',
  },
});

// ---- small DOM helpers -------------------------------------------------------------------------------------



/** Decorative icons: the state is always said in words next to them. */
const ICONS = {
  idle: '<circle cx="8" cy="8" r="5.25" fill="none" stroke="currentColor" stroke-width="1.75"/>',
  gathering:
    '<circle cx="3" cy="8" r="1.6"/><circle cx="8" cy="8" r="1.6"/><circle cx="13" cy="8" r="1.6"/>',
  locked:
    '<rect x="2.75" y="7" width="10.5" height="7.5" rx="1.5"/>' +
    '<path d="M5 7V5a3 3 0 0 1 6 0v2" fill="none" stroke="currentColor" stroke-width="1.75"/>',
  unlocked:
    '<rect x="2.75" y="7" width="10.5" height="7.5" rx="1.5"/>' +
    '<path d="M5 7V4.5a3 3 0 0 1 5.8-1.1" fill="none" stroke="currentColor" stroke-width="1.75" stroke-linecap="round"/>',
  present: '<path d="M3 8.5l3.2 3.2L13 4.8" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"/>',
  awaited: '<circle cx="8" cy="8" r="4.75" fill="none" stroke="currentColor" stroke-width="1.5" stroke-dasharray="2.4 2"/>',
};

function icon(name) {
  return svgIcon(ICONS[name], 16);
}

// ---- what a room shows -------------------------------------------------------------------------------------

const STATES = ['idle', 'gathering', 'locked', 'unlocked'];

/** "Laite", "Asiantuntija (kela)": by role and agency; a name only when the API gives one (staff). */
export function participantLabel(p) {
  const role = roleLabel(p.role);
  const named = p.display_name && p.display_name !== p.role ? ` ${p.display_name}` : '';
  const agency = p.agency ? ` (${p.agency})` : '';
  return `${role}${named ? ':' + named : ''}${agency}`;
}

function seatLabel(s) {
  const role = roleLabel(s.role);
  return s.display_name && s.display_name !== s.role && s.role !== 'device' ? `${role}: ${s.display_name}` : role;
}

function stateBadge(state) {
  const known = STATES.includes(state) ? state : 'idle';
  return h('span', { class: `badge badge--${known}` }, icon(known), h('span', { class: 'badge__text' }, stateLabel(state)));
}

function roomCard(room) {
  const titleId = `room-${room.room}-title`;
  const seats = room.seats ?? [];
  const participants = room.participants ?? [];
  const taken = seats.filter((s) => s.taken).length;
  const active = room.state !== 'idle';

  const presentValue = participants.length
    ? participants.map(participantLabel).join(', ')
    : t('room.nobody');

  const seatsValue = active && seats.length
    ? [
        h('span', { class: 'room__seat-count' }, t('room.seatsCount', { taken, total: seats.length })),
        h(
          'ul',
          { class: 'seat-list' },
          seats.map((s) =>
            h(
              'li',
              { class: `seat seat--${s.taken ? 'present' : 'awaited'}` },
              icon(s.taken ? 'present' : 'awaited'),
              h('span', {}, `${seatLabel(s)} – ${t(s.taken ? 'room.seatPresent' : 'room.seatAwaited')}`),
            ),
          ),
        ),
      ]
    : t('room.noSession');

  return h(
    'li',
    { class: `room room--${room.state}`, 'data-room': room.room, 'data-state': room.state },
    h(
      'article',
      { class: 'room__card', 'aria-labelledby': titleId },
      h(
        'div',
        { class: 'room__head' },
        h('h3', { class: 'room__address', id: titleId }, room.room),
        h('p', { class: 'room__state' }, h('span', { class: 'visually-hidden' }, `${t('room.state')}: `), stateBadge(room.state)),
      ),
      h(
        'dl',
        { class: 'room__facts' },
        h('div', {}, h('dt', {}, t('room.device')), h('dd', { class: 'room__device' }, room.name)),
        h('div', {}, h('dt', {}, t('room.present')), h('dd', { class: 'room__participants' }, presentValue)),
        h('div', {}, h('dt', {}, t('room.seats')), h('dd', { class: 'room__seats' }, seatsValue)),
        room.opened_at && active
          ? h('div', {}, h('dt', {}, t('room.session')), h('dd', { class: 'room__opened' }, t('room.openedAt', { time: formatTime(room.opened_at) })))
          : null,
      ),
    ),
  );
}

/** The service point's name from the rooms-config, or its id if the server sent none. */
function servicePointLabel(id, rooms) {
  const named = rooms.find((r) => r.service_point_name);
  return named ? named.service_point_name : id;
}

function groupByServicePoint(rooms) {
  const groups = new Map();
  for (const room of rooms) {
    if (!groups.has(room.service_point)) groups.set(room.service_point, []);
    groups.get(room.service_point).push(room);
  }
  return [...groups.entries()]
    .map(([id, list]) => ({ id, label: servicePointLabel(id, list), rooms: list }))
    .sort((a, b) => a.label.localeCompare(b.label, 'fi'));
}

// ---- the page ----------------------------------------------------------------------------------------------

const els = {};
let rooms = null; // the last list received
let lastStates = null; // room → state at the last poll, for announcements
let lastUpdated = null;
let lastError = null;
let layoutKey = ''; // which rooms in which groups: a change rebuilds the sections
const rendered = new Map(); // room → { key, el }
let timer = null;
let inFlight = false;

function renderLayout(groups) {
  rendered.clear();
  const sections = groups.map((g) => {
    const headingId = `sp-${g.id}`;
    return h(
      'section',
      { class: 'service-point', 'aria-labelledby': headingId, 'data-service-point': g.id },
      h(
        'h2',
        { id: headingId, class: 'service-point__title' },
        g.label,
        h('span', { class: 'service-point__count' }, ` · ${t('rooms.count', { n: g.rooms.length })}`),
      ),
      h('ul', { class: 'room-list', role: 'list' }),
    );
  });
  els.rooms.replaceChildren(...sections);
}

function render() {
  if (!rooms) return;
  els.rooms.setAttribute('aria-busy', 'false');
  if (rooms.length === 0) {
    layoutKey = '';
    rendered.clear();
    els.rooms.replaceChildren(h('p', { class: 'rooms__empty' }, t('rooms.empty')));
  } else {
    const groups = groupByServicePoint(rooms);
    const key = getLanguage() + '|' + groups.map((g) => `${g.id}:${g.rooms.map((r) => r.room).join(',')}`).join(';');
    if (key !== layoutKey) {
      layoutKey = key;
      renderLayout(groups);
    }
    // Replace only the cards whose content changed, so the page stays still for screen readers.
    for (const g of groups) {
      const list = els.rooms.querySelector(`[data-service-point="${CSS.escape(g.id)}"] .room-list`);
      g.rooms.forEach((room, i) => {
        const cardKey = getLanguage() + JSON.stringify(room);
        const old = rendered.get(room.room);
        if (old?.key === cardKey && list.children[i] === old.el) return;
        const el = roomCard(room);
        if (old?.el?.parentNode === list) old.el.replaceWith(el);
        else list.insertBefore(el, list.children[i] ?? null);
        rendered.set(room.room, { key: cardKey, el });
      });
    }
  }
  const busy = rooms.filter((r) => r.state !== 'idle').length;
  els.summary.textContent = t('rooms.summary', { n: rooms.length, busy });
  renderUpdated();
}

function renderUpdated() {
  els.updated.textContent = lastUpdated ? t('rooms.updated', { time: formatTime(lastUpdated, { seconds: true }) }) : '';
}

function renderError() {
  if (lastError) {
    els.error.textContent = t('rooms.error', { code: lastError.code ?? 'network' });
    els.error.hidden = false;
  } else {
    els.error.hidden = true;
    els.error.textContent = '';
  }
}

/** Say which rooms changed state since the last poll; say nothing when none did. */
function announceChanges(list) {
  const now = new Map(list.map((r) => [r.room, r.state]));
  if (lastStates) {
    const changes = list
      .filter((r) => lastStates.has(r.room) && lastStates.get(r.room) !== r.state)
      .map((r) => t('room.announce', { room: r.room, state: stateLabel(r.state) }));
    if (changes.length) {
      const message = changes.join(' ');
      // Clear first so that a repeated identical message is still read out.
      els.live.textContent = '';
      setTimeout(() => {
        els.live.textContent = message;
      }, 100);
    }
  }
  lastStates = now;
}

async function poll() {
  if (inFlight) return;
  inFlight = true;
  clearTimeout(timer);
  try {
    const list = await api.rooms();
    if (!Array.isArray(list)) throw Object.assign(new Error('bad reply'), { code: 'bad_response' });
    announceChanges(list);
    rooms = list;
    lastUpdated = Date.now();
    if (lastError) {
      lastError = null;
      renderError();
    }
    render();
  } catch (e) {
    // Show the problem once when it starts (role=alert), not again on every failed poll.
    if (!lastError || lastError.code !== e.code) {
      lastError = { code: e.code ?? 'network' };
      renderError();
    }
  } finally {
    inFlight = false;
    schedule();
  }
}

function schedule() {
  clearTimeout(timer);
  // A hidden tab does not poll; it refreshes at once when it is shown again.
  if (document.visibilityState === 'hidden') return;
  timer = setTimeout(poll, POLL_MS);
}

function start() {
  els.rooms = document.getElementById('rooms');
  els.summary = document.getElementById('rooms-summary');
  els.updated = document.getElementById('rooms-updated');
  els.error = document.getElementById('rooms-error');
  els.live = document.getElementById('rooms-live');

  onLanguageChange(() => {
    document.title = t('rooms.docTitle');
    layoutKey = '';
    render();
    renderError();
  });
  initI18n({ switcher: document.getElementById('lang-switcher') });

  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') poll();
    else clearTimeout(timer);
  });
  poll();
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
