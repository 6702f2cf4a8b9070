import './commands/index.js';

export { runCli, createProgram } from './program.js';
export type { CliIo } from './io.js';
