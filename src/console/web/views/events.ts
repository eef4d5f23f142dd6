// Live events: the event stream, filtered by priority, rule, type, agent, run, time range and text.
// Built to keep up with 1,000 events a second: events arrive in batches, the view updates once per
// animation frame, filtering is incremental (each new event is tested once), and the list is
// virtualized (only the rows on screen exist). Pausing freezes the view, never the stream: what
// arrives meanwhile is kept and shown on resume; after a network break the stream resumes from the
// last record seen.

import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { Api } from '../api.js';
import { eventSummary, html, when } from '../html.js';
import { follow, type LiveEvent } from '../stream.js';

const ROW = 26;
/** Records replayed when the view opens, before live events. */
const HISTORY = 1000;
/** Events kept in this tab; older ones stay in the audit log. */
const KEEP = 100_000;
const RANK: Record<string, number> = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };

export interface Filter {
  severity: string;
  type: string;
  rule: string;
  agent: string;
  run: string;
  from: string;
  to: string;
  text: string;
}
const EMPTY: Filter = { severity: '', type: '', rule: '', agent: '', run: '', from: '', to: '', text: '' };

const agentOf = (e: LiveEvent): string =>
  e.subject?.agent ?? (typeof e.data.agent === 'string' ? e.data.agent : '');
const runOf = (e: LiveEvent): string => e.subject?.run ?? (typeof e.data.run === 'string' ? e.data.run : '');
const summary = (e: LiveEvent): string => eventSummary(e.data);

/** A filter as a predicate, compiled once per change (never per event per frame). */
export function compile(f: Filter): (e: LiveEvent) => boolean {
  const min = RANK[f.severity] ?? 0;
  const text = f.text.toLowerCase();
  const from = f.from ? Date.parse(f.from) : undefined;
  const to = f.to ? Date.parse(f.to) : undefined;
  return (e) =>
    (RANK[e.severity] ?? 0) >= min &&
    (!f.type || e.type.startsWith(f.type)) &&
    (!f.rule || e.data.rule === f.rule) &&
    (!f.agent || agentOf(e) === f.agent) &&
    (!f.run || runOf(e) === f.run) &&
    (from === undefined || Date.parse(e.time) >= from) &&
    (to === undefined || Date.parse(e.time) <= to) &&
    (!text || JSON.stringify(e).toLowerCase().includes(text));
}

export function Events({ api }: { api: Api }) {
  const all = useRef<LiveEvent[]>([]);
  const shown = useRef<LiveEvent[]>([]);
  const pending = useRef<LiveEvent[]>([]);
  const [filter, setFilter] = useState<Filter>(EMPTY);
  const match = useMemo(() => compile(filter), [filter]);
  const matchRef = useRef(match);
  const [paused, setPaused] = useState(false);
  const pausedRef = useRef(false);
  const [state, setState] = useState('connecting');
  const [, setFrame] = useState(0);
  const [scroll, setScroll] = useState(0);
  const [dropped, setDropped] = useState(0);
  const [selected, setSelected] = useState<LiveEvent | undefined>();
  const box = useRef<HTMLDivElement>(null);

  useEffect(() => {
    let raf = 0;
    const flush = () => {
      raf = 0;
      if (pausedRef.current) return;
      const batch = pending.current;
      pending.current = [];
      for (const e of batch) if (matchRef.current(e)) shown.current.push(e);
      if (shown.current.length > KEEP) shown.current.splice(0, shown.current.length - KEEP);
      setFrame((n) => n + 1);
    };
    // The newest records first (history), then live: the view is never empty on a quiet day.
    let h: { stop(): void } | undefined;
    let live = true;
    void api.get<{ size: number }>('/v1/audit/head').then(
      (head) => {
        if (!live) return;
        h = follow(
          { from: Math.max(0, head.size - HISTORY) },
          (batch) => {
            for (const e of batch) all.current.push(e);
            if (all.current.length > KEEP) {
              const over = all.current.length - KEEP;
              all.current.splice(0, over);
              setDropped((d) => d + over);
            }
            for (const e of batch) pending.current.push(e);
            if (!raf) raf = requestAnimationFrame(flush);
          },
          setState,
        );
      },
      (e: unknown) => setState(`unavailable (${e instanceof Error ? e.message : String(e)})`),
    );
    return () => {
      live = false;
      h?.stop();
      if (raf) cancelAnimationFrame(raf);
    };
  }, []);

  useEffect(() => {
    matchRef.current = match;
    shown.current = all.current.filter(match);
    pending.current = [];
    setFrame((n) => n + 1);
  }, [match]);

  const togglePause = () => {
    pausedRef.current = !pausedRef.current;
    setPaused(pausedRef.current);
    if (!pausedRef.current) {
      for (const e of pending.current) if (matchRef.current(e)) shown.current.push(e);
      pending.current = [];
      setFrame((n) => n + 1);
    }
  };
  const set = (k: keyof Filter) => (e: Event) =>
    setFilter({ ...filter, [k]: (e.target as HTMLInputElement).value });
  const rows = shown.current;
  const height = box.current?.clientHeight ?? 600;
  const first = Math.max(0, Math.floor(scroll / ROW) - 5);
  const count = Math.ceil(height / ROW) + 10;
  const slice: LiveEvent[] = [];
  for (let i = first; i < Math.min(rows.length, first + count); i++) slice.push(rows[rows.length - 1 - i]!);

  // One string: htm drops the whitespace at a template's line breaks.
  const status =
    `Stream ${state}; ${rows.length} shown of ${all.current.length} received` +
    (paused ? `; paused, ${pending.current.length} waiting` : '') +
    (dropped ? `; ${dropped} older events left this tab (the audit log keeps them)` : '') +
    '.';
  return html`<section aria-labelledby="h-events" class="events">
    <h1 id="h-events">Live events</h1>
    <form class="filters" onSubmit=${(e: Event) => e.preventDefault()} aria-label="Filters">
      <label
        >Priority at least
        <select value=${filter.severity} onChange=${set('severity')}>
          <option value="">any</option>
          ${Object.keys(RANK).map((s) => html`<option value=${s}>${s}</option>`)}
        </select></label
      >
      <label>Type <input value=${filter.type} onInput=${set('type')} placeholder="detect." /></label>
      <label>Rule <input value=${filter.rule} onInput=${set('rule')} /></label>
      <label>Agent <input value=${filter.agent} onInput=${set('agent')} /></label>
      <label>Run <input value=${filter.run} onInput=${set('run')} /></label>
      <label>From <input type="datetime-local" value=${filter.from} onInput=${set('from')} /></label>
      <label>To <input type="datetime-local" value=${filter.to} onInput=${set('to')} /></label>
      <label>Text <input type="search" value=${filter.text} onInput=${set('text')} /></label>
      <button type="button" onClick=${togglePause} aria-pressed=${paused}>
        ${paused ? 'Resume' : 'Pause'}
      </button>
      <button type="button" class="link" onClick=${() => setFilter(EMPTY)}>Clear filters</button>
    </form>
    <p class="status" aria-live="polite">${status}</p>
    <div
      class="list"
      ref=${box}
      onScroll=${(e: Event) => setScroll((e.target as HTMLElement).scrollTop)}
      tabindex="0"
      role="region"
      aria-label="Events, newest first"
    >
      <div
        class="spacer"
        data-rows=${rows.length}
        ref=${(el: HTMLElement | null) => el?.style.setProperty('height', `${rows.length * ROW}px`)}
      >
        ${slice.map(
          (e, i) =>
            html`<div
              class=${`row sev-${RANK[e.severity] === undefined ? 'other' : e.severity}`}
              key=${e.seq}
              ref=${(el: HTMLElement | null) => el?.style.setProperty('top', `${(first + i) * ROW}px`)}
              onClick=${() => setSelected(e)}
            >
              <span class="seq">${e.seq}</span><span class="time">${when(e.time)}</span
              ><span class="sev">${e.severity}</span> <span class="type">${e.type}</span
              ><span class="agent">${agentOf(e)}</span><span class="sum">${summary(e)}</span>
            </div>`,
        )}
      </div>
    </div>
    ${
      selected
        ? html`<aside class="detail" aria-label="Event detail">
            <h2>Record ${selected.seq}: ${selected.type}</h2>
            <button class="link" onClick=${() => setSelected(undefined)}>Close</button>
            <pre>${JSON.stringify(selected, null, 2)}</pre>
          </aside>`
        : null
    }
  </section>`;
}
