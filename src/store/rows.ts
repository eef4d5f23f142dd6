// Row shapes shared by the SQLite and PostgreSQL stores: both keep entity attributes and parents
// as JSON text so the two stores return byte-identical records (the conformance suite checks it).

import type { EntityRecord } from './types.js';

export interface EntityRow {
  type: string;
  id: string;
  attributes: string;
  parents: string;
  version: number | string;
  /** SQLite has no boolean: 0 or 1 there, a real boolean in PostgreSQL. */
  deleted: number | boolean;
}

export function entityOf(r: EntityRow): EntityRecord {
  return {
    type: r.type,
    id: r.id,
    attributes: JSON.parse(r.attributes) as Record<string, unknown>,
    parents: JSON.parse(r.parents) as string[],
    version: Number(r.version),
    deleted: r.deleted === true || r.deleted === 1,
  };
}
