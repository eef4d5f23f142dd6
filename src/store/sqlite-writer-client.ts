// The main thread's side of the SQLite writer thread (sqlite-writer.ts): requests out, replies
// matched by id. The thread starts on the first write and is restarted after it dies; a request in
// flight when it dies is rejected, never silently dropped.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { PreparedEntry } from './types.js';

export type WriterRequest =
  | { readonly id: number; readonly kind: 'append'; readonly entries: readonly PreparedEntry[] }
  | { readonly id: number; readonly kind: 'meta-set'; readonly key: string; readonly value: string }
  | { readonly id: number; readonly kind: 'meta-delete'; readonly key: string }
  | {
      readonly id: number;
      readonly kind: 'checkpoint';
      /** The newest checkpoint's id the note was built on (0: none); another since: not added. */
      readonly after: number;
      readonly size: number;
      readonly note: string;
    };

/** What an append commits: the first new record's number and the tree's new head. */
export interface Appended {
  readonly first: number;
  readonly size: number;
  readonly frontier: readonly Uint8Array[];
}

export interface WriterReply {
  readonly id: number;
  /** An append's result; meta-delete: whether it was there; checkpoint: its id, or false. */
  readonly ok?: Appended | boolean | number;
  readonly error?: string;
}

type Body<K extends WriterRequest['kind']> = Omit<Extract<WriterRequest, { kind: K }>, 'id'>;

/** Where the writer thread's code is: next to this module (compiled) or in dist/ (bundled CLI). */
function writerScript(): string {
  const dir = dirname(fileURLToPath(import.meta.url));
  for (const name of ['sqlite-writer.js', 'sqlite-writer.cjs']) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  throw new Error(`the SQLite writer (sqlite-writer.js) is missing next to ${dir}`);
}

export class SqliteWriter {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private closed = false;

  constructor(private readonly file: string) {}

  append(entries: readonly PreparedEntry[]): Promise<Appended> {
    return this.send({ kind: 'append', entries }) as Promise<Appended>;
  }

  setMeta(key: string, value: string): Promise<void> {
    return this.send({ kind: 'meta-set', key, value }).then(() => undefined);
  }

  deleteMeta(key: string): Promise<boolean> {
    return this.send({ kind: 'meta-delete', key }) as Promise<boolean>;
  }

  /** Adds a checkpoint unless another was added after `after`: its id, or undefined. */
  async checkpoint(after: number, size: number, note: string): Promise<number | undefined> {
    const r = (await this.send({ kind: 'checkpoint', after, size, note })) as number | false;
    return r === false ? undefined : r;
  }

  private send(
    body: Body<'append'> | Body<'meta-set'> | Body<'meta-delete'> | Body<'checkpoint'>,
  ): Promise<unknown> {
    if (this.closed) return Promise.reject(new Error('the SQLite store is closed'));
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.pending.set(id, { resolve, reject });
      this.start().postMessage({ ...body, id });
    });
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(writerScript(), { workerData: { file: this.file } });
    w.on('message', (m: WriterReply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.error === undefined) p.resolve(m.ok);
      else p.reject(new Error(m.error));
    });
    const fail = (e: Error): void => {
      this.worker = undefined;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => {
      if (this.pending.size > 0) fail(new Error(`SQLite writer thread exited (${code})`));
      this.worker = undefined;
    });
    this.worker = w;
    return w;
  }

  /** Waits for what is in flight, then ends the thread. */
  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    if (!w) return;
    while (this.pending.size > 0) await new Promise((r) => setImmediate(r));
    const exited = new Promise((r) => w.once('exit', r));
    w.postMessage('close');
    await exited;
    this.worker = undefined;
  }
}
