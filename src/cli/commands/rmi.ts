import type { Command } from 'commander';
import { TsbuildError, familiarReference, parseReference, type Digest } from '../../common/index.js';
import { findImage, pruneStore, reachableBlobs } from '../../store/index.js';
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
    const store = await storeFromOptions(options);
    const removedBlobs = new Set<Digest>();
    for (const image of images) {
      const found = await findImage(store, image);
      if (found === undefined) throw new TsbuildError('NOT_FOUND', `remove image: no such image ${image}`);
      const names = found.name !== undefined ? [found.name] : (await store.listReferences()).filter((reference) => reference.target.digest === found.descriptor.digest).map((reference) => reference.name);
      if (names.length > 1 && options.force !== true) {
        throw new TsbuildError('INVALID_ARGUMENT', `remove image ${image}: it has ${names.length} names (${names.map((name) => familiarReference(parseReference(name))).join(', ')}); use -f or name one`);
      }
      await reachableBlobs(store, found.descriptor, removedBlobs);
      for (const name of names) {
        if (await store.deleteReference(name)) io.stdout.write(`Untagged: ${familiarReference(parseReference(name))}\n`);
      }
    }
    // Only what the removed images used; blobs a pull elsewhere has not yet named are not ours to judge.
    const pruned = await pruneStore(store, { gracePeriodMs: 0, only: removedBlobs });
    for (const digest of pruned.blobsRemoved) io.stdout.write(`Deleted: ${digest}\n`);
  });
}
