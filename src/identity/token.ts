// Workload tokens: compact JWS (ES256) with Rampart's claims, signed with jose and verified here.
//
// Why verify by hand rather than with jose's jwtVerify: jose goes through WebCrypto's async API
// (about 40% of raw verify speed here), and, called with only a key, it accepts a token with no
// `exp` or with an `iat` an hour ahead. This verifier is synchronous, runs at the speed of
// node:crypto's verify, and enforces everything itself:
//
// - The header must be byte-for-byte the one Rampart writes for a known key:
//   {"alg":"ES256","typ":"rampart+jwt","kid":"..."}. That one comparison refuses `alg: none`,
//   algorithm confusion (HS256 with the public key as secret), embedded `jwk`/`jku`/`x5u`/`x5c`,
//   `crit`, `b64: false` and unknown or retired keys; the header is parsed only to say which.
// - Every segment must be canonical base64url (no padding, no stray bits), so a token has one
//   spelling and a changed byte never verifies.
// - exp, nbf, iat, iss, aud, sub, run, ns, caps, jti and rst are all required and typed; the
//   lifetime may not exceed the configured maximum; clock skew is bounded.

import { verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import { gitBindingProblem, type WorkloadClaims } from '../core/claims.js';

export const TOKEN_TYPE = 'rampart+jwt';
export const ALGORITHM = 'ES256';
/** Larger tokens are refused before any parsing. Rampart's are about 450 bytes. */
export const MAX_TOKEN_BYTES = 4096;

export type { WorkloadClaims } from '../core/claims.js';

/** A key tokens are verified with: the public half, and the exact header its tokens carry. */
export interface VerifierKey {
  readonly kid: string;
  readonly key: KeyObject;
  /** base64url of {"alg":"ES256","typ":"rampart+jwt","kid":kid}. */
  readonly header: string;
  readonly createdAt: number;
  readonly signUntil: number;
  readonly verifyUntil: number;
}

export interface VerifyPolicy {
  readonly issuer: string;
  readonly audience: string;
  readonly skewMs: number;
  /** Longest exp - iat allowed. */
  readonly maxTtlMs: number;
}

/** Why a token was refused: `kind` is a stable label (metrics, tests), `reason` says it in words. */
export interface Rejection {
  readonly ok: false;
  readonly kind: RejectionKind;
  readonly reason: string;
  /** Unverified hints for the audit record (never the token itself). */
  readonly kid?: string;
  readonly sub?: string;
  readonly jti?: string;
}

export type RejectionKind =
  | 'too_large'
  | 'malformed'
  | 'forbidden_header'
  | 'unknown_key'
  | 'retired_key'
  | 'bad_signature'
  | 'missing_claim'
  | 'wrong_issuer'
  | 'wrong_audience'
  | 'expired'
  | 'not_yet_valid'
  | 'issued_in_future'
  | 'lifetime_too_long'
  | 'revoked'
  | 'revocations_stale';

export type VerifyResult =
  { readonly ok: true; readonly claims: WorkloadClaims; readonly kid: string } | Rejection;

export function headerFor(kid: string): string {
  return Buffer.from(JSON.stringify({ alg: ALGORITHM, typ: TOKEN_TYPE, kid })).toString('base64url');
}

// P-256's group order n, and n / 2: an ECDSA signature (r, s) has a twin (r, n - s) that verifies
// too. Rampart signs and accepts only the low form (s <= n/2), so a token has one spelling: one
// cache key, one audit fingerprint, no malleated copy that looks like another token.
const P256_N = BigInt('0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551');
const P256_HALF_N = Buffer.from((P256_N >> 1n).toString(16).padStart(64, '0'), 'hex');

/** Is the `s` half of a 64-byte r || s signature in the high half of the group? */
export function isHighS(sig: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(sig.buffer, sig.byteOffset + 32, 32), P256_HALF_N) > 0;
}

/** The low-S twin of a 64-byte r || s signature (the same signature when it is low already). */
export function lowS(sig: Uint8Array): Buffer {
  if (sig.length !== 64) throw new TypeError('an ES256 signature is 64 bytes');
  const out = Buffer.from(sig);
  if (!isHighS(sig)) return out;
  const s = BigInt('0x' + out.subarray(32).toString('hex'));
  Buffer.from((P256_N - s).toString(16).padStart(64, '0'), 'hex').copy(out, 32);
  return out;
}

/** Signs claims with jose (ES256, explicit type, key id), then normalizes the signature to low S. */
export async function signToken(claims: WorkloadClaims, kid: string, privateKey: KeyObject): Promise<string> {
  const jws = await jwsFor(claims, kid, privateKey);
  const dot = jws.lastIndexOf('.');
  return `${jws.slice(0, dot)}.${lowS(Buffer.from(jws.slice(dot + 1), 'base64url')).toString('base64url')}`;
}

function jwsFor(claims: WorkloadClaims, kid: string, privateKey: KeyObject): Promise<string> {
  const { iss, aud, sub, jti, iat, nbf, exp, ...rest } = claims;
  return new SignJWT({ ...rest })
    .setProtectedHeader({ alg: ALGORITHM, typ: TOKEN_TYPE, kid })
    .setIssuer(iss)
    .setAudience(aud)
    .setSubject(sub)
    .setJti(jti)
    .setIssuedAt(iat)
    .setNotBefore(nbf)
    .setExpirationTime(exp)
    .sign(privateKey);
}

const B64URL = /^[A-Za-z0-9_-]+$/;

function reject(kind: RejectionKind, reason: string, hints: Partial<Rejection> = {}): Rejection {
  return { ok: false, kind, reason, ...hints };
}

/** base64url that decodes and re-encodes to itself (one spelling per byte string). */
function canonical(segment: string): Buffer | undefined {
  if (!B64URL.test(segment)) return undefined;
  const bytes = Buffer.from(segment, 'base64url');
  return bytes.toString('base64url') === segment ? bytes : undefined;
}

function parseObject(bytes: Buffer): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(bytes.toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Why a header that is not one of ours is refused, in the most specific words available. */
function explainHeader(
  segment: string,
  keys: ReadonlyMap<string, VerifierKey>,
  retired: ReadonlySet<string>,
): Rejection {
  const bytes = canonical(segment);
  const h = bytes && parseObject(bytes);
  if (!h) return reject('malformed', 'the token header is not base64url JSON');
  const kid = typeof h['kid'] === 'string' ? h['kid'] : undefined;
  const hint = kid === undefined ? {} : { kid };
  if (h['alg'] === 'none' || h['alg'] === undefined)
    return reject('forbidden_header', 'unsigned token (alg none)', hint);
  if (h['alg'] !== ALGORITHM)
    return reject(
      'forbidden_header',
      `algorithm ${JSON.stringify(h['alg'])} is not accepted (only ${ALGORITHM})`,
      hint,
    );
  for (const k of ['jwk', 'jku', 'x5u', 'x5c', 'x5t', 'x5t#S256'])
    if (k in h)
      return reject('forbidden_header', `the header carries "${k}": keys are never taken from a token`, hint);
  if ('crit' in h)
    return reject('forbidden_header', 'the header has "crit" extensions, none of which are understood', hint);
  if ('b64' in h) return reject('forbidden_header', 'unencoded payloads (b64) are not accepted', hint);
  if (h['typ'] !== TOKEN_TYPE)
    return reject('forbidden_header', `token type ${JSON.stringify(h['typ'])} is not ${TOKEN_TYPE}`, hint);
  if (kid === undefined) return reject('unknown_key', 'the header names no key (kid)');
  if (retired.has(kid)) return reject('retired_key', `key ${kid} is retired`, hint);
  if (!keys.has(kid)) return reject('unknown_key', `key ${kid} is not known`, hint);
  return reject('forbidden_header', 'the header is not in the form Rampart issues', hint);
}

/** What an unverified payload claims about who it is, for the audit record of its refusal. */
function claimedHints(payload: Buffer): { sub?: string; jti?: string } {
  const c = parseObject(payload);
  const short = (v: unknown): v is string => typeof v === 'string' && v.length <= 128;
  return { ...(short(c?.['sub']) ? { sub: c['sub'] } : {}), ...(short(c?.['jti']) ? { jti: c['jti'] } : {}) };
}

const REQUIRED_STRINGS = ['iss', 'aud', 'sub', 'run', 'ns', 'jti'] as const;
const REQUIRED_TIMES = ['iat', 'nbf', 'exp', 'rst'] as const;

/**
 * Verifies a token's form, signature and claims at `now` (epoch ms). Revocation is the caller's
 * (it needs the claims). `byHeader` maps each key's exact header segment to the key.
 */
export function verifyToken(
  token: string,
  now: number,
  byHeader: ReadonlyMap<string, VerifierKey>,
  byKid: ReadonlyMap<string, VerifierKey>,
  retired: ReadonlySet<string>,
  policy: VerifyPolicy,
): VerifyResult {
  if (token.length > MAX_TOKEN_BYTES)
    return reject('too_large', `the token is longer than ${MAX_TOKEN_BYTES} bytes`);
  const dot1 = token.indexOf('.');
  const dot2 = token.indexOf('.', dot1 + 1);
  if (dot1 < 1 || dot2 < 0 || token.indexOf('.', dot2 + 1) !== -1)
    return reject('malformed', 'a token has three base64url parts separated by dots');
  const headerSeg = token.slice(0, dot1);
  const key = byHeader.get(headerSeg);
  if (!key) return explainHeader(headerSeg, byKid, retired);
  if (now > key.verifyUntil) return reject('retired_key', `key ${key.kid} is retired`, { kid: key.kid });
  const payloadBytes = canonical(token.slice(dot1 + 1, dot2));
  const sig = canonical(token.slice(dot2 + 1));
  if (!payloadBytes || !sig)
    return reject('malformed', 'the token is not canonical base64url', { kid: key.kid });
  // ES256 signatures are r || s, 32 bytes each (JWS), not DER.
  if (sig.length !== 64) return reject('bad_signature', 'the signature is not 64 bytes', { kid: key.kid });
  if (isHighS(sig)) return reject('bad_signature', 'the signature is not in low-S form', { kid: key.kid });
  const ok = cryptoVerify(
    'sha256',
    Buffer.from(token.slice(0, dot2), 'latin1'),
    { key: key.key, dsaEncoding: 'ieee-p1363' },
    sig,
  );
  if (!ok)
    return reject('bad_signature', 'the signature does not verify', {
      kid: key.kid,
      ...claimedHints(payloadBytes),
    });
  const c = parseObject(payloadBytes);
  if (!c) return reject('malformed', 'the token payload is not a JSON object', { kid: key.kid });
  return checkClaims(c, key, now, policy);
}

function checkClaims(
  c: Record<string, unknown>,
  key: VerifierKey,
  now: number,
  policy: VerifyPolicy,
): VerifyResult {
  const hints = {
    kid: key.kid,
    ...(typeof c['sub'] === 'string' ? { sub: c['sub'] } : {}),
    ...(typeof c['jti'] === 'string' ? { jti: c['jti'] } : {}),
  };
  for (const k of REQUIRED_STRINGS)
    if (typeof c[k] !== 'string' || c[k] === '')
      return reject('missing_claim', `the token has no "${k}"`, hints);
  for (const k of REQUIRED_TIMES)
    if (!Number.isSafeInteger(c[k])) return reject('missing_claim', `the token has no numeric "${k}"`, hints);
  const caps = c['caps'];
  if (!Array.isArray(caps) || !caps.every((x) => typeof x === 'string'))
    return reject('missing_claim', 'the token has no "caps" list', hints);
  if (c['git'] !== undefined) {
    const why = gitBindingProblem(c['git']);
    if (why) return reject('missing_claim', `the token's git binding is malformed: ${why}`, hints);
  }
  const claims = c as unknown as WorkloadClaims;
  if (claims.iss !== policy.issuer)
    return reject('wrong_issuer', `issuer ${claims.iss} is not ${policy.issuer}`, hints);
  if (claims.aud !== policy.audience)
    return reject('wrong_audience', `audience ${claims.aud} is not ${policy.audience}`, hints);
  const skew = policy.skewMs;
  if (now >= claims.exp * 1000 + skew) return reject('expired', 'the token has expired', hints);
  if (claims.nbf * 1000 > now + skew)
    return reject('not_yet_valid', 'the token is not valid yet (nbf)', hints);
  if (claims.iat * 1000 > now + skew)
    return reject('issued_in_future', 'the token was issued in the future (iat)', hints);
  if (claims.exp <= claims.iat || (claims.exp - claims.iat) * 1000 > policy.maxTtlMs)
    return reject('lifetime_too_long', 'the token lives longer than tokens may', hints);
  // A token cannot predate its key or postdate the key's retirement from signing.
  // (iat is whole seconds, rounded down: hence the extra second.)
  if ((claims.iat + 1) * 1000 + skew < key.createdAt || claims.iat * 1000 > key.signUntil + skew)
    return reject('retired_key', `key ${key.kid} did not sign tokens at that time`, hints);
  return { ok: true, claims, kid: key.kid };
}
