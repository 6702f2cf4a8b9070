import { setFlagsFromString } from 'node:v8';
import { runCli } from './index.js';

// undici's HTTP parser is WebAssembly, which V8 also recompiles with its optimizing compiler in
// background threads; a short command then waits about 0.1 s at exit for that compilation to
// finish. The baseline compiler's code parses headers and framing fast enough.
setFlagsFromString('--liftoff-only');

// A reader that stops early (`tsbuild images | head -1`) is not an error of ours.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
    throw error;
  });
}

const status = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  isTty: process.stderr.isTTY === true,
});
process.exitCode = status;
