import type { Command } from 'commander';
import { verifyStore } from '../../store/index.js';
import { ExitError, type CliIo } from '../io.js';
import { addRootOption, storeFromOptions, type RootOption } from '../store-options.js';

export function registerVerify(program: Command, io: CliIo): void {
  addRootOption(
    program
      .command('verify')
      .description('rehash every blob and check that every image in the store is complete'),
  ).action(async (options: RootOption) => {
    const store = await storeFromOptions(options);
    const result = await verifyStore(store);
    for (const problem of result.problems) io.stderr.write(`${problem.subject}: ${problem.message}\n`);
    const unnamed = result.unnamed === 0 ? '' : `, ${result.unnamed} unnamed images`;
    io.stdout.write(`${result.blobs} blobs, ${result.references} references${unnamed}, ${result.problems.length} problems\n`);
    if (result.problems.length > 0) throw new ExitError(1);
  });
}
