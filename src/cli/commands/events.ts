// rampart events: the security events on record, and with --follow the live stream
// (GET /v1/events/stream, Server-Sent Events), filtered and resumable.

import { sseReader } from '../../core/sse.js';
import { apiError, connect } from '../client.js';
import { COMMON_OPTIONS, parse, usageError, type Command, type Io } from '../io.js';
import { localConfig } from '../local.js';

const USAGE = `usage: rampart events [--follow] [--type T[,T...]] [--severity LEVEL] [--agent ID] [--run ID]
                      [--from SEQ] [--format text|json]

  Security events from the audit log, in its order (docs/events.md). Without --follow: the events
  from --from (default: the last 100 records' worth) to now, then exit. With --follow: then every
  new one as it is recorded, on any replica, until interrupted.

  --type T        exact types or prefixes, comma-separated: sandbox.*,egress.ban
  --severity L    at least this level: info, low, medium, high, critical
  --agent ID      events about this agent; --run ID: about this run
  --from SEQ      start at this record number (what a resumed reader last saw, plus one)
  --format F      text (default): one line per event; json: one JSON object per line

Common options: --config FILE, --data DIR.`;

interface Wire {
  seq: number;
  time: string;
  type: string;
  severity: string;
  source: string;
  subject?: { agent?: string; run?: string };
  data: Record<string, unknown>;
}

/** One line a person reads: time, severity, type, subject, then the data compactly. */
export function eventLine(e: Wire): string {
  const who = [e.subject?.agent && `agent=${e.subject.agent}`, e.subject?.run && `run=${e.subject.run}`]
    .filter(Boolean)
    .join(' ');
  const data = Object.entries(e.data)
    .filter(([k]) => !(e.subject && (k === 'agent' || k === 'run')))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${e.time} #${e.seq} ${e.severity.toUpperCase().padEnd(8)} ${e.type}${who ? ` ${who}` : ''}${data ? `  ${data}` : ''}`;
}

export const command: Command = {
  usage: USAGE,
  async run(argv, io: Io) {
    const { values } = parse(
      argv,
      {
        ...COMMON_OPTIONS,
        follow: { type: 'boolean', short: 'f' },
        type: { type: 'string' },
        severity: { type: 'string' },
        agent: { type: 'string' },
        run: { type: 'string' },
        from: { type: 'string' },
        format: { type: 'string', default: 'text' },
      },
      USAGE,
    );
    if (values.help) {
      io.stdout.write(USAGE + '\n');
      return 0;
    }
    if (values.format !== 'text' && values.format !== 'json')
      throw usageError('--format is text or json', USAGE);
    if (values.from !== undefined && !/^\d{1,15}$/.test(values.from))
      throw usageError('--from takes a record number', USAGE);
    const api = connect(localConfig(values, io.cwd).dataDir);
    let from = values.from;
    if (from === undefined) {
      const head = await api.call<{ size: number }>('GET', '/v1/audit/head');
      if (head.status !== 200) throw apiError(head.status, head.body);
      from = String(Math.max(0, head.body.size - 100));
    }
    const q = new URLSearchParams({ from, follow: String(values.follow === true) });
    for (const k of ['type', 'severity', 'agent', 'run'] as const)
      if (values[k] !== undefined) q.set(k, values[k]);
    await api.stream(
      `/v1/events/stream?${q.toString()}`,
      {},
      sseReader((data) =>
        io.stdout.write((values.format === 'json' ? data : eventLine(JSON.parse(data) as Wire)) + '\n'),
      ),
    );
    return 0;
  },
};
