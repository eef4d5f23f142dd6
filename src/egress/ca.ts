// The installation's own certificate authority, for hosts the egress proxy inspects: it signs a
// short-lived leaf for such a host when a run first connects to it, and runs trust it (its
// certificate is placed in every run; the key never leaves the data directory).
//
// ECDSA P-256 throughout: a leaf costs a key pair and one signature (milliseconds), where RSA
// 2048 would cost a prime search. Leaves are cached by host until an hour before they expire, so
// a connection to a host already seen costs a map lookup. Certificates are built with
// @peculiar/x509 (on WebCrypto), never by hand-written ASN.1.

import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createHash, randomBytes, webcrypto } from 'node:crypto';
import type { webcrypto as WebCrypto } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { createSecureContext, type SecureContext } from 'node:tls';
import { RampartError, messageOf } from '../core/errors.js';

type CryptoKey = WebCrypto.CryptoKey;

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const HOUR = 3_600_000;
/** A leaf lives a day and is replaced an hour before it ends. */
const LEAF_LIFETIME = 24 * HOUR;
const LEAF_MARGIN = HOUR;
/** The CA itself: five years (rotated by the operator, `rampart egress ca rotate`). */
const CA_LIFETIME = 5 * 365 * 24 * HOUR;
/** Leaves kept: past this, the least recently issued go first. */
const MAX_LEAVES = 4096;

export const CA_CERT_FILE = 'ca.crt';
export const CA_KEY_FILE = 'ca.key';

export interface CaStats {
  /** Leaves signed (cache misses). */
  issued: number;
  /** Connections served from the cache. */
  cached: number;
  rotations: number;
}

interface Loaded {
  readonly cert: x509.X509Certificate;
  readonly pem: string;
  readonly key: CryptoKey;
  readonly fingerprint: string;
}

interface Leaf {
  readonly context: Promise<SecureContext>;
  readonly renewAt: number;
}

/** The CA's certificate in PEM and its SHA-256 fingerprint (hex), as runs and operators see it. */
export interface CaCertificate {
  readonly pem: string;
  readonly fingerprint: string;
  readonly notAfter: string;
}

export class CertificateAuthority {
  readonly stats: CaStats = { issued: 0, cached: 0, rotations: 0 };
  private readonly leaves = new Map<string, Leaf>();

  private constructor(
    private readonly dir: string,
    private current: Loaded,
    private readonly now: () => number,
  ) {}

  /**
   * The CA kept in `dir` (DATA/egress/ca), made on first use. A key readable by anyone but its
   * owner is refused, as ssh refuses one: it may have been copied.
   */
  static async open(dir: string, now: () => number = Date.now): Promise<CertificateAuthority> {
    x509.cryptoProvider.set(webcrypto as never);
    const keyFile = join(dir, CA_KEY_FILE);
    const loaded = existsSync(keyFile) ? await load(dir) : await create(dir, now());
    return new CertificateAuthority(dir, loaded, now);
  }

  get certificate(): CaCertificate {
    return {
      pem: this.current.pem,
      fingerprint: this.current.fingerprint,
      notAfter: this.current.cert.notAfter.toISOString(),
    };
  }

  /** Leaves in the cache. */
  get cachedLeaves(): number {
    return this.leaves.size;
  }

  /**
   * A TLS context presenting a leaf for `host` (a DNS name or an address): from the cache, or
   * signed now. Callers ask only for hosts marked inspect.
   */
  leaf(host: string): Promise<SecureContext> {
    const at = this.now();
    const hit = this.leaves.get(host);
    if (hit && hit.renewAt > at) {
      this.stats.cached++;
      return hit.context;
    }
    if (this.leaves.size >= MAX_LEAVES) this.leaves.delete(this.leaves.keys().next().value!);
    const context = this.issue(host, at);
    this.leaves.delete(host);
    this.leaves.set(host, { context, renewAt: at + LEAF_LIFETIME - LEAF_MARGIN });
    // A failed issuance is not kept: the next connection tries again.
    context.catch(() => this.leaves.delete(host));
    this.stats.issued++;
    return context;
  }

  /**
   * A new key and certificate replace the current ones (the old files are kept beside them as
   * .previous); every cached leaf is dropped, so the next connection to each host gets one
   * signed by the new key. Runs started afterwards trust the new certificate.
   */
  async rotate(): Promise<CaCertificate> {
    const next = await create(this.dir, this.now(), true);
    this.current = next;
    this.leaves.clear();
    this.stats.rotations++;
    return this.certificate;
  }

  private async issue(host: string, at: number): Promise<SecureContext> {
    const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
    const ip = isIP(host.replace(/^\[|\]$/g, '')) !== 0;
    const name = ip ? host.replace(/^\[|\]$/g, '') : host;
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: `CN=${name}`,
      issuer: this.current.cert.subject,
      // An hour back: a client whose clock is a little behind still accepts it.
      notBefore: new Date(at - HOUR),
      notAfter: new Date(at + LEAF_LIFETIME),
      signingKey: this.current.key,
      publicKey: keys.publicKey,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension([{ type: ip ? 'ip' : 'dns', value: name }]),
        await x509.AuthorityKeyIdentifierExtension.create(this.current.cert),
      ],
    });
    const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
    return createSecureContext({
      key: pem('PRIVATE KEY', Buffer.from(pkcs8)),
      cert: cert.toString('pem'),
      minVersion: 'TLSv1.2',
    });
  }
}

function serial(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f; // positive
  return b.toString('hex');
}

function pem(label: string, der: Buffer): string {
  const body = der.toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${body}${body.endsWith('\n') ? '' : '\n'}-----END ${label}-----\n`;
}

function fingerprintOf(cert: x509.X509Certificate): string {
  return createHash('sha256').update(Buffer.from(cert.rawData)).digest('hex');
}

async function create(dir: string, at: number, rotating = false): Promise<Loaded> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const id = randomBytes(4).toString('hex');
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=Rampart egress CA ${id}, O=Rampart`,
    notBefore: new Date(at - HOUR),
    notAfter: new Date(at + CA_LIFETIME),
    keys: keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const certPem = cert.toString('pem') + '\n';
  const keyFile = join(dir, CA_KEY_FILE);
  const certFile = join(dir, CA_CERT_FILE);
  if (rotating) {
    renameSync(keyFile, `${keyFile}.previous`);
    renameSync(certFile, `${certFile}.previous`);
  }
  // Written aside and renamed: a crash leaves the old pair or the new one, never half of each.
  writeFileSync(`${keyFile}.new`, pem('PRIVATE KEY', pkcs8), { mode: 0o600 });
  chmodSync(`${keyFile}.new`, 0o600);
  writeFileSync(`${certFile}.new`, certPem, { mode: 0o644 });
  renameSync(`${keyFile}.new`, keyFile);
  renameSync(`${certFile}.new`, certFile);
  return { cert, pem: certPem, key: keys.privateKey, fingerprint: fingerprintOf(cert) };
}

async function load(dir: string): Promise<Loaded> {
  const keyFile = join(dir, CA_KEY_FILE);
  const mode = statSync(keyFile).mode & 0o777;
  if ((mode & 0o077) !== 0)
    throw new RampartError(
      'RAMPART_E_CONFIG_INVALID',
      `${keyFile}: the egress CA key is readable by others (mode ${mode.toString(8)}); it may have been copied: move the directory aside (a new CA is made at start) and let runs pick up the new certificate`,
    );
  try {
    const certPem = readFileSync(join(dir, CA_CERT_FILE), 'utf8');
    const cert = new x509.X509Certificate(certPem);
    const der = Buffer.from(readFileSync(keyFile, 'utf8').replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
    const key = await webcrypto.subtle.importKey('pkcs8', der, ALG, false, ['sign']);
    return { cert, pem: certPem, key: key, fingerprint: fingerprintOf(cert) };
  } catch (e) {
    throw new RampartError(
      'RAMPART_E_CONFIG_INVALID',
      `${dir}: the egress CA cannot be read (${messageOf(e)}); move the directory aside to make a new one`,
    );
  }
}
