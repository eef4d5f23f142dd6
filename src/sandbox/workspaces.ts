// Where runs' files live on the host: each run's workspace (given, or made; always owned by the
// run's uid alone, and never one of Rampart's own directories, inside one or above one), its
// egress channel directory, and the bridge and preload a run with network binds in.

import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  realpathSync,
  rmSync,
  statSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RampartError } from '../core/errors.js';
import type { SandboxSettings } from '../core/settings.js';

export const RUN_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export class Workspaces {
  constructor(
    private readonly opts: Pick<SandboxSettings, 'workspacesDir' | 'dataDir' | 'evidenceDir' | 'uids'>,
  ) {}

  /**
   * The host directory of a run's egress channel, created if needed: root-owned, mode 0711, so
   * the sandbox user can reach the socket the proxy puts in it and nothing else. Under the
   * workspaces directory (whose parents the sandbox user can already search, and which no sandbox
   * sees); a leading dot keeps it apart from run ids.
   */
  channelDir(id: string): string {
    if (!RUN_ID_RE.test(id)) throw new RampartError('RAMPART_E_RUN_INVALID', `invalid run id "${id}"`);
    const base = join(this.opts.workspacesDir, '.egress');
    const dir = join(base, id);
    mkdirSync(dir, { recursive: true, mode: 0o711 });
    for (const d of [base, dir]) {
      const st = lstatSync(d);
      // Someone else's directory (or a symlink) here could redirect the proxy's socket.
      if (!st.isDirectory() || st.uid !== process.getuid?.())
        throw new RampartError('RAMPART_E_SANDBOX_UNAVAILABLE', `${d} is not a directory owned by this user`);
    }
    return dir;
  }

  /**
   * What a run with network access binds in, from next to the bundle this code runs from: the
   * egress bridge (dist/rampart-bridge), without which the run is refused, and the Node preload
   * that points fetch() at the proxy (dist/egress-preload.cjs), used when it is there. Both are in
   * one directory, so whether the sandbox user can reach them is checked once.
   */
  egressFiles(): { bridge: string; preload?: string } | { problem: string } {
    const bridge = fileURLToPath(new URL('./rampart-bridge', import.meta.url));
    const preload = fileURLToPath(new URL('./egress-preload.cjs', import.meta.url));
    if (!existsSync(bridge))
      return { problem: `the egress bridge ${bridge} is missing (build it: npm run build)` };
    // Run uids own nothing but their workspace: what "others" may search, they may.
    const stranger = this.opts.uids.first;
    const blocked = untraversable(bridge, stranger, stranger);
    if (blocked)
      return {
        problem: `the egress bridge ${bridge} cannot be reached by run uids: ${blocked} is not searchable by others`,
      };
    return existsSync(preload) ? { bridge, preload } : { bridge };
  }

  /** Removes a run's channel directory (the socket is the proxy's to close). */
  removeChannelDir(id: string): void {
    if (RUN_ID_RE.test(id))
      rmSync(join(this.opts.workspacesDir, '.egress', id), { recursive: true, force: true });
  }

  /** The workspace: the one given (handed to the sandbox user), or a fresh one. */
  workspaceFor(id: string, given: string | undefined, uid: number): string {
    if (given === undefined) {
      const dir = join(this.opts.workspacesDir, id);
      mkdirSync(this.opts.workspacesDir, { recursive: true, mode: 0o711 });
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      chownSync(dir, uid, uid);
      return dir;
    }
    // Judge the path the bind will use, not the one written: every symlink resolved, so a link
    // into Rampart's own directories is seen for what it is (and the run binds the real path).
    let dir: string;
    try {
      dir = realpathSync(resolve(given));
    } catch {
      throw new RampartError('RAMPART_E_RUN_INVALID', `workspace ${given} does not exist`);
    }
    const shown = dir === resolve(given) ? dir : `${given} (resolves to ${dir})`;
    const own = this.ownDirs();
    if (dir === '/' || own.some((o) => o === dir || o.startsWith(dir + '/')))
      throw new RampartError(
        'RAMPART_E_RUN_INVALID',
        `workspace ${shown} would expose Rampart's own directories`,
      );
    if (own.some((o) => dir.startsWith(o + '/')))
      throw new RampartError(
        'RAMPART_E_RUN_INVALID',
        `workspace ${given} resolves to ${dir}, inside Rampart's own directories (data, evidence, run channels)`,
      );
    const st = statSync(dir);
    if (!st.isDirectory())
      throw new RampartError('RAMPART_E_RUN_INVALID', `workspace ${shown} is not a directory`);
    const blocked = untraversable(dir, uid, uid);
    if (blocked)
      throw new RampartError(
        'RAMPART_E_RUN_INVALID',
        `workspace ${dir} cannot be reached by the run's uid: ${blocked} is not searchable by others`,
      );
    // The run's uid owns its workspace, and no other uid may enter it.
    if (st.uid !== uid) execFileSync('chown', ['-R', '--', `${uid}:${uid}`, dir]);
    chmodSync(dir, 0o700);
    return dir;
  }

  /**
   * Rampart's own directories, resolved: no workspace may be one of them, inside one, or above
   * one. The workspaces directory itself is here, but not the workspaces in it.
   */
  private ownDirs(): string[] {
    const real = (p: string): string => {
      try {
        return realpathSync(p);
      } catch {
        return resolve(p);
      }
    };
    return [
      real(this.opts.dataDir),
      real(this.opts.evidenceDir),
      real(join(this.opts.workspacesDir, '.egress')),
    ];
  }
}

/** The first ancestor of `dir` that uid/gid may not search (bwrap, running as them, must). */
function untraversable(dir: string, uid: number, gid: number): string | undefined {
  let p = dirname(dir);
  const chain: string[] = [];
  for (;;) {
    chain.unshift(p);
    const up = dirname(p);
    if (up === p) break;
    p = up;
  }
  for (const d of chain) {
    const st = statSync(d);
    const bit = st.uid === uid ? 0o100 : st.gid === gid ? 0o010 : 0o001;
    if ((st.mode & bit) === 0) return d;
  }
  return undefined;
}
