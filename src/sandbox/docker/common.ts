// What a run on the Docker and Swarm runtimes share once its container exists: its output,
// attached through the Engine (no log is kept), and its result, read from the exit status the
// Engine reports.

import { PassThrough, type Writable } from 'node:stream';
import type { CgroupStats } from '../cgroup.js';
import { signalName, type EndReason, type RunResult, type RunSpec } from '../runner.js';
import type { Engine } from './engine.js';

export interface AttachedOutput {
  /** Settles when the container's output ends. */
  readonly ended: Promise<void>;
  /** The run's output when it was not given writables nor the terminal: read by the caller. */
  readonly stdout?: PassThrough;
  readonly stderr?: PassThrough;
}

/**
 * Attaches to the container's stdout and stderr: to the writables given, to this process's own
 * (stdio inherit), or to pipes the caller reads; given writables and pipes end with the output.
 */
export async function attachOutput(
  engine: Engine,
  container: string,
  spec: RunSpec,
  output: Promise<{ stdout: Writable; stderr: Writable }> | undefined,
): Promise<AttachedOutput> {
  const given = await output;
  const out = given?.stdout ?? (spec.stdio === 'inherit' ? process.stdout : new PassThrough());
  const err = given?.stderr ?? (spec.stdio === 'inherit' ? process.stderr : new PassThrough());
  const { ended } = await engine.attach(container, out, err);
  if (out !== process.stdout && err !== process.stderr) void ended.then(() => (out.end(), err.end()));
  return out instanceof PassThrough && err instanceof PassThrough && !given
    ? { ended, stdout: out, stderr: err }
    : { ended };
}

/** The run's result from the container's exit status: a command killed by signal N exits 128+N. */
export function exitResult(
  id: string,
  code: number | null,
  reason: EndReason,
  durationMs: number,
  stats: CgroupStats,
): RunResult {
  const bySignal = code !== null && code > 128 && code < 160;
  return {
    id,
    exitCode: bySignal ? null : code,
    signal: bySignal ? signalName(code - 128) : null,
    reason,
    durationMs,
    stats,
  };
}
