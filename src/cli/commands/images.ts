import type { Command } from 'commander';
import { listImages, type ImageSummary } from '../../store/index.js';
import { dockerTable, formatBytes, formatCreatedSince, formatGoTime } from '../format.js';
import { formatListTemplate } from '../go-template.js';
import type { CliIo } from '../io.js';
import { listFormat } from '../docker-config.js';
import { addRootOption, storeFromOptions, type RootOption } from '../store-options.js';
import { collectFilter } from '../common-options.js';

interface ImagesOptions extends RootOption {
  format?: string;
  quiet?: boolean;
  digests?: boolean;
  trunc: boolean;
  filter: string[];
  all?: boolean;
}

/** A row's fields under docker's template names (`{{.Repository}}`, `{{.ID}}`, …). */
function templateFields(summary: ImageSummary, truncate: boolean, digests: boolean): Record<string, string> {
  return {
    Containers: 'N/A',
    CreatedAt: summary.created === '' ? '' : formatGoTime(Date.parse(summary.created)),
    CreatedSince: formatCreatedSince(summary.created),
    // docker's formatter drops the digests unless --digests asks for them.
    Digest: digests ? summary.digest : '<none>',
    ID: truncate ? summary.id.slice(7, 19) : summary.id,
    Repository: summary.repository,
    SharedSize: 'N/A',
    Size: formatBytes(summary.unpackedSize, 3, ''),
    Tag: summary.tag,
    UniqueSize: 'N/A',
    // units.HumanSize: four significant digits, where Size has three.
    VirtualSize: formatBytes(summary.unpackedSize, 4, ''),
  };
}

/** docker's header for a template field in a `table` format. */
const fieldHeaders: Readonly<Record<string, string>> = { ID: 'IMAGE ID', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', Repository: 'REPOSITORY', Tag: 'TAG', Digest: 'DIGEST', Size: 'SIZE', Containers: 'CONTAINERS', SharedSize: 'SHARED SIZE', UniqueSize: 'UNIQUE SIZE', VirtualSize: 'VIRTUAL SIZE' };

export function registerImages(program: Command, io: CliIo): void {
  addRootOption(
    program
      .command('images')
      .description('list the images in the store (those without a name as <none>)')
      .argument('[repository[:tag]]', 'only images whose name matches (shell-style wildcards, as docker)')
      .option('--format <format>', 'table, json (one JSON object per line) or a Go template such as {{.Repository}}:{{.Tag}}; imagesFormat of docker\'s config.json by default')
      .option('-f, --filter <key=value>', 'reference=, label=, before=, since=, dangling= (repeatable)', collectFilter, [])
      .option('-a, --all', "docker's flag for intermediate images: there are none, every image is listed anyway")
      .option('--digests', 'show manifest digests')
      .option('--no-trunc', 'show image IDs whole')
      .option('-q, --quiet', 'print only image IDs'),
  ).action(async (pattern: string | undefined, options: ImagesOptions) => {
    const store = await storeFromOptions(options);
    const summaries = await listImages(store, { filters: options.filter, ...(pattern === undefined ? {} : { pattern }) });
    const shortId = (id: string): string => (options.trunc ? id.slice(7, 19) : id);
    if (options.quiet === true) {
      for (const summary of summaries) io.stdout.write(`${shortId(summary.id)}\n`);
      return;
    }
    const given = await listFormat(options.format, 'imagesFormat');
    if (given !== 'table') {
      // docker's `json` is `{{json .}}` of its row.
      const format = given === 'json' ? '{{json .}}' : given;
      io.stdout.write(formatListTemplate(format, summaries.map((summary) => templateFields(summary, options.trunc, options.digests === true)), fieldHeaders, '*formatter.imageContext'));
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
