// Bundles the compiled CLI and its dependencies into a few files (one per command, loaded on
// demand): resolving and loading hundreds of small modules costs more start-up time than a parse
// or a push whose blobs the registry already has.
import { rmSync } from 'node:fs';
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

// Chunk names are content hashes: without this, every build would leave the last one's behind.
rmSync('dist/cli-bundle', { recursive: true, force: true });

await build({
  entryPoints: ['dist/cli/bin.js'],
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outdir: 'dist/cli-bundle',
  chunkNames: 'chunk-[hash]',
  // Dependencies are bundled too (undici alone is some two hundred modules, 0.1 s to load);
  // the lexer library is loaded from its own single-file build (see src/parser/line-grammar.ts).
  external: ['chevrotain'],
  // Bundled CommonJS code calls require(), which an ES module does not have.
  banner: { js: "import { createRequire as __tsbuildCreateRequire } from 'node:module'; const require = __tsbuildCreateRequire(import.meta.url);" },
  plugins: [lazyBuiltinsPlugin],
  // Less for V8 to parse at every start (about 5 ms); names stay, so stack traces still read.
  // Unbundled, `node dist/cli/bin.js` runs the same commands from tsc's output.
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
});
