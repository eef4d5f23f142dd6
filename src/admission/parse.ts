// Input formats into the workload model: Compose and Swarm stack files (several merged the way
// `docker compose -f a.yml -f b.yml` merges them), Kubernetes manifests (multi-document; Pod,
// Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, List; init and ephemeral
// containers), and Docker Engine container-create bodies. A value of the wrong type is an
// InputError at its position, never silently ignored.

import type { SourceLocation } from '../core/errors.js';
import type { At, Container, EnvVar, Mount, Platform, Port, Workload } from './model.js';
import { bool, entries, get, InputError, items, keyLoc, num, str, type LMap, type LNode } from './tree.js';

const at = <T>(value: T, loc: SourceLocation): At<T> => ({ value, loc });
const VAR = /\$\{?[A-Za-z_]/;

function expectMap(n: LNode | undefined, what: string): LMap | undefined {
  if (n === undefined || (n.kind === 'scalar' && n.value === null)) return undefined;
  if (n.kind !== 'map') throw new InputError(`${what} must be a mapping`, n.loc);
  return n;
}

function strings(n: LNode | undefined, what: string): At<string>[] {
  if (n === undefined || (n.kind === 'scalar' && n.value === null)) return [];
  if (n.kind !== 'seq') throw new InputError(`${what} must be a list`, n.loc);
  return n.items.map((i) => {
    const v = str(i);
    if (v === undefined) throw new InputError(`${what} entries must be strings`, i.loc);
    return at(v, i.loc);
  });
}

// ---------------------------------------------------------------------------------------------
// Compose

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

/** SOURCE:TARGET[:OPTIONS] (Compose short syntax and Docker Engine Binds); a bare path is a volume. */
function shortMount(s: string, loc: SourceLocation): Mount {
  const parts = s.split(':');
  if (parts.length === 1) return { type: 'volume', target: s, readOnly: false, loc };
  const [source, target, opts = ''] = parts;
  const o = opts.split(',');
  const propagation = o.find((x) => /^(r?shared|r?slave|r?private)$/.test(x));
  return {
    type: /^[./~$]/.test(source!) ? 'bind' : 'volume',
    source: source!,
    target: target!,
    readOnly: o.includes('ro'),
    ...(propagation ? { propagation } : {}),
    loc,
  };
}

function composeMounts(n: LNode | undefined): Mount[] {
  return items(n).map((v) => {
    if (v.kind === 'scalar') return shortMount(String(v.value), v.loc);
    if (v.kind !== 'map') throw new InputError('a volume must be a string or a mapping', v.loc);
    return longMount(v, COMPOSE_MOUNT);
  });
}

/** Where a long-syntax mount keeps each field: Compose spells them one way, the Engine API another. */
interface MountKeys {
  readonly type: string;
  readonly source: string;
  readonly target: string;
  readonly readOnly: string;
  readonly propagation: readonly [string, string];
}
const COMPOSE_MOUNT: MountKeys = {
  type: 'type',
  source: 'source',
  target: 'target',
  readOnly: 'read_only',
  propagation: ['bind', 'propagation'],
};
const ENGINE_MOUNT: MountKeys = {
  type: 'Type',
  source: 'Source',
  target: 'Target',
  readOnly: 'ReadOnly',
  propagation: ['BindOptions', 'Propagation'],
};

function longMount(v: LNode, k: MountKeys): Mount {
  const type = str(get(v, k.type)) ?? 'volume';
  const source = str(get(v, k.source));
  const target = str(get(v, k.target));
  const propagation = str(get(v, ...k.propagation));
  return {
    type: type === 'bind' || type === 'volume' || type === 'tmpfs' ? type : 'other',
    ...(source !== undefined ? { source } : {}),
    ...(target !== undefined ? { target } : {}),
    readOnly: bool(get(v, k.readOnly)) === true,
    ...(propagation ? { propagation } : {}),
    loc: v.loc,
  };
}

/** security_opt entries: no-new-privileges[:true], seccomp=..., apparmor=..., label=type:... */
function securityOpts(
  opts: At<string>[],
): Pick<Container, 'noNewPrivileges' | 'seccomp' | 'apparmor' | 'selinuxType'> {
  const out: { -readonly [K in 'noNewPrivileges' | 'seccomp' | 'apparmor' | 'selinuxType']?: Container[K] } =
    {};
  for (const o of opts) {
    const [k, v = ''] = o.value.split(/[=:](.*)/s);
    if (k === 'no-new-privileges') out.noNewPrivileges = at(v === '' || v === 'true', o.loc);
    else if (k === 'seccomp') out.seccomp = at(v, o.loc);
    else if (k === 'apparmor') out.apparmor = at(v, o.loc);
    else if (k === 'label' && v.startsWith('type:')) out.selinuxType = at(v.slice(5), o.loc);
  }
  return out;
}

const SECURITY_FIELDS = [
  'image',
  'privileged',
  'user',
  'network_mode',
  'pid',
  'ipc',
  'userns_mode',
  'cap_add',
  'security_opt',
  'volumes',
  'devices',
  'ports',
  'read_only',
];

function interpolated(svc: LMap): At<string>[] {
  const out: At<string>[] = [];
  const walk = (field: string, n: LNode): void => {
    if (n.kind === 'scalar') {
      if (typeof n.value === 'string' && VAR.test(n.value)) out.push(at(field, n.loc));
    } else for (const c of n.kind === 'seq' ? n.items : n.entries.values()) walk(field, c);
  };
  for (const f of SECURITY_FIELDS) {
    const v = svc.entries.get(f);
    if (v) walk(f, v);
  }
  return out;
}

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
    const privileged = bool(field('privileged'));
    const readOnly = bool(field('read_only'));
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
      ...(privileged !== undefined ? { privileged: at(privileged, field('privileged')!.loc) } : {}),
      capAdd: strings(field('cap_add'), 'cap_add'),
      capDrop: strings(field('cap_drop'), 'cap_drop'),
      ...(readOnly !== undefined ? { readOnlyRootfs: at(readOnly, field('read_only')!.loc) } : {}),
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
      ...(health ? { healthcheck: at(bool(get(health, 'disable')) !== true, health.loc) } : {}),
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

// ---------------------------------------------------------------------------------------------
// Kubernetes

export const POD_SPEC_PATH: Readonly<Record<string, readonly string[]>> = {
  Pod: ['spec'],
  Deployment: ['spec', 'template', 'spec'],
  StatefulSet: ['spec', 'template', 'spec'],
  DaemonSet: ['spec', 'template', 'spec'],
  ReplicaSet: ['spec', 'template', 'spec'],
  ReplicationController: ['spec', 'template', 'spec'],
  Job: ['spec', 'template', 'spec'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
};

function profileOf(n: LNode | undefined): At<string> | undefined {
  // seccompProfile / appArmorProfile: {type: RuntimeDefault|Localhost|Unconfined, localhostProfile}
  const type = str(get(n, 'type'));
  if (!n || type === undefined) return undefined;
  const v =
    type === 'Unconfined'
      ? 'unconfined'
      : type === 'RuntimeDefault'
        ? 'runtime/default'
        : `localhost/${str(get(n, 'localhostProfile')) ?? ''}`;
  return at(v, n.loc);
}

function k8sContainer(
  c: LNode,
  role: Container['role'],
  pod: LNode | undefined,
  annotations: LNode | undefined,
): Container {
  const m = expectMap(c, 'a container');
  if (!m) throw new InputError('a container must be a mapping', c.loc);
  const name = str(get(m, 'name')) ?? '?';
  const sc = get(m, 'securityContext');
  const psc = get(pod, 'securityContext');
  // Container settings override the pod's.
  const pick = <T>(read: (n: LNode | undefined) => T | undefined, key: string): At<T> | undefined => {
    for (const scope of [sc, psc]) {
      const n = get(scope, key);
      const v = read(n);
      if (v !== undefined) return at(v, n!.loc);
    }
    return undefined;
  };
  const allowEsc = get(sc, 'allowPrivilegeEscalation');
  const seccomp = profileOf(get(sc, 'seccompProfile')) ?? profileOf(get(psc, 'seccompProfile'));
  const annotation = str(get(annotations, `container.apparmor.security.beta.kubernetes.io/${name}`));
  const apparmor =
    profileOf(get(sc, 'appArmorProfile')) ??
    profileOf(get(psc, 'appArmorProfile')) ??
    (annotation !== undefined ? at(annotation, annotations!.loc) : undefined);
  const limits = get(m, 'resources', 'limits');
  const image = str(get(m, 'image'));
  const selinux = pick((n) => str(get(n, 'type')), 'seLinuxOptions');
  const hostProcess = pick((n) => bool(get(n, 'hostProcess')), 'windowsOptions');
  const privileged = bool(get(sc, 'privileged'));
  const ro = bool(get(sc, 'readOnlyRootFilesystem'));
  const procMount = str(get(sc, 'procMount'));
  const mem = str(get(limits, 'memory'));
  const cpu = str(get(limits, 'cpu'));
  const env: EnvVar[] = items(get(m, 'env')).map((e) => {
    const value = str(get(e, 'value'));
    return { name: str(get(e, 'name')) ?? '?', ...(value !== undefined ? { value } : {}), loc: e.loc };
  });
  return {
    name,
    role,
    loc: m.loc,
    ...(image !== undefined ? { image: at(image, get(m, 'image')!.loc) } : {}),
    ...(privileged !== undefined ? { privileged: at(privileged, get(sc, 'privileged')!.loc) } : {}),
    capAdd: strings(get(sc, 'capabilities', 'add'), 'capabilities.add'),
    capDrop: strings(get(sc, 'capabilities', 'drop'), 'capabilities.drop'),
    ...(ro !== undefined ? { readOnlyRootfs: at(ro, get(sc, 'readOnlyRootFilesystem')!.loc) } : {}),
    ...opt('runAsUser', pick(num, 'runAsUser')),
    ...opt('runAsGroup', pick(num, 'runAsGroup')),
    ...opt('runAsNonRoot', pick(bool, 'runAsNonRoot')),
    ...(bool(allowEsc) !== undefined ? { noNewPrivileges: at(bool(allowEsc) === false, allowEsc!.loc) } : {}),
    ...opt('seccomp', seccomp),
    ...opt('apparmor', apparmor),
    ...opt('selinuxType', selinux),
    ...opt('hostProcess', hostProcess),
    ...(procMount !== undefined ? { procMount: at(procMount, get(sc, 'procMount')!.loc) } : {}),
    mounts: items(get(m, 'volumeMounts')).map((v) => {
      const propagation = str(get(v, 'mountPropagation'));
      const source = str(get(v, 'name'));
      const target = str(get(v, 'mountPath'));
      return {
        type: 'other' as const,
        ...(source !== undefined ? { source } : {}),
        ...(target !== undefined ? { target } : {}),
        readOnly: bool(get(v, 'readOnly')) === true,
        ...(propagation ? { propagation } : {}),
        loc: v.loc,
      };
    }),
    devices: [],
    ports: items(get(m, 'ports')).map((p) => {
      const hp = num(get(p, 'hostPort'));
      const hostIp = str(get(p, 'hostIP'));
      return {
        ...(hp !== undefined && hp > 0 ? { published: hp } : {}),
        ...(hostIp ? { hostIp } : {}),
        target: num(get(p, 'containerPort'))!,
        loc: p.loc,
      };
    }),
    env,
    envFiles: [],
    ...(mem !== undefined ? { memory: at(mem, get(limits, 'memory')!.loc) } : {}),
    ...(cpu !== undefined ? { cpus: at(cpu, get(limits, 'cpu')!.loc) } : {}),
    ...(get(m, 'livenessProbe') || get(m, 'readinessProbe')
      ? { healthcheck: at(true, (get(m, 'livenessProbe') ?? get(m, 'readinessProbe'))!.loc) }
      : {}),
    node: m,
  };
}

function opt<K extends string, T>(k: K, v: T | undefined): { [P in K]?: T } {
  return (v === undefined ? {} : { [k]: v }) as { [P in K]?: T };
}

/** Kubernetes documents (a List's items included) to workloads; other kinds are skipped. */
export function fromKubernetes(doc: LNode, file: string): Workload[] {
  const m = expectMap(doc, 'a Kubernetes document');
  if (!m) return [];
  const kind = str(get(m, 'kind'));
  if (kind === undefined) throw new InputError('a Kubernetes document needs a kind', m.loc);
  if (kind === 'List' || kind.endsWith('List'))
    return items(get(m, 'items')).flatMap((i) => fromKubernetes(i, file));
  const path = POD_SPEC_PATH[kind];
  if (!path) return [];
  const spec = get(m, ...path);
  const pod = expectMap(spec, `${kind} ${path.join('.')}`);
  if (!pod) throw new InputError(`${kind} has no ${path.join('.')}`, m.loc);
  const tmplMeta = kind === 'Pod' ? get(m, 'metadata') : get(m, ...path.slice(0, -1), 'metadata');
  const annotations = get(tmplMeta, 'annotations') ?? get(m, 'metadata', 'annotations');
  const containers = [
    ...items(get(pod, 'containers')).map((c) => k8sContainer(c, 'main', pod, annotations)),
    ...items(get(pod, 'initContainers')).map((c) => k8sContainer(c, 'init', pod, annotations)),
    ...items(get(pod, 'ephemeralContainers')).map((c) => k8sContainer(c, 'ephemeral', pod, annotations)),
  ];
  if (items(get(pod, 'containers')).length === 0) throw new InputError(`${kind} has no containers`, pod.loc);
  const flag = (k: string): At<boolean> | undefined => {
    const v = get(pod, k);
    const b = bool(v);
    return b === undefined ? undefined : at(b, v!.loc);
  };
  const hostUsers = get(pod, 'hostUsers');
  const namespace = str(get(m, 'metadata', 'namespace'));
  return [
    {
      platform: 'kubernetes',
      kind,
      name: str(get(m, 'metadata', 'name')) ?? '?',
      ...(namespace !== undefined ? { namespace } : {}),
      file,
      loc: m.loc,
      containers,
      ...opt('hostNetwork', flag('hostNetwork')),
      ...opt('hostPid', flag('hostPID')),
      ...opt('hostIpc', flag('hostIPC')),
      ...(hostUsers ? { hostUserns: at(bool(hostUsers) !== false, hostUsers.loc) } : {}),
      sysctls: items(get(pod, 'securityContext', 'sysctls')).map((s) => at(str(get(s, 'name')) ?? '', s.loc)),
      volumes: items(get(pod, 'volumes')).map((v) => {
        const type = [...(v.kind === 'map' ? v.entries.keys() : [])].find((k) => k !== 'name') ?? 'unknown';
        const path = str(get(v, 'hostPath', 'path'));
        return {
          name: str(get(v, 'name')) ?? '?',
          type,
          ...(path !== undefined ? { path } : {}),
          loc: v.loc,
        };
      }),
      secrets: [],
      networks: [],
      ignored: [],
      interpolated: [],
      node: m,
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// Docker Engine: POST /containers/create bodies

export function fromDockerCreate(body: LNode, file: string, name = 'container'): Workload {
  const m = expectMap(body, 'a container-create body');
  if (!m) throw new InputError('a container-create body must be an object', body.loc);
  const hc = get(m, 'HostConfig');
  const sec = securityOpts(strings(get(hc, 'SecurityOpt'), 'HostConfig.SecurityOpt'));
  const user = str(get(m, 'User'));
  const [u, g] = user === undefined || user === '' ? [undefined, undefined] : user.split(':');
  const b = (n: LNode | undefined): At<boolean> | undefined =>
    bool(n) === undefined ? undefined : at(bool(n)!, n!.loc);
  const mode = (k: string): At<boolean> | undefined => {
    const v = get(hc, k);
    return v && str(v) ? at(str(v) === 'host', v.loc) : undefined;
  };
  const memory = num(get(hc, 'Memory'));
  const nano = num(get(hc, 'NanoCpus')) ?? num(get(hc, 'CpuQuota'));
  const pids = num(get(hc, 'PidsLimit'));
  const image = str(get(m, 'Image'));
  const binds = strings(get(hc, 'Binds'), 'HostConfig.Binds').map((b) => shortMount(b.value, b.loc));
  const mounts = engineMounts(get(hc, 'Mounts'));
  const ports: Port[] = entries(get(hc, 'PortBindings')).flatMap(([spec, list]) =>
    items(list).map((p) => {
      const hostIp = str(get(p, 'HostIp'));
      return {
        ...(hostIp ? { hostIp } : {}),
        published: Number(str(get(p, 'HostPort')) || 0),
        target: Number(spec.split('/')[0]),
        loc: p.loc,
      };
    }),
  );
  const restart = get(hc, 'RestartPolicy');
  const container: Container = {
    name,
    role: 'main',
    loc: m.loc,
    ...(image !== undefined ? { image: at(image, get(m, 'Image')!.loc) } : {}),
    ...opt('privileged', b(get(hc, 'Privileged'))),
    capAdd: strings(get(hc, 'CapAdd'), 'HostConfig.CapAdd'),
    capDrop: strings(get(hc, 'CapDrop'), 'HostConfig.CapDrop'),
    ...opt('readOnlyRootfs', b(get(hc, 'ReadonlyRootfs'))),
    ...(u !== undefined ? { runAsUser: at(u, get(m, 'User')!.loc) } : {}),
    ...(g !== undefined ? { runAsGroup: at(g, get(m, 'User')!.loc) } : {}),
    ...sec,
    mounts: [...binds, ...mounts],
    devices: items(get(hc, 'Devices')).map((d) => at(str(get(d, 'PathOnHost')) ?? '', d.loc)),
    ports,
    env: engineEnv(get(m, 'Env')),
    envFiles: [],
    ...(memory ? { memory: at(memory, get(hc, 'Memory')!.loc) } : {}),
    ...(nano ? { cpus: at(nano, (get(hc, 'NanoCpus') ?? get(hc, 'CpuQuota'))!.loc) } : {}),
    ...(pids && pids > 0 ? { pids: at(pids, get(hc, 'PidsLimit')!.loc) } : {}),
    ...(get(m, 'Healthcheck') ? { healthcheck: at(true, get(m, 'Healthcheck')!.loc) } : {}),
    node: m,
  };
  return {
    platform: 'docker',
    kind: 'ContainerCreate',
    name,
    file,
    loc: m.loc,
    containers: [container],
    ...opt('hostNetwork', mode('NetworkMode')),
    ...opt('hostPid', mode('PidMode')),
    ...opt('hostIpc', mode('IpcMode')),
    ...opt('hostUts', mode('UTSMode')),
    ...opt('hostUserns', mode('UsernsMode')),
    sysctls: entries(get(hc, 'Sysctls')).map(([k]) => at(k, keyLoc(get(hc, 'Sysctls')!, k))),
    volumes: [],
    secrets: [],
    networks: [],
    ...(restart && str(get(restart, 'Name'))
      ? {
          restart: {
            policy: str(get(restart, 'Name'))!,
            ...(num(get(restart, 'MaximumRetryCount'))
              ? { maxAttempts: num(get(restart, 'MaximumRetryCount'))! }
              : {}),
            loc: restart.loc,
          },
        }
      : {}),
    ignored: [],
    interpolated: [],
    node: m,
  };
}

/** Engine API mounts (container HostConfig.Mounts, ServiceSpec ContainerSpec.Mounts). */
function engineMounts(n: LNode | undefined): Mount[] {
  return items(n).map((x) => longMount(x, ENGINE_MOUNT));
}

/** Engine API environment: a list of NAME=value strings. */
function engineEnv(n: LNode | undefined): EnvVar[] {
  return strings(n, 'Env').map((e) => {
    const eq = e.value.indexOf('=');
    return eq < 0
      ? { name: e.value, loc: e.loc }
      : { name: e.value.slice(0, eq), value: e.value.slice(eq + 1), loc: e.loc };
  });
}

// ---------------------------------------------------------------------------------------------
// Docker Engine: Swarm ServiceSpec (POST /services/create, /services/{id}/update)

export function fromServiceSpec(body: LNode, file: string): Workload {
  const m = expectMap(body, 'a ServiceSpec');
  if (!m) throw new InputError('a ServiceSpec must be an object', body.loc);
  const tt = get(m, 'TaskTemplate');
  const cs = get(tt, 'ContainerSpec');
  if (!cs) throw new InputError('a ServiceSpec needs TaskTemplate.ContainerSpec', m.loc);
  const name = str(get(m, 'Name')) ?? 'service';
  const priv = get(cs, 'Privileges');
  const nnp = get(priv, 'NoNewPrivileges');
  const seccomp = get(priv, 'Seccomp', 'Mode');
  const apparmor = get(priv, 'AppArmor', 'Mode');
  const selinux = get(priv, 'SELinuxContext', 'Type');
  const user = str(get(cs, 'User'));
  const [u, g] = user === undefined || user === '' ? [undefined, undefined] : user.split(':');
  const limits = get(tt, 'Resources', 'Limits');
  const memory = get(limits, 'MemoryBytes');
  const nano = get(limits, 'NanoCPUs');
  const pids = get(limits, 'Pids');
  const image = get(cs, 'Image');
  const ro = get(cs, 'ReadOnly');
  const health = get(cs, 'Healthcheck') ?? get(cs, 'HealthCheck');
  const healthTest = items(get(health, 'Test')).map((t) => str(t));
  const container: Container = {
    name,
    role: 'main',
    loc: cs.loc,
    ...(str(image) !== undefined ? { image: at(str(image)!, image!.loc) } : {}),
    capAdd: strings(get(cs, 'CapabilityAdd'), 'CapabilityAdd'),
    capDrop: strings(get(cs, 'CapabilityDrop'), 'CapabilityDrop'),
    ...(bool(ro) !== undefined ? { readOnlyRootfs: at(bool(ro)!, ro!.loc) } : {}),
    ...(u !== undefined ? { runAsUser: at(u, get(cs, 'User')!.loc) } : {}),
    ...(g !== undefined ? { runAsGroup: at(g, get(cs, 'User')!.loc) } : {}),
    ...(bool(nnp) !== undefined ? { noNewPrivileges: at(bool(nnp)!, nnp!.loc) } : {}),
    ...(str(seccomp) !== undefined ? { seccomp: at(str(seccomp)!, seccomp!.loc) } : {}),
    // AppArmor Mode "disabled" is the Engine's spelling of unconfined.
    ...(str(apparmor) !== undefined
      ? { apparmor: at(str(apparmor) === 'disabled' ? 'unconfined' : str(apparmor)!, apparmor!.loc) }
      : {}),
    ...(str(selinux) ? { selinuxType: at(str(selinux)!, selinux!.loc) } : {}),
    mounts: engineMounts(get(cs, 'Mounts')),
    devices: [],
    ports: items(get(m, 'EndpointSpec', 'Ports')).map((p) => {
      const published = num(get(p, 'PublishedPort'));
      const target = num(get(p, 'TargetPort'));
      return {
        ...(published !== undefined ? { published } : {}),
        ...(target !== undefined ? { target } : {}),
        mode: str(get(p, 'PublishMode')) === 'host' ? ('host' as const) : ('ingress' as const),
        loc: p.loc,
      };
    }),
    env: engineEnv(get(cs, 'Env')),
    envFiles: [],
    ...(num(memory) ? { memory: at(num(memory)!, memory!.loc) } : {}),
    ...(num(nano) ? { cpus: at(num(nano)!, nano!.loc) } : {}),
    ...(num(pids) ? { pids: at(num(pids)!, pids!.loc) } : {}),
    ...(health ? { healthcheck: at(healthTest[0] !== 'NONE', health.loc) } : {}),
    node: cs,
  };
  const restart = get(tt, 'RestartPolicy');
  const attempts = num(get(restart, 'MaxAttempts'));
  const hostNet = items(get(tt, 'Networks')).find((n) => str(get(n, 'Target')) === 'host');
  return {
    platform: 'swarm',
    kind: 'ServiceSpec',
    name,
    file,
    loc: m.loc,
    containers: [container],
    ...(hostNet ? { hostNetwork: at(true, hostNet.loc) } : {}),
    sysctls: entries(get(cs, 'Sysctls')).map(([k]) => at(k, keyLoc(get(cs, 'Sysctls')!, k))),
    volumes: [],
    secrets: items(get(cs, 'Secrets')).map((s) => {
      const mode = get(s, 'File', 'Mode');
      return {
        name: str(get(s, 'SecretName')) ?? str(get(s, 'SecretID')) ?? '?',
        ...(num(mode) !== undefined ? { mode: at(num(mode)!, mode!.loc) } : {}),
        loc: s.loc,
      };
    }),
    networks: [],
    ...(restart
      ? {
          restart: {
            policy: str(get(restart, 'Condition')) ?? 'any',
            // MaxAttempts 0 is the Engine's "unbounded".
            ...(attempts ? { maxAttempts: attempts } : {}),
            loc: restart.loc,
          },
        }
      : {}),
    ignored: [],
    interpolated: [],
    node: m,
  };
}
