'use strict';
/**
 * Compiles and runs the bundled CLI (dist/cli-bundle/cli.cjs) as a CommonJS module, with V8's
 * code cache made for it at build time (scripts/bundle-cli.mjs): the cache spares compiling the
 * CLI and its dependencies at every start. Used by bin/tsbuild.js and by the build.
 */
const { readFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const { dirname } = require('node:path');
const { Script } = require('node:vm');

/** The bundle as a script; `cachedData` is its code cache, when there is one. */
function compileBundle(file, cachedData) {
  const source = readFileSync(file, 'utf8');
  return new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: file,
    ...(cachedData === undefined ? {} : { cachedData }),
  });
}

/** Runs the compiled bundle as a module and returns its exports. */
function runBundle(script, file) {
  const module = { exports: {} };
  script.runInThisContext().call(module.exports, module.exports, createRequire(file), module, file, dirname(file));
  return module.exports;
}

module.exports = { compileBundle, runBundle };
