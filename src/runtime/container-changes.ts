/**
 * `docker diff`, `export` and `commit` of a container: what its writable layer (the overlay's
 * upper directory, `<root>/containers/<id>/upper/`) holds over the image's unpacked layers.
 * The mount points tsbuild made in it (/etc/hosts and its kin, /proc, /dev, /sys, volume and
 * bind targets) are not the container's changes: docker keeps them in an init layer below the
 * container's, so they are left out here as well.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, type BigIntStats } from 'node:fs';
import { mkdir, readFile, rmdir } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { TsbuildError, MediaType, descriptorPlatform, errnoOf, fsPath, isOverlayOpaque, messageOf, readDirectoryNames, parseManifest, parseImageConfig, maxManifestBytes, maxImageConfigBytes, encodeFileName, uniqueHex, type ContainerConfig, type Descriptor, type Digest, type History, type ImageConfig, type Manifest } from '../common/index.js';
import { directoryEntries, tarStream, writeImage, writeLayer, type LayerEntry, type WrittenLayer } from '../exporter/index.js';
import type { Store } from '../store/index.js';
import { containerDirectory, currentOwner, type ContainerRecord } from './container.js';
import { findContainer, observeState } from './container-store.js';
import { pauseContainer, unpauseContainer } from './containers.js';
import { initLayerPaths } from './init-layer.js';
import { mountReadOnlyOverlay, unmount } from './native.js';
import { userNamespaceSize, type ContainerSpec } from './spec.js';

/** One line of `docker diff`: C (changed), A (added) or D (deleted). */
export interface ContainerChange {
  readonly kind: 'C' | 'A' | 'D';
  /** Absolute, as the container sees it; a name that is not UTF-8 keeps its bytes (common/file-names.ts). */
  readonly path: string;
}

/** Where the runtime mounts something in every container (spec.ts's defaults: /dev, and the init layer's mount points) and the rest of docker's init layer (init-layer.ts). */
const defaultMountPoints = ['/dev', ...initLayerPaths];

/** The mount points tsbuild made for the container: its spec's, its volumes' and binds', its devices'. */
async function mountPointsOf(store: Store, record: ContainerRecord): Promise<Set<string>> {
  const points = new Set(defaultMountPoints);
  const spec = await readFile(join(containerDirectory(store, record.id), 'spec.json'), 'utf8').then(
    (text) => JSON.parse(text) as ContainerSpec,
    () => undefined,
  );
  for (const mount of [...(spec?.mounts ?? []), ...(record.hostConfig?.mounts ?? [])]) points.add(posix.normalize(mount.destination));
  for (const device of [...(spec?.devices ?? []), ...(record.hostConfig?.devices ?? [])]) points.add(posix.normalize(device.path));
  return points;
}

function underAny(path: string, points: ReadonlySet<string>): boolean {
  for (let at = path; at !== '/' && at !== ''; at = posix.dirname(at)) if (points.has(at)) return true;
  return false;
}

/** lstat, or undefined when there is nothing at PATH. */
function lstatOrNone(path: string): BigIntStats | undefined {
  try {
    return lstatSync(fsPath(path), { bigint: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw error;
  }
}

/** moby's sameFsTime: equal, or the same second where one side has no finer part (a copy that kept seconds only). */
function sameFileTime(a: bigint, b: bigint): boolean {
  const second = 1_000_000_000n;
  return a === b || (a / second === b / second && (a % second === 0n || b % second === 0n));
}


/**
 * A descriptor of the directory at PATH, opened without following a link, when it is still the
 * directory lstat saw as SEEN; undefined when it is gone or something else by now. A running
 * container changes its upper directory while it is walked: one that swapped a directory for a
 * link to the host between the lstat and the listing had the walk list the host's directory
 * (its names shown as the container's changes, all of `/` walked for a link to it).
 */
function openWalkedDirectory(path: string, seen: BigIntStats): number | undefined {
  let descriptor: number;
  try {
    descriptor = openSync(fsPath(path), constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    if (['ENOENT', 'ENOTDIR', 'ELOOP'].includes(errnoOf(error) ?? '')) return undefined;
    throw error;
  }
  const opened = fstatSync(descriptor, { bigint: true });
  if (opened.ino !== seen.ino || opened.dev !== seen.dev) {
    closeSync(descriptor);
    return undefined;
  }
  return descriptor;
}

/**
 * moby's overlay changes (pkg/archive/changes.go `changes` with `overlayDeletedFile`): the upper
 * directory walked in lexical order; a whiteout (0/0 character device) or an opaque directory is
 * a deletion, an entry the image has is a change (a directory only when its size, mode or mtime
 * differs), any other an addition; the parent of an addition or deletion is shown changed once.
 * The image's side is followed only through real directories: no link leads out of the store;
 * the container's side, which a running container changes meanwhile, through descriptors of the
 * directories lstat saw (`openWalkedDirectory`), an entry gone since its listing left out.
 */
function overlayChanges(upper: string, lower: string | undefined, skipped: ReadonlySet<string>): ContainerChange[] {
  const changes: ContainerChange[] = [];
  const changedDirectories = new Set<string>();
  const walk = (upperDirectory: string, lowerDirectory: string | undefined, relative: string): void => {
    const names = readDirectoryNames(upperDirectory).sort((a, b) => Buffer.compare(encodeFileName(a), encodeFileName(b)));
    for (const name of names) {
      const path = `${relative}/${name}`;
      if (skipped.has(path)) continue;
      const upperPath = join(upperDirectory, name);
      let info: BigIntStats;
      try {
        info = lstatSync(fsPath(upperPath), { bigint: true });
      } catch (error) {
        // Removed by the running container since the listing: no change to show (moby logs and skips it).
        if (errnoOf(error) === 'ENOENT') continue;
        throw error;
      }
      const whiteout = info.isCharacterDevice() && info.rdev === 0n;
      let deleted: boolean;
      try {
        deleted = whiteout || (info.isDirectory() && isOverlayOpaque(upperPath));
      } catch (error) {
        if (errnoOf(error) === 'ENOENT') continue;
        throw error;
      }
      const lowerPath = lowerDirectory === undefined ? undefined : join(lowerDirectory, name);
      const old = lowerPath === undefined ? undefined : lstatOrNone(lowerPath);
      let kind: ContainerChange['kind'] | undefined = deleted ? 'D' : old === undefined ? 'A' : 'C';
      if (kind === 'C' && old !== undefined && old.isDirectory() && info.isDirectory() && old.size === info.size && old.mode === info.mode && sameFileTime(old.mtimeNs, info.mtimeNs)) kind = undefined;
      if (info.isDirectory() && kind !== undefined) changedDirectories.add(path);
      if (kind === 'A' || kind === 'D') {
        if (relative !== '' && !changedDirectories.has(relative)) {
          changes.push({ kind: 'C', path: relative });
          changedDirectories.add(relative);
        }
      }
      if (kind !== undefined) changes.push({ kind, path });
      if (info.isDirectory()) {
        const held = openWalkedDirectory(upperPath, info);
        if (held === undefined) continue;
        try {
          walk(`/proc/self/fd/${held}`, old?.isDirectory() === true ? lowerPath : undefined, path);
        } finally {
          closeSync(held);
        }
      }
    }
  };
  walk(upper, lower, '');
  return changes;
}

/**
 * The changes without the directories that only hold tsbuild's mount points: /etc changed
 * because /etc/hosts was made in it is no change of the container's.
 */
function withoutMountParents(changes: readonly ContainerChange[], points: ReadonlySet<string>): ContainerChange[] {
  const mountParents = new Set<string>();
  for (const point of points) for (let at = posix.dirname(point); at !== '/'; at = posix.dirname(at)) mountParents.add(at);
  return changes.filter((change) => !mountParents.has(change.path) || changes.some((other) => other.path.startsWith(`${change.path}/`)));
}

export interface ContainerLayer {
  readonly record: ContainerRecord;
  readonly upper: string;
  readonly lower: string;
  readonly mountPoints: ReadonlySet<string>;
}

/** The container NAME_OR_ID's writable layer and image root, as docker finds a container. */
export async function containerLayer(store: Store, nameOrId: string): Promise<ContainerLayer> {
  const record = await findContainer(store, nameOrId);
  const directory = containerDirectory(store, record.id);
  return { record, upper: join(directory, 'upper'), lower: record.lower ?? join(directory, 'empty'), mountPoints: await mountPointsOf(store, record) };
}

/** `docker diff`: the container's changes to the image's files, in path order. */
export async function containerChanges(store: Store, nameOrId: string): Promise<ContainerChange[]> {
  const layer = await containerLayer(store, nameOrId);
  if (lstatOrNone(layer.upper) === undefined) return [];
  const lower = lstatOrNone(layer.lower)?.isDirectory() === true ? layer.lower : undefined;
  return withoutMountParents(overlayChanges(layer.upper, lower, layer.mountPoints), layer.mountPoints);
}

/**
 * A read-only overlay of the container's layer over the image, held by an open descriptor only:
 * it is detached from the mount table at once, so that nothing is left mounted whichever way
 * this process ends (a reader of the tar that goes away ends it with EPIPE).
 */
async function openMerged(store: Store, layer: ContainerLayer): Promise<number> {
  const path = join(containerDirectory(store, layer.record.id), `export-${uniqueHex(8)}`);
  await mkdir(path, { mode: 0o700 });
  try {
    mountReadOnlyOverlay(path, [layer.upper, layer.lower], userNamespaceSize() !== undefined);
  } catch (error) {
    await rmdir(path).catch(() => undefined);
    throw new TsbuildError('RUNTIME', `export container ${layer.record.id}: mount its root: ${messageOf(error)}`, { cause: error });
  }
  let descriptor: number | undefined;
  try {
    descriptor = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY);
  } finally {
    // Busy (the descriptor holds it): detached, and gone once the descriptor is closed.
    unmount(path);
    await rmdir(path).catch(() => undefined);
  }
  return descriptor;
}

/**
 * `docker export`: the container's whole root filesystem (not its volumes) as an uncompressed
 * tar, running or not. Its root is mounted again read-only for the copy and let go at the end.
 */
export async function* exportContainer(store: Store, nameOrId: string): AsyncGenerator<Buffer> {
  const layer = await containerLayer(store, nameOrId);
  const descriptor = await openMerged(store, layer);
  try {
    // A running container may change files while they are read: each is checked as it is opened.
    yield* tarStream(directoryEntries(`/proc/self/fd/${descriptor}`, '', { changing: true }), { sourceDateEpoch: Number.MAX_SAFE_INTEGER });
  } finally {
    closeSync(descriptor);
  }
}

export interface CommitOptions {
  /** `-a`. */
  readonly author?: string;
  /** `-m`: the history entry's comment. */
  readonly comment?: string;
  /** `-p` (default true): a running container is frozen while its layer is read. */
  readonly pause?: boolean;
  /** What `-c` changes in the new image's config (the CLI applies the Dockerfile instructions). */
  readonly changeConfig?: (config: ContainerConfig) => ContainerConfig;
  /** The store's name for the image (`docker.io/library/app:latest`); unnamed when absent. */
  readonly reference?: string;
}

export interface CommittedImage {
  /** The image ID: its config's digest. */
  readonly id: Digest;
  readonly descriptor: Descriptor;
}

const ociLayerTypes: Readonly<Record<string, string>> = {
  [MediaType.dockerLayerGzip]: MediaType.ociLayerGzip,
  [MediaType.dockerLayer]: MediaType.ociLayer,
};

/** Environment names docker keeps out of a container's Config.Env (they are set for its process only). */
const processOnlyVariables = ['HOSTNAME', 'HOME'];

/**
 * The container's Config as docker keeps it (the image's merged with the run's at create), for
 * the committed image: docker's commit starts from it and applies the changes.
 */
async function containerConfigOf(store: Store, record: ContainerRecord, image: ContainerConfig | undefined): Promise<ContainerConfig> {
  const imageKeys = new Set((image?.Env ?? []).map((entry) => entry.split('=', 1)[0]));
  // Records written before configEnv kept the process's environment only: its own variables left out.
  const env =
    record.config.configEnv ??
    record.config.env.filter((entry) => {
      const key = entry.split('=', 1)[0] ?? '';
      return !processOnlyVariables.includes(key) || imageKeys.has(key);
    });
  // docker's create adds the published ports to the container's ExposedPorts, and `-v /path`
  // (an anonymous volume) to its Volumes.
  const ports: Record<string, Record<string, never>> = { ...(image?.ExposedPorts ?? {}) };
  for (const published of record.hostConfig?.publish ?? []) ports[`${published.containerPort}/${published.protocol}`] = {};
  const volumes: Record<string, Record<string, never>> = { ...(image?.Volumes ?? {}) };
  for (const mount of record.hostConfig?.mounts ?? []) {
    if (mount.source !== undefined && (await anonymousVolumeOf(store, mount.source))) volumes[mount.destination] = {};
  }
  return {
    ...(record.config.user === '' ? {} : { User: record.config.user }),
    ...(Object.keys(ports).length === 0 ? {} : { ExposedPorts: ports }),
    Env: env,
    Entrypoint: record.config.entrypoint === undefined || record.config.entrypoint.length === 0 ? null : [...record.config.entrypoint],
    Cmd: record.config.cmd === undefined ? null : [...record.config.cmd],
    ...(Object.keys(volumes).length === 0 ? {} : { Volumes: volumes }),
    WorkingDir: record.config.workingDir === '/' && (image?.WorkingDir ?? '') === '' ? '' : record.config.workingDir,
    Labels: { ...(record.config.labels ?? {}) },
    ...(record.config.stopSignal === undefined ? {} : { StopSignal: record.config.stopSignal }),
    ...(image?.Healthcheck === undefined ? {} : { Healthcheck: image.Healthcheck }),
    ...(image?.Shell === undefined ? {} : { Shell: image.Shell }),
    OnBuild: null,
  };
}

/** Whether SOURCE is the data of an anonymous volume of the store (`<root>/volumes/<name>/_data`). */
async function anonymousVolumeOf(store: Store, source: string): Promise<boolean> {
  const volumes = join(store.root, 'volumes');
  if (posix.dirname(posix.dirname(source)) !== volumes || posix.basename(source) !== '_data') return false;
  const record = await readFile(join(posix.dirname(source), 'volume.json'), 'utf8').then(
    (text) => JSON.parse(text) as { anonymous?: unknown },
    () => undefined,
  );
  return record?.anonymous === true;
}

/**
 * docker's `merge` (daemon/commit.go): what the changed config lacks comes from the container's;
 * environment variables, exposed ports, labels and volumes it does not name are added.
 */
export function mergeCommitConfig(changed: ContainerConfig, container: ContainerConfig): ContainerConfig {
  const changedKeys = new Set((changed.Env ?? []).map((entry) => entry.split('=', 1)[0]));
  const env = (changed.Env ?? []).length === 0 ? container.Env : [...(changed.Env ?? []), ...(container.Env ?? []).filter((entry) => !changedKeys.has(entry.split('=', 1)[0]))];
  const entrypointGiven = (changed.Entrypoint ?? []).length > 0;
  return {
    ...changed,
    ...((changed.User ?? '') === '' && container.User !== undefined ? { User: container.User } : {}),
    ...(changed.ExposedPorts === undefined && container.ExposedPorts === undefined ? {} : { ExposedPorts: { ...(container.ExposedPorts ?? {}), ...(changed.ExposedPorts ?? {}) } }),
    ...(env === undefined ? {} : { Env: env }),
    Labels: { ...(container.Labels ?? {}), ...(changed.Labels ?? {}) },
    ...(entrypointGiven
      ? {}
      : {
          Cmd: (changed.Cmd ?? []).length === 0 ? (container.Cmd ?? null) : (changed.Cmd ?? null),
          Entrypoint: changed.Entrypoint === null || changed.Entrypoint === undefined ? (container.Entrypoint ?? null) : changed.Entrypoint,
        }),
    ...((changed.WorkingDir ?? '') === '' && container.WorkingDir !== undefined ? { WorkingDir: container.WorkingDir } : {}),
    ...(changed.Volumes === undefined && container.Volumes === undefined ? {} : { Volumes: { ...(changed.Volumes ?? {}), ...(container.Volumes ?? {}) } }),
    ...((changed.StopSignal ?? '') === '' && container.StopSignal !== undefined ? { StopSignal: container.StopSignal } : {}),
  };
}

/** The image the container was made from: manifest and config, read from the store. */
export async function containerImage(store: Store, record: ContainerRecord): Promise<{ manifest: Manifest; config: ImageConfig }> {
  try {
    const manifest = parseManifest(await store.readBlob(record.image.manifest, maxManifestBytes));
    const config = parseImageConfig(await store.readBlob(manifest.config.digest, maxImageConfigBytes));
    return { manifest, config };
  } catch (error) {
    throw new TsbuildError('NOT_FOUND', `commit container ${record.name ?? record.id}: its image ${record.image.id} is no longer in the store: ${messageOf(error)}`, { cause: error });
  }
}

/** The container's layer as an OCI layer: whiteouts as `.wh.` entries, tsbuild's mount points left out. */
async function* layerEntries(layer: ContainerLayer, changes: readonly ContainerChange[]): AsyncGenerator<LayerEntry> {
  // Directories a change needs (its own path and its parents'): a directory that holds only
  // tsbuild's mount points is left out, one that holds a change too is kept.
  const needed = new Set<string>();
  for (const change of changes) for (let at = change.path; at !== '/'; at = posix.dirname(at)) needed.add(at);
  const mountParents = new Set<string>();
  for (const point of layer.mountPoints) for (let at = posix.dirname(point); at !== '/'; at = posix.dirname(at)) mountParents.add(at);
  for await (const entry of directoryEntries(layer.upper, '', { overlayUpper: true, changing: true })) {
    const base = posix.basename(entry.path);
    const hidden = base.startsWith('.wh.') && base !== '.wh..wh..opq' ? posix.join(posix.dirname(entry.path), base.slice(4)) : entry.path;
    const path = `/${hidden}`;
    if (underAny(path, layer.mountPoints)) continue;
    if (entry.type === 'directory' && mountParents.has(path) && !needed.has(path)) continue;
    yield entry;
  }
}

/**
 * `docker commit`: a new image of the container's image's layers and one more, the container's
 * changes; its config the container's with CHANGECONFIG applied (docker's merge), a history
 * entry for the layer. A running container is frozen while its layer is read (`pause`).
 */
export async function commitContainer(store: Store, nameOrId: string, options: CommitOptions = {}): Promise<CommittedImage> {
  const layer = await containerLayer(store, nameOrId);
  const { record } = layer;
  const image = await containerImage(store, record);
  const containerConfig = await containerConfigOf(store, record, image.config.config);
  const config = mergeCommitConfig(options.changeConfig?.(containerConfig) ?? containerConfig, containerConfig);
  const observed = await observeState(record);
  // As docker's commit, a container that cannot be frozen (no writable freezer: an ordinary
  // user on cgroup v1) is committed as it runs.
  const freeze =
    options.pause !== false &&
    observed.running &&
    observed.status !== 'paused' &&
    (await pauseContainer(store, record.id, { holder: await currentOwner() }).then(
      () => true,
      () => false,
    ));
  let written: WrittenLayer | undefined;
  try {
    const changes = lstatOrNone(layer.upper) === undefined ? [] : await containerChanges(store, record.id);
    const entries = layerEntries(layer, changes);
    const first = await entries.next();
    // As docker: no change, no layer (the history entry says empty_layer).
    if (first.done !== true) {
      written = await writeLayer(
        (async function* () {
          yield first.value;
          yield* entries;
        })(),
        store,
      );
    }
  } finally {
    if (freeze) await unpauseContainer(store, record.id);
  }
  const baseLayers = image.manifest.layers.map((descriptor, index) => ({
    descriptor: { ...descriptor, mediaType: ociLayerTypes[descriptor.mediaType] ?? descriptor.mediaType },
    diffId: image.config.rootfs.diff_ids[index] as Digest,
  }));
  const created = new Date().toISOString();
  const history: History = {
    created,
    created_by: (record.config.cmd ?? []).join(' '),
    ...(options.author === undefined || options.author === '' ? {} : { author: options.author }),
    ...(options.comment === undefined || options.comment === '' ? {} : { comment: options.comment }),
    ...(written === undefined ? { empty_layer: true } : {}),
  };
  const { config: _config, rootfs: _rootfs, history: baseHistory, created: _created, author: _author, ...platform } = image.config;
  const result = await writeImage(
    store,
    {
      layers: written === undefined ? baseLayers : [...baseLayers, written],
      platform: descriptorPlatform(platform),
      config,
      created,
      history: [...(baseHistory ?? []), history],
      // As docker's commit: the message is the history entry's comment only (import's is the config's too).
      ...(options.author === undefined || options.author === '' ? {} : { author: options.author }),
    },
    options.reference,
  );
  // As docker's commit without a REPOSITORY: the image stays, without a name, found by its ID.
  if (options.reference === undefined) await store.keepUnnamed(result.descriptor);
  return { id: result.configDescriptor.digest, descriptor: result.descriptor };
}
