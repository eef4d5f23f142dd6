// `rampart <command>`: a thin dispatcher. Each command's module is loaded only when it runs, so a
// quick command (run, check, redact) does not pay for the server's dependencies at start-up.

import { RampartError, isRampartError, messageOf } from '../core/errors.js';
import type { Command, Io } from './io.js';

interface Entry {
  readonly summary: string;
  readonly load: () => Promise<Command>;
}

const COMMANDS: Readonly<Record<string, Entry>> = {
  up: { summary: 'Start the control plane', load: async () => (await import('./commands/up.js')).command },
  audit: {
    summary: 'Verify, read, export and prove the audit log',
    load: async () => (await import('./commands/audit.js')).command,
  },
  version: {
    summary: 'Print the version',
    load: async () => (await import('./commands/version.js')).command,
  },
};

export const USAGE = `usage: rampart <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, e]) => `  ${name.padEnd(12)}${e.summary}`)
  .join('\n')}

Run 'rampart <command> --help' for a command's options.`;

export async function main(argv: readonly string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(USAGE + '\n');
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') return run(COMMANDS['version']!, [], io);
  if (name === '__warm') {
    // Build step: load every command module so the code cache covers them (see bin/rampart.cjs).
    await Promise.all(Object.values(COMMANDS).map((e) => e.load()));
    return 0;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    return report(io, new RampartError('RAMPART_E_USAGE', `unknown command "${name}"`, { hint: USAGE }));
  }
  return run(entry, rest, io);
}

async function run(entry: Entry, argv: readonly string[], io: Io): Promise<number> {
  try {
    const cmd = await entry.load();
    if (argv.includes('--help') || argv.includes('-h')) {
      io.stdout.write(cmd.usage + '\n');
      return 0;
    }
    return await cmd.run(argv, io);
  } catch (e) {
    return report(io, e);
  }
}

/** Prints an error as one line (plus a hint), never a stack trace unless RAMPART_DEBUG is set. */
export function report(io: Io, e: unknown): number {
  if (isRampartError(e)) {
    io.stderr.write(`rampart: ${e.describe().split('\n').join('\nrampart: ')}\n`);
    if (e.hint) io.stderr.write(`${e.hint}\n`);
    return e.exitCode;
  }
  io.stderr.write(`rampart: RAMPART_E_INTERNAL: ${messageOf(e)}\n`);
  if (process.env['RAMPART_DEBUG'] && e instanceof Error && e.stack) io.stderr.write(e.stack + '\n');
  return 1;
}
