// Audit: the log's state and latest checkpoint, a search over its newest records, and any record's
// inclusion proof and its checkpoint's signature verified in this browser with the pinned key.

import { useEffect, useState } from 'preact/hooks';
import type { Api, AuditRecord } from '../api.js';
import { describe, Failure, useLoad } from '../hooks.js';
import { badge, html, thead, when } from '../html.js';
import { entryOf, openCheckpoint, verifyRecord, type PinnedKey } from '../verify.js';
import { pin, pinned, unpin } from './pin.js';

interface Proof {
  seq: number;
  treeSize: number;
  proof: string[];
  checkpoint: string;
}

function PinForm({ onPinned }: { onPinned: (k: PinnedKey | undefined) => void }) {
  const [error, setError] = useState<string | undefined>();
  return html`<form
    class="pin"
    onSubmit=${(e: Event) => {
      e.preventDefault();
      const v = ((e.target as HTMLFormElement).elements.namedItem('vkey') as HTMLInputElement).value;
      pin(v).then(onPinned, (err: unknown) => setError(describe(err)));
    }}
  >
    <label for="vkey">Audit verifier key (copy it from the host: DATA/keys/audit-ed25519.vkey)</label>
    <input id="vkey" name="vkey" required autocomplete="off" spellcheck="false" />
    <button type="submit">Pin in this browser</button>
    ${error ? html`<p class="error" role="alert">${error}</p>` : null}
  </form>`;
}

export function Audit({ api }: { api: Api }) {
  const head = useLoad(
    () => api.get<{ size: number; stats?: Record<string, unknown> }>('/v1/audit/head'),
    [],
    5000,
  );
  const health = useLoad(
    () => api.get<{ components: Record<string, { status: string; detail?: string }> }>('/v1/health'),
    [],
    10000,
  );
  const checkpoint = useLoad(
    async () => (await fetch('/v1/audit/checkpoints/latest', { credentials: 'same-origin' })).text(),
    [],
    30000,
  );
  const [key, setKey] = useState<PinnedKey | undefined | null>(null);
  const [query, setQuery] = useState('');
  const [records, setRecords] = useState<AuditRecord[]>([]);
  const [searchError, setSearchError] = useState<string | undefined>();
  const [verified, setVerified] = useState<Record<number, string>>({});
  useEffect(() => void pinned().then(setKey, () => setKey(undefined)), []);
  const [cpCheck, setCpCheck] = useState<string | undefined>();
  useEffect(() => {
    if (!key || !checkpoint.data) return setCpCheck(undefined);
    openCheckpoint(checkpoint.data, key).then(
      (cp) => setCpCheck(`verified here: ${cp.size} records, signed by the pinned key ${key.name}`),
      (e: unknown) => setCpCheck(`NOT VERIFIED: ${describe(e)}`),
    );
  }, [key, checkpoint.data]);
  // Empty: the newest records. Text: the database searches the whole log, newest first
  // (literal and case-sensitive, as stored).
  const find = (text: string) =>
    (text
      ? api.get<{ records: AuditRecord[] }>(`/v1/audit/search?limit=200&q=${encodeURIComponent(text)}`)
      : api
          .get<{ records: AuditRecord[] }>('/v1/audit/records?limit=200')
          .then((r) => ({ records: [...r.records].reverse() }))
    ).then(
      (r) => {
        setRecords(r.records);
        setSearchError(undefined);
      },
      (err: unknown) => setSearchError(describe(err)),
    );
  useEffect(() => void find(''), []);
  const search = (e: Event) => {
    e.preventDefault();
    void find(query);
  };
  const verify = async (r: AuditRecord) => {
    if (!key) throw new Error('pin the verifier key first');
    const proof = await api.get<Proof>(`/v1/audit/proofs/inclusion?seq=${r.seq}`);
    const v = await verifyRecord(key, r.seq, entryOf(r), proof);
    return `verified: in the log of ${v.checkpoint.size} records signed ${when(v.checkpoint.time)} by ${key.name}`;
  };
  const audit = health.data?.components.audit;
  return html`<section aria-labelledby="h-audit">
    <h1 id="h-audit">Audit</h1>
    <${Failure} error=${head.error} />
    <dl class="facts">
      <dt>Records</dt>
      <dd>${head.data?.size ?? '—'}</dd>
      <dt>Log health</dt>
      <dd>${audit ? html`${badge(audit.status)} ${audit.detail ?? ''}` : '—'}</dd>
    </dl>
    <h2>Latest checkpoint</h2>
    <pre class="note">${checkpoint.data ?? ''}</pre>
    ${cpCheck ? html`<p role="status" class=${cpCheck.startsWith('NOT') ? 'error' : 'ok'}>Checkpoint ${cpCheck}</p>` : null}
    <h2>Verifier key pinned in this browser</h2>
    ${
      key === null
        ? null
        : key
          ? html`<p>
              ${key.name}, fingerprint <code>${key.fingerprint.slice(0, 32)}</code>
              <button
                class="link"
                onClick=${() => {
                  unpin();
                  setKey(undefined);
                }}
              >
                Unpin
              </button>
            </p>`
          : html`<${PinForm} onPinned=${setKey} />`
    }
    <p class="hint">
      What this proves: that the records you verify are in the log whose checkpoint the pinned key signed, as
      the bytes shown. It does not prove that this page's code is honest: the same server serves it
      (docs/console.md).
    </p>
    <h2>Search records</h2>
    <form class="search" onSubmit=${search} role="search">
      <label for="q">Text anywhere in the log (exact, case-sensitive)</label>
      <input
        id="q"
        type="search"
        value=${query}
        onInput=${(e: Event) => setQuery((e.target as HTMLInputElement).value)}
      />
      <button type="submit">Search</button>
    </form>
    <${Failure} error=${searchError} />
    <table>
      ${thead('#', 'Time', 'Actor', 'Action', 'Target', 'Outcome', 'Proof')}
      <tbody>
        ${records.map(
          (r) =>
            html`<tr>
              <th scope="row">${r.seq}</th>
              <td>${when(r.time)}</td>
              <td>${r.actor}</td>
              <td>${r.action}</td>
              <td>${r.target}</td>
              <td>${badge(r.outcome)}</td>
              <td>
                ${
                  verified[r.seq]
                    ? html`<span
                        role="status"
                        class=${verified[r.seq]!.startsWith('verified') ? 'ok' : 'error'}
                        >${verified[r.seq]}</span
                      >`
                    : html`<button
                        disabled=${!key}
                        onClick=${() =>
                          verify(r).then(
                            (m) => setVerified((v) => ({ ...v, [r.seq]: m })),
                            (e: unknown) =>
                              setVerified((v) => ({ ...v, [r.seq]: `NOT VERIFIED: ${describe(e)}` })),
                          )}
                      >
                        Verify
                      </button>`
                }
              </td>
            </tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}
