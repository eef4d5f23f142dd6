// The admission checks: the mandatory container-hardening baseline, the VM-runner checklist and
// the Kubernetes Pod Security Standards "restricted" profile, each with a stable id, a severity,
// why it matters and how to fix it. Checks read only the workload model, so one check covers
// Compose, Swarm, Kubernetes and the Docker Engine API alike.

import type { SourceLocation } from '../core/errors.js';
import type { Severity } from '../core/types.js';
import type { Container, Workload } from './model.js';
import { SWARM_EQUIVALENT, SWARM_FIX } from './swarm.js';

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

/** VNC (5900–5999), noVNC (6080) and RDP (3389): a remote console onto the VM or desktop. */
export const CONSOLE_PORTS = (p: number): boolean => (p >= 5900 && p <= 5999) || p === 3389 || p === 6080;
const SOCKETS =
  /(^|\/)(docker|containerd|crio|podman|cri-dockerd)\.sock$|^\/(var\/)?run\/(docker|containerd|crio)(\/|$)/;
const SAFE_SYSCTLS = new Set([
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
]);
const PSS_VOLUMES = new Set([
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'persistentVolumeClaim',
  'projected',
  'secret',
]);
const SELINUX_TYPES = new Set([
  '',
  'container_t',
  'container_init_t',
  'container_kvm_t',
  'container_engine_t',
]);
const SECRET_NAME = /(^|_)(TOKEN|PASSWORD|PASSWD|PASS|SECRET|API_?KEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIALS?)$/i;
const SECURITY_IGNORED = new Set([
  'security_opt',
  'mem_limit',
  'cpus',
  'pids_limit',
  'cpu_quota',
  'restart',
  'userns_mode',
]);

function isRoot(v: number | string | undefined): boolean {
  return v === 0 || v === '0' || v === 'root';
}

/** Registry host of an image reference (docker.io when none). */
export function registryOf(image: string): string {
  const first = image.split('/')[0]!;
  return image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost')
    ? first
    : 'docker.io';
}

function normalizeImage(image: string): string {
  const r = registryOf(image);
  if (r !== 'docker.io' || image.startsWith('docker.io/')) return image;
  return `docker.io/${image.includes('/') ? image : `library/${image}`}`;
}

/** Runs every check on one workload. */
export function checkWorkload(w: Workload, ctx: CheckContext): Violation[] {
  const out: Violation[] = [];
  const add = (
    check: string,
    message: string,
    loc: SourceLocation,
    c?: Container,
    value?: string,
    advice?: { fix: string; host?: true },
  ): void => {
    const swarm = advice ?? (w.platform === 'swarm' ? SWARM_FIX[check] : undefined);
    out.push({
      check,
      severity: CHECK_BY_ID.get(check)!.severity,
      message,
      loc,
      workload: w.name,
      ...(c ? { container: c.name } : {}),
      ...(value !== undefined ? { value } : {}),
      ...(swarm ? { fix: swarm.fix, ...(swarm.host ? { host: true as const } : {}) } : {}),
    });
  };
  const k8s = w.platform === 'kubernetes';
  const ns = (flag: typeof w.hostNetwork, check: string, what: string): void => {
    if (flag?.value) add(check, `${w.name} uses the host's ${what} namespace`, flag.loc);
  };
  ns(w.hostNetwork, 'no-host-network', 'network');
  ns(w.hostPid, 'no-host-pid', 'PID');
  ns(w.hostIpc, 'no-host-ipc', 'IPC');
  ns(w.hostUts, 'no-host-uts', 'UTS');
  if (w.hostUserns?.value)
    add('no-host-userns', `${w.name} runs in the host's user namespace`, w.hostUserns.loc);
  if (w.hostCgroupns?.value)
    add('no-host-cgroupns', `${w.name} runs in the host's cgroup namespace`, w.hostCgroupns.loc);
  for (const s of w.sharedNamespaces)
    add('no-shared-namespaces', `${w.name} joins another container: ${s.value}`, s.loc);
  if (w.cgroupParent)
    add(
      'no-cgroup-parent',
      `${w.name} sets its own cgroup parent ${w.cgroupParent.value}`,
      w.cgroupParent.loc,
    );
  for (const s of w.sysctls)
    if (!SAFE_SYSCTLS.has(s.value)) add('safe-sysctls', `sysctl ${s.value} is not in the safe set`, s.loc);
  for (const v of w.volumes) {
    if (v.type === 'hostPath') {
      if (v.path && SOCKETS.test(v.path))
        add('no-runtime-socket', `volume ${v.name} mounts ${v.path}`, v.loc, undefined, v.path);
      else
        add(
          'no-host-mounts',
          `volume ${v.name} mounts host path ${v.path ?? '?'}`,
          v.loc,
          undefined,
          v.path ?? '?',
        );
    }
    if (k8s && !PSS_VOLUMES.has(v.type))
      add('pss-volume-types', `volume ${v.name} is of type ${v.type}`, v.loc);
  }
  for (const s of w.secrets)
    if (s.mode && (s.mode.value & ~0o440) !== 0)
      add(
        'secret-file-mode',
        `secret ${s.name} has mode 0${s.mode.value.toString(8)} (at most 0440)`,
        s.mode.loc,
      );
  for (const n of w.networks)
    if (n.driver === 'overlay' && !n.encrypted)
      add('encrypted-overlay', `overlay network ${n.name} is not encrypted`, n.loc);
  if (w.restart && !k8s) {
    const p = w.restart.policy;
    if (
      p === 'always' ||
      p === 'unless-stopped' ||
      ((p === 'any' || p === 'on-failure') && w.restart.maxAttempts === undefined)
    )
      add('bounded-restart', `restart policy "${p}" has no bound on attempts`, w.restart.loc);
  }
  for (const f of w.ignored) {
    const sec =
      SECURITY_IGNORED.has(f.value) ||
      f.value === 'devices' ||
      f.value === 'network_mode' ||
      f.value === 'pid' ||
      f.value === 'ipc';
    if (sec)
      add(
        'swarm-ignored-field',
        `${f.value} is ignored by docker stack deploy: the service runs without it`,
        f.loc,
        undefined,
        undefined,
        SWARM_EQUIVALENT[f.value],
      );
  }
  for (const f of w.interpolated)
    add('unresolved-variable', `${f.value} takes its value from a variable`, f.loc);

  for (const c of w.containers) {
    const where = `${w.name}${w.containers.length > 1 || k8s ? `/${c.name}` : ''}`;
    if (c.privileged?.value) add('no-privileged', `${where} is privileged`, c.privileged.loc, c);
    if (c.unmaskedPaths)
      add(
        'no-unmasked-paths',
        `${where} exposes the masked /proc and /sys paths (${c.unmaskedPaths.value})`,
        c.unmaskedPaths.loc,
        c,
      );
    if (c.selinuxDisabled?.value)
      add('selinux-not-disabled', `${where} disables SELinux labelling`, c.selinuxDisabled.loc, c);
    for (const r of c.deviceCgroupRules)
      add('no-device-cgroup-rules', `${where} adds device cgroup rule "${r.value}"`, r.loc, c);
    if (c.oomKillDisable?.value)
      add('no-oom-kill-disable', `${where} disables the OOM killer`, c.oomKillDisable.loc, c);
    if (c.publishAll?.value)
      add('no-publish-all', `${where} publishes every port its image exposes`, c.publishAll.loc, c);
    if (!c.capDrop.some((d) => d.value.toUpperCase() === 'ALL'))
      add('drop-all-capabilities', `${where} does not drop ALL capabilities`, c.capDrop[0]?.loc ?? c.loc, c);
    for (const cap of c.capAdd) {
      const name = cap.value.toUpperCase().replace(/^CAP_/, '');
      if (name === 'NET_BIND_SERVICE') continue;
      add(
        'no-added-capabilities',
        ctx.profile === 'vm-runner' && name === 'NET_ADMIN'
          ? `${where} adds NET_ADMIN: the vm-runner profile allows it only with an exception that gives a justification`
          : `${where} adds capability ${name}`,
        cap.loc,
        c,
        name,
      );
    }
    if (c.seccomp && c.seccomp.value.toLowerCase() === 'unconfined')
      add('seccomp-required', `${where} runs without seccomp`, c.seccomp.loc, c);
    else if (k8s && !c.seccomp)
      add(
        'seccomp-required',
        `${where} sets no seccompProfile (restricted requires RuntimeDefault or Localhost)`,
        c.loc,
        c,
      );
    if (c.apparmor && c.apparmor.value.toLowerCase() === 'unconfined')
      add('apparmor-required', `${where} runs without AppArmor`, c.apparmor.loc, c);
    if (!c.noNewPrivileges?.value)
      add(
        'no-new-privileges',
        `${where} allows privilege escalation (no-new-privileges is not set)`,
        c.noNewPrivileges?.loc ?? c.loc,
        c,
      );
    if (!c.readOnlyRootfs?.value)
      add('read-only-rootfs', `${where} has a writable root filesystem`, c.readOnlyRootfs?.loc ?? c.loc, c);
    const nonRoot =
      c.runAsNonRoot?.value === true || (c.runAsUser !== undefined && !isRoot(c.runAsUser.value));
    if (c.runAsUser && isRoot(c.runAsUser.value))
      add('run-as-non-root', `${where} runs as root (user ${c.runAsUser.value})`, c.runAsUser.loc, c);
    else if (!nonRoot || (k8s && c.runAsNonRoot?.value !== true))
      add(
        'run-as-non-root',
        `${where} does not say it runs as a non-root user`,
        c.runAsNonRoot?.loc ?? c.loc,
        c,
      );
    if (c.runAsGroup && isRoot(c.runAsGroup.value))
      add('non-root-group', `${where} runs with group root`, c.runAsGroup.loc, c);
    for (const m of c.mounts) {
      const src = m.source ?? '';
      if (m.type === 'bind' && SOCKETS.test(src))
        add('no-runtime-socket', `${where} mounts ${src}`, m.loc, c, src);
      else if (m.type === 'bind' && src !== '/dev/kvm' && src !== '/dev/net/tun')
        add('no-host-mounts', `${where} bind-mounts host path ${src}`, m.loc, c, src);
      if (m.propagation && /shared|bidirectional/i.test(m.propagation))
        add(
          'no-shared-propagation',
          `${where} mounts ${m.target ?? src} with ${m.propagation} propagation`,
          m.loc,
          c,
        );
      if (m.type === 'bind' && (src === '/dev/kvm' || src === '/dev/net/tun')) checkDevice(src, m.loc);
    }
    for (const d of c.devices) checkDevice(d.value, d.loc);
    if (!c.memory) add('memory-limit', `${where} has no memory limit`, c.loc, c);
    if (!c.cpus) add('cpu-limit', `${where} has no CPU limit`, c.loc, c);
    if (!c.pids && !k8s) add('pids-limit', `${where} has no process limit`, c.loc, c);
    for (const p of c.ports) {
      if (p.published === undefined) continue;
      if (k8s) {
        add('no-host-ports', `${where} uses hostPort ${p.published}`, p.loc, c, String(p.published));
        continue;
      }
      const targets = [p.target ?? 0];
      const console =
        targets.some((t) => CONSOLE_PORTS(t)) || (p.published > 0 && CONSOLE_PORTS(p.published));
      const everywhere =
        p.hostIp === undefined || p.hostIp === '0.0.0.0' || p.hostIp === '::' || p.hostIp === '';
      if (console && w.platform === 'swarm' && p.mode !== 'host')
        add(
          'swarm-console-host-mode',
          `${where} publishes console port ${p.target} on the Swarm routing mesh`,
          p.loc,
          c,
        );
      else if (console && everywhere)
        add(
          'console-not-public',
          p.hostIp === undefined || p.hostIp === ''
            ? `${where} publishes console port ${p.target} on every interface`
            : `${where} publishes console port ${p.target} on every interface (${p.hostIp} is written in the file, so harden leaves it unless given --bind-consoles 127.0.0.1)`,
          p.loc,
          c,
          String(p.target),
        );
      else if (console && w.platform === 'swarm')
        add(
          'swarm-console-host-mode',
          `${where} publishes console port ${p.target} (mode: host needs a recorded exception)`,
          p.loc,
          c,
        );
      if (p.published > 0 && p.published < 1024)
        add(
          'no-privileged-ports',
          `${where} publishes host port ${p.published}`,
          p.loc,
          c,
          String(p.published),
        );
    }
    for (const e of c.env) {
      if (e.value === undefined || e.value === '' || /^\$\{?[A-Za-z_]/.test(e.value)) continue;
      const label = ctx.secretValue?.(e.value);
      if (label) add('no-secrets-in-env', `${where}: ${e.name} holds a ${label}`, e.loc, c);
      else if (SECRET_NAME.test(e.name) && !e.name.endsWith('_FILE'))
        add('no-secrets-in-env', `${where}: ${e.name} looks like a secret set in the environment`, e.loc, c);
    }
    for (const f of c.envFiles)
      add(
        'no-secrets-in-env',
        `${where} reads env_file ${f.value}: secrets belong in secrets, not env files`,
        f.loc,
        c,
      );
    if (c.image) {
      const img = c.image.value;
      if (!/^\$/.test(img)) {
        const full = normalizeImage(img);
        if (
          ctx.registries.length > 0 &&
          !ctx.registries.some((r) => full === r || full.startsWith(r.replace(/\/?$/, '/')))
        )
          add('approved-registry', `${where} uses ${img}, not from an approved registry`, c.image.loc, c);
        // name@sha256:<digest>, or an image id (sha256:<id>): both name content, not a tag.
        if (!img.includes('@sha256:') && !/^sha256:[0-9a-f]{64}$/.test(img))
          add('image-digest', `${where} uses ${img}, not pinned by digest`, c.image.loc, c);
        if (ctx.distroless.length > 0 && !ctx.distroless.some((d) => full.startsWith(d)))
          add('distroless-base', `${where} uses ${img}, not an approved distroless base`, c.image.loc, c);
      }
    }
    // A Job or CronJob runs to completion: a probe would only restart it.
    if (!c.healthcheck?.value && c.role === 'main' && w.kind !== 'Job' && w.kind !== 'CronJob')
      add('healthcheck', `${where} has no health check`, c.healthcheck?.loc ?? c.loc, c);
    if (c.procMount && c.procMount.value !== 'Default')
      add('pss-proc-mount', `${where} sets procMount ${c.procMount.value}`, c.procMount.loc, c);
    if (c.selinuxType && !SELINUX_TYPES.has(c.selinuxType.value))
      add('pss-selinux', `${where} uses SELinux type ${c.selinuxType.value}`, c.selinuxType.loc, c);
    if (c.hostProcess?.value)
      add('pss-host-process', `${where} is a HostProcess container`, c.hostProcess.loc, c);

    function checkDevice(path: string, loc: SourceLocation): void {
      const allowed = path === '/dev/kvm' || (ctx.profile === 'vm-runner' && path === '/dev/net/tun');
      if (!allowed) add('devices-allowed', `${where} gets device ${path}`, loc, c, path);
    }
  }
  return out;
}
