// The installation key: the root of trust that a database writer cannot reach.
//
// Replicas share a store, and keys are published there so every replica can check every other
// replica's work: workload-token keys (identity) and checkpoint keys (audit). A row in the store
// alone must not be enough to be trusted, or write access to the database forges any agent's
// token. So each published key carries a certificate: an Ed25519 signature, by the installation
// key, over exactly what the key is for and the fields that bound it (kid, public key, validity).
// The installation key lives in each replica's data directory (keys/installation.key, 0600; a new
// replica of the same installation gets a copy), never in the store.

import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  createHash,
  type KeyObject,
} from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalJson } from './canonical.js';
import { RampartError } from './errors.js';
import { readSecretFile, writeFileAtomic, writeSecretFile } from './secretfile.js';

/** What a certificate may be for: one purpose per kind of key, so one cannot stand for another. */
export type CertPurpose = 'identity-signing-key' | 'audit-checkpoint-key';

/** Checks certificates: the installation's public half. */
export interface CertVerifier {
  /** Short hex fingerprint of the installation's public key (what `meta` and errors name). */
  readonly fingerprint: string;
  verify(purpose: CertPurpose, fields: Readonly<Record<string, unknown>>, cert: string): boolean;
}

/** Issues certificates: the installation key itself. */
export interface Certifier extends CertVerifier {
  certify(purpose: CertPurpose, fields: Readonly<Record<string, unknown>>): string;
}

export function installationKeyPaths(dataDir: string): { key: string; pub: string } {
  return { key: join(dataDir, 'keys', 'installation.key'), pub: join(dataDir, 'keys', 'installation.pub') };
}

const message = (purpose: CertPurpose, fields: Readonly<Record<string, unknown>>): Buffer =>
  Buffer.from(`rampart-cert-v1\n${purpose}\n${canonicalJson(fields)}`, 'utf8');

function verifierFor(pub: KeyObject): CertVerifier {
  const raw = pub.export({ format: 'der', type: 'spki' });
  return {
    fingerprint: createHash('sha256').update(raw).digest('hex').slice(0, 16),
    verify(purpose, fields, cert) {
      const sig = Buffer.from(cert, 'base64');
      // One spelling per certificate: canonical base64 of exactly 64 bytes.
      if (sig.length !== 64 || sig.toString('base64') !== cert) return false;
      return verify(null, message(purpose, fields), pub, sig);
    },
  };
}

/** This replica's installation key, created on first start (with its public half beside it). */
export function loadOrCreateInstallationKey(dataDir: string): Certifier {
  const paths = installationKeyPaths(dataDir);
  if (!existsSync(paths.key)) {
    mkdirSync(join(dataDir, 'keys'), { recursive: true, mode: 0o700 });
    const { privateKey } = generateKeyPairSync('ed25519');
    writeSecretFile(paths.key, privateKey.export({ format: 'pem', type: 'pkcs8' }));
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(readSecretFile(paths.key, { purpose: 'installation key' }));
  } catch (e) {
    if (e instanceof RampartError) throw e;
    throw new RampartError('RAMPART_E_INSTALLATION_KEY', `${paths.key} is not an Ed25519 private key`);
  }
  if (key.asymmetricKeyType !== 'ed25519')
    throw new RampartError('RAMPART_E_INSTALLATION_KEY', `${paths.key} is not an Ed25519 private key`);
  const pub = createPublicKey(key);
  const pem = pub.export({ format: 'pem', type: 'spki' }).toString();
  if (!existsSync(paths.pub) || readFileSync(paths.pub, 'utf8') !== pem)
    writeFileAtomic(paths.pub, pem, 0o644);
  return {
    ...verifierFor(pub),
    certify: (purpose, fields) => sign(null, message(purpose, fields), key).toString('base64'),
  };
}

/**
 * The installation's public key from a data directory (or a file), for tools that only check:
 * `rampart audit verify`. Undefined when there is none.
 */
export function loadInstallationVerifier(dataDirOrFile: string): CertVerifier | undefined {
  const file = dataDirOrFile.endsWith('.pub') ? dataDirOrFile : installationKeyPaths(dataDirOrFile).pub;
  if (!existsSync(file)) return undefined;
  try {
    return verifierFor(createPublicKey(readFileSync(file, 'utf8')));
  } catch {
    throw new RampartError('RAMPART_E_INSTALLATION_KEY', `${file} is not an Ed25519 public key`);
  }
}
