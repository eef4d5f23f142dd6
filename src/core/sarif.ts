// SARIF 2.1.0 output for any Finding producer (secret scanning, admission checks, policy tests),
// shaped the way GitHub code scanning reads it: rules with help and security-severity, results
// with relative artifact URIs and line/column regions, and a stable partial fingerprint so a
// finding keeps its identity across commits.

import { relative, isAbsolute, sep } from 'node:path';
import type { Finding, Severity } from './types.js';

export interface SarifRule {
  readonly id: string;
  readonly name?: string;
  readonly shortDescription: string;
  readonly fullDescription?: string;
  readonly help?: string;
  readonly severity: Severity;
  readonly tags?: readonly string[];
}

export interface SarifTool {
  readonly name: string;
  readonly version: string;
  readonly informationUri: string;
  readonly rules: readonly SarifRule[];
}

const LEVEL: Record<Severity, 'error' | 'warning' | 'note'> = {
  critical: 'error',
  high: 'error',
  medium: 'warning',
  low: 'note',
  info: 'note',
};

/** GitHub maps security-severity to critical (>= 9), high (>= 7), medium (>= 4), low. */
const SECURITY_SEVERITY: Record<Severity, string> = {
  critical: '9.5',
  high: '8.0',
  medium: '5.5',
  low: '3.0',
  info: '1.0',
};

export interface SarifOptions {
  /** Paths in results are made relative to this directory (%SRCROOT%). */
  readonly baseDir: string;
  /** Tool-level problems that are not findings (unreadable files, skipped binaries). */
  readonly notifications?: readonly { message: string; level: 'error' | 'warning' | 'note'; file?: string }[];
}

export function toSarif(
  tool: SarifTool,
  findings: readonly Finding[],
  opts: SarifOptions,
): Record<string, unknown> {
  const index = new Map(tool.rules.map((r, i) => [r.id, i]));
  const uri = (file: string): string => {
    const rel = isAbsolute(file) ? relative(opts.baseDir, file) : file;
    return rel.split(sep).join('/');
  };
  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: tool.name,
            version: tool.version,
            semanticVersion: tool.version,
            informationUri: tool.informationUri,
            rules: tool.rules.map((r) => ({
              id: r.id,
              name: r.name ?? r.id,
              shortDescription: { text: r.shortDescription },
              fullDescription: { text: r.fullDescription ?? r.shortDescription },
              ...(r.help ? { help: { text: r.help, markdown: r.help } } : {}),
              defaultConfiguration: { level: LEVEL[r.severity] },
              properties: {
                tags: ['security', ...(r.tags ?? [])],
                'security-severity': SECURITY_SEVERITY[r.severity],
              },
            })),
          },
        },
        originalUriBaseIds: {
          '%SRCROOT%': { uri: 'file://' + opts.baseDir.split(sep).join('/').replace(/\/?$/, '/') },
        },
        ...(opts.notifications && opts.notifications.length > 0
          ? {
              invocations: [
                {
                  executionSuccessful: !opts.notifications.some((n) => n.level === 'error'),
                  toolExecutionNotifications: opts.notifications.map((n) => ({
                    level: n.level,
                    message: { text: n.message },
                    ...(n.file
                      ? {
                          locations: [
                            {
                              physicalLocation: {
                                artifactLocation: { uri: uri(n.file), uriBaseId: '%SRCROOT%' },
                              },
                            },
                          ],
                        }
                      : {}),
                  })),
                },
              ],
            }
          : { invocations: [{ executionSuccessful: true }] }),
        results: findings.map((f) => ({
          ruleId: f.ruleId,
          ...(index.has(f.ruleId) ? { ruleIndex: index.get(f.ruleId) } : {}),
          level: LEVEL[f.severity],
          message: { text: f.message },
          ...(f.location
            ? {
                locations: [
                  {
                    physicalLocation: {
                      artifactLocation: { uri: uri(f.location.file), uriBaseId: '%SRCROOT%' },
                      region: {
                        startLine: f.location.line,
                        startColumn: f.location.column,
                        ...(f.location.endLine !== undefined ? { endLine: f.location.endLine } : {}),
                        ...(f.location.endColumn !== undefined ? { endColumn: f.location.endColumn } : {}),
                      },
                    },
                  },
                ],
              }
            : {}),
          ...(f.fingerprint ? { partialFingerprints: { 'rampart/v1': f.fingerprint } } : {}),
          ...(f.properties ? { properties: f.properties } : {}),
        })),
      },
    ],
  };
}
