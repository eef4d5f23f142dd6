// Provenance of the containers and services Rampart creates itself. The Docker authorization
// plugin sees every caller of the Engine's socket as the same anonymous user, so a create body
// that claims to be a Rampart run (it carries the run label) proves it: a label holding an
// expiry and an HMAC, keyed by the control plane's provisioning key (a 0600 file in its data
// directory, which only root reads), over the exact bytes of the body with the signature's own
// characters zeroed. The plugin admits such a body only with a valid, unexpired signature it has
// not seen before: a body changed by one byte, one signed with another key, or one replayed, is
// refused, and nothing that claims to be a run is judged as anything else.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { RampartError } from './errors.js';
import { readSecretText, writeSecretFile } from './secretfile.js';

/** The label that carries the signature: `<expiry, unix seconds>.<hex HMAC-SHA256>`. */
export const LABEL_SIGNATURE = 'io.rampart.signature';
/** The label that makes a body a claim to be a Rampart run. */
export const LABEL_RUN = 'io.rampart.run';

/** How long a signed body may take to reach the Engine. */
const VALID_SECONDS = 120;
const PLACEHOLDER = '0'.repeat(10) + '.' + '0'.repeat(64);
const SIGNATURE_RE = /^(\d{10})\.([0-9a-f]{64})$/;

export function provisionKeyPath(dataDir: string): string {
  return join(dataDir, 'keys', 'provision.key');
}

/** The control plane's provisioning key, made on first start (32 random bytes, mode 0600). */
export function ensureProvisionKey(dataDir: string): Buffer {
  const file = provisionKeyPath(dataDir);
  if (existsSync(file)) return readProvisionKey(file);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeSecretFile(file, randomBytes(32).toString('hex') + '\n');
  return readProvisionKey(file);
}

/** Reads the key (a secret file: 0600, this user's); a coded error when it is missing or unfit. */
export function readProvisionKey(file: string): Buffer {
  const text = readSecretText(file, { purpose: 'provisioning key' });
  if (!/^[0-9a-f]{64}$/.test(text))
    throw new RampartError('RAMPART_E_INSTALLATION_KEY', `${file} is not a provisioning key (64 hex digits)`);
  return Buffer.from(text, 'hex');
}

/**
 * The body as the bytes to send, signed: `labels` is where the signature goes (Labels of a
 * container create body, or of a ServiceSpec), and must already hold the run label.
 */
export function signBody(
  body: Record<string, unknown>,
  labels: Record<string, string>,
  key: Buffer,
  nowMs: number,
): Buffer {
  labels[LABEL_SIGNATURE] = PLACEHOLDER;
  const text = JSON.stringify(body);
  delete labels[LABEL_SIGNATURE];
  const expiry = String(Math.floor(nowMs / 1000) + VALID_SECONDS);
  const zeroed = text.replace(PLACEHOLDER, `${expiry}.${'0'.repeat(64)}`);
  return Buffer.from(zeroed.replace(`${expiry}.${'0'.repeat(64)}`, `${expiry}.${mac(key, zeroed)}`));
}

export type Provenance =
  | { readonly verdict: 'unclaimed' }
  | {
      readonly verdict: 'valid';
      readonly run: string;
      readonly signature: string;
      readonly expiresMs: number;
    }
  | { readonly verdict: 'invalid'; readonly reason: string };

/**
 * Judges the raw body the Engine was sent, given the run and signature labels as the Engine
 * decodes them. A body without the run label makes no claim; one with it must be signed.
 */
export function verifyBody(
  raw: Buffer,
  labels: { readonly run?: string; readonly signature?: string },
  key: Buffer | undefined,
  nowMs: number,
): Provenance {
  if (labels.run === undefined && labels.signature === undefined) return { verdict: 'unclaimed' };
  if (labels.run === undefined) return { verdict: 'invalid', reason: 'a signature without a run label' };
  const m = SIGNATURE_RE.exec(labels.signature ?? '');
  if (!m) return { verdict: 'invalid', reason: `claims to be run ${labels.run} without a Rampart signature` };
  if (!key) return { verdict: 'invalid', reason: 'no provisioning key to check the signature with' };
  const text = raw.toString('utf8');
  const sig = labels.signature!;
  // The signature must appear once: its bytes are the only ones not covered.
  const at = text.indexOf(sig);
  if (at < 0 || text.indexOf(sig, at + 1) >= 0)
    return { verdict: 'invalid', reason: 'the signature is not once in the body' };
  const zeroed = text.slice(0, at) + `${m[1]}.${'0'.repeat(64)}` + text.slice(at + sig.length);
  const want = Buffer.from(mac(key, zeroed), 'hex');
  if (!timingSafeEqual(want, Buffer.from(m[2]!, 'hex')))
    return { verdict: 'invalid', reason: `run ${labels.run}: the signature does not match the body` };
  const expiresMs = Number(m[1]) * 1000;
  if (expiresMs < nowMs)
    return { verdict: 'invalid', reason: `run ${labels.run}: the signature has expired` };
  if (expiresMs > nowMs + (VALID_SECONDS + 60) * 1000)
    return { verdict: 'invalid', reason: `run ${labels.run}: the signature expires too far ahead` };
  return { verdict: 'valid', run: labels.run, signature: m[2]!, expiresMs };
}

function mac(key: Buffer, text: string): string {
  return createHmac('sha256', key).update(text).digest('hex');
}
