// The secrets broker's storage and reads: sealed, versioned secrets in vaults (the store holds
// only envelopes, seal.ts), every value read by or for an agent decided by policy (secret.read)
// first, and every put, read, refusal and removal on record with the value's HMAC fingerprint,
// never the value. Values leave only as Buffers to the caller that asked (a route that writes
// them to its client, `rampart run` that puts them on the run's tmpfs).

import { RampartError } from '../core/errors.js';
import type { Auditor } from '../core/types.js';
import type { SecretStore, StoredSecret } from '../store/types.js';
import type { Sealer } from './seal.js';

/** Vault and secret names: what a path segment and a file name may safely be. */
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** Largest value kept (a certificate chain fits; a file that is not a secret does not). */
export const MAX_SECRET_BYTES = 64 * 1024;

/** The policy decision point's secret.read for an agent. Throwing denies. */
export type SecretDecider = (
  agent: string,
  vault: string,
  name: string,
  context: Readonly<Record<string, unknown>>,
  action: SecretAction,
) => Promise<{ allow: boolean; reason: string }>;

/**
 * secret.read: the value goes to the agent. secret.use: the control plane uses it on the agent's
 * behalf (the git gate's upstream credential), and the agent never sees it.
 */
export type SecretAction = 'secret.read' | 'secret.use';

/** What is said of a secret without its value. */
export interface SecretInfo {
  readonly vault: string;
  readonly name: string;
  readonly version: number;
  readonly created_at: string;
  readonly created_by: string;
  readonly fingerprint: string;
}

export interface SecretsDeps {
  readonly store: SecretStore;
  readonly sealer: Sealer;
  readonly auditor: Auditor;
  readonly decide: SecretDecider;
  readonly now: () => number;
}

export class SecretsService {
  readonly stats = { put: 0, read: 0, denied: 0 };
  private sealer: Sealer;

  constructor(private readonly deps: SecretsDeps) {
    this.sealer = deps.sealer;
  }

  /** Seals a credential kept with a lease (a GitHub token, for its revocation) under the KEK. */
  sealHandle(value: Buffer, aad: string): string {
    return this.sealer.seal(value, aad);
  }

  openHandle(sealed: string, aad: string): Buffer {
    return this.sealer.open(sealed, aad);
  }

  /** The current key-encryption key's id. */
  get kek(): string {
    return this.sealer.current;
  }

  /**
   * Loads the KEK file again (a new first line is the new current key) and moves every version
   * wrapped by another key onto it, a page at a time, each by compare-and-set (a version written
   * meanwhile is not overwritten). Requests keep being served throughout: no downtime.
   */
  async rewrap(
    load: () => Sealer,
    actor: string,
  ): Promise<{ kek: string; rewrapped: number; current: number }> {
    this.sealer = load();
    let after: { vault: string; name: string; version: number } | undefined;
    let rewrapped = 0;
    let current = 0;
    for (;;) {
      const page = await this.deps.store.page(after, 200);
      for (const row of page) {
        const next = this.sealer.rewrap(row.sealed, aad(row.vault, row.name, row.version));
        if (next === undefined) current++;
        else if (await this.deps.store.reseal(row.vault, row.name, row.version, row.sealed, next))
          rewrapped++;
      }
      if (page.length < 200) break;
      const last = page[page.length - 1]!;
      after = { vault: last.vault, name: last.name, version: last.version };
    }
    await this.deps.auditor.record({
      actor,
      action: 'secret.rewrap',
      target: 'secrets',
      outcome: 'success',
      details: { kek: this.sealer.current, rewrapped, current },
    });
    return { kek: this.sealer.current, rewrapped, current };
  }

  /** Adds a new version; resolves with what is said of it. */
  async put(vault: string, name: string, value: Buffer, actor: string): Promise<SecretInfo> {
    checkNames(vault, name);
    if (value.length === 0)
      throw new RampartError('RAMPART_E_BAD_REQUEST', `secret ${vault}/${name}: the value is empty`);
    if (value.length > MAX_SECRET_BYTES)
      throw new RampartError(
        'RAMPART_E_BODY_TOO_LARGE',
        `secret ${vault}/${name}: the value is ${value.length} bytes; at most ${MAX_SECRET_BYTES}`,
      );
    const fingerprint = this.deps.auditor.fingerprint(value);
    const version = await this.deps.store.add(
      vault,
      name,
      (v) => ({ sealed: this.sealer.seal(value, aad(vault, name, v)), fingerprint }),
      this.deps.now(),
      actor,
    );
    this.stats.put++;
    await this.deps.auditor.record({
      actor,
      action: 'secret.put',
      target: `secret:${vault}/${name}`,
      outcome: 'success',
      details: { version, fingerprint },
    });
    return info((await this.deps.store.get(vault, name, version))!);
  }

  /**
   * A value, for `actor`. `agent`: whom it is for (a run's agent): policy decides secret.read for
   * it first, and a denial is RAMPART_E_FORBIDDEN with the policy's reason. Without an agent the
   * caller is an operator with the secrets:read scope, and the read is recorded as theirs.
   */
  async read(
    vault: string,
    name: string,
    opts: ReadOptions & { version?: number },
  ): Promise<{ info: SecretInfo; value: Buffer }> {
    checkNames(vault, name);
    const details = detailsOf(opts);
    if (opts.agent !== undefined) await this.authorize(vault, name, { ...opts, agent: opts.agent });
    const row = await this.deps.store.get(vault, name, opts.version);
    if (!row)
      throw new RampartError(
        'RAMPART_E_NOT_FOUND',
        `no secret ${vault}/${name}${opts.version === undefined ? '' : ` version ${opts.version}`}`,
      );
    const value = this.sealer.open(row.sealed, aad(vault, name, row.version));
    this.stats.read++;
    await this.deps.auditor.record({
      actor: opts.actor,
      action: opts.action ?? 'secret.read',
      target: `secret:${vault}/${name}`,
      outcome: 'success',
      details: { ...details, version: row.version, fingerprint: row.fingerprint },
    });
    return { info: info(row), value };
  }

  /**
   * Asks policy whether `opts.agent` may read VAULT/NAME (secret.read), for every delivery: a
   * stored secret's read, a dynamic credential's issue, a lease renewed onto a new version. A
   * denial (or a decision that failed) is on record and throws RAMPART_E_FORBIDDEN.
   */
  async authorize(vault: string, name: string, opts: ReadOptions & { agent: string }): Promise<void> {
    let d: { allow: boolean; reason: string };
    try {
      d = await this.deps.decide(
        opts.agent,
        vault,
        name,
        {
          ...opts.context,
          ...(opts.run ? { run: opts.run } : {}),
          ...(opts.purpose ? { purpose: opts.purpose } : {}),
        },
        opts.action ?? 'secret.read',
      );
    } catch (e) {
      d = { allow: false, reason: `the policy decision failed: ${(e as Error).message}` };
    }
    if (d.allow) return;
    this.stats.denied++;
    await this.deps.auditor.record({
      actor: opts.actor,
      action: opts.action ?? 'secret.read',
      target: `secret:${vault}/${name}`,
      outcome: 'denied',
      details: { ...detailsOf(opts), reason: d.reason },
    });
    throw new RampartError(
      'RAMPART_E_FORBIDDEN',
      `agent ${opts.agent} may not ${opts.action === 'secret.use' ? 'use' : 'read'} secret ${vault}/${name}: ${d.reason || 'denied by policy'}`,
    );
  }

  /** The latest version's number, or undefined when there is no such secret (no value read). */
  async latest(vault: string, name: string): Promise<number | undefined> {
    return (await this.deps.store.get(vault, name))?.version;
  }

  async list(vault?: string): Promise<SecretInfo[]> {
    if (vault !== undefined) checkNames(vault, 'x');
    return (await this.deps.store.list(vault)).map(info);
  }

  async versions(vault: string, name: string): Promise<SecretInfo[]> {
    checkNames(vault, name);
    const rows = await this.deps.store.versions(vault, name);
    if (rows.length === 0) throw new RampartError('RAMPART_E_NOT_FOUND', `no secret ${vault}/${name}`);
    return rows.map(info);
  }

  /** Removes every version. */
  async remove(vault: string, name: string, actor: string): Promise<number> {
    checkNames(vault, name);
    const n = await this.deps.store.remove(vault, name);
    if (n === 0) throw new RampartError('RAMPART_E_NOT_FOUND', `no secret ${vault}/${name}`);
    await this.deps.auditor.record({
      actor,
      action: 'secret.remove',
      target: `secret:${vault}/${name}`,
      outcome: 'success',
      details: { versions: n },
    });
    return n;
  }

  /**
   * Refuses to start on a KEK that cannot open what the store holds: the newest version of the
   * first secret listed is opened once (a missing or wrong KEK file is found now, not at a run).
   */
  async check(): Promise<void> {
    const first = (await this.deps.store.list())[0];
    if (first) this.sealer.open(first.sealed, aad(first.vault, first.name, first.version));
  }
}

/** What a sealed value is bound to: moved to another secret or version, it does not open. */
function aad(vault: string, name: string, version: number): string {
  return `${vault}/${name}#${version}`;
}

/** Who reads, for whom, and under which lease (recorded with the read). */
export interface ReadOptions {
  readonly actor: string;
  readonly agent?: string;
  readonly run?: string;
  readonly lease?: string;
  /** secret.read unless said (recorded and decided as this action). */
  readonly action?: SecretAction;
  /** What it is used for (secret.use), recorded and given to policy as context.purpose. */
  readonly purpose?: string;
  /** More for policy (secret.use by the egress proxy: the host and path prefix), recorded too. */
  readonly context?: Readonly<Record<string, string>>;
}

function detailsOf(opts: ReadOptions): Record<string, string> {
  return {
    ...(opts.agent ? { agent: opts.agent } : {}),
    ...(opts.run ? { run: opts.run } : {}),
    ...(opts.lease ? { lease: opts.lease } : {}),
    ...(opts.purpose ? { purpose: opts.purpose } : {}),
    ...opts.context,
  };
}

export function checkNames(vault: string, name: string): void {
  for (const [what, v] of [
    ['vault', vault],
    ['secret name', name],
  ] as const)
    if (!NAME_RE.test(v))
      throw new RampartError(
        'RAMPART_E_BAD_REQUEST',
        `invalid ${what} "${v.slice(0, 64)}": letters, digits, ".", "_" and "-", starting with a letter or digit, at most 128`,
      );
}

function info(r: StoredSecret): SecretInfo {
  return {
    vault: r.vault,
    name: r.name,
    version: r.version,
    created_at: new Date(r.createdAt).toISOString(),
    created_by: r.createdBy,
    fingerprint: r.fingerprint,
  };
}
