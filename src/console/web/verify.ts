// Audit verification in the browser, with WebCrypto and nothing from the server taken on trust:
// the verifier key is the one the operator pinned (pasted once from the host, kept in this
// browser's storage); the checkpoint's Ed25519 signature, the record's leaf hash and its inclusion
// path up to the signed root are all computed here. The same algorithms as src/audit (C2SP signed
// notes, RFC 6962 hashing), checked against them by test/console.

import { canonicalJson } from '../../core/canonical.js';

export interface PinnedKey {
  readonly name: string;
  readonly keyHash: Uint8Array;
  readonly key: CryptoKey;
  readonly vkey: string;
  /** SHA-256 of the vkey text, hex: what the console shows to compare by eye. */
  readonly fingerprint: string;
}

export interface Checkpoint {
  readonly origin: string;
  readonly size: number;
  readonly root: Uint8Array;
  readonly time: string;
}

const enc = new TextEncoder();
const b64 = (s: string): Uint8Array => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
export const hex = (b: Uint8Array): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
const unhex = (s: string): Uint8Array => Uint8Array.from(s.match(/../g) ?? [], (x) => parseInt(x, 16));
const sha256 = async (data: Uint8Array): Promise<Uint8Array> =>
  new Uint8Array(await crypto.subtle.digest('SHA-256', data as BufferSource));
const concat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};
const equal = (a: Uint8Array, b: Uint8Array): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i]);

export async function pinKey(vkey: string): Promise<PinnedKey> {
  const m = /^([^+\s]+)\+([0-9a-fA-F]{8})\+([A-Za-z0-9+/=]+)$/.exec(vkey.trim());
  if (!m) throw new Error('not a verifier key (name+hash+key), as in DATA/keys/audit-ed25519.vkey');
  const [, name, hashHex, key64] = m as unknown as [string, string, string, string];
  const raw = b64(key64);
  if (raw.length !== 33 || raw[0] !== 1) throw new Error(`verifier key ${name} is not an Ed25519 note key`);
  const pub = raw.subarray(1);
  const kh = (await sha256(concat(enc.encode(name + '\n'), raw))).subarray(0, 4);
  if (hex(kh) !== hashHex.toLowerCase())
    throw new Error(`verifier key ${name}: its key hash does not match its key`);
  const cryptoKey = await crypto.subtle.importKey('raw', pub as BufferSource, { name: 'Ed25519' }, false, [
    'verify',
  ]);
  return {
    name,
    keyHash: kh,
    key: cryptoKey,
    vkey: vkey.trim(),
    fingerprint: hex(await sha256(enc.encode(vkey.trim()))),
  };
}

/** Opens a signed checkpoint with the pinned key; throws saying why when it does not verify. */
export async function openCheckpoint(note: string, pinned: PinnedKey): Promise<Checkpoint> {
  const split = note.indexOf('\n\n');
  if (split < 0) throw new Error('checkpoint has no signature block');
  const text = note.slice(0, split + 1);
  const [origin, sizeText, rootText, ...ext] = text.split('\n').slice(0, -1);
  if (
    origin === undefined ||
    sizeText === undefined ||
    rootText === undefined ||
    !/^\d{1,16}$/.test(sizeText)
  )
    throw new Error('checkpoint body is malformed');
  for (const line of note.slice(split + 2).split('\n')) {
    const m = /^\u2014 (\S+) ([A-Za-z0-9+/=]+)$/.exec(line);
    if (!m || m[1] !== pinned.name) continue;
    const blob = b64(m[2]!);
    if (blob.length !== 68 || !equal(blob.subarray(0, 4), pinned.keyHash)) continue;
    if (
      await crypto.subtle.verify(
        { name: 'Ed25519' },
        pinned.key,
        blob.subarray(4) as BufferSource,
        enc.encode(text),
      )
    )
      return {
        origin,
        size: Number(sizeText),
        root: b64(rootText),
        time: ext.find((l) => l.startsWith('time '))?.slice(5) ?? '',
      };
  }
  throw new Error(`the checkpoint is not signed by the pinned key ${pinned.name}`);
}

export const leafHash = async (entry: string): Promise<Uint8Array> =>
  sha256(concat(new Uint8Array([0]), enc.encode(entry)));
const nodeHash = async (l: Uint8Array, r: Uint8Array): Promise<Uint8Array> =>
  sha256(concat(new Uint8Array([1]), l, r));

/** RFC 6962 / RFC 9162 inclusion: the root a leaf's audit path leads to, or undefined. */
export async function rootFromInclusion(
  index: number,
  size: number,
  leaf: Uint8Array,
  proof: readonly Uint8Array[],
): Promise<Uint8Array | undefined> {
  if (!(index >= 0 && index < size)) return undefined;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return undefined;
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      if (fn % 2 === 0) {
        do {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        } while (fn % 2 === 0 && fn !== 0);
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : undefined;
}

export interface Verified {
  readonly seq: number;
  readonly checkpoint: Checkpoint;
  /** The record as the log holds it, parsed from the bytes that were hashed. */
  readonly record: Record<string, unknown>;
}

/**
 * Verifies one record end to end: `entry` is the record's canonical JSON (what the leaf hashes),
 * `proof` its inclusion proof against the signed `checkpoint`. Throws saying what failed.
 */
export async function verifyRecord(
  pinned: PinnedKey,
  seq: number,
  entry: string,
  proof: { treeSize: number; proof: readonly string[]; checkpoint: string },
): Promise<Verified> {
  const cp = await openCheckpoint(proof.checkpoint, pinned);
  if (cp.size !== proof.treeSize)
    throw new Error(`the proof is for ${proof.treeSize} records, the checkpoint covers ${cp.size}`);
  const root = await rootFromInclusion(seq, cp.size, await leafHash(entry), proof.proof.map(unhex));
  if (!root || !equal(root, cp.root))
    throw new Error(
      `record ${seq} is not in the signed log as shown: its inclusion proof does not lead to the checkpoint's root`,
    );
  return { seq, checkpoint: cp, record: JSON.parse(entry) as Record<string, unknown> };
}

/** A record as the API returns it (parsed) back to the exact bytes the log hashed. */
export const entryOf = (record: unknown): string => canonicalJson(record);
