// The rooms overview page (web/index.html) in a real browser against a real server.

import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { endSession, enterRoom, login, openSession } from './lib/api.mjs';
import { expectNoAxeViolations } from './lib/axe.mjs';
import { launchBrowser, newPage } from './lib/browser.mjs';
import { startServer } from './lib/server.mjs';

const RESULTS = join(dirname(fileURLToPath(import.meta.url)), 'test-results');

/** The demo rooms-config: service point → its rooms, in the order the page shows them. */
const DEMO = {
  kiiminki: ['kiiminki-1'],
  mikkeli: ['mikkeli-1', 'mikkeli-2', 'mikkeli-3'],
  parainen: ['parainen-1'],
  pelkosenniemi: ['pelkosenniemi-1'],
  saarijarvi: ['saarijarvi-1', 'saarijarvi-2'],
};
const ROOM_COUNT = Object.values(DEMO).flat().length;

const TEXTS = {
  fi: {
    title: 'Virtuaalihuoneet',
    docTitle: 'Virtuaalihuoneet – Väylä',
    states: { idle: 'Vapaa', gathering: 'Odottaa osallistujia', locked: 'Lukittu', unlocked: 'Avattu' },
    roles: { device: 'Laite', expert: 'Asiantuntija', interpreter: 'Tulkki' },
    button: 'Suomi',
  },
  sv: {
    title: 'Virtuella rum',
    docTitle: 'Virtuella rum – Väylä',
    states: { idle: 'Ledig', gathering: 'Väntar på deltagare', locked: 'Låst', unlocked: 'Upplåst' },
    roles: { device: 'Enhet', expert: 'Expert', interpreter: 'Tolk' },
    button: 'Svenska',
  },
  en: {
    title: 'Virtual rooms',
    docTitle: 'Virtual rooms – Väylä',
    states: { idle: 'Idle', gathering: 'Gathering', locked: 'Locked', unlocked: 'Unlocked' },
    roles: { device: 'Device', expert: 'Expert', interpreter: 'Interpreter' },
    button: 'English',
  },
};

let server;
let browser;

before(async () => {
  await mkdir(RESULTS, { recursive: true });
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  const status = await server?.stop();
  if (status && status.code !== 0) {
    server.printLogs('server output (unclean stop)');
    assert.fail(`the server did not stop cleanly on SIGINT: ${JSON.stringify(status)}`);
  }
});

/**
 * A test with a fresh page; on failure the server's output is printed and a screenshot is saved to
 * test-results/<name>-failure.png.
 */
function pageTest(name, { viewport, timeout = 60_000 } = {}, body) {
  test(name, { timeout }, async () => {
    const page = await newPage(browser, viewport ? { viewport } : {});
    try {
      await body(page);
      assert.deepEqual(page.problems, [], 'the page logged no errors');
    } catch (e) {
      server.printLogs(`server output for "${name}"`);
      const file = join(RESULTS, `${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}-failure.png`);
      await page.screenshot({ path: file, fullPage: true }).catch(() => {});
      throw e;
    } finally {
      await page.context().close();
    }
  });
}

/** Record every non-empty text the live region gets, from the page's first moment. */
async function recordAnnouncements(page) {
  await page.addInitScript(() => {
    window.__announcements = [];
    document.addEventListener('DOMContentLoaded', () => {
      const region = document.getElementById('rooms-live');
      new MutationObserver(() => {
        const text = region.textContent.trim();
        if (text) window.__announcements.push(text);
      }).observe(region, { childList: true, characterData: true, subtree: true });
    });
  });
}

/** Open the page (optionally with `?lang=`) and wait until the rooms are on it. */
async function openRoomsPage(page, { lang } = {}) {
  await page.goto(`${server.url}/${lang ? `?lang=${lang}` : ''}`);
  await page.waitForSelector('#rooms[aria-busy="false"]');
  await page.waitForFunction((n) => document.querySelectorAll('[data-room]').length === n, ROOM_COUNT);
}

/** What a room's card says, in the shape tests compare. */
function cardState(page, room) {
  return page.evaluate((room) => {
    const card = document.querySelector(`[data-room="${room}"]`);
    if (!card) return null;
    const text = (sel) => card.querySelector(sel)?.textContent.replace(/\s+/g, ' ').trim() ?? '';
    return {
      state: card.dataset.state,
      badge: text('.badge'),
      device: text('.room__device'),
      participants: text('.room__participants'),
      seats: text('.room__seats'),
      text: card.innerText.replace(/\s+/g, ' ').trim(),
    };
  }, room);
}

/**
 * Wait (polling, as the page does) until the card of `room` matches `expected`: `state`, and strings that
 * `badge`, `participants` and `seats` must contain. Fails with what the card said last.
 */
async function waitForCard(page, room, expected, timeoutMs = 8000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await cardState(page, room);
    const ok =
      last &&
      (expected.state === undefined || last.state === expected.state) &&
      ['badge', 'participants', 'seats', 'text'].every(
        (k) => expected[k] === undefined || last[k].includes(expected[k]),
      );
    if (ok) return last;
    if (Date.now() > deadline) {
      assert.fail(`room ${room} did not show ${JSON.stringify(expected)} within ${timeoutMs} ms; it shows ${JSON.stringify(last)}`);
    }
    await page.waitForTimeout(100);
  }
}

async function horizontalOverflow(page) {
  return page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    clientWidth: document.documentElement.clientWidth,
  }));
}

// ---- (a) all rooms, grouped by service point, idle ---------------------------------------------------------

pageTest('lists all demo rooms grouped by service point, all idle', {}, async (page) => {
  await openRoomsPage(page);
  const rooms = await (await fetch(`${server.url}/api/rooms`)).json();

  assert.equal(await page.title(), TEXTS.fi.docTitle);
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'fi');
  const groups = await page.evaluate(() =>
    [...document.querySelectorAll('section[data-service-point]')].map((s) => ({
      id: s.dataset.servicePoint,
      heading: s.querySelector('h2').textContent,
      labelledBy: document.getElementById(s.getAttribute('aria-labelledby'))?.tagName,
      rooms: [...s.querySelectorAll('[data-room]')].map((r) => r.dataset.room),
    })),
  );
  assert.deepEqual(
    Object.fromEntries(groups.map((g) => [g.id, g.rooms])),
    DEMO,
    'every room under its own service point, in order',
  );
  assert.deepEqual(Object.keys(DEMO), groups.map((g) => g.id), 'service points in alphabetical order');
  for (const g of groups) assert.equal(g.labelledBy, 'H2', `section ${g.id} is named by its heading`);
  assert.ok(groups.find((g) => g.id === 'saarijarvi').heading.startsWith('Saarijärven yhteispalvelupiste'), 'service point heading');

  for (const room of rooms) {
    const card = await cardState(page, room.room);
    assert.equal(card.state, 'idle', `${room.room} is idle`);
    assert.equal(card.badge, 'Vapaa', `${room.room} says it is idle in words`);
    assert.equal(card.device, room.name, `${room.room} shows its device's name`);
    assert.equal(card.participants, 'Ei ketään');
    assert.equal(card.seats, 'Ei istuntoa');
  }

  // Structure for assistive technology: landmarks, one h1, h1 > h2 > h3, lists of rooms.
  const outline = await page.evaluate(() => ({
    h1: [...document.querySelectorAll('h1')].map((h) => h.textContent),
    h2: document.querySelectorAll('main h2').length,
    h3: document.querySelectorAll('main h3').length,
    header: document.querySelectorAll('body > header').length,
    main: document.querySelectorAll('main').length,
    footer: document.querySelectorAll('body > footer').length,
    listItems: document.querySelectorAll('section ul.room-list > li[data-room]').length,
    live: document.getElementById('rooms-live')?.getAttribute('aria-live'),
  }));
  assert.deepEqual(outline, {
    h1: [TEXTS.fi.title],
    h2: Object.keys(DEMO).length,
    h3: ROOM_COUNT,
    header: 1,
    main: 1,
    footer: 1,
    listItems: ROOM_COUNT,
    live: 'polite',
  });
  assert.match(await page.locator('#rooms-summary').innerText(), /^8 huonetta, joista 0 käytössä/);

  // The skip link is the first stop of the keyboard and takes focus to the main content.
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.className), 'skip-link');
  assert.ok(await page.locator('.skip-link').isVisible(), 'the skip link shows when focused');
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'main');

  await page.screenshot({ path: join(RESULTS, 'rooms-idle.png'), fullPage: true });
});

// ---- (b) a session gathers, fills and locks, live ----------------------------------------------------------

pageTest('follows a session live: gathering, device in, locked, announced once per change', {}, async (page) => {
  await recordAnnouncements(page);
  await openRoomsPage(page);
  const advisor = await login(server.url, 'advisor-mikkeli');
  const sockets = [];
  try {
    const opened = await openSession(server.url, advisor.access_token, 'mikkeli-2', [
      { role: 'expert', subject: 'kela-anna' },
    ]);
    assert.equal(opened.state, 'gathering');

    await waitForCard(page, 'mikkeli-2', {
      state: 'gathering',
      badge: 'Odottaa osallistujia',
      participants: 'Ei ketään',
      seats: '0/2',
    });

    const device = await enterRoom(server.url, 'mikkeli-2', { device: 'mikkeli-2' });
    sockets.push(device.ws);
    const withDevice = await waitForCard(page, 'mikkeli-2', { state: 'gathering', seats: '1/2' });
    assert.equal(withDevice.participants, 'Laite');
    assert.match(withDevice.seats, /Laite – paikalla/);
    assert.match(withDevice.seats, /Asiantuntija – odotetaan/);

    const expert = await enterRoom(server.url, 'mikkeli-2', { user: 'kela-anna' });
    sockets.push(expert.ws);
    await device.ws.next('room_locked');
    const locked = await waitForCard(page, 'mikkeli-2', { state: 'locked', badge: 'Lukittu', seats: '2/2' });
    assert.equal(locked.participants, 'Laite, Asiantuntija (kela)');
    assert.match(locked.text, /Istunto alkoi klo \d\d\.\d\d/);

    // The live region said so, once per state change, and said nothing about polls that changed nothing.
    await page.waitForFunction(() => /mikkeli-2: Lukittu/.test(document.getElementById('rooms-live').textContent));
    await page.waitForTimeout(4500); // two more polls with no change
    assert.deepEqual(await page.evaluate(() => window.__announcements), [
      'Huone mikkeli-2: Odottaa osallistujia.',
      'Huone mikkeli-2: Lukittu.',
    ]);
    // Other rooms did not move.
    for (const room of ['mikkeli-1', 'mikkeli-3', 'kiiminki-1']) {
      assert.equal((await cardState(page, room)).state, 'idle');
    }
    assert.match(await page.locator('#rooms-summary').innerText(), /^8 huonetta, joista 1 käytössä/);

    await endSession(server.url, advisor.access_token, 'mikkeli-2');
    await waitForCard(page, 'mikkeli-2', { state: 'idle', participants: 'Ei ketään' });
  } finally {
    for (const ws of sockets) ws.close();
    await endSession(server.url, advisor.access_token, 'mikkeli-2').catch(() => {});
  }
});

// ---- (c) languages -----------------------------------------------------------------------------------------

pageTest('switches between Finnish, Swedish and English and remembers the choice', {}, async (page) => {
  await openRoomsPage(page);
  const check = async (lang) => {
    const x = TEXTS[lang];
    assert.equal(await page.evaluate(() => document.documentElement.lang), lang);
    assert.equal(await page.locator('h1').innerText(), x.title);
    assert.equal(await page.title(), x.docTitle);
    assert.equal((await cardState(page, 'parainen-1')).badge, x.states.idle);
    const pressed = await page.locator('.lang-button[aria-pressed="true"]').allInnerTexts();
    assert.deepEqual(pressed, [x.button]);
  };
  await check('fi');
  const buttons = await page.evaluate(() =>
    [...document.querySelectorAll('.lang-button')].map((b) => ({ text: b.textContent, lang: b.lang })),
  );
  assert.deepEqual(buttons, [
    { text: 'Suomi', lang: 'fi' },
    { text: 'Svenska', lang: 'sv' },
    { text: 'English', lang: 'en' },
  ]);
  assert.equal(await page.locator('.lang-switcher').getAttribute('aria-label'), 'Kieli');

  await page.getByRole('button', { name: 'Svenska' }).click();
  await check('sv');
  assert.equal(await page.locator('.skip-link').textContent(), 'Hoppa till huvudinnehållet');
  assert.match(await page.locator('#rooms-summary').innerText(), /^8 rum, varav 0 används/);
  assert.equal(await page.locator('.lang-switcher').getAttribute('aria-label'), 'Språk');

  await page.reload();
  await page.waitForSelector('#rooms[aria-busy="false"]');
  await check('sv'); // remembered

  await page.getByRole('button', { name: 'English' }).click();
  await check('en');
  assert.equal(await page.locator('footer').innerText(), 'Väylä — virtual rooms for remote service');
  assert.equal((await cardState(page, 'mikkeli-1')).participants, 'Nobody');

  await page.getByRole('button', { name: 'Suomi' }).click();
  await check('fi');
  assert.equal(await page.locator('footer').innerText(), 'Väylä — etäpalvelun virtuaalihuoneet');
  assert.equal(await page.evaluate(() => localStorage.getItem('vayla.lang')), 'fi');
});

// ---- (d) accessibility: axe-core, idle and busy, every language ---------------------------------------------

pageTest('has no axe-core WCAG 2.2 A/AA violations when idle, in every language', {}, async (page) => {
  for (const lang of ['fi', 'sv', 'en']) {
    await openRoomsPage(page, { lang });
    await expectNoAxeViolations(page, { label: `the idle rooms page (${lang})` });
  }
});

pageTest(
  'shows every state and role, and has no axe-core violations with rooms in use, in every language',
  {},
  async (page) => {
    const sockets = [];
    const saarijarvi = await login(server.url, 'advisor-saarijarvi');
    const mikkeli = await login(server.url, 'advisor-mikkeli');
    try {
      // saarijarvi-1 locked with an expert and an interpreter.
      await openSession(server.url, saarijarvi.access_token, 'saarijarvi-1', [
        { role: 'expert', subject: 'vero-juha' },
        { role: 'interpreter', subject: 'tulkki-aino' },
      ]);
      for (const who of [{ device: 'saarijarvi-1' }, { user: 'vero-juha' }, { user: 'tulkki-aino' }]) {
        sockets.push((await enterRoom(server.url, 'saarijarvi-1', who)).ws);
      }
      // saarijarvi-2 unlocked by its expert.
      await openSession(server.url, saarijarvi.access_token, 'saarijarvi-2', [
        { role: 'expert', subject: 'kela-mikko' },
      ]);
      sockets.push((await enterRoom(server.url, 'saarijarvi-2', { device: 'saarijarvi-2' })).ws);
      const expert = await enterRoom(server.url, 'saarijarvi-2', { user: 'kela-mikko' });
      sockets.push(expert.ws);
      await expert.ws.next('room_locked');
      await expert.ws.unlock();
      // mikkeli-1 gathering, nobody in yet.
      await openSession(server.url, mikkeli.access_token, 'mikkeli-1', [{ role: 'expert', subject: 'dvv-sanna' }]);

      await openRoomsPage(page);
      for (const lang of ['fi', 'sv', 'en']) {
        const x = TEXTS[lang];
        await page.getByRole('button', { name: x.button }).click();
        const s1 = await waitForCard(page, 'saarijarvi-1', { state: 'locked', badge: x.states.locked });
        assert.equal(s1.participants, `${x.roles.device}, ${x.roles.expert} (vero), ${x.roles.interpreter}`);
        assert.match(s1.seats, /^3\/3 /);
        await waitForCard(page, 'saarijarvi-2', { state: 'unlocked', badge: x.states.unlocked, seats: '2/2' });
        await waitForCard(page, 'mikkeli-1', { state: 'gathering', badge: x.states.gathering, seats: '0/2' });
        await waitForCard(page, 'kiiminki-1', { state: 'idle', badge: x.states.idle });
        await expectNoAxeViolations(page, { label: `the rooms page with rooms in use (${lang})` });
      }
      await page.getByRole('button', { name: 'Suomi' }).click();
      await page.screenshot({ path: join(RESULTS, 'rooms.png'), fullPage: true });

      // Reflow with the longest contents: no horizontal scrolling at 320 px (WCAG 1.4.10) or at 200 % zoom.
      for (const width of [320, 640]) {
        await page.setViewportSize({ width, height: 800 });
        const { scrollWidth } = await horizontalOverflow(page);
        assert.ok(scrollWidth <= width, `no horizontal scrolling at ${width} px: scrollWidth is ${scrollWidth}`);
      }
      await page.setViewportSize({ width: 320, height: 800 });
      await page.screenshot({ path: join(RESULTS, 'rooms-320-busy.png'), fullPage: true });
    } finally {
      for (const ws of sockets) ws.close();
      await endSession(server.url, saarijarvi.access_token, 'saarijarvi-1').catch(() => {});
      await endSession(server.url, saarijarvi.access_token, 'saarijarvi-2').catch(() => {});
      await endSession(server.url, mikkeli.access_token, 'mikkeli-1').catch(() => {});
    }
  },
);

// ---- (e) narrow screens ------------------------------------------------------------------------------------

pageTest('fits a 320 px wide screen without horizontal scrolling', { viewport: { width: 320, height: 640 } }, async (page) => {
  for (const lang of ['fi', 'sv', 'en']) {
    await openRoomsPage(page, { lang });
    const { scrollWidth } = await horizontalOverflow(page);
    assert.ok(scrollWidth <= 320, `document.documentElement.scrollWidth is ${scrollWidth} (${lang})`);
  }
  await openRoomsPage(page, { lang: 'fi' });
  await page.screenshot({ path: join(RESULTS, 'rooms-320.png'), fullPage: true });
});

// ---- the server goes away ----------------------------------------------------------------------------------

test('says so when the server cannot be reached and keeps the last known rooms', { timeout: 60_000 }, async () => {
  const own = await startServer();
  const page = await newPage(browser);
  try {
    await page.goto(`${own.url}/`);
    await page.waitForSelector('[data-room="mikkeli-1"]');
    assert.ok(await page.locator('#rooms-error').isHidden(), 'no error while the server answers');
    await own.stop();
    const alert = page.getByRole('alert');
    await alert.waitFor({ state: 'visible', timeout: 8000 });
    assert.match(await alert.innerText(), /Huoneiden tilaa ei juuri nyt saatu haettua \(network\)/);
    // The last known rooms stay on the page.
    assert.equal(await page.locator('[data-room]').count(), ROOM_COUNT);
    assert.ok(page.problems.every((p) => /Failed to load resource|ERR_CONNECTION_REFUSED/.test(p)), page.problems.join('\n'));
  } catch (e) {
    own.printLogs('server output for the unreachable-server test');
    throw e;
  } finally {
    await page.context().close();
    await own.stop();
  }
});
