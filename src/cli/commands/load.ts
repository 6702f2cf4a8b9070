import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Command } from 'commander';
import { familiarReference, parseReference, type Descriptor } from '../../common/index.js';
import { loadArchive } from '../../exporter/index.js';
import { recordImagesOnce, resolveImage } from '../../store/index.js';
import { ClientError, type CliIo } from '../io.js';
import { addRootOption, storeFromOptions, type RootOption } from '../store-options.js';

export function registerLoad(program: Command, io: CliIo, stdin: () => Readable = () => process.stdin): void {
  addRootOption(
    program
      .command('load')
      .description('load images from a tar archive (docker-archive or OCI layout, detected)')
      .option('-i, --input <file>', 'read from FILE instead of standard input')
      .option('-q, --quiet', 'print only image references'),
  ).action(async (options: RootOption & { input?: string; quiet?: boolean }) => {
    const input = options.input === undefined ? stdin() : createReadStream(options.input);
    // As docker: nobody types a tar archive; waiting for one would look like a hang.
    if ((input as { isTTY?: boolean }).isTTY === true) {
      throw new ClientError('requested load from stdin, but stdin is empty');
    }
    const store = await storeFromOptions(options);
    const loaded = await loadArchive(store, input);
    // docker's image ID: the config's digest (an index whose platform is not the host's has none).
    const idOf = (descriptor: Descriptor): Promise<string> =>
      resolveImage(store, descriptor).then(
        (resolved) => resolved.manifest.config.digest,
        () => descriptor.digest,
      );
    // docker's daemon tells each image loaded once, by its ID (the names it takes are no tag events).
    await recordImagesOnce(store, 'load', loaded.map((image) => image.descriptor));
    for (const image of loaded) {
      if (image.name === undefined) {
        io.stdout.write(`Loaded image ID: ${await idOf(image.descriptor)}\n`);
        continue;
      }
      const familiar = familiarReference(parseReference(image.name));
      // As docker: the image the name leaves stays, as <none>:<none> when nothing else names it.
      if (image.replaced !== undefined) io.stdout.write(`The image ${familiar} already exists, renaming the old one with ID ${await idOf(image.replaced)} to empty string\n`);
      io.stdout.write(`Loaded image: ${familiar}\n`);
    }
  });
}
