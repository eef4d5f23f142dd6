// Builds the CLI as CommonJS bundles with V8 code caches:
//   dist/rampart.cjs        the dispatcher (argument handling, errors, usage)
//   dist/cmd-<name>.cjs     one bundle per command, loaded only when that command runs
//
// Why: Node start-up is most of a short command's wall time. One bundled file per command instead
// of hundreds of modules, with its bytecode cached, keeps `rampart run -- true`, `rampart check`
// and `rampart redact` close to bare `node -e 0`; and `rampart redact` never parses the server.
// Numbers in docs/benchmarks.md.

import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const commands = readdirSync(join(root, 'src', 'cli', 'commands'))
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
  .map((f) => f.slice(0, -3));

rmSync(dist, { recursive: true, force: true });
await build({
  entryPoints: {
    rampart: join(root, 'src', 'cli', 'entry.ts'),
    // Worker threads are files of their own.
    'sqlite-writer': join(root, 'src', 'store', 'sqlite-writer.ts'),
    // Preloaded into Node programs inside sandboxes so that fetch() uses the egress proxy.
    'egress-preload': join(root, 'src', 'sandbox', 'preload', 'egress-preload.ts'),
    ...Object.fromEntries(commands.map((c) => [`cmd-${c}`, join(root, 'src', 'cli', 'commands', `${c}.ts`)])),
  },
  outdir: dist,
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // Native addons and optional native drivers stay in node_modules.
  external: ['better-sqlite3', 'pg-native'],
  // Source written as ESM may use import.meta.url; in a CJS bundle it is the bundle's own URL.
  define: { 'import.meta.url': '__rampart_import_meta_url' },
  banner: { js: "const __rampart_import_meta_url = require('node:url').pathToFileURL(__filename).href;" },
  sourcemap: 'linked',
  minify: true,
  keepNames: true,
  logLevel: 'warning',
  // The dispatcher's command import is deliberately dynamic (bin/rampart.cjs serves the bundles).
  logOverride: { 'unsupported-dynamic-import': 'silent' },
  legalComments: 'eof',
});

// The web console (src/console/web): one ES module and one stylesheet for the browser, built into
// the package (dist/console) and served by `rampart up` from memory. Nothing is fetched from
// elsewhere at run time, and the page's CSP allows nothing else.
await build({
  entryPoints: { app: join(root, 'src', 'console', 'web', 'main.ts') },
  outdir: join(dist, 'console'),
  bundle: true,
  platform: 'browser',
  format: 'esm',
  target: ['chrome115', 'firefox115', 'safari16'],
  minify: true,
  sourcemap: 'linked',
  legalComments: 'eof',
  logLevel: 'warning',
});

// The egress bridge that runs inside sandboxes (src/sandbox/bridge.c): a static binary, so it
// needs nothing from the system directories a sandbox sees. A C compiler is already required (the
// SQLite binding builds from source); without one, the build says so and stops.
const cc = process.env.CC || 'cc';
const bridgeFlags = [
  '-O2',
  '-s',
  '-std=gnu11',
  '-Wall',
  '-Wextra',
  '-Werror',
  '-fstack-protector-strong',
  '-D_FORTIFY_SOURCE=2',
];
const bridgeOut = ['-o', join(dist, 'rampart-bridge'), join(root, 'src', 'sandbox', 'bridge.c')];
try {
  execFileSync(cc, [...bridgeFlags, '-static', ...bridgeOut], { stdio: ['ignore', 'inherit', 'pipe'] });
} catch (e) {
  if (e.code === 'ENOENT') {
    console.error(`build: no C compiler (${cc}) for the sandbox's egress bridge; install build-essential`);
    process.exit(1);
  }
  // No static C library: a dynamic binary works too (the sandbox sees /lib and /usr).
  execFileSync(cc, [...bridgeFlags, ...bridgeOut], { stdio: 'inherit' });
}

// The egress proxy's native relay (src/egress/relay.c), a Node-API addon: loaded by the proxy
// from next to the bundles. Node-API needs only Node's headers (node_api.h), which come with Node
// (PREFIX/include/node) or with npm's `nodedir`.
{
  const includes = [process.env.npm_config_nodedir, join(dirname(process.execPath), '..')]
    .filter(Boolean)
    .map((d) => join(d, 'include', 'node'));
  const include = includes.find((d) => existsSync(join(d, 'node_api.h')));
  if (!include) {
    console.error(
      `build: Node's headers (node_api.h) are not in ${includes.join(' or ')}; the egress relay needs them`,
    );
    process.exit(1);
  }
  execFileSync(
    cc,
    [
      ...bridgeFlags,
      '-fPIC',
      '-shared',
      '-fvisibility=hidden',
      '-I',
      include,
      '-o',
      join(dist, 'rampart-relay.node'),
      join(root, 'src', 'egress', 'relay.c'),
      '-lpthread',
    ],
    { stdio: 'inherit' },
  );
}

// Kernel telemetry (src/detect/telemetry/): the eBPF programs, compiled against this kernel's BTF
// (CO-RE: they load on other kernels with BTF too), embedded in their loader as a libbpf skeleton,
// the loader linked with libbpf statically. Optional: without clang, bpftool, libbpf's headers or
// BTF, the build says so and detection runs on the events Rampart records itself (health says
// telemetry is unavailable, and why).
{
  const bpfDir = join(root, 'build', 'bpf');
  const src = join(root, 'src', 'detect', 'telemetry');
  const missing = [
    ['clang', ['--version']],
    ['bpftool', ['version']],
  ].filter(([cmd, args]) => {
    try {
      execFileSync(cmd, args, { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
  if (!existsSync('/usr/include/bpf/libbpf.h')) missing.push(['libbpf-dev']);
  if (!existsSync('/sys/kernel/btf/vmlinux')) missing.push(['/sys/kernel/btf/vmlinux']);
  if (missing.length > 0) {
    console.error(`build: kernel telemetry not built (missing ${missing.map((m) => m[0]).join(', ')})`);
  } else {
    mkdirSync(bpfDir, { recursive: true });
    writeFileSync(
      join(bpfDir, 'vmlinux.h'),
      execFileSync('bpftool', ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux', 'format', 'c'], {
        maxBuffer: 256 << 20,
      }),
    );
    const arch = process.arch === 'arm64' ? 'arm64' : 'x86';
    execFileSync(
      'clang',
      [
        '-g',
        '-O2',
        '-target',
        'bpf',
        `-D__TARGET_ARCH_${arch}`,
        '-I',
        bpfDir,
        '-I',
        src,
        '-c',
        join(src, 'probe.bpf.c'),
        '-o',
        join(bpfDir, 'probe.bpf.o'),
      ],
      { stdio: 'inherit' },
    );
    writeFileSync(
      join(bpfDir, 'probe.skel.h'),
      execFileSync('bpftool', ['gen', 'skeleton', join(bpfDir, 'probe.bpf.o'), 'name', 'probe_bpf'], {
        maxBuffer: 256 << 20,
      }),
    );
    execFileSync(
      cc,
      [
        ...bridgeFlags,
        '-I',
        bpfDir,
        '-I',
        src,
        '-o',
        join(dist, 'rampart-telemetry'),
        join(src, 'loader.c'),
        '-Wl,-Bstatic',
        '-lbpf',
        '-lelf',
        '-lz',
        '-Wl,-Bdynamic',
      ],
      { stdio: 'inherit' },
    );
  }
}

// The default seccomp programs, precompiled (src/sandbox/seccomp.ts, defaultSeccomp): from the
// compiled sources tsc just wrote; test/sandbox/seccomp.test.ts checks them against a compile.
{
  const { compileSeccomp, PRECOMPILED } = await import(join(root, 'build', 'src', 'sandbox', 'seccomp.js'));
  for (const arch of ['x86_64', 'aarch64'])
    writeFileSync(join(dist, PRECOMPILED(arch)), compileSeccomp({ arch }));
}

// Warm the code caches: the loader compiles every bundle and writes its cache.
execFileSync(process.execPath, [join(root, 'bin', 'rampart.cjs'), '--rampart-write-code-cache'], {
  stdio: 'inherit',
});
