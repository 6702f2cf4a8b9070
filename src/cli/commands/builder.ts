/**
 * `tsbuild builder prune` and `tsbuild system df`: the build cache's garbage collection, in
 * docker's words and table.
 */
import type { Command } from 'commander';
import { otherBuildsRunning, pruneBuildCache, type PruneCacheOptions } from '../../cache/index.js';
import { cacheMountUsage, removeCacheMounts } from '../../executor/index.js';
import { listContainerRecords, pruneContainers, pruneNetworks, pruneVolumes } from '../../runtime/index.js';
import { pruneImages, pruneStore, type Store } from '../../store/index.js';
import { TsbuildError, familiarReference, parseByteSize, parseGoDuration, parseReference, type Digest } from '../../common/index.js';
import { formatBytes } from '../format.js';
import { ExitError, type CliIo } from '../io.js';
import { registerInfo } from './system-info.js';
import { defineEvents } from './events.js';
import { defineDf } from './system-df.js';
import { runInUserNamespace } from '../rootless.js';
import { addRootOption, storeFromOptions, type RootOption } from '../store-options.js';
import { delegateCommand } from '../program.js';
import { collect } from '../common-options.js';
import { answeredYes, confirmationQuestion, confirmRemoval } from '../prompt.js';

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


export function registerBuilder(program: Command, io: CliIo): void {
  const builder = program.command('builder').description('manage the build cache');
  delegateCommand(builder, io, 'build', [], 'build');
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
    const pruned = await pruneCacheAndMounts(store, options, await containersManifests(store));
    if (pruned.deleted.length > 0) io.stdout.write(`Deleted build cache objects:\n${pruned.deleted.map((id) => `${id}\n`).join('')}\n`);
    io.stdout.write(`Total reclaimed space: ${formatBytes(pruned.bytesFreed, 4, '')}\n`);
    if (pruned.deferred) io.stderr.write(deferredBlobsMessage);
  });
}

/** The manifests of the store's containers' images, which no prune takes from under them. */
async function containersManifests(store: Store): Promise<Digest[]> {
  return (await listContainerRecords(store)).map((record) => record.image.manifest);
}

const deferredBlobsMessage = 'another build is running: the records are removed, their blobs are collected by a later prune\n';

/**
 * The build cache's prune, for `builder prune` and `system prune`: the records OPTIONS choose,
 * sparing the manifests containers run (INUSE: their blobs stay while only records hold them), and with
 * `all` the cache mounts (those unused for the filter's time), never while a build may have one
 * mounted. DELETED holds docker's short record IDs, then the mounts' names.
 */
async function pruneCacheAndMounts(store: Store, options: PruneCacheOptions, inUse: readonly Digest[]): Promise<{ deleted: string[]; bytesFreed: number; deferred: boolean }> {
  const result = await pruneBuildCache(store, { ...options, inUse });
  const mounts =
    options.all === true && (await otherBuildsRunning(store)) === 0
      ? (await cacheMountUsage(store)).filter((mount) => options.olderThanMs === undefined || Date.now() - mount.lastUsed > (options.olderThanMs ?? 0))
      : [];
  await removeCacheMounts(store, mounts.map((mount) => mount.name));
  return {
    deleted: [...result.removed.map((record) => record.id.slice(7, 32)), ...mounts.map((mount) => mount.name)],
    bytesFreed: result.bytesFreed + mounts.reduce((sum, mount) => sum + mount.size, 0),
    deferred: result.deferred,
  };
}

export function registerSystem(program: Command, io: CliIo): void {
  // `system df -v` is docker's verbose flag, which the program's own -v (--version) would take
  // wherever it stands: with `system` named, program options count only before it.
  program.enablePositionalOptions();
  const system = program.command('system').description('the store as a whole');
  registerInfo(system, io);
  defineEvents(system, io);
  addRootOption(
    system
      .command('prune')
      .description('remove stopped containers, unused networks, dangling images, unused build cache and blobs no image uses (with -a every image no container uses, with --volumes unused anonymous volumes)')
      .option('-a, --all', 'every image without a container, and all build cache')
      .option('--volumes', 'anonymous volumes no container uses too')
      .option('--filter <filter>', "until=DURATION: only build cache unused for longer (as builder prune's)", collect, [])
      .option('-f, --force', 'do not ask for confirmation'),
  ).action(async (flags: PruneFlags & { volumes?: boolean }) => {
    // As an ordinary user, volumes and containers hold files of the containers' users.
    const inner = await runInUserNamespace(flags.root);
    if (inner !== undefined) throw new ExitError(inner);
    const cacheOptions = pruneOptions(flags);
    if (flags.force !== true) {
      const what = [
        'all stopped containers',
        'all networks not used by at least one container',
        ...(flags.volumes === true ? ['all anonymous volumes not used by at least one container'] : []),
        flags.all === true ? 'all images without at least one container associated to them' : 'all dangling images',
        flags.all === true ? 'all build cache' : 'unused build cache',
      ];
      io.stdout.write(`WARNING! This will remove:\n${what.map((line) => `  - ${line}\n`).join('')}\nAre you sure you want to continue? [y/N] `);
      // As builder prune: no terminal, no one to answer.
      if (process.stdin.isTTY !== true) {
        io.stdout.write('\nstandard input is not a terminal: nothing removed (use -f)\n');
        return;
      }
      if (!(await answeredYes())) return;
    }
    const store = await storeFromOptions(flags);
    let freed = 0;
    const containers = await pruneContainers(store);
    freed += containers.bytesFreed;
    if (containers.removed.length > 0) io.stdout.write(`Deleted Containers:\n${containers.removed.map((id) => `${id}\n`).join('')}\n`);
    const networks = await pruneNetworks(store);
    if (networks.length > 0) io.stdout.write(`Deleted Networks:\n${networks.map((name) => `${name}\n`).join('')}\n`);
    if (flags.volumes === true) {
      const volumes = await pruneVolumes(store, { all: false });
      freed += volumes.bytesFreed;
      if (volumes.removed.length > 0) io.stdout.write(`Deleted Volumes:\n${volumes.removed.map((name) => `${name}\n`).join('')}\n`);
    }
    // What the remaining containers run stays, their images' names and blobs with it.
    const inUse = await containersManifests(store);
    // Images without a name (with -a every image) that no container uses, as docker's image prune.
    const images = await pruneImages(store, { ...(flags.all === true ? { all: true } : {}), inUse });
    freed += images.bytesFreed;
    const imageLines = [...images.untagged.map((name) => `untagged: ${familiarReference(parseReference(name))}`), ...images.deleted.map((digest) => `deleted: ${digest}`)];
    const cache = await pruneCacheAndMounts(store, cacheOptions, inUse);
    freed += cache.bytesFreed;
    // Blobs and unpacked layers no image reaches any more, young ones spared: a pull or build may be about to name them.
    const blobs = await pruneStore(store);
    freed += blobs.bytesFreed;
    imageLines.push(...blobs.blobsRemoved.map((digest) => `deleted: ${digest}`));
    if (imageLines.length > 0) io.stdout.write(`Deleted Images:\n${imageLines.map((line) => `${line}\n`).join('')}\n`);
    if (cache.deleted.length > 0) io.stdout.write(`Deleted build cache objects:\n${cache.deleted.map((id) => `${id}\n`).join('')}\n`);
    io.stdout.write(`Total reclaimed space: ${formatBytes(freed, 4, '')}\n`);
    if (cache.deferred) io.stderr.write(deferredBlobsMessage);
  });
  defineDf(system, io);
}
