// A real browser for the console's tests: Debian's Chromium (installed by .ci/run) driven by
// playwright-core, headless. Under CI=true a missing browser fails the run instead of skipping.

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's chromium package: /usr/bin/chromium is a shell wrapper around this binary. */
export const CHROMIUM = ['/usr/lib/chromium/chromium', '/usr/bin/chromium'].find((p) => existsSync(p));

export function browserSkip(): string | false {
  if (CHROMIUM) return false;
  if (process.env['CI'] === 'true')
    throw new Error('CI=true but Chromium is not installed (apt-get install chromium)');
  return 'console browser tests skipped: no Chromium (apt-get install chromium)';
}

export async function launch(): Promise<Browser> {
  // --no-sandbox: the tests run as root, where Chromium's own sandbox refuses to start.
  return chromium.launch({ executablePath: CHROMIUM!, args: ['--no-sandbox', '--disable-gpu'] });
}

/** Signs in on the console's form with a token; resolves when the overview is on screen. */
export async function signIn(page: Page, url: string, token: string): Promise<void> {
  await page.goto(`${url}/console`);
  await page.fill('#token', token);
  await page.click('button[type=submit]');
  await page.waitForSelector('#h-overview');
}

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/**
 * axe-core's violations on the page as it is. Loaded with page.evaluate, which the page's CSP does
 * not govern (an injected <script> would be refused, as it should be).
 */
export async function axe(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(`${AXE};undefined`);
  // A string, evaluated in the page: the tests compile without the DOM's types.
  return page.evaluate(`(async () => {
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target })) }));
  })()`);
}
