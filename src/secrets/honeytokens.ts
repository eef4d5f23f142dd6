// Honeytokens: decoy credentials planted in a run (an AWS key pair in ~/.aws/credentials, a
// GitHub token in ~/.git-credentials, a database URL in ~/.pgpass and ~/.env), each registered
// by its HMAC fingerprint (never its value). Nothing legitimate ever uses them, so any sight of
// one is a compromise: a request through the egress proxy carrying one (in its host or path), an
// audit record or a log line passing redaction. It is a critical event naming the run it was
// planted in (and the run that used it, when that is known).
//
// Scanning is cheap enough for every record: one regular expression finds the shapes decoys
// have (AKIA..., ghp_..., svc_...), and only those are fingerprinted and looked up in memory.

import { randomBytes } from 'node:crypto';
import { githubFormat } from '../core/checksum.js';
import type { EventPublisher } from '../core/events.js';
import type { HoneytokenKind } from '../core/settings.js';
import type { HoneytokenStore, StoredHoneytoken } from '../store/types.js';
import { randomAlnum } from './engines/postgres.js';

export interface HoneytokenDeps {
  readonly store: HoneytokenStore;
  readonly fingerprint: (value: string) => string;
  readonly bus: EventPublisher;
  readonly now: () => number;
}

/** A file planted in the run's home: its path under the home, and its content. */
export interface PlantedFile {
  readonly path: string;
  readonly content: string;
}

/** The shapes decoys take; anything else is not looked up. */
const CANDIDATES = /AKIA[A-Z2-7]{16}|ghp_[A-Za-z0-9]{36}|svc_[a-z0-9]{10}/g;
/** One event per decoy per minute: one attack seen at the proxy and in its record is one alarm. */
const QUIET_MS = 60_000;
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export class Honeytokens {
  readonly stats = { planted: 0, used: 0 };
  private readonly known = new Map<string, StoredHoneytoken>();
  private readonly lastAlarm = new Map<string, number>();
  private loadedFrom = 0;

  constructor(private readonly deps: HoneytokenDeps) {}

  /** Decoys for a run: registered first, then handed out as files for its home. */
  async plant(run: string, agent: string, kinds: readonly HoneytokenKind[]): Promise<PlantedFile[]> {
    const files: PlantedFile[] = [];
    const tokens: StoredHoneytoken[] = [];
    const at = this.deps.now();
    const register = (kind: HoneytokenKind, value: string): void => {
      tokens.push({ fingerprint: this.deps.fingerprint(value), kind, run, agent, createdAt: at });
    };
    for (const kind of new Set(kinds)) {
      if (kind === 'aws') {
        const id = `AKIA${[...randomBytes(16)].map((b) => BASE32[b % 32]).join('')}`;
        const secret = randomBytes(30).toString('base64').replace(/[+/]/g, 'x');
        register(kind, id);
        files.push({
          path: '.aws/credentials',
          content: `[default]\naws_access_key_id = ${id}\naws_secret_access_key = ${secret}\n`,
        });
      } else if (kind === 'github') {
        const token = githubFormat('ghp_', randomAlnum(30));
        register(kind, token);
        files.push({ path: '.git-credentials', content: `https://${agent}:${token}@github.com\n` });
      } else {
        const user = `svc_${randomAlnum(10).toLowerCase()}`;
        const password = randomAlnum(24);
        register(kind, user);
        files.push(
          { path: '.pgpass', content: `db-prod.internal:5432:app:${user}:${password}\n` },
          {
            path: '.env',
            content: `DATABASE_URL=postgresql://${user}:${password}@db-prod.internal:5432/app\n`,
          },
        );
      }
    }
    await this.deps.store.add(tokens);
    for (const t of tokens) this.known.set(t.fingerprint, t);
    this.stats.planted += tokens.length;
    return files;
  }

  /** Learns decoys other replicas planted (overlapping a minute: inserts commit out of order). */
  async refresh(): Promise<void> {
    const from = Math.max(0, this.loadedFrom - 60_000);
    const now = this.deps.now();
    for (const t of await this.deps.store.since(from)) this.known.set(t.fingerprint, t);
    this.loadedFrom = now;
  }

  /**
   * Looks for planted decoys in `text`; each one found raises secrets.honeytoken_used. `by`: the
   * run and agent that sent it, when known (a connection through the proxy). Never throws.
   */
  scan(text: string, where: string, by?: { agent: string; run: string }): number {
    if (this.known.size === 0) return 0;
    let hits = 0;
    for (const m of text.matchAll(CANDIDATES)) {
      const fp = this.deps.fingerprint(m[0]);
      const t = this.known.get(fp);
      if (!t) continue;
      hits++;
      const now = this.deps.now();
      if (now - (this.lastAlarm.get(fp) ?? -Infinity) < QUIET_MS) continue;
      this.lastAlarm.set(fp, now);
      this.stats.used++;
      void this.deps.bus
        .publish({
          type: 'secrets.honeytoken_used',
          severity: 'critical',
          source: 'secrets',
          subject: { agent: t.agent, run: t.run },
          data: {
            kind: t.kind,
            run: t.run,
            agent: t.agent,
            fingerprint: fp,
            where,
            ...(by ? { usedBy: by } : {}),
          },
        })
        .catch(() => undefined);
    }
    return hits;
  }
}
