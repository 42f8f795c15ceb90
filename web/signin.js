// Signing in on the people's pages (expert, interpreter, scheduler): the sign-in form's submit, and the login
// kept in sessionStorage so that a reload (or the page's own navigation) stays signed in for as long as the
// access token lasts. Each page keeps what is its own: what it shows once signed in, and which roles it takes.

import { api } from './api.js';
import { t } from './i18n.js';

/** Keep `reply` (a login or refresh reply) under `key`, with when it was saved. */
export function saveLogin(key, reply) {
  try {
    sessionStorage.setItem(key, JSON.stringify({ ...reply, saved_at: Date.now() }));
  } catch {
    /* storage disabled */
  }
}

export function forgetLogin(key) {
  try {
    sessionStorage.removeItem(key);
  } catch {
    /* storage disabled */
  }
}

/** The login saved under `key` if its token is good for at least another minute, with `expires_in` counted from now. */
export function savedLogin(key) {
  try {
    const s = JSON.parse(sessionStorage.getItem(key) ?? 'null');
    return s && s.saved_at + s.expires_in * 1000 > Date.now() + 60_000
      ? { ...s, expires_in: Math.floor((s.saved_at + s.expires_in * 1000 - Date.now()) / 1000) }
      : null;
  } catch {
    return null;
  }
}

/**
 * Handle the sign-in form: both fields required, the button disabled while asking, the password cleared after
 * an answer, errors in `showError` with the page's strings `${strings}.missing`, `.failed` and `.error`.
 * `refuse(reply)` may return a message to turn a valid login away (a role the page does not serve);
 * otherwise `onSignedIn(reply)` runs (and is awaited: what it throws is shown like a failed login).
 */
export function bindSignInForm({ form, username, password, button, showError, strings, refuse = () => null, onSignedIn }) {
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const name = username.value.trim();
    const secret = password.value;
    if (!name || !secret) {
      showError(t(`${strings}.missing`));
      (name ? password : username).focus();
      return;
    }
    button.disabled = true;
    try {
      const reply = await api.login(name, secret);
      password.value = '';
      const refusal = refuse(reply);
      if (refusal) {
        showError(refusal);
        username.focus();
        return;
      }
      showError('');
      await onSignedIn(reply);
    } catch (err) {
      showError(err.status === 401 ? t(`${strings}.failed`) : t(`${strings}.error`, { code: err.code }));
      password.focus();
    } finally {
      button.disabled = false;
    }
  });
}
