// What a detection rule sees: every event, whatever its type, as the same six objects. `evt` is
// the envelope (type, severity, the run and agent with what Rampart knows of them), `proc`,
// `file`, `net` and `syscall` are filled from the event types that carry them (kernel telemetry,
// egress connections), and `data` is the event's own data for everything else. A field an event
// does not carry is its type's zero (""/0/false/[]), so every rule is total over every event: a
// rule never errors on an event it was not written for, it just does not match.
//
// The classes are registered with cel-js as the objects' types; the field tables are what the
// type checker and the closure compiler (cel/compile.ts) read, so the two cannot drift.

import type { StreamEvent } from '../core/events.js';

export class Evt {
  type = '';
  severity = '';
  source = '';
  run = '';
  agent = '';
  namespace = '';
  runtime = '';
  profile = '';
  /** The agent's capabilities (policy entities), for rules like "edits CI without the capability". */
  capabilities: string[] = [];
  seq = 0n;
  time = '';
}

export class Proc {
  pid = 0n;
  ppid = 0n;
  uid = 0n;
  /** The executable's base name and path. */
  name = '';
  exe = '';
  args: string[] = [];
  /** argv joined by spaces, after redaction. */
  cmdline = '';
  cwd = '';
  /** The parent's name and path, as the run last saw them. */
  pname = '';
  pexe = '';
  /** What fd 0 is at exec: socket, pipe, tty, file or "" (unknown). */
  stdin = '';
  /** Its executable was written in this run by a process that had made a network connection. */
  downloaded = false;
  exitCode = 0n;
}

export class FileRef {
  path = '';
  name = '';
  flags: string[] = [];
  /** Opened for writing (O_WRONLY, O_RDWR, O_CREAT or O_TRUNC). */
  write = false;
}

export class Net {
  host = '';
  port = 0n;
  address = '';
  method = '';
  /** The request target of a plain request (path and query), when the proxy saw one. */
  target = '';
  decision = '';
  reason = '';
  /** How the caller reached the egress proxy: "channel" (its run's) or "token" (over TCP). */
  via = '';
  bytesUp = 0n;
  /** A kernel connect's address family: inet, inet6 or unix (a unix address is its path). */
  family = '';
}

export class Syscall {
  name = '';
  nr = 0n;
  errno = 0n;
}

/** The objects rules are written against, with each field's CEL type. */
export const FIELDS = {
  evt: {
    type: 'string',
    severity: 'string',
    source: 'string',
    run: 'string',
    agent: 'string',
    namespace: 'string',
    runtime: 'string',
    profile: 'string',
    capabilities: 'list<string>',
    seq: 'int',
    time: 'string',
  },
  proc: {
    pid: 'int',
    ppid: 'int',
    uid: 'int',
    name: 'string',
    exe: 'string',
    args: 'list<string>',
    cmdline: 'string',
    cwd: 'string',
    pname: 'string',
    pexe: 'string',
    stdin: 'string',
    downloaded: 'bool',
    exitCode: 'int',
  },
  file: { path: 'string', name: 'string', flags: 'list<string>', write: 'bool' },
  net: {
    host: 'string',
    port: 'int',
    address: 'string',
    method: 'string',
    target: 'string',
    decision: 'string',
    reason: 'string',
    via: 'string',
    bytesUp: 'int',
    family: 'string',
  },
  syscall: { name: 'string', nr: 'int', errno: 'int' },
} as const;

export type ObjectName = keyof typeof FIELDS | 'data';

export const CLASSES = { evt: Evt, proc: Proc, file: FileRef, net: Net, syscall: Syscall } as const;

/** One event as rules see it. */
export interface DetectInput {
  readonly evt: Evt;
  readonly proc: Proc;
  readonly file: FileRef;
  readonly net: Net;
  readonly syscall: Syscall;
  readonly data: Readonly<Record<string, unknown>>;
}

/** What Rampart knows of a run beyond the event: filled by the engine from its run table. */
export interface RunFacts {
  readonly agent: string;
  readonly namespace: string;
  readonly runtime: string;
  readonly profile: string;
  readonly capabilities: readonly string[];
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const int = (v: unknown): bigint =>
  typeof v === 'number' && Number.isFinite(v) ? BigInt(Math.trunc(v)) : typeof v === 'bigint' ? v : 0n;
const strs = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x) => typeof x === 'string') : []);
const baseName = (p: string): string => p.slice(p.lastIndexOf('/') + 1);

/** The flags that make an open a write. */
const WRITE_FLAGS = new Set(['O_WRONLY', 'O_RDWR', 'O_CREAT', 'O_TRUNC', 'O_APPEND']);

/** Builds the rule input for a recorded event; `facts` are the run's, when known. */
export function inputOf(se: StreamEvent, facts: RunFacts | undefined): DetectInput {
  const e = se.event;
  const d = (e.data ?? {}) as Record<string, unknown>;
  const evt = new Evt();
  evt.type = e.type;
  evt.severity = e.severity;
  evt.source = e.source;
  evt.run = e.subject?.run ?? str(d['run']);
  evt.agent = e.subject?.agent ?? (str(d['agent']) || facts?.agent || '');
  if (facts) {
    evt.namespace = facts.namespace;
    evt.runtime = facts.runtime;
    evt.profile = facts.profile;
    evt.capabilities = facts.capabilities as string[];
  }
  evt.seq = BigInt(se.seq);
  evt.time = se.time;
  const proc = new Proc();
  const file = new FileRef();
  const net = new Net();
  const syscall = new Syscall();
  if (typeof d['pid'] === 'number') {
    proc.pid = int(d['pid']);
    proc.ppid = int(d['ppid']);
    proc.uid = int(d['uid']);
    proc.exe = str(d['exe']);
    proc.name = str(d['comm']) || baseName(proc.exe);
    proc.args = strs(d['argv']);
    proc.cmdline = proc.args.join(' ');
    proc.cwd = str(d['cwd']);
    proc.pexe = str(d['pexe']);
    proc.pname = str(d['pcomm']) || baseName(proc.pexe);
    proc.stdin = str(d['stdin']);
    proc.downloaded = d['downloaded'] === true;
    proc.exitCode = int(d['exitCode']);
  }
  if (e.type === 'file.open') {
    file.path = str(d['path']);
    file.name = baseName(file.path);
    file.flags = strs(d['flags']);
    file.write = file.flags.some((f) => WRITE_FLAGS.has(f));
  }
  if (e.type === 'net.connect' || e.type === 'egress.connection') {
    net.host = str(d['host']);
    net.port = int(d['port']);
    net.address = str(d['address']);
    net.method = str(d['method']);
    net.target = str(d['target']);
    net.decision = str(d['decision']);
    net.reason = str(d['reason']);
    net.via = str(d['via']);
    net.bytesUp = int(d['bytesUp']);
    net.family = str(d['family']);
  }
  if (e.type === 'syscall.denied') {
    syscall.name = str(d['syscall']);
    syscall.nr = int(d['nr']);
    syscall.errno = int(d['errno']);
  }
  return { evt, proc, file, net, syscall, data: d };
}

/** The value of a dotted field (`proc.name`, `data.count`) in an input, for outputs and exceptions. */
export function fieldValue(input: DetectInput, path: string): unknown {
  const dot = path.indexOf('.');
  const object = path.slice(0, dot) as ObjectName;
  const name = path.slice(dot + 1);
  const o = input[object] as unknown as Record<string, unknown> | undefined;
  return o === undefined || !Object.hasOwn(o, name) ? undefined : o[name];
}

/** The CEL type of a dotted field, or undefined when there is no such field; `data.*` is dyn. */
export function fieldType(path: string): string | undefined {
  const m = /^([a-z]+)\.([A-Za-z_][A-Za-z0-9_]*)$/.exec(path);
  if (!m) return undefined;
  if (m[1] === 'data') return 'dyn';
  const fields = (FIELDS as Record<string, Record<string, string>>)[m[1]!];
  return fields && Object.hasOwn(fields, m[2]!) ? fields[m[2]!] : undefined;
}
