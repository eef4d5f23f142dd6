// The console in a real browser (Debian's Chromium, driven by playwright-core) against a real
// `rampart up` with real runs: sign in, watch a run appear live, freeze it from its page, see the
// incident its detection opened, download the report; a read-only token gives a read-only console;
// what agents wrote renders inert; CSRF, foreign origins and signed-out sessions are refused; the
// audit log is verified in the browser with the pinned key, and a tampered proof is caught; axe
// finds no serious or critical violation on any view. Screenshots of every view go to
// docs/console/ when RAMPART_CONSOLE_SCREENSHOTS is set (how docs/console.md's were made).

import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { keyPair } from '../support/keys.js';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { BIN, ROOT, startServer, type Server } from '../support/cli.js';
import { axe, browserSkip, launch, signIn } from '../support/browser.js';
import { adminToken, api, type Api, type Json } from '../support/http.js';
import { sandboxControlPlaneDir, sandboxSkip } from '../support/sandbox.js';
import { eventually } from '../support/wait.js';

const skip = sandboxSkip() || browserSkip();
const VIEWER_TOKEN = 'viewer-token-0123456789abcdef0123456789abcdef';
// What an agent might print to attack whoever reads the console.
const HOSTILE = `<script>window.__xss=1</script><img src=x onerror="window.__xss=2">javascript:window.__xss=3 &lt;b&gt;`;
const SHOTS = process.env['RAMPART_CONSOLE_SCREENSHOTS'] ? join(ROOT, 'docs', 'console') : undefined;

/** A verifier key of this name that is not the log's: a fresh Ed25519 key, as a C2SP vkey. */
function otherKey(name: string): string {
  const x = keyPair({ type: 'ed25519' }).publicKey.export({ format: 'jwk' }).x!;
  const raw = Buffer.concat([Buffer.from([1]), Buffer.from(x, 'base64url')]);
  const hash = createHash('sha256').update(`${name}\n`).update(raw).digest().subarray(0, 4);
  return `${name}+${hash.toString('hex')}+${raw.toString('base64')}`;
}

describe('the console, in Chromium', { skip }, () => {
  let cp: ReturnType<typeof sandboxControlPlaneDir>;
  let server: Server;
  let admin: Api;
  let browser: Browser;
  const children: ChildProcess[] = [];

  before(async () => {
    // Response off: the detection opens an incident and nothing contains the run but the person.
    cp = sandboxControlPlaneDir(
      `respond:\n  enabled: false\nauth:\n  clients:\n    - name: viewer\n      token_file: viewer.token\n      scopes: [audit:read, runs:read]\n`,
    );
    writeFileSync(join(cp.dir.dir, 'viewer.token'), VIEWER_TOKEN + '\n', { mode: 0o600 });
    server = await startServer(['--listen', '127.0.0.1:0'], { cwd: cp.dir.dir });
    admin = api(server.url, adminToken(cp.dir.dir));
    browser = await launch();
    if (SHOTS) mkdirSync(SHOTS, { recursive: true });
  });
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    spawnSync(process.execPath, [BIN, 'destroy', '--all'], { cwd: cp.dir.dir, timeout: 20_000 });
    await browser?.close();
    await server?.stop();
    cp.cleanup();
  });

  const startRun = (agent: string, script: string): void => {
    children.push(
      spawn(process.execPath, [BIN, 'run', '--agent', agent, '--', 'sh', '-c', script], {
        cwd: cp.dir.dir,
        stdio: 'ignore',
      }),
    );
  };
  const runOf = (agent: string): Promise<Json> =>
    eventually(async () => {
      const runs = ((await admin('GET', '/v1/runs')).json as { runs: Json[] }).runs;
      return runs.find((x: Json) => x.agent === agent && x.status === 'running');
    }, `a running run of ${agent}`);
  const shot = async (page: Page, name: string): Promise<void> => {
    if (SHOTS) await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: false });
  };

  it('signs in, shows a run live, freezes it from its page, opens its incident and downloads the report', async () => {
    const context = await browser.newContext({
      acceptDownloads: true,
      viewport: { width: 1280, height: 800 },
    });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await signIn(page, server.url, adminToken(cp.dir.dir));
    await page.goto(`${server.url}/console#/events`);
    await page.waitForSelector('text=Stream live');

    // A run that connects to a raw IP address (denied, and detected: egress-raw-ip), then waits.
    startRun('console-agent', `curl -s -o /dev/null -m 3 http://198.51.100.23/x; sleep 300`);
    await page.waitForSelector('.row .type:text("sandbox.run_started")', { timeout: 30_000 });
    const run = await runOf('console-agent');
    await page.waitForSelector('.row .type:text("detect.detection")', { timeout: 30_000 });
    await shot(page, 'events');

    // The incident the detection opened, on the incidents page.
    const incident = await eventually(async () => {
      const list = (await admin('GET', '/v1/incidents?status=active')).json.incidents as Json[];
      return list.find((i: Json) => i.agents.includes('console-agent'));
    }, 'an incident about console-agent');

    // Freeze it from its page: a reason, then an explicit confirmation.
    await page.goto(`${server.url}/console#/runs`);
    await page.click(`a:text("${run.id}")`);
    await page.waitForSelector('#h-run');
    await page.click('button:text("Freeze")');
    await page.fill('#reason-freeze', 'seen reaching a raw IP address');
    await page.click('button:text("Confirm freeze this run")');
    await page.waitForSelector('text=Freeze: done');
    await shot(page, 'run');
    const frozen = await eventually(async () => {
      const i = (await admin('GET', `/v1/incidents/${incident.id}`)).json;
      return i.actions.find((a: Json) => a.action === 'freeze' && a.by === 'admin') ? i : undefined;
    }, 'the freeze on the incident');
    assert.ok(frozen.times.contained, 'the freeze is the containment');

    await page.goto(`${server.url}/console#/incidents`);
    await page.click(`a:text("${incident.id}")`);
    await page.waitForSelector(`#h-incident:has-text("${incident.id}")`);
    await page.waitForSelector('.timeline li');
    await shot(page, 'incident');
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click('button:text("Download report (HTML)")'),
    ]);
    const report = readFileSync(await download.path(), 'utf8');
    assert.match(report, new RegExp(incident.id as string));
    assert.match(report, /freeze/);
    assert.deepEqual(errors, []);
    await context.close();
  });

  it('a read-only token gives a read-only console: no action offered, and the API refuses one', async () => {
    startRun('viewer-seen', 'sleep 300');
    const run = await runOf('viewer-seen');
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page, server.url, VIEWER_TOKEN);
    assert.match((await page.textContent('header .who')) ?? '', /client:viewer/);
    await page.goto(`${server.url}/console#/runs/${run.id}`);
    await page.waitForSelector('text=viewer-seen');
    assert.equal(await page.isDisabled('button:text("Freeze")'), true);
    assert.equal(await page.isDisabled('button:text("Kill")'), true);
    // Even a request made by hand with the session (and its CSRF token) is refused by scope.
    const status = await page.evaluate(`(async () => {
      const s = await (await fetch('/console/session')).json();
      const r = await fetch('/v1/runs/${run.id}/kill', { method: 'POST', headers: { 'x-rampart-csrf': s.csrf, 'content-type': 'application/json' }, body: '{}' });
      return r.status;
    })()`);
    assert.equal(status, 403);
    await context.close();
  });

  it('renders what agents wrote as text: no script runs, no element is made, no link goes anywhere', async () => {
    startRun('hostile', `echo '${HOSTILE}' > /dev/null; sleep 300`);
    const run = await runOf('hostile');
    const context = await browser.newContext();
    const page = await context.newPage();
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await signIn(page, server.url, adminToken(cp.dir.dir));
    for (const view of ['runs', `runs/${run.id}`, 'events']) {
      await page.goto(`${server.url}/console#/${view}`);
      await page.waitForSelector(`text=${view === 'events' ? 'sandbox.run_started' : 'hostile'}`);
      if (view === 'events') await page.click('.row:has-text("hostile")');
      // The command shows as the characters the agent wrote.
      assert.ok((await page.textContent('main'))!.includes('<script>window.__xss=1</script>'), view);
      assert.equal(await page.evaluate('window.__xss'), undefined, view);
      assert.equal(await page.locator('main img').count(), 0, view);
      assert.equal(await page.locator('main script').count(), 0, view);
      assert.equal(await page.locator('a[href^="javascript:"]').count(), 0, view);
    }
    assert.deepEqual(dialogs, []);
    await context.close();
  });

  it('refuses a state change without the CSRF token, from another origin, or after sign-out', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page, server.url, adminToken(cp.dir.dir));
    const cookie = (await context.cookies()).find((c) => c.name === 'rampart_session')!;
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    assert.equal(cookie.path, '/');
    const session = (await (
      await fetch(`${server.url}/console/session`, { headers: { cookie: `rampart_session=${cookie.value}` } })
    ).json()) as Json;
    const post = (headers: Record<string, string>) =>
      fetch(`${server.url}/v1/respond/block-agent`, {
        method: 'POST',
        headers: {
          cookie: `rampart_session=${cookie.value}`,
          'content-type': 'application/json',
          ...headers,
        },
        body: JSON.stringify({ agent: 'csrf-target', reason: 'console test' }),
      });
    const noToken = await post({});
    assert.equal(noToken.status, 403);
    assert.equal(((await noToken.json()) as Json).error.code, 'RAMPART_E_CSRF');
    const wrong = await post({ 'x-rampart-csrf': 'x'.repeat(43) });
    assert.equal(((await wrong.json()) as Json).error.code, 'RAMPART_E_CSRF');
    const foreign = await post({ 'x-rampart-csrf': session.csrf, origin: 'https://attacker.example' });
    assert.equal(((await foreign.json()) as Json).error.code, 'RAMPART_E_CSRF');
    const crossSite = await post({ 'x-rampart-csrf': session.csrf, 'sec-fetch-site': 'cross-site' });
    assert.equal(((await crossSite.json()) as Json).error.code, 'RAMPART_E_CSRF');
    // Nothing of the above happened.
    const blocked = (await admin('GET', '/v1/respond')).json.blocked as Json[];
    assert.equal(
      blocked.find((b: Json) => b.agent === 'csrf-target'),
      undefined,
    );
    // With the token and from the console's origin it works: the checks are what refused.
    const ok = await post({ 'x-rampart-csrf': session.csrf, origin: server.url });
    assert.equal(ok.status, 200, await ok.text());
    await admin('POST', '/v1/respond/unblock-agent', { agent: 'csrf-target', reason: 'console test' });

    // Sign out in the page: the same cookie and token are refused from then on.
    await page.click('button:text("Sign out")');
    await page.waitForSelector('#token');
    const after = await post({ 'x-rampart-csrf': session.csrf, origin: server.url });
    assert.equal(after.status, 401);
    const read = await fetch(`${server.url}/v1/runs`, {
      headers: { cookie: `rampart_session=${cookie.value}` },
    });
    assert.equal(read.status, 401);
    const records = (await admin('GET', '/v1/audit/records?limit=10000')).json.records as Json[];
    assert.ok(
      records.find((r: Json) => r.action === 'event.console.signed_in' && r.details.data.actor === 'admin'),
    );
    assert.ok(
      records.find(
        (r: Json) => r.action === 'event.console.signed_out' && r.details.data.reason === 'signed_out',
      ),
    );
    await context.close();
  });

  it('serves the page with a strict CSP and nothing inline; the browser refuses an injected script', async () => {
    const res = await fetch(`${server.url}/console`);
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
    const body = await res.text();
    assert.doesNotMatch(body, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
    assert.doesNotMatch(body, /https?:\/\//, 'nothing from elsewhere');
    // The initial JavaScript, as the browser downloads it compressed: at most 100 KB.
    const js = Buffer.from(await (await fetch(`${server.url}/console/assets/app.js`)).arrayBuffer());
    assert.ok(
      gzipSync(js, { level: 9 }).length <= 100 * 1024,
      `app.js is ${gzipSync(js).length} bytes gzipped`,
    );
    assert.doesNotMatch(
      js.toString(),
      /https?:\/\/(?!www\.w3\.org)[a-z]/i,
      'the script fetches nothing from elsewhere',
    );
    const page = await browser.newPage();
    const violations: string[] = [];
    page.on('console', (m) => {
      if (m.text().includes('Content Security Policy')) violations.push(m.text());
    });
    await page.goto(`${server.url}/console`);
    await page.waitForSelector('#token');
    await page.evaluate(
      `(() => { const s = document.createElement('script'); s.textContent = 'window.__inline = 1'; document.body.append(s); })()`,
    );
    assert.equal(await page.evaluate('window.__inline'), undefined);
    assert.ok(violations.length > 0, 'the browser reported the refused script');
    await page.close();
  });

  it('verifies records and checkpoints in the browser with the pinned key, and catches a forged proof', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page, server.url, adminToken(cp.dir.dir));
    await page.goto(`${server.url}/console#/audit`);
    const vkey = readFileSync(join(cp.dir.dir, '.rampart', 'keys', 'audit-ed25519.vkey'), 'utf8').trim();
    await page.fill('#vkey', vkey);
    await page.click('button:text("Pin in this browser")');
    await page.waitForSelector('text=Checkpoint verified here');
    await page.click('tbody tr:first-child button:text("Verify")');
    await page.waitForSelector('tbody tr:first-child :text("verified: in the log of")');
    await shot(page, 'audit');

    // The server lies about a record's proof: the browser says so.
    await page.route('**/v1/audit/proofs/inclusion*', async (route) => {
      const r = await route.fetch();
      const proof = await r.json();
      proof.proof = (proof.proof as string[]).map((h) => (h[0] === '0' ? '1' : '0') + h.slice(1));
      if (proof.proof.length === 0) proof.treeSize += 1;
      await route.fulfill({ response: r, json: proof });
    });
    await page.click('tbody tr:nth-child(2) button:text("Verify")');
    await page.waitForSelector('tbody tr:nth-child(2) :text("NOT VERIFIED")');

    // A well-formed key of the same name that is not the log's: the checkpoint does not verify.
    await page.unroute('**/v1/audit/proofs/inclusion*');
    await page.click('button:text("Unpin")');
    await page.fill('#vkey', otherKey(vkey.split('+')[0]!));
    await page.click('button:text("Pin in this browser")');
    await page.waitForSelector('text=Checkpoint NOT VERIFIED');
    // And a mangled key is refused when pinned, saying why.
    await page.click('button:text("Unpin")');
    await page.fill('#vkey', vkey.replace(/^[^+]+/, 'renamed'));
    await page.click('button:text("Pin in this browser")');
    await page.waitForSelector('p.error:text("does not match its key")');
    await context.close();
  });

  it('has no serious or critical accessibility violation on any view', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await page.goto(`${server.url}/console`);
    await page.waitForSelector('#token');
    const found: string[] = [];
    const check = async (view: string) => {
      for (const v of await axe(page))
        if (v.impact === 'serious' || v.impact === 'critical')
          found.push(
            `${view}: ${v.id} (${v.impact}) ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`,
          );
    };
    await check('sign-in');
    await signIn(page, server.url, adminToken(cp.dir.dir));
    const run = await runOf('console-agent').catch(() => undefined);
    const incidents = (await admin('GET', '/v1/incidents')).json.incidents as Json[];
    const views = [
      ['overview', '#h-overview'],
      ['events', '#h-events'],
      ['runs', '#h-runs'],
      ...(run ? [[`runs/${run.id}`, '#h-run']] : []),
      ['incidents', '#h-incidents'],
      ...(incidents[0] ? [[`incidents/${incidents[0].id}`, '#h-incident']] : []),
      ['egress', '#h-egress'],
      ['policy', '#h-policy'],
      ['audit', '#h-audit'],
      ['breakglass', '#h-bg'],
    ];
    for (const [view, heading] of views) {
      await page.goto(`${server.url}/console#/${view}`);
      await page.waitForSelector(heading!);
      await page.locator('text=Loading…').waitFor({ state: 'detached' });
      await check(view!);
      if (['overview', 'runs', 'incidents', 'egress', 'policy', 'breakglass'].includes(view!))
        await shot(page, view!);
    }
    assert.deepEqual(found, []);
    await context.close();
  });
});
