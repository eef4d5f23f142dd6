// The decision engine: deny overrides allow, and when no rule allows the answer is deny ("no rule
// allows"). Rules are indexed by action and resource type, so a decision evaluates only the rules
// that can apply; decisions are cached, and the cache forgets a decision exactly when the policy
// set changes or an entity the decision read changes.

import { randomBytes } from 'node:crypto';
import type { CompiledRule, PolicySet, RuleVars } from './load.js';
import { DecisionCache, type CachedDecision, type Known } from './cache.js';
import { EntityGraph, entityKey, type Deps } from './entities.js';
import { NO_RULE_ALLOWS, type Decision, type DecisionInput } from './model.js';
import { messageOf } from '../core/errors.js';

export interface EngineStats {
  decisions: number;
  cacheHits: number;
  allowed: number;
  denied: number;
  errors: number;
}

interface Candidates {
  readonly deny: readonly CompiledRule[];
  readonly allow: readonly CompiledRule[];
}

interface CacheKey {
  readonly hash: number;
  readonly input: DecisionInput;
  readonly known: Known;
}

export interface EngineOptions {
  /** Decisions kept; 0 disables the cache. */
  readonly cacheSize: number;
}

export class PolicyEngine {
  readonly entities = new EntityGraph();
  readonly stats: EngineStats = { decisions: 0, cacheHits: 0, allowed: 0, denied: 0, errors: 0 };
  private set: PolicySet | undefined;
  private index = new Map<string, Candidates>();
  private readonly cache: DecisionCache;
  private readonly idPrefix = randomBytes(6).toString('hex');
  private counter = 0;

  constructor(opts: EngineOptions) {
    this.cache = new DecisionCache(opts.cacheSize);
  }

  get policySet(): PolicySet | undefined {
    return this.set;
  }

  get version(): string {
    return this.set?.version ?? 'none';
  }

  get cacheSize(): number {
    return this.cache.size;
  }

  /** Switches to a new policy set atomically; every cached decision is forgotten. */
  activate(set: PolicySet): void {
    this.set = set;
    this.index = new Map();
    this.cache.clear();
  }

  /** An entity changed (or appeared, or went away): forget the decisions that read it. */
  entityChanged(type: string, id: string): number {
    return this.cache.invalidate(entityKey(type, id));
  }

  /** Forgets every cached decision (entities resynchronized in bulk). */
  clearCache(): void {
    this.cache.clear();
  }

  /** A unique decision id: a per-engine random prefix and a counter (cheap enough for every decision). */
  nextId(): string {
    return `${this.idPrefix}-${(this.counter++).toString(36)}`;
  }

  private candidates(action: string, type: string): Candidates {
    const key = `${action}\n${type}`;
    let c = this.index.get(key);
    if (!c) {
      const applies = (r: CompiledRule): boolean =>
        (!r.actions || r.actions.has(action)) && (!r.resources || r.resources.has(type));
      const rules = (this.set?.rules ?? []).filter(applies);
      c = {
        deny: rules.filter((r) => r.effect === 'deny'),
        allow: rules.filter((r) => r.effect === 'allow'),
      };
      this.index.set(key, c);
    }
    return c;
  }

  /** Decides. Never throws for hostile input: every failure is a deny with outcome "error". */
  decide(input: DecisionInput): Decision {
    this.stats.decisions++;
    const set = this.set;
    if (!set)
      return this.finish(
        undefined,
        { allow: false, outcome: 'error', reasons: ['no policy set is active'], policy_version: 'none' },
        undefined,
      );
    let key: CacheKey | undefined;
    if (this.cache.enabled) {
      const known: Known = {
        principal: this.entities.known(input.principal.type, input.principal.id),
        resource: this.entities.known(input.resource.type, input.resource.id),
      };
      key = { hash: this.cache.hash(input, known), input, known };
      const hit = this.cache.get(key.hash, input, known);
      if (hit) {
        this.stats.cacheHits++;
        this.count(hit);
        return toDecision(hit, this.nextId(), 'cache');
      }
    }
    const deps: Deps | undefined = key ? [] : undefined;
    let vars: RuleVars;
    try {
      vars = {
        principal: this.entities.principal(input.principal, deps),
        action: input.action,
        resource: this.entities.resource(input.resource, deps),
        context: input.context,
      };
    } catch (e) {
      return this.finish(
        undefined,
        {
          allow: false,
          outcome: 'error',
          reasons: [`the input could not be prepared: ${messageOf(e)}`],
          policy_version: set.version,
        },
        undefined,
      );
    }
    const { deny, allow } = this.candidates(input.action, input.resource.type);
    for (const rule of deny) {
      if (rule.guard !== undefined && !rule.guard(vars)) continue;
      let hit: unknown;
      try {
        hit = rule.evaluate(vars);
      } catch (e) {
        // A deny rule that cannot be evaluated might have denied: fail closed.
        return this.finish(
          key,
          {
            allow: false,
            outcome: 'error',
            rule: rule.name,
            reasons: [`deny rule ${rule.name} could not be evaluated: ${firstLine(e)}`],
            policy_version: set.version,
            errors: [{ rule: rule.name, message: firstLine(e) }],
          },
          deps,
        );
      }
      if (hit === true)
        return this.finish(
          key,
          {
            allow: false,
            outcome: 'deny',
            rule: rule.name,
            reasons: [render(rule.reason, vars)],
            policy_version: set.version,
          },
          deps,
        );
    }
    let errors: { rule: string; message: string }[] | undefined;
    for (const rule of allow) {
      if (rule.guard !== undefined && !rule.guard(vars)) continue;
      let hit: unknown;
      try {
        hit = rule.evaluate(vars);
      } catch (e) {
        (errors ??= []).push({ rule: rule.name, message: firstLine(e) });
        continue;
      }
      if (hit === true) {
        return this.finish(
          key,
          {
            allow: true,
            outcome: 'allow',
            rule: rule.name,
            reasons: [render(rule.reason, vars)],
            policy_version: set.version,
            ...(errors ? { errors } : {}),
          },
          deps,
        );
      }
    }
    return this.finish(
      key,
      {
        allow: false,
        outcome: 'deny',
        reasons: [NO_RULE_ALLOWS],
        policy_version: set.version,
        ...(errors ? { errors } : {}),
      },
      deps,
    );
  }

  private count(d: CachedDecision): void {
    if (d.outcome === 'allow') this.stats.allowed++;
    else if (d.outcome === 'deny') this.stats.denied++;
    else this.stats.errors++;
  }

  private finish(key: CacheKey | undefined, d: CachedDecision, deps: Deps | undefined): Decision {
    this.count(d);
    if (key !== undefined && deps !== undefined)
      this.cache.set(key.hash, key.input, key.known, d, deps.flat());
    return toDecision(d, this.nextId(), 'engine');
  }
}

/**
 * The answer as callers get it, built property by property rather than by spreading: every
 * decision then has one of a few hidden classes, which keeps this hot path monomorphic.
 */
function toDecision(c: CachedDecision, id: string, source: Decision['source']): Decision {
  const d: { -readonly [K in keyof Decision]: Decision[K] } = {
    decision_id: id,
    allow: c.allow,
    outcome: c.outcome,
    reasons: c.reasons,
    policy_version: c.policy_version,
    source,
  };
  if (c.rule !== undefined) d.rule = c.rule;
  if (c.errors !== undefined) d.errors = c.errors;
  return d;
}

function firstLine(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.split('\n')[0] ?? m;
}

/** Fills {{principal.id}}-style placeholders from the rule's variables. */
export function render(template: string, vars: RuleVars): string {
  if (!template.includes('{{')) return template;
  return template.replace(/\{\{\s*([A-Za-z_][\w-]*(?:\.[\w-]+)*)\s*\}\}/g, (_m, path: string) => {
    let v: unknown = vars;
    for (const part of path.split('.')) {
      if (v === null || typeof v !== 'object') return '';
      v = (v as Record<string, unknown>)[part];
    }
    if (v === undefined || v === null) return '';
    if (typeof v === 'bigint') return v.toString();
    if (typeof v === 'object')
      return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
    if (typeof v === 'string') return v;
    return typeof v === 'number' || typeof v === 'boolean' ? String(v) : '';
  });
}
