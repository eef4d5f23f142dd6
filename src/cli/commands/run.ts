// rampart run [options] -- CMD ARGS...
//
// Runs one command in a sandbox on this host and exits with its exit code (128+N when a signal
// ended it). The run is registered with the control plane first, which records it in the audit
// log and issues its workload token; with no control plane there is no record, so no run.

import { agentPlaceholders, placeTrust } from '../../sandbox/trust.js';
import { parseSize, parseDuration } from '../../core/units.js';
import { RampartError, messageOf } from '../../core/errors.js';
import { readSecretFile } from '../../core/secretfile.js';
import { gitBindingProblem, type GitBinding } from '../../core/claims.js';
import { processIdentity } from '../../core/process.js';
import { resolve } from 'node:path';
import type { RedactStream } from '../../redact/stream.js';
import { severityRank } from '../../core/types.js';
import { SandboxService } from '../../sandbox/service.js';
import { validSecretName, type RunResult } from '../../sandbox/runner.js';
import { LeaseKeeper, type HeldLease } from '../../sandbox/leasekeeper.js';
import { FILES_ROOT, runFiles } from '../../sandbox/secretfiles.js';
import type { RefreshAnswer } from '../../core/leases.js';
import { apiError, connect, findControlPlane } from '../client.js';
import { COMMON_OPTIONS, parse, usageError, type Command } from '../io.js';
import { loadConfig, parseConfig } from '../../config/load.js';
import { userInfo } from 'node:os';

const USAGE = `usage: rampart run [options] -- CMD [ARGS...]

Run CMD in a sandbox: new namespaces, read-only system directories, no network, a seccomp
filter, no capabilities, cgroup limits and a deadline. Exits with CMD's exit code.

  --runtime NAME       bwrap (a bubblewrap sandbox here), docker (a container the Docker Engine
                       creates with the same baseline) or swarm (a one-replica Swarm service on
                       this node). Default: sandbox.runtime (bwrap).
  --image IMAGE        The container image (docker and swarm runtimes): approved by digest in
                       sandbox.docker.images.
  --agent ID           The agent this run is for (default: the invoking user's name).
  --profile NAME       Sandbox profile (default, strict, vm-runner, or one from the config).
  --workspace DIR      Directory bound read-write at /workspace (handed to the sandbox user).
                       Default: a fresh one under the data directory.
  --secret NAME=FILE   A secret file (mode 0600 or 0400) placed at /run/secrets/NAME, mode 0400.
  --secret NAME=vault:VAULT/SECRET
                       The same from the secrets broker, read for the run's agent as policy
                       decides (secret.read); a denial fails the run.
  --cap NAME           A capability for the run's workload token (/run/rampart/token).
  --honeytoken KIND    Plant a decoy credential in the run's home besides the profile's: aws,
                       github or database (bwrap runtime; docs/secrets.md).
  --repo ORG/NAME      The one repository the run works on: its git reaches it through
                       Rampart's git gate (http://git.rampart.internal/ORG/NAME.git, and
                       https://github.com/ORG/NAME.git leads there), which checks every push.
  --task ID            The task the run works on (with --repo): the branches it may push and
                       what its commit messages name.
  --task-path GLOB     A path the task may change (repeatable); a push touching any other fails.
  --memory SIZE        Tighten the profile's memory limit (e.g. 512m).
  --pids N             Tighten the profile's process limit.
  --cpus N             Tighten the profile's CPU limit.
  --timeout DURATION   Tighten the profile's maximum runtime (e.g. 10m).
  --no-token           Do not issue a workload token for this run.
  --no-network         No egress channel: the run has no network at all. (Without an egress
                       proxy in the control plane, runs never have one.)

Common options: --config FILE, --data DIR.`;

const SIGNAL_NUMBERS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGKILL: 9,
  SIGTERM: 15,
  SIGSEGV: 11,
  SIGABRT: 6,
  SIGPIPE: 13,
  SIGSYS: 31,
};

/** A configuration like an operator's, for warm(). */
const WARM_CONFIG = `sandbox:
  workspaces_dir: /var/lib/rampart/workspaces
  profiles:
    ci:
      memory: 2g
      pids: 512
      timeout: 1h
egress:
  mode: enforce
logging:
  level: warn
`;

/**
 * The run's stdout and stderr through redaction to this process's own: a secret a run prints is
 * replaced before it reaches the terminal or a log collecting it. `flushed` settles once both
 * have written everything.
 */
/** How much of a container run's output its record keeps (the end, redacted). */
const OUTPUT_TAIL = 16_384;

async function redactedOutput(): Promise<{
  stdout: RedactStream;
  stderr: RedactStream;
  flushed: Promise<void>;
  /** The last OUTPUT_TAIL bytes of both, redacted, as they were written (kept with the record). */
  tail(): string;
}> {
  // Loaded only for a container run: a bwrap run's start does not pay for the redaction engine.
  const [{ Redactor }, { RedactStream }] = await Promise.all([
    import('../../redact/engine.js'),
    import('../../redact/stream.js'),
  ]);
  const redactor = new Redactor();
  let tail = Buffer.alloc(0);
  const pair = (to: NodeJS.WritableStream): { from: RedactStream; done: Promise<void> } => {
    const from = new RedactStream(redactor);
    const done = new Promise<void>((resolve) => from.on('end', resolve));
    from.on('data', (c: Buffer) => {
      tail = Buffer.concat([tail, c]);
      if (tail.length > OUTPUT_TAIL) tail = tail.subarray(tail.length - OUTPUT_TAIL);
    });
    from.pipe(to, { end: false });
    return { from, done };
  };
  const out = pair(process.stdout);
  const err = pair(process.stderr);
  return {
    stdout: out.from,
    stderr: err.from,
    flushed: Promise.all([out.done, err.done]).then(() => undefined),
    tail: () => tail.toString('utf8'),
  };
}

export const command: Command = {
  usage: USAGE,
  warm() {
    parseConfig(WARM_CONFIG, 'rampart.yaml', { baseDir: '/' });
  },
  async run(argv, io) {
    const dash = argv.indexOf('--');
    const own = dash === -1 ? argv : argv.slice(0, dash);
    const cmd = dash === -1 ? [] : argv.slice(dash + 1);
    const { values } = parse(
      own,
      {
        ...COMMON_OPTIONS,
        runtime: { type: 'string' },
        image: { type: 'string' },
        agent: { type: 'string' },
        profile: { type: 'string' },
        workspace: { type: 'string' },
        secret: { type: 'string', multiple: true },
        cap: { type: 'string', multiple: true },
        honeytoken: { type: 'string', multiple: true },
        repo: { type: 'string' },
        task: { type: 'string' },
        'task-path': { type: 'string', multiple: true },
        memory: { type: 'string' },
        pids: { type: 'string' },
        cpus: { type: 'string' },
        timeout: { type: 'string' },
        'no-token': { type: 'boolean' },
        'no-network': { type: 'boolean' },
      },
      USAGE,
    );
    if (values.help) {
      io.stdout.write(USAGE + '\n');
      return 0;
    }
    if (cmd.length === 0) throw usageError('give the command after --', USAGE);
    const config = loadConfig({ file: values.config, dataDir: values.data, cwd: io.cwd });
    const num = (
      flag: string,
      v: string | undefined,
      parse: (s: string) => number | undefined,
    ): number | undefined => {
      if (v === undefined) return undefined;
      const n = parse(v);
      if (n === undefined || !(n > 0)) throw usageError(`--${flag} "${v}" is not valid`, USAGE);
      return n;
    };
    const secrets = new Map<string, Buffer>();
    // Where each came from, for the run's record: a file, or a vault (read once the run has an id).
    const sources: { name: string; source: string; fingerprint?: string }[] = [];
    const fromVaults: { name: string; vault: string; secret: string }[] = [];
    for (const s of values.secret ?? []) {
      const eq = s.indexOf('=');
      const name = s.slice(0, eq);
      if (eq <= 0 || !validSecretName(name))
        throw usageError(`--secret "${s}" is not NAME=FILE or NAME=vault:VAULT/SECRET`, USAGE);
      if (sources.some((x) => x.name === name)) throw usageError(`--secret ${name} given twice`, USAGE);
      const value = s.slice(eq + 1);
      const vault = /^vault:([^/\s]+)\/([^/\s]+)$/.exec(value);
      if (value.startsWith('vault:') && !vault)
        throw usageError(`--secret ${name}: a vault reference is vault:VAULT/SECRET, not "${value}"`, USAGE);
      if (vault) {
        fromVaults.push({ name, vault: vault[1]!, secret: vault[2]! });
        sources.push({ name, source: value });
      } else {
        secrets.set(name, readSecretFile(resolve(io.cwd, value), { purpose: `--secret ${name}` }));
        sources.push({ name, source: 'file' });
      }
    }

    const git = gitBinding(values.repo, values.task, values['task-path']);
    for (const k of values.honeytoken ?? [])
      if (k !== 'aws' && k !== 'github' && k !== 'database')
        throw usageError(`--honeytoken is aws, github or database, not ${k}`, USAGE);
    const runtime = values.runtime ?? config.sandbox.runtime;
    if (runtime !== 'bwrap' && runtime !== 'docker' && runtime !== 'swarm')
      throw usageError(`--runtime must be bwrap, docker or swarm, not "${runtime}"`, USAGE);
    if (runtime !== 'bwrap' && values.image === undefined)
      throw usageError(
        `--runtime ${runtime} needs --image (approved by digest in sandbox.docker.images)`,
        USAGE,
      );
    if (runtime === 'bwrap' && values.image !== undefined)
      throw usageError('--image is for --runtime docker or swarm', USAGE);

    const sandbox = SandboxService.create(config.sandbox);
    if (sandbox.problem)
      throw new RampartError(
        'RAMPART_E_SANDBOX_UNAVAILABLE',
        `sandboxes cannot run here: ${sandbox.problem}`,
      );
    const profile = values.profile ?? 'default';
    // Approved before anything is prepared: an image off the list starts nothing.
    const image = runtime !== 'bwrap' ? await sandbox.approveImage(values.image!) : undefined;
    const runner = processIdentity(process.pid)!;
    let spec = sandbox.prepare({
      runner,
      agent: values.agent ?? userInfo().username,
      profile,
      command: cmd,
      workspace: values.workspace === undefined ? undefined : resolve(io.cwd, values.workspace),
      memoryBytes: num('memory', values.memory, parseSize),
      pids: num('pids', values.pids, (s) => (/^\d+$/.test(s) ? Number(s) : undefined)),
      cpus: num('cpus', values.cpus, (s) => (/^\d+(\.\d+)?$/.test(s) ? Number(s) : undefined)),
      timeoutMs: num('timeout', values.timeout, parseDuration),
      secrets,
      stdio: 'inherit',
    });

    if (git) spec = { ...spec, git };

    const api = connect(config.dataDir);
    // Secrets by reference: delivered for the run's agent under a lease each, which policy decides
    // (secret.read) before anything runs; a denial ends here with the policy's reason.
    const held: HeldLease[] = [];
    // Leases taken for a run that then never starts end now, not at their expiry.
    const dropLeases = async (): Promise<void> => {
      if (held.length > 0)
        await api
          .call('POST', '/v1/leases/revoke', { run: spec.id, reason: 'the run did not start' })
          .catch(() => undefined);
    };
    try {
      for (const ref of fromVaults) {
        const r = await api.call<{
          value_base64: string;
          version: number | null;
          fingerprint: string;
          lease: { id: string };
        }>('POST', `/v1/secrets/${encodeURIComponent(ref.vault)}/${encodeURIComponent(ref.secret)}/read`, {
          agent: spec.agent,
          run: spec.id,
        });
        if (r.status !== 200) throw apiError(r.status, r.body);
        secrets.set(ref.name, Buffer.from(r.body.value_base64, 'base64'));
        held.push({ id: r.body.lease.id, file: ref.name, version: r.body.version });
        const i = sources.findIndex((x) => x.name === ref.name);
        sources[i] = {
          ...sources[i]!,
          source: `${sources[i]!.source}${r.body.version === null ? '' : `@${r.body.version}`}`,
          fingerprint: r.body.fingerprint,
        };
      }
    } catch (e) {
      await dropLeases();
      sandbox.uids.release(spec.uid);
      throw e;
    }
    // Decoys the profile plants in the run's home (bwrap), registered before the run starts.
    const decoys = [
      ...new Set([...(config.sandbox.profiles[profile]?.honeytokens ?? []), ...(values.honeytoken ?? [])]),
    ];

    if (decoys.length > 0 && runtime !== 'bwrap')
      io.stderr.write(
        `rampart: honeytokens are planted on the bwrap runtime only; run ${spec.id} has none\n`,
      );
    else if (decoys.length > 0) {
      const r = await api.call<{ files: { path: string; content_base64: string }[] }>(
        'POST',
        '/v1/honeytokens',
        {
          run: spec.id,
          agent: spec.agent,
          kinds: decoys,
        },
      );
      if (r.status !== 200) {
        await dropLeases();
        sandbox.uids.release(spec.uid);
        throw apiError(r.status, r.body);
      }
      spec = {
        ...spec,
        homeFiles: new Map(r.body.files.map((f) => [f.path, Buffer.from(f.content_base64, 'base64')])),
      };
    }
    // The egress channel: a directory bound into the sandbox now, where the control plane puts
    // the proxy's socket for this run while it registers it (before the command may start).
    const network = !values['no-network'] && findControlPlane(config.dataDir)?.egress !== undefined;
    if (network) {
      const files = sandbox.egressFiles();
      if ('problem' in files)
        throw new RampartError('RAMPART_E_SANDBOX_UNAVAILABLE', files.problem, {
          hint: 'or run with --no-network',
        });
      const dir = sandbox.channelDir(spec.id);
      // The egress CA, when the control plane inspects hosts: trusted by the run with no flag.
      const trust = placeTrust(dir, config.dataDir);
      spec = { ...spec, egress: { dir, ...files, ...(trust ? { trust } : {}) } };
      // Agents whose provider key the proxy injects start with a placeholder instead.
      const placeholders = agentPlaceholders(
        config.egress.inject.flatMap((r) => (r.profile ? [r.profile] : [])),
      );
      spec = {
        ...spec,
        env: { ...placeholders.env, ...spec.env },
        ...(placeholders.files.size > 0
          ? { homeFiles: new Map([...placeholders.files, ...(spec.homeFiles ?? [])]) }
          : {}),
      };
    }
    const wantToken = !values['no-token'];
    // A container is planned in full and put through admission (the checks `rampart check` and
    // the Docker plugin apply) before anything exists; the verdict goes on the run's record.
    const seccompExtra = sandbox.profileSyscalls(profile);
    const plan =
      image && runtime === 'swarm'
        ? await sandbox.swarmPlan(spec, image, { seccompExtra, token: wantToken, bridge: bridgeFor(sandbox) })
        : image
          ? sandbox.dockerPlan(spec, image, { seccompExtra, token: wantToken })
          : undefined;
    // Loaded only for a container run: a bwrap run's start does not pay for the admission engine.
    const admission = plan
      ? await Promise.all([import('../../admission/container.js'), import('../../admission/engine.js')])
      : undefined;
    const verdict = admission
      ? admission[0].admitContainer(plan!.body, {
          profile: profile === 'vm-runner' ? 'vm-runner' : 'default',
          denyOn: config.admission.denyOn,
          ...(config.admission.policyFile
            ? { policy: admission[1].loadAdmissionPolicy(config.admission.policyFile) }
            : {}),
        })
      : undefined;
    if (verdict && !verdict.allowed) {
      await dropLeases();
      sandbox.uids.release(spec.uid);
      if (network) sandbox.removeChannelDir(spec.id);
      throw new RampartError(
        'RAMPART_E_RUN_INVALID',
        `admission refuses run ${spec.id}'s container: ${verdict.findings
          .filter((f) => severityRank(f.severity) >= severityRank(config.admission.denyOn))
          .map((f) => `${f.severity} ${f.check}: ${f.message}`)
          .join('; ')}`,
      );
    }
    // Registration and sandbox set-up overlap: bwrap builds the namespaces while the control plane
    // records the run, and the command starts only once the record is written (the gate). A
    // refused registration tears the half-built sandbox down: nothing runs off the record.
    const registration = api.send<{ id: string; token?: string }>('POST', '/v1/runs', {
      id: spec.id,
      agent: spec.agent,
      profile,
      workspace: spec.workspace,
      command: cmd.join(' ').slice(0, 8192),
      limits: {
        memory: spec.limits.memory,
        pids: spec.limits.pids,
        cpus: spec.limits.cpus,
        timeout_ms: spec.timeoutMs,
      },
      token: wantToken,
      network,
      runtime,
      ...(image ? { image } : {}),
      ...(verdict
        ? { admission: verdict.findings.map((f) => ({ check: f.check, severity: f.severity })) }
        : {}),
      ...(values.cap ? { capabilities: values.cap } : {}),
      ...(git ? { git } : {}),
      ...(sources.length > 0 ? { secrets: sources } : {}),
      // The run's own uid, and who holds it: the control plane watches this process and ends
      // the run itself if it dies.
      uid: spec.uid,
      runner,
    });
    const registered = registration.response.then((reg) => {
      if (reg.status !== 200) throw apiError(reg.status, reg.body);
      return reg.body;
    });
    let registrationError: Error | undefined;
    registered.catch((e: unknown) => (registrationError = e instanceof Error ? e : new Error(String(e))));
    const token = wantToken
      ? registered.then((b) => {
          if (!b.token) throw new RampartError('RAMPART_E_INTERNAL', 'the control plane issued no token');
          return Buffer.from(b.token);
        })
      : undefined;
    // A refused registration is reported once, below; the runtime may not be waiting on the token
    // yet when it is refused (a Swarm service takes a second to reach its gate).
    token?.catch(() => undefined);
    spec = { ...spec, gate: registered, ...(token ? { token } : {}) };

    // Starting the sandbox blocks this event loop for milliseconds (spawning bwrap); the request is
    // put on the wire first, so the control plane records the run meanwhile.
    await registration.sent;
    // Where to look: the run's id (for runs, kill, events --run) and its workspace.
    io.stderr.write(`rampart: run ${spec.id} (agent ${spec.agent}) in ${spec.workspace}\n`);
    let result: RunResult | undefined;
    let failure: unknown;
    let cleaned: Promise<void> = Promise.resolve();
    // A container's output reaches the terminal through redaction (its log driver is "none": the
    // Engine keeps nothing of it); a bwrap run keeps the terminal itself, for interactive agents.
    // Made while the container is being created (the Engine's time, not this process's).
    const output = plan ? redactedOutput() : undefined;
    const started =
      plan && runtime === 'swarm'
        ? sandbox.startSwarm(spec, plan, output)
        : plan
          ? sandbox.startDocker(spec, plan, output)
          : sandbox.start(spec, seccompExtra);
    const onSignal = (): void => void started.then((r) => r.stop('killed')).catch(() => undefined);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    let keeper: LeaseKeeper | undefined;
    // The leases' own connection: its long poll must not hold up the run's other requests.
    const leaseApi = held.length > 0 ? connect(config.dataDir) : undefined;
    try {
      const run = await started;
      if (leaseApi)
        keeper = new LeaseKeeper({
          run: spec.id,
          dir: runtime === 'swarm' ? undefined : runFiles(FILES_ROOT, spec.id).secrets,
          uid: spec.uid,
          leases: held,
          refresh: async (body) => {
            const r = await leaseApi.call<{ leases: RefreshAnswer[] }>('POST', '/v1/leases/refresh', body);
            if (r.status !== 200) throw apiError(r.status, r.body);
            return r.body.leases;
          },
          say: (line) => io.stderr.write(`rampart: run ${spec.id}: ${line}\n`),
        });
      result = await run.done;
      cleaned = run.cleaned;
    } catch (e) {
      failure = e;
      // Not registered: there is no run to report the end of; the registration error says why.
      await registered.catch(() => undefined);
      if (registrationError !== undefined) {
        await dropLeases();
        if (network) sandbox.removeChannelDir(spec.id);
        sandbox.uids.release(spec.uid);
        throw registrationError;
      }
    } finally {
      keeper?.stop();
      leaseApi?.close();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    if (output && result) await (await output).flushed;
    // The run's cgroup and channel directory are removed while its end is reported; this process
    // waits for all of it.
    const report = api.send('POST', `/v1/runs/${spec.id}/end`, {
      reason: result?.reason ?? 'error',
      exit_code: result?.exitCode ?? null,
      signal: result?.signal ?? null,
      duration_ms: result?.durationMs ?? 0,
      peak_memory: result?.stats.peakMemory ?? 0,
      memory_limit_hit: result?.stats.memoryLimitHit ?? false,
      oom_killed: result?.stats.oomKilled ?? false,
      pids_limit_hit: result?.stats.pidsLimitHit ?? false,
      ...(result?.leftover !== undefined ? { leftover: result.leftover } : {}),
      ...(result && result.stats.cpuMicros > 0 ? { cpu_ms: result.stats.cpuMicros / 1000 } : {}),
      ...(output ? { output_tail: (await output).tail() } : {}),
    });
    await report.sent;
    if (network) sandbox.removeChannelDir(spec.id);
    const [end] = await Promise.all([
      report.response as Promise<{
        status: number;
        body: { status?: string; ended_by?: string; end_reason?: string };
      }>,
      cleaned,
    ]);
    // Ended by someone else (kill, quarantine, the kill switch): this terminal is told who and why.
    if (end.status === 200 && end.body.ended_by)
      io.stderr.write(
        `rampart: run ${spec.id} was ${end.body.status ?? 'ended'} by ${end.body.ended_by}: ${end.body.end_reason ?? ''}\n`,
      );
    // The run is over and its processes gone: its uid may serve another run, and the
    // installation's cgroup parent goes if this was its last run.
    sandbox.uids.release(spec.uid);
    sandbox.removeParentIfEmpty();
    if (end.status !== 200)
      io.stderr.write(`rampart: could not record the end of run ${spec.id} (HTTP ${end.status})\n`);
    // Ended by someone while it was starting (the container's start fails when its processes are
    // killed under it): killed, as they asked, not a failure to start.
    if ((failure !== undefined || !result) && end.status === 200 && end.body.ended_by) return 128 + 9;
    if (failure !== undefined || !result)
      throw new RampartError(
        'RAMPART_E_SANDBOX_UNAVAILABLE',
        `run ${spec.id} did not start: ${messageOf(failure)}`,
      );
    if (result.reason === 'timeout')
      io.stderr.write(`rampart: run ${spec.id} reached its timeout and was ended\n`);
    if (result.stats.oomKilled) io.stderr.write(`rampart: run ${spec.id} was killed at its memory limit\n`);
    if (result.exitCode !== null) return result.exitCode;
    return 128 + (SIGNAL_NUMBERS[result.signal ?? ''] ?? Number(/\d+/.exec(result.signal ?? '')?.[0] ?? 9));
  },
};

/** The bridge binary: a Swarm task's gate, which it needs with or without network. */
function bridgeFor(sandbox: SandboxService): string {
  const files = sandbox.egressFiles();
  if ('problem' in files) throw new RampartError('RAMPART_E_SANDBOX_UNAVAILABLE', files.problem);
  return files.bridge;
}

/** The run's repository binding from --repo, --task and --task-path (all or none of the first two). */
function gitBinding(
  repo: string | undefined,
  task: string | undefined,
  paths: string[] | undefined,
): GitBinding | undefined {
  if (repo === undefined && task === undefined) {
    if (paths) throw usageError('--task-path needs --repo and --task', USAGE);
    return undefined;
  }
  if (repo === undefined || task === undefined)
    throw usageError('--repo and --task go together: a run is bound to one repository and one task', USAGE);
  const b: GitBinding = { repo, task, ...(paths ? { paths } : {}) };
  const why = gitBindingProblem(b);
  if (why)
    throw usageError(
      why.replace('git.repo', '--repo').replace('git.task', '--task').replace('git.paths', '--task-path'),
      USAGE,
    );
  return b;
}
