// Watching what happens: the live event stream (Server-Sent Events) and `rampart events`, and
// `rampart audit tail`'s filters, against a real `rampart up`.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN, rampart, rampartAsync, startServer, type Server } from '../support/cli.js';
import { adminToken, api, type Api } from '../support/http.js';
import { tempDir, type TempDir } from '../support/tmp.js';
import { until } from '../support/wait.js';

describe('seeing what happens', () => {
  let dir: TempDir;
  let server: Server;
  let admin: Api;
  let token: string;
  before(async () => {
    dir = tempDir();
    server = await startServer(['--listen', '127.0.0.1:0'], { cwd: dir.dir });
    token = adminToken(dir.dir);
    admin = api(server.url, token);
  });
  after(async () => {
    await server?.stop();
    dir?.cleanup();
  });

  const ban = async (target: string): Promise<void> => {
    assert.equal((await admin('POST', '/v1/egress/bans', { target })).status, 200);
  };

  /** Reads an SSE response until `enough` says so; returns the messages' data, parsed. */
  async function sse(path: string, headers: Record<string, string>, enough: (got: unknown[]) => boolean) {
    const ac = new AbortController();
    const res = await fetch(`${server.url}${path}`, {
      headers: { authorization: `Bearer ${token}`, ...headers },
      signal: ac.signal,
    });
    const got: { seq: number; type: string; data: Record<string, unknown> }[] = [];
    if (res.status !== 200) return { status: res.status, got, body: await res.text() };
    const reader = res.body!.getReader();
    let text = '';
    while (!enough(got)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString('utf8');
      let end: number;
      while ((end = text.indexOf('\n\n')) >= 0) {
        const data = text
          .slice(0, end)
          .split('\n')
          .find((l) => l.startsWith('data: '));
        text = text.slice(end + 2);
        if (data) got.push(JSON.parse(data.slice(6)) as (typeof got)[number]);
      }
    }
    ac.abort();
    return { status: res.status, got, body: '' };
  }

  it('streams events live, filtered by type, and resumes after Last-Event-ID', async () => {
    await ban('10.9.0.1');
    const live = sse('/v1/events/stream?type=egress.*', {}, (g) => g.length >= 2);
    // The stream is open once it has said hello; then two more bans arrive live.
    await until(async () => {
      const m = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
      return /rampart_events_lag\{subscriber="sse-/.test(await m.text());
    }, 'the stream subscribed');
    await admin('POST', '/v1/tokens/revocations', { kind: 'agent', value: 'nobody', reason: 'test' });
    await ban('10.9.0.2');
    await ban('10.9.0.3');
    const { got } = await live;
    assert.deepEqual(
      got.map((e) => [e.type, e.data['target']]),
      [
        ['egress.ban', '10.9.0.2/32'],
        ['egress.ban', '10.9.0.3/32'],
      ],
      'only egress events, live, in order',
    );
    // A client that saw the first resumes with Last-Event-ID and gets exactly the second on.
    const resumed = await sse(
      '/v1/events/stream?type=egress.ban&follow=false',
      { 'last-event-id': String(got[0]!.seq) },
      () => false,
    );
    assert.deepEqual(
      resumed.got.map((e) => e.data['target']),
      ['10.9.0.3/32'],
    );
  });

  it('refuses an unknown type with 400 naming it, and a client without audit:read', async () => {
    const bad = await sse('/v1/events/stream?type=egress.nope', {}, () => true);
    assert.equal(bad.status, 400);
    assert.match(bad.body, /RAMPART_E_BAD_REQUEST.*no event type matches \\"egress.nope\\"/);
    const anon = await fetch(`${server.url}/v1/events/stream`);
    assert.equal(anon.status, 401);
  });

  it('rampart events prints what is on record; --follow goes on with what comes', async () => {
    await ban('10.9.1.1');
    const r = await rampartAsync(['events', '--type', 'egress.ban', '--severity', 'medium'], {
      cwd: dir.dir,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^\S+Z #\d+ MEDIUM {3}egress\.ban {2}action=ban by=admin target=10\.9\.1\.1\/32 tunnelsCut=0$/m,
    );
    assert.doesNotMatch(r.stdout, /identity\.revoked/);
    const follow = spawn(
      process.execPath,
      [BIN, 'events', '--follow', '--format', 'json', '--type', 'egress.*'],
      {
        cwd: dir.dir,
      },
    );
    let out = '';
    follow.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    try {
      await until(() => out.includes('10.9.1.1'), 'the events on record first');
      await ban('10.9.1.2');
      await until(() => out.includes('10.9.1.2'), 'the new ban, live');
      const last = JSON.parse(out.trim().split('\n').at(-1)!) as { type: string; severity: string };
      assert.equal(last.type, 'egress.ban');
    } finally {
      follow.kill();
    }
  });

  it('audit tail filters by action, outcome and time, and reads as text', async () => {
    await ban('10.9.2.1');
    const text = rampart(['audit', 'tail', '--action', 'event.egress.*', '--format', 'text', '-n', '3'], {
      cwd: dir.dir,
    });
    assert.equal(text.code, 0, text.stderr);
    const lines = text.stdout.trim().split('\n');
    assert.equal(lines.length, 3);
    for (const l of lines) assert.match(l, /^#\d+ \S+Z component:egress event\.egress\.ban - success$/);
    const since = rampart(['audit', 'tail', '--since', '1h', '--action', 'event.controlplane.lifecycle'], {
      cwd: dir.dir,
    });
    assert.equal(since.stdout.trim().split('\n').length, 1, 'one start since an hour ago');
    const none = rampart(['audit', 'tail', '--outcome', 'error', '--since', '1h'], { cwd: dir.dir });
    assert.equal(none.stdout, '');
    const bad = rampart(['audit', 'tail', '--since', 'yesterday-ish'], { cwd: dir.dir });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--since "yesterday-ish" is neither a time nor an age/);
  });

  it('audit export with the control plane running signs first: every record has its proof', () => {
    const r = rampart(['audit', 'export', '-o', 'all.jsonl'], { cwd: dir.dir });
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /unsigned/);
    const lines = readFileSync(join(dir.dir, 'all.jsonl'), 'utf8').trim().split('\n');
    assert.ok(lines.length > 5);
    assert.ok(lines.every((l) => !(JSON.parse(l) as { unsigned?: boolean }).unsigned));
    const v = rampart(['audit', 'verify-proof', 'all.jsonl'], { cwd: dir.dir });
    assert.equal(v.code, 0, v.stdout);
  });
});
