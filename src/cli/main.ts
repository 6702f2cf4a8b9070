import { constants as osConstants } from 'node:os';
import { Writable } from 'node:stream';
import { createProgram, runCli } from './program.js';
import { setStartup, type Startup } from './startup.js';
import { outputClosed } from './output-closed.js';

/**
 * The CLI as a process runs it, with its standard streams, for the commands registered before
 * (entry.ts registers them all, entry-run.ts and entry-build.ts one each); returns the exit status.
 */
export async function main(argv: readonly string[], loaded?: Startup): Promise<number> {
  if (loaded !== undefined) setStartup(loaded);
  const command: { status?: number } = {};
  // A reader that stops early (`tsbuild images | head -1`) is not an error of ours once the
  // command is done. Before that, the command ends as a Go program such as docker does, by
  // SIGPIPE (141), after a build has canceled its steps (the stream's later errors are the same
  // closed reader).
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error;
      if (command.status !== undefined) process.exit(command.status);
      if (!outputClosed()) process.exit(brokenPipeStatus);
    });
  }
  command.status = await runCli(argv, { stdout: process.stdout, stderr: process.stderr, isTty: process.stderr.isTTY === true });
  return command.status;
}

const brokenPipeStatus = 128 + osConstants.signals.SIGPIPE;

/**
 * Loads and sets up the module of every registered command without running any, so that the
 * bundle's code cache, made right after, holds the code every command runs at load.
 */
export async function loadEveryCommand(): Promise<void> {
  const ignore = new Writable({ write: (_chunk, _encoding, done) => done() });
  await createProgram({ stdout: ignore, stderr: ignore, isTty: false });
}
