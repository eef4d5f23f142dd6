// Identifiers: ULID-shaped (48-bit millisecond time + 80 random bits, Crockford base32), so ids sort
// by creation time in logs and tables and carry no guessable counter.

import { randomBytes } from 'node:crypto';

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
  const r = randomBytes(10);
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
