// The proxy's timeouts on one interval, with real loopback sockets and the sweep driven by hand
// (its clock passed in), so each case is exact rather than a race against a timer.

import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Timeouts } from '../../src/egress/timeouts.js';

describe('Timeouts', () => {
  const server = createServer((s) => s.on('error', () => s.destroy()));
  let port = 0;
  // An interval far longer than the tests: only the hand-driven sweeps below run.
  const timeouts = new Timeouts(3_600_000);

  before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  after(() => {
    timeouts.close();
    server.close();
  });

  const pair = async (): Promise<[Socket, Socket]> => {
    const accepted = new Promise<Socket>((r) => server.once('connection', r));
    const a = connect(port, '127.0.0.1');
    a.on('error', () => undefined);
    await new Promise((r) => a.once('connect', r));
    return [a, await accepted];
  };

  it('fires a deadline once it is due, and not one that was cleared', async () => {
    const [a, b] = await pair();
    const [c, d] = await pair();
    const t0 = performance.now();
    let fired = 0;
    timeouts.after(a, 100, () => fired++);
    timeouts.after(c, 100);
    timeouts.clear(c);
    timeouts.sweep(t0 + 50);
    assert.equal(fired, 0, 'not yet due');
    timeouts.sweep(t0 + 150);
    timeouts.sweep(t0 + 250);
    assert.equal(fired, 1, 'fired once');
    assert.equal(c.destroyed, false, 'a cleared deadline does not destroy');
    for (const s of [a, b, c, d]) s.destroy();
  });

  it('forgets a deadline whose socket closed', async () => {
    const [, b] = await pair();
    const t0 = performance.now();
    let fired = false;
    timeouts.after(b, 10, () => (fired = true));
    b.destroy();
    timeouts.sweep(t0 + 1_000);
    assert.equal(fired, false);
  });

  it('refuses a bad interval as the caller mistake it is', () => {
    assert.throws(() => new Timeouts(0), TypeError);
  });
});
