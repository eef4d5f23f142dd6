// rampart check [options] PATH...
//
// Checks container specs (Compose and Swarm stack files, Kubernetes manifests, Docker Engine
// container-create bodies) against the hardening baseline. Exit 0 when nothing at or above
// --fail-on is found, 1 when something is, 2 when an input cannot be read.

import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { statSync } from 'node:fs';
import { CHECKS } from '../../admission/catalogue.js';
import {
  checkAll,
  EMPTY_POLICY,
  loadAdmissionPolicy,
  loadWorkloads,
  daemonChecks,
  type AdmissionPolicy,
  type CheckedFinding,
} from '../../admission/engine.js';
import { CUSTOM_ERROR } from '../../admission/custom.js';
import { RampartError, formatLocation } from '../../core/errors.js';
import { walkFiles } from '../../redact/scan.js';
import { toSarif } from '../../core/sarif.js';
import { isSeverity, severityRank } from '../../core/types.js';
import { VERSION } from '../../core/version.js';
import { Redactor } from '../../redact/engine.js';
import { parse, usageError, type Command } from '../io.js';

const USAGE = `usage: rampart check [options] [-f COMPOSE]... [PATH...]

Check container specs before they run: Compose and Swarm stack files, Kubernetes manifests,
Docker Engine container-create bodies and ServiceSpecs (JSON), and dockerd's daemon.json. Each
file is checked on its own, but a Compose file and its override (compose.yaml and
compose.override.yaml) are merged as docker compose merges them. A directory is walked
(honouring .gitignore): its YAML and JSON files that are specs are checked, others skipped.

  -f FILE              Compose files of one project, merged in the order given (as
                       docker compose -f a.yml -f b.yml).

  --profile NAME       default, or vm-runner (allows /dev/kvm and /dev/net/tun; NET_ADMIN and
                       console exposure only with an exception).
  --policy FILE        Admission policy: approved registries, distroless bases, exceptions.
  --fail-on SEVERITY   Exit 1 when a finding is at or above this (default: low).
  --format FORMAT      text (default), json, sarif, policy-report.
  --swarm / --no-swarm Read Compose files as a Swarm stack, or not (default: detected).
  -o, --output FILE    Write the report to FILE instead of stdout.
  --only pss           Report only the checks of Pod Security "restricted" (marked [pss]).
  -q, --quiet          Text: the findings alone, without the fix under each.

Exit status: 0 clean, 1 findings at or above --fail-on, 2 unreadable or invalid input.`;

const FORMATS = ['text', 'json', 'sarif', 'policy-report'] as const;

export const command: Command = {
  usage: USAGE,
  async run(argv, io) {
    const { values, positionals } = parse(
      argv,
      {
        profile: { type: 'string' },
        policy: { type: 'string' },
        'fail-on': { type: 'string' },
        format: { type: 'string' },
        swarm: { type: 'boolean' },
        'no-swarm': { type: 'boolean' },
        output: { type: 'string', short: 'o' },
        only: { type: 'string' },
        file: { type: 'string', short: 'f', multiple: true },
        quiet: { type: 'boolean', short: 'q' },
        help: { type: 'boolean', short: 'h' },
      },
      USAGE,
      true,
    );
    if (values.help) {
      io.stdout.write(USAGE + '\n');
      return 0;
    }
    if (positionals.length === 0 && !values.file) throw usageError('give at least one file to check', USAGE);
    const format = (values.format ?? 'text') as (typeof FORMATS)[number];
    if (!FORMATS.includes(format)) throw usageError(`--format must be one of ${FORMATS.join(', ')}`, USAGE);
    const profile = values.profile ?? 'default';
    if (profile !== 'default' && profile !== 'vm-runner')
      throw usageError(`--profile must be default or vm-runner, not "${profile}"`, USAGE);
    if (values.only !== undefined && values.only !== 'pss')
      throw usageError(`--only takes pss (Pod Security "restricted"), not "${values.only}"`, USAGE);
    const failOn = values['fail-on'] ?? 'low';
    if (!isSeverity(failOn)) throw usageError(`--fail-on must be info, low, medium, high or critical`, USAGE);

    // -f files: one project, merged in order. PATHs: files, or directories walked.
    const sources: (string | { file: string; project?: string; found?: boolean })[] = (values.file ?? []).map(
      (f) => ({
        file: resolve(io.cwd, f),
        project: '-f',
      }),
    );
    let walked = false;
    for (const p of positionals) {
      const abs = resolve(io.cwd, p);
      let dir: boolean;
      try {
        dir = statSync(abs).isDirectory();
      } catch {
        throw new RampartError('RAMPART_E_ADMISSION_INPUT', `${p}: no such file or directory`);
      }
      if (!dir) {
        sources.push(abs);
        continue;
      }
      walked = true;
      walkFiles(
        abs,
        (f) => {
          if (/\.(ya?ml|json)$/i.test(f)) sources.push({ file: f, found: true });
        },
        (d, code) => {
          throw new RampartError('RAMPART_E_ADMISSION_INPUT', `${d}: cannot be listed (${code})`);
        },
      );
    }
    const files = sources.map((s) => (typeof s === 'string' ? s : s.file));
    let skipped = 0;
    const policy =
      values.policy === undefined ? EMPTY_POLICY : loadAdmissionPolicy(resolve(io.cwd, values.policy));
    const workloads = loadWorkloads(sources, {
      ...(values.swarm ? { swarm: true } : values['no-swarm'] ? { swarm: false } : {}),
      // Files found in a directory that are not specs (CI workflows, configuration) are skipped.
      ...(walked ? { skipUnknown: true, onSkipped: () => void skipped++ } : {}),
    });
    // Secret-shaped values in the environment are found by the redaction rules.
    const redactor = new Redactor();
    const daemon = daemonChecks(
      files,
      new Set(sources.flatMap((s) => (typeof s !== 'string' && s.found ? [s.file] : []))),
    );
    const all = [
      ...checkAll(
        workloads,
        {
          profile,
          secretValue: (v) => redactor.redact(v).matches[0]?.label,
        },
        policy,
      ),
      ...daemon,
    ];
    const findings = values.only === 'pss' ? all.filter((f) => f.properties?.['pss'] === true) : all;
    const active = findings.filter((f) => !f.suppressed);
    const failing = active.filter((f) => severityRank(f.severity) >= severityRank(failOn));

    let out: string;
    if (format === 'json')
      out =
        JSON.stringify(
          { version: 1, tool: `rampart ${VERSION}`, workloads: workloads.length, findings },
          null,
          2,
        ) + '\n';
    else if (format === 'sarif')
      out = JSON.stringify(toSarif(sarifTool(policy), active, { baseDir: io.cwd }), null, 2) + '\n';
    else if (format === 'policy-report')
      out = JSON.stringify(policyReport(findings, workloads.length), null, 2) + '\n';
    else
      out = findings
        .map(
          (f) =>
            `${f.location ? formatLocation(f.location) : '?'}: ${f.severity} ${f.ruleId}: ${f.message}` +
            (f.properties?.['pss'] === true ? ' [pss]' : '') +
            (f.suppressed
              ? ` (excepted: ${f.suppressed.justification}, approved by ${f.suppressed.approver} until ${f.suppressed.expires})`
              : '') +
            '\n' +
            // The fix under each finding, as a compiler's note (--quiet: the findings alone).
            (f.help && values.quiet !== true ? `    ${f.help}\n` : ''),
        )
        .join('');
    if (values.output !== undefined) writeFileSync(resolve(io.cwd, values.output), out);
    else io.stdout.write(out);
    io.stderr.write(
      `rampart: checked ${workloads.length} workload(s) in ${files.length} file(s): ${active.length} finding(s), ${failing.length} at or above ${failOn}` +
        (findings.length > active.length ? `, ${findings.length - active.length} excepted` : '') +
        (skipped > 0 ? `; ${skipped} file(s) skipped (not specs)` : '') +
        '\n',
    );
    return failing.length > 0 ? 1 : 0;
  },
};

function sarifTool(policy: AdmissionPolicy): Parameters<typeof toSarif>[0] {
  return {
    name: 'rampart-admission',
    version: VERSION,
    informationUri: 'https://github.com/rampart-dev/rampart',
    rules: [
      ...[...CHECKS, ...policy.checks, ...(policy.checks.length > 0 ? [CUSTOM_ERROR] : [])].map((c) => ({
        id: c.id,
        shortDescription: c.title,
        fullDescription: c.why,
        help: `${c.why}\n\nFix: ${c.fix}`,
        severity: c.severity,
        tags: ['containers', 'admission'],
      })),
      {
        id: 'exception-invalid',
        shortDescription: 'Invalid or expired exception',
        help: 'Every exception needs a justification, an approver and an expiry date in the future.',
        severity: 'high' as const,
      },
    ],
  };
}

/** A wgpolicyk8s.io/v1alpha2 PolicyReport, as Kyverno and the Policy Reporter UI read it. */
function policyReport(findings: readonly CheckedFinding[], workloads: number): Record<string, unknown> {
  const results = findings.map((f) => ({
    source: 'rampart',
    policy: 'rampart-admission',
    rule: f.ruleId,
    result: f.suppressed ? 'skip' : severityRank(f.severity) >= severityRank('medium') ? 'fail' : 'warn',
    severity: f.severity,
    message: f.message,
    category: 'Container hardening',
    scored: true,
    ...(f.properties
      ? {
          resources: [
            {
              kind: String(f.properties['kind']),
              name: String(f.properties['workload']),
            },
          ],
        }
      : {}),
    properties: {
      ...(f.location ? { location: formatLocation(f.location) } : {}),
      ...(f.suppressed ? { exception: f.suppressed.justification } : {}),
    },
  }));
  const count = (r: string): number => results.filter((x) => x.result === r).length;
  return {
    apiVersion: 'wgpolicyk8s.io/v1alpha2',
    kind: 'PolicyReport',
    metadata: { name: 'rampart-check' },
    summary: {
      pass:
        workloads === 0
          ? 0
          : Math.max(0, workloads - new Set(findings.map((f) => f.properties?.['workload'])).size),
      fail: count('fail'),
      warn: count('warn'),
      error: 0,
      skip: count('skip'),
    },
    results,
  };
}
