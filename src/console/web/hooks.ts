// Data loading for views: load, reload on an interval, and show errors as what they are.

import { useEffect, useState, useCallback } from 'preact/hooks';
import { ApiError } from './api.js';
import { html } from './html.js';

export interface Loaded<T> {
  readonly data: T | undefined;
  readonly error: string | undefined;
  reload(): void;
}

export function useLoad<T>(load: () => Promise<T>, deps: unknown[], everyMs = 0): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  useEffect(() => {
    let live = true;
    load().then(
      (d) => {
        if (!live) return;
        setData(d);
        setError(undefined);
      },
      (e: unknown) => live && setError(describe(e)),
    );
    const timer = everyMs > 0 ? setInterval(reload, everyMs) : undefined;
    return () => {
      live = false;
      if (timer) clearInterval(timer);
    };
  }, [...deps, tick]);
  return { data, error, reload };
}

export const describe = (e: unknown): string =>
  e instanceof ApiError ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e);

export const Failure = ({ error }: { error: string | undefined }) =>
  error ? html`<p class="error" role="alert">${error}</p>` : null;
