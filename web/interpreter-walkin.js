// Väylä — the interpreter page's walk-in requests: customers at a service point's device who asked for an
// interpreter now, without an appointment (docs/walkin.md). The interpreter goes on or off duty (only on-duty
// interpreters are asked), sees the waiting tickets for their languages, first come first served, accepts one,
// and joins the device's room once the session has opened (when the expert has accepted too).
//
// `GET /api/walkin/queue` gives both lists (`tickets`: can accept now; `mine`: accepted, still open);
// `PUT /api/walkin/duty` the duty; `POST /api/walkin/tickets/{id}/accept` the accept. The page fetches the queue
// again when told (`walkin_queue` pushed through events.js, by the page) and with its own lists.

import { apiFetch } from './api.js';
import { formatClock, languageName, showApiError } from './appointments-common.js';
import { h } from './dom.js';
import { registerStrings, t } from './i18n.js';

registerStrings({
  fi: {
    'walkin.title': 'Tulkkauspyynnöt ilman ajanvarausta',
    'walkin.intro': 'Asiakas palvelupisteessä tarvitsee tulkin nyt. Pyynnöt näkyvät vain päivystäville tulkeille.',
    'walkin.duty': 'Päivystän',
    'walkin.onDuty': 'Olet päivystämässä: sinulle näytetään kielesi pyynnöt.',
    'walkin.offDuty': 'Et päivystä. Valitse "Päivystän", niin näet pyynnöt.',
    'walkin.empty': 'Ei odottavia pyyntöjä.',
    'walkin.waitingSince': 'Odottanut klo {time} alkaen',
    'walkin.expertReady': 'Asiantuntija on jo mukana.',
    'walkin.accept': 'Ota vastaan',
    'walkin.acceptLabel': 'Ota vastaan tulkkaus: {language}, {place}',
    'walkin.accepted': 'Otit pyynnön vastaan: {place}. Liity, kun huone avautuu.',
    'walkin.mine': 'Ottamasi pyynnöt',
    'walkin.join': 'Liity',
    'walkin.joinLabel': 'Liity huoneeseen: {place}',
    'walkin.waitingExpert': 'Odotetaan asiantuntijaa.',
    'appt.err.ticket_taken': 'Toinen tulkki ehti ottaa pyynnön.',
    'appt.err.ticket_closed': 'Pyyntö ei ole enää avoinna.',
    'appt.err.off_duty': 'Valitse ensin "Päivystän".',
    'appt.err.room_busy': 'Laitteen huoneessa on toinen istunto. Pyyntö jää jonoon.',
    'appt.err.not_qualified': 'Pyyntö on toiselle kielelle.',
  },
  sv: {
    'walkin.title': 'Tolkningsbegäran utan tidsbokning',
    'walkin.intro': 'En kund på ett serviceställe behöver en tolk nu. Begäran visas bara för tolkar i jour.',
    'walkin.duty': 'Jag har jour',
    'walkin.onDuty': 'Du har jour: du ser begäran på dina språk.',
    'walkin.offDuty': 'Du har inte jour. Välj "Jag har jour" för att se begäran.',
    'walkin.empty': 'Inga väntande begäran.',
    'walkin.waitingSince': 'Väntat sedan kl. {time}',
    'walkin.expertReady': 'Experten är redan med.',
    'walkin.accept': 'Ta emot',
    'walkin.acceptLabel': 'Ta emot tolkningen: {language}, {place}',
    'walkin.accepted': 'Du tog emot begäran: {place}. Gå in när rummet öppnas.',
    'walkin.mine': 'Begäran du tagit emot',
    'walkin.join': 'Gå in',
    'walkin.joinLabel': 'Gå in i rummet: {place}',
    'walkin.waitingExpert': 'Väntar på experten.',
    'appt.err.ticket_taken': 'En annan tolk hann ta begäran.',
    'appt.err.ticket_closed': 'Begäran är inte längre öppen.',
    'appt.err.off_duty': 'Välj först "Jag har jour".',
    'appt.err.room_busy': 'Enhetens rum har en annan session. Begäran stannar i kön.',
    'appt.err.not_qualified': 'Begäran gäller ett annat språk.',
  },
  en: {
    'walkin.title': 'Walk-in requests',
    'walkin.intro': 'A customer at a service point needs an interpreter now. Requests are shown to interpreters on duty.',
    'walkin.duty': 'On duty',
    'walkin.onDuty': 'You are on duty: requests in your languages are shown to you.',
    'walkin.offDuty': 'You are off duty. Choose "On duty" to see requests.',
    'walkin.empty': 'No waiting requests.',
    'walkin.waitingSince': 'Waiting since {time}',
    'walkin.expertReady': 'An expert is already in.',
    'walkin.accept': 'Accept',
    'walkin.acceptLabel': 'Accept the interpreting: {language}, {place}',
    'walkin.accepted': 'You accepted the request: {place}. Join when the room opens.',
    'walkin.mine': 'Requests you accepted',
    'walkin.join': 'Join',
    'walkin.joinLabel': 'Join the room: {place}',
    'walkin.waitingExpert': 'Waiting for the expert.',
    'appt.err.ticket_taken': 'Another interpreter took the request first.',
    'appt.err.ticket_closed': 'The request is no longer open.',
    'appt.err.off_duty': 'Choose "On duty" first.',
    'appt.err.room_busy': "The device's room holds another session. The request stays in the queue.",
    'appt.err.not_qualified': 'The request is for another language.',
  },
});

/** Sign languages among the tags a walk-in ticket may ask for: the room treats their interpreter as signing. */
const SIGN_LANGUAGES = new Set(['fse', 'fss', 'sgn', 'swl', 'dsl', 'nsl', 'ase', 'bfi', 'gsg']);
export const isSignTag = (tag) => SIGN_LANGUAGES.has(String(tag ?? '').split('-')[0].toLowerCase());

/**
 * `mountWalkin({ token, rooms, onJoin, announce })`: `token()` resolves to the access token, `rooms()` to the
 * page's device → room map, `onJoin({ device, sign_language, request })` joins a room through the page's call
 * flow, `announce(text)` speaks in the page's polite live region. Returns `{ load(), render() }`.
 */
export function mountWalkin({ token, rooms, onJoin, announce }) {
  const $ = (id) => document.getElementById(id);
  const els = {
    section: $('walkin-view'),
    duty: $('duty-button'),
    dutyText: $('duty-text'),
    error: $('walkin-error'),
    list: $('walkin-list'),
    empty: $('walkin-empty'),
    mineTitle: $('walkin-mine-title'),
    mine: $('walkin-mine'),
  };
  let queue = null;

  async function load() {
    try {
      queue = await apiFetch('/api/walkin/queue', { token: await token() });
      showApiError(els.error, null);
    } catch (err) {
      showApiError(els.error, err);
    }
    render();
  }

  const place = (x) => {
    const room = rooms().get(x.room);
    const sp = x.service_point_name ?? room?.service_point_name ?? x.service_point;
    return `${sp}, ${x.device_name ?? room?.name ?? x.room}`;
  };

  function render() {
    els.section.hidden = !queue;
    if (!queue) return;
    els.duty.setAttribute('aria-pressed', String(queue.on_duty));
    els.dutyText.textContent = t(queue.on_duty ? 'walkin.onDuty' : 'walkin.offDuty');
    const focused = document.activeElement?.dataset?.walkinAccept ?? document.activeElement?.dataset?.walkinJoin;
    els.list.replaceChildren(
      ...queue.tickets.map((x) => {
        const language = languageName(x.interpreter_language);
        return h(
          'li',
          { class: 'my-appt interp-offer', 'data-ticket': x.id },
          h(
            'div',
            { class: 'my-appt__main' },
            h('p', {}, h('span', { class: 'my-appt__time' }, language), ' · ', place(x)),
            h('p', { class: 'muted small' }, t('walkin.waitingSince', { time: formatClock(x.created_at) })),
            x.expert_accepted ? h('p', { class: 'small' }, t('walkin.expertReady')) : null,
          ),
          h(
            'div',
            { class: 'my-appt__action interp-actions' },
            h(
              'button',
              {
                type: 'button',
                class: 'button button--primary',
                'data-walkin-accept': x.id,
                'aria-label': t('walkin.acceptLabel', { language, place: place(x) }),
              },
              t('walkin.accept'),
            ),
          ),
        );
      }),
    );
    els.empty.hidden = !queue.on_duty || queue.tickets.length > 0;
    els.mineTitle.hidden = queue.mine.length === 0;
    els.mine.replaceChildren(
      ...queue.mine.map((x) =>
        h(
          'li',
          { class: 'my-appt my-appt--now', 'data-mine-ticket': x.id },
          h(
            'div',
            { class: 'my-appt__main' },
            h('p', {}, h('span', { class: 'my-appt__time' }, languageName(x.interpreter_language)), ' · ', place(x)),
          ),
          h(
            'div',
            { class: 'my-appt__action interp-actions' },
            x.session_id
              ? h(
                  'button',
                  {
                    type: 'button',
                    class: 'button button--primary',
                    'data-walkin-join': x.id,
                    'aria-label': t('walkin.joinLabel', { place: place(x) }),
                  },
                  t('walkin.join'),
                )
              : h('span', { class: 'muted' }, t('walkin.waitingExpert')),
          ),
        ),
      ),
    );
    if (focused) {
      document.querySelector(`[data-walkin-accept="${CSS.escape(focused)}"], [data-walkin-join="${CSS.escape(focused)}"]`)?.focus();
    }
  }

  els.duty.addEventListener('click', async () => {
    const on = els.duty.getAttribute('aria-pressed') !== 'true';
    try {
      await apiFetch('/api/walkin/duty', { method: 'PUT', token: await token(), body: { on_duty: on } });
      showApiError(els.error, null);
    } catch (err) {
      showApiError(els.error, err);
    }
    await load();
  });

  els.section.addEventListener('click', async (e) => {
    const accept = e.target.closest('[data-walkin-accept]');
    const join = e.target.closest('[data-walkin-join]');
    if (accept) {
      const ticket = queue?.tickets.find((x) => x.id === accept.dataset.walkinAccept);
      accept.disabled = true;
      try {
        await apiFetch(`/api/walkin/tickets/${encodeURIComponent(accept.dataset.walkinAccept)}/accept`, {
          method: 'POST',
          token: await token(),
        });
        showApiError(els.error, null);
        if (ticket) announce(t('walkin.accepted', { place: place(ticket) }));
      } catch (err) {
        showApiError(els.error, err);
      }
      await load();
    } else if (join) {
      const x = queue?.mine.find((m) => m.id === join.dataset.walkinJoin);
      if (x) onJoin({ device: x.room, sign_language: isSignTag(x.interpreter_language), request: x.id });
    }
  });

  return { load, render };
}
