// Väylä — the expert page's walk-in queue (docs/walkin.md): an on-duty switch, the live queue of the expert's
// agency (the tickets they can take, first come first served, with how long each customer has waited), Accept, and
// the tickets they accepted with Join. The list follows pushed changes (the `walkin_queue` topic of
// web/events.js) and refreshes slowly as a safety net; waiting times tick locally in between.

import { apiFetch } from './api.js';
import { inLanguage, languageName } from './appointments-common.js';
import { h } from './dom.js';
import { watch } from './events.js';
import { onLanguageChange, registerStrings, t } from './i18n.js';

const POLL_MS = 15_000;
const TICK_MS = 30_000;

registerStrings({
  fi: {
    'walkinq.title': 'Ajanvaraukseton jono',
    'walkinq.onDuty': 'Päivystän: otan vastaan asiakkaita ilman ajanvarausta',
    'walkinq.offDutyNote': 'Et ole päivystämässä. Kytke päivystys päälle ottaaksesi asiakkaita jonosta.',
    'walkinq.count': 'Jonossa {count} asiakasta.',
    'walkinq.countOne': 'Jonossa 1 asiakas.',
    'walkinq.empty': 'Jonossa ei ole asiakkaita.',
    'walkinq.waited': 'odottanut {minutes} min',
    'walkinq.position': 'Sija {position}',
    'walkinq.anyService': 'asia ei tiedossa',
    'walkinq.interpreter': 'tulkkaus: {language}',
    'walkinq.language': 'kieli: {language}',
    'walkinq.accept': 'Ota asiakas',
    'walkinq.acceptLabel': 'Ota asiakas: {place}, {service}, odottanut {minutes} min',
    'walkinq.mine': 'Ottamasi asiakkaat',
    'walkinq.join': 'Liity huoneeseen',
    'walkinq.joinLabel': 'Liity huoneeseen {room}',
    'walkinq.waitingInterpreter': 'Odotetaan tulkkia',
    'walkinq.err.ticket_taken': 'Joku ehti ottaa asiakkaan ensin.',
    'walkinq.err.room_busy': 'Laitteen huoneessa on juuri toinen istunto. Asiakas pysyy jonossa.',
    'walkinq.err.off_duty': 'Kytke päivystys päälle ennen kuin otat asiakkaan.',
    'walkinq.err.other': 'Toiminto ei onnistunut ({code}).',
  },
  sv: {
    'walkinq.title': 'Kö utan tidsbokning',
    'walkinq.onDuty': 'I tjänst: jag tar emot kunder utan tidsbokning',
    'walkinq.offDutyNote': 'Du är inte i tjänst. Slå på tjänsten för att ta kunder ur kön.',
    'walkinq.count': '{count} kunder i kön.',
    'walkinq.countOne': '1 kund i kön.',
    'walkinq.empty': 'Inga kunder i kön.',
    'walkinq.waited': 'väntat {minutes} min',
    'walkinq.position': 'Plats {position}',
    'walkinq.anyService': 'ärendet okänt',
    'walkinq.interpreter': 'tolkning: {language}',
    'walkinq.language': 'språk: {language}',
    'walkinq.accept': 'Ta kunden',
    'walkinq.acceptLabel': 'Ta kunden: {place}, {service}, väntat {minutes} min',
    'walkinq.mine': 'Kunder du har tagit',
    'walkinq.join': 'Gå in i rummet',
    'walkinq.joinLabel': 'Gå in i rummet {room}',
    'walkinq.waitingInterpreter': 'Väntar på tolken',
    'walkinq.err.ticket_taken': 'Någon hann ta kunden först.',
    'walkinq.err.room_busy': 'Enhetens rum har en annan session just nu. Kunden står kvar i kön.',
    'walkinq.err.off_duty': 'Slå på tjänsten innan du tar en kund.',
    'walkinq.err.other': 'Åtgärden misslyckades ({code}).',
  },
  en: {
    'walkinq.title': 'Walk-in queue',
    'walkinq.onDuty': 'On duty: I take customers without an appointment',
    'walkinq.offDutyNote': 'You are not on duty. Switch duty on to take customers from the queue.',
    'walkinq.count': '{count} customers in the queue.',
    'walkinq.countOne': '1 customer in the queue.',
    'walkinq.empty': 'No customers in the queue.',
    'walkinq.waited': 'waited {minutes} min',
    'walkinq.position': 'Number {position}',
    'walkinq.anyService': 'matter not known',
    'walkinq.interpreter': 'interpreting: {language}',
    'walkinq.language': 'language: {language}',
    'walkinq.accept': 'Take the customer',
    'walkinq.acceptLabel': 'Take the customer: {place}, {service}, waited {minutes} min',
    'walkinq.mine': 'Customers you took',
    'walkinq.join': 'Join the room',
    'walkinq.joinLabel': 'Join the room {room}',
    'walkinq.waitingInterpreter': 'Waiting for the interpreter',
    'walkinq.err.ticket_taken': 'Someone else took the customer first.',
    'walkinq.err.room_busy': "The device's room has another session right now. The customer stays in the queue.",
    'walkinq.err.off_duty': 'Switch duty on before taking a customer.',
    'walkinq.err.other': 'That did not work ({code}).',
  },
});

/**
 * Mount the queue into `slot`. `token()` resolves to the signed-in expert's access token; `onJoin(room)` joins a
 * device room through the page's call flow. Returns `{ show(visible) }`: it loads and follows the queue while shown.
 */
export function mountWalkinExpert({ slot, token, onJoin }) {
  const id = (name) => `walkinq-${name}`;
  const duty = h('input', { type: 'checkbox', id: id('duty'), name: 'on_duty' });
  const dutyNote = h('p', { class: 'muted small', id: id('duty-note') });
  const count = h('p', { class: 'walkin-count', id: id('count'), role: 'status', 'aria-live': 'polite', 'aria-atomic': 'true' });
  const error = h('div', { class: 'notice notice--error', role: 'alert', id: id('error'), hidden: true });
  const list = h('ul', { class: 'room-rows walkin-queue', id: id('list'), 'aria-labelledby': id('title') });
  const mineTitle = h('h3', { id: id('mine-title'), class: 'walkin-mine-title', 'data-key': 'walkinq.mine' });
  const mine = h('ul', { class: 'room-rows walkin-mine', id: id('mine'), 'aria-labelledby': id('mine-title') });
  const section = h(
    'section',
    { class: 'walkin-queue-view', id: id('view'), 'aria-labelledby': id('title'), hidden: true },
    h('h2', { id: id('title'), 'data-key': 'walkinq.title' }),
    h('div', { class: 'field field--check' }, h('label', { for: id('duty') }, duty, ' ', h('span', { 'data-key': 'walkinq.onDuty' }))),
    dutyNote,
    error,
    count,
    list,
    mineTitle,
    mine,
  );
  slot.replaceChildren(section);

  let queue = null;
  let fetchedAt = 0;
  let visible = false;
  let watcher = null;
  let pollTimer = null;
  let tickTimer = null;

  const waitedMinutes = (waited_s) => Math.floor((waited_s + (Date.now() - fetchedAt) / 1000) / 60);

  function showError(err) {
    if (!err) {
      error.hidden = true;
      error.textContent = '';
      return;
    }
    const key = `walkinq.err.${err.code}`;
    error.textContent = t(key) !== key ? t(key) : t('walkinq.err.other', { code: err.code });
    error.hidden = false;
  }

  function place(e) {
    return `${e.service_point_name || e.service_point}, ${e.device_name || e.room}`;
  }

  function entry(e) {
    const minutes = waitedMinutes(e.waited_s);
    const service = e.service ?? t('walkinq.anyService');
    const facts = [
      e.interpreter_language
        ? t('walkinq.interpreter', { language: languageName(e.interpreter_language) })
        : t('walkinq.language', { language: languageName(e.language) }),
      t('walkinq.waited', { minutes }),
    ];
    return h(
      'li',
      { class: 'room-row walkin-row', 'data-ticket': e.id },
      h(
        'div',
        {},
        h('p', { class: 'room-row__name' }, inLanguage(place(e))),
        h('p', { class: 'small' }, e.position ? `${t('walkinq.position', { position: e.position })} · ` : '', e.service ? inLanguage(service) : service, ` · ${facts.join(' · ')}`),
      ),
      h('span', {}),
      h(
        'button',
        {
          type: 'button',
          class: 'button button--primary',
          'data-accept': e.id,
          disabled: queue?.on_duty ? null : true,
          'aria-label': t('walkinq.acceptLabel', { place: place(e), service, minutes }),
        },
        t('walkinq.accept'),
      ),
    );
  }

  function mineEntry(tk) {
    const ready = tk.status === 'accepted' && tk.session_id;
    return h(
      'li',
      { class: 'room-row room-row--gathering', 'data-mine': tk.id },
      h('p', { class: 'room-row__name' }, tk.room),
      h('span', {}),
      ready
        ? h(
            'button',
            { type: 'button', class: 'button button--primary', 'data-join': tk.room, 'aria-label': t('walkinq.joinLabel', { room: tk.room }) },
            t('walkinq.join'),
          )
        : h('span', { class: 'muted' }, t('walkinq.waitingInterpreter')),
    );
  }

  function render() {
    for (const el of section.querySelectorAll('[data-key]')) el.textContent = t(el.dataset.key);
    if (!queue) return;
    duty.checked = queue.on_duty;
    dutyNote.textContent = queue.on_duty ? '' : t('walkinq.offDutyNote');
    dutyNote.hidden = queue.on_duty;
    const n = queue.tickets.length;
    const words = n === 0 ? t('walkinq.empty') : n === 1 ? t('walkinq.countOne') : t('walkinq.count', { count: n });
    if (count.textContent !== words) count.textContent = words;
    const focused = document.activeElement?.dataset?.accept;
    list.replaceChildren(...queue.tickets.map(entry));
    mine.replaceChildren(...queue.mine.map(mineEntry));
    mineTitle.hidden = queue.mine.length === 0;
    mine.hidden = queue.mine.length === 0;
    if (focused) list.querySelector(`[data-accept="${CSS.escape(focused)}"]`)?.focus();
  }

  async function load() {
    try {
      queue = await apiFetch('/api/walkin/queue', { token: await token() });
      fetchedAt = Date.now();
      showError(null);
    } catch (err) {
      if (err.status === 403) {
        // Not someone who takes walk-in customers: no queue on this page.
        show(false);
        return;
      }
      showError(err);
    }
    render();
  }

  duty.addEventListener('change', async () => {
    duty.disabled = true;
    try {
      await apiFetch('/api/walkin/duty', { method: 'PUT', token: await token(), body: { on_duty: duty.checked } });
      showError(null);
    } catch (err) {
      showError(err);
    } finally {
      duty.disabled = false;
    }
    await load();
  });

  list.addEventListener('click', async (e) => {
    const button = e.target.closest('[data-accept]');
    if (!button) return;
    button.disabled = true;
    try {
      const ticket = await apiFetch(`/api/walkin/tickets/${encodeURIComponent(button.dataset.accept)}/accept`, {
        method: 'POST',
        token: await token(),
      });
      showError(null);
      if (ticket.status === 'accepted' && ticket.session_id) {
        onJoin(ticket.room);
        return;
      }
    } catch (err) {
      showError(err);
    }
    await load();
  });

  mine.addEventListener('click', (e) => {
    const button = e.target.closest('[data-join]');
    if (button) onJoin(button.dataset.join);
  });

  function show(on) {
    section.hidden = !on;
    if (on === visible) return;
    visible = on;
    if (on) {
      load();
      watcher = watch({ token }, ['walkin_queue'], () => load());
      pollTimer = setInterval(load, POLL_MS);
      tickTimer = setInterval(render, TICK_MS);
    } else {
      watcher?.stop();
      watcher = null;
      clearInterval(pollTimer);
      clearInterval(tickTimer);
    }
  }

  onLanguageChange(render);
  return { show };
}
