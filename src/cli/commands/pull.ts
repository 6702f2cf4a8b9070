import type { Command } from 'commander';
import { TsbuildError, familiarReference, formatReference, parsePlatform, parseReference, withTag, type ImageReference } from '../../common/index.js';
import { listTags, pull } from '../../registry/index.js';
import { recordEvent } from '../../store/index.js';
import type { CliIo } from '../io.js';
import { addRootOption, storeFromOptions } from '../store-options.js';
import { defaultPlatform } from '../common-options.js';
import { addInsecureRegistryOption, baselineWasmCompilerOnly, registryClient } from './registry-options.js';
import { TransferProgress, afterPullingFrom } from './transfer-progress.js';

export function registerPull(program: Command, io: CliIo): void {
  const command = program
    .command('pull')
    .description('download an image from a registry into the store')
    .argument('<image>', 'image reference, e.g. busybox or registry:5000/app:1')
    .option('--platform <os/arch[/variant]>', 'platform to select from a multi-platform image (default: this machine)')
    .option('-a, --all-tags', 'download every tagged image of the repository')
    .option('-q, --quiet', 'print only the image reference');
  addRootOption(addInsecureRegistryOption(command)).action(async (image: string, options: { platform?: string; quiet?: boolean; allTags?: boolean; root?: string; insecureRegistry: string[] }) => {
    baselineWasmCompilerOnly();
    const reference = parseReference(image);
    // Only an explicit --platform (or DOCKER_DEFAULT_PLATFORM) refuses a single-platform image of
    // another platform, as docker does.
    const given = options.platform ?? defaultPlatform();
    const platform = given === undefined ? undefined : parsePlatform(given);
    const client = registryClient(options);
    client.registry(reference.domain).connectAhead();
    try {
      // Opened while the manifest is fetched.
      const store = storeFromOptions(options);
      // Its failure is reported where it is awaited; a run that never gets there has none.
      store.catch(() => undefined);
      const given = parseReference(image, { defaultTag: false });
      // What is pulled, and the name the status lines give it: one reference, or with
      // --all-tags every tag of the repository.
      let targets: ImageReference[];
      let named: ImageReference;
      if (options.allTags === true) {
        if (given.tag !== undefined || given.digest !== undefined) throw new TsbuildError('INVALID_ARGUMENT', `pull ${image}: a tag or digest cannot be used with --all-tags`);
        const repository = { domain: reference.domain, path: reference.path };
        named = repository;
        const tags = await listTags(client.registry(reference.domain), repository);
        if (tags.length === 0) throw new TsbuildError('NOT_FOUND', `pull ${formatReference(repository)}: the repository has no tags`);
        targets = tags.map((tag) => withTag(repository, tag));
      } else {
        // docker's words, and its choice of stdout for them.
        if (options.quiet !== true && given.tag === undefined && given.digest === undefined) io.stdout.write('Using default tag: latest\n');
        named = reference;
        targets = [reference];
      }
      // As docker: a tag that now names another image (or is new here) is a newer image, even
      // when every blob was already in the store.
      let newer = false;
      for (const target of targets) {
        // docker's pull writes its progress on standard output.
        const progress = new TransferProgress(io, 'pull', options.quiet === true, 'stdout');
        const say = (text: string): void => void (options.quiet === true ? undefined : io.stdout.write(text));
        const result = await pull({ reference: target, store, client, onProgress: afterPullingFrom(target, say, progress.listener), ...(platform === undefined ? {} : { platform }) });
        progress.finish();
        await recordEvent((await store).root, 'image', 'pull', familiarReference(target), { name: familiarReference({ domain: target.domain, path: target.path }) });
        if (options.quiet !== true) io.stdout.write(`Digest: ${result.digest}\n`);
        newer ||= result.referenceUpdated || result.blobsFetched > 0;
      }
      if (options.quiet !== true) io.stdout.write(`Status: ${newer ? 'Downloaded newer image' : 'Image is up to date'} for ${familiarReference(named)}\n`);
      io.stdout.write(`${formatReference(named)}\n`);
    } finally {
      await client.close();
    }
  });
}
