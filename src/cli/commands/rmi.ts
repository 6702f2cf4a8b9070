import type { Command } from 'commander';
import { familiarReference, isTsbuildError, parseReference } from '../../common/index.js';
import { recordEvent, removeImages } from '../../store/index.js';
import { ExitError, daemonError, type CliIo } from '../io.js';
import { addRootOption, storeFromOptions, type RootOption } from '../store-options.js';

export function registerRmi(program: Command, io: CliIo): void {
  addRootOption(
    program
      .command('rmi')
      .description('remove images from the store (names; blobs no other image uses are freed)')
      .argument('<images...>', 'image names, IDs or digests')
      .option('-f, --force', 'remove every name of an image given by ID, and the names of an image a container uses (the image stays, without a name)'),
  ).action(async (images: string[], options: RootOption & { force?: boolean }) => {
    const store = await storeFromOptions(options);
    // Loaded here only: the runtime's modules are not every image command's to pay for.
    const { listContainerRecords } = await import('../../runtime/index.js');
    const inUse = (await listContainerRecords(store)).map((record) => ({ manifest: record.image.manifest, container: record.id }));
    // As docker's CLI: one removal per image given, each reported as it goes; the failures said
    // at the end, and the command fails if any did.
    const failures: string[] = [];
    for (const image of images) {
      let removed;
      try {
        removed = await removeImages(store, [image], { ...(options.force === true ? { force: true } : {}), inUse });
      } catch (error) {
        if (!isTsbuildError(error)) throw error;
        failures.push(error.message);
        continue;
      }
      for (const name of removed.untagged) io.stdout.write(`Untagged: ${familiarReference(parseReference(name))}\n`);
      for (const digest of removed.deleted) io.stdout.write(`Deleted: ${digest}\n`);
      // docker's events name the image by its ID, in its name attribute too.
      for (const id of removed.untaggedIds) await recordEvent(store.root, 'image', 'untag', id, { name: id });
      for (const id of removed.deletedImages) await recordEvent(store.root, 'image', 'delete', id, { name: id });
      // docker's CLI with -f: an image not found is said on stderr, and is no failure.
      for (const message of removed.missing) io.stderr.write(daemonError(message));
    }
    for (const message of failures) io.stderr.write(daemonError(message));
    if (failures.length > 0) throw new ExitError(1);
  });
}
