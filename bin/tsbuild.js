#!/usr/bin/env node
'use strict';
// CommonJS (bin/package.json says so): an ES module as the entry costs about 10 ms more at start.
// The bundled CLI lives in dist/ (built by `npm ci` through the prepare script).
const { readFileSync, statSync } = require('node:fs');
const { join } = require('node:path');
const { compileBundle, runBundle } = require('./bundle-loader.cjs');

// `run`, `build` and a container's monitor start from bundles of their own, each holding that
// command alone (src/cli/entry-run.ts, entry-build.ts, entry-monitor.ts); the command is named as
// createProgram finds it (src/cli/program.ts), the first argument that is not an option.
const ownBundles = new Set(['run', 'build', 'container-monitor']);
const command = process.argv.slice(2).find((arg) => !arg.startsWith('-'));
const bundle = join(__dirname, '..', 'dist', 'cli-bundle', `${ownBundles.has(command) ? command : 'cli'}.cjs`);
let cache;
let stale = false;
try {
  // V8 checks a cache against the source's length only: one older than the bundle was made for
  // other code (the bundle was rebuilt without it, or edited), and is not used.
  stale = statSync(`${bundle}.cache`).mtimeMs < statSync(bundle).mtimeMs;
  if (!stale) cache = readFileSync(`${bundle}.cache`);
} catch {
  // Built without a cache: the bundle compiles from source.
}
let script;
try {
  script = compileBundle(bundle, cache);
} catch (error) {
  if (error.code !== 'ENOENT') throw error;
  process.stderr.write(`error: ${bundle} is missing: tsbuild is not built; run npm ci (or npm run build) in ${join(__dirname, '..')}\n`);
  process.exit(1);
}
const codeCache = stale ? 'stale' : cache === undefined ? 'missing' : script.cachedDataRejected === true ? 'refused' : 'accepted';
// A command whose work waits on something that can no longer happen (a stream destroyed under a
// writer waiting to drain it) leaves Node's event loop empty before it finishes, and Node would
// then exit 0, as if it had succeeded: it ends as an internal error instead, and says so.
let finished = false;
process.once('beforeExit', () => {
  if (finished) return;
  process.stderr.write('internal error: tsbuild stopped before its command finished: it waited for something nothing would end\n');
  process.exitCode = 70;
});
runBundle(script, bundle)
  .main(process.argv.slice(2), { codeCache })
  .then((status) => {
    finished = true;
    process.exitCode = status;
  });
