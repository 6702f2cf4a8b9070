import { registerCommands } from '../program.js';

// Each command lives in its own file and registers itself here.
registerCommands();
