import type { Command } from 'commander';
import pLimit from 'p-limit';
import { TsbuildError } from '../../common/index.js';
import { findImage, layerContentSize, noSuchImage, resolveImage } from '../../store/index.js';
import { formatListTemplate, sortedKeys } from '../go-template.js';
import { dockerTable, formatBytes, formatCreatedSince, formatRfc3339 } from '../format.js';
import type { CliIo } from '../io.js';
import { addRootOption, storeFromOptions, type RootOption } from '../store-options.js';

/** One line of `docker history`, newest first, with the fields its templates name. */
interface HistoryRow {
  readonly id: string;
  /** Milliseconds since the epoch; 0 when the entry has no time (docker then says 1970). */
  readonly created: number;
  readonly createdBy: string;
  readonly size: number;
  readonly comment: string;
}

interface HistoryOptions extends RootOption {
  readonly human: string | boolean;
  readonly trunc: boolean;
  readonly quiet?: boolean;
  readonly format?: string;
}

/** docker's flag is a Go bool: `-H`, `--human=false`, `--human=0`. */
function humanFlag(value: string | boolean): boolean {
  if (typeof value === 'boolean') return value;
  if (['true', '1', 't', 'T', 'TRUE', 'True'].includes(value)) return true;
  if (['false', '0', 'f', 'F', 'FALSE', 'False'].includes(value)) return false;
  throw new TsbuildError('INVALID_ARGUMENT', `invalid argument "${value}" for "-H, --human" flag: strconv.ParseBool: parsing "${value}": invalid syntax`);
}

/** Go's Ellipsis of docker's formatter: at most WIDTH characters, the last one "…" when cut. */
function ellipsis(text: string, width: number): string {
  const characters = [...text];
  return characters.length <= width ? text : `${characters.slice(0, width - 1).join('')}…`;
}

/**
 * The image's history entries, newest first, as the docker daemon lists them: each entry that
 * made a layer is sized as docker sizes that layer (its content bytes); only the newest entry
 * has an ID (the image's), the others are `<missing>`, as for any image BuildKit built.
 */
async function historyRows(options: HistoryOptions, name: string): Promise<HistoryRow[]> {
  const store = await storeFromOptions(options);
  const found = await findImage(store, name);
  if (found === undefined) throw noSuchImage(name);
  const image = await resolveImage(store, found.descriptor);
  const history = image.config.history ?? [];
  const layers = image.manifest.layers;
  const limit = pLimit(4);
  const sizes = await Promise.all(layers.map((layer) => limit(() => layerContentSize(store, layer))));
  let layerIndex = 0;
  const rows = history.map((entry): Omit<HistoryRow, 'id'> => {
    let size = 0;
    if (entry.empty_layer !== true) {
      if (layerIndex >= layers.length) throw new TsbuildError('INVALID_ARGUMENT', `history ${name}: too many non-empty layers in History section`);
      size = sizes[layerIndex] ?? 0;
      layerIndex++;
    }
    const created = entry.created === undefined ? NaN : Date.parse(entry.created);
    return { created: Number.isNaN(created) ? 0 : created, createdBy: entry.created_by ?? '', size, comment: entry.comment ?? '' };
  });
  return rows.reverse().map((row, index) => ({ ...row, id: index === 0 ? image.manifest.config.digest : '<missing>' }));
}

/** The fields `--format` templates and `--format json` name, as docker's history formatter gives them. */
function templateFields(row: HistoryRow, human: boolean, truncate: boolean): Record<string, string> {
  const createdBy = row.createdBy.replace(/\t/g, ' ');
  return {
    ID: row.id === '<missing>' || !truncate ? row.id : row.id.replace(/^sha256:/, '').slice(0, 12),
    CreatedSince: human ? formatCreatedSince(new Date(row.created).toISOString()) : formatRfc3339(row.created),
    CreatedAt: formatRfc3339(row.created),
    CreatedBy: truncate ? ellipsis(createdBy, 45) : createdBy,
    Size: human ? formatBytes(row.size, 3, '') : String(row.size),
    Comment: row.comment,
  };
}

const defaultColumns: ReadonlyArray<readonly [header: string, humanHeader: string, field: string]> = [
  ['IMAGE', 'IMAGE', 'ID'],
  ['CREATED AT', 'CREATED', 'CreatedSince'],
  ['CREATED BY', 'CREATED BY', 'CreatedBy'],
  ['SIZE', 'SIZE', 'Size'],
  ['COMMENT', 'COMMENT', 'Comment'],
];

/** docker's header for a template field in a `table` format. */
const fieldHeaders: Readonly<Record<string, string>> = { ID: 'IMAGE', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', CreatedBy: 'CREATED BY', Size: 'SIZE', Comment: 'COMMENT' };

export function registerHistory(program: Command, io: CliIo): void {
  addRootOption(
    program
      .command('history')
      .description('show the history of an image: each step that made it, newest first, with the size of the layer it added')
      .argument('<image>', 'a name or image ID')
      .option('-H, --human [bool]', 'print sizes and dates in human-readable form', true)
      .option('--no-trunc', 'do not shorten IDs and commands')
      .option('-q, --quiet', 'print only image IDs')
      .option('--format <format>', 'table, json (one object per line), or a Go template such as {{.ID}}\\t{{.CreatedBy}}'),
  ).action(async (name: string, options: HistoryOptions) => {
    const human = humanFlag(options.human);
    const rows = await historyRows(options, name);
    const fields = rows.map((row) => templateFields(row, human, options.trunc));
    if (options.quiet === true) {
      for (const row of fields) io.stdout.write(`${row['ID'] ?? ''}\n`);
      return;
    }
    const format = options.format ?? 'table';
    if (format === 'json') {
      for (const row of fields) io.stdout.write(`${JSON.stringify(sortedKeys(row))}\n`);
      return;
    }
    if (format !== 'table') {
      io.stdout.write(formatListTemplate(format, fields.map(sortedKeys), fieldHeaders, '*image.historyContext'));
      return;
    }
    const columns = defaultColumns.map(([header, humanHeader, field]) => [human ? humanHeader : header, field] as const);
    // Without --human, docker's default table still heads the time column CREATED AT and shows the time itself.
    io.stdout.write(dockerTable([columns.map(([header]) => header), ...fields.map((row) => columns.map(([, field]) => row[field] ?? ''))]));
  });
}
