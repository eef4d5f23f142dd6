// Compose and Swarm stack files: several merged the way `docker compose -f a.yml -f b.yml` merges
// them, each service to a workload. What `docker stack deploy` ignores is set aside, not checked.

import type { SourceLocation } from '../../core/errors.js';
import type { At, Container, EnvVar, Mount, Platform, Port, Workload } from '../model.js';
import { entries, get, InputError, items, keyLoc, num, str, type LMap, type LNode } from '../tree.js';
import {
  at,
  COMPOSE_MOUNT,
  expectMap,
  longMount,
  opt,
  securityOpts,
  shortMount,
  strings,
  VAR,
} from './common.js';

/** Service keys `docker stack deploy` ignores (Compose file reference, "Deploy specification"). */
export const SWARM_IGNORED = [
  'build',
  'cgroup_parent',
  'container_name',
  'cpus',
  'cpu_quota',
  'depends_on',
  'devices',
  'external_links',
  'ipc',
  'links',
  'mem_limit',
  'network_mode',
  'pid',
  'pids_limit',
  'privileged',
  'restart',
  'security_opt',
  'userns_mode',
];

const LIST_KEYS = new Set([
  'cap_add',
  'cap_drop',
  'devices',
  'dns',
  'expose',
  'external_links',
  'ports',
  'security_opt',
  'secrets',
  'configs',
  'volumes',
  'env_file',
]);

/** Merges override files into the first, as Compose does: maps deep, lists appended, scalars replaced. */
export function mergeCompose(base: LNode, override: LNode): LNode {
  if (base.kind === 'map' && override.kind === 'map') {
    const entries = new Map(base.entries);
    const keys = new Map(base.keys);
    for (const [k, v] of override.entries) {
      const prev = entries.get(k);
      let merged = v;
      if (prev && prev.kind === 'seq' && v.kind === 'seq' && LIST_KEYS.has(k))
        merged = { kind: 'seq', items: [...prev.items, ...v.items], loc: v.loc };
      else if (prev && k === 'environment') merged = mergeCompose(envAsMap(prev), envAsMap(v));
      else if (prev && prev.kind === 'map' && v.kind === 'map') merged = mergeCompose(prev, v);
      entries.set(k, merged);
      keys.set(k, override.keys.get(k) ?? v.loc);
    }
    return { kind: 'map', entries, keys, loc: base.loc };
  }
  return override;
}

function envAsMap(n: LNode): LNode {
  if (n.kind !== 'seq') return n;
  const entries = new Map<string, LNode>();
  const keys = new Map<string, SourceLocation>();
  for (const i of n.items) {
    const s = str(i) ?? '';
    const eq = s.indexOf('=');
    const name = eq < 0 ? s : s.slice(0, eq);
    entries.set(name, { kind: 'scalar', value: eq < 0 ? null : s.slice(eq + 1), loc: i.loc });
    keys.set(name, i.loc);
  }
  return { kind: 'map', entries, keys, loc: n.loc };
}

function composeEnv(n: LNode | undefined): EnvVar[] {
  if (!n) return [];
  const m = envAsMap(n);
  if (m.kind !== 'map') throw new InputError('environment must be a mapping or a list', n.loc);
  return [...m.entries].map(([name, v]) => {
    const value = str(v);
    return value === undefined ? { name, loc: keyLoc(m, name) } : { name, value, loc: keyLoc(m, name) };
  });
}

function parseShortPort(s: string, loc: SourceLocation): Port {
  // [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]; an IPv6 host address in brackets. Split by
  // hand: a regular expression with optional groups backtracks on every "ip:port:port".
  const bad = (): never => {
    throw new InputError(`"${s}" is not a port mapping`, loc);
  };
  const slash = s.lastIndexOf('/');
  let rest = slash >= 0 && /^(tcp|udp|sctp)$/i.test(s.slice(slash + 1)) ? s.slice(0, slash) : s;
  let ip: string | undefined;
  if (rest.startsWith('[')) {
    const end = rest.indexOf(']');
    if (end < 0 || rest[end + 1] !== ':') bad();
    ip = rest.slice(0, end + 1);
    rest = rest.slice(end + 2);
  }
  const parts = rest.split(':');
  const digits = (x: string): boolean => /^[\d-]*$/.test(x);
  let host: string | undefined;
  let target: string | undefined;
  if (parts.length === 1) target = parts[0];
  else if (parts.length === 2 && ip === undefined && !digits(parts[0]!)) [ip, target] = parts;
  else if (parts.length === 2) [host, target] = parts;
  else if (parts.length === 3 && ip === undefined) [ip, host, target] = parts;
  else bad();
  if (ip === '' || !target || !digits(target) || (host !== undefined && !digits(host))) bad();
  const range = (r: string | undefined): [number | undefined, number | undefined] => {
    if (!r) return [undefined, undefined];
    const [a, b] = r.split('-');
    return [Number(a), b ? Number(b) : undefined];
  };
  const [p0, p1] = range(host);
  const [t0] = range(target);
  // Only a container port: Docker publishes it on an ephemeral host port, on every interface.
  if (host === undefined && ip === undefined) return { published: 0, target: t0!, loc };
  return {
    ...(ip ? { hostIp: ip.replace(/^\[|\]$/g, '') } : {}),
    published: p0 ?? 0,
    ...(p1 !== undefined ? { publishedEnd: p1 } : {}),
    target: t0!,
    loc,
  };
}

function composePorts(n: LNode | undefined): Port[] {
  return items(n).map((p) => {
    if (p.kind === 'scalar') return parseShortPort(String(p.value), p.loc);
    if (p.kind !== 'map') throw new InputError('a port must be a string or a mapping', p.loc);
    const published = str(get(p, 'published'));
    const mode = str(get(p, 'mode'));
    const hostIp = str(get(p, 'host_ip'));
    return {
      ...(hostIp ? { hostIp } : {}),
      ...(published !== undefined ? { published: Number(published.split('-')[0]) } : {}),
      target: num(get(p, 'target'))!,
      ...(mode === 'host' || mode === 'ingress' ? { mode } : {}),
      loc: p.loc,
    };
  });
}

function composeMounts(n: LNode | undefined): Mount[] {
  return items(n).map((v) => {
    if (v.kind === 'scalar') return shortMount(String(v.value), v.loc);
    if (v.kind !== 'map') throw new InputError('a volume must be a string or a mapping', v.loc);
    return longMount(v, COMPOSE_MOUNT, (x) => composeBool(x, 'read_only')?.value);
  });
}

const TRUE = new Set(['y', 'yes', 'true', 'on']);
const FALSE = new Set(['n', 'no', 'false', 'off']);

/**
 * A boolean field read the way the Compose loader reads it: a YAML boolean, or a string it casts
 * (compose-go's toBoolean: y, yes, true, on and n, no, false, off, in any case), so a quoted
 * `privileged: "yes"` is privileged here as it is there. A ${VARIABLE} is unknown (undefined:
 * the unresolved-variable check reports it); any other value Compose itself refuses, and so
 * does this.
 */
function composeBool(n: LNode | undefined, field: string): At<boolean> | undefined {
  if (!n || n.kind !== 'scalar' || n.value === null) return undefined;
  if (typeof n.value === 'boolean') return at(n.value, n.loc);
  const s = String(n.value);
  if (TRUE.has(s.toLowerCase())) return at(true, n.loc);
  if (FALSE.has(s.toLowerCase())) return at(false, n.loc);
  if (VAR.test(s)) return undefined;
  throw new InputError(
    `${field}: ${JSON.stringify(s).slice(0, 60)} is not a boolean (Compose refuses it too)`,
    n.loc,
  );
}

/**
 * Every service field a check reads, as paths: a ${VARIABLE} anywhere under one is a value nobody
 * can check until the file is deployed, reported rather than assumed safe.
 */
const CHECKED_FIELDS: readonly (readonly string[])[] = [
  ['image'],
  ['privileged'],
  ['user'],
  ['network_mode'],
  ['pid'],
  ['ipc'],
  ['uts'],
  ['cgroup'],
  ['cgroup_parent'],
  ['userns_mode'],
  ['cap_add'],
  ['cap_drop'],
  ['security_opt'],
  ['volumes'],
  ['volumes_from'],
  ['devices'],
  ['device_cgroup_rules'],
  ['ports'],
  ['read_only'],
  ['oom_kill_disable'],
  ['sysctls'],
  ['secrets'],
  ['healthcheck', 'disable'],
  ['mem_limit'],
  ['cpus'],
  ['pids_limit'],
  ['restart'],
  ['deploy', 'resources', 'limits'],
  ['deploy', 'restart_policy'],
];

function interpolated(svc: LMap): At<string>[] {
  const out: At<string>[] = [];
  const walk = (field: string, n: LNode): void => {
    if (n.kind === 'scalar') {
      if (typeof n.value === 'string' && VAR.test(n.value)) out.push(at(field, n.loc));
    } else for (const c of n.kind === 'seq' ? n.items : n.entries.values()) walk(field, c);
  };
  for (const path of CHECKED_FIELDS) {
    const v = get(svc, ...path);
    if (v) walk(path.join('.'), v);
  }
  return out;
}

/** `container:NAME` or `service:NAME`: a namespace joined from another container. */
const JOINED = /^(container|service):/;

/** Compose services (already merged) to workloads. `swarm`: the file is deployed as a stack. */
export function fromCompose(root: LNode, file: string, swarm: boolean): Workload[] {
  const top = expectMap(root, 'a Compose file');
  if (!top) return [];
  const services = expectMap(top.entries.get('services'), 'services');
  if (!services) throw new InputError('a Compose file needs a services mapping', top.loc);
  const networkDefs = expectMap(top.entries.get('networks'), 'networks');
  const networks = entries(networkDefs).map(([name, n]) => {
    const driver = str(get(n, 'driver'));
    return {
      name,
      ...(driver ? { driver } : {}),
      encrypted: get(n, 'driver_opts', 'encrypted') !== undefined,
      loc: keyLoc(networkDefs!, name),
    };
  });
  const platform: Platform = swarm ? 'swarm' : 'compose';
  return [...services.entries].map(([name, raw]) => {
    const svc: LMap = expectMap(raw, `service ${name}`) ?? {
      kind: 'map',
      entries: new Map(),
      keys: new Map(),
      loc: raw.loc,
    };
    const ignored: At<string>[] = [];
    // What a Swarm stack ignores is not part of the workload that runs.
    const field = (k: string): LNode | undefined => {
      const v = svc.entries.get(k);
      if (v && swarm && SWARM_IGNORED.includes(k)) {
        ignored.push(at(k, keyLoc(svc, k)));
        return undefined;
      }
      return v;
    };
    const limits = get(svc, 'deploy', 'resources', 'limits');
    const security = securityOpts(strings(field('security_opt'), 'security_opt'));
    const user = str(field('user'));
    const [u, g] = user === undefined ? [undefined, undefined] : user.split(':');
    const privileged = composeBool(field('privileged'), 'privileged');
    const readOnly = composeBool(field('read_only'), 'read_only');
    const oomKillDisable = composeBool(field('oom_kill_disable'), 'oom_kill_disable');
    const health = field('healthcheck');
    const mem = str(get(limits, 'memory')) ?? str(field('mem_limit'));
    const cpus = str(get(limits, 'cpus')) ?? str(field('cpus'));
    const pids = num(get(limits, 'pids')) ?? num(field('pids_limit'));
    const image = str(field('image'));
    const container: Container = {
      name,
      role: 'main',
      loc: keyLoc(services, name),
      ...(image !== undefined ? { image: at(image, field('image')!.loc) } : {}),
      ...opt('privileged', privileged),
      capAdd: strings(field('cap_add'), 'cap_add'),
      capDrop: strings(field('cap_drop'), 'cap_drop'),
      ...opt('readOnlyRootfs', readOnly),
      ...opt('oomKillDisable', oomKillDisable),
      deviceCgroupRules: strings(field('device_cgroup_rules'), 'device_cgroup_rules'),
      ...(u !== undefined ? { runAsUser: at(u, field('user')!.loc) } : {}),
      ...(g !== undefined ? { runAsGroup: at(g, field('user')!.loc) } : {}),
      ...security,
      mounts: composeMounts(field('volumes')),
      devices: items(field('devices')).map((d) => {
        const s = str(d) ?? str(get(d, 'source')) ?? '';
        return at(s.split(':')[0]!, d.loc);
      }),
      ports: composePorts(field('ports')),
      env: composeEnv(field('environment')),
      envFiles: items(field('env_file')).map((f) => at(str(f) ?? str(get(f, 'path')) ?? '', f.loc)),
      ...(mem !== undefined ? { memory: at(mem, (get(limits, 'memory') ?? field('mem_limit'))!.loc) } : {}),
      ...(cpus !== undefined ? { cpus: at(cpus, (get(limits, 'cpus') ?? field('cpus'))!.loc) } : {}),
      ...(pids !== undefined ? { pids: at(pids, (get(limits, 'pids') ?? field('pids_limit'))!.loc) } : {}),
      ...(health
        ? {
            healthcheck: at(
              composeBool(get(health, 'disable'), 'healthcheck.disable')?.value !== true,
              health.loc,
            ),
          }
        : {}),
      node: svc,
    };
    const mode = (k: string): At<boolean> | undefined => {
      const v = field(k);
      return v ? at(str(v) === 'host', v.loc) : undefined;
    };
    const netMode = mode('network_mode');
    const pid = mode('pid');
    const ipc = mode('ipc');
    const uts = mode('uts');
    const userns = mode('userns_mode');
    const cgroup = mode('cgroup');
    const cgroupParent = field('cgroup_parent');
    const sharedNamespaces = [
      ...(['pid', 'ipc', 'network_mode', 'cgroup'] as const).flatMap((k) => {
        const v = field(k);
        const s = str(v);
        return s !== undefined && JOINED.test(s) ? [at(`${k} ${s}`, v!.loc)] : [];
      }),
      ...strings(field('volumes_from'), 'volumes_from').map((v) => at(`volumes_from ${v.value}`, v.loc)),
    ];
    const restartPolicy = get(svc, 'deploy', 'restart_policy');
    const restartScalar = field('restart');
    const restart = restartPolicy
      ? {
          policy: str(get(restartPolicy, 'condition')) ?? 'any',
          ...(num(get(restartPolicy, 'max_attempts')) !== undefined
            ? { maxAttempts: num(get(restartPolicy, 'max_attempts'))! }
            : {}),
          loc: restartPolicy.loc,
        }
      : restartScalar
        ? (() => {
            const [policy, max] = (str(restartScalar) ?? '').split(':');
            return { policy: policy!, ...(max ? { maxAttempts: Number(max) } : {}), loc: restartScalar.loc };
          })()
        : undefined;
    const svcNetworks = new Set(
      get(svc, 'networks')?.kind === 'seq'
        ? items(get(svc, 'networks')).map((n) => str(n) ?? '')
        : entries(get(svc, 'networks')).map(([n]) => n),
    );
    return {
      platform,
      kind: 'Service',
      name,
      file,
      loc: keyLoc(services, name),
      containers: [container],
      ...(netMode ? { hostNetwork: netMode } : {}),
      ...(pid ? { hostPid: pid } : {}),
      ...(ipc ? { hostIpc: ipc } : {}),
      ...(uts ? { hostUts: uts } : {}),
      ...(userns ? { hostUserns: userns } : {}),
      ...(cgroup ? { hostCgroupns: cgroup } : {}),
      sharedNamespaces,
      ...(str(cgroupParent) ? { cgroupParent: at(str(cgroupParent)!, cgroupParent!.loc) } : {}),
      sysctls: (() => {
        const s = get(svc, 'sysctls');
        return s?.kind === 'seq'
          ? s.items.map((i) => at((str(i) ?? '').split('=')[0]!, i.loc))
          : entries(s).map(([k]) => at(k, keyLoc(s!, k)));
      })(),
      volumes: [],
      secrets: items(get(svc, 'secrets')).map((s) => {
        const sname = str(s) ?? str(get(s, 'source')) ?? '';
        const m = get(s, 'mode');
        const mode = num(m);
        return { name: sname, ...(mode !== undefined ? { mode: at(mode, m!.loc) } : {}), loc: s.loc };
      }),
      networks: networks.filter(
        (n) => svcNetworks.has(n.name) || (svcNetworks.size === 0 && n.name === 'default'),
      ),
      ...(restart ? { restart } : {}),
      ignored,
      interpolated: interpolated(svc),
      node: svc,
    } satisfies Workload;
  });
}
