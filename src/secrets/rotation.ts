// Rotation of stored secrets: a new random value is stored as the next version, then made valid
// upstream by the secret's rotator (a command that reads it on stdin, or ALTER ROLE ... PASSWORD
// for a PostgreSQL role). If the rotator fails, the previous value is stored again as the newest
// version, so what runs are given always works upstream; the failure is on record. Running runs
// get the new version at their next renewal, which a rotation wakes at once (runs' refresh
// requests wait on it).
//
// `rotate --all` ("a leak is suspected"): every secret with a rotator is rotated, every dynamic
// credential's lease is revoked, and the answer lists the stored secrets nobody can rotate here
// (an API key of a forge: rotate it upstream, then `secret put`).

import { spawn } from 'node:child_process';
import pg from 'pg';
import { RampartError, messageOf } from '../core/errors.js';
import type { EventPublisher } from '../core/events.js';
import { readSecretText } from '../core/secretfile.js';
import type { RotationSettings } from '../core/settings.js';
import { randomAlnum } from './engines/postgres.js';
import type { SecretsService } from './service.js';

export interface RotationDeps {
  readonly secrets: SecretsService;
  readonly bus: EventPublisher;
  readonly settings: readonly RotationSettings[];
  /** Takes a slot so that one replica rotates a scheduled secret once: true for the first caller. */
  readonly claimSlot: (key: string) => Promise<boolean>;
  readonly now: () => number;
}

export interface RotateResult {
  readonly vault: string;
  readonly name: string;
  readonly version: number;
  readonly fingerprint: string;
}

const ROTATOR_TIMEOUT_MS = 30_000;

export class Rotations {
  readonly stats = { rotated: 0, failed: 0 };
  private readonly byName: ReadonlyMap<string, RotationSettings>;

  constructor(private readonly deps: RotationDeps) {
    this.byName = new Map(deps.settings.map((r) => [`${r.vault}/${r.name}`, r]));
  }

  has(vault: string, name: string): boolean {
    return this.byName.has(`${vault}/${name}`);
  }

  /** Rotates one secret now. Without a rotator configured for it, RAMPART_E_CONFLICT. */
  async rotate(
    vault: string,
    name: string,
    by: string,
    why: 'scheduled' | 'requested',
  ): Promise<RotateResult> {
    const r = this.byName.get(`${vault}/${name}`);
    if (!r)
      throw new RampartError(
        'RAMPART_E_CONFLICT',
        `secret ${vault}/${name} has no rotator (secrets.rotation): rotate it upstream, then rampart secret put`,
      );
    const previous = await this.deps.secrets
      .read(vault, name, { actor: `${by} (rotation)` })
      .catch(() => undefined);
    const value = Buffer.from(randomAlnum(r.length));
    const info = await this.deps.secrets.put(vault, name, value, by);
    try {
      await runRotator(r.rotator, value);
    } catch (e) {
      this.stats.failed++;
      // Upstream still has the old value: make it the newest again, so deliveries keep working.
      if (previous) await this.deps.secrets.put(vault, name, previous.value, `${by} (rotation rolled back)`);
      throw new RampartError(
        'RAMPART_E_SECRETS_ENGINE',
        `the rotator of ${vault}/${name} failed (the previous value is current again): ${messageOf(e).split(value.toString()).join('***')}`,
      );
    }
    this.stats.rotated++;
    await this.deps.bus.publish({
      type: 'secrets.rotated',
      severity: 'info',
      source: 'secrets',
      data: { vault, name, version: info.version, fingerprint: info.fingerprint, by, why },
    });
    return { vault, name, version: info.version, fingerprint: info.fingerprint };
  }

  /** Every secret with a rotator; failures are collected, not thrown. */
  async rotateAll(
    by: string,
  ): Promise<{ rotated: RotateResult[]; failed: { secret: string; error: string }[] }> {
    const rotated: RotateResult[] = [];
    const failed: { secret: string; error: string }[] = [];
    for (const r of this.deps.settings) {
      try {
        rotated.push(await this.rotate(r.vault, r.name, by, 'requested'));
      } catch (e) {
        failed.push({ secret: `${r.vault}/${r.name}`, error: messageOf(e) });
      }
    }
    return { rotated, failed };
  }

  /** Scheduled rotations that are due (one replica each, by slot); called by the component's timer. */
  async due(): Promise<void> {
    const now = this.deps.now();
    for (const r of this.deps.settings) {
      if (r.everyMs === undefined) continue;
      const latest = (await this.deps.secrets.versions(r.vault, r.name).catch(() => []))[0];
      if (latest && now - Date.parse(latest.created_at) < r.everyMs) continue;
      if (
        !(await this.deps.claimSlot(`secrets.rotation.${r.vault}/${r.name}.${Math.floor(now / r.everyMs)}`))
      )
        continue;
      await this.rotate(r.vault, r.name, 'rampart', 'scheduled').catch(() => undefined);
    }
  }
}

async function runRotator(rotator: RotationSettings['rotator'], value: Buffer): Promise<void> {
  if (rotator.kind === 'postgres') {
    const client = new pg.Client({
      connectionString: readSecretText(rotator.connectionFile, { purpose: 'rotation connection' }).trim(),
      connectionTimeoutMillis: 5000,
    });
    await client.connect();
    try {
      // ALTER ROLE takes no parameters; the value is letters and digits (randomAlnum).
      await client.query(`ALTER ROLE "${rotator.role}" PASSWORD '${value.toString()}'`);
    } finally {
      await client.end().catch(() => undefined);
    }
    return;
  }
  // The value on stdin, never argv or the environment; the rotator's output is not kept.
  await new Promise<void>((resolve, reject) => {
    const [file, ...args] = rotator.command;
    const child = spawn(file!, args, { stdio: ['pipe', 'ignore', 'pipe'], timeout: ROTATOR_TIMEOUT_MS });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-500)));
    child.on('error', reject);
    child.on('close', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`${file} exited ${code ?? signal}: ${stderr.trim()}`)),
    );
    child.stdin.on('error', () => undefined);
    child.stdin.end(value);
  });
}
