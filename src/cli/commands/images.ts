import type { Command } from 'commander';
import { TsbuildError } from '../../common/index.js';
import { listImages } from '../../store/index.js';
import { dockerTable, formatBytes, formatCreatedSince } from '../format.js';
import type { CliIo } from '../io.js';
import { addRootOption, storeFromOptions, type RootOption } from '../store-options.js';
import { collect } from '../common-options.js';

export function registerImages(program: Command, io: CliIo): void {
  addRootOption(
    program
      .command('images')
      .description('list the images in the store')
      .argument('[repository[:tag]]', 'only images whose name matches (shell-style wildcards, as docker)')
      .option('--format <format>', 'table or json (one JSON object per line)', 'table')
      .option('-f, --filter <key=value>', 'reference=, label=, before=, since=, dangling= (repeatable)', collect, [])
      .option('--digests', 'show manifest digests')
      .option('--no-trunc', 'show image IDs whole')
      .option('-q, --quiet', 'print only image IDs'),
  ).action(async (pattern: string | undefined, options: RootOption & { format: string; quiet?: boolean; digests?: boolean; trunc: boolean; filter: string[] }) => {
    if (options.format !== 'table' && options.format !== 'json') throw new TsbuildError('INVALID_ARGUMENT', `list images: unknown format ${JSON.stringify(options.format)}`);
    const store = await storeFromOptions(options);
    const summaries = await listImages(store, { filters: options.filter, ...(pattern === undefined ? {} : { pattern }) });
    const shortId = (id: string): string => (options.trunc ? id.slice(7, 19) : id);
    if (options.quiet === true) {
      for (const summary of summaries) io.stdout.write(`${shortId(summary.id)}\n`);
      return;
    }
    if (options.format === 'json') {
      for (const summary of summaries) io.stdout.write(`${JSON.stringify(summary)}\n`);
      return;
    }
    const withDigest = options.digests === true;
    const header = ['REPOSITORY', 'TAG', ...(withDigest ? ['DIGEST'] : []), 'IMAGE ID', 'CREATED', 'SIZE'];
    const rows = [
      header,
      ...summaries.map((summary) => [
        summary.repository,
        summary.tag,
        ...(withDigest ? [summary.digest] : []),
        shortId(summary.id),
        formatCreatedSince(summary.created),
        formatBytes(summary.unpackedSize, 3, ''),
      ]),
    ];
    io.stdout.write(dockerTable(rows));
  });
}
