// A drill's results for people (a table), for programs (JSON) and for CI (JUnit XML: one test
// case per scenario, a failure for one that did not hold, skipped for one not available).

import type { ChaosResult } from './chaos/scenarios.js';
import { pct, type ScenarioResult } from './service.js';

/** p50 and p99 of a scenario's times, ms, as "p50/p99" (or "-"). */
function spread(xs: readonly (number | undefined)[]): string {
  const v = xs.filter((x): x is number => x !== undefined);
  if (v.length === 0) return '-';
  return v.length === 1 ? `${v[0]}` : `${pct(v, 0.5)}/${pct(v, 0.99)}`;
}

/** Columns padded to their widest cell, two spaces apart. */
function table(head: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)];
}

export function textReport(
  id: string,
  results: readonly ScenarioResult[],
  summary: Record<string, unknown>,
): string {
  const rows = results.map((r) => [
    r.name,
    r.expected,
    r.status === 'unavailable' ? 'not available' : r.observed,
    r.status === 'held' ? 'held' : r.status === 'failed' ? 'FAILED' : '-',
    spread(r.times.map((t) => t.detectMs)),
    spread(r.times.map((t) => t.containMs)),
  ]);
  const out = table(['scenario', 'expected', 'observed', 'status', 'detect ms', 'contain ms'], rows);
  const c = summary['containMs'] as { p50: number; p99: number; max: number; n: number } | undefined;
  out.push(
    '',
    `drill ${id}: ${String(summary['held'])} held, ${String(summary['failed'])} failed, ${String(summary['unavailable'])} not available` +
      (c ? `; act to containment p50 ${c.p50} ms, p99 ${c.p99} ms, max ${c.max} ms over ${c.n}` : ''),
  );
  for (const r of results.filter((x) => x.status === 'failed')) out.push(`  ${r.name}: ${r.reason ?? ''}`);
  out.push('(times: p50/p99 from the act to the detection and the containment on record, over repetitions)');
  return out.join('\n') + '\n';
}

const xml = (s: string): string =>
  s.replace(
    /[<>&"']/g,
    (ch) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[ch]!,
  );

export function junitReport(id: string, results: readonly ScenarioResult[]): string {
  const failed = results.filter((r) => r.status === 'failed').length;
  const skipped = results.filter((r) => r.status === 'unavailable').length;
  const cases = results.map((r) => {
    const worst = Math.max(0, ...r.times.map((t) => t.containMs ?? t.detectMs ?? 0));
    const open = `    <testcase classname="rampart.drill" name="${xml(r.name)}" time="${(worst / 1000).toFixed(3)}">`;
    if (r.status === 'failed')
      return `${open}\n      <failure message="${xml(`expected ${r.expected}, observed ${r.observed}`)}">${xml(r.reason ?? '')}</failure>\n    </testcase>`;
    if (r.status === 'unavailable')
      return `${open}\n      <skipped message="${xml(r.reason ?? 'not available')}"/>\n    </testcase>`;
    return `${open}</testcase>`;
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="rampart drill ${xml(id)}" tests="${results.length}" failures="${failed}" skipped="${skipped}">`,
    `  <testsuite name="drill ${xml(id)}" tests="${results.length}" failures="${failed}" skipped="${skipped}">`,
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}

/** The chaos drill's table: the fault's times instead of an attack's. */
export function chaosTextReport(id: string, results: readonly ChaosResult[]): string {
  const rows = results.map((r) => [
    r.name,
    r.status === 'held' ? 'held' : 'FAILED',
    r.healthMs === undefined ? '-' : String(r.healthMs),
    r.recoverMs === undefined ? '-' : String(r.recoverMs),
  ]);
  const out = [...table(['scenario', 'status', 'health ms', 'recover ms'], rows), ''];
  for (const r of results) {
    out.push(`${r.name}: expected ${r.expected}`);
    out.push(`  observed: ${r.observed || '-'}`);
    if (r.reason) out.push(`  FAILED: ${r.reason}`);
  }
  const failed = results.filter((r) => r.status === 'failed').length;
  out.push(
    '',
    `chaos drill ${id}: ${results.length - failed} held, ${failed} failed`,
    '(health ms: from the fault to health saying so; recover ms: from its end to health ok again)',
  );
  return out.join('\n') + '\n';
}

/**
 * Chaos results as a drill's scenarios (for the control plane's record and JUnit): no act, so no
 * act-to-containment times to mix into the attack scenarios' figures; the text is cut to what
 * the drill API keeps.
 */
export const chaosAsScenarios = (results: readonly ChaosResult[]): ScenarioResult[] =>
  results.map((r) => ({
    name: r.name,
    expected: r.expected.slice(0, 2000),
    observed: r.observed.slice(0, 2000),
    status: r.status,
    ...(r.reason !== undefined ? { reason: r.reason.slice(0, 2000) } : {}),
    runs: [],
    times: [],
  }));
