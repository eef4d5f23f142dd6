// The one workload model every input format normalizes into: a Compose service, a Swarm service,
// a Kubernetes pod template, a Docker Engine container-create body. Checks are written once,
// against this. Every value carries the location it was read from.

import type { SourceLocation } from '../core/errors.js';
import type { LNode } from './tree.js';

export type Platform = 'compose' | 'swarm' | 'kubernetes' | 'docker';

/** A value and where it was written. */
export interface At<T> {
  readonly value: T;
  readonly loc: SourceLocation;
}

export interface Mount {
  /** bind: a host path; volume: a named volume; tmpfs; hostPath (Kubernetes); other. */
  readonly type: 'bind' | 'volume' | 'tmpfs' | 'other';
  readonly source?: string;
  readonly target?: string;
  readonly readOnly: boolean;
  readonly propagation?: string;
  readonly loc: SourceLocation;
}

export interface Port {
  /** Host address it is published on; undefined: every interface. */
  readonly hostIp?: string;
  /** Host port; undefined: not published (Kubernetes containerPort without hostPort). */
  readonly published?: number;
  /** A published range or an ephemeral host port: `published` is its first port. */
  readonly publishedEnd?: number;
  readonly target?: number;
  /** Swarm: `host` publishes on the node itself, `ingress` on every node's routing mesh. */
  readonly mode?: 'host' | 'ingress';
  readonly loc: SourceLocation;
}

export interface EnvVar {
  readonly name: string;
  /** Undefined: passed through from the environment of whoever deploys it. */
  readonly value?: string;
  readonly loc: SourceLocation;
}

export interface Container {
  readonly name: string;
  readonly role: 'main' | 'init' | 'ephemeral';
  readonly loc: SourceLocation;
  readonly image?: At<string>;
  readonly privileged?: At<boolean>;
  readonly capAdd: readonly At<string>[];
  readonly capDrop: readonly At<string>[];
  readonly readOnlyRootfs?: At<boolean>;
  readonly runAsUser?: At<number | string>;
  readonly runAsGroup?: At<number | string>;
  readonly runAsNonRoot?: At<boolean>;
  /** no-new-privileges (Kubernetes: allowPrivilegeEscalation false). */
  readonly noNewPrivileges?: At<boolean>;
  /** unconfined, runtime/default, localhost/<profile>, or a profile file. */
  readonly seccomp?: At<string>;
  /** unconfined, runtime/default, localhost/<profile>, or a profile name. */
  readonly apparmor?: At<string>;
  readonly selinuxType?: At<string>;
  readonly procMount?: At<string>;
  readonly hostProcess?: At<boolean>;
  readonly mounts: readonly Mount[];
  readonly devices: readonly At<string>[];
  readonly ports: readonly Port[];
  readonly env: readonly EnvVar[];
  readonly envFiles: readonly At<string>[];
  readonly memory?: At<string | number>;
  readonly cpus?: At<string | number>;
  readonly pids?: At<number>;
  /** Present and not disabled. */
  readonly healthcheck?: At<boolean>;
  /** /proc and /sys paths the engine masks, exposed: why (systempaths=unconfined, MaskedPaths: []). */
  readonly unmaskedPaths?: At<string>;
  /** Device cgroup rules (`c 1:3 mr`): devices the container may create and use by number. */
  readonly deviceCgroupRules: readonly At<string>[];
  /** SELinux labelling switched off (label=disable). */
  readonly selinuxDisabled?: At<boolean>;
  readonly oomKillDisable?: At<boolean>;
  /** Every port the image exposes, published on every interface (Engine PublishAllPorts). */
  readonly publishAll?: At<boolean>;
  /** The container's own subtree (custom checks see it as written). */
  readonly node: LNode;
}

export interface Workload {
  readonly platform: Platform;
  /** Service, Pod, Deployment, ..., ContainerCreate, ServiceSpec. */
  readonly kind: string;
  readonly name: string;
  readonly namespace?: string;
  readonly file: string;
  readonly loc: SourceLocation;
  readonly containers: readonly Container[];
  readonly hostNetwork?: At<boolean>;
  readonly hostPid?: At<boolean>;
  readonly hostIpc?: At<boolean>;
  readonly hostUts?: At<boolean>;
  /** The host's user namespace (Compose userns_mode: host; Kubernetes hostUsers unset or true). */
  readonly hostUserns?: At<boolean>;
  /** The host's cgroup namespace (Compose cgroup: host; Engine CgroupnsMode: host). */
  readonly hostCgroupns?: At<boolean>;
  /** Namespaces or volumes joined from another container: "pid container:db", "volumes_from db". */
  readonly sharedNamespaces: readonly At<string>[];
  /** A cgroup parent of the spec's own choosing. */
  readonly cgroupParent?: At<string>;
  readonly sysctls: readonly At<string>[];
  /** Kubernetes pod volumes: name and type (hostPath, emptyDir, ...). */
  readonly volumes: readonly {
    readonly name: string;
    readonly type: string;
    readonly path?: string;
    readonly loc: SourceLocation;
  }[];
  readonly secrets: readonly {
    readonly name: string;
    readonly mode?: At<number>;
    readonly loc: SourceLocation;
  }[];
  readonly networks: readonly {
    readonly name: string;
    readonly driver?: string;
    readonly encrypted: boolean;
    readonly loc: SourceLocation;
  }[];
  readonly restart?: { readonly policy: string; readonly maxAttempts?: number; readonly loc: SourceLocation };
  /** Fields `docker stack deploy` ignores, present in a Swarm stack file. */
  readonly ignored: readonly At<string>[];
  /** Security-relevant fields whose value is a ${VARIABLE} (unknown until deployed). */
  readonly interpolated: readonly At<string>[];
  /** The workload's own subtree, as written. */
  readonly node: LNode;
}
