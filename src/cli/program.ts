import { Command, CommanderError } from 'commander';
import { isTsbuildError } from '../common/index.js';
import { ExitError, type CliIo } from './io.js';
import { packageVersion } from './version.js';

export type CommandRegistrar = (program: Command, io: CliIo) => void;

const registrars: CommandRegistrar[] = [];

/** Commands add themselves here from src/cli/commands/index.ts. */
export function registerCommands(...more: CommandRegistrar[]): void {
  registrars.push(...more);
}

export function createProgram(io: CliIo): Command {
  const program = new Command('tsbuild')
    .description('build, push and run OCI images from Dockerfiles, without a daemon')
    .version(packageVersion(), '-v, --version', 'print the version')
    .showSuggestionAfterError()
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    });
  for (const register of registrars) register(program, io);
  return program;
}

/** Runs the CLI and returns its exit status; never exits the process itself. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const program = createProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof ExitError) return error.exitCode;
    if (error instanceof CommanderError) return error.exitCode;
    if (isTsbuildError(error)) {
      io.stderr.write(`error: ${error.message}\n`);
      return 1;
    }
    io.stderr.write(`internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return 70;
  }
}
