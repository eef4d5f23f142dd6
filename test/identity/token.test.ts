// Every way a workload token can be wrong, as a table: each is refused with its own reason, never
// accepted. The tokens are crafted by hand and most are signed with the service's real key, so
// the check that refuses them is the one under test, not the signature.

import assert from 'node:assert/strict';
import { createPublicKey, sign, type KeyObject } from 'node:crypto';
import { keyPair } from '../support/keys.js';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { RejectionKind } from '../../src/identity/token.js';
import { claimsAt, craft, hs256, identityHarness, type IdentityHarness } from '../support/identity.js';

const TYP = 'rampart+jwt';

describe('workload token verification', () => {
  let h: IdentityHarness;
  let valid: string;

  before(async () => {
    h = await identityHarness();
    valid = (await h.svc.issue({ agent: 'agent-1', namespace: 'ci', capabilities: ['git.push'] })).token;
  });
  after(async () => {
    await h.close();
    h.dir.cleanup();
  });

  it('accepts a token it issued, with the claims it issued', () => {
    const r = h.svc.verify(valid);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.claims.sub, 'agent-1');
    assert.equal(r.claims.ns, 'ci');
    assert.deepEqual(r.claims.caps, ['git.push']);
    assert.equal(r.claims.exp - r.claims.iat, 600);
    const [header] = valid.split('.');
    assert.deepEqual(JSON.parse(Buffer.from(header!, 'base64url').toString()), {
      alg: 'ES256',
      typ: TYP,
      kid: h.svc.signingKid,
    });
  });

  /** A validly signed token spelled in the standard base64 alphabet (+ and /, never - and _). */
  function standardAlphabet(
    hdr: Record<string, unknown>,
    good: Record<string, unknown>,
    key: KeyObject,
  ): string {
    // A token without - or _ reads the same in both alphabets, so vary the jti until it has one.
    for (let i = 0; ; i++) {
      const t = craft(hdr, { ...good, jti: `jti-${i}` }, key);
      if (/[-_]/.test(t)) return t.replace(/-/g, '+').replace(/_/g, '/');
    }
  }

  it('refuses every attack in the table, each for its own reason', () => {
    const { kid, key } = h.signingKey();
    const now = h.clock.now();
    const hdr = { alg: 'ES256', typ: TYP, kid };
    const good = claimsAt(now);
    const without = (k: string): Record<string, unknown> => {
      const c = { ...good };
      delete c[k];
      return c;
    };
    const attacker = keyPair({ type: 'ec', namedCurve: 'P-256' });
    const publicJwk = createPublicKey(key).export({ format: 'jwk' });
    const publicPem = createPublicKey(key).export({ format: 'pem', type: 'spki' }) as string;
    const table: [string, string, RejectionKind][] = [
      ['no exp', craft(hdr, without('exp'), key), 'missing_claim'],
      ['no iat', craft(hdr, without('iat'), key), 'missing_claim'],
      ['no nbf', craft(hdr, without('nbf'), key), 'missing_claim'],
      ['no jti', craft(hdr, without('jti'), key), 'missing_claim'],
      ['no sub', craft(hdr, without('sub'), key), 'missing_claim'],
      ['caps not a list', craft(hdr, { ...good, caps: 'git.push' }, key), 'missing_claim'],
      ['exp as a string', craft(hdr, { ...good, exp: String(good['exp']) }, key), 'missing_claim'],
      ['iat an hour ahead', craft(hdr, claimsAt(now + 3_600_000), key), 'not_yet_valid'],
      [
        'iat ahead, nbf now',
        craft(hdr, { ...good, iat: Math.floor(now / 1000) + 3600 }, key),
        'issued_in_future',
      ],
      [
        'nbf ahead beyond skew',
        craft(hdr, { ...good, nbf: Math.floor(now / 1000) + 60 }, key),
        'not_yet_valid',
      ],
      ['expired beyond skew', craft(hdr, claimsAt(now - 1_000_000), key), 'expired'],
      [
        'lives an hour',
        craft(hdr, { ...good, exp: Math.floor(now / 1000) + 3600 }, key),
        'lifetime_too_long',
      ],
      ['exp before iat', craft(hdr, { ...good, exp: Math.floor(now / 1000) - 1 }, key), 'lifetime_too_long'],
      ['wrong audience', craft(hdr, { ...good, aud: 'someone-else' }, key), 'wrong_audience'],
      ['audience as a list', craft(hdr, { ...good, aud: ['rampart'] }, key), 'missing_claim'],
      ['wrong issuer', craft(hdr, { ...good, iss: 'https://evil.example' }, key), 'wrong_issuer'],
      ['unknown kid', craft({ ...hdr, kid: 'not-a-key' }, good, key), 'unknown_key'],
      ['no kid', craft({ alg: 'ES256', typ: TYP }, good, key), 'unknown_key'],
      ['alg none', craft({ alg: 'none', typ: TYP, kid }, good, 'none'), 'forbidden_header'],
      ['alg None', craft({ alg: 'None', typ: TYP, kid }, good, 'none'), 'forbidden_header'],
      [
        'HS256 with the public JWK as secret',
        craft({ ...hdr, alg: 'HS256' }, good, hs256(JSON.stringify(publicJwk))),
        'forbidden_header',
      ],
      [
        'HS256 with the public PEM as secret',
        craft({ ...hdr, alg: 'HS256' }, good, hs256(publicPem)),
        'forbidden_header',
      ],
      ['ES384 header', craft({ ...hdr, alg: 'ES384' }, good, key), 'forbidden_header'],
      ['RS256 header', craft({ ...hdr, alg: 'RS256' }, good, key), 'forbidden_header'],
      [
        'embedded jwk (attacker key)',
        craft({ ...hdr, jwk: attacker.publicKey.export({ format: 'jwk' }) }, good, attacker.privateKey),
        'forbidden_header',
      ],
      ['jku header', craft({ ...hdr, jku: 'https://evil.example/jwks.json' }, good, key), 'forbidden_header'],
      ['x5u header', craft({ ...hdr, x5u: 'https://evil.example/cert.pem' }, good, key), 'forbidden_header'],
      ['x5c header', craft({ ...hdr, x5c: ['MIIB'] }, good, key), 'forbidden_header'],
      ['unknown crit', craft({ ...hdr, crit: ['exp'] }, good, key), 'forbidden_header'],
      ['b64 false', craft({ ...hdr, b64: false, crit: ['b64'] }, good, key), 'forbidden_header'],
      ['typ JWT', craft({ ...hdr, typ: 'JWT' }, good, key), 'forbidden_header'],
      ['header keys reordered', craft({ kid, alg: 'ES256', typ: TYP }, good, key), 'forbidden_header'],
      ['signed by another key under our kid', craft(hdr, good, attacker.privateKey), 'bad_signature'],
      [
        'DER signature instead of JWS r||s',
        craft(hdr, good, (input) => sign('sha256', input, key)),
        'bad_signature',
      ],
      ['oversized', `${craft(hdr, { ...good, pad: 'x'.repeat(5000) }, key)}`, 'too_large'],
      ['two parts', valid.split('.').slice(0, 2).join('.'), 'malformed'],
      ['four parts', `${valid}.e30`, 'malformed'],
      ['padded base64', `${valid}==`, 'malformed'],
      ['standard base64 alphabet', standardAlphabet(hdr, good, key), 'malformed'],
      ['payload not JSON', craft(hdr, 'not json' as unknown as Record<string, unknown>, key), 'malformed'],
      ['payload a JSON array', craft(hdr, [1, 2] as unknown as Record<string, unknown>, key), 'malformed'],
      [
        'backdated before the key existed',
        craft(hdr, claimsAt(now - 86_400_000, { exp: Math.floor(now / 1000) + 60 }), key),
        'lifetime_too_long',
      ],
      ['empty', '', 'malformed'],
    ];
    const failures: string[] = [];
    for (const [name, token, kind] of table) {
      const r = h.svc.verify(token);
      if (r.ok) failures.push(`${name}: ACCEPTED`);
      else if (r.kind !== kind)
        failures.push(`${name}: refused as ${r.kind} (${r.reason}), expected ${kind}`);
    }
    assert.deepEqual(failures, []);
  });

  it('accepts only the low-S form of a signature, and issues only that form', async () => {
    // ECDSA's (r, s) and (r, n - s) both verify; accepting both gives one token two spellings
    // (two cache keys, two audit fingerprints). Only s <= n/2 is accepted.
    const N = BigInt('0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551');
    const flip = (token: string): string => {
      const [h64, p64, s64] = token.split('.') as [string, string, string];
      const sig = Buffer.from(s64, 'base64url');
      const s = BigInt('0x' + sig.subarray(32).toString('hex'));
      const other = Buffer.from((N - s).toString(16).padStart(64, '0'), 'hex');
      return `${h64}.${p64}.${Buffer.concat([sig.subarray(0, 32), other]).toString('base64url')}`;
    };
    const high = (token: string): boolean => {
      const sig = Buffer.from(token.split('.')[2]!, 'base64url');
      return BigInt('0x' + sig.subarray(32).toString('hex')) > N / 2n;
    };
    for (let i = 0; i < 40; i++) {
      const t = (await h.svc.issue({ agent: 'agent-1', namespace: 'ci', capabilities: [] })).token;
      assert.equal(high(t), false, 'an issued token carries a high-S signature');
      const twin = flip(t);
      const r = h.svc.verify(twin);
      assert.equal(r.ok ? 'accepted' : r.kind, 'bad_signature', 'the high-S twin of a valid token verified');
    }
  });

  it('refuses a token changed in any byte (property)', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ';
    fc.assert(
      fc.property(
        fc.nat({ max: valid.length - 1 }),
        fc.constantFrom(...alphabet),
        fc.constantFrom('replace', 'insert', 'delete'),
        (i, ch, op) => {
          const changed =
            op === 'replace'
              ? valid.slice(0, i) + ch + valid.slice(i + 1)
              : op === 'insert'
                ? valid.slice(0, i) + ch + valid.slice(i)
                : valid.slice(0, i) + valid.slice(i + 1);
          if (changed === valid) return;
          const r = h.svc.verify(changed);
          assert.equal(r.ok, false, `${op} at ${i} with ${JSON.stringify(ch)} verified`);
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('refuses tokens with the clock outside their window, within the skew', async () => {
    const { kid, key } = h.signingKey();
    const now = h.clock.now();
    const hdr = { alg: 'ES256', typ: TYP, kid };
    const s = Math.floor(now / 1000);
    // 20 s ahead is inside the 30 s skew.
    assert.ok(h.svc.verify(craft(hdr, claimsAt(now, { iat: s + 20, nbf: s + 20, exp: s + 300 }), key)).ok);
    // Expired 20 s ago is inside it too; 40 s ago is not.
    const soon = craft(hdr, claimsAt(now, { exp: s + 280 }), key);
    const sooner = craft(hdr, claimsAt(now, { jti: 'other', exp: s + 260 }), key);
    h.clock.advance(300_000);
    await h.svc.resync(); // revocations older than identity.revocation_staleness would refuse everything
    try {
      assert.ok(h.svc.verify(soon).ok);
      const r = h.svc.verify(sooner);
      assert.equal(r.ok ? 'accepted' : r.kind, 'expired');
    } finally {
      h.clock.advance(-300_000);
      await h.svc.resync();
    }
  });
});
