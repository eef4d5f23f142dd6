// An identity service on a real SQLite store and audit log, with a clock tests move, and the means
// to craft tokens by hand (with the service's real signing key, or any other).

import { createHmac, createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '../../src/core/clock.js';
import { loadOrCreateInstallationKey } from '../../src/core/installation.js';
import { EventBus } from '../../src/events/bus.js';
import { IdentityService, type IdentityOptions } from '../../src/identity/service.js';
import { lowS, type WorkloadClaims } from '../../src/identity/token.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/types.js';
import { openTestLog, type TestLog } from './audit.js';
import { tempDir, type TempDir } from './tmp.js';

export const silentLog = { debug() {}, info() {}, warn() {}, error() {} };

export interface IdentityHarness {
  readonly svc: IdentityService;
  readonly clock: ManualClock;
  readonly store: Store;
  readonly audit: TestLog;
  readonly bus: EventBus;
  readonly dir: TempDir;
  /** The service's current private signing key, read from its key file. */
  signingKey(): { kid: string; key: KeyObject };
  close(): Promise<void>;
}

export const DEFAULTS = {
  issuer: 'rampart',
  audience: 'rampart',
  tokenTtlMs: 600_000,
  maxRunLifetimeMs: 7_200_000,
  clockSkewMs: 30_000,
  keyRotationMs: 86_400_000,
  revocationStalenessMs: 30_000,
  cacheSize: 1000,
  rateLimits: {
    api: { perAgent: { rate: 5, burst: 5 }, perToken: { rate: 5, burst: 5 } },
    refresh: { perAgent: { rate: 1, burst: 3 }, perToken: { rate: 1, burst: 3 } },
    egress: { perAgent: { rate: 50, burst: 100 }, perToken: { rate: 50, burst: 100 } },
  },
  rateLimitEvent: { rejections: 3, windowMs: 60_000 },
} satisfies Partial<IdentityOptions>;

export async function identityHarness(
  over: Partial<IdentityOptions> = {},
  existing?: { dir: TempDir; clock: ManualClock },
): Promise<IdentityHarness> {
  const dir = existing?.dir ?? tempDir();
  const clock = existing?.clock ?? new ManualClock(Date.UTC(2026, 10, 22, 12));
  const store = openSqliteStore({ file: join(dir.dir, 'r.db') });
  const audit = await openTestLog(store, dir.dir, { clock });
  const bus = new EventBus({ auditor: audit.log });
  const svc = await IdentityService.start({
    ...DEFAULTS,
    store,
    dataDir: dir.dir,
    certifier: loadOrCreateInstallationKey(dir.dir),
    clock,
    events: bus,
    log: silentLog,
    ...over,
  });
  return {
    svc,
    clock,
    store,
    audit,
    bus,
    dir,
    signingKey() {
      const kid = svc.signingKid;
      const file = JSON.parse(readFileSync(join(dir.dir, 'keys', 'identity', `${kid}.json`), 'utf8')) as {
        jwk: object;
      };
      return { kid, key: createPrivateKey({ key: file.jwk as never, format: 'jwk' }) };
    },
    async close() {
      svc.stop();
      await audit.log.close();
      await store.close();
    },
  };
}

export function identityKeyFiles(dir: string): string[] {
  return readdirSync(join(dir, 'keys', 'identity'));
}

const b64 = (v: unknown): string =>
  Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** A compact JWS with exactly this header and payload, ES256-signed with `key` (or any signer). */
export function craft(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  signer: KeyObject | ((input: Buffer) => Buffer) | 'none',
): string {
  const input = `${b64(header)}.${b64(payload)}`;
  if (signer === 'none') return `${input}.`;
  const sig =
    typeof signer === 'function'
      ? signer(Buffer.from(input))
      : // In the low-S form Rampart issues, so that a crafted token is refused for what the test means.
        lowS(sign('sha256', Buffer.from(input), { key: signer, dsaEncoding: 'ieee-p1363' }));
  return `${input}.${sig.toString('base64url')}`;
}

export function hs256(secret: Buffer | string): (input: Buffer) => Buffer {
  return (input) => createHmac('sha256', secret).update(input).digest();
}

/** Claims as the service would issue them at `nowMs`, for crafting variants. */
export function claimsAt(
  nowMs: number,
  over: Partial<Record<keyof WorkloadClaims, unknown>> = {},
): Record<string, unknown> {
  const now = Math.floor(nowMs / 1000);
  return {
    iss: 'rampart',
    aud: 'rampart',
    sub: 'agent-1',
    run: 'run-1',
    ns: 'ci',
    caps: ['git.push'],
    jti: 'jti-crafted',
    iat: now,
    nbf: now,
    exp: now + 300,
    rst: now,
    ...over,
  };
}
