// Decision input validation. Hostile input gets a coded error naming the field, never a crash:
// bounded depth, list lengths, string lengths and key counts keep every rule's evaluation cost
// within the bound the loader checked it against (see cel.ts).

import { RampartError } from '../core/errors.js';
import type { DecisionInput, EntityRef } from './model.js';

export const LIMITS = {
  depth: 12,
  listItems: 256,
  stringLength: 4096,
  keys: 128,
} as const;

const TYPE_RE = /^[a-z][a-z0-9_-]{0,31}$/;
const ID_RE = /^[^\s\p{Cc}]{1,256}$/u;
const ACTION_RE = /^[a-z][a-z0-9_-]*(?:\.[a-z][a-z0-9_-]*){0,4}$/;

function bad(path: string, why: string): RampartError {
  return new RampartError('RAMPART_E_BAD_REQUEST', `${path}: ${why}`, { details: { path } });
}

/** Checks a JSON value against the limits; returns it unchanged. */
export function checkValue(v: unknown, path: string, depth = 0): unknown {
  if (depth > LIMITS.depth) throw bad(path, `nested deeper than ${LIMITS.depth} levels`);
  if (v === null || typeof v === 'boolean') return v;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw bad(path, 'not a finite number');
    return v;
  }
  if (typeof v === 'string') {
    if (v.length > LIMITS.stringLength)
      throw bad(path, `string longer than ${LIMITS.stringLength} characters`);
    return v;
  }
  if (Array.isArray(v)) {
    if (v.length > LIMITS.listItems) throw bad(path, `list longer than ${LIMITS.listItems} items`);
    v.forEach((x, i) => checkValue(x, `${path}[${i}]`, depth + 1));
    return v;
  }
  if (typeof v === 'object') {
    const keys = Object.keys(v);
    if (keys.length > LIMITS.keys) throw bad(path, `more than ${LIMITS.keys} keys`);
    for (const k of keys) {
      if (k.length > 256) throw bad(path, 'a key is longer than 256 characters');
      checkValue((v as Record<string, unknown>)[k], `${path}.${k}`, depth + 1);
    }
    return v;
  }
  throw bad(path, `unsupported value of type ${typeof v}`);
}

function ref(v: unknown, path: string): EntityRef {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw bad(path, 'must be an object with type and id');
  const o = v as Record<string, unknown>;
  if (typeof o['type'] !== 'string' || !TYPE_RE.test(o['type']))
    throw bad(`${path}.type`, 'must be a lower-case type name such as "agent"');
  if (typeof o['id'] !== 'string' || !ID_RE.test(o['id']))
    throw bad(`${path}.id`, 'must be a non-empty string without spaces, at most 256 characters');
  checkValue(o, path, 1);
  return o as EntityRef;
}

/** Validates a decision input (the body of /v1/decide, or OPA's "input"). */
export function parseDecisionInput(v: unknown): DecisionInput {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw bad('input', 'must be an object {principal, action, resource, context}');
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (k !== 'principal' && k !== 'action' && k !== 'resource' && k !== 'context')
      throw bad(`input.${k}`, 'unknown field (expected principal, action, resource, context)');
  }
  if (typeof o['action'] !== 'string' || !ACTION_RE.test(o['action']))
    throw bad('input.action', 'must be a dotted lower-case action such as "task.run"');
  const context = o['context'] ?? {};
  if (typeof context !== 'object' || context === null || Array.isArray(context))
    throw bad('input.context', 'must be an object');
  checkValue(context, 'input.context', 1);
  return {
    principal: ref(o['principal'], 'input.principal'),
    action: o['action'],
    resource: ref(o['resource'], 'input.resource'),
    context: context as Record<string, unknown>,
  };
}
