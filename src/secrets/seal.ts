// Sealing secrets at rest: envelope encryption. Each version of a secret gets its own random data
// key; the value is encrypted with it (AES-256-GCM, the secret's vault, name and version as
// associated data, so a sealed value moved to another row does not open), and the data key is
// wrapped by the key-encryption key (AES-256-GCM as well). The KEK lives in a 0600 file in the
// data directory, never in the store: a copy of the database alone opens nothing.
//
// The KEK file holds one key per line, `<id> <64 hex digits>`, the first line the current one.
// Rotating it is adding a new first line: new versions are wrapped by it, old ones still open with
// the old lines, so rotation needs no downtime.

import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { RampartError } from '../core/errors.js';
import { readSecretText, writeSecretFile } from '../core/secretfile.js';

export interface Kek {
  readonly id: string;
  readonly key: Buffer;
}

/** A sealed value as stored (JSON). */
interface Envelope {
  readonly v: 1;
  /** The KEK that wrapped the data key. */
  readonly kek: string;
  /** The wrapped data key: iv, ciphertext and tag, base64. */
  readonly wk: string;
  /** The value: iv, ciphertext and tag, base64. */
  readonly ct: string;
}

const KEK_LINE = /^([A-Za-z0-9_-]{1,32}) ([0-9a-f]{64})$/;

export function kekPath(dataDir: string): string {
  return join(dataDir, 'keys', 'secrets.kek');
}

export class Sealer {
  private readonly byId: ReadonlyMap<string, Buffer>;

  constructor(readonly keys: readonly Kek[]) {
    if (keys.length === 0) throw new TypeError('a sealer needs at least one key-encryption key');
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  /**
   * Reads the KEK file (a secret file: 0600, this user's). `create`: make one with a fresh key
   * when there is none (a data directory without secrets yet); otherwise a missing file is an error.
   */
  static load(dataDir: string, opts: { create: boolean }): Sealer {
    const file = kekPath(dataDir);
    if (!existsSync(file)) {
      if (!opts.create)
        throw new RampartError(
          'RAMPART_E_SECRETS_KEK',
          `the key-encryption key ${file} is missing, and the store holds sealed secrets: restore the file (nothing can open them without it)`,
        );
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      writeSecretFile(file, `k1 ${randomBytes(32).toString('hex')}\n`);
    }
    const keys: Kek[] = [];
    const lines = readSecretText(file, { purpose: 'secrets key-encryption key' }).split('\n');
    lines.forEach((line, i) => {
      if (line.trim() === '') return;
      const m = KEK_LINE.exec(line.trim());
      if (!m)
        throw new RampartError(
          'RAMPART_E_SECRETS_KEK',
          `${file}:${i + 1}: a key-encryption key line is "<id> <64 hex digits>"`,
        );
      keys.push({ id: m[1]!, key: Buffer.from(m[2]!, 'hex') });
    });
    if (keys.length === 0) throw new RampartError('RAMPART_E_SECRETS_KEK', `${file} holds no key`);
    return new Sealer(keys);
  }

  /** The current KEK's id (new versions are wrapped by it). */
  get current(): string {
    return this.keys[0]!.id;
  }

  seal(value: Buffer, aad: string): string {
    const dataKey = randomBytes(32);
    const env: Envelope = {
      v: 1,
      kek: this.keys[0]!.id,
      wk: gcm(this.keys[0]!.key, dataKey, `rampart data key|${aad}`),
      ct: gcm(dataKey, value, aad),
    };
    dataKey.fill(0);
    return JSON.stringify(env);
  }

  /**
   * The same value's envelope with its data key wrapped by the current KEK (the value's own
   * ciphertext is kept), or undefined when the current KEK wraps it already.
   */
  rewrap(sealed: string, aad: string): string | undefined {
    const env = JSON.parse(sealed) as Envelope;
    if (env.kek === this.current) return undefined;
    const old = this.byId.get(env.kek);
    if (!old)
      throw new RampartError(
        'RAMPART_E_SECRETS_KEK',
        `the sealed secret ${aad} was wrapped by key-encryption key "${env.kek}", which the KEK file does not hold`,
      );
    let dataKey: Buffer;
    try {
      dataKey = ungcm(old, env.wk, `rampart data key|${aad}`);
    } catch {
      throw new RampartError(
        'RAMPART_E_SECRETS_KEK',
        `the sealed secret ${aad} does not open with "${env.kek}"`,
      );
    }
    try {
      const next: Envelope = {
        ...env,
        kek: this.current,
        wk: gcm(this.keys[0]!.key, dataKey, `rampart data key|${aad}`),
      };
      return JSON.stringify(next);
    } finally {
      dataKey.fill(0);
    }
  }

  /** The value; a coded error when it does not open (another KEK, another row, tampering). */
  open(sealed: string, aad: string): Buffer {
    let env: Envelope;
    try {
      env = JSON.parse(sealed) as Envelope;
    } catch {
      throw new RampartError('RAMPART_E_SECRETS_KEK', `the sealed secret ${aad} is not an envelope`);
    }
    const kek = this.byId.get(env.kek);
    if (!kek)
      throw new RampartError(
        'RAMPART_E_SECRETS_KEK',
        `the sealed secret ${aad} was wrapped by key-encryption key "${env.kek}", which the KEK file does not hold`,
      );
    try {
      const dataKey = ungcm(kek, env.wk, `rampart data key|${aad}`);
      try {
        return ungcm(dataKey, env.ct, aad);
      } finally {
        dataKey.fill(0);
      }
    } catch {
      throw new RampartError(
        'RAMPART_E_SECRETS_KEK',
        `the sealed secret ${aad} does not open with key-encryption key "${env.kek}" (a wrong KEK file, or the row was altered)`,
      );
    }
  }
}

function gcm(key: Buffer, plain: Buffer, aad: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(Buffer.from(aad));
  const ct = Buffer.concat([c.update(plain), c.final()]);
  return Buffer.concat([iv, ct, c.getAuthTag()]).toString('base64');
}

function ungcm(key: Buffer, text: string, aad: string): Buffer {
  const raw = Buffer.from(text, 'base64');
  if (raw.length < 28) throw new Error('too short');
  const d = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
  d.setAAD(Buffer.from(aad));
  d.setAuthTag(raw.subarray(raw.length - 16));
  return Buffer.concat([d.update(raw.subarray(12, raw.length - 16)), d.final()]);
}

/**
 * Adds a new current key to the KEK file (a new first line, written atomically, 0600): new
 * versions are wrapped by it from the next load; `rampart secret rewrap` moves the older ones
 * onto it. Resolves with its id.
 */
export function addKek(dataDir: string): string {
  const file = kekPath(dataDir);
  const text = readSecretText(file, { purpose: 'secrets key-encryption key' });
  const ids = new Set(text.split('\n').map((l) => l.trim().split(' ')[0]));
  let n = ids.size + 1;
  while (ids.has(`k${n}`)) n++;
  writeSecretFile(file, `k${n} ${randomBytes(32).toString('hex')}\n${text}`, 0o600, { replace: true });
  return `k${n}`;
}
