// The walk-in queue in real browsers against a real server: a service point opens a walk-in ticket on its device
// page, an on-duty expert accepts it from the expert page, both are in the device's locked room with video
// playing, and the expert ends the session (the ticket is served); the device then shows the customer's survey,
// which is answered and shows up in the report. The new panels pass axe-core in Finnish, Swedish and English.
//
// The walk-in part itself is `runWalkIn` of lib/walkin.mjs, so that a story carrying on after the session
// (feedback, reports) can reuse it.

import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { after, before } from 'node:test';

import { call, login } from './lib/api.mjs';
import { expectNoAxeViolations } from './lib/axe.mjs';
import { launchBrowser } from './lib/browser.mjs';
import { startServer } from './lib/server.mjs';
import { endWalkInSession, openOnDutyExpert, openWaitingDevice, runWalkIn, SEL } from './lib/walkin.mjs';
import { RESULTS, pageTestWith, shutDown } from './lib/suite.mjs';

let server;
let deviceBrowser;
let expertBrowser;

before(async () => {
  await mkdir(RESULTS, { recursive: true });
  server = await startServer();
  [deviceBrowser, expertBrowser] = await Promise.all([launchBrowser({ fakeVideoDevices: 3 }), launchBrowser()]);
});

after(async () => {
  await shutDown(server, [deviceBrowser, expertBrowser]);
});

const walkinTest = pageTestWith(() => server, { closePages: true });

walkinTest('a walk-in ticket from the device page, accepted on the expert page: both in the locked room with video', 150_000, async (pages) => {
  const scene = await runWalkIn({ server, deviceBrowser, expertBrowser, pages });
  // While in the session, the device shows the ticket's outcome, not the form.
  assert.equal(await scene.device.isVisible('#walkin-form'), false, 'no new request while in a session');
  const ticket = await endWalkInSession(scene);
  assert.equal(ticket.close_reason, 'ended');
  assert.ok(ticket.accepted_at && ticket.session_id, 'the ticket records its acceptance and session');

  // After the session the device shows the customer's survey (web/survey.js); the answer reaches the report.
  const { device } = scene;
  await device.waitForSelector('#survey-view:not([hidden])', { timeout: 10_000 });
  assert.equal(await device.textContent('#survey-title'), 'Miten onnistuimme?');
  await expectNoAxeViolations(device, { include: '#survey-view', label: 'the survey after a walk-in session (fi)' });
  await device.click('.survey__choice:has(input[name="rating"][value="5"])');
  await device.click('.survey__choice:has(input[value="done"])');
  await device.click('#survey-submit');
  await device.waitForSelector('.survey__thanks');
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Helsinki', year: 'numeric', month: '2-digit' })
    .formatToParts(new Date(ticket.accepted_at));
  const [year, month] = ['year', 'month'].map((type) => Number(parts.find((p) => p.type === type).value));
  const admin = await login(server.url, 'admin');
  const report = await call(server.url, `/api/reports/summary?year=${year}&month=${month}&agency=kela`, {
    token: admin.access_token,
  });
  assert.equal(report.kinds.queued_walk_in, 1, 'the session counts as a queued walk-in');
  assert.equal(report.waiting.accepted, 1, 'its waiting time is in the report');
  assert.deepEqual(
    [report.feedback.answers, report.feedback.ratings[4], report.feedback.done],
    [1, 1, 1],
    'the survey answer is in the report',
  );
});

walkinTest('the walk-in panels pass axe-core in Finnish, Swedish and English', 120_000, async (pages) => {
  const expert = await openOnDutyExpert(server, expertBrowser, 'kela-mikko', { label: 'expert-axe' });
  pages.push(expert);
  const device = await openWaitingDevice(server, deviceBrowser, 'mikkeli-3', { label: 'device-axe' });
  pages.push(device);
  const texts = {
    fi: ['Pyydä asiantuntijaa', 'Ajanvaraukseton jono', 'Jonossa: sija 1.'],
    sv: ['Be om en expert', 'Kö utan tidsbokning', 'I kö: plats 1.'],
    en: ['Ask for an expert', 'Walk-in queue', 'In the queue: number 1.'],
  };
  for (const lang of ['fi', 'sv', 'en']) {
    for (const page of [device, expert]) await page.click(`.lang-button[lang="${lang}"]`);
    assert.equal(await device.textContent('#walkin-title'), texts[lang][0]);
    assert.equal(await expert.textContent('#walkinq-title'), texts[lang][1]);
    await expectNoAxeViolations(device, { include: SEL.devicePanel, label: `the device's request form (${lang})` });
    await expectNoAxeViolations(expert, { include: SEL.expertQueue, label: `the expert's empty queue (${lang})` });
  }
  // With a ticket waiting: the device's live status and the expert's queue row.
  await device.click('.lang-button[lang="en"]');
  await device.selectOption('#walkin-agency', 'kela');
  await device.selectOption('#walkin-service', 'kela-benefits');
  await device.check('#walkin-interpreter');
  await device.selectOption('#walkin-interpreter-language', 'fse');
  await device.click('#walkin-submit');
  await device.waitForSelector(`${SEL.deviceStatus}:not([hidden])[data-status="waiting"]`);
  await expert.waitForSelector('#walkinq-list [data-accept]');
  for (const lang of ['fi', 'sv', 'en']) {
    for (const page of [device, expert]) await page.click(`.lang-button[lang="${lang}"]`);
    assert.equal(await device.textContent('#walkin-status-text'), texts[lang][2]);
    await expectNoAxeViolations(device, { include: SEL.devicePanel, label: `the device's waiting ticket (${lang})` });
    await expectNoAxeViolations(expert, { include: SEL.expertQueue, label: `the expert's queue with a customer (${lang})` });
  }
  // The keyboard reaches Accept, and it is named for what it does.
  const label = await expert.getAttribute('#walkinq-list [data-accept]', 'aria-label');
  assert.match(label, /Take the customer: .*Mikkeli/);
  // Cancel from the device: the expert's queue empties (pushed).
  await device.click('#walkin-cancel');
  await device.waitForSelector(`${SEL.deviceStatus}[data-status="cancelled"]`);
  await expert.waitForFunction(() => document.querySelectorAll('#walkinq-list [data-accept]').length === 0);
  const admin = await login(server.url, 'admin');
  const audit = await call(server.url, '/api/audit?kind=walkin_cancelled', { token: admin.access_token });
  assert.equal(audit.length, 1, 'the cancellation is in the audit log');
});
