import type { Command } from 'commander';
import { TsbuildError, familiarReference, formatReference, parsePlatform, parseReference, type ImageReference } from '../../common/index.js';
import { push } from '../../registry/index.js';
import { pushableImage } from '../../exporter/index.js';
import { recordEvent } from '../../store/index.js';
import { ExitError, type CliIo } from '../io.js';
import { addRootOption, storeFromOptions } from '../store-options.js';
import { addInsecureRegistryOption, baselineWasmCompilerOnly, registryClient } from './registry-options.js';
import { TransferProgress } from './transfer-progress.js';

export function registerPush(program: Command, io: CliIo): void {
  const command = program
    .command('push')
    .description('upload an image from the store to a registry')
    .argument('<image>', 'image in the store, e.g. registry:5000/app:1')
    .argument('[destinations...]', 'references to push the image to instead (more tags or repositories)')
    .option('--platform <os/arch[/variant]>', 'push only this platform of a multi-platform image')
    .option('-a, --all-tags', 'push every tag of the repository in the store')
    .option('-q, --quiet', 'print only the digest');
  addRootOption(addInsecureRegistryOption(command)).action(async (image: string, destinations: string[], options: { platform?: string; quiet?: boolean; allTags?: boolean; root?: string; insecureRegistry: string[] }) => {
    baselineWasmCompilerOnly();
    const source = parseReference(image);
    const given = parseReference(image, { defaultTag: false });
    if (options.allTags === true && (given.tag !== undefined || given.digest !== undefined || destinations.length > 0)) {
      throw new TsbuildError('INVALID_ARGUMENT', `push ${image}: --all-tags takes a repository, without a tag, a digest or destinations`);
    }
    const targets = destinations.length === 0 ? [source] : destinations.map((entry) => parseReference(entry));
    const client = registryClient(options);
    for (const domain of new Set(targets.map((target) => target.domain))) client.registry(domain).connectAhead();
    try {
      const store = await storeFromOptions(options);
      // With --all-tags, each tag of the repository in the store is pushed to itself, in turn.
      const jobs: Array<{ readonly source: ImageReference; readonly destinations: readonly ImageReference[] }> = [];
      if (options.allTags === true) {
        for (const { name } of await store.listReferences()) {
          const stored = parseReference(name, { defaultTag: false });
          if (stored.domain === source.domain && stored.path === source.path && stored.tag !== undefined && stored.digest === undefined) jobs.push({ source: stored, destinations: [stored] });
        }
        if (jobs.length === 0) throw new TsbuildError('NOT_FOUND', `push ${image}: no tagged image of ${formatReference({ domain: source.domain, path: source.path })} in the store`);
      } else jobs.push({ source, destinations: targets });
      for (const job of jobs) {
        // docker's push writes its progress on standard output.
        const progress = new TransferProgress(io, 'push', options.quiet === true, 'stdout');
        const stored = await store.resolveReference(formatReference(job.source));
        // docker's words for a name the store does not have, which its daemon says in the push's stream.
        if (stored === undefined) {
          io.stderr.write(`An image does not exist locally with the tag: ${familiarReference({ domain: job.source.domain, path: job.source.path })}\n`);
          throw new ExitError(1);
        }
        // docker's push (an image to its own name) says which repository first and names the tag alone at the end.
        const dockerForm = job.destinations.length === 1 && job.destinations.every((destination) => formatReference(destination) === formatReference(job.source));
        if (dockerForm && options.quiet !== true) io.stdout.write(`The push refers to repository [${formatReference({ domain: job.source.domain, path: job.source.path })}]\n`);
        const document = stored === undefined ? undefined : await pushableImage(store, stored);
        const result = await push({
          source: job.source,
          ...(document === undefined ? {} : { document }),
          destinations: job.destinations,
          store,
          client,
          onProgress: progress.listener,
          ...(options.platform === undefined ? {} : { platform: parsePlatform(options.platform) }),
        });
        progress.finish();
        for (const destination of job.destinations) await recordEvent(store.root, 'image', 'push', familiarReference(destination), { name: familiarReference({ domain: destination.domain, path: destination.path }) });
        if (options.quiet === true) io.stdout.write(`${result.digest}\n`);
        else for (const reference of result.references) io.stdout.write(`${dockerForm ? (job.source.tag ?? reference) : reference}: digest: ${result.digest} size: ${result.size}\n`);
      }
    } finally {
      await client.close();
    }
  });
}
