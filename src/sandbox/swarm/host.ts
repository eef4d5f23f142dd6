// The Swarm runtime's side of the Engine: the node must be a manager of an active swarm, keep
// cgroups the way Rampart reaches them (the Docker runtime's checks), and give every container
// what the service API cannot: Rampart's seccomp profile as the daemon's default, read back from
// the file the daemon names and compared with the profile Rampart compiles. (no-new-privileges,
// which the Engine does not report, is checked on every task's process: swarm/run.ts.)

import { existsSync, readFileSync, statSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { RampartError } from '../../core/errors.js';
import type { RunSpec } from '../runner.js';
import { dockerSeccompProfile } from '../seccomp.js';
import type { DockerRuntime } from '../docker/host.js';
import { runFiles } from '../secretfiles.js';
import { serviceSpec } from './spec.js';
import { removeAll, type SwarmHost } from './run.js';
import { LABEL_INSTALLATION, LABEL_RUN } from '../docker/body.js';

/** A run's service on the Swarm runtime, planned before anything exists. */
export interface SwarmPlan {
  readonly image: string;
  /** The Engine's ServiceSpec (secret ids are filled in once the secrets exist). */
  readonly body: Record<string, unknown>;
}

const START_TIMEOUT_MS = 60_000;

export class SwarmRuntime {
  private ready: Promise<Omit<SwarmHost, 'cgroups' | 'graceMs'> & { node: string }> | undefined;

  constructor(private readonly docker: DockerRuntime) {}

  /**
   * The service a run becomes (swarm/spec.ts). A profile that adds syscalls is refused: a
   * service cannot have a seccomp profile of its own, and the node's is Rampart's baseline.
   */
  async plan(
    spec: RunSpec,
    image: string,
    opts: { seccompExtra?: readonly string[]; token: boolean; bridge: string },
  ): Promise<SwarmPlan> {
    if ((opts.seccompExtra ?? []).length > 0)
      throw new RampartError(
        'RAMPART_E_RUNTIME',
        `the profile adds syscalls (${opts.seccompExtra!.join(', ')}), which a Swarm service cannot be given: its seccomp profile is the node's (use the docker runtime)`,
      );
    const host = await this.host();
    const files = runFiles(host.filesRoot, spec.id);
    const body = serviceSpec(spec, {
      image,
      installation: host.installation,
      node: host.node,
      network: `rampart-${spec.id}`,
      secrets: [...spec.secrets.keys()].map((file) => ({ id: '', name: `rampart-${spec.id}-${file}`, file })),
      files: {
        gate: `${files.dir}/gate`,
        bridge: opts.bridge,
        ...(opts.token ? { token: files.token } : {}),
      },
      deviceGroups: [...new Set(spec.devices.map((d) => statSync(d).gid))],
    });
    return { image, body };
  }

  /** What Swarm runs share, once the node is found fit (fail closed: any doubt is an error). */
  host(): Promise<Omit<SwarmHost, 'cgroups' | 'graceMs'> & { node: string }> {
    const ready = (this.ready ??= this.check());
    // A node found unfit is asked again next time (it may have been fixed meanwhile).
    ready.catch(() => (this.ready = undefined));
    return ready;
  }

  /**
   * Removes what a run whose runner died left on the Engine: its container (docker) or its
   * service, network and secrets (swarm), found by the run's and this installation's labels.
   * Best effort, and only where an Engine is: a bwrap-only host has nothing to sweep.
   */
  async sweep(runId: string, installation: string): Promise<void> {
    if (!existsSync(this.docker.socket)) return;
    const engine = (await this.docker.host().catch(() => undefined))?.engine;
    if (!engine) return;
    const filter = encodeURIComponent(
      JSON.stringify({ label: [`${LABEL_RUN}=${runId}`, `${LABEL_INSTALLATION}=${installation}`] }),
    );
    const ids = async (path: string, key: 'ID' | 'Id'): Promise<string[]> => {
      const r = await engine.call<Record<string, string>[]>('GET', `${path}?all=1&filters=${filter}`);
      return r.status === 200 && Array.isArray(r.body) ? r.body.map((x) => x[key]!).filter(Boolean) : [];
    };
    const [services, containers, networks, secrets] = await Promise.all([
      ids('/services', 'ID'),
      ids('/containers/json', 'Id'),
      ids('/networks', 'Id'),
      ids('/secrets', 'ID'),
    ]);
    for (const c of containers)
      await engine.call('DELETE', `/containers/${c}?force=1&v=1`).catch(() => undefined);
    for (const service of services)
      await removeAll(
        engine,
        { service, secrets: [], ...(networks[0] ? { network: networks[0] } : {}) },
        () => undefined,
      );
    await removeAll(engine, { secrets, ...(networks[0] ? { network: networks[0] } : {}) }, () => undefined);
  }

  private async check(): Promise<Omit<SwarmHost, 'cgroups' | 'graceMs'> & { node: string }> {
    const docker = await this.docker.host();
    const info = await docker.engine.expect<{
      Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean; NodeID?: string };
      SecurityOptions?: string[];
    }>([200], 'GET', '/info');
    const sw = info.Swarm;
    if (sw?.LocalNodeState !== 'active' || !sw.ControlAvailable || !sw.NodeID)
      throw new RampartError(
        'RAMPART_E_RUNTIME',
        `the Docker Engine at ${docker.engine.socket} is not a manager of an active swarm (${sw?.LocalNodeState ?? 'no swarm'})`,
        { hint: 'docker swarm init --advertise-addr 127.0.0.1' },
      );
    checkSeccompDefault(info.SecurityOptions ?? []);
    return { ...docker, node: sw.NodeID, startTimeoutMs: START_TIMEOUT_MS };
  }
}

/**
 * The daemon's default seccomp profile must be Rampart's: named in /info as a file, and that
 * file, read here, the same profile Rampart compiles (the daemon reads it at start; a file
 * changed since is caught on the task's process only as "has a filter", so compare now).
 */
export function checkSeccompDefault(securityOptions: readonly string[]): void {
  const opt = securityOptions.find((o) => o.startsWith('name=seccomp'));
  const profile = /(?:^|,)profile=([^,]+)/.exec(opt ?? '')?.[1];
  const fix =
    'write `rampart harden --seccomp-profile` to a file, name it as "seccomp-profile" in daemon.json with "no-new-privileges": true, and restart dockerd';
  if (!profile || profile === 'default' || profile === 'unconfined')
    throw new RampartError(
      'RAMPART_E_RUNTIME',
      `the node's default seccomp profile is ${profile ?? 'absent'}, not Rampart's: a Swarm service cannot be given one of its own`,
      { hint: fix },
    );
  let theirs: unknown;
  try {
    theirs = JSON.parse(readFileSync(profile, 'utf8'));
  } catch (e) {
    throw new RampartError(
      'RAMPART_E_RUNTIME',
      `cannot read the node's seccomp profile ${profile}: ${(e as NodeJS.ErrnoException).code ?? 'not JSON'}`,
      { hint: fix },
    );
  }
  if (!isDeepStrictEqual(theirs, JSON.parse(dockerSeccompProfile())))
    throw new RampartError(
      'RAMPART_E_RUNTIME',
      `the node's default seccomp profile ${profile} is not Rampart's (this version's)`,
      { hint: fix },
    );
}
