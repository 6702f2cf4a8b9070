import type { Command } from 'commander';
import { runDoctor } from '../../runtime/index.js';
import { ExitError, type CliIo } from '../io.js';

export function registerDoctor(program: Command, io: CliIo): void {
  program
    .command('doctor')
    .description('check what running containers (rootless included) needs on this machine, for this user')
    .option('--format <FORMAT>', 'json for one object per check')
    .action((options: { format?: string }) => {
      const checks = runDoctor();
      for (const check of checks) {
        if (options.format === 'json') io.stdout.write(`${JSON.stringify(check)}\n`);
        else io.stdout.write(`${check.status.toUpperCase().padEnd(4)} ${check.name}: ${check.detail}${check.fix === undefined ? '' : `\n     fix: ${check.fix}`}\n`);
      }
      if (checks.some((check) => check.status === 'fail')) throw new ExitError(1);
    });
}
