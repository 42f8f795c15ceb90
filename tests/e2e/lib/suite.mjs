// What every browser test file does around its tests: where failure screenshots go, a test wrapper that shows
// the server's output and screenshots every page it names when the test fails (and checks the pages logged no
// errors when it passes), and a clean shutdown that fails the run if the server did not stop cleanly on SIGINT.

import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

/** Failure screenshots and downloads of the browser tests. */
export const RESULTS = join(dirname(fileURLToPath(import.meta.url)), '..', 'test-results');

/**
 * A `test` whose body gets an array to push its pages into (each with `label` and `problems`, see browser.mjs).
 * On success every page must have logged no errors; on failure the server's output is printed and every page is
 * screenshot into RESULTS. `server` is a function giving the file's server (it starts in `before`).
 * With `closePages`, each page's browser context is closed afterwards.
 */
export function pageTestWith(server, { closePages = false } = {}) {
  return (name, timeout, body) =>
    test(name, { timeout }, async () => {
      const pages = [];
      try {
        await body(pages);
        for (const page of pages) assert.deepEqual(page.problems, [], `${page.label} logged no errors`);
      } catch (e) {
        server().printLogs(`server output for "${name}"`);
        const slug = name.replace(/[^a-z0-9]+/gi, '-').toLowerCase().slice(0, 60);
        for (const page of pages) {
          await page.screenshot({ path: join(RESULTS, `${slug}-${page.label}-failure.png`), fullPage: true }).catch(() => {});
        }
        throw e;
      } finally {
        if (closePages) for (const page of pages) await page.context().close().catch(() => {});
      }
    });
}

/** Close the browsers, then stop the server; a server that does not stop cleanly on SIGINT fails the run. */
export async function shutDown(server, browsers) {
  for (const browser of browsers) await browser?.close();
  const status = await server?.stop();
  if (status && status.code !== 0) {
    server.printLogs('server output (unclean stop)');
    assert.fail(`the server did not stop cleanly on SIGINT: ${JSON.stringify(status)}`);
  }
}
