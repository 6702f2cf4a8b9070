import type { Command } from 'commander';
import { adviseHeapHugePages, familiarReference, parsePlatform, parseReference } from '../../common/index.js';
import { pull } from '../../registry/index.js';
import type { CliIo } from '../io.js';
import { addRootOption, storeFromOptions } from '../store-options.js';
import { addInsecureRegistryOption, registryClient } from './registry-options.js';
import { TransferProgress } from './transfer-progress.js';

export function registerPull(program: Command, io: CliIo): void {
  const command = program
    .command('pull')
    .description('download an image from a registry into the store')
    .argument('<image>', 'image reference, e.g. busybox or registry:5000/app:1')
    .option('--platform <os/arch[/variant]>', 'platform to select from a multi-platform image (default: this machine)')
    .option('-q, --quiet', 'print only the image reference');
  addRootOption(addInsecureRegistryOption(command)).action(async (image: string, options: { platform?: string; quiet?: boolean; root?: string; insecureRegistry: string[] }) => {
    // Every read of a layer is a fresh buffer: huge pages spare a page fault per 4 KiB of it.
    adviseHeapHugePages();
    const reference = parseReference(image);
    // Only an explicit --platform refuses a single-platform image of another platform, as docker does.
    const platform = options.platform === undefined ? undefined : parsePlatform(options.platform);
    const client = registryClient(options);
    client.registry(reference.domain).connectAhead();
    const progress = new TransferProgress(io, 'pull', options.quiet === true);
    try {
      // Opened while the manifest is fetched.
      const store = storeFromOptions(options);
      if (options.quiet !== true) {
        // docker's words, and its choice of stdout for them.
        if (parseReference(image, { defaultTag: false }).tag === undefined && reference.digest === undefined) io.stdout.write('Using default tag: latest\n');
        io.stderr.write(`${reference.tag ?? reference.digest ?? 'latest'}: Pulling from ${reference.path}\n`);
      }
      const result = await pull({ reference, store, client, onProgress: progress.listener, ...(platform === undefined ? {} : { platform }) });
      progress.finish();
      if (options.quiet !== true) {
        io.stdout.write(`Digest: ${result.digest}\n`);
        // As docker: a tag that now names another image (or is new here) is a newer image, even
        // when every blob was already in the store.
        const newer = result.referenceUpdated || result.blobsFetched > 0;
        io.stdout.write(`Status: ${newer ? 'Downloaded newer image' : 'Image is up to date'} for ${familiarReference(reference)}\n`);
      }
      io.stdout.write(`${result.reference}\n`);
    } finally {
      await client.close();
    }
  });
}
