// Bundles the compiled CLI and its dependencies into a few files (one per command, loaded on
// demand): resolving and loading hundreds of small modules costs more start-up time than a parse
// or a push whose blobs the registry already has.
import { build } from 'esbuild';

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
  logLevel: 'warning',
});
