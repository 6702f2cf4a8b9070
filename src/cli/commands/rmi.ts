import type { Command } from 'commander';
import { familiarReference, parseReference } from '../../common/index.js';
import { removeImages } from '../../store/index.js';
import type { CliIo } from '../io.js';
import { addRootOption, storeFromOptions, type RootOption } from '../store-options.js';

export function registerRmi(program: Command, io: CliIo): void {
  addRootOption(
    program
      .command('rmi')
      .description('remove images from the store (names; blobs no other image uses are freed)')
      .argument('<images...>', 'image names, IDs or digests')
      .option('-f, --force', 'remove every name of an image given by ID'),
  ).action(async (images: string[], options: RootOption & { force?: boolean }) => {
    const removed = await removeImages(await storeFromOptions(options), images, options.force === true ? { force: true } : {});
    for (const name of removed.untagged) io.stdout.write(`Untagged: ${familiarReference(parseReference(name))}\n`);
    for (const digest of removed.deleted) io.stdout.write(`Deleted: ${digest}\n`);
  });
}
