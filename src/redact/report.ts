import type { SarifRule } from '../core/sarif.js';
import type { Rule } from './rules.js';

export function sarifRulesFor(rules: readonly Rule[]): SarifRule[] {
  return rules.map((r) => ({
    id: r.id,
    shortDescription: r.description,
    help: `${r.description}. Revoke the credential, remove it from the file and from version-control history, and have the program read it from a secret file at run time.`,
    severity: r.severity,
    tags: ['secret', r.kind],
  }));
}
