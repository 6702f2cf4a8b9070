import type { Command } from 'commander';
import { TsbuildError, familiarReference, parseReference } from '../../common/index.js';
import { resolveImage, type Store } from '../../store/index.js';
import { formatBytes, formatCreatedSince } from '../format.js';
import type { CliIo } from '../io.js';
import { addRootOption, storeFromOptions, type RootOption } from '../store-options.js';

export interface ImageSummary {
  readonly name: string;
  readonly repository: string;
  readonly tag: string;
  readonly digest: string;
  readonly id: string;
  readonly created: string;
  readonly size: number;
}

export async function imageSummaries(store: Store): Promise<ImageSummary[]> {
  const summaries: ImageSummary[] = [];
  for (const { name, target } of await store.listReferences()) {
    const reference = parseReference(name, { defaultTag: false });
    const repository = familiarReference({ domain: reference.domain, path: reference.path });
    let id = '';
    let created = '';
    let size = 0;
    try {
      const image = await resolveImage(store, target);
      id = image.manifest.config.digest;
      created = image.config.created ?? '';
      size = image.manifest.config.size + image.manifest.layers.reduce((total, layer) => total + layer.size, 0);
    } catch {
      // Listed anyway: `verify` says what is wrong with it.
    }
    summaries.push({ name, repository, tag: reference.tag ?? '<none>', digest: target.digest, id, created, size });
  }
  return summaries;
}


export function registerImages(program: Command, io: CliIo): void {
  addRootOption(
    program
      .command('images')
      .description('list the images in the store')
      .option('--format <format>', 'table or json (one JSON object per line)', 'table')
      .option('-q, --quiet', 'print only image IDs'),
  ).action(async (options: RootOption & { format: string; quiet?: boolean }) => {
    if (options.format !== 'table' && options.format !== 'json') throw new TsbuildError('INVALID_ARGUMENT', `list images: unknown format ${JSON.stringify(options.format)}`);
    const store = await storeFromOptions(options);
    const summaries = await imageSummaries(store);
    if (options.quiet === true) {
      for (const summary of summaries) io.stdout.write(`${summary.id.slice(7, 19)}\n`);
      return;
    }
    if (options.format === 'json') {
      for (const summary of summaries) io.stdout.write(`${JSON.stringify(summary)}\n`);
      return;
    }
    const rows = [['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE'], ...summaries.map((summary) => [summary.repository, summary.tag, summary.id.slice(7, 19), formatCreatedSince(summary.created), formatBytes(summary.size, 3, '')])];
    const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
    for (const row of rows) io.stdout.write(`${row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('   ').trimEnd()}\n`);
  });
}
