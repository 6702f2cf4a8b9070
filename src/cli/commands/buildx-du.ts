/**
 * `buildx du`: the build cache's records (each step's result, each cache mount), as buildx lists
 * BuildKit's: ID (`*` when mutable: a cache mount), RECLAIMABLE (not while a build runs), SIZE
 * (its own layer, with `*` when an image holds that layer too) and LAST ACCESSED, largest first,
 * then the totals; `--verbose` one block per record, `--format` buildx's fields or json. The
 * figures are `system df -v`'s; what tsbuild does not keep (BuildKit's usage count, parents,
 * descriptions) is left out rather than made up.
 */
import type { Command } from 'commander';
import { cacheUsage } from '../../cache/index.js';
import { TsbuildError } from '../../common/index.js';
import { cacheMountUsage } from '../../executor/index.js';
import { formatBytes, humanDuration } from '../format.js';
import { formatListTemplate, sortedKeys } from '../go-template.js';
import type { CliIo } from '../io.js';
import { addRootOption, storeFromOptions, type RootOption } from '../store-options.js';

const tableFormat = 'table {{.ID}}\t{{.Reclaimable}}\t{{.Size}}\t{{.LastUsedAt}}';
// buildx's pretty template, without the parents, description and usage count tsbuild keeps none of.
// The empty action at the end keeps the template's last newline from the trim every format gets:
// one record's block, then an empty line, as buildx prints them.
const prettyFormat = 'ID:           {{.ID}}\nCreated at:   {{.CreatedAt}}\nMutable:      {{.Mutable}}\nReclaimable:  {{.Reclaimable}}\nShared:       {{.Shared}}\nSize:         {{.Size}}\n{{- if .LastUsedAt}}\nLast used:    {{ .LastUsedAt }}\n{{- end }}\nType:         {{ .Type }}\n{{""}}';
const headers = { ID: 'ID', CreatedAt: 'CREATED AT', Mutable: 'MUTABLE', Reclaimable: 'RECLAIMABLE', Shared: 'SHARED', Size: 'SIZE', LastUsedAt: 'LAST ACCESSED', Type: 'TYPE' };

/** go-units' HumanSize: four significant digits. */
const size = (bytes: number): string => formatBytes(bytes, 4, '');

/** Go's time.Time String(): `2006-01-02 15:04:05.999999999 -0700 MST`, here in UTC. */
function goTime(iso: string | undefined): string {
  if (iso === undefined) return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  const [day, time = ''] = date.toISOString().replace(/Z$/, '').split('T');
  return `${day} ${time.replace(/\.?0+$/, '')} +0000 UTC`;
}

interface Entry {
  readonly id: string;
  readonly created: string | undefined;
  readonly mutable: boolean;
  readonly shared: boolean;
  readonly size: number;
  readonly lastUsed: number;
  readonly type: string;
}

/** Go's tabwriter with tab padding (minwidth 1, tabwidth 8, padding 1), as buildx's summary is written. */
function tabbed(rows: readonly (readonly [string, string])[]): string {
  const width = Math.ceil((Math.max(...rows.map(([label]) => label.length)) + 1) / 8) * 8;
  return rows.map(([label, value]) => `${label}${'\t'.repeat(width / 8 - Math.floor(label.length / 8))}${value}\n`).join('');
}

export function defineBuildxDu(buildx: Command, io: CliIo): void {
  addRootOption(
    buildx
      .command('du')
      .description('disk usage of the build cache: each record, then the totals (docker buildx du)')
      .option('--verbose', 'one block per record (--format=pretty)')
      .option('--format <format>', 'table, pretty, json (one object per line) or a Go template of ID, CreatedAt, Mutable, Reclaimable, Shared, Size, LastUsedAt, Type'),
  ).action(async (flags: RootOption & { verbose?: boolean; format?: string }) => {
    if (flags.verbose === true && flags.format !== undefined) throw new TsbuildError('INVALID_ARGUMENT', 'buildx du: --format and --verbose cannot be used together');
    const format = flags.format === undefined ? (flags.verbose === true ? prettyFormat : tableFormat) : flags.format === 'pretty' ? prettyFormat : flags.format === 'table' ? tableFormat : flags.format === 'json' ? '{{json .}}' : flags.format;
    const table = format.startsWith('table');
    const store = await storeFromOptions(flags);
    const [usage, mounts] = await Promise.all([cacheUsage(store), cacheMountUsage(store)]);
    const entries: Entry[] = [
      ...usage.records.map((record) => {
        // As BuildKit sizes a record: its own step's layer (the last of its manifest's) with its
        // manifest and config, shared when an image holds that layer too.
        const [manifest, config, ...layers] = record.blobs;
        const top = layers.at(-1);
        const own = [manifest, config, top].reduce((sum, digest) => sum + (digest === undefined ? 0 : (usage.blobSizes.get(digest) ?? 0)), 0);
        return { id: (record.key === '' ? record.id : record.key).replace(/^sha256:/, '').slice(0, 25), created: record.created, mutable: false, shared: top !== undefined && usage.imageBlobs.has(top), size: own, lastUsed: record.lastUsed, type: 'regular' };
      }),
      ...mounts.map((mount) => ({ id: mount.name.slice(0, 25), created: mount.created, mutable: true, shared: false, size: mount.size, lastUsed: mount.lastUsed, type: 'exec.cachemount' })),
    ].sort((a, b) => b.size - a.size || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    // While a build runs, it may be using any record.
    const reclaimable = usage.activeBuilds === 0;
    const now = Date.now();
    const rows = entries.map((entry) =>
      sortedKeys({
        ID: `${entry.id}${table && entry.mutable ? '*' : ''}`,
        CreatedAt: goTime(entry.created),
        Mutable: entry.mutable,
        Reclaimable: reclaimable,
        Shared: entry.shared,
        Size: `${size(entry.size)}${table && entry.shared ? '*' : ''}`,
        LastUsedAt: entry.lastUsed === 0 ? '' : `${humanDuration(now - entry.lastUsed)} ago`,
        Type: entry.type,
      }),
    );
    io.stdout.write(formatListTemplate(format, rows, headers));
    if (format !== tableFormat && format !== prettyFormat) return;
    const total = entries.reduce((sum, entry) => sum + entry.size, 0);
    const shared = entries.filter((entry) => entry.shared).reduce((sum, entry) => sum + entry.size, 0);
    io.stdout.write(
      tabbed([
        ...(shared > 0 ? ([['Shared:', size(shared)], ['Private:', size(total - shared)]] as const) : []),
        ['Reclaimable:', size(reclaimable ? total : 0)],
        ['Total:', size(total)],
      ]),
    );
  });
}
