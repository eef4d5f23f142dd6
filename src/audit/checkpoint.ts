// Signed checkpoints in the C2SP formats used by the Go transparency-log ecosystem (signed-note
// and tlog-checkpoint), so a checkpoint can be checked with standard tools as well as ours:
//
//   rampart.audit/<installation>\n<size>\n<base64 root>\ntime <RFC 3339>\nprev <base64 SHA-256 of the previous note>\n
//   \n
//   — <key name> <base64(key hash[4] || Ed25519 signature)>\n
//
// The two extension lines chain each checkpoint to the one before, so a deleted or replayed
// checkpoint breaks the chain.

import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RampartError } from '../core/errors.js';
import { readTextFile } from '../core/files.js';
import { readSecretFile, writeFileAtomic, writeSecretFile } from '../core/secretfile.js';
import { HASH_SIZE } from '../core/merkle.js';
import type { CertVerifier, Certifier } from '../core/installation.js';
import type { Store } from '../store/types.js';

const ED25519_ALG = 0x01;
const EM_DASH = '\u2014';

export interface CheckpointBody {
  readonly origin: string;
  readonly size: number;
  readonly root: Buffer;
  readonly time: string;
  /** SHA-256 of the previous checkpoint's full note, or undefined for the first. */
  readonly prev: Buffer | undefined;
}

export interface NoteSigner {
  readonly name: string;
  readonly keyHash: Buffer;
  readonly vkey: string;
  sign(text: string): Buffer;
}

export interface NoteVerifier {
  readonly name: string;
  readonly keyHash: Buffer;
  readonly vkey: string;
  verify(text: string, sig: Buffer): boolean;
}

function keyHash(name: string, pub: Buffer): Buffer {
  return createHash('sha256')
    .update(name)
    .update('\n')
    .update(Buffer.from([ED25519_ALG]))
    .update(pub)
    .digest()
    .subarray(0, 4);
}

function rawPublicKey(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string')
    throw new Error('not an Ed25519 key');
  return Buffer.from(jwk.x, 'base64url');
}

export function signerFromPrivateKey(name: string, privateKey: KeyObject): NoteSigner {
  if (!/^[^\s+]+$/.test(name)) throw new TypeError('note key names have no spaces or plus signs');
  const pub = rawPublicKey(createPublicKey(privateKey));
  const kh = keyHash(name, pub);
  return {
    name,
    keyHash: kh,
    vkey: `${name}+${kh.toString('hex')}+${Buffer.concat([Buffer.from([ED25519_ALG]), pub]).toString('base64')}`,
    sign: (text) => sign(null, Buffer.from(text, 'utf8'), privateKey),
  };
}

/** Parses a verifier key: name+hash+base64(0x01 || public key). */
export function parseVkey(vkey: string): NoteVerifier {
  // The key is base64, which may itself contain '+': split at the first two only.
  const m = /^([^+\s]+)\+([0-9a-fA-F]{8})\+([A-Za-z0-9+/=]+)$/.exec(vkey.trim());
  if (!m) throw new RampartError('RAMPART_E_AUDIT_CHECKPOINT_INVALID', 'verifier key is not name+hash+key');
  const [, name, hashHex, b64] = m as unknown as [string, string, string, string];
  const raw = Buffer.from(b64, 'base64');
  if (raw.length !== 33 || raw[0] !== ED25519_ALG) {
    throw new RampartError(
      'RAMPART_E_AUDIT_CHECKPOINT_INVALID',
      `verifier key ${name} is not an Ed25519 note key`,
    );
  }
  const pub = raw.subarray(1);
  const kh = keyHash(name, pub);
  if (kh.toString('hex') !== hashHex.toLowerCase()) {
    throw new RampartError(
      'RAMPART_E_AUDIT_CHECKPOINT_INVALID',
      `verifier key ${name} has a key hash that does not match its key`,
    );
  }
  const key = createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: pub.toString('base64url') },
    format: 'jwk',
  });
  return {
    name,
    keyHash: kh,
    vkey: vkey.trim(),
    verify: (text, sig) => sig.length === 64 && verify(null, Buffer.from(text, 'utf8'), key, sig),
  };
}

export function formatCheckpointText(body: CheckpointBody): string {
  return (
    `${body.origin}\n${body.size}\n${body.root.toString('base64')}\n` +
    `time ${body.time}\n` +
    `prev ${body.prev === undefined ? '-' : body.prev.toString('base64')}\n`
  );
}

export function signCheckpoint(body: CheckpointBody, signer: NoteSigner): string {
  const text = formatCheckpointText(body);
  const sig = Buffer.concat([signer.keyHash, signer.sign(text)]);
  return `${text}\n${EM_DASH} ${signer.name} ${sig.toString('base64')}\n`;
}

export interface VerifiedCheckpoint extends CheckpointBody {
  readonly note: string;
  readonly signedBy: string;
}

/**
 * Parses a signed checkpoint and checks that a trusted key signed it. Throws a coded error that
 * says what is wrong; never returns an unverified body.
 */
export function openCheckpoint(note: string, trusted: readonly NoteVerifier[]): VerifiedCheckpoint {
  const bad = (why: string): RampartError => new RampartError('RAMPART_E_AUDIT_CHECKPOINT_INVALID', why);
  const split = note.indexOf('\n\n');
  if (split < 0) throw bad('checkpoint has no signature block');
  const text = note.slice(0, split + 1);
  const sigLines = note
    .slice(split + 2)
    .split('\n')
    .filter((l) => l !== '');
  const lines = text.split('\n').slice(0, -1);
  if (lines.length < 3) throw bad('checkpoint body is shorter than origin, size and root');
  const [origin, sizeText, rootText, ...ext] = lines as [string, string, string, ...string[]];
  if (!/^(0|[1-9]\d{0,15})$/.test(sizeText))
    throw bad(`checkpoint size "${sizeText}" is not a decimal number`);
  const root = Buffer.from(rootText, 'base64');
  if (root.length !== HASH_SIZE || root.toString('base64') !== rootText)
    throw bad('checkpoint root is not a base64 SHA-256 hash');
  const time = ext.find((l) => l.startsWith('time '))?.slice(5);
  const prevText = ext.find((l) => l.startsWith('prev '))?.slice(5);
  if (time === undefined || Number.isNaN(Date.parse(time))) throw bad('checkpoint has no valid time line');
  if (prevText === undefined) throw bad('checkpoint has no prev line');
  const prev = prevText === '-' ? undefined : Buffer.from(prevText, 'base64');
  if (prev !== undefined && prev.length !== HASH_SIZE)
    throw bad('checkpoint prev is not a base64 SHA-256 hash');

  for (const line of sigLines) {
    const m = /^\u2014 (\S+) ([A-Za-z0-9+/=]+)$/.exec(line);
    if (!m) throw bad('checkpoint signature line is malformed');
    const blob = Buffer.from(m[2]!, 'base64');
    if (blob.length < 5) continue;
    const kh = blob.subarray(0, 4);
    for (const v of trusted) {
      if (v.name === m[1] && v.keyHash.equals(kh) && v.verify(text, blob.subarray(4))) {
        return { origin, size: Number(sizeText), root, time, prev, note, signedBy: v.name };
      }
    }
  }
  throw bad(
    sigLines.length === 0
      ? 'checkpoint is not signed'
      : `checkpoint signature does not verify with any trusted key (signed as ${sigLines.map((l) => l.split(' ')[1]).join(', ')})`,
  );
}

/** Who a note says signed it: each signature line's key name and key hash (unverified). */
export function noteSigners(note: string): { name: string; keyHash: Buffer }[] {
  const split = note.indexOf('\n\n');
  if (split < 0) return [];
  const out: { name: string; keyHash: Buffer }[] = [];
  for (const line of note.slice(split + 2).split('\n')) {
    const m = /^\u2014 (\S+) ([A-Za-z0-9+/=]+)$/.exec(line);
    const blob = m ? Buffer.from(m[2]!, 'base64') : undefined;
    if (m && blob && blob.length >= 4) out.push({ name: m[1]!, keyHash: blob.subarray(0, 4) });
  }
  return out;
}

export function noteDigest(note: string): Buffer {
  return createHash('sha256').update(note, 'utf8').digest();
}

// ---------------------------------------------------------------------------------------------
// Key files: the private key is a secret file (PKCS#8 PEM, 0600); the verifier key beside it is
// public and is what operators copy to other replicas' audit.trusted_keys and to witnesses.

export interface AuditKeys {
  readonly signer: NoteSigner;
  readonly verifiers: readonly NoteVerifier[];
}

export function auditKeyPaths(dataDir: string): { key: string; pub: string } {
  return {
    key: join(dataDir, 'keys', 'audit-ed25519.key'),
    pub: join(dataDir, 'keys', 'audit-ed25519.vkey'),
  };
}

/** Where a replica keeps the newest checkpoint it signed: its local witness. */
export function witnessPath(dataDir: string): string {
  return join(dataDir, 'audit', 'witness.checkpoint');
}

/** Loads this replica's checkpoint key, creating it on first start. */
export function loadOrCreateAuditKey(dataDir: string): NoteSigner {
  const paths = auditKeyPaths(dataDir);
  if (!existsSync(paths.key)) {
    mkdirSync(join(dataDir, 'keys'), { recursive: true, mode: 0o700 });
    const { privateKey } = generateKeyPairSync('ed25519');
    writeSecretFile(paths.key, privateKey.export({ format: 'pem', type: 'pkcs8' }));
  }
  const pem = readSecretFile(paths.key, { purpose: 'audit checkpoint signing key' });
  const key = createPrivateKey(pem);
  const pub = rawPublicKey(createPublicKey(key));
  const signer = signerFromPrivateKey(
    `rampart-audit-${createHash('sha256').update(pub).digest('hex').slice(0, 12)}`,
    key,
  );
  // The verifier key is public: it is what operators hand to witnesses and other replicas.
  if (!existsSync(paths.pub) || readFileSync(paths.pub, 'utf8').trim() !== signer.vkey) {
    writeFileAtomic(paths.pub, signer.vkey + '\n', 0o644);
  }
  return signer;
}

/** Verifier keys `audit verify` trusts: this data directory's own and the configured ones. */
export function loadTrustedVerifiers(dataDir: string, extraFiles: readonly string[]): NoteVerifier[] {
  const out: NoteVerifier[] = [];
  const own = auditKeyPaths(dataDir).pub;
  for (const file of existsSync(own) ? [own, ...extraFiles] : extraFiles) {
    const text = readTextFile(file, 'RAMPART_E_AUDIT_CHECKPOINT_INVALID', 'trusted key');
    for (const line of text.split('\n')) if (line.trim() !== '') out.push(parseVkey(line));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Checkpoint keys published in the store, trusted only with the installation key's certificate

/** What a checkpoint key's certificate covers. */
const signerFields = (name: string, vkey: string): Record<string, unknown> => ({ name, vkey });

/** Publishes this replica's checkpoint key with a certificate, so other replicas can trust it. */
export async function publishSigner(store: Store, signer: NoteSigner, certifier: Certifier): Promise<void> {
  await store.audit.putSigner({
    name: signer.name,
    vkey: signer.vkey,
    cert: certifier.certify('audit-checkpoint-key', signerFields(signer.name, signer.vkey)),
  });
}

/**
 * The checkpoint keys published in the store whose certificates verify with the installation
 * key; the others are returned by name, refused.
 */
export async function certifiedVerifiers(
  store: Store,
  installation: CertVerifier,
): Promise<{ trusted: NoteVerifier[]; refused: string[] }> {
  const trusted: NoteVerifier[] = [];
  const refused: string[] = [];
  for (const s of await store.audit.signers()) {
    let v: NoteVerifier | undefined;
    try {
      v = parseVkey(s.vkey);
    } catch {
      v = undefined;
    }
    if (
      v &&
      v.name === s.name &&
      installation.verify('audit-checkpoint-key', signerFields(s.name, s.vkey), s.cert)
    )
      trusted.push(v);
    else refused.push(s.name);
  }
  return { trusted, refused };
}
