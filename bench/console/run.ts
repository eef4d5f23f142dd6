// bench/console: the console in a real browser (Debian's Chromium through playwright-core).
//
//   npm run bench:setup && node build/bench/console/run.js [--rate 1000] [--seconds 30]
//
// 1. First view interactive: a signed-in browser opens /console; the time from navigation until
//    the overview shows every component's health (its table filled, so data has arrived and
//    rendered), median of 7 loads, beside `node -e 0` measured in the same run.
// 2. The live events view under load: a proxy in front of a real `rampart up` passes every request
//    through except the event stream, which it serves itself at --rate events a second for
//    --seconds (in 10 ms batches, shaped like the control plane's: sandbox, egress, detection
//    events). Measured in the page: every animation frame's duration (p50, p95, p99, max), and
//    that every event sent was received (the count the view shows). The stream is synthetic
//    because the goal is the browser's: the control plane's own stream is measured elsewhere.
//
// Goals (issue 29): p95 frame time under 50 ms at 1,000 events/s for 30 s; first view
// interactive within 1 s.

import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { launch, signIn } from '../../test/support/browser.js';
import { startServer } from '../../test/support/cli.js';
import { adminToken } from '../../test/support/http.js';
import { tempDir } from '../../test/support/tmp.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nodeStartMs, pct } from '../stats.js';

const { values } = parseArgs({
  options: { rate: { type: 'string', default: '1000' }, seconds: { type: 'string', default: '30' } },
});
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);

const KINDS = [
  {
    type: 'sandbox.run_started',
    severity: 'info',
    data: (i: number) => ({ run: `r${i % 50}`, agent: `agent-${i % 13}`, command: 'npm test' }),
  },
  {
    type: 'egress.connection',
    severity: 'info',
    data: (i: number) => ({
      run: `r${i % 50}`,
      agent: `agent-${i % 13}`,
      host: `api${i % 7}.example.com`,
      port: 443,
      decision: 'allow',
    }),
  },
  {
    type: 'process.exec',
    severity: 'info',
    data: (i: number) => ({
      run: `r${i % 50}`,
      agent: `agent-${i % 13}`,
      comm: 'node',
      argv: ['node', `script-${i}.js`],
    }),
  },
  {
    type: 'detect.detection',
    severity: 'high',
    data: (i: number) => ({
      run: `r${i % 50}`,
      agent: `agent-${i % 13}`,
      rule: 'egress-raw-ip',
      output: `connection to 198.51.100.${i % 250}`,
    }),
  },
] as const;

/** A proxy to the control plane that serves its own event stream at RATE events/s. */
function proxy(upstream: URL, sent: { n: number; done: boolean }) {
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url?.startsWith('/v1/events/stream')) {
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store' });
      res.write(': synthetic stream\n\n');
      const t0 = Date.now();
      let seq = 1_000_000;
      const tick = setInterval(() => {
        // Catch up to the schedule rather than drift: RATE events a second on average.
        const due = Math.min(RATE * SECONDS, Math.floor(((Date.now() - t0) / 1000) * RATE));
        let out = '';
        while (sent.n < due) {
          const k = KINDS[sent.n % KINDS.length]!;
          const e = {
            seq: seq++,
            time: new Date().toISOString(),
            type: k.type,
            severity: k.severity,
            source: 'bench',
            subject: { agent: `agent-${sent.n % 13}` },
            data: k.data(sent.n),
          };
          out += `id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`;
          sent.n++;
        }
        if (out) res.write(out);
        if (sent.n >= RATE * SECONDS) {
          clearInterval(tick);
          sent.done = true;
        }
      }, 10);
      req.on('close', () => clearInterval(tick));
      return;
    }
    const up = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        path: req.url,
        method: req.method,
        headers: req.headers,
      },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
}

async function main(): Promise<void> {
  const dir = tempDir();
  writeFileSync(join(dir.dir, 'rampart.yaml'), 'detect:\n  telemetry: off\nrespond:\n  enabled: false\n');
  const server = await startServer(['--listen', '127.0.0.1:0'], { cwd: dir.dir });
  const sent = { n: 0, done: false };
  const front = proxy(new URL(server.url), sent);
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
  const browser = await launch();
  try {
    console.log(`node -e 0: ${nodeStartMs().toFixed(1)} ms p50 (this machine, this run)`);
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await signIn(page, url, adminToken(dir.dir));

    // 1. First view interactive, signed in, cold page each time (the assets revalidated: 304).
    const loads: number[] = [];
    for (let i = 0; i < 7; i++) {
      await page.goto('about:blank');
      const t0 = performance.now();
      await page.goto(`${url}/console#/overview`);
      await page.waitForSelector('#h-overview ~ table tbody tr, section table tbody tr:nth-child(5)');
      loads.push(performance.now() - t0);
    }
    console.log(
      `first view interactive: p50 ${pct(loads, 0.5).toFixed(0)} ms, max ${Math.max(...loads).toFixed(0)} ms (7 loads)`,
    );

    // 2. Live events at RATE/s for SECONDS.
    await page.goto(`${url}/console#/events`);
    await page.waitForSelector('text=Stream live');
    await page.evaluate(`(() => {
      window.__frames = [];
      let last = performance.now();
      const loop = (t) => { window.__frames.push(t - last); last = t; if (!window.__stop) requestAnimationFrame(loop); };
      requestAnimationFrame(loop);
    })()`);
    const until = Date.now() + SECONDS * 1000 + 60_000;
    while (!sent.done && Date.now() < until) await new Promise((r) => setTimeout(r, 500));
    // The view may still be drawing the last batch: wait (bounded) for its count to settle.
    const settle = Date.now() + 30_000;
    while (
      Date.now() < settle &&
      !((await page.textContent('.status')) ?? '').includes(`of ${sent.n} received`)
    )
      await new Promise((r) => setTimeout(r, 200));
    const frames = await page.evaluate<number[]>(
      '(() => { window.__stop = true; return window.__frames.slice(5); })()',
    );
    const status = (await page.textContent('.status')) ?? '';
    if (process.env['BENCH_DEBUG']) console.log(status);
    const received = Number(/of (\d+) received/.exec(status)?.[1] ?? 0);
    console.log(
      `live events: ${sent.n} sent at ${RATE}/s for ${SECONDS} s, ${received} received; ` +
        `frame time p50 ${pct(frames, 0.5).toFixed(1)} ms, p95 ${pct(frames, 0.95).toFixed(1)} ms, ` +
        `p99 ${pct(frames, 0.99).toFixed(1)} ms, max ${Math.max(...frames).toFixed(1)} ms over ${frames.length} frames`,
    );
    await context.close();
  } finally {
    await browser.close();
    front.close();
    await server.stop();
    dir.cleanup();
  }
}

await main();
