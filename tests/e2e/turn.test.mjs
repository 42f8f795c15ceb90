// The TURN option for offices that block UDP and direct TCP, with a real coturn: the server hands out TURN
// credentials (GET /api/ice-servers), and a device and an expert whose pages allow only relayed media
// (`?relay=1` → iceTransportPolicy 'relay') meet through coturn: cameras both ways, the document, and the
// selected ICE candidate pair's local candidate is a `relay` one on both sides.

import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { DEMO_PASSWORD, DEVICE_CREDENTIAL, login, openSession } from './lib/api.mjs';
import { launchBrowser, newPage } from './lib/browser.mjs';
import { expectPlaying } from './lib/video.mjs';
import { startServer } from './lib/server.mjs';
import { startTurn } from './lib/turn.mjs';

const RESULTS = join(dirname(fileURLToPath(import.meta.url)), 'test-results');
const ROOM = 'mikkeli-2';
const EXPERT = 'kela-anna';

let turn;
let server;
let deviceBrowser;
let expertBrowser;

before(async () => {
  await mkdir(RESULTS, { recursive: true });
  turn = await startTurn();
  server = await startServer({ env: { VAYLA_TURN_URLS: turn.urls.join(','), VAYLA_TURN_SECRET: turn.secret } });
  // As in call.test.mjs: the device has three fake cameras; fake_device_1 (Y16) never encodes, so the document
  // camera is fake_device_2.
  [deviceBrowser, expertBrowser] = await Promise.all([launchBrowser({ fakeVideoDevices: 3 }), launchBrowser()]);
});

after(async () => {
  await deviceBrowser?.close();
  await expertBrowser?.close();
  await server?.stop();
  await turn?.stop();
});

/** The selected candidate pair of the page's peer connection: both candidates' types and protocols. */
function selectedPair(page) {
  return page.evaluate(async () => {
    const pc = window.vaylaDebug.call.peerConnection;
    const report = await pc.getStats();
    const stats = [...report.values()];
    const transport = stats.find((s) => s.type === 'transport' && s.selectedCandidatePairId);
    const pair = transport
      ? report.get(transport.selectedCandidatePairId)
      : stats.find((s) => s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded');
    if (!pair) return null;
    const local = report.get(pair.localCandidateId);
    const remote = report.get(pair.remoteCandidateId);
    return {
      state: pair.state,
      local: { type: local?.candidateType, protocol: local?.protocol, relayProtocol: local?.relayProtocol },
      remote: { type: remote?.candidateType, protocol: remote?.protocol },
      config: pc.getConfiguration().iceTransportPolicy,
      localTypes: [...new Set(stats.filter((s) => s.type === 'local-candidate').map((s) => s.candidateType))],
    };
  });
}

test('device and expert meet through coturn with relay-only ICE', { timeout: 90_000 }, async () => {
  const pages = [];
  try {
    // What the server hands out: the coturn URLs, with a REST-scheme username for the caller.
    const expertLogin = await login(server.url, EXPERT);
    const reply = await (await fetch(`${server.url}/api/ice-servers`, { headers: { Authorization: `Bearer ${expertLogin.access_token}` } })).json();
    assert.deepEqual(reply.ice_servers.map((s) => s.urls), [turn.urls]);
    assert.match(reply.ice_servers[0].username, new RegExp(`^\\d+:${EXPERT}$`));

    const advisor = await login(server.url, 'advisor-mikkeli');
    await openSession(server.url, advisor.access_token, ROOM, [{ role: 'expert', subject: EXPERT }]);

    const device = await newPage(deviceBrowser);
    device.label = 'device';
    pages.push(device);
    await device.goto(`${server.url}/device.html?relay=1`);
    await device.fill('#device-id', ROOM);
    await device.fill('#credential', DEVICE_CREDENTIAL);
    await device.click('#login-button');
    await device.waitForSelector('#setup-view:not([hidden])');
    await device.selectOption('#document-select', { label: 'fake_device_2' });
    await device.waitForFunction(() => document.querySelectorAll('#setup-view .tile[data-playing="true"]').length === 2);
    await device.click('#join-button');

    const expert = await newPage(expertBrowser);
    expert.label = 'expert';
    pages.push(expert);
    expert.on('dialog', (d) => d.accept());
    await expert.goto(`${server.url}/expert.html?relay=1`);
    await expert.fill('#username', EXPERT);
    await expert.fill('#password', DEMO_PASSWORD);
    await expert.click('#login-button');
    await expert.waitForSelector(`#mine-list [data-join="${ROOM}"]`);
    await expert.click(`#mine-list [data-join="${ROOM}"]`);

    const slow = { timeout: 20_000 };
    await expectPlaying(device, '#remote-tiles .tile[data-role="expert"][data-source="camera"] video', { ...slow, what: "the expert's camera" });
    await expectPlaying(expert, '#side-tiles .tile[data-role="device"][data-source="camera"] video', { ...slow, what: "the customer's camera" });
    await expectPlaying(expert, '#document-video', { ...slow, what: 'the document' });

    for (const page of [device, expert]) {
      const pair = await selectedPair(page);
      assert.ok(pair, `${page.label}: a selected candidate pair`);
      assert.equal(pair.config, 'relay', `${page.label}: relay-only ICE`);
      assert.equal(pair.state, 'succeeded', `${page.label}: ${JSON.stringify(pair)}`);
      assert.equal(pair.local.type, 'relay', `${page.label}: media goes through TURN: ${JSON.stringify(pair)}`);
      assert.deepEqual(pair.localTypes, ['relay'], `${page.label}: only relay candidates were gathered`);
    }
    for (const page of pages) assert.deepEqual(page.problems, [], `${page.label} logged no errors`);
  } catch (e) {
    server.printLogs('server output (TURN test)');
    turn.printLogs('turnserver output (TURN test)');
    for (const page of pages) {
      await page.screenshot({ path: join(RESULTS, `turn-${page.label}-failure.png`), fullPage: true }).catch(() => {});
    }
    throw e;
  }
});
