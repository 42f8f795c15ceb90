// The scheduler page's interpreter panel in a real browser against a real server: a booked appointment needs a
// Swedish interpreter; the scheduler requests one from the page; the interpreters answer through the API while
// the page stays open, and the panel follows each answer live (pushed `interpreter_requests` changes, no
// reload): offered, declined and moved on, nobody accepted in time (with the rebooking actions), requested again,
// accepted, withdrawn by the interpreter (said, and announced), and cancelled by the scheduler. axe-core finds no
// WCAG 2.2 A/AA violation in these states.

import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { call, DEMO_PASSWORD, login } from './lib/api.mjs';
import { expectNoAxeViolations } from './lib/axe.mjs';
import { launchBrowser, newPage } from './lib/browser.mjs';
import { startServer } from './lib/server.mjs';
import { RESULTS, shutDown } from './lib/suite.mjs';

const DEVICE = 'mikkeli-1';

let server;
let browser;

before(async () => {
  await mkdir(RESULTS, { recursive: true });
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await shutDown(server, [browser]);
});

const text = async (page, selector) => (await page.$eval(selector, (el) => el.innerText)).replace(/\s+/g, ' ').trim();

/** Waits until the element's text matches `pattern`; returns it. */
async function until(page, selector, pattern) {
  await page.waitForFunction(
    ({ selector, source }) => new RegExp(source).test(document.querySelector(selector)?.textContent ?? ''),
    { selector, source: pattern.source },
    { timeout: 15_000 },
  );
  return text(page, selector);
}

function helsinkiDate(iso) {
  return new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Helsinki', year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(iso));
}

test('the interpreter panel follows the request live: declined, unfilled, requested again, withdrawn, cancelled', { timeout: 120_000 }, async () => {
  const page = await newPage(browser);
  try {
    const scheduler = await login(server.url, 'scheduler');
    const api = (path, options = {}) => call(server.url, path, { token: scheduler.access_token, ...options });
    const as = async (who, path) => call(server.url, path, { method: 'POST', token: (await login(server.url, who)).access_token });

    // An appointment two to four weeks ahead that needs a Swedish interpreter.
    const today = helsinkiDate(new Date().toISOString());
    const plus = (days) => helsinkiDate(new Date(Date.parse(`${today}T12:00:00Z`) + days * 86_400_000).toISOString());
    const search = await api('/api/slots/search', {
      method: 'POST',
      body: { service: 'kela-benefits', devices: [DEVICE], expert: 'kela-anna', from: plus(14), to: plus(28), limit: 1 },
    });
    const start = search.slots[0].start;
    const booked = await api('/api/appointments', {
      method: 'POST',
      body: { service: 'kela-benefits', device: DEVICE, expert: 'kela-anna', start,
              special_needs: { interpreter: { language: 'sv', modality: 'remote_video' } } },
    });

    // The scheduler opens the device's day and selects the appointment.
    await page.goto(`${server.url}/scheduler.html`);
    await page.fill('#username', 'scheduler');
    await page.fill('#password', DEMO_PASSWORD);
    await page.click('#login-button');
    await page.waitForSelector('#app-view:not([hidden])');
    await page.check('#cal-kind-device');
    await page.selectOption('#cal-resource', DEVICE);
    await page.fill('#cal-date', helsinkiDate(start));
    await page.check('#cal-span-day');
    await page.click('#calendar-show');
    await page.click(`#calendar-view [data-appointment="${booked.id}"]`);
    await page.waitForSelector('#detail-interp:not([hidden])');
    assert.match(await text(page, '#interp-status'), /Tulkkia ei ole vielä pyydetty/);
    assert.match(await text(page, '#interp-need'), /ruotsi/i);

    // Requested from the page: offered to Aino first.
    await page.click('#interp-request');
    assert.match(await until(page, '#interp-status', /Tarjottu tulkille/), /Aino/);
    await expectNoAxeViolations(page, { label: 'interpreter panel, offered (fi)' });
    const { id } = await api(`/api/appointments/${booked.id}/interpreter-request`);

    // Aino declines (elsewhere): the page moves on to Sofia without a reload.
    await as('tulkki-aino', `/api/interpreter-offers/${id}/decline`);
    assert.match(await until(page, '#interp-status', /Sofia/), /Tarjottu tulkille/);
    assert.match(await text(page, '#interp-history'), /kieltäytyi/);

    // Sofia declines too: nobody accepted in time — said clearly, with the rebooking actions.
    await as('tulkki-sofia', `/api/interpreter-offers/${id}/decline`);
    await until(page, '#interp-status', /Kukaan tulkeista ei ottanut tulkkausta vastaan ajoissa/);
    await until(page, '#interp-live', /Kukaan tulkeista/);
    assert.equal(await page.isVisible('#interp-request'), true, 'request again');
    assert.equal(await text(page, '#interp-request'), 'Pyydä tulkkia uudelleen');
    assert.equal(await page.isVisible('#interp-move'), true, 'move to another time');
    assert.equal(await page.isVisible('#interp-cancel'), false);
    await expectNoAxeViolations(page, { label: 'interpreter panel, nobody accepted (fi)' });
    await page.screenshot({ path: join(RESULTS, 'scheduler-interpreting-unfilled.png') });
    // "Move to another time" opens the page's reschedule form.
    await page.click('#interp-move');
    await page.waitForSelector('#reschedule-panel:not([hidden])');

    // Requested again: a new round; whoever is asked accepts; then withdraws — the scheduler is told.
    await page.click('#interp-request');
    await until(page, '#interp-status', /Tarjottu tulkille/);
    const again = await api(`/api/appointments/${booked.id}/interpreter-request`);
    const asked = again.offers.find((o) => o.outcome === 'pending').interpreter;
    await as(asked, `/api/interpreter-offers/${again.id}/accept`);
    await until(page, '#interp-status', /Tulkkaus on vahvistettu/);
    await as(asked, `/api/interpreter-requests/${again.id}/withdraw`);
    await until(page, '#detail-interp', /perui tulkkauksen\./);
    await until(page, '#interp-live', /perui tulkkauksen/);
    await expectNoAxeViolations(page, { label: 'interpreter panel, withdrawn (fi)' });

    // The scheduler cancels the request from the page (the other interpreter may be holding an offer).
    await page.evaluate(() => { window.confirm = () => true; });
    const state = (await api(`/api/appointments/${booked.id}/interpreter-request`)).state;
    if (state === 'offered' || state === 'accepted') {
      await page.click('#interp-cancel');
      await until(page, '#interp-status', /Tulkkipyyntö on peruttu/);
      assert.equal((await api(`/api/appointments/${booked.id}/interpreter-request`)).cancel_reason, 'no_longer_needed');
    }
    await expectNoAxeViolations(page, { label: 'interpreter panel, end' });
    assert.deepEqual(page.problems, [], 'the page logged no errors');
  } catch (e) {
    server.printLogs('server output');
    await page.screenshot({ path: join(RESULTS, 'scheduler-interpreting-failure.png'), fullPage: true }).catch(() => {});
    throw e;
  } finally {
    await page.context().close();
  }
});
