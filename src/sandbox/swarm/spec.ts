// The service a run becomes on the Swarm runtime: the Engine's ServiceSpec, built from the same
// RunSpec as a bubblewrap sandbox or a Docker container. Pure: the lifecycle is swarm/run.ts.
//
// What Swarm can say, it is told here: the run's uid and gid, every capability dropped, a
// read-only root with private tmpfs for /tmp and the run's home, memory, CPU and process limits,
// one replica that is never restarted, placement on the node this Rampart verified, no log kept
// (log driver "none"), the run's secrets as Swarm secrets (0400 files, the run's uid), and one
// network: the run's own `internal` overlay, which has no route anywhere (the egress channel is
// a unix socket bound in, reached through the bridge on the task's loopback, as in a container).
//
// What Engine 20.10's service API cannot say is not dropped: seccomp and no-new-privileges come
// from the node's daemon defaults (verified before the service is made, and on the task's
// process before it is released); devices, which a service cannot be given, are bound in and
// allowed in the task's device group by Rampart on the node; and the run's limits hold exactly
// in the run's cgroup, which the task's process joins before the gate opens.

import { EGRESS_DIR, EGRESS_PORT, EGRESS_SOCKET, HOME, runEnv, TOKEN_PATH, WORKSPACE } from '../runner.js';
import type { RunSpec } from '../runner.js';
import { DOCKER_BRIDGE, LABEL_AGENT, LABEL_INSTALLATION, LABEL_RUN } from '../docker/body.js';

/** Where a task waits for Rampart's release (a named pipe bound in from the run's files). */
export const GATE_PATH = '/run/rampart/gate';

const LIMIT_MARGIN_BYTES = 4 << 20;
const LIMIT_MARGIN_PIDS = 4;

/** A Swarm secret made for the run: its id and name in the swarm, its file name under /run/secrets. */
export interface RunSecret {
  readonly id: string;
  readonly name: string;
  readonly file: string;
}

export interface ServiceOptions {
  /** The approved image's id (sha256:...). */
  readonly image: string;
  /** The installation (its cgroup parent's name), labelled on every service it starts. */
  readonly installation: string;
  /** The swarm node this Rampart runs on and has verified: the only place the task may go. */
  readonly node: string;
  /** The run's own internal overlay network. */
  readonly network: string;
  readonly secrets: readonly RunSecret[];
  /** Host paths on the node: the run's gate (a FIFO) and token, and the bridge binary. */
  readonly files: { readonly gate: string; readonly token?: string; readonly bridge: string };
  /** Host gids of the profile's devices (the run's user joins them to open the device). */
  readonly deviceGroups: readonly number[];
}

export function serviceName(runId: string): string {
  return `rampart-${runId}`;
}

export function serviceSpec(spec: RunSpec, o: ServiceOptions): Record<string, unknown> {
  const env = runEnv(spec, o.files.token !== undefined);
  const bind = (source: string, target: string, readOnly: boolean): Record<string, unknown> => ({
    Type: 'bind',
    Source: source,
    Target: target,
    ReadOnly: readOnly,
  });
  const mounts = [
    bind(spec.workspace, WORKSPACE, false),
    bind(o.files.gate, GATE_PATH, true),
    ...(o.files.token ? [bind(o.files.token, TOKEN_PATH, true)] : []),
    // The bridge is the task's gate, with or without an egress channel to bridge.
    bind(o.files.bridge, DOCKER_BRIDGE, true),
    ...(spec.egress ? [bind(spec.egress.dir, EGRESS_DIR, true)] : []),
    ...spec.readOnly.map((p) => bind(p, p, true)),
    // A service cannot be given a device: its node is bound in, and Rampart allows it in the
    // task's device group before the gate opens (swarm/run.ts).
    ...spec.devices.map((d) => bind(d, d, false)),
    // Mode 01777: Swarm's tmpfs cannot be given an owner, and the run's uid must write them.
    { Type: 'tmpfs', Target: '/tmp', TmpfsOptions: { SizeBytes: spec.limits.memory, Mode: 0o1777 } },
    { Type: 'tmpfs', Target: HOME, TmpfsOptions: { SizeBytes: spec.limits.memory, Mode: 0o1777 } },
  ];
  const wrapper = [
    DOCKER_BRIDGE,
    '--gate',
    GATE_PATH,
    ...(spec.egress ? [String(EGRESS_PORT), `${EGRESS_DIR}/${EGRESS_SOCKET}`] : []),
    '--',
  ];
  const labels = {
    [LABEL_RUN]: spec.id,
    [LABEL_AGENT]: spec.agent,
    [LABEL_INSTALLATION]: o.installation,
  };
  return {
    Name: serviceName(spec.id),
    Labels: labels,
    TaskTemplate: {
      ContainerSpec: {
        Image: o.image,
        Labels: labels,
        Command: [...wrapper, ...spec.command].slice(0, 1),
        Args: [...wrapper, ...spec.command].slice(1),
        Hostname: 'sandbox',
        Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
        Dir: WORKSPACE,
        User: `${spec.uid}:${spec.uid}`,
        Groups: o.deviceGroups.map(String),
        ReadOnly: true,
        Mounts: mounts,
        CapabilityDrop: ['ALL'],
        CapabilityAdd: [],
        Init: false,
        StopGracePeriod: 0,
        Secrets: o.secrets.map((s) => ({
          File: { Name: s.file, UID: String(spec.uid), GID: String(spec.uid), Mode: 0o400 },
          SecretID: s.id,
          SecretName: s.name,
        })),
      },
      // The run's group (which the task joins) holds the limits exactly; the container's own
      // are a hair above, as on the Docker runtime.
      Resources: {
        Limits: {
          MemoryBytes: spec.limits.memory + LIMIT_MARGIN_BYTES,
          NanoCPUs: Math.round(spec.limits.cpus * 1e9),
          Pids: spec.limits.pids + LIMIT_MARGIN_PIDS,
        },
      },
      RestartPolicy: { Condition: 'none', MaxAttempts: 0 },
      Placement: { Constraints: [`node.id==${o.node}`] },
      Networks: [{ Target: o.network }],
      LogDriver: { Name: 'none', Options: {} },
    },
    Mode: { Replicated: { Replicas: 1 } },
    // No virtual IP: the task's network has nothing on it to balance.
    EndpointSpec: { Mode: 'dnsrr' },
  };
}

/** The run's own network: an overlay with no way out, made for the run and removed after it. */
export function networkSpec(runId: string, installation: string): Record<string, unknown> {
  return {
    Name: serviceName(runId),
    Driver: 'overlay',
    Internal: true,
    Attachable: false,
    CheckDuplicate: true,
    Labels: { [LABEL_RUN]: runId, [LABEL_INSTALLATION]: installation },
  };
}

/** A Swarm secret's create body (its data base64, as the API wants). */
export function secretSpec(
  runId: string,
  file: string,
  data: Buffer,
  installation: string,
): Record<string, unknown> {
  return {
    Name: `${serviceName(runId)}-${file}`,
    Data: data.toString('base64'),
    Labels: { [LABEL_RUN]: runId, [LABEL_INSTALLATION]: installation },
  };
}
