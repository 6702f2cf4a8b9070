// Bundles the compiled CLI and its dependencies into one CommonJS file, and makes V8's code cache
// for it: resolving, loading and compiling hundreds of small modules costs more start-up time than
// a parse or a push whose blobs the registry already has. bin/tsbuild.js runs the bundle with the
// cache (see there); each command's modules still run only when that command runs.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import http from 'node:http';
import { constants as http2Constants } from 'node:http2';
import { build } from 'esbuild';

/**
 * Node modules that bundled dependencies load at start-up and tsbuild never uses, replaced by
 * stand-ins (that load the real module on first use where it could be used): about 20 ms off
 * the start of every command that talks to a registry.
 * - undici's HTTP/2 client reads a few constants when it loads. Their values are taken from this
 *   Node at build time; they are protocol constants.
 * - undici loads node:http for two things. One is the class IncomingMessage, which its destroy()
 *   compares a body's constructor with: tsbuild never gives undici an IncomingMessage, so a class
 *   of its own, equal to nothing, does. The other is the default maxHeaderSize, taken from this
 *   Node at build time: tsbuild never changes it.
 * - commander keeps child_process for executable subcommands, which tsbuild has none of.
 */
const bundleFile = resolve('dist/cli-bundle/cli.cjs');

const lazyBuiltins = {
  'node:http2': {
    from: /undici[\\/]lib[\\/]dispatcher[\\/]client-h2\.js$/,
    contents: `const constants = ${JSON.stringify(
      Object.fromEntries(
        ['HTTP2_HEADER_AUTHORITY', 'HTTP2_HEADER_METHOD', 'HTTP2_HEADER_PATH', 'HTTP2_HEADER_SCHEME', 'HTTP2_HEADER_CONTENT_LENGTH', 'HTTP2_HEADER_EXPECT', 'HTTP2_HEADER_STATUS', 'HTTP2_HEADER_PROTOCOL', 'NGHTTP2_REFUSED_STREAM', 'NGHTTP2_CANCEL'].map((name) => {
          if (http2Constants[name] === undefined) throw new Error(`node:http2 has no constant ${name}`);
          return [name, http2Constants[name]];
        }),
      ),
    )};
module.exports = { constants, connect: (...args) => require('node:http2').connect(...args) };`,
  },
  'node:http': {
    from: /undici[\\/]lib[\\/](core[\\/]util|dispatcher[\\/]client)\.js$/,
    contents: `class IncomingMessage {}
module.exports = { IncomingMessage, maxHeaderSize: ${JSON.stringify(http.maxHeaderSize)} };`,
  },
  'node:child_process': {
    from: /commander[\\/]lib[\\/]command\.js$/,
    contents: `module.exports = new Proxy({}, { get: (_, key) => require('node:child_process')[key] });`,
  },
};

const lazyBuiltinsPlugin = {
  name: 'lazy-builtins',
  setup(builder) {
    builder.onResolve({ filter: /^node:(http|http2|child_process)$/ }, (args) => {
      const lazy = lazyBuiltins[args.path];
      if (lazy === undefined || !lazy.from.test(args.importer)) return undefined;
      return { path: args.path, namespace: 'lazy-builtin' };
    });
    builder.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => ({ contents: lazyBuiltins[args.path].contents, loader: 'js' }));
  },
};

// Earlier builds split the CLI into chunks named by content hash: clear whatever is there.
rmSync('dist/cli-bundle', { recursive: true, force: true });
mkdirSync('dist/cli-bundle', { recursive: true });

await build({
  entryPoints: ['dist/cli/main.js'],
  bundle: true,
  // One script: the code cache covers it whole, and a command's modules, inlined behind the
  // dynamic imports that load them, still run only when the command runs.
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  outfile: bundleFile,
  // The lexer library is loaded from its own single-file build (see src/parser/line-grammar.ts).
  external: ['chevrotain'],
  // Modules find the package's files relative to their own URL; the bundle sits as deep in the
  // package (dist/cli-bundle/) as tsc's output (dist/cli/), so the same relative paths hold.
  define: { 'import.meta.url': '__tsbuildBundleUrl' },
  banner: { js: "var __tsbuildBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
  plugins: [lazyBuiltinsPlugin],
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
const script = compileBundle(bundleFile, undefined);
await runBundle(script, bundleFile).loadEveryCommand();
writeFileSync(`${bundleFile}.cache`, script.createCachedData());
