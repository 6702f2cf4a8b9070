import type { Command } from 'commander';
import { familiarReference, parseReference } from '../../common/index.js';
import { findImage, noSuchImage, recordImageEvent, storeImage, storeName } from '../../store/index.js';
import type { CliIo } from '../io.js';
import { addRootOption, storeFromOptions, type RootOption } from '../store-options.js';

export function registerTag(program: Command, _io: CliIo): void {
  addRootOption(
    program
      .command('tag')
      .description('give an image in the store another name')
      .argument('<source>', 'image name, ID or digest')
      .argument('<target>', 'new name, e.g. registry:5000/app:1'),
  ).action(async (source: string, target: string, options: RootOption) => {
    const store = await storeFromOptions(options);
    const found = await findImage(store, source);
    if (found === undefined) throw noSuchImage(source);
    const name = storeName(target);
    await store.setReference(name, found.descriptor);
    const image = await storeImage(store, found.descriptor);
    await recordImageEvent(store.root, 'tag', { id: (await image.manifest()).config.digest, labels: (await image.config()).config?.Labels ?? null }, familiarReference(parseReference(name)));
  });
}
