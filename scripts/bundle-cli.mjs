// Bundles the compiled CLI and its dependencies into one CommonJS file, and makes V8's code cache
// for it: resolving, loading and compiling hundreds of small modules costs more start-up time than
// a parse or a push whose blobs the registry already has. bin/tsbuild.js runs the bundle with the
// cache (see there); each command's modules still run only when that command runs. `run` and
// `build` have bundles of their own besides (src/cli/entry-run.ts, entry-build.ts), and so has a
// container's monitor (entry-monitor.ts), which lives as long as its container: V8 compiles
// a whole script from its cache and instantiates every function the bundle declares at its top
// level, whichever command runs, so every other command's code cost them start-up time.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve, sep } from 'node:path';
import { build } from 'esbuild';

/** Each bundle's name (bin/tsbuild.js chooses it by the command) and its entry in tsc's output. */
const bundles = {
  cli: 'dist/cli/entry.js',
  run: 'dist/cli/entry-run.js',
  build: 'dist/cli/entry-build.js',
  'container-monitor': 'dist/cli/entry-monitor.js',
};

const requireHere = createRequire(import.meta.url);
const lexerLibraryFile = resolve(dirname(requireHere.resolve('chevrotain')), '..', 'chevrotain.min.mjs');
/** @type {import('esbuild').Plugin} */
const lexerLibraryInBundle = {
  name: 'lexer-library-in-bundle',
  setup(builder) {
    builder.onResolve({ filter: /^\.\/lexer-library\.js$/ }, (args) =>
      args.importer.endsWith(`${sep}parser${sep}line-grammar.js`) ? { path: lexerLibraryFile } : undefined,
    );
  },
};

// Earlier builds split the CLI into chunks named by content hash: clear whatever is there.
rmSync('dist/cli-bundle', { recursive: true, force: true });
mkdirSync('dist/cli-bundle', { recursive: true });

await build({
  entryPoints: bundles,
  bundle: true,
  // One script: the code cache covers it whole, and a command's modules, inlined behind the
  // dynamic imports that load them, still run only when the command runs.
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  outdir: 'dist/cli-bundle',
  outExtension: { '.js': '.cjs' },
  // The lexer library's single-file build in place of the module that loads it at run time
  // (src/parser/lexer-library.ts): compiled into the bundle, it is covered by the code cache.
  plugins: [lexerLibraryInBundle],
  // Modules find the package's files relative to their own URL; the bundle sits as deep in the
  // package (dist/cli-bundle/) as tsc's output (dist/cli/), so the same relative paths hold.
  define: { 'import.meta.url': '__tsbuildBundleUrl' },
  banner: { js: "var __tsbuildBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
  // Less for V8 to parse when the cache is refused (another Node); names stay, so stack traces
  // still read. Unbundled, `node dist/cli/bin.js` runs the same commands from tsc's output.
  minifyWhitespace: true,
  minifySyntax: true,
  // Licence comments go to cli.cjs.LEGAL.txt: one of them is not ASCII, and one such character
  // makes V8 hold the whole source as a two-byte string, twice the size to read and to check.
  legalComments: 'external',
  logLevel: 'warning',
});

// The cache is made the way bin/tsbuild.js compiles the bundle, after every command's module
// has loaded: it then holds the compiled code of everything a command runs at load. V8 accepts
// a cache only from the same V8 with the same flags, and compiles from source otherwise.
const { compileBundle, runBundle } = await import('../bin/bundle-loader.cjs').then((loaded) => loaded.default);
for (const name of Object.keys(bundles)) {
  const bundleFile = resolve(`dist/cli-bundle/${name}.cjs`);
  const script = compileBundle(bundleFile, undefined);
  const bundled = runBundle(script, bundleFile);
  await bundled.loadEveryCommand();
  // Functions compiled by the time the cache is made are in it: a Dockerfile parsed and resolved
  // here, and a build and a run each run twice (src/cli/front-end-rehearsal.ts,
  // build-rehearsal.ts, run-rehearsal.ts), spare every command compiling the front end again, a
  // rebuild from the cache its code, and `run` its own. They need the native addons and the
  // runtime built first, as npm's prepare script does.
  bundled.rehearseFrontEnd?.();
  try {
    await bundled.rehearseBuild?.();
    await bundled.rehearseRun?.();
  } catch (error) {
    process.stderr.write(`bundle-cli: a rehearsal failed; ${name}.cjs's code cache is made without it: ${error.message}\n`);
  }
  writeFileSync(`${bundleFile}.cache`, script.createCachedData());
}
