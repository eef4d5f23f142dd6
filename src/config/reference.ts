// Renders the configuration reference (docs/configuration.md) from the schema itself, so the
// documentation cannot drift from what the loader accepts; a test fails when the committed page
// differs from this output (regenerate with `npm run docs`).

import { configSchema } from './schema.js';

type S = Record<string, unknown>;

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

export function renderConfigReference(): string {
  const rows: string[] = [];
  const walk = (s: S, path: string): void => {
    const props = s['properties'] as Record<string, S> | undefined;
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        const p = path ? `${path}.${k}` : k;
        const isObj = v['type'] === 'object' && v['properties'];
        const items = v['items'] as S | undefined;
        if (isObj) {
          if (typeof v['description'] === 'string') rows.push(row(p, v));
          walk(v, p);
        } else if (v['type'] === 'array' && items && items['type'] === 'object') {
          rows.push(row(p, v));
          walk(items, `${p}[]`);
        } else {
          rows.push(row(p, v));
        }
      }
    }
  };
  walk(configSchema, '');
  return ['| Key | Type | Default | Description |', '| --- | --- | --- | --- |', ...rows].join('\n') + '\n';
}

function row(path: string, s: S): string {
  return `| \`${path}\` | ${typeOf(s)} | ${defaultOf(s)} | ${str(s['description']).replace(/\|/g, '\\|')} |`;
}

function typeOf(s: S): string {
  if (Array.isArray(s['enum'])) return (s['enum'] as unknown[]).map((v) => `\`${String(v)}\``).join(' \\| ');
  const pattern = typeof s['pattern'] === 'string' ? s['pattern'] : '';
  if (pattern.includes('\\d+h')) return 'duration';
  if (pattern.includes('kKmMgG')) return 'size';
  if (s['type'] === 'array') {
    const items = s['items'] as S | undefined;
    if (items && Array.isArray(items['enum']))
      return `list of ${(items['enum'] as unknown[]).map((v) => `\`${String(v)}\``).join(', ')}`;
    return `list of ${items?.['type'] === 'object' ? 'objects' : str(items?.['type']) || 'values'}`;
  }
  return str(s['type']);
}

function defaultOf(s: S): string {
  const d = s['default'];
  if (d === undefined) return '';
  if (typeof d === 'object' && d !== null && !Array.isArray(d) && Object.keys(d).length === 0) return '';
  return `\`${JSON.stringify(d)}\``;
}
