// The reports page (web/admin.html) and the after-session survey (web/survey.js on web/device.html) in a real
// browser against a real server.
//
// 1. Seeded through the API (two sessions opened and ended by advisors, one answered by its device), the admin
//    page shows the figures of this month as tables and charts, passes axe-core in Finnish, Swedish and English,
//    and downloads the summary, billing and interpreter CSVs with the same figures.
// 2. Survey → report: a device page waits in its room, an advisor opens a session (POST /api/rooms/{room}/session)
//    and ends it; the survey appears in the device's language, passes axe-core, is answered with the keyboard and
//    touch, thanks the customer and clears itself; the answer shows up in the report, on the admin page too.

import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before } from 'node:test';

import { call, DEMO_PASSWORD, DEVICE_CREDENTIAL, deviceLogin, endSession, login, openSession } from './lib/api.mjs';
import { expectNoAxeViolations } from './lib/axe.mjs';
import { launchBrowser, newPage } from './lib/browser.mjs';
import { startServer } from './lib/server.mjs';
import { RESULTS, pageTestWith, shutDown } from './lib/suite.mjs';

let server;
let browser;
let admin;

before(async () => {
  await mkdir(RESULTS, { recursive: true });
  server = await startServer();
  browser = await launchBrowser({ fakeVideoDevices: 2 });
  admin = await login(server.url, 'admin');
});

after(async () => {
  await shutDown(server, [browser]);
});

const pageTest = pageTestWith(() => server);

/** This year and month in Helsinki (the reports' time zone). */
function helsinkiMonth() {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Helsinki', year: 'numeric', month: '2-digit' })
    .formatToParts(new Date());
  const get = (type) => Number(parts.find((p) => p.type === type).value);
  return { year: get('year'), month: get('month') };
}

const summary = ({ year, month }) =>
  call(server.url, `/api/reports/summary?year=${year}&month=${month}`, { token: admin.access_token });

/** Open a session in `room` with one expert and end it at once; resolves to its id. */
async function heldSession(room, expert) {
  const advisor = await login(server.url, `advisor-${room.replace(/-\d+$/, '')}`);
  const view = await openSession(server.url, advisor.access_token, room, [{ role: 'expert', subject: expert }]);
  await endSession(server.url, advisor.access_token, room);
  return view.session_id;
}

const text = async (page, selector) => (await page.$eval(selector, (el) => el.innerText)).replace(/\s+/g, ' ').trim();

async function signInAdmin(page) {
  await page.goto(`${server.url}/admin.html`);
  await page.fill('#username', 'admin');
  await page.fill('#password', DEMO_PASSWORD);
  await page.click('#login-button');
  await page.waitForSelector('#app-view:not([hidden])');
}

async function showMonth(page, { year, month }) {
  await page.fill('#year', String(year));
  await page.selectOption('#span', `m${month}`);
  await page.click('#show-button');
  await page.waitForSelector('#sessions-total');
}

async function downloaded(page, selector) {
  const [download] = await Promise.all([page.waitForEvent('download'), page.click(selector)]);
  const path = join(RESULTS, download.suggestedFilename());
  await download.saveAs(path);
  return { name: download.suggestedFilename(), body: await readFile(path, 'utf8') };
}

pageTest('the admin page shows the seeded figures, downloads the CSVs and passes axe in fi, sv, en', 120_000, async (pages) => {
  const now = helsinkiMonth();
  const before = await summary(now);
  const first = await heldSession('mikkeli-2', 'kela-anna');
  await heldSession('kiiminki-1', 'vero-liisa');
  const device = await deviceLogin(server.url, 'mikkeli-2');
  await call(server.url, `/api/sessions/${first}/feedback`, {
    method: 'POST',
    token: device.access_token,
    body: { rating: 5, outcome: 'done', language: 'fi' },
  });
  const total = before.sessions.total + 2;
  const answers = before.feedback.answers + 1;

  const page = await newPage(browser);
  page.label = 'admin';
  pages.push(page);
  await signInAdmin(page);
  await expectNoAxeViolations(page, { label: 'admin page, signed in (fi)' });
  await showMonth(page, now);
  const mm = String(now.month).padStart(2, '0');
  assert.equal(await text(page, '#sessions-total'), String(total));
  assert.equal(await text(page, '#feedback-answers'), String(answers));
  // The sessions table names the service point and the agency (by name) and the month.
  const rows = await page.$$eval('#sessions tbody tr', (trs) => trs.map((tr) => tr.innerText.replace(/\s+/g, ' ').trim()));
  for (const row of [
    `Kiimingin asiointipiste Verohallinto ${now.year}-${mm} 1`,
    `Mikkelin yhteispalvelupiste Kela ${now.year}-${mm} 1`,
  ]) {
    assert.ok(rows.includes(row), `${row} in ${rows.join(' | ')}`);
  }
  // Charts are images with a text alternative; the tables carry the same figures.
  const charts = await page.$$eval('#feedback svg[role="img"]', (svgs) => svgs.map((s) => s.getAttribute('aria-label')));
  assert.equal(charts.length, 2);
  assert.match(charts[1], /^Pylväskaavio: Hoitui \d+, Vireille \d+, Ei kumpaakaan \d+$/);
  await expectNoAxeViolations(page, { label: 'admin page with a month report (fi)' });

  const csv = await downloaded(page, '#summary-csv');
  assert.equal(csv.name, `vayla-report-${now.year}-${mm}.csv`);
  assert.ok(csv.body.startsWith('section,service_point,agency,period,measure,value\r\n'), csv.body.slice(0, 80));
  assert.ok(csv.body.includes(`totals,,,${now.year}-${mm},sessions,${total}\r\n`), csv.body);
  assert.ok(csv.body.includes(`feedback,,,${now.year}-${mm},answers,${answers}\r\n`), csv.body);

  // A quarter brings the billing; both billing and interpreter CSVs download.
  const quarter = Math.ceil(now.month / 3);
  await page.selectOption('#span', `q${quarter}`);
  await page.click('#show-button');
  await page.waitForSelector('#billing table');
  const billing = await downloaded(page, '#billing-csv');
  assert.equal(billing.name, `vayla-billing-${now.year}-Q${quarter}.csv`);
  assert.ok(billing.body.startsWith('agency,period,task,count,unit_price_eur,total_eur\r\n'));
  assert.match(billing.body, new RegExp(`\\r\\nkela,${now.year}-Q${quarter},connection_opening,\\d+,1\\.77,\\d+\\.\\d\\d\\r\\n`));
  const records = await downloaded(page, '#interpreters-csv');
  assert.ok(records.body.startsWith('record,period,interpreter,provider,'));

  for (const [lang, title, chart] of [
    ['sv', 'Rapporter', /^Stapeldiagram: /],
    ['en', 'Reports', /^Bar chart: /],
  ]) {
    await page.click(`#lang-switcher button[data-set-lang="${lang}"]`);
    await page.waitForFunction((l) => document.documentElement.lang === l, lang);
    assert.equal(await text(page, 'h1'), title);
    assert.match(await page.$eval('#kinds svg', (s) => s.getAttribute('aria-label')), chart);
    await expectNoAxeViolations(page, { label: `admin page with a quarter report (${lang})` });
  }
  // Reflow: no horizontal scrolling at 320 px.
  await page.setViewportSize({ width: 320, height: 800 });
  assert.equal(await page.evaluate(() => document.documentElement.scrollWidth <= 320), true, 'no horizontal scroll at 320 px');
  await page.context().close();
});

pageTest('after a session the device shows the survey; the answer shows up in the report', 120_000, async (pages) => {
  const room = 'mikkeli-1';
  const now = helsinkiMonth();
  const before = await summary(now);

  const page = await newPage(browser);
  page.label = 'device';
  pages.push(page);
  await page.goto(`${server.url}/device.html?lang=sv`);
  await page.fill('#device-id', room);
  await page.fill('#credential', DEVICE_CREDENTIAL);
  await page.click('#login-button');
  await page.waitForSelector('#setup-view:not([hidden])');
  await page.click('#join-button');
  await page.waitForSelector('#call-status[data-state="waiting-for-session"]');

  const advisor = await login(server.url, 'advisor-mikkeli');
  await openSession(server.url, advisor.access_token, room, [{ role: 'expert', subject: 'kela-mikko' }]);
  await page.waitForSelector('#call-status[data-state="gathering"]', { timeout: 15_000 });
  await endSession(server.url, advisor.access_token, room);

  // The survey, in the device's language (Swedish), takes the screen.
  await page.waitForSelector('#survey-view:not([hidden])', { timeout: 10_000 });
  assert.equal(await page.isHidden('#call-view'), true);
  assert.equal(await text(page, '#survey-title'), 'Hur lyckades vi?');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'survey-title', 'focus moves to the survey');
  const legends = await page.$$eval('#survey-view legend', (ls) => ls.map((l) => l.innerText.split('\n')[0].trim()));
  assert.deepEqual(legends, ['Hur nöjd var du med servicen?', 'Fick du ditt ärende uträttat?']);
  await expectNoAxeViolations(page, { label: 'device survey (sv)' });
  // Touch targets at least 44 px high.
  const heights = await page.$$eval('.survey__choice', (ls) => ls.map((l) => l.getBoundingClientRect().height));
  assert.equal(heights.length, 8);
  assert.ok(heights.every((h) => h >= 44), `choice heights ${heights}`);

  // Sending without answers says what is missing and moves focus to the first rating.
  await page.click('#survey-submit');
  assert.equal(
    await text(page, '#survey-error'),
    'Välj ett betyg och svara på om du fick ditt ärende uträttat.',
  );
  assert.equal(await page.evaluate(() => document.activeElement?.name), 'rating');
  // The keyboard: arrows move within the rating group (1 → 2 → 3 → 4).
  await page.keyboard.press('Space');
  for (let i = 0; i < 3; i++) await page.keyboard.press('ArrowRight');
  assert.equal(await page.$eval('input[name="rating"]:checked', (i) => i.value), '4');
  // Touch: the whole tile is the target.
  await page.click('.survey__choice:has(input[value="initiated"])');
  await page.fill('#survey-comment', 'Smidigt.');
  await page.click('#survey-submit');
  await page.waitForSelector('.survey__thanks');
  assert.equal(await text(page, '#survey-title'), 'Tack för din respons!');
  await expectNoAxeViolations(page, { label: 'device survey thanks (sv)' });
  // It clears itself: the next customer finds the waiting screen.
  await page.waitForSelector('#survey-view[hidden]', { state: 'attached', timeout: 20_000 });
  assert.equal(await page.isVisible('#call-view'), true);
  assert.equal(await page.$$eval('#survey-view *', (els) => els.length), 0, 'nothing of the answer is left');

  // The answer is in the report: through the API …
  const afterwards = await summary(now);
  assert.equal(afterwards.feedback.answers, before.feedback.answers + 1);
  assert.equal(afterwards.feedback.initiated, before.feedback.initiated + 1);
  assert.equal(afterwards.feedback.ratings[3], before.feedback.ratings[3] + 1);
  // … and on the admin page.
  const adminPage = await newPage(browser);
  adminPage.label = 'admin';
  pages.push(adminPage);
  await signInAdmin(adminPage);
  await showMonth(adminPage, now);
  assert.equal(await text(adminPage, '#feedback-answers'), String(afterwards.feedback.answers));
  await adminPage.context().close();
  await page.context().close();
});
