// `rampart <command>`: a thin dispatcher. Each command's module is loaded only when it runs, so a
// quick command (run, check, redact) does not pay for the server's dependencies at start-up.

import { RampartError, isRampartError, messageOf } from '../core/errors.js';
import type { Command, Io } from './io.js';

interface Entry {
  readonly summary: string;
}

/** Command name -> summary. Each command lives in src/cli/commands/<name>.ts and exports `command`. */
export const COMMANDS: Readonly<Record<string, Entry>> = {
  up: { summary: 'Start the control plane' },
  proxy: { summary: 'Run the egress proxy on its own (callers present workload tokens)' },
  audit: { summary: 'Verify, read, export and prove the audit log' },
  events: { summary: 'Security events on record, and the live stream (--follow)' },
  policy: { summary: 'Check, test, evaluate and diff policy sets' },
  baseline: { summary: "Show or reset what detection has learned of an agent's runs" },
  rules: { summary: 'Check, test and evaluate detection rules; reload them in the control plane' },
  playbooks: { summary: 'Check response playbooks, list their actions; reload them in the control plane' },
  respond: { summary: 'Freeze, thaw, cut egress, block agents, sever external traffic, by hand' },
  incident: { summary: 'List, acknowledge, work and resolve incidents; timelines and verifiable reports' },
  drill: { summary: 'Attack this deployment as a compromised agent would, and measure the defence' },
  breakglass: { summary: 'Ask for, approve and use time-boxed elevated access, loudly' },
  redact: { summary: 'Copy stdin to stdout with every secret redacted' },
  scan: { summary: 'Find secrets in files, directories or a git range' },
  check: { summary: 'Check Compose, Swarm, Kubernetes and Docker specs against the hardening baseline' },
  harden: { summary: 'Apply the hardening baseline to a spec, keeping comments; list what is left' },
  token: { summary: 'Issue, verify and revoke workload tokens; rotate signing keys' },
  secret: { summary: 'Put, get, list, remove and rotate sealed secrets (values from files, never argv)' },
  lease: { summary: "List, renew and revoke leases on secrets delivered to agents' runs" },
  entity: { summary: 'Put, get, list and remove policy entities (agents, teams, namespaces, ...)' },
  egress: { summary: 'Egress proxy status, bans and the kill switch' },
  run: { summary: 'Run a command in a sandbox (namespaces, seccomp, cgroup limits, deadline)' },
  runs: { summary: 'List sandboxed runs' },
  kill: { summary: 'End a run' },
  quarantine: { summary: 'Freeze a run, capture evidence, then kill it' },
  destroy: { summary: 'The kill switch: end every run on the host (--all)' },
  completion: { summary: 'Print shell completion for bash, zsh or fish' },
  version: { summary: 'Print the version' },
};

type BundleLoader = (name: string) => { command: Command };

/**
 * Loads one command. Installed, each command is its own bundle (dist/cmd-<name>.cjs) with its own
 * code cache, loaded by bin/rampart.cjs: `rampart redact` does not parse the server. From the
 * compiled sources (tests), it is a plain dynamic import.
 */
export async function loadCommand(name: string): Promise<Command> {
  const fromBundle = (globalThis as { __rampartCommand?: BundleLoader }).__rampartCommand;
  if (fromBundle) return fromBundle(name).command;
  const path = './commands/' + name + '.js';
  return ((await import(path)) as { command: Command }).command;
}

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
  if (name === '--version') return run('version', [], io);
  if (!Object.hasOwn(COMMANDS, name)) {
    return report(io, new RampartError('RAMPART_E_USAGE', `unknown command "${name}"`, { hint: USAGE }));
  }
  return run(name, rest, io);
}

async function run(name: string, argv: readonly string[], io: Io): Promise<number> {
  try {
    const cmd = await loadCommand(name);
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
