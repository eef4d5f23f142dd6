// Docker Engine API bodies: POST /containers/create and Swarm ServiceSpecs (POST /services/create,
// /services/{id}/update).

import type { At, Container, EnvVar, Mount, Port, Workload } from '../model.js';
import { bool, entries, get, InputError, items, keyLoc, num, str, type LMap, type LNode } from '../tree.js';
import { at, ENGINE_MOUNT, longMount, opt, securityOpts, shortMount, strings } from './common.js';
import { CONTAINER_CREATE, SERVICE_SPEC } from './engine-types.js';
import { decodeEngineBody, pairsOf, type PNode } from './gojson.js';

function asPairs(n: LNode | PNode): PNode {
  if (n.kind === 'map' || n.kind === 'seq' || (n.kind === 'scalar' && !('raw' in n))) return pairsOf(n);
  return n;
}

/** A container-create body as the Engine reads it (its field names, the last duplicate winning). */
export function canonicalCreateBody(body: LNode): LMap {
  return decodeEngineBody(CONTAINER_CREATE, asPairs(body), 'the container-create body');
}

/** Which Engine body a document is, by its top-level keys read as the Engine reads them. */
export function engineBodyKind(doc: LNode): 'service' | 'container' | undefined {
  if (doc.kind !== 'map') return undefined;
  const keys = new Set([...doc.entries.keys()].map((k) => k.toUpperCase()));
  if (keys.has('TASKTEMPLATE')) return 'service';
  if (keys.has('IMAGE') || keys.has('HOSTCONFIG')) return 'container';
  return undefined;
}

/**
 * A container-create body, from a file (a located tree) or from the wire (pairs with every
 * duplicate kept), decoded as the Engine decodes it (gojson.ts) before anything is read.
 */
export function fromDockerCreate(body: LNode | PNode, file: string, name = 'container'): Workload {
  const m = decodeEngineBody(CONTAINER_CREATE, asPairs(body), 'the container-create body');
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
    devices: [
      ...items(get(hc, 'Devices')).map((d) => at(str(get(d, 'PathOnHost')) ?? '', d.loc)),
      // GPUs and other devices requested through a driver: devices all the same.
      ...items(get(hc, 'DeviceRequests')).map((d) =>
        at(`${str(get(d, 'Driver')) || 'gpu'} device request`, d.loc),
      ),
    ],
    deviceCgroupRules: strings(get(hc, 'DeviceCgroupRules'), 'HostConfig.DeviceCgroupRules'),
    ...opt('oomKillDisable', b(get(hc, 'OomKillDisable'))),
    ...opt('publishAll', b(get(hc, 'PublishAllPorts'))),
    // An explicit list replaces the engine's masked and read-only /proc and /sys paths: an empty
    // one (or one missing the defaults) exposes them, as systempaths=unconfined does.
    ...(sec.unmaskedPaths ? {} : opt('unmaskedPaths', emptiedPaths(hc))),
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
    ...opt('hostCgroupns', mode('CgroupnsMode')),
    sharedNamespaces: [
      ...(['PidMode', 'IpcMode', 'NetworkMode'] as const).flatMap((k) => {
        const v = get(hc, k);
        const s = str(v);
        return s?.startsWith('container:') ? [at(`${k} ${s}`, v!.loc)] : [];
      }),
      ...strings(get(hc, 'VolumesFrom'), 'HostConfig.VolumesFrom').map((v) =>
        at(`VolumesFrom ${v.value}`, v.loc),
      ),
    ],
    ...(str(get(hc, 'CgroupParent'))
      ? { cgroupParent: at(str(get(hc, 'CgroupParent'))!, get(hc, 'CgroupParent')!.loc) }
      : {}),
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

/** The engine's defaults (moby oci/defaults.go): a MaskedPaths or ReadonlyPaths list without them exposes them. */
const MASKED = ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/proc/sched_debug', '/sys/firmware'];
const READ_ONLY = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

function emptiedPaths(hc: LNode | undefined): At<string> | undefined {
  for (const [key, defaults] of [
    ['MaskedPaths', MASKED],
    ['ReadonlyPaths', READ_ONLY],
  ] as const) {
    const n = get(hc, key);
    if (!n || n.kind !== 'seq') continue;
    const given = new Set(strings(n, `HostConfig.${key}`).map((p) => p.value));
    const missing = defaults.filter((d) => !given.has(d));
    if (missing.length > 0) return at(`HostConfig.${key} leaves out ${missing.join(', ')}`, n.loc);
  }
  return undefined;
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

/**
 * Rampart's run label and signature label as the Engine decodes them (keys in any case, the last
 * of repeated keys): a container's Labels, or a service's and its ContainerSpec's (a service
 * claims a run if either does; the signature is the service's own).
 */
export function runClaim(
  body: PNode,
  kind: 'container' | 'service',
  keys: { readonly run: string; readonly signature: string },
): { run?: string; signature?: string } {
  const label = (labels: LNode | undefined, key: string): string | undefined => str(get(labels, key));
  if (kind === 'container') {
    const labels = get(decodeEngineBody(CONTAINER_CREATE, body, 'the container-create body'), 'Labels');
    return defined({ run: label(labels, keys.run), signature: label(labels, keys.signature) });
  }
  const m = decodeEngineBody(SERVICE_SPEC, body, 'the ServiceSpec');
  const own = get(m, 'Labels');
  const task = get(m, 'TaskTemplate', 'ContainerSpec', 'Labels');
  return defined({
    run: label(own, keys.run) ?? label(task, keys.run),
    signature: label(own, keys.signature) ?? label(task, keys.signature),
  });
}

function defined<T extends Record<string, unknown>>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

// ---------------------------------------------------------------------------------------------
// Docker Engine: Swarm ServiceSpec (POST /services/create, /services/{id}/update)

export function fromServiceSpec(body: LNode | PNode, file: string): Workload {
  const m = decodeEngineBody(SERVICE_SPEC, asPairs(body), 'the ServiceSpec');
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
  const health = get(cs, 'Healthcheck');
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
    ...(bool(get(priv, 'SELinuxContext', 'Disable')) === true
      ? { selinuxDisabled: at(true, get(priv, 'SELinuxContext', 'Disable')!.loc) }
      : {}),
    mounts: engineMounts(get(cs, 'Mounts')),
    devices: [],
    deviceCgroupRules: [],
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
    sharedNamespaces: [],
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
