// Fresh key pairs for tests, made from their encodings. Node 20 deadlocks when a garbage
// collection runs while a KeyObject that generateKeyPairSync returned is exported to JWK: the
// export holds the key's lock while it allocates, and the key-generation job behind the key,
// collected then, takes the same lock in its destructor. Seen as a CI run hung in
// test/identity/trust.test.ts (main thread in KeyGenJob's destructor under
// KeyObjectHandle::ExportJWK), and reproduced here in a loop with a small young generation:
// hung at 0% CPU every time, where keys decoded from PEM (no job behind them) ran to the end.
// Rampart itself never exports a generated KeyObject to JWK (its keys are written as PEM and
// read back; jose's WebCrypto keys do not deadlock in the same loop).

import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';

export type KeyKind =
  | { readonly type: 'ed25519' }
  | { readonly type: 'ec'; readonly namedCurve: string }
  | { readonly type: 'rsa'; readonly modulusLength: number };

export function keyPair(kind: KeyKind): { privateKey: KeyObject; publicKey: KeyObject } {
  const privateKeyEncoding = { type: 'pkcs8', format: 'pem' } as const;
  const publicKeyEncoding = { type: 'spki', format: 'pem' } as const;
  const pem: { privateKey: string; publicKey: string } =
    kind.type === 'ed25519'
      ? generateKeyPairSync('ed25519', { privateKeyEncoding, publicKeyEncoding })
      : kind.type === 'ec'
        ? generateKeyPairSync('ec', { namedCurve: kind.namedCurve, privateKeyEncoding, publicKeyEncoding })
        : generateKeyPairSync('rsa', {
            modulusLength: kind.modulusLength,
            privateKeyEncoding,
            publicKeyEncoding,
          });
  return { privateKey: createPrivateKey(pem.privateKey), publicKey: createPublicKey(pem.publicKey) };
}
