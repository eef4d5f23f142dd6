// Console sessions over both real stores: two replicas share sessions (sign in on one, use it on
// the other); signing out on one ends it on both; expiry ends it and is recorded once, by one
// replica; CSRF and origin checks refuse state changes; the store holds no usable session token.
// And the browser's audit verifier (src/console/web/verify.ts, bundled by esbuild as the console
// is) agrees with the server's merkle and checkpoint code on real checkpoints, run under Node's
// WebCrypto.

import assert from 'node:assert/strict';
import { keyPair } from '../support/keys.js';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { build } from 'esbuild';
import { signCheckpoint, signerFromPrivateKey } from '../../src/audit/checkpoint.js';
import { MemoryTree } from '../../src/audit/proofs.js';
import { canonicalJson } from '../../src/core/canonical.js';
import type { BusEvent, EventPublisher } from '../../src/core/events.js';
import { leafHash, rootOf } from '../../src/core/merkle.js';
import { consoleRoutes } from '../../src/console/routes.js';
import { COOKIE, csrfOf, Sessions, TLS_COOKIE, type CookieRequest } from '../../src/console/sessions.js';
import { openPostgresStore } from '../../src/store/postgres.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/types.js';
import { ROOT } from '../support/cli.js';
import { dropSchema, newSchema, pgConfig, skipPg } from '../support/pg.js';
import { tempDir } from '../support/tmp.js';

const T0 = Date.parse('2026-12-04T10:00:00Z');
const admin = { actor: 'admin', scopes: new Set(['admin'] as const) };

function replica(store: Store, clock: { t: number }): { s: Sessions; events: BusEvent[] } {
  const events: BusEvent[] = [];
  const bus: EventPublisher = {
    publish: async (e) => {
      events.push(e);
      return { seq: 0, time: '' };
    },
  };
  const s = new Sessions({
    meta: store.meta,
    bus,
    now: () => clock.t,
    ttlMs: 3_600_000,
    cookie: 'rampart_session',
  });
  return { s, events };
}

const req = (token: string, more: Partial<CookieRequest> = {}): CookieRequest => ({
  cookie: `other=1; rampart_session=${token}`,
  method: 'GET',
  origin: undefined,
  host: 'console.example:8080',
  fetchSite: undefined,
  csrf: undefined,
  ...more,
});

const stores: [string, () => Promise<{ a: Store; b: Store; close(): Promise<void> }>, string | false][] = [
  [
    'sqlite',
    async () => {
      const t = tempDir();
      const a = openSqliteStore({ file: join(t.dir, 's.db') });
      const b = openSqliteStore({ file: join(t.dir, 's.db') });
      return {
        a,
        b,
        close: async () => {
          await a.close();
          await b.close();
          t.cleanup();
        },
      };
    },
    false,
  ],
  [
    'postgres',
    async () => {
      const schema = newSchema();
      const a = await openPostgresStore(pgConfig(schema));
      const b = await openPostgresStore(pgConfig(schema));
      return {
        a,
        b,
        close: async () => {
          await a.close();
          await b.close();
          await dropSchema(schema);
        },
      };
    },
    skipPg,
  ],
];

for (const [name, make, skip] of stores) {
  describe(`console sessions: ${name}`, { skip }, () => {
    let env: Awaited<ReturnType<typeof make>>;
    after(async () => env?.close());

    it('are shared by replicas, end everywhere on sign-out, and keep no usable token in the store', async () => {
      env = await make();
      const clock = { t: T0 };
      const one = replica(env.a, clock);
      const two = replica(env.b, clock);
      const { token } = await one.s.open(admin, '192.0.2.1');
      assert.equal(one.events[0]!.type, 'console.signed_in');
      const onTwo = await two.s.authenticate(req(token));
      assert.ok(onTwo && 'actor' in onTwo && onTwo.actor === 'admin');
      for (const [, v] of await env.a.meta.list('console:')) assert.doesNotMatch(v, new RegExp(token));
      for (const [k] of await env.a.meta.list('console:')) assert.doesNotMatch(k, new RegExp(token));
      assert.equal(await one.s.end(token, 'signed_out'), true);
      two.s.forget(String((one.events[1]!.data as { session: string }).session));
      const gone = await two.s.authenticate(req(token));
      assert.ok(gone && 'code' in gone && gone.code === 'RAMPART_E_UNAUTHENTICATED');
      // A second sign-out of the same session records nothing.
      assert.equal(await two.s.end(token, 'signed_out'), false);
      assert.equal(one.events.length + two.events.length, 2);
      // No cookie, or a malformed one: not a session request at all.
      assert.equal(one.s.authenticate({ ...req(token), cookie: 'rampart_session=short' }), undefined);
    });

    it('expire after their lifetime, recorded once whichever replicas sweep', async () => {
      const clock = { t: T0 };
      const one = replica(env.a, clock);
      const two = replica(env.b, clock);
      const { token } = await one.s.open(admin, '192.0.2.1');
      clock.t += 3_600_001;
      const [n1, n2] = await Promise.all([one.s.sweep(), two.s.sweep()]);
      assert.equal(n1 + n2, 1);
      const out = [...one.events, ...two.events].filter((e) => e.type === 'console.signed_out');
      assert.equal(out.length, 1);
      assert.equal((out[0]!.data as { reason: string }).reason, 'expired');
      const r = await one.s.authenticate(req(token));
      assert.ok(r && 'code' in r && r.code === 'RAMPART_E_UNAUTHENTICATED');
    });

    it('set the cookie HttpOnly and SameSite=Strict, and over TLS Secure with the __Host- prefix', async () => {
      const { s } = replica(env.a, { t: T0 });
      for (const [secure, cookie] of [
        [false, COOKIE],
        [true, TLS_COOKIE],
      ] as const) {
        const post = consoleRoutes({
          sessions: s,
          assets: undefined,
          index: undefined,
          cookie,
          secure,
          ttlMs: 3_600_000,
        }).find((r) => r.method === 'POST' && r.url === '/console/session')!;
        const headers: Record<string, string> = {};
        const reply = {
          header: (k: string, v: string) => ((headers[k] = v), reply),
          code: () => reply,
          type: () => reply,
          send: () => reply,
        };
        const req = { principal: admin, headers: { authorization: 'Bearer x' }, ip: '192.0.2.1', body: {} };
        const body = await (post.handler as (r: unknown, p: unknown) => Promise<{ csrf: string }>)(
          req,
          reply,
        );
        const set = headers['set-cookie']!;
        assert.match(
          set,
          new RegExp(
            `^${cookie}=[A-Za-z0-9_-]{43}; Path=/; HttpOnly; SameSite=Strict; Max-Age=3600${secure ? '; Secure' : ''}$`,
          ),
        );
        assert.equal(body.csrf, csrfOf(/=([^;]+)/.exec(set)![1]!));
        assert.match(headers['content-security-policy']!, /default-src 'none'/);
      }
    });

    it('refuse a state change without the CSRF token, with a wrong one, or from another site', async () => {
      const clock = { t: T0 };
      const { s } = replica(env.a, clock);
      const { token } = await s.open(admin, '192.0.2.1');
      const post = (more: Partial<CookieRequest>) => s.authenticate(req(token, { method: 'POST', ...more }));
      const code = async (more: Partial<CookieRequest>) => {
        const r = await post(more);
        return r && 'code' in r ? r.code : 'ok';
      };
      const csrf = csrfOf(token);
      assert.equal(await code({}), 'RAMPART_E_CSRF');
      assert.equal(await code({ csrf: csrf.slice(1) + 'A' }), 'RAMPART_E_CSRF');
      assert.equal(await code({ csrf, origin: 'https://evil.example' }), 'RAMPART_E_CSRF');
      assert.equal(await code({ csrf, origin: 'null' }), 'RAMPART_E_CSRF');
      assert.equal(await code({ csrf, fetchSite: 'same-site' }), 'RAMPART_E_CSRF');
      assert.equal(
        await code({ csrf, origin: 'http://console.example:8080', fetchSite: 'same-origin' }),
        'ok',
      );
      // Reads need no CSRF token.
      assert.equal(await code({ method: 'GET' }), 'ok');
    });
  });
}

/** What the test uses of the browser's verifier (its own types are the DOM's, outside this build). */
interface WebVerify {
  pinKey(vkey: string): Promise<object>;
  openCheckpoint(note: string, key: object): Promise<{ size: number }>;
  verifyRecord(
    key: object,
    seq: number,
    entry: string,
    proof: { treeSize: number; proof: string[]; checkpoint: string },
  ): Promise<{ checkpoint: { size: number }; record: unknown }>;
  entryOf(record: unknown): string;
}

/** A small signed log made with the server's own code: records, a checkpoint, proofs. */
function signedLog(n: number) {
  const entries = Array.from({ length: n }, (_, seq) =>
    canonicalJson({
      action: 'event.test',
      actor: 'admin',
      // Characters canonical JSON must escape or keep: the browser has to agree byte for byte.
      details: { text: `<b>é\u2028"\\ ${seq}`, n: seq * 1.5, deep: { z: 1, a: [true, null] } },
      outcome: 'success',
      seq,
      target: '-',
      time: new Date(T0 + seq).toISOString(),
    }),
  );
  const leaves = entries.map((e) => leafHash(e));
  const tree = new MemoryTree(Buffer.concat(leaves));
  const signer = signerFromPrivateKey('rampart-audit-test', keyPair({ type: 'ed25519' }).privateKey);
  const other = signerFromPrivateKey('rampart-audit-test', keyPair({ type: 'ed25519' }).privateKey);
  const checkpoint = signCheckpoint(
    {
      origin: 'rampart.audit/test',
      size: n,
      root: rootOf(leaves),
      time: new Date(T0).toISOString(),
      prev: undefined,
    },
    signer,
  );
  return {
    entries,
    vkey: signer.vkey,
    otherVkey: other.vkey,
    proof: (seq: number) => ({
      treeSize: n,
      proof: tree.inclusion(seq).map((b) => b.toString('hex')),
      checkpoint,
    }),
  };
}

describe("the browser's audit verifier", () => {
  it('verifies what the server proves, and refuses what it does not', async () => {
    const out = await build({
      entryPoints: [join(ROOT, 'src', 'console', 'web', 'verify.ts')],
      bundle: true,
      format: 'esm',
      platform: 'neutral',
      write: false,
    });
    const web = (await import(
      `data:text/javascript;base64,${Buffer.from(out.outputFiles[0]!.text).toString('base64')}`
    )) as WebVerify;
    const log = signedLog(7);
    const pinned = await web.pinKey(log.vkey);
    for (let seq = 0; seq < 7; seq++) {
      const p = log.proof(seq);
      const v = await web.verifyRecord(pinned, seq, log.entries[seq]!, p);
      assert.equal(v.checkpoint.size, 7);
      assert.deepEqual(v.record, JSON.parse(log.entries[seq]!));
      // The entry as the API returns it (parsed) canonicalizes back to the same bytes.
      assert.equal(web.entryOf(JSON.parse(log.entries[seq]!)), log.entries[seq]);
      // Another record's bytes, or a flipped proof node, do not verify.
      await assert.rejects(
        web.verifyRecord(pinned, seq, log.entries[(seq + 1) % 7]!, p),
        /not in the signed log/,
      );
      if (p.proof.length > 0) {
        const bad = {
          ...p,
          proof: [p.proof[0]!.replace(/^./, (c) => (c === '0' ? '1' : '0')), ...p.proof.slice(1)],
        };
        await assert.rejects(web.verifyRecord(pinned, seq, log.entries[seq]!, bad), /not in the signed log/);
      }
    }
    const other = await web.pinKey(log.otherVkey);
    await assert.rejects(web.openCheckpoint(log.proof(0).checkpoint, other), /not signed by the pinned key/);
  });
});
