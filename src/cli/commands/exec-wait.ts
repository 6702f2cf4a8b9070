import type { Command } from 'commander';
import { containerDirectory, findContainer, waitDetachedExec } from '../../runtime/index.js';
import type { CliIo } from '../io.js';
import { addRootOption, storeFromOptions, type RootOption } from '../store-options.js';

/**
 * The hidden command `exec -d` leaves behind: it runs the detached process and tells its end
 * (exec_die) in the store's event log, as docker's daemon, which waits for every exec, does.
 */
export function registerExecWait(program: Command, _io: CliIo): void {
  addRootOption(
    program
      .command('exec-wait', { hidden: true })
      .argument('<container>', 'container ID')
      .argument('<runtime-args...>', "the runtime's arguments")
      .requiredOption('--exec-id <id>', "the exec's ID, as its exec_create and exec_start told it")
      .requiredOption('--bundle <dir>', "the exec's bundle, removed once the process ended"),
  ).action(async (id: string, args: string[], flags: RootOption & { execId: string; bundle: string }) => {
    const store = await storeFromOptions(flags);
    const record = await findContainer(store, id);
    await waitDetachedExec(store.root, record, flags.execId, flags.bundle, args, containerDirectory(store, record.id));
  });
}
