#!/usr/bin/env node
'use strict';
// Loads the bundled CLI (dist/rampart.cjs) through vm.Script with a V8 code cache, so the
// bytecode compiled at build time is reused instead of recompiling on every start.

const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const Module = require('node:module');

const bundle = path.join(__dirname, '..', 'dist', 'rampart.cjs');
const cacheFile = bundle + '.v8cache';
const writeCache = process.argv[2] === '--rampart-write-code-cache';

let source;
try {
  source = fs.readFileSync(bundle, 'utf8');
} catch {
  process.stderr.write('rampart: the CLI is not built yet; run: npm run build\n');
  process.exit(2);
}

let cachedData;
if (!writeCache) {
  try {
    cachedData = fs.readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
}

const script = new vm.Script(Module.wrap(source), {
  filename: bundle,
  cachedData,
  importModuleDynamically: vm.constants ? vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER : undefined,
});
const mod = new Module(bundle, module);
mod.filename = bundle;
mod.paths = Module._nodeModulePaths(path.dirname(bundle));
const bundleRequire = Module.createRequire(bundle);

if (writeCache) {
  // Compile every command module, then save everything compiled so far.
  process.argv = [process.argv[0], bundle, '__warm'];
  process.on('exit', () => {
    try {
      fs.writeFileSync(cacheFile, script.createCachedData());
    } catch (e) {
      process.stderr.write(`rampart: could not write the code cache: ${e.message}\n`);
    }
  });
} else {
  process.argv = [process.argv[0], bundle, ...process.argv.slice(2)];
}

script.runInThisContext().call(mod.exports, mod.exports, bundleRequire, mod, bundle, path.dirname(bundle));
