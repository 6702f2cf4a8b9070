import type { Command } from 'commander';
import { superviseContainer } from '../../runtime/index.js';
import type { CliIo } from '../io.js';
import { addRootOption, storeFromOptions, type RootOption } from '../store-options.js';

/**
 * The hidden command a container's monitor runs as (started by `start` and `run -d`). It lives
 * apart from the container commands so that the monitor's own bundle (src/cli/entry-monitor.ts)
 * holds the supervisor alone: a monitor stays for the container's whole life, one per container.
 */
export function registerContainerMonitor(program: Command, _io: CliIo): void {
  addRootOption(
    program
      .command('container-monitor', { hidden: true })
      .argument('<id>', 'container ID')
      // `run` in the foreground: its first start waits for `run` to attach (at most this many ms).
      .option('--wait-attach <ms>', 'wait for the first client of the attach socket before the first start'),
  ).action(async (id: string, flags: RootOption & { waitAttach?: string }) => {
    const store = await storeFromOptions(flags);
    await superviseContainer(store, id, flags.waitAttach === undefined ? {} : { waitForClient: Number(flags.waitAttach) });
  });
}
