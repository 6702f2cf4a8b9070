import { registerCommands } from './program.js';

/**
 * A container's monitor alone, bundled apart (dist/cli-bundle/container-monitor.cjs, see
 * scripts/bundle-cli.mjs), as entry-run.ts is for `run`: every detached container keeps one
 * monitor process for its whole life, and the whole CLI's code would cost each of them start-up
 * time and memory. The loader is commands/index.ts's `container-monitor`.
 */
registerCommands({ 'container-monitor': async () => (await import('./commands/container-monitor.js')).registerContainerMonitor });

export { main, loadEveryCommand } from './main.js';
