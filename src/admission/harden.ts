// Hardening: the edits that bring a spec to the baseline where that can be done without a human
// decision (drop ALL capabilities, read-only root, no-new-privileges, a non-root user, resource
// limits, console ports bound to loopback, bounded restarts, encrypted overlays, secret modes).
// Edits are data, computed once from the document's plain value, then applied either as splices
// of the file's text (`rampart harden`, harden-text.ts) or as a JSONPatch (the Kubernetes
// mutating webhook). What cannot be fixed this way (privileged, host namespaces and mounts, added
// capabilities, secrets in the environment, images) is left to the checks to report: the caller
// checks the result, so "what harden could not fix" is exactly what the checks still find.
//
// Every edit is conditional on the value not already being right, so hardening hardened output
// changes nothing.

import { CONSOLE_PORTS } from './checks.js';
import { SWARM_IGNORED } from './formats/compose.js';
import { POD_SPEC_PATH } from './formats/kubernetes.js';

export type PathKey = string | number;

export interface Edit {
  /** set: put `value` at `path`, creating parents; append: add `value` to the list at `path`. */
  readonly op: 'set' | 'append';
  readonly path: readonly PathKey[];
  readonly value: unknown;
  /** The check this edit satisfies. */
  readonly check: string;
  /** What was changed, for the user (no values from the spec beyond names). */
  readonly note: string;
  /** Set when the fix cannot be made from what harden knows: why, and what to give it. */
  readonly unfixable?: string;
}

export interface HardenDefaults {
  /** Compose `user` when none is set. */
  readonly user: string;
  /**
   * Rebind console ports published on an explicit every-interface address (0.0.0.0, ::) to this
   * address. Without it only ports with no address are bound to loopback: an address written in
   * the file is someone's decision.
   */
  readonly bindConsoles?: string;
  /**
   * The group id that may open /dev/kvm on the hosts that run a VM runner (a non-root runner
   * needs it). Undefined: the group of the device's path on this host, if group-accessible.
   */
  readonly kvmGroup?: number;
  /** Where to read a device's owning group (this host's filesystem; tests give their own). */
  readonly deviceGroup?: (path: string) => number | undefined;
  readonly memory: string;
  readonly cpus: string;
  readonly pids: number;
  readonly restartAttempts: number;
}

export const HARDEN_DEFAULTS: HardenDefaults = {
  user: '65532:65532',
  memory: '1g',
  cpus: '1',
  pids: 256,
  restartAttempts: 5,
};

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const text = (v: unknown): string => (typeof v === 'string' || typeof v === 'number' ? String(v) : '');
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const hasAll = (v: unknown): boolean =>
  list(v).some((x) => typeof x === 'string' && x.toUpperCase() === 'ALL');
const isRootUser = (u: unknown): boolean =>
  u === 0 || u === '0' || u === 'root' || /^(0|root):/.test(String(u));

function at(o: unknown, path: readonly PathKey[]): unknown {
  let cur = o;
  for (const k of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PathKey, unknown>)[k];
  }
  return cur;
}

/** Computes the hardening edits for one parsed document (Compose, Kubernetes or Docker create body). */
export function hardenEdits(doc: unknown, opts: { swarm?: boolean; defaults?: HardenDefaults } = {}): Edit[] {
  const d = opts.defaults ?? HARDEN_DEFAULTS;
  if (!isObj(doc)) return [];
  if (isObj(doc['services'])) return composeEdits(doc, opts.swarm ?? looksLikeStack(doc), d);
  if (typeof doc['apiVersion'] === 'string' && typeof doc['kind'] === 'string')
    return kubernetesEdits(doc, [], d);
  if ('Image' in doc || 'HostConfig' in doc) return dockerEdits(doc, d);
  return [];
}

function looksLikeStack(doc: Obj): boolean {
  const services = doc['services'] as Obj;
  if (
    Object.values(services).some(
      (s) =>
        isObj(s) &&
        isObj(s['deploy']) &&
        ('mode' in s['deploy'] || 'replicas' in s['deploy'] || 'placement' in s['deploy']),
    )
  )
    return true;
  return (
    isObj(doc['networks']) &&
    Object.values(doc['networks']).some((n) => isObj(n) && n['driver'] === 'overlay')
  );
}

// ---------------------------------------------------------------------------------------------
// Compose and Swarm stacks

function composeEdits(doc: Obj, swarm: boolean, d: HardenDefaults): Edit[] {
  const out: Edit[] = [];
  for (const [name, svc] of Object.entries(doc['services'] as Obj)) {
    if (!isObj(svc)) continue;
    const base = ['services', name];
    const set = (path: PathKey[], value: unknown, check: string, note: string): void => {
      out.push({ op: 'set', path: [...base, ...path], value, check, note: `${name}: ${note}` });
    };
    const append = (path: PathKey[], value: unknown, check: string, note: string): void => {
      out.push({ op: 'append', path: [...base, ...path], value, check, note: `${name}: ${note}` });
    };
    const ignoredHere = (k: string): boolean => swarm && SWARM_IGNORED.includes(k);

    if (!hasAll(svc['cap_drop'])) {
      if (Array.isArray(svc['cap_drop']))
        append(['cap_drop'], 'ALL', 'drop-all-capabilities', 'cap_drop ALL');
      else set(['cap_drop'], ['ALL'], 'drop-all-capabilities', 'cap_drop: [ALL]');
    }
    if (svc['read_only'] !== true) set(['read_only'], true, 'read-only-rootfs', 'read_only: true');
    out.push(...vmRunnerEdits(svc, base, name, swarm, d));
    if (svc['user'] === undefined || svc['user'] === null || svc['user'] === '')
      set(['user'], d.user, 'run-as-non-root', `user: "${d.user}"`);
    else if (typeof svc['user'] === 'string' && !svc['user'].includes(':') && !isRootUser(svc['user']))
      set(
        ['user'],
        `${svc['user']}:${d.user.split(':')[1]}`,
        'non-root-group',
        `user gets group ${d.user.split(':')[1]}`,
      );

    // security_opt is ignored by `docker stack deploy`; the check says so, nothing to write here.
    if (!ignoredHere('security_opt')) {
      const opts = list(svc['security_opt']).map(String);
      const unconfined = opts.filter((o) => /^(seccomp|apparmor)[=:]unconfined$/i.test(o));
      const nnp = opts.some((o) => /^no-new-privileges(?:[=:]true)?$/i.test(o));
      if (unconfined.length > 0)
        set(
          ['security_opt'],
          [...opts.filter((o) => !unconfined.includes(o)), ...(nnp ? [] : ['no-new-privileges:true'])],
          'seccomp-required',
          `security_opt without ${unconfined.join(', ')}`,
        );
      else if (!nnp) {
        if (Array.isArray(svc['security_opt']))
          append(['security_opt'], 'no-new-privileges:true', 'no-new-privileges', 'no-new-privileges:true');
        else
          set(
            ['security_opt'],
            ['no-new-privileges:true'],
            'no-new-privileges',
            'security_opt: [no-new-privileges:true]',
          );
      }
    }

    const limits = at(svc, ['deploy', 'resources', 'limits']);
    const lim = (key: string, legacy: string, value: unknown, check: string): void => {
      if (isObj(limits) && limits[key] !== undefined && limits[key] !== null) return;
      if (!ignoredHere(legacy) && svc[legacy] !== undefined && svc[legacy] !== null) return;
      set(
        ['deploy', 'resources', 'limits', key],
        value,
        check,
        `deploy.resources.limits.${key}: ${String(value)}`,
      );
    };
    lim('memory', 'mem_limit', d.memory, 'memory-limit');
    lim('cpus', 'cpus', d.cpus, 'cpu-limit');
    // docker-compose 1.x refuses deploy.resources.limits.pids; pids_limit is read by every Compose.
    if (swarm) lim('pids', 'pids_limit', d.pids, 'pids-limit');
    else if (
      (svc['pids_limit'] === undefined || svc['pids_limit'] === null) &&
      !(isObj(limits) && limits['pids'] !== undefined && limits['pids'] !== null)
    )
      set(['pids_limit'], d.pids, 'pids-limit', `pids_limit: ${d.pids}`);

    // Console ports: on loopback for Compose. A Swarm stack cannot bind the routing mesh to an
    // address; that needs mode: host and a recorded exception, a human decision.
    if (!swarm)
      list(svc['ports']).forEach((p, i) => {
        if (typeof p === 'string' || typeof p === 'number') {
          const spec = String(p);
          const bare = spec.split('/')[0]!;
          const parts = bare.split(':');
          const target = Number(parts[parts.length - 1]!.split('-')[0]);
          if (!CONSOLE_PORTS(target)) return;
          // An address written in the file is rebound only when asked (--bind-consoles).
          const ip = /^(\[[^\]]*\]|[^:]*):/.exec(bare)?.[1];
          const explicit = parts.length >= 3 && (ip === '0.0.0.0' || ip === '[::]' || ip === '::');
          const addr = explicit ? d.bindConsoles : '127.0.0.1';
          if (addr !== undefined && (parts.length <= 2 || explicit))
            set(
              ['ports', i],
              parts.length === 1
                ? `${addr}::${spec}`
                : explicit
                  ? `${addr}${spec.slice(ip.length)}`
                  : `${addr}:${spec}`,
              'console-not-public',
              `console port ${target} bound to ${addr}`,
            );
        } else if (isObj(p) && p['published'] !== undefined) {
          const target = Number(p['target']);
          const ip = p['host_ip'];
          const addr = ip === '0.0.0.0' || ip === '::' ? d.bindConsoles : '127.0.0.1';
          if (
            CONSOLE_PORTS(target) &&
            addr !== undefined &&
            (ip === undefined || ip === '0.0.0.0' || ip === '::' || ip === '')
          )
            set(
              ['ports', i, 'host_ip'],
              addr,
              'console-not-public',
              `console port ${target} bound to ${addr}`,
            );
        }
      });

    const policy = at(svc, ['deploy', 'restart_policy']);
    if (isObj(policy)) {
      const c = policy['condition'] ?? 'any';
      if ((c === 'any' || c === 'on-failure') && policy['max_attempts'] === undefined)
        set(
          ['deploy', 'restart_policy', 'max_attempts'],
          d.restartAttempts,
          'bounded-restart',
          `restart_policy.max_attempts: ${d.restartAttempts}`,
        );
    } else if (!ignoredHere('restart') && typeof svc['restart'] === 'string') {
      const [p, max] = svc['restart'].split(':');
      if (p === 'always' || p === 'unless-stopped' || (p === 'on-failure' && !max))
        set(
          ['restart'],
          `on-failure:${d.restartAttempts}`,
          'bounded-restart',
          `restart: on-failure:${d.restartAttempts}`,
        );
    }

    list(svc['secrets']).forEach((s, i) => {
      if (isObj(s) && typeof s['mode'] === 'number' && (s['mode'] & ~0o440) !== 0)
        set(
          ['secrets', i, 'mode'],
          s['mode'] & 0o440,
          'secret-file-mode',
          `secret ${String(s['source'])} mode 0${(s['mode'] & 0o440).toString(8)}`,
        );
    });
  }
  if (isObj(doc['networks']))
    for (const [name, n] of Object.entries(doc['networks']))
      if (
        isObj(n) &&
        n['driver'] === 'overlay' &&
        !(isObj(n['driver_opts']) && 'encrypted' in n['driver_opts'])
      )
        out.push({
          op: 'set',
          path: ['networks', name, 'driver_opts', 'encrypted'],
          value: '',
          check: 'encrypted-overlay',
          note: `network ${name}: encrypted overlay`,
        });
  return out;
}

/**
 * A VM runner (a service given /dev/kvm) hardened to a non-root user and a read-only root must
 * still start: the user needs the group that may open /dev/kvm, and QEMU needs somewhere to write
 * its temporary files, pid files and monitor sockets.
 */
function vmRunnerEdits(svc: Obj, base: PathKey[], name: string, swarm: boolean, d: HardenDefaults): Edit[] {
  const kvm = list(svc['devices'])
    .map((x) => (isObj(x) ? text(x['source']) + ':' + text(x['target']) : text(x)))
    .map((spec) => spec.split(':'))
    .find((p) => (p[1] ?? p[0]) === '/dev/kvm');
  if (!kvm || (swarm && SWARM_IGNORED.includes('devices'))) return [];
  const out: Edit[] = [];
  const rootUser = svc['user'] !== undefined && isRootUser(svc['user']);
  const gid = d.kvmGroup ?? d.deviceGroup?.(kvm[0]!);
  const groups = list(svc['group_add']).map(String);
  if (!rootUser && gid !== undefined && !groups.includes(String(gid)))
    out.push({
      op: Array.isArray(svc['group_add']) ? 'append' : 'set',
      path: [...base, 'group_add'],
      value: Array.isArray(svc['group_add']) ? String(gid) : [String(gid)],
      check: 'run-as-non-root',
      note: `${name}: group_add ${gid}, the group that may open /dev/kvm`,
    });
  else if (!rootUser && gid === undefined)
    out.push({
      op: 'set',
      path: [...base, 'group_add'],
      value: undefined,
      check: 'run-as-non-root',
      note: `${name}: group_add for /dev/kvm`,
      unfixable: `${kvm[0]} on this host is not open to a group: give --kvm-group with the id of the group that may open /dev/kvm on the hosts that run ${name}`,
    });
  // Owned by the runner's user (Docker copies the image's directory mode over a plain tmpfs, so
  // mode=1777 would not hold); a user given by name gets mode=1777 and the image's say.
  const user = text(svc['user']) || d.user;
  const [uid, ugid] = (user.includes(':') ? user : `${user}:${d.user.split(':')[1]}`).split(':');
  const opts = /^\d+$/.test(uid!) && /^\d+$/.test(ugid!) ? `uid=${uid},gid=${ugid}` : 'mode=1777';
  const tmpfs = list(svc['tmpfs']).map((t) => text(t).split(':')[0]);
  const want = ['/tmp', '/run'].filter((t) => !tmpfs.includes(t));
  if (want.length > 0 && !(typeof svc['tmpfs'] === 'string'))
    for (const t of want)
      out.push({
        op: Array.isArray(svc['tmpfs']) || t !== want[0] ? 'append' : 'set',
        path: [...base, 'tmpfs'],
        value: Array.isArray(svc['tmpfs']) || t !== want[0] ? `${t}:${opts}` : [`${t}:${opts}`],
        check: 'read-only-rootfs',
        note: `${name}: tmpfs ${t}, where QEMU writes under a read-only root`,
      });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Kubernetes

function kubernetesEdits(doc: Obj, base: PathKey[], d: HardenDefaults): Edit[] {
  const kind = String(doc['kind']);
  if (kind === 'List' || kind.endsWith('List'))
    return list(doc['items']).flatMap((item, i) =>
      isObj(item) ? kubernetesEdits(item, [...base, 'items', i], d) : [],
    );
  const specPath = POD_SPEC_PATH[kind];
  if (!specPath) return [];
  const pod = at(doc, specPath);
  if (!isObj(pod)) return [];
  const name = text(at(doc, ['metadata', 'name'])) || '?';
  const podSc = isObj(pod['securityContext']) ? pod['securityContext'] : {};
  const out: Edit[] = [];
  // Ephemeral containers cannot be set at creation; init containers run first and matter as much.
  for (const group of ['initContainers', 'containers'] as const)
    list(pod[group]).forEach((c, i) => {
      if (!isObj(c)) return;
      const cbase = [...base, ...specPath, group, i];
      const who = `${kind}/${name}/${text(c['name']) || i}`;
      const sc = isObj(c['securityContext']) ? c['securityContext'] : {};
      const set = (path: PathKey[], value: unknown, check: string, note: string): void => {
        out.push({ op: 'set', path: [...cbase, ...path], value, check, note: `${who}: ${note}` });
      };
      // The API server refuses allowPrivilegeEscalation: false beside privileged: true.
      if (sc['allowPrivilegeEscalation'] !== false && sc['privileged'] !== true)
        set(
          ['securityContext', 'allowPrivilegeEscalation'],
          false,
          'no-new-privileges',
          'allowPrivilegeEscalation: false',
        );
      const caps = isObj(sc['capabilities']) ? sc['capabilities'] : undefined;
      if (!hasAll(caps?.['drop'])) {
        if (Array.isArray(caps?.['drop']))
          out.push({
            op: 'append',
            path: [...cbase, 'securityContext', 'capabilities', 'drop'],
            value: 'ALL',
            check: 'drop-all-capabilities',
            note: `${who}: capabilities.drop ALL`,
          });
        else
          set(
            ['securityContext', 'capabilities', 'drop'],
            ['ALL'],
            'drop-all-capabilities',
            'capabilities.drop: [ALL]',
          );
      }
      if (sc['readOnlyRootFilesystem'] !== true)
        set(
          ['securityContext', 'readOnlyRootFilesystem'],
          true,
          'read-only-rootfs',
          'readOnlyRootFilesystem: true',
        );
      const rootUser = isRootUser(sc['runAsUser'] ?? podSc['runAsUser']);
      if (sc['runAsNonRoot'] !== true && !rootUser)
        set(['securityContext', 'runAsNonRoot'], true, 'run-as-non-root', 'runAsNonRoot: true');
      const seccomp = isObj(sc['seccompProfile'])
        ? sc['seccompProfile']
        : isObj(podSc['seccompProfile'])
          ? podSc['seccompProfile']
          : undefined;
      if (!seccomp || seccomp['type'] === 'Unconfined' || seccomp['type'] === undefined)
        set(
          ['securityContext', 'seccompProfile'],
          { type: 'RuntimeDefault' },
          'seccomp-required',
          'seccompProfile: RuntimeDefault',
        );
      const limits = at(c, ['resources', 'limits']);
      const k8sMemory = d.memory.replace(/([kmgt])b?$/i, (_, u: string) => `${u.toUpperCase()}i`);
      if (!isObj(limits) || limits['memory'] === undefined)
        set(
          ['resources', 'limits', 'memory'],
          k8sMemory,
          'memory-limit',
          `resources.limits.memory: ${k8sMemory}`,
        );
      if (!isObj(limits) || limits['cpu'] === undefined)
        set(['resources', 'limits', 'cpu'], d.cpus, 'cpu-limit', `resources.limits.cpu: ${d.cpus}`);
    });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Docker Engine container-create bodies

function dockerEdits(doc: Obj, d: HardenDefaults): Edit[] {
  const hc = isObj(doc['HostConfig']) ? doc['HostConfig'] : {};
  const out: Edit[] = [];
  const set = (path: PathKey[], value: unknown, check: string, note: string): void => {
    out.push({ op: 'set', path, value, check, note });
  };
  if (!hasAll(hc['CapDrop']))
    set(
      ['HostConfig', 'CapDrop'],
      ['ALL', ...list(hc['CapDrop']).filter((x) => x !== 'ALL')],
      'drop-all-capabilities',
      'CapDrop ALL',
    );
  if (hc['ReadonlyRootfs'] !== true)
    set(['HostConfig', 'ReadonlyRootfs'], true, 'read-only-rootfs', 'ReadonlyRootfs: true');
  const opts = list(hc['SecurityOpt']).map(String);
  const kept = opts.filter((o) => !/^(seccomp|apparmor)[=:]unconfined$/i.test(o));
  if (!kept.some((o) => /^no-new-privileges(?:[=:]true)?$/i.test(o))) kept.push('no-new-privileges:true');
  if (kept.length !== opts.length || kept.some((o, i) => o !== opts[i]))
    set(['HostConfig', 'SecurityOpt'], kept, 'no-new-privileges', 'SecurityOpt no-new-privileges, confined');
  if (doc['User'] === undefined || doc['User'] === '')
    set(['User'], d.user, 'run-as-non-root', `User: "${d.user}"`);
  const bytes = parseSize(d.memory);
  if (!hc['Memory']) set(['HostConfig', 'Memory'], bytes, 'memory-limit', `Memory: ${bytes}`);
  if (!hc['NanoCpus'] && !hc['CpuQuota'])
    set(
      ['HostConfig', 'NanoCpus'],
      Math.round(Number(d.cpus) * 1e9),
      'cpu-limit',
      `NanoCpus: ${Number(d.cpus) * 1e9}`,
    );
  if (!(typeof hc['PidsLimit'] === 'number' && hc['PidsLimit'] > 0))
    set(['HostConfig', 'PidsLimit'], d.pids, 'pids-limit', `PidsLimit: ${d.pids}`);
  if (isObj(hc['PortBindings']))
    for (const [spec, binds] of Object.entries(hc['PortBindings'])) {
      if (!CONSOLE_PORTS(Number(spec.split('/')[0]))) continue;
      list(binds).forEach((b, i) => {
        const ip = isObj(b) ? b['HostIp'] : undefined;
        if (ip === undefined || ip === '' || ip === '0.0.0.0' || ip === '::')
          set(
            ['HostConfig', 'PortBindings', spec, i, 'HostIp'],
            '127.0.0.1',
            'console-not-public',
            `console port ${spec} bound to 127.0.0.1`,
          );
      });
    }
  const rp = isObj(hc['RestartPolicy']) ? hc['RestartPolicy'] : undefined;
  const rname = rp?.['Name'];
  if (
    rname === 'always' ||
    rname === 'unless-stopped' ||
    (rname === 'on-failure' && !rp?.['MaximumRetryCount'])
  )
    set(
      ['HostConfig', 'RestartPolicy'],
      { Name: 'on-failure', MaximumRetryCount: d.restartAttempts },
      'bounded-restart',
      `RestartPolicy on-failure, at most ${d.restartAttempts}`,
    );
  return out;
}

function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt])?i?b?$/i.exec(s.trim());
  if (!m) throw new TypeError(`not a size: ${s}`);
  const pow = { k: 1, m: 2, g: 3, t: 4 }[(m[2] ?? '').toLowerCase() as 'k'] ?? 0;
  return Math.round(Number(m[1]) * 1024 ** pow);
}

// ---------------------------------------------------------------------------------------------
// Applying edits

/** One JSONPatch (RFC 6902) operation. */
export interface PatchOp {
  readonly op: 'add' | 'replace';
  readonly path: string;
  readonly value: unknown;
}

const pointer = (path: readonly PathKey[]): string =>
  path.map((k) => '/' + String(k).replace(/~/g, '~0').replace(/\//g, '~1')).join('');

/**
 * Edits as a JSONPatch against `doc`: a parent that does not exist is added whole, since RFC 6902
 * `add` does not create parents. Each edit is applied to a copy as it goes, so later edits see
 * the parents earlier ones created.
 */
export function toJsonPatch(doc: unknown, edits: readonly Edit[]): PatchOp[] {
  const work = structuredClone(doc) as Obj;
  const ops: PatchOp[] = [];
  for (const e of edits) {
    if (e.unfixable) continue;
    const p = e.path;
    // Keys that must hold objects: a set's parents, or an append's list and its parents.
    const holders = e.op === 'set' ? p.length - 1 : p.length;
    let i = 0;
    let cur: Record<PathKey, unknown> = work;
    for (; i < holders; i++) {
      const next = cur[p[i]!];
      if (next === null || typeof next !== 'object') break;
      cur = next as Record<PathKey, unknown>;
    }
    if (i === holders) {
      if (e.op === 'append') ops.push({ op: 'add', path: pointer([...p, '-']), value: e.value });
      else ops.push({ op: cur[p[i]!] === undefined ? 'add' : 'replace', path: pointer(p), value: e.value });
    } else {
      let value: unknown = e.op === 'append' ? [e.value] : e.value;
      for (let k = p.length - 1; k > i; k--) value = { [String(p[k])]: value };
      ops.push({ op: cur[p[i]!] === undefined ? 'add' : 'replace', path: pointer(p.slice(0, i + 1)), value });
    }
    applyEdit(work, e);
  }
  return ops;
}

/** Applies an edit to a plain value in place. */
export function applyEdit(doc: Obj, e: Edit): void {
  let cur: Record<PathKey, unknown> = doc;
  const parents = e.op === 'set' ? e.path.slice(0, -1) : e.path;
  for (const [n, k] of parents.entries()) {
    const next = cur[k];
    if (next === undefined || next === null || typeof next !== 'object') {
      const fresh = e.op === 'append' && n === parents.length - 1 ? [] : {};
      cur[k] = fresh;
      cur = fresh;
    } else cur = next as Record<PathKey, unknown>;
  }
  if (e.op === 'set') cur[e.path[e.path.length - 1]!] = structuredClone(e.value);
  else (cur as unknown as unknown[]).push(structuredClone(e.value));
}
