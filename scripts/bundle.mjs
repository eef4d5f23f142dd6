// Builds the CLI as one CommonJS file (dist/rampart.cjs) and a V8 code cache for it.
//
// Why: Node start-up is most of a short command's wall time. Loading one bundled file instead of
// hundreds of modules, with its bytecode cached, keeps `rampart run -- true` and `rampart check`
// close to bare `node -e 0` (measured in docs/benchmarks.md).

import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outfile = join(root, 'dist', 'rampart.cjs');

rmSync(join(root, 'dist'), { recursive: true, force: true });
await build({
  entryPoints: [join(root, 'src', 'cli', 'entry.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // Native addons and optional native drivers stay in node_modules.
  external: ['better-sqlite3', 'pg-native'],
  // Source written as ESM may use import.meta.url; in the CJS bundle it is the bundle's own URL.
  define: { 'import.meta.url': '__rampart_import_meta_url' },
  banner: { js: "const __rampart_import_meta_url = require('node:url').pathToFileURL(__filename).href;" },
  sourcemap: 'linked',
  minify: true,
  keepNames: true,
  logLevel: 'warning',
  legalComments: 'eof',
});

// Warm the code cache: the loader compiles every command module and writes the cache.
execFileSync(process.execPath, [join(root, 'bin', 'rampart.cjs'), '--rampart-write-code-cache'], {
  stdio: 'inherit',
});
