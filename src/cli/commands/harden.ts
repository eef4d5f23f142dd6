// rampart harden [options] FILE
//
// Writes the spec with every fix that needs no human decision applied (comments and layout kept),
// then checks the result and lists what is left: exactly what harden could not fix. Hardening
// its own output changes nothing.

import { statSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import {
  checkAll,
  EMPTY_POLICY,
  loadAdmissionPolicy,
  parseSpec,
  readBounded,
  workloadsFrom,
} from '../../admission/engine.js';
import { canonicalCreateBody, engineBodyKind } from '../../admission/formats/engine.js';
import { HARDEN_DEFAULTS } from '../../admission/harden.js';
import { hardenText } from '../../admission/harden-text.js';
import { toPlain } from '../../admission/tree.js';
import { lineColumn, offsetOf } from '../../core/text.js';
import { writeFileAtomic } from '../../core/secretfile.js';
import { isSeverity, severityRank } from '../../core/types.js';
import { Redactor } from '../../redact/engine.js';
import { dockerSeccompProfile } from '../../sandbox/seccomp.js';
import { parse, usageError, type Command } from '../io.js';

const USAGE = `usage: rampart harden [options] FILE
       rampart harden --seccomp-profile [-o FILE]

Apply the fixes that need no human decision to a Compose or Swarm stack file, a Kubernetes
manifest or a Docker Engine container-create body: drop ALL capabilities, read-only root
filesystem, no-new-privileges, a non-root user, memory, CPU and process limits, console ports
bound to 127.0.0.1, bounded restarts, encrypted overlay networks, secret file modes. Comments and
formatting are kept. What is left (privileged, host namespaces and mounts, added capabilities,
secrets in the environment, images, ...) is listed on stderr as check findings.

  -o, --output FILE    Write the hardened spec to FILE (default: stdout).
  -w, --write          Rewrite FILE in place.
  --check              Write nothing; exit 1 if harden would change the file.
  --profile NAME       default or vm-runner, for the findings that remain.
  --policy FILE        Admission policy (registries, distroless, exceptions), for the findings.
  --fail-on SEVERITY   Exit 1 when a remaining finding is at or above this (default: high).
  --swarm / --no-swarm Read a Compose file as a Swarm stack, or not (default: detected).
  --user UID:GID       User for services that set none (default: ${HARDEN_DEFAULTS.user}).
  --memory SIZE        Memory limit where none is set (default: ${HARDEN_DEFAULTS.memory}).
  --cpus N             CPU limit where none is set (default: ${HARDEN_DEFAULTS.cpus}).
  --pids N             Process limit where none is set (default: ${HARDEN_DEFAULTS.pids}).
  --bind-consoles ADDR Also rebind console ports published on an explicit 0.0.0.0 or :: to ADDR
                       (an address written in the file is otherwise left: someone chose it).
  --kvm-group GID      Group that may open /dev/kvm on the hosts that run a VM runner (default:
                       the group of /dev/kvm here, when it is open to a group).
  --seccomp-profile    Print Rampart's seccomp profile as Docker JSON (no FILE): the file a Swarm
                       node's daemon.json names as "seccomp-profile" for the swarm runtime.

Exit status: 0 nothing left at or above --fail-on, 1 findings remain (or --check and changes
needed), 2 unreadable or invalid input.`;

/** The group that may open a device on this host, if the device is open to a group at all. */
function deviceGroup(path: string): number | undefined {
  try {
    const st = statSync(path);
    return st.gid !== 0 && (st.mode & 0o060) === 0o060 ? st.gid : undefined;
  } catch {
    return undefined;
  }
}

export const command: Command = {
  usage: USAGE,
  async run(argv, io) {
    const { values, positionals } = parse(
      argv,
      {
        output: { type: 'string', short: 'o' },
        write: { type: 'boolean', short: 'w' },
        check: { type: 'boolean' },
        profile: { type: 'string' },
        policy: { type: 'string' },
        'fail-on': { type: 'string' },
        swarm: { type: 'boolean' },
        'no-swarm': { type: 'boolean' },
        user: { type: 'string' },
        memory: { type: 'string' },
        cpus: { type: 'string' },
        pids: { type: 'string' },
        'bind-consoles': { type: 'string' },
        'kvm-group': { type: 'string' },
        'seccomp-profile': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      USAGE,
      true,
    );
    if (values['seccomp-profile']) {
      if (positionals.length > 0 || values.write || values.check)
        throw usageError('--seccomp-profile takes no FILE, --write or --check', USAGE);
      const profile = dockerSeccompProfile() + '\n';
      if (values.output !== undefined) writeFileAtomic(resolve(io.cwd, values.output), profile, 0o644);
      else io.stdout.write(profile);
      return 0;
    }
    if (positionals.length !== 1) throw usageError('give exactly one file to harden', USAGE);
    if ([values.output !== undefined, values.write, values.check].filter(Boolean).length > 1)
      throw usageError('--output, --write and --check exclude each other', USAGE);
    const profile = values.profile ?? 'default';
    if (profile !== 'default' && profile !== 'vm-runner')
      throw usageError(`--profile must be default or vm-runner, not "${profile}"`, USAGE);
    const failOn = values['fail-on'] ?? 'high';
    if (!isSeverity(failOn)) throw usageError(`--fail-on must be info, low, medium, high or critical`, USAGE);
    if (values.user !== undefined && !/^[0-9]+:[0-9]+$/.test(values.user))
      throw usageError('--user must be UID:GID, numeric (a name cannot be checked for root)', USAGE);
    if (values.user !== undefined && /^0:|:0$/.test(values.user))
      throw usageError('--user must not be root', USAGE);
    if (values.memory !== undefined && !/^\d+(?:\.\d+)?[kmgt]?$/i.test(values.memory))
      throw usageError('--memory must be a size such as 512m or 2g', USAGE);
    if (values.cpus !== undefined && !(Number(values.cpus) > 0))
      throw usageError('--cpus must be a positive number', USAGE);
    const pids = values.pids === undefined ? HARDEN_DEFAULTS.pids : Number(values.pids);
    if (!Number.isInteger(pids) || pids < 1) throw usageError('--pids must be a positive integer', USAGE);
    const swarm = values.swarm ? true : values['no-swarm'] ? false : undefined;
    const bind = values['bind-consoles'];
    if (bind !== undefined && (isIP(bind) === 0 || bind === '0.0.0.0' || bind === '::'))
      throw usageError('--bind-consoles must be one address, such as 127.0.0.1 (not 0.0.0.0 or ::)', USAGE);
    const kvmGroup = values['kvm-group'] === undefined ? undefined : Number(values['kvm-group']);
    if (kvmGroup !== undefined && !(Number.isInteger(kvmGroup) && kvmGroup > 0))
      throw usageError('--kvm-group must be a numeric group id other than 0', USAGE);

    const file = resolve(io.cwd, positionals[0]!);
    const text = readBounded(file);
    const trees = parseSpec(text, file);
    const json = /^\s*[{[]/.test(text);
    // An Engine body is hardened as the Engine reads it: its field names in any case, the last
    // duplicate winning.
    const engineBody = json && trees[0] !== undefined && engineBodyKind(trees[0]) === 'container';
    const canonical = (t: string): unknown => toPlain(canonicalCreateBody(parseSpec(t, file)[0]!));
    const result = hardenText(
      text,
      engineBody ? [toPlain(canonicalCreateBody(trees[0]!))] : trees.map(toPlain),
      {
        json,
        ...(engineBody ? { read: canonical } : {}),
        ...(swarm !== undefined ? { swarm } : {}),
        defaults: {
          ...HARDEN_DEFAULTS,
          pids,
          ...(values.user !== undefined ? { user: values.user } : {}),
          ...(values.memory !== undefined ? { memory: values.memory } : {}),
          ...(values.cpus !== undefined ? { cpus: values.cpus } : {}),
          ...(bind !== undefined ? { bindConsoles: bind } : {}),
          ...(kvmGroup !== undefined ? { kvmGroup } : {}),
          deviceGroup,
        },
      },
    );

    // Positions name the file they are true of: the rewritten file with --write, else the input
    // as given (text a fix wrote maps to where it was written). A file written anew (layout lost)
    // has no map back, so its positions name the output.
    const outName = values.write
      ? positionals[0]!
      : values.output !== undefined
        ? values.output
        : result.rewritten
          ? '<stdout>'
          : positionals[0]!;
    const inOutput = values.write === true || result.rewritten !== undefined;
    const where = (offset: number): string => {
      const { line, column } = lineColumn(inOutput ? result.text : text, offset);
      return `${inOutput ? outName : positionals[0]!}:${line}:${column}`;
    };
    if (result.rewritten) io.stderr.write(`rampart: ${positionals[0]}: ${result.rewritten}\n`);
    for (const e of result.applied) {
      const at = result.at.get(e);
      const place = at && !result.rewritten ? `${where(inOutput ? at.output : at.input)}: ` : '';
      io.stderr.write(`${place}fixed ${e.check}: ${e.note}\n`);
    }
    for (const s of result.skipped)
      io.stderr.write(`not changed ${s.edit.check}: ${s.edit.note}: ${s.reason}\n`);
    if (values.check) {
      io.stderr.write(
        result.applied.length === 0
          ? `rampart: ${positionals[0]} is already hardened\n`
          : `rampart: ${positionals[0]} needs ${result.applied.length} change(s)\n`,
      );
      return result.applied.length === 0 ? 0 : 1;
    }
    if (values.write) {
      if (result.applied.length > 0) writeFileAtomic(file, result.text, statSync(file).mode & 0o7777);
    } else if (values.output !== undefined) writeFileSync(resolve(io.cwd, values.output), result.text);
    else io.stdout.write(result.text);

    // What is left is what the checks find in the result: the list of things to fix by hand.
    const policy =
      values.policy === undefined ? EMPTY_POLICY : loadAdmissionPolicy(resolve(io.cwd, values.policy));
    const redactor = new Redactor();
    const left = checkAll(
      workloadsFrom([{ file, text: result.text }], swarm === undefined ? {} : { swarm }),
      { profile, secretValue: (v) => redactor.redact(v).matches[0]?.label },
      policy,
    ).filter((f) => !f.suppressed);
    // What only a host setting can satisfy (a Swarm stack cannot say no-new-privileges) is not
    // the file's to fix: listed with the setting, and not counted against the file.
    const host = (f: (typeof left)[number]): boolean => f.properties?.['host_setting'] === true;
    for (const f of left) {
      const loc = f.location;
      const out = loc ? offsetOf(result.text, loc.line, loc.column) : undefined;
      const place = out === undefined ? '?' : where(inOutput ? out : result.toInput(out));
      const fix = (f.help ?? '').split(' Fix: ')[1] ?? '';
      io.stderr.write(
        host(f)
          ? `${place}: ${f.severity} ${f.ruleId}: ${f.message} (a host setting, not the file: ${fix})\n`
          : `${place}: ${f.severity} ${f.ruleId}: ${f.message} (not fixed automatically)\n`,
      );
    }
    const byHand = left.filter((f) => !host(f));
    const failing = byHand.filter((f) => severityRank(f.severity) >= severityRank(failOn));
    const hostCount = left.length - byHand.length;
    io.stderr.write(
      `rampart: ${result.applied.length} fix(es) applied; ${byHand.length} finding(s) left to fix by hand, ${failing.length} at or above ${failOn}` +
        (hostCount > 0 ? `; ${hostCount} need(s) a host setting (rampart check still reports them)` : '') +
        '\n',
    );
    return failing.length > 0 ? 1 : 0;
  },
};
