// Policy rules on the shared compiler (cel/compile.ts, cel/generate.ts): `principal` and
// `resource` are its typed objects, `action` its one other identifier. `context` and attributes
// are maps and stay on cel-js. test/policy/compile.test.ts checks generated functions, closures
// and cel-js agree on generated expressions and inputs.

import type { ASTNode } from '@marcbachmann/cel-js';
import { compileExpression as compileWith, type CompileSchema } from '../cel/compile.js';
import { generateExpression } from '../cel/generate.js';
import { PRINCIPAL_FIELDS, RESOURCE_FIELDS, type Principal, type Resource } from './cel.js';

export interface CompiledVars {
  readonly principal: Principal;
  readonly action: string;
  readonly resource: Resource;
}

const SCHEMA: CompileSchema = {
  objects: { principal: PRINCIPAL_FIELDS, resource: RESOURCE_FIELDS },
  id: (name) => (name === 'action' ? { kind: 'string', fn: (v: CompiledVars) => v.action } : undefined),
};

/**
 * The expression as one generated function (cel/generate.ts), or undefined when it uses anything
 * outside the subset.
 */
export function compileExpression(ast: ASTNode): ((v: CompiledVars) => boolean) | undefined {
  return generateExpression<CompiledVars>(ast, SCHEMA) ?? compileWith<CompiledVars>(ast, SCHEMA);
}

/** The same expression as nested closures (the generator's reference, in tests). */
export function compileClosure(ast: ASTNode): ((v: CompiledVars) => boolean) | undefined {
  return compileWith<CompiledVars>(ast, SCHEMA);
}
