// Policy rules on the shared closure compiler (cel/compile.ts): `principal` and `resource` are its
// typed objects, `action` its one other identifier. `context` and attributes are maps and stay on
// cel-js. test/policy/compile.test.ts checks the two agree on generated expressions and inputs.

import type { ASTNode } from '@marcbachmann/cel-js';
import { compileExpression as compileWith, type CompileSchema } from '../cel/compile.js';
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

/** The expression as a closure, or undefined when it uses anything outside the subset. */
export function compileExpression(ast: ASTNode): ((v: CompiledVars) => boolean) | undefined {
  return compileWith<CompiledVars>(ast, SCHEMA);
}
