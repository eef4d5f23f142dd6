// rampart entity put | get | ls | rm: the policy entities (agents, teams, namespaces, vaults,
// secrets, tasks, capabilities) the decision point reasons about, through the control plane
// (every change audited, applied on every replica).

import { resolve } from 'node:path';
import { readTextFile } from '../../core/files.js';
import { apiError, connect } from '../client.js';
import { COMMON_OPTIONS, parseSubcommand, usageError, type Command, type Io } from '../io.js';
import { localConfig } from '../local.js';

const USAGE = `usage: rampart entity <subcommand> [options]

  put TYPE ID [--attr KEY=VALUE]... [--parent TYPE:ID]... [--file FILE]
      Create or replace an entity. VALUE is read as JSON when it parses (true, 3, ["a"]), else
      as a string. --file takes the whole body as JSON: {"attributes": {...}, "parents": [...]}.
  get TYPE ID          Print one entity as JSON.
  ls [TYPE] [--json]   List entities, one "type:id  parents  attributes" line each.
  rm TYPE ID           Delete an entity.

TYPE is one of agent, team, namespace, vault, secret, task, capability (docs/policy.md).
Common options: --config FILE, --data DIR.`;

interface Entity {
  type: string;
  id: string;
  attributes: Record<string, unknown>;
  parents: string[];
}

const path = (type: string, id: string): string =>
  `/v1/entities/${encodeURIComponent(type)}/${encodeURIComponent(id)}`;

function value(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

export const command: Command = {
  usage: USAGE,
  async run(argv, io: Io) {
    const parsed = parseSubcommand(
      argv,
      {
        ...COMMON_OPTIONS,
        attr: { type: 'string', multiple: true },
        parent: { type: 'string', multiple: true },
        file: { type: 'string' },
        json: { type: 'boolean' },
      },
      USAGE,
      io,
    );
    if (!parsed) return 0;
    const { sub, values, positionals } = parsed;
    const api = connect(localConfig(values, io.cwd).dataDir);
    const two = (): [string, string] => {
      if (positionals.length !== 2) throw usageError(`${sub} takes TYPE and ID`, USAGE);
      return [positionals[0]!, positionals[1]!];
    };
    switch (sub) {
      case 'put': {
        const [type, id] = two();
        let body: { attributes: Record<string, unknown>; parents: string[] };
        if (values.file !== undefined) {
          if (values.attr || values.parent)
            throw usageError('--file takes the whole body: no --attr or --parent', USAGE);
          const file = resolve(io.cwd, values.file);
          try {
            body = JSON.parse(readTextFile(file, 'RAMPART_E_USAGE', 'entity file')) as typeof body;
          } catch (e) {
            if (e instanceof SyntaxError) throw usageError(`${values.file} is not JSON: ${e.message}`, USAGE);
            throw e;
          }
        } else {
          const attributes: Record<string, unknown> = {};
          for (const a of values.attr ?? []) {
            const i = a.indexOf('=');
            if (i < 1) throw usageError(`--attr "${a}" is not KEY=VALUE`, USAGE);
            attributes[a.slice(0, i)] = value(a.slice(i + 1));
          }
          body = { attributes, parents: values.parent ?? [] };
        }
        const res = await api.call<Entity>('PUT', path(type, id), body);
        if (res.status !== 200) throw apiError(res.status, res.body);
        io.stdout.write(JSON.stringify(res.body, null, 2) + '\n');
        return 0;
      }
      case 'get': {
        const [type, id] = two();
        const res = await api.call<Entity>('GET', path(type, id));
        if (res.status !== 200) throw apiError(res.status, res.body);
        io.stdout.write(JSON.stringify(res.body, null, 2) + '\n');
        return 0;
      }
      case 'rm': {
        const [type, id] = two();
        const res = await api.call('DELETE', path(type, id));
        if (res.status !== 200) throw apiError(res.status, res.body);
        io.stdout.write(`deleted ${type}:${id}\n`);
        return 0;
      }
      case 'ls': {
        if (positionals.length > 1) throw usageError('ls takes at most a TYPE', USAGE);
        const q = positionals[0] === undefined ? '' : `?type=${encodeURIComponent(positionals[0])}`;
        const res = await api.call<{ entities: Entity[] }>('GET', `/v1/entities${q}`);
        if (res.status !== 200) throw apiError(res.status, res.body);
        if (values.json) io.stdout.write(JSON.stringify(res.body.entities) + '\n');
        else
          for (const e of res.body.entities)
            io.stdout.write(
              `${e.type}:${e.id}\t${e.parents.join(',') || '-'}\t${JSON.stringify(e.attributes)}\n`,
            );
        return 0;
      }
      default:
        throw usageError(`unknown subcommand "${sub}"`, USAGE);
    }
  },
};
