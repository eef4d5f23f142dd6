// The admission checks: the mandatory container-hardening baseline, the VM-runner checklist and
// the Kubernetes Pod Security Standards "restricted" profile, over the catalogue's ids
// (catalogue.ts). Checks read only the workload model, so one check covers Compose, Swarm,
// Kubernetes and the Docker Engine API alike.

import type { SourceLocation } from '../core/errors.js';
import { CHECK_BY_ID, type CheckContext, type Violation } from './catalogue.js';
import type { Container, Workload } from './model.js';
import { SWARM_EQUIVALENT, SWARM_FIX } from './swarm.js';

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
