/**
 * `tsbuild builder prune` and `tsbuild system df`: the build cache's garbage collection, in
 * docker's words and table.
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { cacheUsage, otherBuildsRunning, parseByteSize, pruneBuildCache, type PruneCacheOptions } from '../../cache/index.js';
import { cacheMountUsage, removeCacheMounts } from '../../executor/index.js';
import { containerDirectory, listContainerRecords, listVolumes, observeState } from '../../runtime/index.js';
import { TsbuildError, parseGoDuration, treeSize } from '../../common/index.js';
import { dockerTable, formatBytes, formatCreatedSince, humanDuration } from '../format.js';
import type { CliIo } from '../io.js';
import { addRootOption, storeFromOptions, type RootOption } from '../store-options.js';
import { collect } from '../common-options.js';
import { confirmationQuestion, confirmRemoval } from '../prompt.js';

interface PruneFlags extends RootOption {
  all?: boolean;
  keepStorage?: string;
  filter: string[];
  force?: boolean;
}

function pruneOptions(flags: PruneFlags): PruneCacheOptions {
  let olderThanMs: number | undefined;
  for (const filter of flags.filter) {
    const eq = filter.indexOf('=');
    const name = filter.slice(0, eq);
    if (eq < 0 || (name !== 'until' && name !== 'unused-for')) throw new TsbuildError('INVALID_ARGUMENT', `builder prune --filter ${JSON.stringify(filter)}: the filters are until=DURATION (and its older name unused-for)`);
    const nanoseconds = parseGoDuration(filter.slice(eq + 1));
    if (typeof nanoseconds === 'string' || nanoseconds < 0) throw new TsbuildError('INVALID_ARGUMENT', `builder prune --filter ${filter}: invalid duration`);
    olderThanMs = nanoseconds / 1e6;
  }
  return {
    ...(flags.all === true ? { all: true } : {}),
    ...(olderThanMs === undefined ? {} : { olderThanMs }),
    ...(flags.keepStorage === undefined ? {} : { keepBytes: parseByteSize(flags.keepStorage) }),
  };
}

async function confirm(io: CliIo, what: string): Promise<boolean> {
  // A script or CI job has no one to answer: it says -f, rather than hang on its standard input
  // (docker reads it; a build's cache is worth more than a wait for EOF).
  if (process.stdin.isTTY !== true) {
    io.stdout.write(`${confirmationQuestion(what)}\nstandard input is not a terminal: nothing removed (use -f)\n`);
    return false;
  }
  return confirmRemoval(io, what);
}


function percent(part: number, whole: number): string {
  return whole === 0 ? '0%' : `${Math.round((part / whole) * 100)}%`;
}

export function registerBuilder(program: Command, io: CliIo): void {
  const builder = program.command('builder').description('manage the build cache');
  addRootOption(
    builder
      .command('prune')
      .description('remove build cache (by default what no image uses)')
      .option('-a, --all', 'remove every record, not only those no image uses')
      .option('--keep-storage <size>', 'then remove least recently used records until the cache holds at most SIZE (e.g. 512MB, 10GB)')
      .option('--filter <filter>', 'until=DURATION: only records unused for longer than DURATION (e.g. 24h)', collect, [])
      .option('-f, --force', 'do not ask for confirmation'),
  ).action(async (flags: PruneFlags) => {
    const options = pruneOptions(flags);
    if (flags.force !== true) {
      const what = flags.all === true ? 'all build cache' : 'all dangling build cache';
      if (!(await confirm(io, what))) return;
    }
    const store = await storeFromOptions(flags);
    // Containers' images are in use: their blobs stay while only records hold them.
    const inUse = (await listContainerRecords(store)).map((record) => record.image.manifest);
    const result = await pruneBuildCache(store, { ...options, inUse });
    // Cache mounts go with --all (those unused for the --filter's time), never while a build may have one mounted.
    const mounts =
      flags.all === true && (await otherBuildsRunning(store)) === 0
        ? (await cacheMountUsage(store)).filter((mount) => options.olderThanMs === undefined || Date.now() - mount.lastUsed > (options.olderThanMs ?? 0))
        : [];
    await removeCacheMounts(store, mounts.map((mount) => mount.name));
    const deleted = [...result.removed.map((record) => record.id.slice(7, 32)), ...mounts.map((mount) => mount.name)];
    if (deleted.length > 0) io.stdout.write(`Deleted build cache objects:\n${deleted.map((id) => `${id}\n`).join('')}\n`);
    io.stdout.write(`Total reclaimed space: ${formatBytes(result.bytesFreed + mounts.reduce((sum, mount) => sum + mount.size, 0), 4, '')}\n`);
    if (result.deferred) io.stderr.write('another build is running: the records are removed, their blobs are collected by a later prune\n');
  });
}

export function registerSystem(program: Command, io: CliIo): void {
  // `system df -v` is docker's verbose flag, which the program's own -v (--version) would take
  // wherever it stands: with `system` named, program options count only before it.
  program.enablePositionalOptions();
  const system = program.command('system').description('the store as a whole');
  addRootOption(system.command('df').description('show disk usage').option('-v, --verbose', 'list every image and cache record')).action(async (flags: RootOption & { verbose?: boolean }) => {
    const store = await storeFromOptions(flags);
    const usage = await cacheUsage(store);
    const mounts = await cacheMountUsage(store);
    const now = Date.now();
    const cacheSize = usage.size + mounts.reduce((sum, mount) => sum + mount.size, 0);
    const cacheCount = usage.records.length + mounts.length;
    // Containers by their writable layer, volumes by their files; in use: running, mounted.
    const containers = await Promise.all(
      (await listContainerRecords(store)).map(async (record) => ({ running: (await observeState(record)).running, size: await treeSize(join(containerDirectory(store, record.id), 'upper')) })),
    );
    const volumes = await Promise.all((await listVolumes(store)).map(async (volume) => ({ used: volume.usedBy.length > 0, size: await treeSize(volume.Mountpoint) })));
    const usageRow = (type: string, items: readonly { active: boolean; size: number }[]): string[] => {
      const size = items.reduce((sum, item) => sum + item.size, 0);
      const reclaimable = items.filter((item) => !item.active).reduce((sum, item) => sum + item.size, 0);
      return [type, String(items.length), String(items.filter((item) => item.active).length), formatBytes(size, 4, ''), `${formatBytes(reclaimable, 4, '')} (${percent(reclaimable, size)})`];
    };
    const rows = [
      ['TYPE', 'TOTAL', 'ACTIVE', 'SIZE', 'RECLAIMABLE'],
      ['Images', String(usage.images.count), '0', formatBytes(usage.images.size, 4, ''), `${formatBytes(usage.images.size, 4, '')} (${percent(usage.images.size, usage.images.size)})`],
      usageRow('Containers', containers.map((container) => ({ active: container.running, size: container.size }))),
      usageRow('Local Volumes', volumes.map((volume) => ({ active: volume.used, size: volume.size }))),
      ['Build Cache', String(cacheCount), String(usage.activeBuilds > 0 ? cacheCount : 0), formatBytes(cacheSize, 4, ''), formatBytes(usage.activeBuilds > 0 ? 0 : cacheSize, 4, '')],
    ];
    io.stdout.write(dockerTable(rows));
    if (flags.verbose === true) {
      io.stdout.write('\nBuild cache usage: ' + formatBytes(cacheSize, 4, '') + '\n\n');
      const records = [...usage.records].sort((a, b) => b.lastUsed - a.lastUsed);
      io.stdout.write(
        dockerTable([
          ['CACHE ID', 'CACHE TYPE', 'SIZE', 'CREATED', 'LAST USED', 'SHARED'],
          ...records.map((record) => [
            record.id.slice(7, 19),
            record.broken ? 'broken' : 'regular',
            formatBytes(record.size, 4, ''),
            record.created === undefined ? 'N/A' : formatCreatedSince(record.created, now),
            record.lastUsed === 0 ? 'N/A' : `${humanDuration(now - record.lastUsed)} ago`,
            String(record.shared),
          ]),
          ...mounts.map((mount) => [
            mount.name.slice(0, 25),
            'exec.cachemount',
            formatBytes(mount.size, 4, ''),
            mount.created === undefined ? 'N/A' : formatCreatedSince(mount.created, now),
            mount.lastUsed === 0 ? 'N/A' : `${humanDuration(now - mount.lastUsed)} ago`,
            'false',
          ]),
        ]),
      );
    }
  });
}
