// Väylä — the short anonymous survey the service point's device shows when a session ends: a 1–5 rating,
// "did you get your matter done / initiated / neither" and optional free text, in the device's interface
// language (fi/sv/en). Big touch targets, native radio groups inside fieldsets (arrow keys move within a group,
// Tab between groups), errors announced. After a thank-you, or when nobody answers, it clears itself so that the
// next customer finds a clean screen. The answer goes to POST /api/sessions/{session}/feedback and is linked to
// the session only (docs/reports.md).
//
//   const survey = new Survey(document.getElementById('survey-view'), { token: () => auth.token() });
//   survey.open(sessionId, { onClose });   // when a session has ended
//   survey.close();                        // when the next session starts

import { apiFetch } from './api.js';
import { h } from './dom.js';
import { getLanguage, onLanguageChange, registerStrings, t } from './i18n.js';

registerStrings({
  fi: {
    'survey.title': 'Miten onnistuimme?',
    'survey.intro': 'Vastaa kolmeen lyhyeen kysymykseen. Vastaus on nimetön.',
    'survey.rating': 'Kuinka tyytyväinen olit palveluun?',
    'survey.ratingScale': '1 = erittäin tyytymätön, 5 = erittäin tyytyväinen',
    'survey.rating.1': 'erittäin tyytymätön',
    'survey.rating.2': 'tyytymätön',
    'survey.rating.3': 'ei tyytyväinen eikä tyytymätön',
    'survey.rating.4': 'tyytyväinen',
    'survey.rating.5': 'erittäin tyytyväinen',
    'survey.outcome': 'Saitko asiasi hoidettua?',
    'survey.outcome.done': 'Kyllä, asia hoitui',
    'survey.outcome.initiated': 'Asia saatiin vireille',
    'survey.outcome.neither': 'Ei kumpaakaan',
    'survey.comment': 'Muuta palautetta (vapaaehtoinen)',
    'survey.commentHint': 'Älä kirjoita nimeäsi tai muita henkilötietoja. Enintään 500 merkkiä.',
    'survey.submit': 'Lähetä palaute',
    'survey.skip': 'Ohita',
    'survey.missing': 'Valitse arvosana ja vastaa, saitko asiasi hoidettua.',
    'survey.failed': 'Palautteen lähettäminen ei onnistunut. Yritä uudelleen.',
    'survey.thanks': 'Kiitos palautteestasi!',
    'survey.thanksHint': 'Näyttö tyhjenee hetken kuluttua seuraavaa asiakasta varten.',
  },
  sv: {
    'survey.title': 'Hur lyckades vi?',
    'survey.intro': 'Svara på tre korta frågor. Svaret är anonymt.',
    'survey.rating': 'Hur nöjd var du med servicen?',
    'survey.ratingScale': '1 = mycket missnöjd, 5 = mycket nöjd',
    'survey.rating.1': 'mycket missnöjd',
    'survey.rating.2': 'missnöjd',
    'survey.rating.3': 'varken nöjd eller missnöjd',
    'survey.rating.4': 'nöjd',
    'survey.rating.5': 'mycket nöjd',
    'survey.outcome': 'Fick du ditt ärende uträttat?',
    'survey.outcome.done': 'Ja, ärendet blev uträttat',
    'survey.outcome.initiated': 'Ärendet blev anhängiggjort',
    'survey.outcome.neither': 'Ingetdera',
    'survey.comment': 'Annan respons (frivilligt)',
    'survey.commentHint': 'Skriv inte ditt namn eller andra personuppgifter. Högst 500 tecken.',
    'survey.submit': 'Skicka respons',
    'survey.skip': 'Hoppa över',
    'survey.missing': 'Välj ett betyg och svara på om du fick ditt ärende uträttat.',
    'survey.failed': 'Responsen kunde inte skickas. Försök igen.',
    'survey.thanks': 'Tack för din respons!',
    'survey.thanksHint': 'Skärmen töms strax för nästa kund.',
  },
  en: {
    'survey.title': 'How did we do?',
    'survey.intro': 'Please answer three short questions. Your answer is anonymous.',
    'survey.rating': 'How satisfied were you with the service?',
    'survey.ratingScale': '1 = very dissatisfied, 5 = very satisfied',
    'survey.rating.1': 'very dissatisfied',
    'survey.rating.2': 'dissatisfied',
    'survey.rating.3': 'neither satisfied nor dissatisfied',
    'survey.rating.4': 'satisfied',
    'survey.rating.5': 'very satisfied',
    'survey.outcome': 'Did you get your matter taken care of?',
    'survey.outcome.done': 'Yes, it was done',
    'survey.outcome.initiated': 'It was initiated',
    'survey.outcome.neither': 'Neither',
    'survey.comment': 'Other feedback (optional)',
    'survey.commentHint': 'Please do not write your name or other personal details. At most 500 characters.',
    'survey.submit': 'Send feedback',
    'survey.skip': 'Skip',
    'survey.missing': 'Choose a rating and answer whether you got your matter taken care of.',
    'survey.failed': 'The feedback could not be sent. Please try again.',
    'survey.thanks': 'Thank you for your feedback!',
    'survey.thanksHint': 'The screen clears in a moment for the next customer.',
  },
});

/** How long the thank-you stays. */
export const THANKS_MS = 8_000;
/** How long an unanswered survey waits, from the last touch, before it clears itself. */
export const IDLE_MS = 90_000;
const MAX_COMMENT = 500;
const OUTCOMES = ['done', 'initiated', 'neither'];

export class Survey {
  /**
   * @param {HTMLElement} root an empty, hidden element the survey renders into
   * @param {{ token: () => Promise<string>, thanksMs?: number, idleMs?: number }} options
   */
  constructor(root, { token, thanksMs = THANKS_MS, idleMs = IDLE_MS }) {
    this.root = root;
    this.token = token;
    this.thanksMs = thanksMs;
    this.idleMs = idleMs;
    this.session = null;
    this.timer = null;
    this.answer = { rating: null, outcome: null, comment: '' };
    this.phase = 'closed';
    onLanguageChange(() => this.session && this.render());
  }

  get isOpen() {
    return this.session !== null;
  }

  /** Show the survey for a session that has just ended. */
  open(session, { onClose } = {}) {
    this.session = session;
    this.onClose = onClose;
    this.answer = { rating: null, outcome: null, comment: '' };
    this.phase = 'asking';
    this.error = '';
    this.render();
    this.root.hidden = false;
    this.root.querySelector('h2')?.focus();
    this.arm(this.idleMs);
  }

  /** Remove the survey (answered, skipped, timed out, or the next session started). */
  close() {
    if (!this.session) return;
    clearTimeout(this.timer);
    this.session = null;
    this.phase = 'closed';
    this.root.hidden = true;
    this.root.replaceChildren();
    const done = this.onClose;
    this.onClose = null;
    done?.();
  }

  arm(ms) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.close(), ms);
  }

  render() {
    const title = h('h2', { id: 'survey-title', tabindex: '-1' }, t(this.phase === 'thanks' ? 'survey.thanks' : 'survey.title'));
    if (this.phase === 'thanks') {
      this.root.replaceChildren(
        h('div', { class: 'survey__thanks', role: 'status' }, title, h('p', {}, t('survey.thanksHint'))),
      );
      return;
    }
    const ratings = [1, 2, 3, 4, 5].map((n) =>
      choice('rating', String(n), this.answer.rating === n, [
        h('span', { class: 'survey__number', 'aria-hidden': 'true' }, String(n)),
        h('span', { class: 'survey__words' }, t(`survey.rating.${n}`)),
      ]),
    );
    const outcomes = OUTCOMES.map((o) =>
      choice('outcome', o, this.answer.outcome === o, [h('span', { class: 'survey__words' }, t(`survey.outcome.${o}`))]),
    );
    const comment = h('textarea', {
      id: 'survey-comment',
      name: 'comment',
      rows: '3',
      maxlength: String(MAX_COMMENT),
      'aria-describedby': 'survey-comment-hint',
    });
    comment.value = this.answer.comment;
    const error = h('p', { id: 'survey-error', class: 'notice notice--error', role: 'alert' }, this.error);
    error.hidden = !this.error;
    const form = h(
      'form',
      { class: 'survey__form', novalidate: true },
      h(
        'fieldset',
        { class: 'survey__group survey__group--rating' },
        h('legend', {}, t('survey.rating'), h('span', { class: 'survey__scale' }, t('survey.ratingScale'))),
        h('div', { class: 'survey__choices survey__choices--rating' }, ratings),
      ),
      h(
        'fieldset',
        { class: 'survey__group' },
        h('legend', {}, t('survey.outcome')),
        h('div', { class: 'survey__choices' }, outcomes),
      ),
      h(
        'div',
        { class: 'field survey__comment' },
        h('label', { for: 'survey-comment' }, t('survey.comment')),
        comment,
        h('p', { id: 'survey-comment-hint', class: 'field__hint' }, t('survey.commentHint')),
      ),
      error,
      h(
        'div',
        { class: 'actions' },
        h('button', { type: 'submit', class: 'button button--primary button--large', id: 'survey-submit' }, t('survey.submit')),
        h('button', { type: 'button', class: 'button button--large', id: 'survey-skip' }, t('survey.skip')),
      ),
    );
    form.addEventListener('change', (e) => {
      if (e.target.name === 'rating') this.answer.rating = Number(e.target.value);
      if (e.target.name === 'outcome') this.answer.outcome = e.target.value;
      this.arm(this.idleMs);
    });
    form.addEventListener('input', (e) => {
      if (e.target === comment) this.answer.comment = comment.value;
      this.arm(this.idleMs);
    });
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.submit(form);
    });
    form.querySelector('#survey-skip').addEventListener('click', () => this.close());
    this.root.replaceChildren(title, h('p', { class: 'panel__intro' }, t('survey.intro')), form);
  }

  async submit(form) {
    const { rating, outcome, comment } = this.answer;
    if (!rating || !outcome) {
      this.error = t('survey.missing');
      this.render();
      const first = this.root.querySelector(rating ? 'input[name="outcome"]' : 'input[name="rating"]');
      first?.focus();
      return;
    }
    const button = form.querySelector('#survey-submit');
    button.disabled = true;
    const body = { rating, outcome, language: getLanguage() };
    if (comment.trim()) body.comment = comment.trim().slice(0, MAX_COMMENT);
    try {
      await apiFetch(`/api/sessions/${encodeURIComponent(this.session)}/feedback`, {
        method: 'POST',
        token: await this.token(),
        body,
      });
    } catch (e) {
      // Already answered (a second tab, a retry after a lost reply): the customer is thanked all the same.
      if (e.code !== 'feedback_exists') {
        this.error = t('survey.failed');
        this.render();
        this.root.querySelector('#survey-submit')?.focus();
        return;
      }
    }
    this.phase = 'thanks';
    this.error = '';
    this.render();
    this.root.querySelector('h2')?.focus();
    this.arm(this.thanksMs);
  }
}

/** One big radio choice: the native input (keyboard, screen readers) inside its label (the whole tile taps). */
function choice(name, value, checked, content) {
  const input = h('input', { type: 'radio', name, value, class: 'survey__radio', checked });
  return h('label', { class: 'survey__choice' }, input, h('span', { class: 'survey__label' }, content));
}
