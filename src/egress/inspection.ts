// Builds the interceptor from the configuration: the inspect list (with the injection rules'
// hosts), the injection rules compiled to header writers, the CA opened (made on first start),
// the origins' extra trust anchors read. Every problem is a configuration error at start, never
// a surprise on the first request.

import { readFileSync } from 'node:fs';
import { RampartError, messageOf } from '../core/errors.js';
import { egressCaDir } from '../core/paths.js';
import type { EgressInjection, EgressSettings } from '../core/settings.js';
import { CertificateAuthority } from './ca.js';
import type { Scanner } from './dlp.js';
import { HostMatcher } from './hosts.js';
import { Interceptor, type InterceptDeps } from './intercept.js';
import type { Injection } from './outbound.js';
import type { EgressCaller } from './types.js';

/** A credential for a run, decided as secret.use (context: host and path prefix). */
export type CredentialSource = (
  caller: EgressCaller,
  secret: { vault: string; name: string },
  context: { host: string; path: string },
) => Promise<{ value: Buffer; fingerprint: string }>;

export interface InspectionDeps {
  readonly settings: EgressSettings;
  readonly dataDir: string;
  readonly scanner: Scanner;
  readonly credential?: CredentialSource;
  readonly decide?: InterceptDeps['decide'];
  readonly seen?: InterceptDeps['seen'];
  readonly record: InterceptDeps['record'];
}

function writer(r: EgressInjection): (secret: string) => string {
  if (r.scheme === 'bearer') return (s) => `Bearer ${s}`;
  if (r.scheme === 'basic') return (s) => `Basic ${Buffer.from(`${r.username}:${s}`).toString('base64')}`;
  return (s) => s;
}

/** The interceptor, or undefined when nothing is inspected (every tunnel stays opaque). */
export async function startInspection(
  deps: InspectionDeps,
): Promise<{ interceptor: Interceptor; ca: CertificateAuthority } | undefined> {
  const { settings } = deps;
  if (settings.inspect.length === 0 && settings.inject.length === 0) return undefined;
  let hosts: HostMatcher;
  let injections: InterceptDeps['injections'];
  let originCa: string[] | undefined;
  try {
    hosts = new HostMatcher([
      ...settings.inspect.map((pattern, i) => ({ pattern, source: `egress.inspect[${i}]` })),
      ...settings.inject.map((r) => ({ pattern: r.host, source: r.source })),
    ]);
    injections = settings.inject.map((r) => ({
      host: new HostMatcher([{ pattern: r.host, source: r.source }]),
      injection: {
        source: r.source,
        pathPrefix: r.pathPrefix,
        header: r.header,
        strip: r.strip,
        format: writer(r),
        secret: `${r.vault}/${r.name}`,
      } satisfies Injection,
    }));
    if (settings.originCaFile) {
      const text = readFileSync(settings.originCaFile, 'utf8');
      originCa = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
      if (originCa.length === 0) throw new Error(`${settings.originCaFile} holds no PEM certificate`);
    }
  } catch (e) {
    throw new RampartError('RAMPART_E_CONFIG_INVALID', `egress: ${messageOf(e)}`);
  }
  const ca = await CertificateAuthority.open(egressCaDir(deps.dataDir));
  const byName = new Map(settings.inject.map((r) => [r.source, r]));
  const credential = deps.credential;
  const interceptor = new Interceptor({
    ca,
    hosts,
    injections,
    scanner: deps.scanner,
    ...(originCa ? { originCa } : {}),
    maxBodyBytes: settings.inspectMaxBody,
    ...(deps.decide ? { decide: deps.decide } : {}),
    credential: async (caller, injection, host) => {
      // No secrets broker here: nothing is injected, and the request is refused.
      if (!credential) throw new Error('the secrets broker is not running');
      const r = byName.get(injection.source)!;
      const c = await credential(caller, { vault: r.vault, name: r.name }, { host, path: r.pathPrefix });
      return { value: c.value.toString('utf8').trim(), fingerprint: c.fingerprint };
    },
    ...(deps.seen ? { seen: deps.seen } : {}),
    record: deps.record,
  });
  return { interceptor, ca };
}
