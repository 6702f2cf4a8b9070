#!/usr/bin/env node
'use strict';
// CommonJS (bin/package.json says so): an ES module as the entry costs about 10 ms more at start.
// The bundled CLI lives in dist/ (built by `npm ci` through the prepare script).
const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const { compileBundle, runBundle } = require('./bundle-loader.cjs');

const bundle = join(__dirname, '..', 'dist', 'cli-bundle', 'cli.cjs');
let cache;
try {
  cache = readFileSync(`${bundle}.cache`);
} catch {
  // Built without a cache: the bundle compiles from source.
}
const script = compileBundle(bundle, cache);
const codeCache = cache === undefined ? 'missing' : script.cachedDataRejected === true ? 'refused' : 'accepted';
runBundle(script, bundle)
  .main(process.argv.slice(2), { codeCache })
  .then((status) => {
    process.exitCode = status;
  });
