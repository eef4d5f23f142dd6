// Structured JSON logs (pino). Every serialized line passes through `redactLine` before it is
// written, so no code path (an error message quoting input, a header logged while debugging) can
// put a credential on stdout. The server wires in the redaction engine; `basicMask` is the
// fallback used before the engine is available (and by tools that do not load it).

import pino, { type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  readonly level: string;
  readonly redactLine: (line: string) => string;
  /** Where lines go; stdout by default. */
  readonly destination?: pino.DestinationStream;
}

export function createLogger(opts: LoggerOptions): Logger {
  return pino(
    {
      level: opts.level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      messageKey: 'msg',
      formatters: { level: (label) => ({ level: label }) },
      hooks: { streamWrite: (s) => opts.redactLine(s) },
    },
    opts.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

const BASIC_PATTERNS: readonly [RegExp, string][] = [
  [
    /((?:authorization|proxy-authorization)"?\s*[:=]\s*"?(?:bearer|basic|token)\s+)[^\s"',;]{4,}/gi,
    '$1[REDACTED]',
  ],
  [/\b(?:gh[pousr]_[A-Za-z0-9]{20,255}|github_pat_[A-Za-z0-9_]{22,255})\b/g, '[REDACTED-GITHUB-TOKEN]'],
  [/\bglpat-[A-Za-z0-9_-]{20,}\b/g, '[REDACTED-GITLAB-TOKEN]'],
  [/\bxox[abposr]-[A-Za-z0-9-]{10,}\b/g, '[REDACTED-SLACK-TOKEN]'],
  [/\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/g, '[REDACTED-AWS-ACCESS-KEY-ID]'],
  [/\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b/g, '[REDACTED-JWT]'],
  [/\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,}\b/g, '[REDACTED-API-KEY]'],
  [/(\b[a-z][a-z0-9+.-]{1,20}:\/\/)[^\s:@/]+:[^\s@/]+@/gi, '$1[REDACTED]@'],
];

/** Masks Authorization values and well-known token shapes. A floor, not the redaction engine. */
export function basicMask(line: string): string {
  let out = line;
  for (const [re, rep] of BASIC_PATTERNS) out = out.replace(re, rep);
  return out;
}
