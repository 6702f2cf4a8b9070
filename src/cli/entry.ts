// Every command: what `node dist/cli/bin.js` and the bundle dist/cli-bundle/cli.cjs run.
import './commands/index.js';

export { main, loadEveryCommand } from './main.js';
export { rehearseFrontEnd } from './front-end-rehearsal.js';
