// Three parties in one room, in real browsers against a real server: a service point's device, an agency expert
// and a sign-language interpreter. The appointment and its interpreter request are set up over the REST API; the
// interpreter accepts the offer on the interpreter page (web/interpreter.html), then the device page, the expert
// page and the interpreter page join the device's room. The room stays unlocked while only the device and the
// expert are in and locks once the interpreter joins; the interpreter sees both other parties' video and, after
// "Show document", the document; the sign-language interpreter's tile covers at least a third of the expert's
// (and the device's) screen, and the interpreter's camera is captured and sent for signing. A cancelled
// appointment (or interpreter request) stays listed as cancelled and the page says so; a withdrawal takes one
// off the list. On duty, the interpreter takes a walk-in customer asking for sign language and joins once the
// expert has accepted too. axe-core finds nothing on the interpreter page (offers, assignments, walk-in requests,
// in the room) in Finnish, Swedish and English.
//
// Three Chromium pages at once on a small machine: every camera is captured small (the test needs pictures, not
// sizes), and waits are generous.

import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { call, DEMO_PASSWORD, DEVICE_CREDENTIAL, endSession, getRooms, login } from './lib/api.mjs';
import { expectNoAxeViolations } from './lib/axe.mjs';
import { launchBrowser, newPage } from './lib/browser.mjs';
import { startServer } from './lib/server.mjs';
import { expectPlaying } from './lib/video.mjs';
import { RESULTS, pageTestWith, shutDown } from './lib/suite.mjs';

const SERVICE = 'kela-benefits';
const SERVICE_POINT = 'mikkeli';
const ROOM = 'mikkeli-1';
const EXPERT = 'kela-anna';
const INTERPRETER = 'tulkki-sami'; // the demo's Finnish Sign Language interpreter
const MIN = 60_000;
const VIEWPORT = { width: 1024, height: 768 };
const WAIT = 30_000;

const SEL = {
  interpCustomer: '#remote-tiles .tile[data-role="device"][data-source="camera"] video',
  interpExpert: '#remote-tiles .tile[data-role="expert"][data-source="camera"] video',
  interpDocument: '#document-video',
  expertSign: '#side-tiles .tile[data-role="interpreter"][data-source="camera"]',
  deviceSign: '#remote-tiles .tile[data-role="interpreter"][data-source="camera"]',
};

let server;
let deviceBrowser;
let peopleBrowser;
let scheduler;
const scene = {};

before(async () => {
  await mkdir(RESULTS, { recursive: true });
  server = await startServer();
  [deviceBrowser, peopleBrowser, scheduler] = await Promise.all([
    launchBrowser({ fakeVideoDevices: 3 }),
    // 30 fps fake cameras: the sign-language capture asks for at least 25.
    launchBrowser({ fakeVideoFps: 30 }),
    login(server.url, 'scheduler'),
  ]);
});

after(async () => {
  await shutDown(server, [deviceBrowser, peopleBrowser]);
});

const pageTest = pageTestWith(() => server);

const api = (path, options = {}) => call(server.url, path, { token: scheduler.access_token, ...options });
const text = async (page, selector) => (await page.$eval(selector, (el) => el.innerText)).replace(/\s+/g, ' ').trim();
const callState = (page) => page.$eval('#call-status', (el) => el.dataset.state);

async function waitForCallState(page, state, timeout = WAIT) {
  try {
    await page.waitForFunction((s) => document.getElementById('call-status')?.dataset.state === s, state, { timeout });
  } catch {
    const words = await page.$eval('#call-status-text', (el) => el.textContent).catch(() => '');
    assert.fail(`${page.label} did not reach "${state}" within ${timeout} ms: it is "${await callState(page)}" (${words})`);
  }
}

/** The room as GET /api/rooms shows it once `ready(room)` holds (its live view follows the room's events). */
async function roomWhen(ready, what, id = ROOM) {
  let room;
  for (let i = 0; i < 100; i++) {
    room = (await getRooms(server.url)).find((r) => r.room === id);
    if (ready(room)) return room;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`the room never showed ${what}: ${JSON.stringify(room)}`);
}

/** A page whose cameras are captured small (frame rates untouched): three pages share two cores. */
async function smallPage(browser, label) {
  const page = await newPage(browser, { viewport: VIEWPORT });
  page.label = label;
  page.on('dialog', (d) => d.accept()); // "Withdraw from …?"
  if (process.env.DBG) page.on('console', (m) => process.stderr.write(`[${label}] ${m.text()}\n`));
  await page.addInitScript(() => {
    const devices = navigator.mediaDevices;
    const original = devices.getUserMedia.bind(devices);
    devices.getUserMedia = (constraints) => {
      if (constraints?.video) {
        const video = constraints.video === true ? {} : constraints.video;
        constraints = { ...constraints, video: { ...video, width: { ideal: 320 }, height: { ideal: 180 } } };
      }
      return original(constraints);
    };
  });
  return page;
}

async function signIn(page, user) {
  await page.fill('#username', user);
  await page.fill('#password', DEMO_PASSWORD);
  await page.click('#login-button');
}

/** No horizontal scrolling at 320 px wide (WCAG reflow); the viewport is restored after. */
async function expectReflow(page, what) {
  await page.setViewportSize({ width: 320, height: 720 });
  const { scrollWidth, clientWidth } = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    clientWidth: document.documentElement.clientWidth,
  }));
  await page.setViewportSize(VIEWPORT);
  assert.ok(scrollWidth <= clientWidth, `${page.label}, ${what}: no horizontal scrolling at 320 px (${scrollWidth} > ${clientWidth})`);
}

/** The share of the viewport `selector` covers once scrolled into view. */
function viewportShare(page, selector) {
  return page.$eval(selector, (el) => {
    el.scrollIntoView({ block: 'center' });
    const r = el.getBoundingClientRect();
    const w = Math.max(0, Math.min(r.right, innerWidth) - Math.max(r.left, 0));
    const hgt = Math.max(0, Math.min(r.bottom, innerHeight) - Math.max(r.top, 0));
    return (w * hgt) / (innerWidth * innerHeight);
  });
}

/** Book `device` with `expert` at `start` and request a Finnish Sign Language interpreter; returns both ids. */
async function bookWithInterpreter(device, expert, start, notes) {
  const appointment = await api('/api/appointments', {
    method: 'POST',
    body: { service: SERVICE, device, expert, start: new Date(start).toISOString(), special_needs: { language: 'fi' } },
  });
  const request = await api(`/api/appointments/${appointment.id}/interpreter-request`, {
    method: 'POST',
    body: { language: 'fse', modality: 'remote_video', notes },
  });
  assert.equal(request.state, 'offered', JSON.stringify(request));
  assert.deepEqual(request.offers.filter((o) => o.outcome === 'pending').map((o) => o.interpreter), [INTERPRETER]);
  return { appointment: appointment.id, request: request.id };
}

// ---- 1. the offer, accepted on the interpreter page -------------------------------------------------------------

pageTest('the interpreter accepts a sign-language offer on the interpreter page; offers and assignments pass axe-core in fi/sv/en', 120_000, async (pages) => {
  // Whatever the day and hour: Kela's service bookable at no notice; Mikkeli, the experts and the interpreter
  // available all week.
  const admin = await login(server.url, 'admin');
  const kela = (await call(server.url, '/api/calendar/agencies', { token: admin.access_token })).find((a) => a.id === 'kela');
  const agency = { rule: kela.rule, services: kela.services.map((s) => (s.id === SERVICE ? { ...s, min_notice_minutes: 0 } : s)) };
  if (kela.windows) agency.windows = kela.windows;
  await call(server.url, '/api/calendar/agencies/kela', { method: 'PUT', token: admin.access_token, body: agency });
  const always = {
    weekly: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'].map((weekday) => ({ weekday, start: '00:00', end: '24:00' })),
    exceptions: [],
    closed_on_holidays: false,
  };
  await api(`/api/calendar/opening-hours/${SERVICE_POINT}`, { method: 'PUT', body: always });
  for (const path of ['expert/kela-anna', 'expert/kela-mikko', `interpreter/${INTERPRETER}`]) {
    await api(`/api/calendar/availability/${path}`, { method: 'PUT', body: always });
  }

  // Now (its room already open) and later (for the cancellation story).
  const start = Math.ceil((Date.now() + 3 * MIN) / MIN) * MIN;
  scene.now = await bookWithInterpreter(ROOM, EXPERT, start, 'Asiakas viittoo; lomake mukana');
  scene.later = await bookWithInterpreter('mikkeli-2', 'kela-mikko', start + 90 * MIN, null);

  const page = await smallPage(peopleBrowser, 'interpreter');
  pages.push(page);
  scene.interpreter = page;
  await page.goto(`${server.url}/interpreter.html`);
  assert.equal(await page.title(), 'Tulkki – Väylä');
  assert.equal(await page.getAttribute('.site-nav a[href="interpreter.html"]', 'aria-current'), 'page');
  await expectNoAxeViolations(page, { label: 'the interpreter page, sign-in (fi)' });
  await signIn(page, INTERPRETER);

  // Both offers are listed, soonest deadline first, with what the interpreter needs to decide.
  const offer = `#offers-list [data-offer="${scene.now.request}"]`;
  await page.waitForSelector(offer, { timeout: WAIT });
  await page.waitForSelector(`#offers-list [data-offer="${scene.later.request}"]`, { timeout: WAIT });
  const words = await text(page, offer);
  for (const part of [
    'Kieli: suomalainen viittomakieli',
    'Tapa: Etätulkkaus videolla',
    'Paikka: Mikkelin yhteispalvelupiste',
    'Palvelu: Etuusasia (Kela)',
    'Lisätiedot: Asiakas viittoo; lomake mukana',
    'Vastaa viimeistään',
  ]) {
    assert.ok(words.includes(part), `the offer says "${part}": ${words}`);
  }
  // The near offer's deadline is two minutes away: accept it first, look at the page with the other.
  await page.click(`${offer} [data-accept]`);
  const assignment = `#assignments-list [data-assignment="${scene.now.request}"]`;
  await page.waitForSelector(assignment, { timeout: WAIT });
  await page.waitForFunction((sel) => !document.querySelector(sel), offer, { timeout: WAIT });
  await page.waitForFunction(() => /Otit tulkkauksen vastaan/.test(document.getElementById('notice').textContent), null, { timeout: WAIT });
  const status = await api(`/api/appointments/${scene.now.appointment}/interpreter-request`);
  assert.equal(status.state, 'accepted');
  assert.equal(status.assigned_interpreter, INTERPRETER);
  assert.equal(await page.getAttribute(assignment, 'data-state'), 'assigned');
  assert.equal(await text(page, `${assignment} [data-join]`), 'Liity', 'the room is open: it starts within ten minutes');

  for (const lang of ['fi', 'sv', 'en']) {
    await page.click(`.lang-button[lang="${lang}"]`);
    assert.equal(await page.evaluate(() => document.documentElement.lang), lang);
    await expectNoAxeViolations(page, { label: `the interpreter page, offers and assignments (${lang})` });
  }
  assert.equal(await text(page, '#offers-title'), 'Interpreting offers');
  assert.equal(await text(page, `${assignment} [data-join]`), 'Join');
  await page.click('.lang-button[lang="fi"]');
  await page.click(`#offers-list [data-offer="${scene.later.request}"] [data-accept]`);
  await page.waitForSelector(`#assignments-list [data-assignment="${scene.later.request}"]`, { timeout: WAIT });
  assert.match(await text(page, `#assignments-list [data-assignment="${scene.later.request}"]`), /Liittyminen avautuu/);
  await page.waitForSelector('#offers-empty:not([hidden])');
  await expectNoAxeViolations(page, { label: 'the interpreter page, no offers, two assignments (fi)' });
});

// ---- 2. three parties in the room -------------------------------------------------------------------------------

pageTest('three parties: the room locks only after the interpreter joins, and the interpreter sees both other parties', 180_000, async (pages) => {
  const interpreter = scene.interpreter;
  assert.ok(interpreter && scene.now, 'test 1 assigned the interpreter');
  pages.push(interpreter);

  // The device: signs in, picks the MJPEG fake camera as the document camera, joins its room.
  const device = await smallPage(deviceBrowser, 'device');
  pages.push(device);
  scene.device = device;
  await device.goto(`${server.url}/device.html`);
  await device.fill('#device-id', ROOM);
  await device.fill('#credential', DEVICE_CREDENTIAL);
  await device.click('#login-button');
  await device.waitForSelector('#setup-view:not([hidden])');
  await device.selectOption('#document-select', { label: 'fake_device_2' });
  await device.waitForFunction(() => document.querySelectorAll('#setup-view .tile[data-playing="true"]').length === 2, null, { timeout: WAIT });
  await device.click('#join-button');
  await waitForCallState(device, 'gathering');

  // The expert joins from "My appointments today".
  const expert = await smallPage(peopleBrowser, 'expert');
  pages.push(expert);
  scene.expert = expert;
  await expert.goto(`${server.url}/expert.html`);
  await signIn(expert, EXPERT);
  const joinButton = `#appointments-list [data-appointment="${scene.now.appointment}"] [data-join-appointment]`;
  await expert.waitForSelector(joinButton, { timeout: WAIT });
  await expert.click(joinButton);
  await waitForCallState(expert, 'gathering');

  // Device and expert are in; the interpreter's seat is empty: NOT locked.
  await expert.waitForFunction(() => document.querySelectorAll('#side-tiles .tile[data-role="device"]').length > 0, null, { timeout: WAIT });
  let room = await roomWhen((r) => r.participants.length === 2, 'the device and the expert');
  assert.deepEqual(room.participants.map((p) => p.role).sort(), ['device', 'expert'], JSON.stringify(room.participants));
  assert.equal(room.state, 'gathering', 'two of three booked participants: not locked');
  assert.deepEqual(
    room.seats.map((s) => [s.role, s.taken]),
    [['device', true], ['expert', true], ['interpreter', false]],
    'the interpreter is a seat, still empty',
  );
  assert.equal(await callState(device), 'gathering');
  assert.equal(await callState(expert), 'gathering');
  assert.match(await text(expert, '#call-status-text'), /Odotetaan osallistujia: Tulkki/);

  // The interpreter joins from "My assignments": now the room locks, on every page.
  await interpreter.click(`#assignments-list [data-assignment="${scene.now.request}"] [data-join]`);
  await waitForCallState(interpreter, 'locked');
  await waitForCallState(expert, 'locked');
  await waitForCallState(device, 'locked');
  room = await roomWhen((r) => r.participants.length === 3, 'three participants');
  assert.equal(room.state, 'locked');
  assert.deepEqual(room.participants.map((p) => p.role).sort(), ['device', 'expert', 'interpreter']);
  assert.equal(await text(interpreter, '#call-status-text'), 'Kaikki ovat paikalla ja huone on lukittu.');

  // The interpreter sees the customer and the expert, both playing.
  const customer = await expectPlaying(interpreter, SEL.interpCustomer, { what: "the customer's camera", timeout: WAIT });
  const expertCam = await expectPlaying(interpreter, SEL.interpExpert, { what: "the expert's camera", timeout: WAIT });
  assert.ok(customer.width > 0 && expertCam.width > 0);
  assert.equal(await interpreter.getAttribute(SEL.interpCustomer, 'aria-label'), 'Asiakkaan kamera, Mikkeli, etäpalveluhuone 1');
  assert.equal(await interpreter.getAttribute(SEL.interpExpert, 'aria-label'), 'Asiantuntija Anna Virtanen: kamerakuva');

  // The document only when asked.
  assert.equal(await interpreter.isVisible('#doc-slot'), false, 'no document by default');
  assert.equal(await interpreter.$eval(SEL.interpDocument, (v) => v.srcObject), null, 'nor is it attached');
  assert.equal(await interpreter.getAttribute('#document-button', 'aria-pressed'), 'false');
  await interpreter.click('#document-button');
  assert.equal(await interpreter.getAttribute('#document-button', 'aria-pressed'), 'true');
  await expectPlaying(interpreter, SEL.interpDocument, { what: 'the document', timeout: WAIT });
  assert.equal(await interpreter.getAttribute(SEL.interpDocument, 'aria-label'), 'Asiakkaan dokumenttikamera, Mikkeli, etäpalveluhuone 1');

  // The interpreter's camera goes out for signing.
  const sending = await interpreter.evaluate(() => {
    const sender = window.vaylaDebug.call.senders.camera;
    const p = sender.getParameters();
    return {
      hint: sender.track.contentHint,
      fps: sender.track.getSettings().frameRate,
      asked: sender.track.getConstraints().frameRate,
      degradation: p.degradationPreference,
      maxFramerates: p.encodings.map((e) => e.maxFramerate),
    };
  });
  assert.equal(sending.hint, 'motion');
  assert.equal(sending.degradation, 'maintain-framerate');
  assert.ok(sending.asked?.min >= 25, `asks for at least 25 fps: ${JSON.stringify(sending.asked)}`);
  assert.ok(sending.fps >= 25, `captures at ${sending.fps} fps`);
  assert.ok(sending.maxFramerates.every((f) => f >= 25), `sends at up to ${sending.maxFramerates}`);

  // Each of the others sees the interpreter, as a sign-language interpreter: large.
  await expectPlaying(expert, `${SEL.expertSign} video`, { what: "the interpreter's camera", timeout: WAIT });
  await expectPlaying(device, `${SEL.deviceSign} video`, { what: "the interpreter's camera", timeout: WAIT });
  // The server flags the interpreter of a sign-language request (`sign_language` in the protocol's Participant).
  const flagged = await expert.evaluate(() => [...window.vaylaDebug.call.participants.values()].find((p) => p.role === 'interpreter')?.sign_language);
  assert.equal(flagged, true, 'the interpreter is flagged as interpreting sign language');
  for (const [page, selector] of [[expert, SEL.expertSign], [device, SEL.deviceSign]]) {
    await page.waitForSelector(`${selector}.tile--sign`, { timeout: WAIT });
    const share = await viewportShare(page, selector);
    assert.ok(share >= 1 / 3, `${page.label}: the sign-language interpreter covers ${(share * 100).toFixed(0)} % of the screen`);
  }
  assert.match(await text(expert, SEL.expertSign), /Viittomakielen tulkkaus/);
  assert.match(await text(interpreter, '#self-slot'), /Viittomakielen tulkkaus/, 'the interpreter page knows it too');
  await expert.screenshot({ path: join(RESULTS, 'interpreter-expert.png') });
  await device.screenshot({ path: join(RESULTS, 'interpreter-device.png') });
  await interpreter.screenshot({ path: join(RESULTS, 'interpreter-in-room.png') });

  // In the room, in every language.
  for (const lang of ['fi', 'sv', 'en']) {
    await interpreter.click(`.lang-button[lang="${lang}"]`);
    await expectNoAxeViolations(interpreter, { label: `the interpreter page in the room (${lang})` });
  }
  assert.equal(await interpreter.getAttribute(SEL.interpCustomer, 'aria-label'), "Customer's camera, Mikkeli, etäpalveluhuone 1");
  await interpreter.click('.lang-button[lang="fi"]');
  await expectReflow(interpreter, 'in the room');
  await interpreter.click('#document-button');
  await interpreter.waitForSelector('#doc-slot', { state: 'hidden' });
  assert.equal(await interpreter.$eval(SEL.interpDocument, (v) => v.srcObject), null, 'hidden again, and detached');
});

// ---- 3. leaving, cancellation, withdrawal --------------------------------------------------------------------------

pageTest('a cancelled appointment stays listed as cancelled and the page says so; a withdrawal takes one off the list', 90_000, async (pages) => {
  const { interpreter, expert, device } = scene;
  assert.ok(interpreter && expert && device, 'the call of test 2 is up');
  pages.push(interpreter);
  await interpreter.click('#leave-button');
  await interpreter.waitForSelector('#lists-view:not([hidden])');
  const advisor = await login(server.url, 'advisor-mikkeli');
  await endSession(server.url, advisor.access_token, ROOM);
  await expert.context().close();
  await device.context().close();

  // The later appointment is cancelled by the scheduler: the interpreter is told, and it stays listed as cancelled.
  await api(`/api/appointments/${scene.later.appointment}/cancel`, { method: 'POST', body: { reason: 'asiakas perui' } });
  const later = `#assignments-list [data-assignment="${scene.later.request}"]`;
  await interpreter.waitForSelector(`${later}[data-state="cancelled"]`, { timeout: WAIT });
  assert.match(await text(interpreter, later), /Peruttu/);
  assert.match(await text(interpreter, later), /Ajanvaraus on peruttu: sinun ei tarvitse osallistua\./);
  assert.equal(await interpreter.$(`${later} [data-join], ${later} [data-withdraw]`), null, 'nothing to do with it');
  await interpreter.waitForFunction(() => /Ajanvaraus on peruttu: tulkkaus/.test(document.getElementById('notice').textContent), null, { timeout: WAIT });
  assert.equal(await interpreter.getAttribute('#notice', 'role'), 'status');
  await expectNoAxeViolations(interpreter, { label: 'the interpreter page, a cancelled assignment (fi)' });
  await expectReflow(interpreter, 'the lists');

  // Another, accepted over the API, whose interpreter request the scheduler withdraws: listed as no longer needed.
  const fourth = await bookWithInterpreter('mikkeli-3', 'kela-anna', Math.ceil((Date.now() + 300 * MIN) / MIN) * MIN, null);
  const samiLogin = await login(server.url, INTERPRETER);
  await call(server.url, `/api/interpreter-offers/${fourth.request}/accept`, { method: 'POST', token: samiLogin.access_token });
  const fourthRow = `#assignments-list [data-assignment="${fourth.request}"]`;
  await interpreter.waitForSelector(`${fourthRow}[data-state="assigned"]`, { timeout: WAIT });
  await api(`/api/interpreter-requests/${fourth.request}/cancel`, { method: 'POST' });
  await interpreter.waitForSelector(`${fourthRow}[data-state="cancelled"]`, { timeout: WAIT });
  assert.match(await text(interpreter, fourthRow), /Tulkkausta ei enää tarvita: sinun ei tarvitse osallistua\./);
  await interpreter.waitForFunction(() => /Tulkkausta ei enää tarvita: /.test(document.getElementById('notice').textContent), null, { timeout: WAIT });

  // A new one, accepted over the API, is withdrawn on the page: it leaves the list and goes back to the cascade.
  const third = await bookWithInterpreter('mikkeli-3', 'kela-mikko', Math.ceil((Date.now() + 200 * MIN) / MIN) * MIN, null);
  await call(server.url, `/api/interpreter-offers/${third.request}/accept`, { method: 'POST', token: samiLogin.access_token });
  const row = `#assignments-list [data-assignment="${third.request}"]`;
  await interpreter.waitForSelector(`${row} [data-withdraw]`, { timeout: WAIT });
  await interpreter.click(`${row} [data-withdraw]`);
  await interpreter.waitForFunction((sel) => !document.querySelector(sel), row, { timeout: WAIT });
  await interpreter.waitForFunction(() => /Peruit osallistumisesi/.test(document.getElementById('notice').textContent), null, { timeout: WAIT });
  const status = await api(`/api/appointments/${third.appointment}/interpreter-request`);
  assert.equal(status.assigned_interpreter, null, 'back in the cascade');
});

// ---- 4. walk-in requests ---------------------------------------------------------------------------------------

pageTest('walk-in: on duty, the interpreter sees a walk-in customer asking for sign language, accepts, and joins once the expert has too', 90_000, async (pages) => {
  const { interpreter } = scene;
  assert.ok(interpreter, 'the interpreter page of the earlier tests is open');
  pages.push(interpreter);
  const WALKIN_ROOM = 'parainen-1';
  await interpreter.waitForSelector('#walkin-view:not([hidden])', { timeout: WAIT });
  assert.equal(await interpreter.getAttribute('#duty-button', 'aria-pressed'), 'false');
  await interpreter.click('#duty-button');
  await interpreter.waitForFunction(() => document.getElementById('duty-button').getAttribute('aria-pressed') === 'true', null, { timeout: WAIT });
  await interpreter.waitForSelector('#walkin-empty:not([hidden])', { timeout: WAIT });

  // A customer at Parainen asks Kela for an expert, with a Finnish Sign Language interpreter.
  const advisor = await login(server.url, 'advisor-parainen');
  const ticket = await call(server.url, '/api/walkin/tickets', {
    method: 'POST',
    token: advisor.access_token,
    body: { device: WALKIN_ROOM, agency: 'kela', language: 'fi', interpreter_language: 'fse' },
  });
  const row = `#walkin-list [data-ticket="${ticket.id}"]`;
  await interpreter.waitForSelector(row, { timeout: WAIT });
  assert.match(await text(interpreter, row), /suomalainen viittomakieli · Paraisten yhteispalvelupiste – Pargas samservicekontor, /);
  for (const lang of ['fi', 'sv', 'en']) {
    await interpreter.click(`.lang-button[lang="${lang}"]`);
    await expectNoAxeViolations(interpreter, { label: `the interpreter page, a walk-in request (${lang})` });
  }
  await interpreter.click('.lang-button[lang="fi"]');
  await interpreter.click(`${row} [data-walkin-accept]`);
  const mine = `#walkin-mine [data-mine-ticket="${ticket.id}"]`;
  await interpreter.waitForSelector(mine, { timeout: WAIT });
  assert.match(await text(interpreter, mine), /Odotetaan asiantuntijaa/);

  // The expert accepts too: the room opens a session expecting all three, and the interpreter can join.
  const expert = await login(server.url, 'kela-mikko');
  await call(server.url, '/api/walkin/duty', { method: 'PUT', token: expert.access_token, body: { on_duty: true } });
  await call(server.url, `/api/walkin/tickets/${ticket.id}/accept`, { method: 'POST', token: expert.access_token });
  await interpreter.waitForSelector(`${mine} [data-walkin-join]`, { timeout: WAIT });
  await expectNoAxeViolations(interpreter, { label: 'the interpreter page, an accepted walk-in request (fi)' });
  await interpreter.screenshot({ path: join(RESULTS, 'interpreter-lists.png'), fullPage: true });
  await interpreter.click(`${mine} [data-walkin-join]`);
  await waitForCallState(interpreter, 'gathering');
  const room = await roomWhen((r) => r.participants.length === 1, 'the interpreter', WALKIN_ROOM);
  assert.deepEqual(room.seats.map((s) => s.role).sort(), ['device', 'expert', 'interpreter']);
  assert.equal(room.participants[0].role, 'interpreter');
  await interpreter.click('#leave-button');
  await interpreter.waitForSelector('#lists-view:not([hidden])');
  await endSession(server.url, advisor.access_token, WALKIN_ROOM).catch(() => {});
  await interpreter.context().close();
});
