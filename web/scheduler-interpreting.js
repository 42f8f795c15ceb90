// Väylä — the scheduler page's interpreter panel: for the selected appointment, the interpreter request's live
// status (offered to whom until when, accepted by whom, withdrawn, nobody accepted in time, cancelled) with what
// can be done about it: request an interpreter (again: the rebooking after nobody accepted), move the appointment
// to another time, or cancel the interpreter request.
//
// REST API (docs/appointments.md, "Interpreters"; docs/interpreters.md): GET /api/appointments/{id}/interpreter-
// requests, POST /api/appointments/{id}/interpreter-request, POST /api/interpreter-requests/{id}/cancel, GET /api/interpreters
// (names). The page calls `refresh()` whenever the server pushes an `interpreter_requests` change, so the status
// follows the cascade without polling; what changed for the worse (nobody accepted, an interpreter withdrew) is
// announced in a polite live region.

import { formatClock, formatDate, helsinkiParts, interpreterText, showApiError } from './appointments-common.js';
import { h } from './dom.js';
import { registerStrings, t } from './i18n.js';

registerStrings({
  fi: {
    'sched.interp.title': 'Tulkkaus',
    'sched.interp.none': 'Tulkkia ei ole vielä pyydetty.',
    'sched.interp.offered': 'Tarjottu tulkille {names}. Vastaus viimeistään {deadline}.',
    'sched.interp.open': 'Pyyntö etenee seuraavalle tulkille.',
    'sched.interp.accepted': 'Tulkki: {name}. Tulkkaus on vahvistettu.',
    'sched.interp.unfilled.nobody_accepted': 'Kukaan tulkeista ei ottanut tulkkausta vastaan ajoissa.',
    'sched.interp.unfilled.nobody_qualified': 'Sopivaa vapaata tulkkia ei löytynyt tähän aikaan.',
    'sched.interp.unfilled.too_late': 'Tulkkausta ei ehditä enää tarjota ennen alkua.',
    'sched.interp.rebookHint': 'Pyydä tulkkia uudelleen tai siirrä varaus toiseen aikaan.',
    'sched.interp.cancelled.appointment_cancelled': 'Tulkkipyyntö päättyi, koska varaus peruttiin.',
    'sched.interp.cancelled.no_longer_needed': 'Tulkkipyyntö on peruttu.',
    'sched.interp.withdrew': '{name} perui tulkkauksen.',
    'sched.interp.request': 'Pyydä tulkki',
    'sched.interp.requestAgain': 'Pyydä tulkkia uudelleen',
    'sched.interp.moveTime': 'Siirrä toiseen aikaan',
    'sched.interp.cancel': 'Peru tulkkipyyntö',
    'sched.interp.cancelConfirm': 'Perutaanko tulkkipyyntö? Tulkille ilmoitetaan.',
    'sched.interp.need': 'Tarve: {need}',
    'sched.interp.history': 'Tarjoukset',
    'sched.interp.outcome.pending': 'odottaa vastausta',
    'sched.interp.outcome.accepted': 'otti vastaan',
    'sched.interp.outcome.declined': 'kieltäytyi',
    'sched.interp.outcome.expired': 'ei vastannut ajoissa',
    'sched.interp.outcome.withdrawn': 'tarjous peruttu',
    'sched.interp.outcome.cancelled': 'perui tulkkauksen',
    'sched.interp.outcome.released': 'vapautettu',
  },
  sv: {
    'sched.interp.title': 'Tolkning',
    'sched.interp.none': 'Ingen tolk har beställts ännu.',
    'sched.interp.offered': 'Erbjuden till {names}. Svar senast {deadline}.',
    'sched.interp.open': 'Beställningen går vidare till nästa tolk.',
    'sched.interp.accepted': 'Tolk: {name}. Tolkningen är bekräftad.',
    'sched.interp.unfilled.nobody_accepted': 'Ingen tolk tackade ja i tid.',
    'sched.interp.unfilled.nobody_qualified': 'Ingen lämplig ledig tolk hittades för den här tiden.',
    'sched.interp.unfilled.too_late': 'Det är för sent att erbjuda tolkningen före starten.',
    'sched.interp.rebookHint': 'Beställ en tolk på nytt eller flytta bokningen till en annan tid.',
    'sched.interp.cancelled.appointment_cancelled': 'Tolkbeställningen avslutades eftersom bokningen avbokades.',
    'sched.interp.cancelled.no_longer_needed': 'Tolkbeställningen är avbokad.',
    'sched.interp.withdrew': '{name} avbokade tolkningen.',
    'sched.interp.request': 'Beställ tolk',
    'sched.interp.requestAgain': 'Beställ tolk på nytt',
    'sched.interp.moveTime': 'Flytta till en annan tid',
    'sched.interp.cancel': 'Avboka tolkbeställningen',
    'sched.interp.cancelConfirm': 'Avboka tolkbeställningen? Tolken meddelas.',
    'sched.interp.need': 'Behov: {need}',
    'sched.interp.history': 'Erbjudanden',
    'sched.interp.outcome.pending': 'väntar på svar',
    'sched.interp.outcome.accepted': 'tackade ja',
    'sched.interp.outcome.declined': 'tackade nej',
    'sched.interp.outcome.expired': 'svarade inte i tid',
    'sched.interp.outcome.withdrawn': 'erbjudandet återtaget',
    'sched.interp.outcome.cancelled': 'avbokade tolkningen',
    'sched.interp.outcome.released': 'frigjord',
  },
  en: {
    'sched.interp.title': 'Interpreting',
    'sched.interp.none': 'No interpreter has been requested yet.',
    'sched.interp.offered': 'Offered to {names}. Answer due by {deadline}.',
    'sched.interp.open': 'The request is moving on to the next interpreter.',
    'sched.interp.accepted': 'Interpreter: {name}. The interpreting is confirmed.',
    'sched.interp.unfilled.nobody_accepted': 'Nobody accepted the interpreting in time.',
    'sched.interp.unfilled.nobody_qualified': 'No suitable interpreter is free at this time.',
    'sched.interp.unfilled.too_late': 'It is too late to offer the interpreting before the start.',
    'sched.interp.rebookHint': 'Request an interpreter again, or move the appointment to another time.',
    'sched.interp.cancelled.appointment_cancelled': 'The interpreter request ended because the appointment was cancelled.',
    'sched.interp.cancelled.no_longer_needed': 'The interpreter request was cancelled.',
    'sched.interp.withdrew': '{name} withdrew from the interpreting.',
    'sched.interp.request': 'Request an interpreter',
    'sched.interp.requestAgain': 'Request an interpreter again',
    'sched.interp.moveTime': 'Move to another time',
    'sched.interp.cancel': 'Cancel the interpreter request',
    'sched.interp.cancelConfirm': 'Cancel the interpreter request? The interpreter will be told.',
    'sched.interp.need': 'Need: {need}',
    'sched.interp.history': 'Offers',
    'sched.interp.outcome.pending': 'waiting for an answer',
    'sched.interp.outcome.accepted': 'accepted',
    'sched.interp.outcome.declined': 'declined',
    'sched.interp.outcome.expired': 'did not answer in time',
    'sched.interp.outcome.withdrawn': 'offer withdrawn',
    'sched.interp.outcome.cancelled': 'withdrew',
    'sched.interp.outcome.released': 'released',
  },
});

/**
 * The panel inside `root` (a section with the elements named below). `call(path, options)` is the page's
 * authenticated fetch; `onMoveTime()` opens the page's own reschedule form; `onChanged()` runs after this panel
 * changed something (the appointment's interpreters may have changed).
 */
export function interpreterPanel(root, { call, onMoveTime, onChanged }) {
  const el = (id) => root.querySelector(`#${id}`);
  const status = el('interp-status');
  const need = el('interp-need');
  const history = el('interp-history');
  const live = el('interp-live');
  const error = el('interp-error');
  const requestButton = el('interp-request');
  const moveButton = el('interp-move');
  const cancelButton = el('interp-cancel');

  let appointment = null;
  let request = null;
  let names = new Map();
  let loading = 0;

  const nameOf = (id) => names.get(id) ?? id;

  async function loadNames() {
    try {
      const list = await call('/api/interpreters');
      names = new Map(list.map((i) => [i.id, i.name ?? i.id]));
    } catch {
      names = new Map();
    }
  }

  /** What to say about the request now; `undefined` for nothing. */
  function statusText(r) {
    if (!r) return t('sched.interp.none');
    switch (r.state) {
      case 'offered': {
        const pending = r.offers.filter((o) => o.outcome === 'pending');
        const deadline = pending.map((o) => o.deadline).sort()[0];
        const when = deadline ? `${formatDate(helsinkiParts(deadline).date)} ${formatClock(deadline)}` : '';
        return t('sched.interp.offered', { names: pending.map((o) => nameOf(o.interpreter)).join(', '), deadline: when });
      }
      case 'open':
        return t('sched.interp.open');
      case 'accepted':
        return t('sched.interp.accepted', { name: nameOf(r.assigned_interpreter) });
      case 'exhausted':
        return `${t(`sched.interp.unfilled.${r.unfilled ?? 'nobody_accepted'}`)} ${t('sched.interp.rebookHint')}`;
      case 'cancelled':
        return t(`sched.interp.cancelled.${r.cancel_reason ?? 'no_longer_needed'}`);
      default:
        return r.state;
    }
  }

  /** Who withdrew in this round (their accepted offer became `cancelled`). */
  const withdrawals = (r) => (r?.offers ?? []).filter((o) => o.outcome === 'cancelled').map((o) => o.interpreter);

  function render() {
    if (!appointment) {
      root.hidden = true;
      return;
    }
    const wanted = appointment.special_needs?.interpreter;
    root.hidden = !wanted && !request;
    if (root.hidden) return;
    const booked = appointment.status === 'booked';
    const unfilled = request?.state === 'exhausted';
    root.dataset.state = request?.state ?? 'none';
    status.textContent = statusText(request);
    status.classList.toggle('sched-interp__status--warning', unfilled || withdrawals(request).length > 0);
    for (const old of root.querySelectorAll('.sched-interp__withdrew')) old.remove();
    status.after(
      ...withdrawals(request).map((id) =>
        h('p', { class: 'sched-interp__withdrew' }, t('sched.interp.withdrew', { name: nameOf(id) }))),
    );
    const what = wanted ?? (request ? { language: request.language, modality: request.modality } : null);
    need.textContent = what ? t('sched.interp.need', { need: interpreterText(what) }) : '';
    const offers = request?.offers ?? [];
    history.hidden = offers.length === 0;
    history.replaceChildren(
      h('h5', {}, t('sched.interp.history')),
      h('ul', {}, ...offers.map((o) => h('li', {}, `${nameOf(o.interpreter)}: ${t(`sched.interp.outcome.${o.outcome}`)}`))),
    );
    const pendingOrHeld = request && ['open', 'offered', 'accepted'].includes(request.state);
    const canRequest = booked && what && (!request || request.state === 'exhausted' || request.state === 'cancelled');
    requestButton.hidden = !canRequest;
    requestButton.textContent = request ? t('sched.interp.requestAgain') : t('sched.interp.request');
    moveButton.hidden = !(booked && unfilled);
    moveButton.textContent = t('sched.interp.moveTime');
    cancelButton.hidden = !(booked && pendingOrHeld);
    cancelButton.textContent = t('sched.interp.cancel');
  }

  /** Tells (politely) what got worse since the last look: nobody accepted, someone withdrew. */
  function announceChange(before, after) {
    if (!after || !before || before.id !== after.id) return;
    if (after.state === 'exhausted' && before.state !== 'exhausted') {
      live.textContent = statusText(after);
      return;
    }
    const fresh = withdrawals(after).filter((id) => !withdrawals(before).includes(id));
    if (fresh.length) live.textContent = fresh.map((id) => t('sched.interp.withdrew', { name: nameOf(id) })).join(' ');
  }

  async function refresh() {
    if (!appointment) return;
    const id = appointment.id;
    const ticket = ++loading;
    let next = null;
    try {
      // The list (empty when none) rather than the single request, whose "none" is a 404.
      const all = await call(`/api/appointments/${encodeURIComponent(id)}/interpreter-requests`);
      next = all.find((r) => r.state !== 'cancelled') ?? all[0] ?? null;
    } catch (err) {
      showApiError(error, err);
      return;
    }
    // A later refresh (or another appointment) overtook this one.
    if (ticket !== loading || appointment?.id !== id) return;
    showApiError(error, null);
    announceChange(request, next);
    request = next;
    render();
  }

  requestButton.addEventListener('click', async () => {
    if (!appointment) return;
    const what = appointment.special_needs?.interpreter ?? (request ? { language: request.language, modality: request.modality } : null);
    if (!what) return;
    requestButton.disabled = true;
    try {
      request = await call(`/api/appointments/${encodeURIComponent(appointment.id)}/interpreter-request`, {
        method: 'POST',
        body: { language: what.language, modality: what.modality === 'remote' ? 'remote_video' : what.modality },
      });
      showApiError(error, null);
      live.textContent = statusText(request);
      render();
      onChanged?.();
    } catch (err) {
      showApiError(error, err);
    } finally {
      requestButton.disabled = false;
    }
  });

  moveButton.addEventListener('click', () => onMoveTime?.());

  cancelButton.addEventListener('click', async () => {
    if (!request || !window.confirm(t('sched.interp.cancelConfirm'))) return;
    cancelButton.disabled = true;
    try {
      request = await call(`/api/interpreter-requests/${encodeURIComponent(request.id)}/cancel`, { method: 'POST' });
      showApiError(error, null);
      live.textContent = statusText(request);
      render();
      onChanged?.();
    } catch (err) {
      showApiError(error, err);
    } finally {
      cancelButton.disabled = false;
    }
  });

  return {
    /** Shows the panel for `a` (the selected appointment, or null); loads its request when `a` is another one. */
    async show(a) {
      const other = a?.id !== appointment?.id;
      appointment = a;
      if (other) {
        request = null;
        live.textContent = '';
        render();
        if (a) {
          if (names.size === 0) await loadNames();
          await refresh();
        }
      } else {
        render();
      }
    },
    refresh,
    render,
  };
}
