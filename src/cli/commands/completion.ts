// rampart completion bash|zsh|fish: a completion script built from the commands themselves (each
// command's usage text names its subcommands and options), so it cannot drift from the CLI.
//
//   source <(rampart completion bash)          # or put it in /etc/bash_completion.d/rampart
//   rampart completion zsh > "${fpath[1]}/_rampart"
//   rampart completion fish > ~/.config/fish/completions/rampart.fish

import { COMMANDS, loadCommand } from '../main.js';
import { usageError, type Command, type Io } from '../io.js';

const USAGE = `usage: rampart completion bash|zsh|fish

Prints a completion script for the shell: commands, their subcommands and options.
  bash:  source <(rampart completion bash)
  zsh:   rampart completion zsh > "\${fpath[1]}/_rampart"
  fish:  rampart completion fish > ~/.config/fish/completions/rampart.fish`;

export interface Words {
  readonly subcommands: string[];
  readonly options: string[];
}

/** Subcommands and options of a command, read off its usage text. */
export function wordsOf(usage: string): Words {
  const subcommands = new Set<string>();
  if (/<subcommand>/.test(usage))
    for (const m of usage.matchAll(/^ {2}([a-z][a-z-]*)(?= |$)/gm)) subcommands.add(m[1]!);
  const options = new Set<string>(['--help', '--config', '--data']);
  for (const m of usage.matchAll(/(?<![\w-])(--[a-z][a-z-]*)/g)) options.add(m[1]!);
  return { subcommands: [...subcommands].sort(), options: [...options].sort() };
}

function bash(table: Record<string, Words>): string {
  const cases = Object.entries(table)
    .map(([c, w]) => `    ${c}) words="${[...w.subcommands, ...w.options].join(' ')}" ;;`)
    .join('\n');
  return `# rampart completion for bash (rampart completion bash)
_rampart() {
  local cur words
  cur="\${COMP_WORDS[COMP_CWORD]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W "${Object.keys(table).join(' ')}" -- "$cur") )
    return
  fi
  case "\${COMP_WORDS[1]}" in
${cases}
    *) words="" ;;
  esac
  COMPREPLY=( $(compgen -W "$words" -- "$cur") )
}
complete -o default -F _rampart rampart
`;
}

function zsh(table: Record<string, Words>): string {
  return `#compdef rampart
# rampart completion for zsh (rampart completion zsh): bash's, through bashcompinit.
autoload -U +X bashcompinit && bashcompinit
${bash(table)}`;
}

function fish(table: Record<string, Words>): string {
  const lines = [
    '# rampart completion for fish (rampart completion fish)',
    'complete -c rampart -f',
    ...Object.entries(COMMANDS).map(
      ([c, e]) => `complete -c rampart -n __fish_use_subcommand -a ${c} -d ${JSON.stringify(e.summary)}`,
    ),
  ];
  for (const [c, w] of Object.entries(table)) {
    if (w.subcommands.length > 0)
      lines.push(`complete -c rampart -n "__fish_seen_subcommand_from ${c}" -a "${w.subcommands.join(' ')}"`);
    for (const o of w.options)
      lines.push(`complete -c rampart -n "__fish_seen_subcommand_from ${c}" -l ${o.slice(2)}`);
  }
  return lines.join('\n') + '\n';
}

export const command: Command = {
  usage: USAGE,
  async run(argv, io: Io) {
    const shell = argv[0];
    if (argv.length !== 1 || (shell !== 'bash' && shell !== 'zsh' && shell !== 'fish'))
      throw usageError('give one shell: bash, zsh or fish', USAGE);
    const table: Record<string, Words> = {};
    for (const name of Object.keys(COMMANDS)) table[name] = wordsOf((await loadCommand(name)).usage);
    io.stdout.write(shell === 'bash' ? bash(table) : shell === 'zsh' ? zsh(table) : fish(table));
    return 0;
  },
};
