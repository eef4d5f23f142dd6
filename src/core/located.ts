// Located trees: YAML or JSON read into plain nodes where every value remembers its file, line
// and column (admission reports findings there; config reads them through core/fastyaml.ts).

import type { SourceLocation } from './errors.js';

export type Scalar = string | number | boolean | null;

interface Base {
  readonly loc: SourceLocation;
}
export interface LScalar extends Base {
  readonly kind: 'scalar';
  readonly value: Scalar;
}
export interface LMap extends Base {
  readonly kind: 'map';
  readonly entries: Map<string, LNode>;
  /** Where each key is written (findings about a key point at the key). */
  readonly keys: Map<string, SourceLocation>;
}
export interface LSeq extends Base {
  readonly kind: 'seq';
  readonly items: LNode[];
}
export type LNode = LScalar | LMap | LSeq;

export interface TreeLimits {
  /** Nodes one document may expand to, aliases included. */
  readonly maxNodes: number;
  readonly maxDepth: number;
}

/** A plain JavaScript value. */
export function toPlain(n: LNode): unknown {
  if (n.kind === 'scalar') return n.value;
  if (n.kind === 'seq') return n.items.map(toPlain);
  return Object.fromEntries([...n.entries].map(([k, v]) => [k, toPlain(v)]));
}
