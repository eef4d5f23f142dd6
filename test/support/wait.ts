// Waiting for something that happens soon but not at once (a group commit, a notification).

import type { ChildProcess } from 'node:child_process';

/** Calls `probe` until it returns something other than undefined, or fails after `ms`. */
export async function eventually<T>(
  probe: () => Promise<T | undefined>,
  what: string,
  ms = 5000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Waits until `cond` holds (checked at once, then every 10 ms), or fails after `ms` naming `what`. */
export async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Waits for child processes to exit (up to `ms`), then SIGKILLs those that have not. */
export async function exited(children: readonly ChildProcess[], ms = 10_000): Promise<void> {
  const running = children.filter((c) => c.exitCode === null && c.signalCode === null);
  const all = Promise.all(running.map((c) => new Promise((r) => c.once('exit', r))));
  const timer = new Promise((r) => setTimeout(r, ms).unref());
  await Promise.race([all, timer]);
  for (const c of running) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}
