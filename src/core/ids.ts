// Identifiers: ULID-shaped (48-bit millisecond time + 80 random bits, Crockford base32), so ids sort
// by creation time in logs and tables and carry no guessable counter.

import { closeSync, openSync, readSync } from 'node:fs';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export function newId(now: number = Date.now()): string {
  if (!Number.isSafeInteger(now) || now < 0)
    throw new TypeError('newId: time must be a non-negative integer');
  let out = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[t % 32]! + out;
    t = Math.floor(t / 32);
  }
  // node:crypto on first use, not at load: a CLI command that never makes an id does not pay the
  // milliseconds it takes to load.
  const r = process.getBuiltinModule('node:crypto').randomBytes(10);
  // 80 bits as 16 base32 digits: take 5 bits at a time.
  let acc = 0;
  let bits = 0;
  for (const byte of r) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(acc >> bits) & 31];
    }
  }
  return out;
}

const ID_RE = /^[0-9A-HJKMNP-TV-Z]{26}$/;

export function isId(s: string): boolean {
  return ID_RE.test(s);
}

/**
 * `bytes` random bytes from the kernel's CSPRNG, as hex: for the one id a short-lived command
 * makes (a run id in `rampart run`), where loading node:crypto would cost more than the read.
 * Long-running code makes ids with newId.
 */
export function urandomHex(bytes: number): string {
  if (!Number.isInteger(bytes) || bytes < 1 || bytes > 256)
    throw new TypeError('urandomHex: bytes must be an integer from 1 to 256');
  const buf = Buffer.alloc(bytes);
  const fd = openSync('/dev/urandom', 'r');
  try {
    for (let off = 0; off < bytes;) {
      const n = readSync(fd, buf, off, bytes - off, null);
      if (n <= 0) throw new Error('/dev/urandom returned no bytes');
      off += n;
    }
  } finally {
    closeSync(fd);
  }
  return buf.toString('hex');
}
