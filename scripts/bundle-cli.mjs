// Bundles the compiled CLI into a few files (one per command, loaded on demand): resolving and
// loading some eighty small modules costs more start-up time than running a parse.
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
  // Dependencies stay in node_modules, loaded as installed.
  packages: 'external',
  logLevel: 'warning',
});
