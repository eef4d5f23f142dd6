// What every command gets: output streams and the working directory, passed in (not read from
// globals) so commands run the same in tests as from a shell.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import {
  RampartError,
  formatLocation,
  isRampartError,
  messageOf,
  type RampartErrorList,
} from '../core/errors.js';

export interface Io {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly stdin: NodeJS.ReadableStream;
  readonly cwd: string;
}

export interface Command {
  readonly usage: string;
  run(argv: readonly string[], io: Io): Promise<number>;
  /**
   * Runs the command's pure hot paths once (no I/O, no side effects) while the build writes the
   * bundle's V8 code cache, so the cache holds the bytecode of what a real run executes instead of
   * leaving it to be compiled at every start (bin/rampart.cjs, scripts/bundle.mjs).
   */
  warm?(): void;
}

export const COMMON_OPTIONS = {
  config: { type: 'string', short: 'c' },
  data: { type: 'string', short: 'd' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

/** parseArgs with errors turned into usage errors that show the command's usage. */
export function parse<O extends NonNullable<ParseArgsConfig['options']>>(
  argv: readonly string[],
  options: O,
  usage: string,
  allowPositionals = false,
): ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: boolean; strict: true }>> {
  try {
    return parseArgs({ args: [...argv], options, allowPositionals, strict: true });
  } catch (e) {
    throw new RampartError('RAMPART_E_USAGE', messageOf(e).replace(/\. To specify a positional.*$/s, ''), {
      hint: usage,
    });
  }
}

/**
 * `rampart NAME SUB [options] [args]`, where every subcommand takes the same options: the
 * subcommand and what parse() gives for the rest, or undefined once the usage has been printed
 * (-h, or no subcommand with -h).
 */
export function parseSubcommand<O extends NonNullable<ParseArgsConfig['options']>>(
  argv: readonly string[],
  options: O,
  usage: string,
  io: Io,
): (ReturnType<typeof parse<O>> & { sub: string }) | undefined {
  const [sub, ...rest] = argv;
  const parsed = parse(rest, options, usage, true);
  if ((parsed.values as { help?: boolean }).help || sub === undefined) {
    if (sub === undefined && !(parsed.values as { help?: boolean }).help)
      throw usageError('missing subcommand', usage);
    io.stdout.write(usage + '\n');
    return undefined;
  }
  return { ...parsed, sub };
}

export function usageError(message: string, usage: string): RampartError {
  return new RampartError('RAMPART_E_USAGE', message, { hint: usage });
}

export function writeLine(stream: NodeJS.WritableStream, line: string): void {
  stream.write(line + '\n');
}

/** All of stdin, refused past `max` bytes (`what` names it in the error): a CLI's bounded input. */
export async function readStdin(stream: NodeJS.ReadableStream, max: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of stream) {
    const b = typeof c === 'string' ? Buffer.from(c) : c;
    size += b.length;
    if (size > max)
      throw new RampartError('RAMPART_E_USAGE', `stdin is larger than ${what} may be (${max} bytes)`);
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

/**
 * The problems of a set that does not load (policies, detection rules), printed like a compiler's
 * (file:line:col: error CODE: message) on stdout, with the count on stderr; returns exit code 1.
 * Anything but a RampartError is rethrown.
 */
export function printLoadProblems(io: Io, e: unknown, what: string): number {
  if (!isRampartError(e)) throw e;
  // A list of problems, or one (and the class may come from another bundle: no instanceof).
  const list = (e as Partial<RampartErrorList>).errors ?? [e];
  for (const p of list)
    io.stdout.write(`${p.location ? formatLocation(p.location) + ': ' : ''}error ${p.code}: ${p.message}\n`);
  io.stderr.write(`rampart: ${list.length} problem(s); the ${what} does not load\n`);
  return 1;
}
