// rampart audit verify | tail | export | checkpoint | verify-proof

import { createWriteStream, existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readTextFile } from '../../core/files.js';
import {
  loadTrustedVerifiers,
  openCheckpoint,
  parseVkey,
  witnessPath,
  type NoteVerifier,
} from '../../audit/checkpoint.js';
import { HASH_SIZE, leafHash } from '../../core/merkle.js';
import { MemoryTree, checkProofDocument, type ProofDocument } from '../../audit/proofs.js';
import { verifyLog, type VerifyReport } from '../../audit/verify.js';
import { checkReport, extractReport } from '../../incidents/component.js';
import { loadInstallationVerifier } from '../../core/installation.js';
import { RampartError } from '../../core/errors.js';
import { parseDuration } from '../../core/units.js';
import { lastMatching, matcher, recordLine } from '../../audit/filter.js';
import { firstAt } from '../../core/records.js';
import type { AuditRecordRow } from '../../store/types.js';
import { apiError, connect, findControlPlane } from '../client.js';
import { COMMON_OPTIONS, parse, usageError, type Command, type Io } from '../io.js';
import { progress } from '../progress.js';
import { localConfig, openExistingStore } from '../local.js';

const USAGE = `usage: rampart audit <subcommand> [options]

  verify [--data DIR] [--key FILE]... [--witness PATH]... [--json] [--quiet]
      Check every record against the signed checkpoints and the witnesses. Exit 0 when the log is
      intact, 1 naming the first bad sequence number when it is not, 2 on a usage error.
  tail [-n N] [--follow] [--run ID] [--agent ID] [--action A] [--outcome O] [--since T]
       [--format json|text] [--data DIR]
      Print the latest N records (20) that match, as JSON lines or, with --format text, one
      readable line each (record number, time, actor, action, target, outcome). --action takes
      an action or a prefix ending in * (sandbox.*); --since a time (2026-12-03T06:00:00Z) or an
      age (10m, 2h): then every matching record since, not the last N. --follow keeps printing.
  export [--format jsonl] [--from N] [--to N] [-o FILE] [--quiet] [--data DIR]
      Every record with its inclusion proof, one JSON object a line. A running control plane
      signs a checkpoint first, so every record has a proof; without one, records after the
      last checkpoint are exported marked "unsigned" (no proof), and stderr says how many.
  checkpoint [--data DIR]
      Ask the running control plane to sign a checkpoint now; prints it.
  verify-proof FILE [--key FILE]... [--data DIR]
      Check a proof document (from the API or an export line) offline, or an incident report
      (rampart incident report, any format): every record against the signed checkpoint, and the
      report's text against its records.

--key FILE adds a trusted verifier key (the .vkey beside a replica's checkpoint key); the data
directory's own key, audit.trusted_keys and keys certified by the installation key are always
trusted. The data directory's witness (audit/witness.checkpoint, the newest checkpoint this
replica signed, kept outside the database) is always checked; --witness PATH adds checkpoints
kept elsewhere: a checkpoint note (GET /v1/audit/checkpoints/latest), an export (audit export),
or another replica's data directory.`;

export const command: Command = {
  usage: USAGE,
  async run(argv, io) {
    const [sub, ...rest] = argv;
    switch (sub) {
      case 'verify':
        return verify(rest, io);
      case 'tail':
        return tail(rest, io);
      case 'export':
        return exportLog(rest, io);
      case 'checkpoint':
        return checkpoint(rest, io);
      case 'verify-proof':
        return verifyProof(rest, io);
      default:
        throw usageError(sub === undefined ? 'missing subcommand' : `unknown subcommand "${sub}"`, USAGE);
    }
  },
};

function verifiersFor(
  dataDir: string,
  trusted: readonly string[],
  extra: readonly string[] | undefined,
): NoteVerifier[] {
  const out = loadTrustedVerifiers(dataDir, [...trusted, ...(extra ?? [])]);
  if (out.length === 0) {
    throw new RampartError(
      'RAMPART_E_AUDIT_CHECKPOINT_INVALID',
      `no trusted checkpoint key found in ${dataDir}/keys and none given with --key`,
    );
  }
  return out;
}

async function verify(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      ...COMMON_OPTIONS,
      key: { type: 'string', multiple: true },
      checkpoint: { type: 'string' },
      witness: { type: 'string', multiple: true },
      json: { type: 'boolean' },
      quiet: { type: 'boolean', short: 'q' },
    },
    USAGE,
    true,
  );
  if (positionals.length > 0) throw usageError(`unexpected argument "${positionals[0]}"`, USAGE);
  const shown = progress(io, 'verifying', 'records', values.quiet === true || values.json === true);
  const config = localConfig(values, io.cwd);
  const verifiers = verifiersFor(config.dataDir, config.audit.trustedKeys, values.key);
  const external = values.checkpoint === undefined ? undefined : readFileSync(values.checkpoint, 'utf8');
  const witnesses = [config.dataDir, ...(values.witness ?? []).map((w) => resolve(io.cwd, w))].flatMap(
    (w, i) => readWitnesses(w, i === 0),
  );
  const store = await openExistingStore(config);
  const started = performance.now();
  let report: VerifyReport;
  try {
    const install = await store.meta.get('installation_id');
    report = await verifyLog({
      store,
      verifiers,
      origin: install === undefined ? undefined : `rampart.audit/${install}`,
      externalCheckpoint: external,
      witnesses,
      bounds: {
        checkpointEvery: config.audit.checkpointEvery,
        maxBatch: config.audit.maxBatch,
        intervalMs: config.audit.checkpointIntervalMs,
      },
      // Other replicas' checkpoint keys count when this installation's key certified them.
      installation: loadInstallationVerifier(config.dataDir),
      onProgress: (done, total) => shown.update(done, total),
    });
  } finally {
    shown.end();
    await store.close();
  }
  const seconds = (performance.now() - started) / 1000;
  if (values.json) {
    io.stdout.write(JSON.stringify({ ...report, seconds }) + '\n');
    return report.ok ? 0 : 1;
  }
  if (report.ok) {
    const latest = report.latest
      ? `latest checkpoint covers ${report.latest.size} records (signed by ${report.latest.signedBy} at ${report.latest.time})`
      : 'no checkpoint yet';
    io.stdout.write(
      `audit log intact: ${report.records} records, ${report.checkpoints} checkpoints; ${latest}; ${seconds.toFixed(2)} s\n`,
    );
    if (report.unsignedTail > 0) {
      io.stdout.write(
        `note: ${report.unsignedTail} records after the latest checkpoint match their stored hashes but are not signed yet\n`,
      );
    }
    return 0;
  }
  const unverifiable = report.problems.every((p) => p.kind === 'checkpoint-unknown-signer');
  io.stdout.write(
    unverifiable
      ? `audit log NOT VERIFIED: ${report.problems.length} checkpoint(s) signed by keys this installation does not vouch for\n`
      : `audit log TAMPERED: ${report.problems.length} problem(s)\n`,
  );
  for (const p of report.problems) io.stdout.write(`  ${p.kind}: ${p.message}\n`);
  if (report.firstBadSeq !== undefined) io.stdout.write(`first bad sequence number: ${report.firstBadSeq}\n`);
  return 1;
}

/**
 * Checkpoints kept outside the database, from a path: a data directory (its witness file), a
 * checkpoint note, or an export (each line's checkpoint). `optional`: the data directory's own
 * witness, which a log that never checkpointed does not have yet.
 */
function readWitnesses(path: string, optional: boolean): { from: string; note: string }[] {
  let file = path;
  if (existsSync(path) && statSync(path).isDirectory()) {
    file =
      [witnessPath(path), witnessPath(join(path, '.rampart'))].find((f) => existsSync(f)) ??
      witnessPath(path);
    if (optional && !existsSync(file)) return [];
  }
  const text = readTextFile(file, 'RAMPART_E_USAGE', 'witness');
  if (!text.trimStart().startsWith('{')) return [{ from: file, note: text }];
  const notes = new Set<string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const cp = (JSON.parse(line) as { checkpoint?: unknown }).checkpoint;
      if (typeof cp === 'string') notes.add(cp);
    } catch {
      throw new RampartError('RAMPART_E_USAGE', `witness ${file}: a line is not JSON`);
    }
  }
  if (notes.size === 0) throw new RampartError('RAMPART_E_USAGE', `witness ${file} holds no checkpoint`);
  return [...notes].map((note) => ({ from: file, note }));
}

async function tail(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parse(
    argv,
    {
      ...COMMON_OPTIONS,
      n: { type: 'string', short: 'n' },
      follow: { type: 'boolean', short: 'f' },
      run: { type: 'string' },
      agent: { type: 'string' },
      action: { type: 'string' },
      outcome: { type: 'string' },
      since: { type: 'string' },
      format: { type: 'string', default: 'json' },
    },
    USAGE,
  );
  const n = values.n === undefined ? 20 : Number(values.n);
  if (!Number.isInteger(n) || n < 1 || n > 100000)
    throw usageError('-n must be a whole number from 1 to 100000', USAGE);
  if (values.format !== 'json' && values.format !== 'text')
    throw usageError('--format is json or text', USAGE);
  if (values.outcome !== undefined && !['success', 'denied', 'error'].includes(values.outcome))
    throw usageError('--outcome is success, denied or error', USAGE);
  let since: string | undefined;
  if (values.since !== undefined) {
    const age = parseDuration(values.since);
    const at = age !== undefined ? Date.now() - age : Date.parse(values.since);
    if (Number.isNaN(at))
      throw usageError(`--since "${values.since}" is neither a time nor an age like 10m`, USAGE);
    since = new Date(at).toISOString();
  }
  const match = matcher(values);
  const print = (r: AuditRecordRow): void => {
    io.stdout.write((values.format === 'text' ? recordLine(r) : r.entry) + '\n');
  };
  const config = localConfig(values, io.cwd);
  const store = await openExistingStore(config);
  try {
    const size = (await store.audit.head()).size;
    let next = size;
    if (since !== undefined) next = await firstAt(store.audit, size, since);
    else for (const r of await lastMatching(store.audit, size, n, match)) print(r);
    for (;;) {
      const rows = await store.audit.records(next, 1000);
      for (const r of rows) if (match(r)) print(r);
      if (rows.length > 0) next = rows[rows.length - 1]!.seq + 1;
      if (rows.length === 1000) continue;
      if (!values.follow) return 0;
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    await store.close();
  }
}

async function exportLog(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parse(
    argv,
    {
      ...COMMON_OPTIONS,
      format: { type: 'string', default: 'jsonl' },
      from: { type: 'string' },
      to: { type: 'string' },
      output: { type: 'string', short: 'o' },
      quiet: { type: 'boolean', short: 'q' },
    },
    USAGE,
  );
  if (values.format !== 'jsonl') throw usageError('--format jsonl is the only export format', USAGE);
  const config = localConfig(values, io.cwd);
  // Every record is exported: with a control plane running, it signs a checkpoint over all of
  // them first, so every line has its proof.
  if (findControlPlane(config.dataDir)) {
    const res = await connect(config.dataDir).call('POST', '/v1/audit/checkpoints');
    if (res.status !== 201) throw apiError(res.status, res.body);
  }
  const store = await openExistingStore(config);
  try {
    const cp = await store.audit.latestCheckpoint();
    const head = (await store.audit.head()).size;
    const size = cp?.size ?? 0;
    const from = values.from === undefined ? 0 : Number(values.from);
    const to = values.to === undefined ? head : Math.min(head, Number(values.to) + 1);
    if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || from > to)
      throw usageError('--from and --to must be record numbers, from <= to', USAGE);
    // Leaf hashes recomputed from the records themselves: a tampered record yields a proof that fails.
    const leaves = Buffer.allocUnsafe(size * HASH_SIZE);
    const entries = new Map<number, string>();
    // Only with -o FILE: on stdout the export itself is the output.
    const shown = progress(io, 'exporting', 'records', values.quiet === true || values.output === undefined);
    for (let at = 0; at < size;) {
      shown.update(at, size);
      const rows = await store.audit.records(at, 20000);
      if (rows.length === 0) break;
      for (const r of rows) {
        if (r.seq >= size) break;
        leafHash(r.entry).copy(leaves, r.seq * HASH_SIZE);
        if (r.seq >= from && r.seq < to) entries.set(r.seq, r.entry);
      }
      at = rows[rows.length - 1]!.seq + 1;
    }
    const tree = new MemoryTree(leaves);
    const out: NodeJS.WritableStream =
      values.output === undefined ? io.stdout : createWriteStream(values.output, { mode: 0o600 });
    for (let seq = from; seq < to; seq++) {
      const entry = entries.get(seq);
      if (entry === undefined || !cp) continue;
      const doc: ProofDocument = {
        seq,
        treeSize: size,
        leafHash: tree.node(0, seq).toString('hex'),
        proof: tree.inclusion(seq).map((p) => p.toString('hex')),
        checkpoint: cp.note,
        entry,
      };
      if (!out.write(JSON.stringify(doc) + '\n'))
        await new Promise<void>((r) => out.once('drain', () => r()));
    }
    // Records after the last checkpoint (no control plane to sign one): exported, marked
    // unsigned, without a proof, and said so; never dropped.
    let unsigned = 0;
    for (let at = Math.max(from, size); at < to;) {
      const rows = await store.audit.records(at, Math.min(20000, to - at));
      if (rows.length === 0) break;
      for (const r of rows) {
        const line = JSON.stringify({ seq: r.seq, unsigned: true, entry: r.entry }) + '\n';
        if (!out.write(line)) await new Promise<void>((res) => out.once('drain', () => res()));
        unsigned++;
      }
      at = rows[rows.length - 1]!.seq + 1;
    }
    shown.end();
    if (unsigned > 0)
      io.stderr.write(
        `rampart: ${unsigned} record(s) after the last checkpoint exported unsigned, without a proof (no control plane is running to sign one: start it, or run rampart audit checkpoint, and export again)\n`,
      );
    if (out !== io.stdout) await new Promise<void>((r) => out.end(() => r()));
    return 0;
  } finally {
    await store.close();
  }
}

async function checkpoint(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parse(argv, COMMON_OPTIONS, USAGE);
  const config = localConfig(values, io.cwd);
  const api = connect(config.dataDir);
  const res = await api.call('POST', '/v1/audit/checkpoints');
  if (res.status !== 201) throw apiError(res.status, res.body);
  io.stdout.write(res.text);
  return 0;
}

async function verifyProof(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { ...COMMON_OPTIONS, key: { type: 'string', multiple: true } },
    USAGE,
    true,
  );
  if (positionals.length !== 1) throw usageError('give exactly one proof file (use - for stdin)', USAGE);
  const text = positionals[0] === '-' ? readFileSync(0, 'utf8') : readFileSync(positionals[0]!, 'utf8');
  let verifiers: NoteVerifier[];
  if (values.key && values.key.length > 0) {
    verifiers = values.key.flatMap((f) =>
      readFileSync(f, 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map(parseVkey),
    );
  } else {
    const config = localConfig(values, io.cwd);
    verifiers = verifiersFor(config.dataDir, config.audit.trustedKeys, []);
  }
  if (extractReport(text)) {
    // An incident report (JSON, Markdown or HTML): its records, their proofs, and its text.
    try {
      const ok = checkReport(text, (note) => openCheckpoint(note, verifiers));
      io.stdout.write(
        `ok: the report's ${ok.records} record(s) are in the tree of size ${ok.treeSize} signed by ${ok.signedBy} at ${ok.time}, and its text is what they say\n`,
      );
      return 0;
    } catch (e) {
      if (!(e instanceof RampartError)) throw e;
      io.stdout.write(`FAILED: ${e.message}\n`);
      return 1;
    }
  }
  let failures = 0;
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  for (const line of lines) {
    let doc: ProofDocument;
    try {
      doc = JSON.parse(line) as ProofDocument;
    } catch {
      throw new RampartError(
        'RAMPART_E_BAD_REQUEST',
        'the proof file is not JSON (one proof document per line)',
      );
    }
    if ((doc as { unsigned?: unknown }).unsigned === true) {
      failures++;
      io.stdout.write(
        `FAILED: record ${String(doc.seq)} was exported unsigned (after the last checkpoint): it has no proof\n`,
      );
      continue;
    }
    try {
      const ok = checkProofDocument(doc, verifiers);
      io.stdout.write(
        `ok: record ${ok.seq} is in the tree of size ${ok.treeSize} signed by ${ok.signedBy} at ${ok.time}\n`,
      );
    } catch (e) {
      if (!(e instanceof RampartError)) throw e;
      failures++;
      io.stdout.write(`FAILED: ${e.message}\n`);
    }
  }
  io.stdout.write(
    failures === 0
      ? `${lines.length} proof(s) verified\n`
      : `${failures} of ${lines.length} proof(s) FAILED\n`,
  );
  return failures === 0 ? 0 : 1;
}
