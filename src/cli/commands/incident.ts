// rampart incident: where people take over. List, show, act on incidents, their statistics, and
// reports whose every record carries its inclusion proof (rampart audit verify-proof checks them).

import { writeFileSync } from 'node:fs';
import { apiError, connect, expectOk } from '../client.js';
import { COMMON_OPTIONS, parseSubcommand, usageError, type Command, type Io } from '../io.js';
import { localConfig } from '../local.js';

const USAGE = `usage: rampart incident <subcommand> [options]

  ls [--status open|acknowledged|resolved|active] [--severity S] [-n N]
                              Incidents, newest first.
  show ID                     One incident: observables, detections, actions, evidence, tasks,
                              notes, history.
  open --title T --severity S [--run R]... [--agent A]... [--note TEXT]
                              Open an incident by hand.
  ack ID                      Acknowledge (you become its assignee if it has none).
  assign ID WHO               Assign it.
  note ID TEXT                Add a note (start it with "Lessons learned:" for the report's section).
  phase ID PHASE              detection, analysis, containment, eradication, recovery, lessons_learned.
  verdict ID VERDICT [--reason TEXT]
                              true_positive, benign_true_positive or false_positive.
  task ID N [--undo]          Mark task N done (or not).
  resolve ID [--verdict V] [--note TEXT]
  reopen ID
  timeline ID                 Every record about its runs and agents, in order, with proofs.
  report ID [--format md|html|json] [-o FILE]
                              The report; check it offline with rampart audit verify-proof FILE.
  stats [--since 30d]         Opened, resolved, MTTD, MTTA, MTTC, MTTR, accuracy, closure rate.

Common options: --config FILE, --data DIR, --json, --token-file FILE (a personal token instead
of the admin token).`;

interface Summary {
  id: string;
  title: string;
  severity: string;
  status: string;
  phase: string;
  assignee: string | null;
  opened: string;
  detections: number;
}

/** An incident as `show` reads it (GET /v1/incidents/:id; docs/incidents.md has every field). */
interface Shown {
  id: string;
  title: string;
  severity: string;
  status: string;
  phase: string;
  kind: string;
  assignee?: string;
  tags: string[];
  observables: Record<string, string[]>;
  detectionCount: number;
  detections: { seq: number; time: string; rule: string; priority: string; output: string }[];
  actions: { seq: number; time: string; action: string; target: string; outcome: string; by: string }[];
  evidence: { seq: number; run: string; archive: string; sha256: string; bytes: number }[];
  tasks: { text: string; runbook: string; done: boolean; by?: string }[];
  notes: { at: string; by: string; text: string }[];
  verdict?: { value: string; by: string; reason?: string };
  history: { at: string; by: string; change: string; from?: string; to?: string }[];
  times: Record<string, string>;
}

/** What a person reads first: where it stands, what happened, what is left to do. */
function describe(i: Shown): string {
  const section = (title: string, lines: string[]): string[] =>
    lines.length === 0 ? [] : ['', `${title}:`, ...lines.map((l) => `  ${l}`)];
  return [
    `${i.id}  ${i.severity.toUpperCase()}  ${i.status}  phase ${i.phase}  (${i.kind})`,
    i.title,
    `assignee ${i.assignee ?? '-'}; verdict ${i.verdict ? `${i.verdict.value} (${i.verdict.by})` : '-'}; tags ${i.tags.join(', ') || '-'}`,
    ...section(
      'Times',
      Object.entries(i.times).map(([k, v]) => `${k.padEnd(13)} ${v}`),
    ),
    ...section(
      'Observables',
      Object.entries(i.observables)
        .filter(([, v]) => v.length > 0)
        .map(([k, v]) => `${k.padEnd(13)} ${v.join(', ')}`),
    ),
    ...section(
      `Detections (${i.detectionCount})`,
      i.detections.map((d) => `#${d.seq} ${d.time} [${d.priority}] ${d.rule}: ${d.output}`),
    ),
    ...section(
      'Actions',
      i.actions.map((a) => `#${a.seq} ${a.time} ${a.action} ${a.target}: ${a.outcome} (${a.by})`),
    ),
    ...section(
      'Evidence',
      i.evidence.map((e) => `#${e.seq} run ${e.run}: ${e.archive} sha256 ${e.sha256} (${e.bytes} bytes)`),
    ),
    ...section(
      'Tasks (rampart incident task ID N)',
      i.tasks.map((t, n) => `${String(n).padStart(2)} [${t.done ? 'x' : ' '}] ${t.text} (${t.runbook})`),
    ),
    ...section(
      'Notes',
      i.notes.map((n) => `${n.at} ${n.by}: ${n.text}`),
    ),
    ...section(
      'History',
      i.history.map(
        (h) => `${h.at} ${h.by}: ${h.change}${h.from ? ` from ${h.from}` : ''}${h.to ? ` to ${h.to}` : ''}`,
      ),
    ),
  ].join('\n');
}

const OPTIONS = {
  ...COMMON_OPTIONS,
  json: { type: 'boolean' },
  'token-file': { type: 'string' },
  status: { type: 'string' },
  severity: { type: 'string' },
  n: { type: 'string', short: 'n' },
  title: { type: 'string' },
  run: { type: 'string', multiple: true },
  agent: { type: 'string', multiple: true },
  note: { type: 'string' },
  reason: { type: 'string' },
  verdict: { type: 'string' },
  undo: { type: 'boolean' },
  format: { type: 'string' },
  output: { type: 'string', short: 'o' },
  since: { type: 'string' },
} as const;

const secs = (v: unknown): string => (typeof v === 'number' ? `${v.toFixed(1)} s` : '-');

export const command: Command = {
  usage: USAGE,
  async run(argv, io: Io) {
    const parsed = parseSubcommand(argv, OPTIONS, USAGE, io);
    if (!parsed) return 0;
    const { sub, values, positionals: pos } = parsed;
    const api = connect(localConfig(values, io.cwd).dataDir, undefined, values['token-file']);
    const want = (n: number, what: string): string[] => {
      if (pos.length !== n) throw usageError(`${sub} takes ${what}`, USAGE);
      return pos;
    };
    const call = <T>(method: string, path: string, body?: unknown, ok = 200): Promise<T> =>
      expectOk<T>(api, method, path, body, ok);
    const print = (v: unknown, text: string): void => {
      io.stdout.write(values.json ? JSON.stringify(v) + '\n' : text + '\n');
    };
    const enc = encodeURIComponent;
    const act = async (path: string, body: unknown, text: (i: Summary) => string): Promise<number> => {
      const i = await call<Summary>('POST', path, body);
      print(i, text(i));
      return 0;
    };

    switch (sub) {
      case 'ls': {
        want(0, 'no argument');
        const q = new URLSearchParams();
        if (values.status) q.set('status', values.status);
        if (values.severity) q.set('severity', values.severity);
        if (values.n) q.set('limit', values.n);
        const r = await call<{ total: number; incidents: Summary[] }>('GET', `/v1/incidents?${q.toString()}`);
        print(
          r,
          r.incidents.length === 0
            ? 'no incidents'
            : r.incidents
                .map(
                  (i) =>
                    `${i.id.padEnd(12)} ${i.severity.padEnd(8)} ${i.status.padEnd(12)} ${i.phase.padEnd(15)} ${i.opened}  ${i.assignee ?? '-'}  ${i.title}`,
                )
                .join('\n'),
        );
        return 0;
      }
      case 'show': {
        const [id] = want(1, 'one incident id');
        const i = await call<Shown>('GET', `/v1/incidents/${enc(id!)}`);
        print(i, describe(i));
        return 0;
      }
      case 'open': {
        want(0, 'no argument (use --title and --severity)');
        if (!values.title || !values.severity) throw usageError('open needs --title and --severity', USAGE);
        const i = await call<Summary>(
          'POST',
          '/v1/incidents',
          {
            title: values.title,
            severity: values.severity,
            ...(values.run ? { runs: values.run } : {}),
            ...(values.agent ? { agents: values.agent } : {}),
            ...(values.note ? { note: values.note } : {}),
          },
          201,
        );
        print(i, `opened ${i.id}`);
        return 0;
      }
      case 'ack':
        return act(
          `/v1/incidents/${enc(want(1, 'one incident id')[0]!)}/ack`,
          undefined,
          (i) => `${i.id} ${i.status}`,
        );
      case 'assign': {
        const [id, who] = want(2, 'an incident id and who');
        return act(
          `/v1/incidents/${enc(id!)}/assign`,
          { to: who },
          (i) => `${i.id} assigned to ${i.assignee ?? '-'}`,
        );
      }
      case 'note': {
        const [id, text] = want(2, 'an incident id and the note (quoted)');
        return act(`/v1/incidents/${enc(id!)}/notes`, { text }, (i) => `${i.id}: note added`);
      }
      case 'phase': {
        const [id, phase] = want(2, 'an incident id and a phase');
        return act(`/v1/incidents/${enc(id!)}/phase`, { phase }, (i) => `${i.id} in ${i.phase}`);
      }
      case 'verdict': {
        const [id, verdict] = want(2, 'an incident id and a verdict');
        return act(
          `/v1/incidents/${enc(id!)}/verdict`,
          { verdict, ...(values.reason ? { reason: values.reason } : {}) },
          (i) => `${i.id}: ${verdict}`,
        );
      }
      case 'task': {
        const [id, n] = want(2, 'an incident id and a task number');
        if (!/^\d+$/.test(n!)) throw usageError(`task number "${n}" is not a number`, USAGE);
        return act(
          `/v1/incidents/${enc(id!)}/tasks`,
          { task: Number(n), done: values.undo !== true },
          (i) => `${i.id}: task ${n} ${values.undo ? 'reopened' : 'done'}`,
        );
      }
      case 'resolve': {
        const [id] = want(1, 'one incident id');
        return act(
          `/v1/incidents/${enc(id!)}/resolve`,
          {
            ...(values.verdict ? { verdict: values.verdict } : {}),
            ...(values.note ? { note: values.note } : {}),
          },
          (i) => `${i.id} ${i.status}`,
        );
      }
      case 'reopen':
        return act(
          `/v1/incidents/${enc(want(1, 'one incident id')[0]!)}/reopen`,
          undefined,
          (i) => `${i.id} ${i.status}`,
        );
      case 'timeline': {
        const [id] = want(1, 'one incident id');
        const t = await call<{
          entries: { seq: number; time: string; actor: string; summary: string; outcome: string }[];
          truncated: boolean;
        }>('GET', `/v1/incidents/${enc(id!)}/timeline`);
        print(
          t,
          [
            ...t.entries.map((e) => `#${e.seq} ${e.time} ${e.actor}: ${e.summary} (${e.outcome})`),
            ...(t.truncated ? ['(stopped at incidents.timeline.max_records: more records match)'] : []),
          ].join('\n'),
        );
        return 0;
      }
      case 'report': {
        const [id] = want(1, 'one incident id');
        const format = values.format ?? 'md';
        if (!['md', 'html', 'json'].includes(format))
          throw usageError(`--format: md, html or json, not "${format}"`, USAGE);
        const res = await api.call<unknown>('GET', `/v1/incidents/${enc(id!)}/report?format=${format}`);
        if (res.status !== 200) throw apiError(res.status, res.body);
        if (values.output) {
          writeFileSync(values.output, res.text);
          io.stderr.write(
            `wrote ${values.output}; check it with: rampart audit verify-proof ${values.output}\n`,
          );
        } else io.stdout.write(res.text);
        return 0;
      }
      case 'stats': {
        want(0, 'no argument');
        const s = await call<Record<string, unknown>>(
          'GET',
          `/v1/incidents/stats?since=${enc(values.since ?? '30d')}`,
        );
        const pct = (v: unknown): string => (typeof v === 'number' ? `${(v * 100).toFixed(1)}%` : '-');
        print(
          s,
          [
            `since          ${String(s['since'])}`,
            `opened         ${String(s['opened'])} (resolved ${String(s['resolved'])}, open now ${String(s['open'])})`,
            `MTTD           ${secs(s['mttdSeconds'])}`,
            `MTTA           ${secs(s['mttaSeconds'])}`,
            `MTTC           ${secs(s['mttcSeconds'])}`,
            `MTTR           ${secs(s['mttrSeconds'])}`,
            `accuracy       ${pct(s['accuracy'])} of ${JSON.stringify(s['verdicts'])}`,
            `closure rate   ${pct(s['closureRate'])}`,
          ].join('\n'),
        );
        return 0;
      }
      default:
        throw usageError(`unknown subcommand "${sub}"`, USAGE);
    }
  },
};
