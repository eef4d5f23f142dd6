// Statement templates for dynamic credentials (`creation`, `revocation`, `renewal`), with Vault's
// placeholders: {{name}}, {{password}}, {{expiration}}. A template is compiled once, at load: an
// unknown placeholder or an unclosed "{{" is refused there with its line and column, never found
// at the first run that needs a credential. The values substituted are ones Rampart generates
// (a role name of [a-z0-9_], a password of [A-Za-z0-9], an ISO timestamp), so nothing an agent or
// a request says ever reaches the SQL.

import { RampartError } from './errors.js';

export const PLACEHOLDERS = ['name', 'password', 'expiration'] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];

export interface Template {
  readonly text: string;
  /** Placeholders used, for checks such as "creation must set the password". */
  readonly uses: ReadonlySet<Placeholder>;
  render(values: Readonly<Record<Placeholder, string>>): string;
}

/** Compiles `text`; `where` names it in errors (a configuration key path). */
export function compileTemplate(text: string, where: string): Template {
  // Even indexes are literal text, odd ones placeholders.
  const parts: string[] = [];
  const uses = new Set<Placeholder>();
  let at = 0;
  for (;;) {
    const open = text.indexOf('{{', at);
    if (open < 0) break;
    const close = text.indexOf('}}', open + 2);
    if (close < 0) throw templateError(text, open, where, 'an unclosed "{{"');
    const key = text.slice(open + 2, close).trim();
    if (!(PLACEHOLDERS as readonly string[]).includes(key))
      throw templateError(
        text,
        open,
        where,
        `unknown placeholder "{{${key.slice(0, 40)}}}" (known: ${PLACEHOLDERS.map((p) => `{{${p}}}`).join(', ')})`,
      );
    parts.push(text.slice(at, open), key);
    uses.add(key as Placeholder);
    at = close + 2;
  }
  parts.push(text.slice(at));
  return {
    text,
    uses,
    render: (values) => parts.map((p, i) => (i % 2 === 1 ? values[p as Placeholder] : p)).join(''),
  };
}

function templateError(text: string, offset: number, where: string, what: string): RampartError {
  const before = text.slice(0, offset).split('\n');
  const line = before.length;
  const col = before[before.length - 1]!.length + 1;
  return new RampartError('RAMPART_E_CONFIG_INVALID', `${where}:${line}:${col}: ${what}`);
}
