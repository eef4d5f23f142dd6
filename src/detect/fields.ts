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

const NONE: readonly string[] = Object.freeze([]);

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
  capabilities: readonly string[] = NONE;
  /** Integers are CEL ints (BigInt), made only when a rule reads them. */
  seqNumber = 0;
  get seq(): bigint {
    return BigInt(this.seqNumber);
  }
  time = '';
}

export class Proc {
  pidNumber = 0;
  ppidNumber = 0;
  uidNumber = 0;
  exitNumber = 0;
  get pid(): bigint {
    return BigInt(this.pidNumber);
  }
  get ppid(): bigint {
    return BigInt(this.ppidNumber);
  }
  get uid(): bigint {
    return BigInt(this.uidNumber);
  }
  get exitCode(): bigint {
    return BigInt(this.exitNumber);
  }
  /** The executable's base name and path. */
  name = '';
  exe = '';
  args: readonly string[] = NONE;
  /** The joined argv, once a rule has read it (the input's builder clears it). */
  cmdlineMemo: string | undefined = undefined;
  /** argv joined by spaces, after redaction (joined once, when a rule first reads it). */
  get cmdline(): string {
    return (this.cmdlineMemo ??= this.args.join(' '));
  }
  cwd = '';
  /** The parent's name and path, as the run last saw them. */
  pname = '';
  pexe = '';
  /** What fd 0 is at exec: socket, pipe, tty, file or "" (unknown). */
  stdin = '';
  /** Its executable was written in this run by a process that had made a network connection. */
  downloaded = false;
}

export class FileRef {
  path = '';
  name = '';
  flags: readonly string[] = NONE;
  /** Opened for writing (O_WRONLY, O_RDWR, O_CREAT or O_TRUNC). */
  write = false;
  /** The pid a /proc/PID/... path names (/proc/self: the opener's own), else 0. */
  procPidNumber = 0;
  get procPid(): bigint {
    return BigInt(this.procPidNumber);
  }
}

export class Net {
  host = '';
  portNumber = 0;
  get port(): bigint {
    return BigInt(this.portNumber);
  }
  address = '';
  method = '';
  /** The request target of a plain request (path and query), when the proxy saw one. */
  target = '';
  decision = '';
  reason = '';
  /** How the caller reached the egress proxy: "channel" (its run's) or "token" (over TCP). */
  via = '';
  bytesUpNumber = 0;
  get bytesUp(): bigint {
    return BigInt(this.bytesUpNumber);
  }
  /** A kernel connect's address family: inet, inet6 or unix (a unix address is its path). */
  family = '';
}

export class Syscall {
  name = '';
  nrNumber = 0;
  errnoNumber = 0;
  get nr(): bigint {
    return BigInt(this.nrNumber);
  }
  get errno(): bigint {
    return BigInt(this.errnoNumber);
  }
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
  file: { path: 'string', name: 'string', flags: 'list<string>', write: 'bool', procPid: 'int' },
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
const int = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? Math.trunc(v) : 0);
/** A list of strings as recorded (no copy when it is one), else the strings in it. */
const strs = (v: unknown): readonly string[] =>
  !Array.isArray(v)
    ? NONE
    : v.every((x) => typeof x === 'string')
      ? v
      : v.filter((x) => typeof x === 'string');
const baseName = (p: string): string => p.slice(p.lastIndexOf('/') + 1);

/** The event types kernel telemetry publishes: they carry a process (pid, ppid, comm). */
const TELEMETRY_TYPES = new Set([
  'process.exec',
  'process.exit',
  'file.open',
  'net.connect',
  'syscall.denied',
]);

/** The pid a /proc path names: /proc/123/x is 123, /proc/self/x the opener's own, else 0. */
function procPid(path: string, self: number): number {
  if (!path.startsWith('/proc/')) return 0;
  const end = path.indexOf('/', 6);
  const part = path.slice(6, end === -1 ? undefined : end);
  if (part === 'self' || part === 'thread-self') return self;
  return /^[1-9]\d{0,9}$/.test(part) ? Number(part) : 0;
}

/** The flags that make an open a write. */
const WRITE_FLAGS = new Set(['O_WRONLY', 'O_RDWR', 'O_CREAT', 'O_TRUNC', 'O_APPEND']);

// The objects an event does not carry are these shared zeros, so an event costs only the objects
// it fills. Nothing writes to them (the engine writes only to a process it has a pid for); the
// process is not frozen because its cmdline getter memoizes.
const NO_PROC = new Proc();
const NO_FILE = Object.freeze(new FileRef());
const NO_NET = Object.freeze(new Net());
const NO_SYSCALL = Object.freeze(new Syscall());

/**
 * The objects one engine fills for every event, in turn: an event's input is read by its rules
 * and gone before the next event (detections keep rendered text, not objects), so filling the
 * same objects again costs no allocation. Every field is written for every event that uses the
 * object: nothing of an earlier event shows through.
 */
export class InputBuffer {
  readonly evt = new Evt();
  readonly proc = new Proc();
  readonly file = new FileRef();
  readonly net = new Net();
  readonly syscall = new Syscall();
  readonly input: {
    evt: Evt;
    proc: Proc;
    file: FileRef;
    net: Net;
    syscall: Syscall;
    data: Readonly<Record<string, unknown>>;
  } = {
    evt: this.evt,
    proc: NO_PROC,
    file: NO_FILE,
    net: NO_NET,
    syscall: NO_SYSCALL,
    data: {},
  };
}

/**
 * Builds the rule input for a recorded event; `facts` are the run's, when known. With a buffer,
 * into the buffer's objects (valid until the next call); without, into new ones.
 */
export function inputOf(
  se: StreamEvent,
  facts: RunFacts | undefined,
  buffer = new InputBuffer(),
): DetectInput {
  const e = se.event;
  const d = (e.data ?? {}) as Record<string, unknown>;
  const out = buffer.input;
  const evt = buffer.evt;
  evt.type = e.type;
  evt.severity = e.severity;
  evt.source = e.source;
  evt.run = e.subject?.run ?? str(d['run']);
  evt.agent = e.subject?.agent ?? (str(d['agent']) || facts?.agent || '');
  evt.namespace = facts?.namespace ?? '';
  evt.runtime = facts?.runtime ?? '';
  evt.profile = facts?.profile ?? '';
  evt.capabilities = facts?.capabilities ?? NONE;
  evt.seqNumber = se.seq;
  evt.time = se.time;
  out.data = d;
  // Each telemetry type's own fields only: data objects come in many shapes, and a read of a
  // key a shape lacks is the slow kind.
  if (TELEMETRY_TYPES.has(e.type)) {
    const proc = buffer.proc;
    out.proc = proc;
    proc.pidNumber = int(d['pid']);
    proc.ppidNumber = int(d['ppid']);
    proc.name = str(d['comm']);
    proc.pexe = '';
    proc.cmdlineMemo = undefined;
    if (e.type === 'process.exec') {
      proc.uidNumber = int(d['uid']);
      proc.exe = str(d['exe']);
      if (proc.name === '') proc.name = baseName(proc.exe);
      proc.args = strs(d['argv']);
      proc.cwd = str(d['cwd']);
      proc.pname = str(d['pcomm']);
      proc.stdin = str(d['stdin']);
      proc.downloaded = d['downloaded'] === true;
      proc.exitNumber = 0;
    } else {
      proc.uidNumber = 0;
      proc.exe = '';
      proc.args = NONE;
      proc.cwd = '';
      proc.pname = '';
      proc.stdin = '';
      proc.downloaded = false;
      proc.exitNumber = e.type === 'process.exit' ? int(d['exitCode']) : 0;
    }
  } else out.proc = NO_PROC;
  if (e.type === 'file.open') {
    const file = buffer.file;
    out.file = file;
    file.path = str(d['path']);
    file.name = baseName(file.path);
    file.flags = strs(d['flags']);
    file.write = file.flags.some((f) => WRITE_FLAGS.has(f));
    file.procPidNumber = procPid(file.path, int(d['pid']));
  } else out.file = NO_FILE;
  if (e.type === 'net.connect' || e.type === 'egress.connection') {
    const net = buffer.net;
    out.net = net;
    net.portNumber = int(d['port']);
    net.address = str(d['address']);
    if (e.type === 'net.connect') {
      net.family = str(d['family']);
      net.host = '';
      net.method = '';
      net.target = '';
      net.decision = '';
      net.reason = '';
      net.via = '';
      net.bytesUpNumber = 0;
    } else {
      net.family = '';
      net.host = str(d['host']);
      net.method = str(d['method']);
      net.target = str(d['target']);
      net.decision = str(d['decision']);
      net.reason = str(d['reason']);
      net.via = str(d['via']);
      net.bytesUpNumber = int(d['bytesUp']);
    }
  } else out.net = NO_NET;
  if (e.type === 'syscall.denied') {
    const syscall = buffer.syscall;
    out.syscall = syscall;
    syscall.name = str(d['syscall']);
    syscall.nrNumber = int(d['nr']);
    syscall.errnoNumber = int(d['errno']);
  } else out.syscall = NO_SYSCALL;
  return out;
}

/** The value of a dotted field (`proc.name`, `data.count`) in an input, for outputs and exceptions. */
export function fieldValue(input: DetectInput, path: string): unknown {
  const dot = path.indexOf('.');
  const object = path.slice(0, dot) as ObjectName;
  const name = path.slice(dot + 1);
  const o = input[object] as unknown as Record<string, unknown> | undefined;
  if (o === undefined) return undefined;
  // data's keys are its own; the objects' fields may be getters (integers), named in FIELDS.
  if (object === 'data') return Object.hasOwn(o, name) ? o[name] : undefined;
  const fields = (FIELDS as Record<string, Record<string, string>>)[object];
  return fields && Object.hasOwn(fields, name) ? o[name] : undefined;
}

/** The CEL type of a dotted field, or undefined when there is no such field; `data.*` is dyn. */
export function fieldType(path: string): string | undefined {
  const m = /^([a-z]+)\.([A-Za-z_][A-Za-z0-9_]*)$/.exec(path);
  if (!m) return undefined;
  if (m[1] === 'data') return 'dyn';
  const fields = (FIELDS as Record<string, Record<string, string>>)[m[1]!];
  return fields && Object.hasOwn(fields, m[2]!) ? fields[m[2]!] : undefined;
}
