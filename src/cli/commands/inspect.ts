import type { Command } from 'commander';
import { TsbuildError, hostPlatform, parsePlatform } from '../../common/index.js';
import { findImage, resolveImage } from '../../store/index.js';
import type { CliIo } from '../io.js';
import { addRootOption, storeFromOptions, type RootOption } from '../store-options.js';

export function registerInspect(program: Command, io: CliIo): void {
  addRootOption(
    program
      .command('inspect')
      .description('print the manifest and config of images as JSON')
      .argument('<images...>', 'image names, IDs or digests')
      .option('--platform <os/arch[/variant]>', 'platform inside a multi-platform image (default: this machine)'),
  ).action(async (images: string[], options: RootOption & { platform?: string }) => {
    const store = await storeFromOptions(options);
    const platform = options.platform === undefined ? hostPlatform() : parsePlatform(options.platform);
    const results: unknown[] = [];
    for (const image of images) {
      const found = await findImage(store, image);
      if (found === undefined) throw new TsbuildError('NOT_FOUND', `inspect image: no such image ${image}`);
      const resolved = await resolveImage(store, found.descriptor, platform);
      const names = (await store.listReferences()).filter((reference) => reference.target.digest === found.descriptor.digest).map((reference) => reference.name);
      results.push({
        Id: resolved.manifest.config.digest,
        RepoTags: names,
        Digest: found.descriptor.digest,
        Descriptor: resolved.descriptor,
        ...(resolved.index === undefined ? {} : { Index: resolved.index.index }),
        Manifest: resolved.manifest,
        Config: resolved.config,
      });
    }
    io.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  });
}
