// rampart drill: attack the running control plane's own deployment the way a compromised agent
// would, with runs of the drill's own agents, and report what held (src/drill/runner.ts).

import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { parseDuration } from '../../core/units.js';
import { runChaos } from '../../drill/chaos/run.js';
import { CHAOS } from '../../drill/chaos/scenarios.js';
import { chaosAsScenarios, chaosTextReport, textReport, junitReport } from '../../drill/report.js';
import { runDrill, type RunHandle } from '../../drill/runner.js';
import { SCENARIOS } from '../../drill/scenarios.js';
import { apiError, connect, findControlPlane } from '../client.js';
import { COMMON_OPTIONS, parse, usageError, type Command, type Io } from '../io.js';
import { localConfig } from '../local.js';

const USAGE = `usage: rampart drill [--scenario NAME]... [--repeat N] [--chaos] [--format text|json|junit]
                     [--wait DURATION] [--repo ORG/NAME] [--list]

  Attack this host's running control plane as a compromised agent would, and measure the
  defence: each scenario is a real run of the drill's own agent (drill:ID:NAME) doing the bad
  thing, judged by what the control plane recorded (blocked, detected, contained) and how fast.
  Safe beside production: a drill's playbook actions stay on its own runs and agent (no ban or
  sever for everyone), it pages nobody, its incidents are resolved as a drill's and kept out of
  the statistics, and it ends its runs and releases its agents. A scenario that does not hold is
  recorded (drill.scenario_failed) and opens an incident. Exit 1 when one did not hold.

  --scenario NAME   run this scenario (repeatable; default: all). --list shows them.
  --repeat N        repetitions of each scenario (default 1; 20 for the published figures)
  --format F        text (default), json, or junit (JUnit XML for CI)
  --wait DURATION   how long a run may take to show what is expected (default 20s)
  --repo ORG/NAME   a scratch repository the git gate serves, for the git scenarios (push to
                    main, force-push, workflow edit, dependency, secret): each push is refused,
                    so nothing reaches it. Without it those scenarios are not available.
  --chaos           the fault scenarios instead (--list --chaos shows them), each against a
                    throwaway deployment the drill makes and removes: its own PostgreSQL
                    cluster (initdb) in a network namespace, its own control plane, data on
                    size-capped tmpfs. Never the running control plane or the machine's
                    services. Needs root, PostgreSQL's server programs, iproute2 and faketime.

Common options: --config FILE, --data DIR.`;

export const command: Command = {
  usage: USAGE,
  async run(argv, io: Io) {
    const { values } = parse(
      argv,
      {
        ...COMMON_OPTIONS,
        scenario: { type: 'string', multiple: true },
        repeat: { type: 'string', default: '1' },
        format: { type: 'string', default: 'text' },
        wait: { type: 'string', default: '20s' },
        list: { type: 'boolean' },
        chaos: { type: 'boolean' },
        repo: { type: 'string' },
      },
      USAGE,
    );
    if (values.help) {
      io.stdout.write(USAGE + '\n');
      return 0;
    }
    if (values.list && values.chaos) {
      for (const s of CHAOS) io.stdout.write(`${s.name.padEnd(22)}${s.title}\n`);
      return 0;
    }
    if (values.list) {
      for (const s of SCENARIOS)
        io.stdout.write(
          `${s.name.padEnd(22)}${s.expect.join('+').padEnd(28)}${s.title}${s.unavailable ? ' (not available)' : ''}\n`,
        );
      return 0;
    }
    const format = values.format;
    if (format !== 'text' && format !== 'json' && format !== 'junit')
      throw usageError('--format is text, json or junit', USAGE);
    // This program's own launcher: bin/rampart.cjs beside the bundle (dist/) it runs from.
    const self = join(dirname(process.argv[1]!), '..', 'bin', 'rampart.cjs');
    if (values.chaos) {
      if (values.repeat !== '1' || values.repo !== undefined)
        throw usageError('--chaos takes neither --repeat nor --repo', USAGE);
      const chaosNames = values.scenario ?? CHAOS.map((s) => s.name);
      for (const n of chaosNames)
        if (!CHAOS.some((s) => s.name === n))
          throw usageError(`no chaos scenario ${n} (rampart drill --list --chaos shows them)`, USAGE);
      const local = localConfig(values, io.cwd);
      const report = await runChaos(
        self,
        chaosNames,
        (l) => {
          if (format === 'text') io.stderr.write(l + '\n');
        },
        findControlPlane(local.dataDir) ? connect(local.dataDir) : undefined,
        (dir) => connect(dir),
      ).catch((e: Error & { response?: { status: number; body: unknown } }) => {
        if (e.response) throw apiError(e.response.status, e.response.body);
        throw e;
      });
      if (format === 'json') io.stdout.write(JSON.stringify(report, null, 2) + '\n');
      else if (format === 'junit') io.stdout.write(junitReport(report.id, chaosAsScenarios(report.results)));
      else io.stdout.write(chaosTextReport(report.id, report.results));
      return report.results.some((r) => r.status === 'failed') ? 1 : 0;
    }
    const repeat = /^\d{1,4}$/.test(values.repeat) ? Number(values.repeat) : 0;
    if (repeat < 1 || repeat > 1000) throw usageError('--repeat takes a number from 1 to 1000', USAGE);
    const waitMs = parseDuration(values.wait);
    if (waitMs === undefined || waitMs < 1000)
      throw usageError('--wait takes a duration of 1s or more', USAGE);
    if (values.repo !== undefined && !/^[A-Za-z0-9_.-]{1,100}\/[A-Za-z0-9_.-]{1,100}$/.test(values.repo))
      throw usageError(`--repo takes ORG/NAME, not ${values.repo.slice(0, 100)}`, USAGE);
    const names = values.scenario ?? SCENARIOS.map((s) => s.name);
    for (const n of names)
      if (!SCENARIOS.some((s) => s.name === n))
        throw usageError(`no scenario ${n} (rampart drill --list shows them)`, USAGE);

    const config = localConfig(values, io.cwd);
    const found = findControlPlane(config.dataDir);
    const common = [
      ...(values.config ? ['--config', values.config] : []),
      ...(values.data ? ['--data', values.data] : []),
    ];
    const startRun = (agent: string, args: readonly string[], script: string): RunHandle => {
      const child = spawn(
        process.execPath,
        [self, 'run', ...common, '--agent', agent, ...args, '--', 'sh', '-c', script],
        { cwd: io.cwd, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
      let err = '';
      let out = '';
      const id = new Promise<string>((resolve, reject) => {
        child.stderr.setEncoding('utf8').on('data', (d: string) => {
          err += d;
          const m = /^rampart: run (\S+) \(agent /m.exec(err);
          if (m) resolve(m[1]!);
        });
        void exited.then(() => reject(new Error(`the run did not start: ${err.trim().slice(0, 500)}`)));
      });
      const waiters: (() => void)[] = [];
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        for (const w of waiters.splice(0)) w();
      });
      const line = (prefix: string): Promise<string> =>
        new Promise((resolve, reject) => {
          const look = (): void => {
            const m = new RegExp(`^${prefix}(?: (\\S+))?$`, 'm').exec(out);
            if (m) resolve(m[1] ?? '');
            else waiters.push(look);
          };
          void exited.then(() => reject(new Error(`the run ended before ${prefix}`)));
          look();
        });
      return { id, line, exited, kill: () => child.kill('SIGKILL') };
    };

    const report = await runDrill(
      {
        api: connect(config.dataDir),
        events: connect(config.dataDir),
        startRun,
        ...(found?.egress ? { egress: found.egress } : {}),
        workspaceOf: (run) => join(config.sandbox.workspacesDir, run),
        progress: (l) => {
          if (format === 'text') io.stderr.write(l + '\n');
        },
        waitMs,
        ...(values.repo !== undefined ? { repository: values.repo } : {}),
      },
      names,
      repeat,
    ).catch((e: Error & { response?: { status: number; body: unknown } }) => {
      if (e.response) throw apiError(e.response.status, e.response.body);
      throw e;
    });
    if (format === 'json') io.stdout.write(JSON.stringify(report, null, 2) + '\n');
    else if (format === 'junit') io.stdout.write(junitReport(report.id, report.results));
    else io.stdout.write(textReport(report.id, report.results, report.summary));
    return report.results.some((r) => r.status === 'failed') ? 1 : 0;
  },
};
