import { registerCommands } from './program.js';

/**
 * `tsbuild build` alone, bundled apart (dist/cli-bundle/build.cjs, see scripts/bundle-cli.mjs),
 * as entry-run.ts is for `run`. The loader is commands/index.ts's `build`.
 */
registerCommands({ build: async () => (await import('./commands/build.js')).registerBuild });

export { main, loadEveryCommand } from './main.js';
export { rehearseFrontEnd } from './front-end-rehearsal.js';
export { rehearseBuild } from './build-rehearsal.js';
