import type { Command } from 'commander';
import { adviseHeapHugePages, parsePlatform, parseReference } from '../../common/index.js';
import { push } from '../../registry/index.js';
import type { CliIo } from '../io.js';
import { addRootOption, storeFromOptions } from '../store-options.js';
import { addInsecureRegistryOption, registryClient } from './registry-options.js';
import { TransferProgress } from './transfer-progress.js';

export function registerPush(program: Command, io: CliIo): void {
  const command = program
    .command('push')
    .description('upload an image from the store to a registry')
    .argument('<image>', 'image in the store, e.g. registry:5000/app:1')
    .argument('[destinations...]', 'references to push the image to instead (more tags or repositories)')
    .option('--platform <os/arch[/variant]>', 'push only this platform of a multi-platform image')
    .option('-q, --quiet', 'print only the digest');
  addRootOption(addInsecureRegistryOption(command)).action(async (image: string, destinations: string[], options: { platform?: string; quiet?: boolean; root?: string; insecureRegistry: string[] }) => {
    // Every read of a layer is a fresh buffer: huge pages spare a page fault per 4 KiB of it.
    adviseHeapHugePages();
    const source = parseReference(image);
    const targets = destinations.length === 0 ? [source] : destinations.map((entry) => parseReference(entry));
    const client = registryClient(options);
    for (const domain of new Set(targets.map((target) => target.domain))) client.registry(domain).connectAhead();
    const progress = new TransferProgress(io, 'push', options.quiet === true);
    try {
      const store = await storeFromOptions(options);
      const result = await push({
        source,
        destinations: targets,
        store,
        client,
        onProgress: progress.listener,
        ...(options.platform === undefined ? {} : { platform: parsePlatform(options.platform) }),
      });
      progress.finish();
      if (options.quiet === true) {
        io.stdout.write(`${result.digest}\n`);
        return;
      }
      for (const reference of result.references) io.stdout.write(`${reference}: digest: ${result.digest} size: ${result.size}\n`);
    } finally {
      await client.close();
    }
  });
}
