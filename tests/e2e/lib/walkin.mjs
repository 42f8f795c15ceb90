// The walk-in part of the browser story, for tests/e2e/walkin.test.mjs and for tests that carry the story on
// (feedback, reports): a service point opens a walk-in ticket on its device page, an on-duty expert accepts it
// from the expert page, and both end up in the device's locked room with video playing both ways.
//
//   const scene = await runWalkIn({ server, deviceBrowser, expertBrowser, pages });
//   … scene.device, scene.expert (pages), scene.ticket (the ticket's id), scene.room …
//   await endWalkInSession(scene);   // the expert ends the session; the ticket is served
//
// `deviceBrowser` needs three fake cameras (`launchBrowser({ fakeVideoDevices: 3 })`): the device page picks
// fake_device_2 as its document camera, as staff would.

import assert from 'node:assert/strict';

import { call, DEMO_PASSWORD, DEVICE_CREDENTIAL, login } from './api.mjs';
import { newPage } from './browser.mjs';
import { expectPlaying } from './video.mjs';

export const SEL = {
  deviceRemoteExpert: '#remote-tiles .tile[data-role="expert"][data-source="camera"] video',
  expertCustomerCamera: '#side-tiles .tile[data-role="device"][data-source="camera"] video',
  devicePanel: '#walkin-panel',
  deviceStatus: '#walkin-status',
  expertQueue: '#walkinq-view',
};

export const callState = (page) => page.$eval('#call-status', (el) => el.dataset.state);

export async function waitForCallState(page, state, timeout = 20_000) {
  try {
    await page.waitForFunction((s) => document.getElementById('call-status')?.dataset.state === s, state, { timeout });
  } catch {
    assert.fail(`${page.label} did not reach "${state}" within ${timeout} ms: it is "${await callState(page)}"`);
  }
}

/** The device page of `room`, signed in, cameras chosen, waiting in its room for a session. */
export async function openWaitingDevice(server, browser, room, { label = 'device', lang = 'fi' } = {}) {
  const page = await newPage(browser);
  page.label = label;
  await page.goto(`${server.url}/device.html?lang=${lang}`);
  await page.fill('#device-id', room);
  await page.fill('#credential', DEVICE_CREDENTIAL);
  await page.click('#login-button');
  await page.waitForSelector('#setup-view:not([hidden])');
  await page.waitForFunction(() => document.querySelectorAll('#setup-view .tile[data-playing="true"]').length === 2);
  await page.selectOption('#document-select', { label: 'fake_device_2' });
  await page.waitForFunction(() => document.querySelectorAll('#setup-view .tile[data-playing="true"]').length === 2);
  await page.click('#join-button');
  await waitForCallState(page, 'waiting-for-session');
  await page.waitForSelector(`${SEL.devicePanel}:not([hidden]) #walkin-form:not([hidden])`);
  return page;
}

/** The expert page, signed in as `expert`, on duty for walk-in customers. */
export async function openOnDutyExpert(server, browser, expert, { label = 'expert', lang = 'fi' } = {}) {
  const page = await newPage(browser);
  page.label = label;
  page.on('dialog', (d) => d.accept()); // "End the session for everyone?"
  await page.goto(`${server.url}/expert.html?lang=${lang}`);
  await page.fill('#username', expert);
  await page.fill('#password', DEMO_PASSWORD);
  await page.click('#login-button');
  await page.waitForSelector('#rooms-view:not([hidden])');
  await page.waitForSelector(`${SEL.expertQueue}:not([hidden])`);
  if (!(await page.isChecked('#walkinq-duty'))) {
    await page.check('#walkinq-duty');
    await page.waitForFunction(() => document.getElementById('walkinq-duty-note')?.hidden === true);
  }
  return page;
}

/** On the device page: ask `agency` for an expert; returns the ticket's id once it waits in the queue. */
export async function askForExpert(device, { agency = 'kela', service, language = 'fi', interpreterLanguage } = {}) {
  await device.selectOption('#walkin-agency', agency);
  if (service) await device.selectOption('#walkin-service', service);
  await device.selectOption('#walkin-language', language);
  if (interpreterLanguage) {
    await device.check('#walkin-interpreter');
    await device.selectOption('#walkin-interpreter-language', interpreterLanguage);
  }
  await device.click('#walkin-submit');
  await device.waitForSelector(`${SEL.deviceStatus}:not([hidden])[data-status="waiting"]`);
  return device.evaluate(async () => {
    const token = await window.vaylaDebug.call.auth.token();
    const list = await fetch('/api/walkin/tickets', { headers: { Authorization: `Bearer ${token}` } }).then((r) => r.json());
    return list[0]?.id;
  });
}

/**
 * The whole walk-in part: the device of `room` waits and asks Kela for an expert, `expert` (on duty) accepts from
 * the queue on their page, both are in the locked room and see each other's camera playing. Pages are pushed onto
 * `pages` (for screenshots on failure). Returns `{ device, expert, ticket, room, server }`.
 */
export async function runWalkIn({ server, deviceBrowser, expertBrowser, pages = [], room = 'mikkeli-2', expert = 'kela-anna', service = 'kela-benefits' }) {
  const expertPage = await openOnDutyExpert(server, expertBrowser, expert);
  pages.push(expertPage);
  const device = await openWaitingDevice(server, deviceBrowser, room);
  pages.push(device);

  const ticket = await askForExpert(device, { service });
  assert.ok(ticket, 'the device has an open ticket');
  assert.equal(await device.getAttribute(SEL.deviceStatus, 'data-position'), '1', 'first in the queue');
  assert.equal(await device.getAttribute(SEL.deviceStatus, 'aria-live'), 'polite', 'position changes are announced');

  // The expert sees the ticket live (pushed) and accepts it; the page joins the device's room.
  const accept = `#walkinq-list [data-accept="${ticket}"]`;
  await expertPage.waitForSelector(accept, { timeout: 15_000 });
  await expertPage.click(accept);
  await waitForCallState(expertPage, 'locked');
  await waitForCallState(device, 'locked');

  const rooms = await call(server.url, '/api/rooms');
  const state = rooms.find((r) => r.room === room);
  assert.equal(state.state, 'locked', 'the server agrees: locked');
  assert.deepEqual(state.participants.map((p) => p.role).sort(), ['device', 'expert'], 'the device and the expert are in');

  await expectPlaying(device, SEL.deviceRemoteExpert, { what: "the expert's camera on the device" });
  await expectPlaying(expertPage, SEL.expertCustomerCamera, { what: "the customer's camera on the expert's page" });
  return { device, expert: expertPage, ticket, room, server };
}

/** The expert ends the session from their page; the device sees the end, and the ticket is served. */
export async function endWalkInSession(scene) {
  await scene.expert.click('#end-session-button');
  await waitForCallState(scene.device, 'ended');
  const admin = await login(scene.server.url, 'admin');
  const deadline = Date.now() + 10_000;
  let ticket;
  do {
    ticket = await call(scene.server.url, `/api/walkin/tickets/${scene.ticket}`, { token: admin.access_token });
    if (ticket.status === 'served') break;
    await new Promise((r) => setTimeout(r, 200));
  } while (Date.now() < deadline);
  assert.equal(ticket.status, 'served', `the ticket is served: ${JSON.stringify(ticket)}`);
  return ticket;
}
