import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { TsbuildError, hostPlatform, parsePlatform } from '../../common/index.js';
import { saveArchive, type SaveImage } from '../../exporter/index.js';
import { findImage, noSuchImage, recordImagesOnce, temporaryName } from '../../store/index.js';
import { ClientError, type CliIo } from '../io.js';
import { addRootOption, storeFromOptions, type RootOption } from '../store-options.js';

export function registerSave(program: Command, io: CliIo): void {
  addRootOption(
    program
      .command('save')
      .description('write images to a tar archive (docker-archive for `docker load`, or an OCI layout)')
      .argument('<images...>', 'image names, IDs or digests')
      .option('-o, --output <file>', 'write to FILE instead of standard output')
      .option('--format <format>', 'docker or oci', 'docker')
      .option('--platform <os/arch[/variant]>', 'platform inside a multi-platform image, for the docker format'),
  ).action(async (images: string[], options: RootOption & { output?: string; format: string; platform?: string }) => {
    if (options.format !== 'docker' && options.format !== 'oci') throw new TsbuildError('INVALID_ARGUMENT', `save images: unknown format ${JSON.stringify(options.format)} (docker or oci)`);
    // As docker: a tar archive is no use on a screen, and can upset the terminal.
    if (options.output === undefined && (io.stdout as { isTTY?: boolean }).isTTY === true) {
      throw new ClientError('cowardly refusing to save to a terminal. Use the -o flag or redirect');
    }
    const store = await storeFromOptions(options);
    const selected: SaveImage[] = [];
    for (const image of images) {
      const found = await findImage(store, image);
      if (found === undefined) throw noSuchImage(image);
      selected.push(found);
    }
    const platform = options.platform === undefined ? hostPlatform() : parsePlatform(options.platform);
    const archive = await saveArchive(store, selected, { format: options.format, platform });
    // docker's daemon tells each image saved once, by its ID, once the archive is written.
    const told = (): Promise<void> => recordImagesOnce(store, 'save', selected.map((image) => image.descriptor), platform);
    if (options.output === undefined) {
      await pipeline(archive, io.stdout);
      await told();
      return;
    }
    // A reader of FILE sees the old archive or the complete new one.
    const temporary = join(dirname(options.output), temporaryName(`.${basename(options.output)}`));
    try {
      const handle = await open(temporary, 'wx', 0o644);
      try {
        for await (const chunk of archive) await handle.write(chunk as Buffer);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temporary, options.output);
      await told();
    } catch (error) {
      await unlink(temporary).catch(() => undefined);
      throw error;
    }
  });
}
