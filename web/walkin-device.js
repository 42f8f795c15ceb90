// Väylä — the device page's "Ask for an expert" panel (the walk-in queue, docs/walkin.md): the advisor picks the
// agency, the service, the customer's language and whether an interpreter is needed; the page then shows the
// ticket's place in the queue and the estimated wait, live (the `walkin_ticket` topic of web/events.js, with a
// slow poll as a safety net), and lets the ticket be cancelled. When an expert accepts, the device's room opens a
// session and the device — already waiting in its room — joins at once (`onSessionReady`).

import { apiFetch } from './api.js';
import { formatClock, inLanguage, languageName } from './appointments-common.js';
import { h } from './dom.js';
import { watch } from './events.js';
import { onLanguageChange, registerStrings, t } from './i18n.js';

/** The customer languages offered (BCP 47): the national ones, Sami, the sign languages, the most asked others. */
export const LANGUAGES = ['fi', 'sv', 'en', 'se', 'fse', 'fss', 'ru', 'et', 'ar', 'so', 'fa', 'uk'];
/** Safety-net refresh while a ticket is open (pushed changes normally come first). */
const POLL_MS = 15_000;

registerStrings({
  fi: {
    'walkin.title': 'Pyydä asiantuntijaa',
    'walkin.intro': 'Valitse virasto ja asia. Ensimmäinen vapaa asiantuntija ottaa asiakkaan, ja yhteys avautuu tähän laitteeseen.',
    'walkin.agency': 'Virasto',
    'walkin.agencyAppointments': '{name} (vain ajanvarauksella)',
    'walkin.service': 'Asia',
    'walkin.anyService': 'Muu tai ei tiedossa',
    'walkin.language': 'Asiakkaan kieli',
    'walkin.interpreter': 'Tarvitaan tulkki',
    'walkin.interpreterLanguage': 'Tulkattava kieli',
    'walkin.submit': 'Pyydä asiantuntijaa',
    'walkin.cancel': 'Peru pyyntö',
    'walkin.status': 'Pyynnön tila',
    'walkin.waiting': 'Jonossa: sija {position}.',
    'walkin.waitingExpertTaken': 'Asiantuntija on ottanut pyynnön. Odotetaan tulkkia.',
    'walkin.waitingInterpreterTaken': 'Tulkki on valmiina. Odotetaan asiantuntijaa: sija {position}.',
    'walkin.estimate': 'Arvioitu odotus noin {minutes} min.',
    'walkin.estimateNow': 'Asiantuntija vapautuu heti.',
    'walkin.noneOnDuty': 'Yksikään asiantuntija ei ole juuri nyt päivystämässä. Pyyntö odottaa jonossa.',
    'walkin.waited': 'Odotettu {minutes} min.',
    'walkin.accepted': 'Asiantuntija otti asiakkaan. Yhteys avautuu.',
    'walkin.served': 'Asiointi on päättynyt.',
    'walkin.cancelled': 'Pyyntö peruttiin.',
    'walkin.expired': 'Kukaan ei ehtinyt ottaa pyyntöä. Pyydä uudelleen tai varaa aika.',
    'walkin.abandoned': 'Yhteys ei toteutunut. Pyydä tarvittaessa uudelleen.',
    'walkin.appointmentOnly': '{agency} palvelee vain ajanvarauksella.',
    'walkin.slots': 'Seuraavat vapaat ajat tälle laitteelle:',
    'walkin.noSlots': 'Vapaita aikoja ei löytynyt kahden viikon sisältä.',
    'walkin.book': 'Varaa aika ajanvarauksesta',
    'walkin.error': 'Pyyntö ei onnistunut ({code}).',
    'walkin.err.ticket_open': 'Tällä laitteella on jo avoin pyyntö.',
    'walkin.err.no_qualified_expert': 'Kukaan viraston asiantuntijoista ei palvele tällä kielellä tässä asiassa. Pyydä tulkki.',
    'walkin.err.no_qualified_interpreter': 'Tälle kielelle ei löydy tulkkia.',
  },
  sv: {
    'walkin.title': 'Be om en expert',
    'walkin.intro': 'Välj myndighet och ärende. Den första lediga experten tar kunden, och förbindelsen öppnas till den här enheten.',
    'walkin.agency': 'Myndighet',
    'walkin.agencyAppointments': '{name} (endast med tidsbokning)',
    'walkin.service': 'Ärende',
    'walkin.anyService': 'Annat eller okänt',
    'walkin.language': 'Kundens språk',
    'walkin.interpreter': 'Tolk behövs',
    'walkin.interpreterLanguage': 'Språk som tolkas',
    'walkin.submit': 'Be om en expert',
    'walkin.cancel': 'Återkalla begäran',
    'walkin.status': 'Begärans status',
    'walkin.waiting': 'I kö: plats {position}.',
    'walkin.waitingExpertTaken': 'En expert har tagit begäran. Vi väntar på tolken.',
    'walkin.waitingInterpreterTaken': 'Tolken är redo. Vi väntar på en expert: plats {position}.',
    'walkin.estimate': 'Beräknad väntetid cirka {minutes} min.',
    'walkin.estimateNow': 'En expert blir ledig genast.',
    'walkin.noneOnDuty': 'Ingen expert är i tjänst just nu. Begäran väntar i kön.',
    'walkin.waited': 'Väntat {minutes} min.',
    'walkin.accepted': 'En expert tog kunden. Förbindelsen öppnas.',
    'walkin.served': 'Ärendet är avslutat.',
    'walkin.cancelled': 'Begäran återkallades.',
    'walkin.expired': 'Ingen hann ta begäran. Be igen eller boka en tid.',
    'walkin.abandoned': 'Förbindelsen blev inte av. Be igen vid behov.',
    'walkin.appointmentOnly': '{agency} betjänar endast med tidsbokning.',
    'walkin.slots': 'Nästa lediga tider för den här enheten:',
    'walkin.noSlots': 'Inga lediga tider inom två veckor.',
    'walkin.book': 'Boka en tid i tidsbokningen',
    'walkin.error': 'Begäran misslyckades ({code}).',
    'walkin.err.ticket_open': 'Den här enheten har redan en öppen begäran.',
    'walkin.err.no_qualified_expert': 'Ingen av myndighetens experter betjänar på det här språket i det här ärendet. Be om en tolk.',
    'walkin.err.no_qualified_interpreter': 'Det finns ingen tolk för det här språket.',
  },
  en: {
    'walkin.title': 'Ask for an expert',
    'walkin.intro': 'Choose the agency and the matter. The first free expert takes the customer, and the call opens on this device.',
    'walkin.agency': 'Agency',
    'walkin.agencyAppointments': '{name} (by appointment only)',
    'walkin.service': 'Matter',
    'walkin.anyService': 'Other or not known',
    'walkin.language': "Customer's language",
    'walkin.interpreter': 'An interpreter is needed',
    'walkin.interpreterLanguage': 'Language to interpret',
    'walkin.submit': 'Ask for an expert',
    'walkin.cancel': 'Cancel the request',
    'walkin.status': 'Request status',
    'walkin.waiting': 'In the queue: number {position}.',
    'walkin.waitingExpertTaken': 'An expert has taken the request. Waiting for the interpreter.',
    'walkin.waitingInterpreterTaken': 'The interpreter is ready. Waiting for an expert: number {position}.',
    'walkin.estimate': 'Estimated wait about {minutes} min.',
    'walkin.estimateNow': 'An expert is free right away.',
    'walkin.noneOnDuty': 'No expert is on duty right now. The request waits in the queue.',
    'walkin.waited': 'Waited {minutes} min.',
    'walkin.accepted': 'An expert took the customer. The call is opening.',
    'walkin.served': 'The visit has ended.',
    'walkin.cancelled': 'The request was cancelled.',
    'walkin.expired': 'Nobody took the request in time. Ask again or book a time.',
    'walkin.abandoned': 'The call did not take place. Ask again if needed.',
    'walkin.appointmentOnly': '{agency} serves by appointment only.',
    'walkin.slots': 'The next free times for this device:',
    'walkin.noSlots': 'No free times within two weeks.',
    'walkin.book': 'Book a time in the booking page',
    'walkin.error': 'The request failed ({code}).',
    'walkin.err.ticket_open': 'This device already has an open request.',
    'walkin.err.no_qualified_expert': "None of the agency's experts serves in this language for this matter. Ask for an interpreter.",
    'walkin.err.no_qualified_interpreter': 'There is no interpreter for this language.',
  },
});

const minutes = (seconds) => Math.max(1, Math.round((seconds ?? 0) / 60));

/**
 * Mount the panel into `slot`. `token()` resolves to the device's access token; `auth` (web/call.js `Auth`) is
 * what events.js watches with; `onSessionReady(ticket)` runs when the ticket's session is open. Returns
 * `{ setActive(on), ticket() }`: the form is offered only while `setActive(true)` (the device waits for a session);
 * an open ticket's status stays visible.
 */
export function mountWalkinDevice({ slot, token, auth, onSessionReady = () => {} }) {
  const id = (name) => `walkin-${name}`;
  const agency = h('select', { id: id('agency'), name: 'agency', required: true });
  const service = h('select', { id: id('service'), name: 'service' });
  const language = h('select', { id: id('language'), name: 'language', required: true });
  const needsInterpreter = h('input', { id: id('interpreter'), name: 'interpreter', type: 'checkbox' });
  const interpreterLanguage = h('select', { id: id('interpreter-language'), name: 'interpreter_language' });
  const interpreterField = h(
    'div',
    { class: 'field', id: id('interpreter-language-field'), hidden: true },
    h('label', { for: id('interpreter-language'), 'data-key': 'walkin.interpreterLanguage' }),
    interpreterLanguage,
  );
  const submit = h('button', { type: 'submit', class: 'button button--primary', id: id('submit'), 'data-key': 'walkin.submit' });
  const form = h(
    'form',
    { class: 'form walkin-form', id: id('form'), novalidate: true },
    h('div', { class: 'field' }, h('label', { for: id('agency'), 'data-key': 'walkin.agency' }), agency),
    h('div', { class: 'field' }, h('label', { for: id('service'), 'data-key': 'walkin.service' }), service),
    h('div', { class: 'field' }, h('label', { for: id('language'), 'data-key': 'walkin.language' }), language),
    h(
      'div',
      { class: 'field field--check' },
      h('label', { for: id('interpreter') }, needsInterpreter, ' ', h('span', { 'data-key': 'walkin.interpreter' })),
    ),
    interpreterField,
    submit,
  );
  const error = h('div', { class: 'notice notice--error', role: 'alert', id: id('error'), hidden: true });
  const statusText = h('p', { class: 'walkin-status__text', id: id('status-text') });
  const estimateText = h('p', { class: 'walkin-status__estimate', id: id('estimate') });
  const cancel = h('button', { type: 'button', class: 'button', id: id('cancel'), 'data-key': 'walkin.cancel' });
  // One polite live region: position and estimate changes are read out without interrupting.
  const status = h(
    'div',
    { class: 'walkin-status', id: id('status'), role: 'status', 'aria-live': 'polite', 'aria-atomic': 'true', hidden: true },
    h('h3', { class: 'visually-hidden', 'data-key': 'walkin.status' }),
    statusText,
    estimateText,
  );
  const offer = h('div', { class: 'walkin-offer', id: id('offer'), hidden: true });
  const section = h(
    'section',
    { class: 'panel walkin-panel', id: id('panel'), 'aria-labelledby': id('title'), hidden: true },
    h('h2', { id: id('title'), 'data-key': 'walkin.title' }),
    h('p', { class: 'panel__intro', 'data-key': 'walkin.intro' }),
    error,
    form,
    status,
    h('div', { class: 'actions', id: id('actions'), hidden: true }, cancel),
    offer,
  );
  slot.replaceChildren(section);

  let agencies = [];
  let current = null; // the ticket
  let active = false;
  let watcher = null;
  let pollTimer = null;
  let lastOffer = null;
  let readyFor = null; // the session already handed to onSessionReady

  function option(value, label, selected) {
    return h('option', { value, selected: value === selected }, label);
  }

  function fillLanguages(select, keep) {
    const chosen = select.value || keep;
    select.replaceChildren(...LANGUAGES.map((l) => option(l, languageName(l), chosen)));
  }

  function fillServices() {
    const a = agencies.find((x) => x.id === agency.value);
    const chosen = service.value;
    service.replaceChildren(
      option('', t('walkin.anyService'), chosen),
      ...(a?.services ?? []).map((s) => {
        const o = option(s.id, '', chosen);
        o.append(inLanguage(s.name));
        return o;
      }),
    );
  }

  function fillAgencies() {
    const chosen = agency.value;
    agency.replaceChildren(
      ...agencies.map((a) => option(a.id, a.walk_in ? a.name : t('walkin.agencyAppointments', { name: a.name }), chosen)),
    );
    fillServices();
  }

  function texts() {
    for (const el of section.querySelectorAll('[data-key]')) el.textContent = t(el.dataset.key);
    fillLanguages(language, 'fi');
    fillLanguages(interpreterLanguage, 'fse');
    fillAgencies();
    render();
  }

  function showError(err) {
    if (!err) {
      error.hidden = true;
      error.textContent = '';
      return;
    }
    const key = `walkin.err.${err.code}`;
    error.textContent = t(key) !== key ? t(key) : t('walkin.error', { code: err.code });
    error.hidden = false;
  }

  function renderOffer() {
    if (!lastOffer) {
      offer.hidden = true;
      offer.replaceChildren();
      return;
    }
    const name = agencies.find((a) => a.id === lastOffer.agency)?.name ?? lastOffer.agency;
    const slots = lastOffer.slots ?? [];
    offer.replaceChildren(
      h('p', {}, t('walkin.appointmentOnly', { agency: name })),
      slots.length
        ? h('p', {}, t('walkin.slots'))
        : h('p', { class: 'muted' }, t('walkin.noSlots')),
      slots.length ? h('ul', { class: 'walkin-slots' }, ...slots.map((s) => h('li', {}, slotText(s)))) : null,
      h('p', {}, h('a', { href: lastOffer.book_at ?? '/scheduler.html' }, t('walkin.book'))),
    );
    offer.hidden = false;
  }

  function slotText(s) {
    const date = new Intl.DateTimeFormat(document.documentElement.lang || 'fi', {
      timeZone: 'Europe/Helsinki',
      weekday: 'short',
      day: 'numeric',
      month: 'numeric',
    }).format(new Date(s.start));
    return `${date} ${formatClock(s.start)}–${formatClock(s.end)}`;
  }

  function statusWords(tk) {
    switch (tk.status) {
      case 'waiting':
        if (tk.expert && tk.interpreter_language && !tk.interpreter) return [t('walkin.waitingExpertTaken'), ''];
        return [
          tk.interpreter
            ? t('walkin.waitingInterpreterTaken', { position: tk.position ?? 1 })
            : t('walkin.waiting', { position: tk.position ?? 1 }),
          tk.experts_on_duty === 0
            ? t('walkin.noneOnDuty')
            : tk.estimated_wait_s === 0
              ? t('walkin.estimateNow')
              : tk.estimated_wait_s != null
                ? t('walkin.estimate', { minutes: minutes(tk.estimated_wait_s) })
                : t('walkin.waited', { minutes: minutes(tk.waited_s) }),
        ];
      case 'accepted':
        return [t('walkin.accepted'), ''];
      default:
        return [t(`walkin.${tk.status}`), ''];
    }
  }

  function render() {
    const open = current && (current.status === 'waiting' || current.status === 'accepted');
    section.hidden = !(active || current);
    form.hidden = Boolean(open) || !active;
    interpreterField.hidden = !needsInterpreter.checked;
    status.hidden = !current;
    section.querySelector(`#${id('actions')}`).hidden = !open;
    cancel.disabled = !open;
    if (current) {
      const [main, extra] = statusWords(current);
      status.dataset.status = current.status;
      status.dataset.position = current.position ?? '';
      statusText.textContent = main;
      estimateText.textContent = extra;
      estimateText.hidden = !extra;
    }
    renderOffer();
  }

  async function refresh() {
    if (!current) return;
    try {
      current = await apiFetch(`/api/walkin/tickets/${encodeURIComponent(current.id)}`, { token: await token() });
      showError(null);
    } catch (err) {
      if (err.code !== 'network') showError(err);
    }
    follow();
  }

  /** Start or stop following the ticket; hand an opened session over once. */
  function follow() {
    const open = current && (current.status === 'waiting' || current.status === 'accepted');
    if (open && !watcher) {
      watcher = watch(auth, ['walkin_ticket'], (topic, key) => {
        if (!key || key === current?.id) refresh();
      });
      pollTimer = setInterval(refresh, POLL_MS);
    } else if (!open && watcher) {
      watcher.stop();
      watcher = null;
      clearInterval(pollTimer);
    }
    if (current?.status === 'accepted' && current.session_id && readyFor !== current.session_id) {
      readyFor = current.session_id;
      onSessionReady(current);
    }
    render();
  }

  async function load() {
    try {
      const access = await token();
      const [list, mine] = await Promise.all([
        agencies.length ? null : apiFetch('/api/walkin/agencies', { token: access }),
        apiFetch('/api/walkin/tickets', { token: access }),
      ]);
      if (list) agencies = list;
      current = mine[0] ?? current;
      texts();
      follow();
    } catch (err) {
      showError(err);
    }
  }

  agency.addEventListener('change', () => {
    fillServices();
    lastOffer = null;
    render();
  });
  needsInterpreter.addEventListener('change', () => render());

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    lastOffer = null;
    const body = { agency: agency.value, language: language.value };
    if (service.value) body.service = service.value;
    if (needsInterpreter.checked) body.interpreter_language = interpreterLanguage.value;
    try {
      const token_ = await token();
      try {
        current = await apiFetch('/api/walkin/tickets', { method: 'POST', token: token_, body });
        showError(null);
      } catch (err) {
        if (err.code !== 'appointment_only') throw err;
        // The refusal carries the booking offer: fetch it whole (the error type keeps only code and message).
        const reply = await fetch('/api/walkin/tickets', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token_}` },
          body: JSON.stringify(body),
        });
        lastOffer = await reply.json();
        showError(null);
      }
      follow();
      // Focus moves to what answered the request: the ticket's status, or the booking offer.
      const answer = lastOffer ? offer : status;
      answer.setAttribute('tabindex', '-1');
      answer.focus();
    } catch (err) {
      showError(err);
    } finally {
      submit.disabled = false;
    }
  });

  cancel.addEventListener('click', async () => {
    if (!current) return;
    cancel.disabled = true;
    try {
      current = await apiFetch(`/api/walkin/tickets/${encodeURIComponent(current.id)}/cancel`, {
        method: 'POST',
        token: await token(),
      });
      showError(null);
    } catch (err) {
      showError(err);
      await refresh();
    }
    follow();
    agency.focus();
  });

  onLanguageChange(texts);
  texts();
  load();

  return {
    /** The device waits for a session (offer the form) or is in one (keep only an open ticket's status). */
    setActive(on) {
      if (on === active) return;
      active = on;
      // A closed ticket's outcome stays until the next request; a served one is over once the next wait begins.
      if (on && current && !['waiting', 'accepted'].includes(current.status)) current = null;
      if (on) load();
      render();
    },
    ticket: () => current,
  };
}
