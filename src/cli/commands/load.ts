import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Command } from 'commander';
import { TsbuildError, familiarReference, parseReference } from '../../common/index.js';
import { loadArchive } from '../../exporter/index.js';
import type { CliIo } from '../io.js';
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
      throw new TsbuildError('INVALID_ARGUMENT', 'load images: standard input is a terminal; give -i FILE or redirect an archive into it');
    }
    const store = await storeFromOptions(options);
    const loaded = await loadArchive(store, input);
    for (const image of loaded) {
      if (image.name !== undefined) io.stdout.write(`Loaded image: ${familiarReference(parseReference(image.name))}\n`);
      else io.stdout.write(`Loaded image ID: ${image.descriptor.digest}\n`);
    }
  });
}
