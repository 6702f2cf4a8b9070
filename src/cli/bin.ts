import { setFlagsFromString } from 'node:v8';
import { main } from './main.js';

// undici's HTTP parser is WebAssembly, which V8 also recompiles with its optimizing compiler in
// background threads; a short command then waits about 0.1 s at exit for that compilation to
// finish. The baseline compiler's code parses headers and framing fast enough.
// (bin/tsbuild.js, which runs the bundle, sets the same flag.)
setFlagsFromString('--liftoff-only');

process.exitCode = await main(process.argv.slice(2));
