// Entities in memory: agents, teams, namespaces, vaults, secrets, tasks, capabilities, with their
// attributes and memberships ("agent in team", "secret in vault"). The store is the source of
// truth; this graph is each replica's copy, updated on change notifications. Building a rule's
// principal or resource records which entities it read, so the decision cache can drop exactly
// the decisions an entity change affects.

import { RampartError } from '../core/errors.js';
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
    throw bad((e as Error).message);
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

export class EntityGraph {
  private readonly byKey = new Map<string, Entity>();
  /** Highest store version applied (for resynchronization). */
  version = 0;

  get size(): number {
    return this.byKey.size;
  }

  get(key: string): Entity | undefined {
    return this.byKey.get(key);
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
    if (e.deleted) return this.byKey.delete(key);
    this.byKey.set(key, {
      type: e.type,
      id: e.id,
      attributes: e.attributes,
      parents: e.parents,
      version: e.version,
    });
    return true;
  }

  clear(): void {
    this.byKey.clear();
    this.version = 0;
  }

  /** Ancestors by breadth-first walk over parents (cycles and runaway chains cut). */
  private ancestors(start: Entity | undefined, deps: Set<string>): Entity[] {
    const out: Entity[] = [];
    if (!start) return out;
    const seen = new Set<string>([entityKey(start.type, start.id)]);
    const queue = [...start.parents];
    while (queue.length > 0 && out.length < MAX_ANCESTORS) {
      const k = queue.shift()!;
      if (seen.has(k)) continue;
      seen.add(k);
      deps.add(k);
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
   */
  principal(ref: EntityRef, deps: Set<string>): Principal {
    const p = new Principal();
    this.fill(p, ref, deps);
    return p;
  }

  resource(ref: EntityRef, deps: Set<string>): Resource {
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

  private fill(target: Principal | Resource, ref: EntityRef, deps: Set<string>): Entity | undefined {
    const key = entityKey(ref.type, ref.id);
    deps.add(key);
    const known = this.byKey.get(key);
    target.type = ref.type;
    target.id = ref.id;
    if (known) {
      const up = this.ancestors(known, deps);
      const a = known.attributes;
      target.namespace = str(a['namespace']) || (up.find((e) => e.type === 'namespace')?.id ?? '');
      const teams = up.filter((e) => e.type === 'team');
      target.team = str(a['team']) || firstOfType(known.parents, 'team') || (teams[0]?.id ?? '');
      target.teams = [...new Set([...(target.team ? [target.team] : []), ...teams.map((t) => t.id)])];
      target.capabilities = [
        ...new Set([
          ...strings(a['capabilities']),
          ...teams.flatMap((t) => strings(t.attributes['capabilities'])),
        ]),
      ];
      target.attributes = { ...a };
      return known;
    }
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
