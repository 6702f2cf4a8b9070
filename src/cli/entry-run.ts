import { registerCommands } from './program.js';

/**
 * `tsbuild run` alone, bundled apart (dist/cli-bundle/run.cjs, see scripts/bundle-cli.mjs): the
 * shortest way to a container compiles and evaluates only its own code at start, not every
 * command's. The loader is commands/index.ts's `run`.
 */
registerCommands({ run: async () => (await import('./commands/run.js')).registerRun });

export { main, loadEveryCommand } from './main.js';
export { rehearseRun } from './run-rehearsal.js';
