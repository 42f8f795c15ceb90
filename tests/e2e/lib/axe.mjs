// Run axe-core in a page against WCAG 2.0, 2.1 and 2.2 levels A and AA, and fail with a readable list.

import assert from 'node:assert/strict';
import axe from 'axe-core';

export const WCAG_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];

/** The violations found in `page` (optionally within `include`, a CSS selector), as plain objects. */
export async function axeViolations(page, { include, disableRules = [] } = {}) {
  // Evaluated through the DevTools protocol, so a page's Content-Security-Policy does not block it.
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) {
    await page.evaluate(axe.source);
  }
  return page.evaluate(
    async ({ include, tags, disableRules }) => {
      const rules = Object.fromEntries(disableRules.map((id) => [id, { enabled: false }]));
      const result = await window.axe.run(include ? { include: [include] } : document, {
        runOnly: { type: 'tag', values: tags },
        resultTypes: ['violations'],
        rules,
      });
      return result.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        helpUrl: v.helpUrl,
        nodes: v.nodes.map((n) => ({ target: n.target.join(' '), summary: n.failureSummary })),
      }));
    },
    { include, tags: WCAG_TAGS, disableRules },
  );
}

export function formatViolations(violations) {
  return violations
    .map(
      (v) =>
        `- [${v.impact}] ${v.id}: ${v.help} (${v.helpUrl})\n` +
        v.nodes
          .map((n) => `    at ${n.target}${n.summary ? '\n      ' + n.summary.replace(/\n/g, '\n      ') : ''}`)
          .join('\n'),
    )
    .join('\n');
}

/** Fail unless axe-core finds no WCAG A/AA violation. `label` names the page state in the message. */
export async function expectNoAxeViolations(page, { label = page.url(), ...options } = {}) {
  const violations = await axeViolations(page, options);
  assert.ok(
    violations.length === 0,
    `axe-core found ${violations.length} accessibility violation(s) on ${label}:\n${formatViolations(violations)}`,
  );
}
