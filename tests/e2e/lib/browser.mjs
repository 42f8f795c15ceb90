// Launch Debian's Chromium through playwright-core: headless, no network but loopback, fake camera and mic.

import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
];

/**
 * A fresh browser with an empty profile. Close it with `await browser.close()`.
 *
 * `fakeVideoDevices: n` gives the browser n fake cameras instead of one (Chromium's
 * `--use-fake-device-for-media-stream=device-count=n`; they are labelled `fake_device_0`, `fake_device_1`, …,
 * and each also gets a fake microphone). The default stays one camera for the other tests.
 *
 * `fakeVideoFps: n` makes the fake cameras deliver n frames a second (Chromium's `fps=n` option of the same
 * flag); the default is Chromium's own (20).
 */
export async function launchBrowser({ args = [], fakeVideoDevices, fakeVideoFps, ...options } = {}) {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium is missing at ${CHROMIUM_PATH}: install it with apt-get install -y chromium (or set CHROMIUM_PATH)`,
    );
  }
  let base = CHROMIUM_ARGS;
  const fake = [];
  if (fakeVideoDevices !== undefined) fake.push(`device-count=${Number(fakeVideoDevices)}`);
  if (fakeVideoFps !== undefined) fake.push(`fps=${Number(fakeVideoFps)}`);
  if (fake.length) {
    base = CHROMIUM_ARGS.map((a) => (a === '--use-fake-device-for-media-stream' ? `${a}=${fake.join(',')}` : a));
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: [...base, ...args], ...options });
}

/**
 * A page in its own context (own storage), with the browser's console errors and page errors collected in
 * `page.problems` so a test can assert there were none.
 */
export async function newPage(browser, { viewport = { width: 1280, height: 900 }, ...contextOptions } = {}) {
  const context = await browser.newContext({ viewport, ...contextOptions });
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(`page error: ${e.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') page.problems.push(`console error: ${msg.text()}`);
  });
  return page;
}
