// CRC32 and base62, as GitHub and npm tokens end in them: the redaction engine checks a
// candidate token's checksum with these, and honeytokens are made with them (a decoy that fails
// the checksum would look fake to any scanner, and to an attacker who knows the format).

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(s: string): number {
  let c = 0xffffffff;
  for (let i = 0; i < s.length; i++) c = CRC_TABLE[(c ^ s.charCodeAt(i)) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

export function base62(n: number, width: number): string {
  let out = '';
  let v = n;
  do {
    out = BASE62[v % 62]! + out;
    v = Math.floor(v / 62);
  } while (v > 0);
  return out.padStart(width, '0');
}

/** A GitHub-format token: prefix, 30 random characters, six base62 digits of their CRC32. */
export function githubFormat(prefix: string, body30: string): string {
  if (body30.length !== 30) throw new TypeError('a GitHub-format token has 30 random characters');
  return `${prefix}${body30}${base62(crc32(body30), 6)}`;
}
