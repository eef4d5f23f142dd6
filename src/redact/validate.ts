// Validation and scoring helpers for candidate secrets: checksums, structure checks, entropy and
// the placeholder allowlist. All pure and linear in the candidate's length.

import { base62, crc32 } from '../core/checksum.js';

/**
 * GitHub (ghp_, gho_, ghu_, ghs_, ghr_) and npm (npm_) tokens end in six base62 digits of the
 * CRC32 of the 30 random characters before them. A token whose checksum fails was never issued.
 */
export function checksumToken(token: string): boolean {
  const body = token.slice(4, -6);
  return body.length === 30 && base62(crc32(body), 6) === token.slice(-6);
}

/** Shannon entropy in bits per character. */
export function entropy(s: string): number {
  if (s.length === 0) return 0;
  const counts = new Map<number, number>();
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

function base64urlJson(part: string): unknown {
  try {
    const text = Buffer.from(part, 'base64url').toString('utf8');
    if (!text.startsWith('{')) return undefined;
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** A JWT's header decodes to a JSON object with a string "alg" (and the payload to an object). */
export function jwtStructure(token: string): boolean {
  const parts = token.split('.');
  if (parts.length !== 3) return false;
  const header = base64urlJson(parts[0]!);
  const payload = base64urlJson(parts[1]!);
  return (
    typeof header === 'object' &&
    header !== null &&
    typeof (header as { alg?: unknown }).alg === 'string' &&
    typeof payload === 'object' &&
    payload !== null
  );
}

/** Basic credentials and docker "auth" values decode to "user:password". */
export function base64Credentials(value: string): boolean {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value)) return false;
  // Whole quanta only: base64 glued to more text (`...cGFzcw==x`) still holds the credential.
  const whole = value.replace(/=+$/, '');
  const text = Buffer.from(whole.slice(0, whole.length - (whole.length % 4)), 'base64').toString('latin1');
  const colon = text.indexOf(':');
  return colon > 0 && colon < text.length - 1 && /^[\x20-\x7e]+$/.test(text);
}

// Placeholders and values that are not secrets: documentation examples, templates, masks,
// already-redacted output. Matched as whole words so a random token that happens to contain
// "your" is still a token.
const PLACEHOLDER_WORDS =
  /(?:^|[^a-z])(?:your|example|examples|placeholder|changeme|change_me|changeit|dummy|sample|fake|redacted|xxx+|replace_?me|insert|todo|fixme|notreal|not_real|secret_here|token_here|key_here|password_here|here)(?:[^a-z]|$)/i;
const TEMPLATE =
  /\$\{[^}]*\}|\{\{[^}]*\}\}|<[^>]*>|%\(?[a-z_]*\)?s|^\$[A-Za-z_][A-Za-z0-9_]*$|^\*+$|\[REDACTED|\[MASKED\]/;

/** True when the candidate is a placeholder, a template or an already-redacted value. */
export function isPlaceholder(secret: string): boolean {
  if (TEMPLATE.test(secret) || PLACEHOLDER_WORDS.test(secret)) return true;
  if (secret.includes('EXAMPLE')) return true; // AWS documentation keys: AKIAIOSFODNN7EXAMPLE, ...EXAMPLEKEY
  return lowVariety(secret);
}

/** Long runs of one character, or a short pattern repeated: XXXXXXXX, 00000000, abcabcabc, 12345678... */
function lowVariety(s: string): boolean {
  if (/(.)\1{7,}/.test(s)) return true;
  if (/0123456789|123456789|abcdefghij|ABCDEFGHIJ|qwertyuiop/i.test(s)) return true;
  const distinct = new Set(s).size;
  return s.length >= 12 && distinct <= 3;
}
