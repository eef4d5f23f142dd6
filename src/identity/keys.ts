// Signing keys for workload tokens. Each replica signs with its own ES256 key, kept as a secret
// file in its data directory (DATA/keys/identity/<kid>.json, mode 0600) and never anywhere else;
// the public half goes into the shared store, so every replica verifies every replica's tokens
// and /.well-known/jwks.json lists them all.
//
// Trust does not come from the store: each published key carries a certificate from the
// installation key (core/installation.ts), and a key whose certificate does not verify is
// refused, so a row a database writer inserts verifies nothing. It is reported once (onUntrusted).
//
// A key signs for `rotation` and is then replaced (on schedule, or at once on request). A replaced
// key keeps verifying until the last token it could have signed has expired (its verifyUntil),
// then it is dropped from the store and the JWKS. A key whose replica disappears expires the same
// way on its own: nothing has to clean up after a dead replica.

import { createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import { RampartError } from '../core/errors.js';
import type { Certifier } from '../core/installation.js';
import { readSecretText, writeSecretFile } from '../core/secretfile.js';
import type { IdentityStore, SigningKeyRecord } from '../store/types.js';
import { ALGORITHM, headerFor, type VerifierKey } from './token.js';

export interface SigningKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly record: SigningKeyRecord;
}

export interface KeyRingOptions {
  readonly dir: string;
  readonly store: IdentityStore;
  readonly rotationMs: number;
  /** How long after it stops signing a key must still verify: the longest token lifetime plus skew. */
  readonly verifyWindowMs: number;
  /** The installation key: certifies this replica's keys and checks every other replica's. */
  readonly certifier: Certifier;
  /** A key in the store without a valid certificate: refused, and told once per kid. */
  readonly onUntrusted: (kid: string, why: string) => void;
}

interface KeyFile {
  readonly kid: string;
  readonly createdAt: number;
  readonly signUntil: number;
  readonly jwk: JsonWebKey;
}

/** A key that signs tokens must leave this much of its signing period to be chosen at start. */
const START_MARGIN_MS = 60_000;

export class KeyRing {
  private current: SigningKey | undefined;
  private byHeader_ = new Map<string, VerifierKey>();
  private byKid_ = new Map<string, VerifierKey>();
  private retired_ = new Set<string>();
  private untrusted = new Set<string>();
  private publicJwks: { kid: string; jwk: JsonWebKey; verifyUntil: number }[] = [];

  private constructor(private readonly opts: KeyRingOptions) {}

  /** Loads this replica's signing key (or makes one) and every replica's public keys. */
  static async open(opts: KeyRingOptions, now: number): Promise<KeyRing> {
    const ring = new KeyRing(opts);
    mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
    const stored = new Map((await opts.store.keys()).map((k) => [k.kid, k]));
    let best: SigningKey | undefined;
    for (const name of readdirSync(opts.dir)
      .filter((n) => n.endsWith('.json'))
      .sort()) {
      const file = readKeyFile(join(opts.dir, name));
      if (file.signUntil - START_MARGIN_MS <= now) {
        // Done signing: the public half (in the store) verifies what it signed; the private half goes.
        rmSync(join(opts.dir, name), { force: true });
        continue;
      }
      // This replica's own key, from its own file: (re)published with a fresh certificate, which
      // also certifies keys published before certificates existed, and repairs a reset store.
      const prior = stored.get(file.kid);
      const record = ring.certified({
        ...ring.recordFor(file.kid, file.jwk, file.createdAt, file.signUntil),
        ...(prior ? { signUntil: prior.signUntil, verifyUntil: prior.verifyUntil } : {}),
      });
      if (prior?.cert !== record.cert) await opts.store.putKey(record);
      const key: SigningKey = {
        kid: file.kid,
        privateKey: createPrivateKey({ key: file.jwk, format: 'jwk' }),
        record,
      };
      if (!best || key.record.createdAt > best.record.createdAt) best = key;
    }
    ring.current = best ?? (await ring.generate(now));
    await ring.refresh(now);
    return ring;
  }

  get signer(): SigningKey {
    if (!this.current) throw new TypeError('the key ring is not open');
    return this.current;
  }

  /** Keys by the exact header segment their tokens carry. */
  get byHeader(): ReadonlyMap<string, VerifierKey> {
    return this.byHeader_;
  }

  get byKid(): ReadonlyMap<string, VerifierKey> {
    return this.byKid_;
  }

  /** Kids seen in the store whose verification window has closed. */
  get retired(): ReadonlySet<string> {
    return this.retired_;
  }

  /** Is it time to replace the signing key? */
  due(now: number): boolean {
    return now >= this.signer.record.signUntil - START_MARGIN_MS;
  }

  /** Replaces the signing key now; the old one keeps verifying what it signed. Returns both kids. */
  async rotate(now: number): Promise<{ kid: string; previous: string }> {
    const old = this.signer;
    const next = await this.generate(now);
    await this.opts.store.putKey(
      this.certified({ ...old.record, signUntil: now, verifyUntil: now + this.opts.verifyWindowMs }),
    );
    this.current = next;
    rmSync(join(this.opts.dir, `${old.kid}.json`), { force: true });
    await this.refresh(now);
    return { kid: next.kid, previous: old.kid };
  }

  /** Reloads the public keys of every replica from the store. */
  async refresh(now: number): Promise<void> {
    const byHeader = new Map<string, VerifierKey>();
    const byKid = new Map<string, VerifierKey>();
    const retired = new Set(this.retired_);
    const jwks: { kid: string; jwk: JsonWebKey; verifyUntil: number }[] = [];
    for (const r of await this.opts.store.keys()) {
      if (r.verifyUntil <= now || r.alg !== ALGORITHM) {
        retired.add(r.kid);
        continue;
      }
      if (!this.opts.certifier.verify('identity-signing-key', certFields(r), r.cert)) {
        // Not certified by this installation: written by someone who can write the database,
        // or by a replica of another installation. It verifies nothing.
        if (!this.untrusted.has(r.kid)) {
          this.untrusted.add(r.kid);
          this.opts.onUntrusted(
            r.kid,
            r.cert === ''
              ? 'it has no certificate from the installation key'
              : `its certificate does not verify with installation key ${this.opts.certifier.fingerprint}`,
          );
        }
        continue;
      }
      let jwk: JsonWebKey;
      let key: KeyObject;
      try {
        jwk = publicOnly(JSON.parse(r.jwk) as JsonWebKey);
        key = createPublicKey({ key: jwk, format: 'jwk' });
      } catch {
        // A malformed public key in the store verifies nothing (and shows as unknown).
        continue;
      }
      const v: VerifierKey = {
        kid: r.kid,
        key,
        header: headerFor(r.kid),
        createdAt: r.createdAt,
        signUntil: r.signUntil,
        verifyUntil: r.verifyUntil,
      };
      byHeader.set(v.header, v);
      byKid.set(v.kid, v);
      jwks.push({ kid: r.kid, jwk, verifyUntil: r.verifyUntil });
    }
    this.byHeader_ = byHeader;
    this.byKid_ = byKid;
    this.retired_ = retired;
    this.publicJwks = jwks;
  }

  /** RFC 7517 key set of every key whose tokens may still be valid. */
  jwks(now: number): { keys: Record<string, unknown>[] } {
    return {
      keys: this.publicJwks
        .filter((k) => k.verifyUntil > now)
        .map((k) => ({ ...k.jwk, kid: k.kid, alg: ALGORITHM, use: 'sig' })),
    };
  }

  private recordFor(kid: string, jwk: JsonWebKey, createdAt: number, signUntil: number): SigningKeyRecord {
    return this.certified({
      kid,
      alg: ALGORITHM,
      jwk: JSON.stringify(publicOnly(jwk)),
      createdAt,
      signUntil,
      verifyUntil: signUntil + this.opts.verifyWindowMs,
      cert: '',
    });
  }

  /** The record with the installation key's certificate over its fields. */
  private certified(r: SigningKeyRecord): SigningKeyRecord {
    return { ...r, cert: this.opts.certifier.certify('identity-signing-key', certFields(r)) };
  }

  private async generate(now: number): Promise<SigningKey> {
    const { privateKey } = await generateKeyPair(ALGORITHM, { extractable: true });
    const jwk = (await exportJWK(privateKey)) as JsonWebKey;
    const kid = await calculateJwkThumbprint({ kty: jwk.kty!, crv: jwk.crv!, x: jwk.x!, y: jwk.y! });
    const file: KeyFile = { kid, createdAt: now, signUntil: now + this.opts.rotationMs, jwk };
    const path = join(this.opts.dir, `${kid}.json`);
    if (existsSync(path)) throw new TypeError(`key ${kid} exists already`);
    writeSecretFile(path, JSON.stringify(file) + '\n');
    const record = this.recordFor(kid, jwk, now, file.signUntil);
    await this.opts.store.putKey(record);
    return { kid, privateKey: createPrivateKey({ key: jwk, format: 'jwk' }), record };
  }
}

/** What a key's certificate covers: everything that decides which tokens it verifies. */
function certFields(r: SigningKeyRecord): Record<string, unknown> {
  return {
    kid: r.kid,
    alg: r.alg,
    jwk: r.jwk,
    createdAt: r.createdAt,
    signUntil: r.signUntil,
    verifyUntil: r.verifyUntil,
  };
}

function publicOnly(jwk: JsonWebKey): JsonWebKey {
  const { kty, crv, x, y } = jwk;
  if (kty !== 'EC' || crv !== 'P-256' || typeof x !== 'string' || typeof y !== 'string')
    throw new TypeError('not a P-256 public key');
  return { kty, crv, x, y };
}

function readKeyFile(path: string): KeyFile {
  const text = readSecretText(path, { purpose: 'workload-token signing key' });
  let f: KeyFile | undefined;
  try {
    f = JSON.parse(text) as KeyFile;
  } catch {
    // Not the parser's message: it quotes the text, and this text is a private key.
  }
  if (
    typeof f !== 'object' ||
    f === null ||
    typeof f.kid !== 'string' ||
    typeof f.jwk?.d !== 'string' ||
    !Number.isFinite(f.createdAt) ||
    !Number.isFinite(f.signUntil)
  )
    throw new RampartError('RAMPART_E_IDENTITY_KEY_INVALID', `${path} is not a Rampart signing key file`);
  return f;
}
