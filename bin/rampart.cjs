#!/usr/bin/env node
'use strict';
// Loads the bundled CLI through vm.Script with V8 code caches: dist/rampart.cjs (the dispatcher)
// and, when a command runs, dist/cmd-<name>.cjs. Bytecode compiled at build time is reused
// instead of recompiling on every start (see scripts/bundle.mjs).

const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const Module = require('node:module');

const dist = path.join(__dirname, '..', 'dist');
const writeCache = process.argv[2] === '--rampart-write-code-cache';
const scripts = [];

function load(name) {
  const file = path.join(dist, `${name}.cjs`);
  let source;
  try {
    source = fs.readFileSync(file, 'utf8');
  } catch {
    process.stderr.write(
      `rampart: ${path.relative(process.cwd(), file)} is missing; build the CLI with: npm run build\n`,
    );
    process.exit(2);
  }
  let cachedData;
  if (!writeCache) {
    try {
      cachedData = fs.readFileSync(file + '.v8cache');
    } catch {
      cachedData = undefined;
    }
  }
  const script = new vm.Script(Module.wrap(source), { filename: file, cachedData });
  scripts.push({ file, script });
  const mod = new Module(file, module);
  mod.filename = file;
  mod.paths = Module._nodeModulePaths(dist);
  script.runInThisContext().call(mod.exports, mod.exports, Module.createRequire(file), mod, file, dist);
  return mod.exports;
}

globalThis.__rampartCommand = (name) => load(`cmd-${name}`);

if (writeCache) {
  for (const f of fs.readdirSync(dist))
    if (/^cmd-.*\.cjs$/.test(f)) {
      const { command } = load(f.slice(0, -4));
      if (typeof command.warm === 'function') command.warm();
    }
  process.argv = [process.argv[0], path.join(dist, 'rampart.cjs'), '--help'];
  process.on('exit', () => {
    for (const { file, script } of scripts) {
      try {
        fs.writeFileSync(file + '.v8cache', script.createCachedData());
      } catch (e) {
        process.stderr.write(`rampart: could not write the code cache for ${file}: ${e.message}\n`);
      }
    }
  });
  // The usage text goes nowhere during the build.
  process.stdout.write = () => true;
} else {
  process.argv = [process.argv[0], path.join(dist, 'rampart.cjs'), ...process.argv.slice(2)];
}

load('rampart');
