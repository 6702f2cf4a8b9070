import { runCli } from './index.js';

const status = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  isTty: process.stderr.isTTY === true,
});
process.exitCode = status;
