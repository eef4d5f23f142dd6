// What every input format shares: located values, readers that report a wrong type at its
// position, mounts in the short (SOURCE:TARGET:OPTS) and long forms, and security options.

import type { SourceLocation } from '../../core/errors.js';
import type { At, Container, Mount } from '../model.js';
import { bool, get, InputError, str, type LMap, type LNode } from '../tree.js';

export const at = <T>(value: T, loc: SourceLocation): At<T> => ({ value, loc });
/** A ${VARIABLE} or $VARIABLE: a value not known until the file is deployed. */
export const VAR = /\$\{?[A-Za-z_]/;

export function expectMap(n: LNode | undefined, what: string): LMap | undefined {
  if (n === undefined || (n.kind === 'scalar' && n.value === null)) return undefined;
  if (n.kind !== 'map') throw new InputError(`${what} must be a mapping`, n.loc);
  return n;
}

export function strings(n: LNode | undefined, what: string): At<string>[] {
  if (n === undefined || (n.kind === 'scalar' && n.value === null)) return [];
  if (n.kind !== 'seq') throw new InputError(`${what} must be a list`, n.loc);
  return n.items.map((i) => {
    const v = str(i);
    if (v === undefined) throw new InputError(`${what} entries must be strings`, i.loc);
    return at(v, i.loc);
  });
}

/** SOURCE:TARGET[:OPTIONS] (Compose short syntax and Docker Engine Binds); a bare path is a volume. */
export function shortMount(s: string, loc: SourceLocation): Mount {
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
/** Where a long-syntax mount keeps each field: Compose spells them one way, the Engine API another. */
export interface MountKeys {
  readonly type: string;
  readonly source: string;
  readonly target: string;
  readonly readOnly: string;
  readonly propagation: readonly [string, string];
}
export const COMPOSE_MOUNT: MountKeys = {
  type: 'type',
  source: 'source',
  target: 'target',
  readOnly: 'read_only',
  propagation: ['bind', 'propagation'],
};
export const ENGINE_MOUNT: MountKeys = {
  type: 'Type',
  source: 'Source',
  target: 'Target',
  readOnly: 'ReadOnly',
  propagation: ['BindOptions', 'Propagation'],
};

export function longMount(
  v: LNode,
  k: MountKeys,
  readBool: (n: LNode | undefined) => boolean | undefined = bool,
): Mount {
  const type = str(get(v, k.type)) ?? 'volume';
  const source = str(get(v, k.source));
  const target = str(get(v, k.target));
  const propagation = str(get(v, ...k.propagation));
  return {
    type: type === 'bind' || type === 'volume' || type === 'tmpfs' ? type : 'other',
    ...(source !== undefined ? { source } : {}),
    ...(target !== undefined ? { target } : {}),
    readOnly: readBool(get(v, k.readOnly)) === true,
    ...(propagation ? { propagation } : {}),
    loc: v.loc,
  };
}

/** security_opt entries: no-new-privileges[:true], seccomp=..., apparmor=..., label=type:... */
/** security_opt entries: no-new-privileges[:true], seccomp=..., apparmor=..., label=type:... */
type SecurityKeys =
  'noNewPrivileges' | 'seccomp' | 'apparmor' | 'selinuxType' | 'selinuxDisabled' | 'unmaskedPaths';

export function securityOpts(opts: At<string>[]): Pick<Container, SecurityKeys> {
  const out: { -readonly [K in SecurityKeys]?: Container[K] } = {};
  for (const o of opts) {
    // The engine accepts both separators (seccomp=x and the older seccomp:x).
    const [k, v = ''] = o.value.split(/[=:](.*)/s);
    if (k === 'no-new-privileges') out.noNewPrivileges = at(v === '' || v === 'true', o.loc);
    else if (k === 'seccomp') out.seccomp = at(v, o.loc);
    else if (k === 'apparmor') out.apparmor = at(v, o.loc);
    else if (k === 'label' && v.startsWith('type:')) out.selinuxType = at(v.slice(5), o.loc);
    else if (k === 'label' && v === 'disable') out.selinuxDisabled = at(true, o.loc);
    else if (k === 'systempaths' && v === 'unconfined') out.unmaskedPaths = at(o.value, o.loc);
  }
  return out;
}

export function opt<K extends string, T>(k: K, v: T | undefined): { [P in K]?: T } {
  return (v === undefined ? {} : { [k]: v }) as { [P in K]?: T };
}

/** Kubernetes documents (a List's items included) to workloads; other kinds are skipped. */
