// The admission check catalogue: every built-in check's id, severity, title, why it matters and
// how to fix it, which checks belong to Pod Security "restricted", which are about values (an
// exception names the value it allows), and the shapes checks.ts reports in. Data, read by the
// checks, the CLI's listing, SARIF output and docs/admission.md's table.

import type { SourceLocation } from '../core/errors.js';
import type { Severity } from '../core/types.js';

export interface CheckInfo {
  readonly id: string;
  readonly severity: Severity;
  readonly title: string;
  readonly why: string;
  readonly fix: string;
}

export interface Violation {
  readonly check: string;
  readonly severity: Severity;
  readonly message: string;
  readonly loc: SourceLocation;
  readonly workload: string;
  readonly container?: string;
  /** What exactly is allowed or not, for checks about values (a capability, device, path, port). */
  readonly value?: string;
  /** A fix for this platform, where the check's usual fix cannot be followed (Swarm). */
  readonly fix?: string;
  /** Only a host setting can satisfy it, not the file (a Swarm stack and a daemon option). */
  readonly host?: true;
}

/**
 * Checks whose findings are about a value: an exception to one names the value it allows
 * (`value: NET_ADMIN`), or says `value: "*"` to cover the whole check.
 */
export const VALUED_CHECKS: ReadonlySet<string> = new Set([
  'no-added-capabilities',
  'devices-allowed',
  'no-host-mounts',
  'no-runtime-socket',
  'no-host-ports',
  'console-not-public',
  'no-privileged-ports',
]);

export interface CheckContext {
  /** default, or vm-runner (the seed's VM-runner checklist: /dev/kvm, /dev/net/tun, NET_ADMIN by exception). */
  readonly profile: 'default' | 'vm-runner';
  /** Approved registries (host, or host/path prefix); empty: the registry check is skipped. */
  readonly registries: readonly string[];
  /** Approved distroless base image prefixes. */
  readonly distroless: readonly string[];
  /** Tells whether an environment value looks like a secret (the redaction rules); the label or undefined. */
  readonly secretValue?: (value: string) => string | undefined;
}

const C = (id: string, severity: Severity, title: string, why: string, fix: string): CheckInfo => ({
  id,
  severity,
  title,
  why,
  fix,
});

/**
 * The checks that belong to the Kubernetes Pod Security Standards "restricted" profile (which
 * includes "baseline"): `rampart check --only pss` reports these alone.
 */
export const PSS_CHECKS: ReadonlySet<string> = new Set([
  'no-privileged',
  'no-host-network',
  'no-host-pid',
  'no-host-ipc',
  'no-added-capabilities',
  'drop-all-capabilities',
  'no-host-mounts',
  'no-host-ports',
  'apparmor-required',
  'seccomp-required',
  'no-new-privileges',
  'run-as-non-root',
  'safe-sysctls',
  'pss-volume-types',
  'pss-proc-mount',
  'pss-selinux',
  'pss-host-process',
]);

export const CHECKS: readonly CheckInfo[] = [
  C(
    'no-privileged',
    'critical',
    'Privileged containers',
    'A privileged container has every capability and every device: it is root on the host.',
    'Remove privileged; grant the one device or capability it needs.',
  ),
  C(
    'drop-all-capabilities',
    'high',
    'Capabilities not dropped',
    'Default capabilities (NET_RAW, CHOWN, SETUID, ...) are attack surface most agents never use.',
    'cap_drop: [ALL] (Kubernetes: securityContext.capabilities.drop: [ALL]).',
  ),
  C(
    'no-added-capabilities',
    'high',
    'Added capabilities',
    'Capabilities beyond NET_BIND_SERVICE widen what a compromised process can do to the kernel and network.',
    'Remove cap_add entries; for VM runners, pre-create TAP devices on the host instead of NET_ADMIN, or record an exception with a justification.',
  ),
  C(
    'seccomp-required',
    'critical',
    'Seccomp disabled',
    'Without seccomp every system call reaches the kernel, including the ones container escapes use.',
    'Remove seccomp=unconfined; on Kubernetes set seccompProfile.type: RuntimeDefault.',
  ),
  C(
    'apparmor-required',
    'high',
    'AppArmor disabled',
    'AppArmor confines file and mount access even for root inside the container.',
    'Remove apparmor=unconfined, or set a profile (apparmor=docker-default; appArmorProfile.type: RuntimeDefault).',
  ),
  C(
    'no-new-privileges',
    'high',
    'Privilege escalation allowed',
    'Without no-new-privileges a setuid binary inside the container can regain privileges.',
    'security_opt: [no-new-privileges:true] (Kubernetes: allowPrivilegeEscalation: false).',
  ),
  C(
    'read-only-rootfs',
    'medium',
    'Writable root filesystem',
    'A writable root lets an intruder change binaries and persist.',
    'read_only: true, with tmpfs or volumes for the paths that must be written.',
  ),
  C(
    'run-as-non-root',
    'high',
    'Runs as root',
    'Root in the container is root on the host the moment anything else goes wrong.',
    'user: "1000:1000" (Kubernetes: runAsNonRoot: true, runAsUser > 0).',
  ),
  C(
    'non-root-group',
    'medium',
    'Runs with group root',
    "Group 0 can read and write files the host gives to root's group.",
    'Give a non-zero group (user: "1000:1000"; runAsGroup: 1000).',
  ),
  C(
    'no-host-network',
    'high',
    'Host network namespace',
    'The host network exposes every host service and lets the container sniff and bind host ports.',
    'Remove network_mode: host / hostNetwork: true.',
  ),
  C(
    'no-host-pid',
    'high',
    'Host PID namespace',
    'The host PID namespace lets the container see and signal every host process.',
    'Remove pid: host / hostPID: true.',
  ),
  C(
    'no-host-ipc',
    'high',
    'Host IPC namespace',
    "Shared host IPC exposes other processes' shared memory.",
    'Remove ipc: host / hostIPC: true.',
  ),
  C(
    'no-host-uts',
    'medium',
    'Host UTS namespace',
    'The container can change the host name of the host.',
    'Remove uts: host.',
  ),
  C(
    'no-host-userns',
    'medium',
    'Host user namespace',
    'Opting out of user-namespace remapping maps container root to host root.',
    'Remove userns_mode: host (Kubernetes: hostUsers: false where supported).',
  ),
  C(
    'no-host-cgroupns',
    'high',
    'Host cgroup namespace',
    "The host's cgroup namespace shows the host's cgroup tree to the container; with write access to it, a process can leave its own limits (the release_agent escape, CVE-2022-0492).",
    'Remove cgroup: host (Engine: CgroupnsMode: host); the private namespace is the default on cgroup v2.',
  ),
  C(
    'no-shared-namespaces',
    'medium',
    "Another container's namespaces or volumes",
    "Joining another container's PID, IPC, network or cgroup namespace, or mounting its volumes, lets this one see and signal its processes, reach its loopback or read its data.",
    'Give each container its own namespaces; share data through a named volume both mount.',
  ),
  C(
    'no-cgroup-parent',
    'medium',
    'Custom cgroup parent',
    "A cgroup parent of the spec's choosing places the container outside the engine's cgroup, where other limits and accounting apply.",
    'Remove cgroup_parent (Engine: CgroupParent).',
  ),
  C(
    'no-unmasked-paths',
    'critical',
    'Masked /proc and /sys paths exposed',
    'systempaths=unconfined (or an Engine MaskedPaths or ReadonlyPaths list without the defaults) exposes /proc/kcore, /proc/keys, /sys/firmware and a writable /proc/sys and /proc/sysrq-trigger: host kernel interfaces.',
    'Remove systempaths=unconfined; leave MaskedPaths and ReadonlyPaths to the engine.',
  ),
  C(
    'selinux-not-disabled',
    'high',
    'SELinux labelling disabled',
    'label=disable turns SELinux confinement off for the container: on an SELinux host it is what keeps a root process inside away from host files.',
    'Remove label=disable (or label:disable) from security_opt.',
  ),
  C(
    'no-device-cgroup-rules',
    'high',
    'Device cgroup rules',
    "A device cgroup rule lets the container create and use device nodes by number: 'a *:* rwm' is every device, the host's disks included.",
    'Remove device_cgroup_rules; give the one device the container needs with devices.',
  ),
  C(
    'no-oom-kill-disable',
    'medium',
    'OOM killer disabled',
    'With the OOM killer off, a container at its memory limit hangs instead of being killed; without a limit it takes memory from the host.',
    'Remove oom_kill_disable (Engine: OomKillDisable).',
  ),
  C(
    'no-publish-all',
    'medium',
    'Every exposed port published',
    'PublishAllPorts publishes every port the image exposes, on every host interface, at ports nobody chose: the image decides what the host exposes.',
    'Publish the ports you need by name, bound to an address (PortBindings with HostIp).',
  ),
  C(
    'no-host-mounts',
    'high',
    'Host path mounted',
    'A host directory inside the container is a path out of it.',
    'Use named volumes, configs or secrets instead of bind mounts / hostPath.',
  ),
  C(
    'no-runtime-socket',
    'critical',
    'Container runtime socket mounted',
    'The Docker or containerd socket is root on the host.',
    'Never mount docker.sock, containerd.sock or the like; use a scoped API proxy.',
  ),
  C(
    'devices-allowed',
    'high',
    'Device not on the allow-list',
    'A device node gives direct access to host hardware and kernel drivers.',
    'Only /dev/kvm (and /dev/net/tun in the vm-runner profile) may be passed, with devices:, never privileged.',
  ),
  C(
    'no-shared-propagation',
    'high',
    'Shared mount propagation',
    'Shared propagation lets mounts made inside the container appear on the host.',
    'Use the default (rprivate) propagation.',
  ),
  C(
    'memory-limit',
    'medium',
    'No memory limit',
    'An unbounded container can exhaust host memory.',
    'deploy.resources.limits.memory (Kubernetes: resources.limits.memory).',
  ),
  C(
    'cpu-limit',
    'medium',
    'No CPU limit',
    'An unbounded container can starve its neighbours.',
    'deploy.resources.limits.cpus (Kubernetes: resources.limits.cpu).',
  ),
  C(
    'pids-limit',
    'medium',
    'No process limit',
    'A fork bomb takes the host down.',
    'deploy.resources.limits.pids or pids_limit.',
  ),
  C(
    'console-not-public',
    'critical',
    'Console port published on every interface',
    'VNC, SPICE and RDP consoles give keyboard and screen to whoever reaches them; most have weak or no authentication.',
    'Publish console ports on 127.0.0.1 only ("127.0.0.1:5900:5900") and reach them through a tunnel.',
  ),
  C(
    'swarm-console-host-mode',
    'high',
    'Swarm console port published',
    "Swarm publishes ports on every node's routing mesh, on all interfaces.",
    'Do not publish console ports on Swarm; if unavoidable, mode: host with a recorded exception.',
  ),
  C(
    'no-privileged-ports',
    'medium',
    'Privileged host port',
    'Host ports below 1024 collide with host services and need privileges.',
    'Publish on a port of 1024 or above.',
  ),
  C(
    'no-host-ports',
    'medium',
    'Host port (Kubernetes)',
    "hostPort binds the node's address and bypasses network policy (Pod Security baseline).",
    'Use a Service instead of hostPort.',
  ),
  C(
    'no-secrets-in-env',
    'high',
    'Secret in the environment',
    'Environment variables leak through /proc/*/environ, docker inspect, crash reports and child processes.',
    'Use secrets (files under /run/secrets, mode 0400) instead of environment or env_file.',
  ),
  C(
    'secret-file-mode',
    'medium',
    'Secret file too permissive',
    'A secret readable by others in the container is readable by every process in it.',
    'mode: 0400 or 0440 at most.',
  ),
  C(
    'approved-registry',
    'high',
    'Image from an unapproved registry',
    'Images from anywhere are code from anyone.',
    'Pull from a registry on the approved list.',
  ),
  C(
    'image-digest',
    'medium',
    'Image not pinned by digest',
    'A tag can be moved to other content at any time.',
    'Reference images as name@sha256:<digest>.',
  ),
  C(
    'distroless-base',
    'low',
    'Image not from an approved distroless base',
    'Shells and package managers in an image are tools for an intruder.',
    'Build on a distroless base from the approved list.',
  ),
  C(
    'safe-sysctls',
    'high',
    'Unsafe sysctl',
    'Sysctls outside the namespaced safe set change the host kernel for everyone.',
    'Only the Kubernetes safe sysctls (net.ipv4.ip_local_port_range, ...).',
  ),
  C(
    'bounded-restart',
    'low',
    'Unbounded restart policy',
    'A crash-looping compromised container keeps coming back.',
    'restart: on-failure:5 / restart_policy with max_attempts.',
  ),
  C(
    'encrypted-overlay',
    'medium',
    'Overlay network not encrypted',
    'Overlay traffic between nodes travels in clear text.',
    'driver_opts: {encrypted: ""} on overlay networks.',
  ),
  C(
    'healthcheck',
    'info',
    'No health check',
    'Without a health check a hung service is never replaced.',
    'Add a healthcheck (Kubernetes: livenessProbe or readinessProbe).',
  ),
  C(
    'swarm-ignored-field',
    'high',
    'Security setting ignored by Swarm',
    '`docker stack deploy` silently ignores this field: the service runs without it.',
    'Use the Swarm equivalent (deploy.resources, deploy.restart_policy, cap_drop) or enforce it another way.',
  ),
  C(
    'unresolved-variable',
    'medium',
    'Security setting from a variable',
    'The value is decided by whoever deploys the file; it cannot be checked here.',
    'Write the value in the file.',
  ),
  C(
    'pss-volume-types',
    'high',
    'Volume type not allowed (Pod Security restricted)',
    'Only configMap, csi, downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, projected and secret volumes are allowed.',
    'Replace the volume with an allowed type.',
  ),
  C(
    'pss-proc-mount',
    'high',
    'Unmasked /proc (Pod Security baseline)',
    'An unmasked /proc exposes host kernel interfaces.',
    'Remove procMount or set it to Default.',
  ),
  C(
    'pss-selinux',
    'high',
    'SELinux type not allowed (Pod Security baseline)',
    'Custom SELinux types can lift confinement.',
    'Use container_t, container_init_t, container_kvm_t or container_engine_t.',
  ),
  C(
    'pss-host-process',
    'critical',
    'Windows HostProcess container',
    'HostProcess containers run on the host.',
    'Remove windowsOptions.hostProcess.',
  ),
];

export const CHECK_BY_ID: ReadonlyMap<string, CheckInfo> = new Map(CHECKS.map((c) => [c.id, c]));
