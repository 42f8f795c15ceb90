// What the call tests ask of a <video>: that it really plays.

import assert from 'node:assert/strict';

/**
 * Wait until the video at `selector` plays: decoded frames of non-zero size, and the decoded-frame count
 * still rising. Returns its size.
 */
export async function expectPlaying(page, selector, { timeout = 15_000, what = selector } = {}) {
  try {
    await page.waitForFunction((sel) => document.querySelector(sel)?.videoWidth > 0, selector, { timeout, polling: 50 });
  } catch {
    assert.fail(`${page.label}: ${what} shows no picture within ${timeout} ms`);
  }
  const frames = () => page.$eval(selector, (v) => v.getVideoPlaybackQuality().totalVideoFrames);
  const first = await frames();
  try {
    await page.waitForFunction(
      ([sel, n]) => document.querySelector(sel).getVideoPlaybackQuality().totalVideoFrames >= n + 3,
      [selector, first],
      { timeout: 5000 },
    );
  } catch {
    assert.fail(`${page.label}: ${what} is frozen at ${first} decoded frames`);
  }
  return page.$eval(selector, (v) => ({ width: v.videoWidth, height: v.videoHeight }));
}
