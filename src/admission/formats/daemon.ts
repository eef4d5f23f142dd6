// The Docker Engine's own configuration (/etc/docker/daemon.json), checked against the daemon
// section of the CIS Docker Benchmark (v1.6, section 2): what every container on the host
// inherits, whatever its own spec says. `rampart check /etc/docker/daemon.json` reports it like
// any spec, each finding at its key's position (or the file's start when the key is missing).
//
// dockerd reads this file as JSON with its own types: a boolean written as a string makes dockerd
// refuse to start, so such a value is a finding too, not a guess at what was meant.

import type { SourceLocation } from '../../core/errors.js';
import type { Finding, Severity } from '../../core/types.js';
import { get, str, type LMap, type LNode } from '../tree.js';

/** Keys only a daemon.json has (no Compose file, manifest or Engine body carries them). */
const DAEMON_KEYS = new Set([
  'icc',
  'userns-remap',
  'live-restore',
  'no-new-privileges',
  'log-driver',
  'log-opts',
  'authorization-plugins',
  'insecure-registries',
  'registry-mirrors',
  'storage-driver',
  'data-root',
  'iptables',
  'userland-proxy',
  'seccomp-profile',
  'default-ulimits',
  'hosts',
  'tls',
  'tlsverify',
  'selinux-enabled',
  'experimental',
  'debug',
  'exec-opts',
  'bip',
  'default-address-pools',
  'cgroup-parent',
]);

/** Whether a parsed document is a daemon.json: a mapping of daemon keys and nothing of a spec. */
export function isDaemonConfig(doc: LNode): doc is LMap {
  if (doc.kind !== 'map' || doc.entries.size === 0) return false;
  const keys = [...doc.entries.keys()];
  return (
    keys.some((k) => DAEMON_KEYS.has(k)) &&
    !keys.some((k) => /^(services|apiVersion|Image|TaskTemplate)$/.test(k))
  );
}

interface Rule {
  readonly id: string;
  readonly severity: Severity;
  readonly cis: string;
  readonly help: string;
}

const RULES = {
  icc: {
    id: 'daemon-icc',
    severity: 'medium',
    cis: '2.2',
    help: 'set "icc": false: containers on the default bridge then talk only through published ports or links',
  },
  userns: {
    id: 'daemon-userns-remap',
    severity: 'medium',
    cis: '2.9',
    help: 'set "userns-remap": "default": root in a container is then an unprivileged uid on the host',
  },
  liveRestore: {
    id: 'daemon-live-restore',
    severity: 'low',
    cis: '2.15',
    help: 'set "live-restore": true: containers keep running while dockerd restarts or upgrades',
  },
  nnp: {
    id: 'daemon-no-new-privileges',
    severity: 'high',
    cis: '2.18',
    help: 'set "no-new-privileges": true: setuid binaries cannot raise privileges in any container (Swarm services cannot set it themselves, moby#41371)',
  },
  log: {
    id: 'daemon-log-driver',
    severity: 'low',
    cis: '2.13',
    help: 'set "log-driver" to a driver that keeps logs (journald, syslog, json-file with rotation); "none" keeps nothing',
  },
  authz: {
    id: 'daemon-authorization-plugin',
    severity: 'medium',
    cis: '2.11',
    help: 'set "authorization-plugins": ["rampart"]: every Engine API request is then decided by Rampart admission',
  },
  insecure: {
    id: 'daemon-insecure-registry',
    severity: 'high',
    cis: '2.5',
    help: 'remove "insecure-registries": images are then pulled over verified TLS only',
  },
  iptables: {
    id: 'daemon-iptables',
    severity: 'medium',
    cis: '2.4',
    help: 'leave "iptables" true: dockerd then manages the firewall rules container networking relies on',
  },
  userland: {
    id: 'daemon-userland-proxy',
    severity: 'low',
    cis: '2.16',
    help: 'set "userland-proxy": false: published ports are then forwarded by the kernel (hairpin NAT), with no proxy process per port',
  },
  seccomp: {
    id: 'daemon-seccomp-unconfined',
    severity: 'high',
    cis: '2.17',
    help: 'remove "seccomp-profile": "unconfined": containers then get the default seccomp filter (or give Rampart\'s profile)',
  },
  tcp: {
    id: 'daemon-tcp-without-tls',
    severity: 'critical',
    cis: '2.6',
    help: 'serve the Engine API on tcp:// only with "tlsverify": true and client certificates: without, anyone who reaches the port is root on the host',
  },
  type: {
    id: 'daemon-config-invalid',
    severity: 'high',
    cis: '-',
    help: 'dockerd reads daemon.json as typed JSON: a boolean written as a string stops it from starting',
  },
} as const satisfies Record<string, Rule>;

/** The findings of a daemon.json. */
export function daemonFindings(doc: LMap, file: string): Finding[] {
  const out: Finding[] = [];
  const at = (key: string): SourceLocation => doc.keys.get(key) ?? doc.loc;
  const add = (rule: Rule, message: string, key: string): void =>
    void out.push({
      ruleId: rule.id,
      severity: rule.severity,
      message: `${message} (CIS Docker Benchmark ${rule.cis})`,
      location: at(key),
      help: rule.help,
      properties: { file, workload: 'dockerd' },
    });
  /** A boolean key: its value, or undefined when absent; a wrong type is a finding of its own. */
  const flag = (key: string): boolean | undefined => {
    const n = get(doc, key);
    if (n === undefined) return undefined;
    if (n.kind === 'scalar' && typeof n.value === 'boolean') return n.value;
    add(RULES.type, `"${key}" is not a JSON boolean: dockerd refuses to start with it`, key);
    return undefined;
  };

  if (flag('icc') !== false)
    add(
      RULES.icc,
      get(doc, 'icc')
        ? 'inter-container traffic on the default bridge is allowed'
        : '"icc" is not set: inter-container traffic on the default bridge is allowed',
      'icc',
    );
  if ((str(get(doc, 'userns-remap')) ?? '') === '')
    add(
      RULES.userns,
      'user namespace remapping is off: root in a container is root on the host',
      'userns-remap',
    );
  if (flag('live-restore') !== true)
    add(RULES.liveRestore, 'live restore is off: a dockerd restart stops every container', 'live-restore');
  if (flag('no-new-privileges') !== true)
    add(
      RULES.nnp,
      'no-new-privileges is not the default: a setuid binary in any container can raise its privileges',
      'no-new-privileges',
    );
  const driver = str(get(doc, 'log-driver'));
  if (driver === 'none')
    add(RULES.log, 'the log driver is "none": container logs are not kept anywhere', 'log-driver');
  const plugins = get(doc, 'authorization-plugins');
  if (plugins?.kind !== 'seq' || plugins.items.length === 0)
    add(
      RULES.authz,
      'no authorization plugin: any caller of the Engine API may do anything',
      'authorization-plugins',
    );
  const insecure = get(doc, 'insecure-registries');
  if (insecure?.kind === 'seq' && insecure.items.length > 0)
    add(
      RULES.insecure,
      `insecure registries are allowed: ${insecure.items.map((i) => str(i)).join(', ')}`,
      'insecure-registries',
    );
  if (flag('iptables') === false) add(RULES.iptables, 'dockerd does not manage iptables', 'iptables');
  if (flag('userland-proxy') !== false)
    add(RULES.userland, 'the userland proxy is on: a proxy process per published port', 'userland-proxy');
  if (str(get(doc, 'seccomp-profile')) === 'unconfined')
    add(
      RULES.seccomp,
      'the default seccomp profile is "unconfined": no container gets a syscall filter',
      'seccomp-profile',
    );
  const hosts = get(doc, 'hosts');
  const tcp =
    hosts?.kind === 'seq' ? hosts.items.map((h) => str(h) ?? '').filter((h) => h.startsWith('tcp://')) : [];
  if (tcp.length > 0 && flag('tlsverify') !== true)
    add(RULES.tcp, `the Engine API listens on ${tcp.join(', ')} without "tlsverify": true`, 'hosts');
  return out;
}
