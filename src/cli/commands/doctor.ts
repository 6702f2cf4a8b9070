import type { Command } from 'commander';
import { TsbuildError } from '../../common/index.js';
import { runDoctor } from '../../runtime/index.js';
import { ExitError, type CliIo } from '../io.js';

export function registerDoctor(program: Command, io: CliIo): void {
  program
    .command('doctor')
    .description('check what running containers (rootless included) needs on this machine, for this user')
    .option('--format <format>', 'text or json (one JSON object per check)', 'text')
    .action((options: { format: string }) => {
      if (options.format !== 'text' && options.format !== 'json') throw new TsbuildError('INVALID_ARGUMENT', `check the machine: unknown format ${JSON.stringify(options.format)}`);
      const checks = runDoctor();
      for (const check of checks) {
        if (options.format === 'json') io.stdout.write(`${JSON.stringify(check)}\n`);
        else io.stdout.write(`${check.status.toUpperCase().padEnd(4)} ${check.name}: ${check.detail}${check.fix === undefined ? '' : `\n     fix: ${check.fix}`}\n`);
      }
      // Warnings leave rootless mode usable (with less): only a failed check fails the command.
      if (checks.some((check) => check.status === 'fail')) throw new ExitError(1);
    });
}
