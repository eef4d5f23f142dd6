// Entities in memory: agents, teams, namespaces, vaults, secrets, tasks, capabilities, with their
// attributes and memberships ("agent in team", "secret in vault"). The store is the source of
// truth; this graph is each replica's copy, updated on change notifications. Building a rule's
// principal or resource records which entities it read, so the decision cache can drop exactly
// the decisions an entity change affects.

import { RampartError, messageOf } from '../core/errors.js';
import { checkValue } from './input.js';
import { Principal, Resource } from './cel.js';
import type { EntityRef } from './model.js';

export interface Entity {
  readonly type: string;
  readonly id: string;
  readonly attributes: Readonly<Record<string, unknown>>;
  /** "type:id" */
  readonly parents: readonly string[];
  readonly version: number;
}

const TYPE_RE = /^[a-z][a-z0-9_-]{0,31}$/;
const ID_RE = /^[^\s\p{Cc}:]{1,256}$/u;
const PARENT_RE = /^[a-z][a-z0-9_-]{0,31}:[^\s\p{Cc}]{1,256}$/u;
const MAX_ANCESTORS = 256;

export const entityKey = (type: string, id: string): string => `${type}:${id}`;

/** Validates an entity written through the API; returns it normalized. */
export function parseEntity(
  type: string,
  id: string,
  body: unknown,
): { type: string; id: string; attributes: Record<string, unknown>; parents: string[] } {
  const bad = (m: string): RampartError => new RampartError('RAMPART_E_ENTITY_INVALID', m);
  if (!TYPE_RE.test(type)) throw bad(`entity type "${type}" must be lower-case letters, digits, "_" or "-"`);
  if (!ID_RE.test(id)) throw bad(`entity id "${id}" must be 1-256 characters without spaces or ":"`);
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw bad('the body must be an object {attributes, parents}');
  const o = body as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (k !== 'attributes' && k !== 'parents')
      throw bad(`unknown field "${k}" (expected attributes, parents)`);
  const attributes = o['attributes'] ?? {};
  if (typeof attributes !== 'object' || attributes === null || Array.isArray(attributes))
    throw bad('attributes must be an object');
  try {
    checkValue(attributes, 'attributes', 1);
  } catch (e) {
    throw bad(messageOf(e));
  }
  const parents = o['parents'] ?? [];
  if (
    !Array.isArray(parents) ||
    parents.length > 64 ||
    !parents.every((p) => typeof p === 'string' && PARENT_RE.test(p))
  ) {
    throw bad('parents must be a list of at most 64 "type:id" strings, such as "team:platform"');
  }
  return {
    type,
    id,
    attributes: attributes as Record<string, unknown>,
    parents: [...new Set(parents as string[])],
  };
}

/**
 * What rules see of a stored entity once its memberships are followed: computed once per entity
 * and kept until any entity changes (writes are rare next to decisions), so a decision does no
 * graph walk and no copying.
 */
interface Resolved {
  readonly entity: Entity;
  readonly namespace: string;
  readonly team: string;
  readonly teams: readonly string[];
  readonly capabilities: readonly string[];
  readonly attributes: Readonly<Record<string, unknown>>;
  /** This entity and every ancestor key visited, missing ones included (their creation matters too). */
  readonly deps: readonly string[];
}

/** Which stored entities a decision read: the cache forgets the decision when one of them changes. */
export type Deps = (readonly string[])[];

export class EntityGraph {
  private readonly byKey = new Map<string, Entity>();
  private readonly byType = new Map<string, Set<string>>();
  private readonly resolvedMemo = new Map<string, Resolved>();
  /** Highest store version applied (for resynchronization). */
  version = 0;

  get size(): number {
    return this.byKey.size;
  }

  get(key: string): Entity | undefined {
    return this.byKey.get(key);
  }

  /** Is type/id a stored entity? (No key string is built: this runs on every cached decision.) */
  known(type: string, id: string): boolean {
    return this.byType.get(type)?.has(id) === true;
  }

  list(type?: string): Entity[] {
    const all = [...this.byKey.values()];
    return type === undefined ? all : all.filter((e) => e.type === type);
  }

  /** Applies a stored record; returns true when it changed what this replica knows. */
  apply(e: {
    type: string;
    id: string;
    attributes: Readonly<Record<string, unknown>>;
    parents: readonly string[];
    version: number;
    deleted: boolean;
  }): boolean {
    const key = entityKey(e.type, e.id);
    const cur = this.byKey.get(key);
    this.version = Math.max(this.version, e.version);
    if (cur && cur.version >= e.version) return false;
    // Any change can alter what its descendants inherit; recomputing lazily is cheaper than
    // tracking who inherits from whom.
    this.resolvedMemo.clear();
    if (e.deleted) {
      this.byType.get(e.type)?.delete(e.id);
      return this.byKey.delete(key);
    }
    let ids = this.byType.get(e.type);
    if (!ids) this.byType.set(e.type, (ids = new Set()));
    ids.add(e.id);
    this.byKey.set(key, {
      type: e.type,
      id: e.id,
      // Frozen: the same objects are handed to every rule evaluation.
      attributes: deepFreeze(e.attributes),
      parents: Object.freeze([...e.parents]),
      version: e.version,
    });
    return true;
  }

  clear(): void {
    this.byKey.clear();
    this.byType.clear();
    this.resolvedMemo.clear();
    this.version = 0;
  }

  private resolve(key: string): Resolved | undefined {
    const memo = this.resolvedMemo.get(key);
    if (memo) return memo;
    const known = this.byKey.get(key);
    if (!known) return undefined;
    const deps = [key];
    const up = this.ancestors(known, key, deps);
    const a = known.attributes;
    const teams = up.filter((e) => e.type === 'team');
    const team = str(a['team']) || firstOfType(known.parents, 'team') || (teams[0]?.id ?? '');
    const r: Resolved = {
      entity: known,
      namespace: str(a['namespace']) || (up.find((e) => e.type === 'namespace')?.id ?? ''),
      team,
      teams: Object.freeze([...new Set([...(team ? [team] : []), ...teams.map((t) => t.id)])]),
      capabilities: Object.freeze([
        ...new Set([
          ...strings(a['capabilities']),
          ...teams.flatMap((t) => strings(t.attributes['capabilities'])),
        ]),
      ]),
      attributes: a,
      deps: Object.freeze(deps),
    };
    this.resolvedMemo.set(key, r);
    return r;
  }

  /** Ancestors by breadth-first walk over parents (cycles and runaway chains cut). */
  private ancestors(start: Entity, startKey: string, deps: string[]): Entity[] {
    const out: Entity[] = [];
    const seen = new Set<string>([startKey]);
    const queue = [...start.parents];
    for (let i = 0; i < queue.length && out.length < MAX_ANCESTORS; i++) {
      const k = queue[i]!;
      if (seen.has(k)) continue;
      seen.add(k);
      deps.push(k);
      const e = this.byKey.get(k);
      if (e) {
        out.push(e);
        queue.push(...e.parents);
      }
    }
    return out;
  }

  /**
   * The principal as rules see it. When the entity is known, the store is authoritative and the
   * caller's claims about it are ignored; an unknown entity is taken as the caller describes it.
   * Appends the entity keys it read to `deps` when given.
   */
  principal(ref: EntityRef, deps?: Deps): Principal {
    const p = new Principal();
    this.fill(p, ref, deps);
    return p;
  }

  resource(ref: EntityRef, deps?: Deps): Resource {
    const r = new Resource();
    const known = this.fill(r, ref, deps);
    const src: Readonly<Record<string, unknown>> = known ? known.attributes : ref;
    r.owner = str(src['owner']);
    r.vault = str(src['vault']) || (known ? firstOfType(known.parents, 'vault') : '');
    // Where a connection goes is a property of the request, not of a stored host entity.
    r.host = str(ref['host']) || (ref.type === 'host' ? ref.id : '');
    const port = ref['port'];
    r.port =
      typeof port === 'number' && Number.isInteger(port) && port >= 0 && port <= 65535 ? BigInt(port) : 0n;
    return r;
  }

  private fill(target: Principal | Resource, ref: EntityRef, deps: Deps | undefined): Entity | undefined {
    const key = entityKey(ref.type, ref.id);
    const known = this.resolve(key);
    target.type = ref.type;
    target.id = ref.id;
    if (known) {
      deps?.push(known.deps);
      target.namespace = known.namespace;
      target.team = known.team;
      // CEL reads these and never writes; they are frozen, so sharing them is safe.
      target.teams = known.teams as string[];
      target.capabilities = known.capabilities as string[];
      target.attributes = known.attributes;
      return known.entity;
    }
    deps?.push([key]);
    target.namespace = str(ref['namespace']);
    target.team = str(ref['team']);
    target.teams = [...new Set([...(target.team ? [target.team] : []), ...strings(ref['teams'])])];
    target.capabilities = strings(ref['capabilities']);
    const attrs = ref['attributes'];
    target.attributes =
      typeof attrs === 'object' && attrs !== null && !Array.isArray(attrs)
        ? { ...(attrs as Record<string, unknown>) }
        : {};
    return undefined;
  }
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function firstOfType(parents: readonly string[], type: string): string {
  const p = parents.find((x) => x.startsWith(`${type}:`));
  return p === undefined ? '' : p.slice(type.length + 1);
}
