import type { Command } from 'commander';
import { TsbuildError } from '../../common/index.js';
import { runDoctor, type DoctorCheck } from '../../runtime/index.js';
import { ExitError, type CliIo } from '../io.js';
import { startup } from '../startup.js';

export function registerDoctor(program: Command, io: CliIo): void {
  program
    .command('doctor')
    .description('check what running containers (rootless included) needs on this machine, for this user')
    .option('--format <format>', 'text or json (one JSON object per check)', 'text')
    .action((options: { format: string }) => {
      if (options.format !== 'text' && options.format !== 'json') throw new TsbuildError('INVALID_ARGUMENT', `check the machine: unknown format ${JSON.stringify(options.format)}`);
      const checks = [codeCacheCheck(), ...runDoctor()];
      for (const check of checks) {
        if (options.format === 'json') io.stdout.write(`${JSON.stringify(check)}\n`);
        else io.stdout.write(`${check.status.toUpperCase().padEnd(4)} ${check.name}: ${check.detail}${check.fix === undefined ? '' : `\n     fix: ${check.fix}`}\n`);
      }
      // Warnings leave rootless mode usable (with less): only a failed check fails the command.
      if (checks.some((check) => check.status === 'fail')) throw new ExitError(1);
    });
}

/** Whether this start used the bundle's code cache: without it every command starts slower. */
function codeCacheCheck(): DoctorCheck {
  const state = startup().codeCache;
  const name = 'code cache';
  if (state === 'accepted') return { name, status: 'ok', detail: 'the bundled CLI started from its V8 code cache' };
  if (state === 'not bundled') return { name, status: 'ok', detail: "not used: the CLI runs from tsc's output, not from the bundle" };
  const detail =
    state === 'refused'
      ? 'refused by this Node (made by another Node or with other V8 flags): the CLI compiles at every start'
      : state === 'stale'
        ? 'older than the bundle, so not used: the CLI compiles at every start'
        : 'missing: the CLI compiles at every start';
  return { name, status: 'warn', detail, fix: 'npm run build, with the Node that runs tsbuild' };
}
