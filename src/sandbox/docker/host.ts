// The Docker runtime's side of the Engine, shared by every container run of an installation:
// the Engine's client (loaded on first use), its fitness (the cgroupfs driver, a tmpfs for run
// files), image approval by digest, and the plan of a run's container. The run's lifecycle is
// docker/run.ts; SandboxService starts it like a bwrap run.

import { existsSync, statSync } from 'node:fs';
import { provisionKeyPath, readProvisionKey, signBody } from '../../core/provenance.js';
import { RampartError } from '../../core/errors.js';
import type { RunSpec } from '../runner.js';
import { dockerSeccompProfile } from '../seccomp.js';
import { containerBody } from './body.js';
import type { Engine } from './engine.js';
import { FILES_ROOT, runFiles } from '../secretfiles.js';
import { onTmpfs, type DockerHost } from './run.js';

/** A run's container on the Docker runtime, planned before it is created. */
export interface DockerPlan {
  /** The approved image's id. */
  readonly image: string;
  /** The Engine's create body. */
  readonly body: Record<string, unknown>;
}

export class DockerRuntime {
  private client: Engine | undefined;
  private ready: Promise<Omit<DockerHost, 'cgroups' | 'graceMs'>> | undefined;

  constructor(
    private readonly opts: {
      readonly socket: string;
      readonly images: readonly string[];
      /** The installation's cgroup parent's name. */
      readonly installation: string;
      /** The control plane's data directory, where its provisioning key is. */
      readonly dataDir: string;
    },
  ) {}

  /**
   * The container a run becomes (docker/body.ts), from an image approved by digest.
   * `token`: whether the run will be given one.
   */
  plan(spec: RunSpec, image: string, opts: { seccompExtra?: readonly string[]; token: boolean }): DockerPlan {
    const files = runFiles(FILES_ROOT, spec.id);
    const body = containerBody(spec, {
      image,
      cgroupParent: `/${this.opts.installation}/${spec.id}`,
      seccomp: dockerSeccompProfile({ allow: opts.seccompExtra ?? [] }),
      installation: this.opts.installation,
      files: { secrets: files.secrets, home: files.home, ...(opts.token ? { token: files.token } : {}) },
      deviceGroups: [...new Set(spec.devices.map((d) => statSync(d).gid))],
    });
    return { image, body };
  }

  /**
   * The image's id if it is approved by digest (sandbox.docker.images: its id, or one of its
   * repository digests); RAMPART_E_IMAGE_NOT_ALLOWED otherwise. The container is created from
   * the id, so a tag moved after this check cannot swap the image.
   */
  async approveImage(name: string): Promise<string> {
    const engine = await this.engine();
    // The Engine's own fitness is asked at the same time (one round trip fewer before create).
    void this.host().catch(() => undefined);
    const r = await engine.call<{ Id?: string; RepoDigests?: string[] }>(
      'GET',
      `/images/${encodeURIComponent(name)}/json`,
    );
    if (r.status === 404)
      throw new RampartError('RAMPART_E_IMAGE_NOT_ALLOWED', `image ${name} is not on this Docker Engine`);
    if (r.status !== 200 || typeof r.body.Id !== 'string')
      throw new RampartError(
        'RAMPART_E_RUNTIME',
        `Docker Engine: cannot inspect image ${name} (${r.status})`,
      );
    const digests = [r.body.Id, ...(r.body.RepoDigests ?? [])];
    if (!digests.some((d) => this.opts.images.includes(d)))
      throw new RampartError(
        'RAMPART_E_IMAGE_NOT_ALLOWED',
        `image ${name} (${r.body.Id}) is not approved: sandbox.docker.images lists images by digest`,
        { hint: `approve it by adding "${r.body.Id}" to sandbox.docker.images` },
      );
    return r.body.Id;
  }

  /** The Engine's socket. */
  get socket(): string {
    return this.opts.socket;
  }

  /** What Docker runs share; the Engine must keep cgroups the way kill and quarantine reach them. */
  host(): Promise<Omit<DockerHost, 'cgroups' | 'graceMs'>> {
    return (this.ready ??= this.check());
  }

  /**
   * The Engine's client, loaded on first use: node:http (which it uses) costs a bwrap run's start
   * several milliseconds it has no use for.
   */
  private async engine(): Promise<Engine> {
    const { Engine: Client } = await import('./engine.js');
    return (this.client ??= new Client({ socket: this.opts.socket }));
  }

  private async check(): Promise<Omit<DockerHost, 'cgroups' | 'graceMs'>> {
    const engine = await this.engine();
    const info = await engine.expect<{ CgroupDriver?: string }>([200], 'GET', '/info');
    if (info.CgroupDriver !== 'cgroupfs')
      throw new RampartError(
        'RAMPART_E_RUNTIME',
        `the Docker Engine at ${engine.socket} uses the ${info.CgroupDriver ?? 'unknown'} cgroup driver; Rampart's Docker runtime needs cgroupfs (its kill, freeze and quarantine act on the run's cgroup)`,
      );
    if (!onTmpfs(FILES_ROOT))
      throw new RampartError(
        'RAMPART_E_SANDBOX_UNAVAILABLE',
        `${FILES_ROOT} is not a tmpfs: secrets and tokens of Docker runs are kept only in memory`,
      );
    // With the control plane's provisioning key, every create body is signed, so the Docker
    // authorization plugin knows it for Rampart's (core/provenance.ts). Without one (no control
    // plane has run with this data directory) bodies go unsigned, and the plugin refuses them.
    const keyFile = provisionKeyPath(this.opts.dataDir);
    const key = existsSync(keyFile) ? readProvisionKey(keyFile) : undefined;
    return {
      engine,
      installation: this.opts.installation,
      filesRoot: FILES_ROOT,
      sign: (body, labels) => (key ? signBody(body, labels, key, Date.now()) : body),
    };
  }
}
