// The container a run becomes on the Docker runtime: the Engine's create body, built from the
// same RunSpec a bubblewrap sandbox is built from, with the baseline the caller cannot talk it out
// of. Pure: the lifecycle (docker/run.ts) creates, starts and ends it.
//
// What the body guarantees, and why each setting is there:
// - the run's own host uid and gid (no user namespace: to the kernel the container's processes
//   are that unprivileged user, as in a bwrap sandbox), every capability dropped,
//   no-new-privileges, Rampart's seccomp profile (the sandbox's allow-list as Docker JSON);
// - read-only root, with private tmpfs for /tmp and the run's home; no network (NetworkMode none)
//   but the run's egress channel, a unix socket bound in, reached through the bridge on the
//   container's own loopback;
// - its own PID, IPC and UTS namespaces, no host paths but the workspace and Rampart's read-only
//   files (secrets, token, channel), no devices but the profile's;
// - memory (no swap), CPU and process limits, and the run's cgroup as parent, so every kill,
//   freeze and quarantine that works on a bwrap run works on the container, and the run's
//   limits hold for the container as a whole;
// - log driver "none": the Engine stores nothing of what the run prints.

import {
  EGRESS_DIR,
  EGRESS_PORT,
  EGRESS_SOCKET,
  HOME,
  runEnv,
  SECRETS_DIR,
  TOKEN_PATH,
  WORKSPACE,
  type RunSpec,
} from '../runner.js';
/** Where the egress bridge is bound inside (static: it runs in any image). */
export const DOCKER_BRIDGE = '/run/rampart/bridge';

/** Host paths of a run's Rampart files, bound read-only into its container. */
export interface RunFiles {
  /** Directory of 0400 secret files, bound at /run/secrets. */
  readonly secrets: string;
  /** The workload token file, bound at /run/rampart/token. */
  readonly token?: string;
  /** Directory of the files planted in the run's home (honeytokens), each bound under HOME. */
  readonly home: string;
}

export interface BodyOptions {
  /** The image's id (sha256:...): what was approved, whatever its tags say later. */
  readonly image: string;
  /** The run's cgroup, as the Engine's CgroupParent (/<installation parent>/<run id>). */
  readonly cgroupParent: string;
  /** Rampart's seccomp profile as Docker JSON. */
  readonly seccomp: string;
  /** The installation (its cgroup parent's name), labelled on every container it starts. */
  readonly installation: string;
  readonly files: RunFiles;
  /** Host gids of the profile's devices (the run's user joins them to open the device). */
  readonly deviceGroups: readonly number[];
}

const LIMIT_MARGIN_BYTES = 4 << 20;
const LIMIT_MARGIN_PIDS = 4;

/** Labels every container Rampart starts carries. */
export const LABEL_RUN = 'io.rampart.run';
export const LABEL_AGENT = 'io.rampart.agent';
export const LABEL_INSTALLATION = 'io.rampart.installation';

export function containerBody(spec: RunSpec, o: BodyOptions): Record<string, unknown> {
  const env = runEnv(spec, o.files.token !== undefined);
  const binds = [`${spec.workspace}:${WORKSPACE}:rw`];
  if (spec.secrets.size > 0) binds.push(`${o.files.secrets}:${SECRETS_DIR}:ro`);
  if (o.files.token) binds.push(`${o.files.token}:${TOKEN_PATH}:ro`);
  if (spec.egress)
    binds.push(`${spec.egress.dir}:${EGRESS_DIR}:ro`, `${spec.egress.bridge}:${DOCKER_BRIDGE}:ro`);
  for (const p of spec.readOnly) binds.push(`${p}:${p}:ro`);
  // Under the home's tmpfs (the Engine mounts a parent before what is under it), each top entry
  // whole: a directory keeps its own mode and owner (the Engine would make a bare one root's).
  const tops = new Set([...(spec.homeFiles?.keys() ?? [])].map((p) => p.split('/')[0]!));
  for (const top of tops) binds.push(`${o.files.home}/${top}:${HOME}/${top}:ro`);
  const wrapper = spec.egress
    ? [DOCKER_BRIDGE, String(EGRESS_PORT), `${EGRESS_DIR}/${EGRESS_SOCKET}`, '--']
    : [];
  const tmpfs = `uid=${spec.uid},gid=${spec.uid}`;
  return {
    Image: o.image,
    Entrypoint: [...wrapper, ...spec.command].slice(0, 1),
    Cmd: [...wrapper, ...spec.command].slice(1),
    User: `${spec.uid}:${spec.uid}`,
    Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    WorkingDir: WORKSPACE,
    Hostname: 'sandbox',
    Labels: {
      [LABEL_RUN]: spec.id,
      [LABEL_AGENT]: spec.agent,
      [LABEL_INSTALLATION]: o.installation,
    },
    AttachStdout: true,
    AttachStderr: true,
    HostConfig: {
      Binds: binds,
      NetworkMode: 'none',
      ReadonlyRootfs: true,
      Tmpfs: { '/tmp': `${tmpfs},mode=1777`, [HOME]: `${tmpfs},mode=0700` },
      CapDrop: ['ALL'],
      CapAdd: [],
      SecurityOpt: ['no-new-privileges:true', `seccomp=${o.seccomp}`],
      Privileged: false,
      IpcMode: 'private',
      PidMode: '',
      UTSMode: '',
      UsernsMode: '',
      CgroupnsMode: 'private',
      CgroupParent: o.cgroupParent,
      // The run's group (the parent) holds the limits exactly; the container's own are a hair
      // above, so a limit is hit in the run's group, where Rampart reads what happened (the
      // Engine removes the container's group, and its counters, the moment it exits).
      Memory: spec.limits.memory + LIMIT_MARGIN_BYTES,
      MemorySwap: spec.limits.memory + LIMIT_MARGIN_BYTES,
      NanoCpus: Math.round(spec.limits.cpus * 1e9),
      PidsLimit: spec.limits.pids + LIMIT_MARGIN_PIDS,
      OomKillDisable: false,
      Devices: spec.devices.map((d) => ({ PathOnHost: d, PathInContainer: d, CgroupPermissions: 'rw' })),
      GroupAdd: o.deviceGroups.map(String),
      LogConfig: { Type: 'none', Config: {} },
      RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
      AutoRemove: false,
      Init: false,
    },
  };
}
