// The decision cache. A cached decision is found by a 32-bit structural hash of what the decision
// depends on and then confirmed by comparing the stored input with the new one, so a hash
// collision is a miss, never a wrong answer. Hashing walks the input once without building a
// string: serializing to a key and hashing that key cost three times as much (bench/policy).
//
// What a decision depends on, besides the policy set (a new set empties the cache): a stored
// entity by its type and id alone, since the store overrides what a caller claims about it; an
// unknown entity by everything the caller claims; where a connection goes (resource host and
// port); the action; the context. Each entry also lists the stored entities the decision read, and
// the cache forgets the entry when one of them changes.

import type { Decision, DecisionInput, EntityRef } from './model.js';

/** The part of a decision that is cached (ids and source are per answer). */
export type CachedDecision = Omit<Decision, 'decision_id' | 'source'>;

/** Whether the principal and the resource of an input are stored entities. */
export interface Known {
  readonly principal: boolean;
  readonly resource: boolean;
}

interface Entry {
  readonly input: DecisionInput;
  readonly known: Known;
  readonly decision: CachedDecision;
  readonly deps: readonly string[];
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

export class DecisionCache {
  private readonly map = new Map<number, Entry>();
  private readonly byDep = new Map<string, Set<number>>();

  /** `max` decisions are kept (the oldest goes first); 0 disables the cache. */
  constructor(private readonly max: number) {}

  get enabled(): boolean {
    return this.max > 0;
  }

  get size(): number {
    return this.map.size;
  }

  hash(input: DecisionInput, known: Known): number {
    let h = known.principal ? refHash(input.principal, FNV_OFFSET) : valueHash(input.principal, FNV_OFFSET);
    h = str(input.action, h);
    if (known.resource) {
      h = refHash(input.resource, h);
      h = valueHash(input.resource['host'], h);
      h = valueHash(input.resource['port'], h);
    } else {
      h = valueHash(input.resource, h);
    }
    return valueHash(input.context, h);
  }

  get(hash: number, input: DecisionInput, known: Known): CachedDecision | undefined {
    const e = this.map.get(hash);
    return e !== undefined && sameInput(e, input, known) ? e.decision : undefined;
  }

  set(
    hash: number,
    input: DecisionInput,
    known: Known,
    decision: CachedDecision,
    deps: readonly string[],
  ): void {
    if (this.max <= 0) return;
    // A colliding entry is replaced: the newer question is the likelier one to come back.
    this.remove(hash);
    if (this.map.size >= this.max) {
      const oldest = this.map.keys().next().value;
      if (oldest !== undefined) this.remove(oldest);
    }
    // A private copy: an in-process caller may reuse and change its input object afterwards.
    this.map.set(hash, { input: copyInput(input), known, decision, deps });
    for (const dep of deps) {
      let s = this.byDep.get(dep);
      if (!s) this.byDep.set(dep, (s = new Set()));
      s.add(hash);
    }
  }

  /** Forgets every decision that read the entity `dep` ("type:id"). Returns how many. */
  invalidate(dep: string): number {
    const hashes = this.byDep.get(dep);
    if (!hashes) return 0;
    const n = hashes.size;
    for (const h of [...hashes]) this.remove(h);
    return n;
  }

  clear(): void {
    this.map.clear();
    this.byDep.clear();
  }

  private remove(hash: number): void {
    const e = this.map.get(hash);
    if (!e) return;
    this.map.delete(hash);
    for (const dep of e.deps) {
      const s = this.byDep.get(dep);
      s?.delete(hash);
      if (s && s.size === 0) this.byDep.delete(dep);
    }
  }
}

function sameInput(e: Entry, input: DecisionInput, known: Known): boolean {
  const s = e.input;
  if (e.known.principal !== known.principal || e.known.resource !== known.resource) return false;
  if (s.action !== input.action) return false;
  if (known.principal) {
    if (s.principal.type !== input.principal.type || s.principal.id !== input.principal.id) return false;
  } else if (!equal(s.principal, input.principal)) return false;
  if (known.resource) {
    const a = s.resource;
    const b = input.resource;
    if (a.type !== b.type || a.id !== b.id || !equal(a['host'], b['host']) || !equal(a['port'], b['port']))
      return false;
  } else if (!equal(s.resource, input.resource)) return false;
  return equal(s.context, input.context);
}

function refHash(ref: EntityRef, h: number): number {
  return str(ref.id, str(ref.type, h));
}

function str(s: string, h: number): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), FNV_PRIME);
  return Math.imul(h ^ s.length, FNV_PRIME);
}

function tag(t: number, h: number): number {
  return Math.imul(h ^ t, FNV_PRIME);
}

function valueHash(v: unknown, h: number): number {
  switch (typeof v) {
    case 'string':
      return str(v, tag(1, h));
    case 'number':
    case 'bigint':
      return str(String(v), tag(typeof v === 'number' ? 2 : 3, h));
    case 'boolean':
      return tag(v ? 4 : 5, h);
    case 'undefined':
      return tag(6, h);
    case 'object': {
      if (v === null) return tag(7, h);
      if (Array.isArray(v)) {
        h = tag(8, h);
        for (let i = 0; i < v.length; i++) h = valueHash(v[i], h);
        return tag(v.length, h);
      }
      // Members are hashed on their own and summed, so key order does not change the hash (and
      // `equal` ignores it too): {a, b} and {b, a} are one question.
      let sum = 0;
      let n = 0;
      for (const k in v) {
        sum = (sum + valueHash((v as Record<string, unknown>)[k], str(k, FNV_OFFSET))) | 0;
        n++;
      }
      return tag(n, tag(sum, tag(9, h)));
    }
    default:
      // Symbols and functions are not data; they hash alike and `equal` tells them apart.
      return tag(10, h);
  }
}

/** Structural equality of JSON-like values (key order does not matter). */
export function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!equal(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  let n = 0;
  for (const k in ra) {
    n++;
    if (!Object.hasOwn(rb, k) || !equal(ra[k], rb[k])) return false;
  }
  for (const _ in rb) n--;
  return n === 0;
}

function copy(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) return v.map(copy);
  const out: Record<string, unknown> = {};
  for (const k in v) out[k] = copy((v as Record<string, unknown>)[k]);
  return out;
}

function copyInput(i: DecisionInput): DecisionInput {
  return copy(i) as DecisionInput;
}
