// rampart scan: find secrets in files, directories (honouring .gitignore) or the lines added in a
// git range. Exit 0 when clean, 1 when something is found, 2 on error.

import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { sarifRulesFor } from '../../redact/report.js';
import { Redactor } from '../../redact/engine.js';
import { readBaseline, scanGitRange, scanPaths, type ScanResult } from '../../redact/scan.js';
import { toSarif } from '../../core/sarif.js';
import { VERSION } from '../../core/version.js';
import { parse, usageError, type Command } from '../io.js';
import { progress } from '../progress.js';

const USAGE = `usage: rampart scan [PATH...] [--format text|json|sarif] [--git RANGE] [--baseline FILE] [-o FILE] [--quiet]

Scans files and directories (default: .) for secrets. Directories are walked honouring .gitignore;
binary files and files over 256 MiB are reported as skipped. With --git RANGE (main..HEAD, a
commit), only the lines added in that range are scanned, in the repository at PATH (default .).

  --format    text (default): file:line:col: severity rule: message
              json: machine-readable; also the baseline format
              sarif: SARIF 2.1.0 for GitHub code scanning
  --baseline  a previous --format json output: findings in it are not reported
  -o FILE     write the report to FILE instead of stdout

On a terminal, progress (files scanned, rate) is shown on stderr; --quiet hides it.
Exit status: 0 clean, 1 secrets found, 2 error. Findings never contain the secret itself.`;

export const command: Command = {
  usage: USAGE,
  async run(argv, io) {
    const { values, positionals } = parse(
      argv,
      {
        format: { type: 'string', default: 'text' },
        git: { type: 'string' },
        baseline: { type: 'string' },
        output: { type: 'string', short: 'o' },
        quiet: { type: 'boolean', short: 'q' },
      },
      USAGE,
      true,
    );
    const format = values.format;
    if (format !== 'text' && format !== 'json' && format !== 'sarif')
      throw usageError(`--format ${format}: must be text, json or sarif`, USAGE);
    const redactor = new Redactor();
    const baseline =
      values.baseline === undefined ? undefined : readBaseline(resolve(io.cwd, values.baseline));
    const paths = positionals.length > 0 ? positionals : ['.'];
    let result: ScanResult;
    if (values.git !== undefined) {
      if (paths.length !== 1) throw usageError('--git scans one repository: give at most one PATH', USAGE);
      result = scanGitRange(redactor, resolve(io.cwd, paths[0]!), values.git, { baseDir: io.cwd, baseline });
    } else {
      const shown = progress(io, 'scanning', 'files', values.quiet === true);
      result = scanPaths(redactor, paths, {
        baseDir: io.cwd,
        baseline,
        onProgress: (files) => shown.update(files),
      });
      shown.end();
    }

    let out: string;
    if (format === 'json') {
      out =
        JSON.stringify(
          {
            version: 1,
            tool: `rampart ${VERSION}`,
            findings: result.findings,
            problems: result.problems,
            stats: { files: result.filesScanned, bytes: result.bytesScanned, suppressed: result.suppressed },
          },
          null,
          2,
        ) + '\n';
    } else if (format === 'sarif') {
      const tool = {
        name: 'rampart-secrets',
        version: VERSION,
        informationUri: 'https://github.com/rampart-dev/rampart',
        rules: sarifRulesFor(redactor.rules),
      };
      out =
        JSON.stringify(
          toSarif(tool, result.findings, { baseDir: io.cwd, notifications: result.problems }),
          null,
          2,
        ) + '\n';
    } else {
      out = result.findings
        .map(
          (f) =>
            `${f.location.file}:${f.location.line}:${f.location.column}: ${f.severity} ${f.ruleId}: ${f.message} (fingerprint ${f.fingerprint})\n`,
        )
        .join('');
    }
    if (values.output !== undefined) writeFileSync(resolve(io.cwd, values.output), out, { mode: 0o600 });
    else io.stdout.write(out);

    if (format === 'text') {
      for (const p of result.problems) io.stderr.write(`rampart: ${p.level}: ${p.message}\n`);
    }
    io.stderr.write(
      `rampart: scanned ${result.filesScanned} file(s), ${result.bytesScanned} bytes: ${result.findings.length} secret(s) found` +
        (result.suppressed > 0 ? `, ${result.suppressed} suppressed by the baseline` : '') +
        '\n',
    );
    if (result.problems.some((p) => p.level === 'error')) return 2;
    return result.findings.length > 0 ? 1 : 0;
  },
};
