import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createHasher, digestHex, familiarReference, isIndexMediaType, MediaType, messageOf, nodeZlib, parseBoundedJson, parseDigest, parseImageConfig, parseIndex, parseReference, readTar, refNameAnnotation, TsbuildError, type Descriptor, type Digest, type Platform } from '../common/index.js';
import { decompressStream, reachableBlobs, storeImage, storeName, temporaryName, writeAll, type ImageLayer, type LayoutStore } from '../store/index.js';
import { compressLayer, sourceDateEpochFromEnv, tarStream, type LayerEntry, type OpenedContent } from './layer.js';

export type ArchiveFormat = 'docker' | 'oci';

export interface SaveImage {
  /** Full name (`docker.io/library/busybox:latest`), or undefined for an image saved by digest. */
  readonly name?: string;
  readonly descriptor: Descriptor;
}

export interface SaveOptions {
  readonly format: ArchiveFormat;
  readonly platform?: Platform;
}

/** Name used by containerd and docker for the full image name in an OCI layout's index. */
const containerdNameAnnotation = 'io.containerd.image.name';

function directory(path: string, mtime: number): LayerEntry {
  return { path, type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime };
}

function json(path: string, value: unknown, mtime: number): LayerEntry {
  const bytes = Buffer.from(`${JSON.stringify(value)}\n`, 'utf8');
  return { path, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime, size: bytes.length, content: () => bytes };
}

/** Entries of an OCI image layout holding IMAGES and everything they reach. */
async function ociEntries(store: LayoutStore, images: readonly SaveImage[], mtime: number): Promise<LayerEntry[]> {
  const blobs = new Set<Digest>();
  for (const image of images) await reachableBlobs(store, image.descriptor, blobs);
  const manifests = images.map((image) => {
    const { annotations, ...rest } = image.descriptor;
    if (image.name === undefined) return image.descriptor;
    return { ...rest, annotations: { ...annotations, [containerdNameAnnotation]: image.name, [refNameAnnotation]: image.name } };
  });
  const entries: LayerEntry[] = [directory('blobs', mtime), directory('blobs/sha256', mtime)];
  for (const digest of [...blobs].sort()) {
    const size = (await store.blobSize(digest)) ?? 0;
    entries.push({ path: `blobs/sha256/${digestHex(digest)}`, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime, size, content: () => lazy(() => store.openBlob(digest)) });
  }
  entries.push(json('index.json', { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests }, mtime));
  entries.push(json('oci-layout', { imageLayoutVersion: '1.0.0' }, mtime));
  return entries;
}

async function* lazy(open: () => Promise<AsyncIterable<Uint8Array>>): AsyncGenerator<Uint8Array> {
  yield* await open();
}

/**
 * A layer as the uncompressed tar a docker archive holds. The tar header needs its size before
 * its content, and a compressed layer does not say it: the layer is decompressed once into a
 * temporary file of the store (counted on the way, and checked against its diff ID, which names
 * it in the archive), which is then copied out and removed. One layer at a time, when its
 * entry's turn comes. gzip and zstd layers alike (told by their magic bytes); an uncompressed
 * one is copied the same way, which is rare enough.
 */
async function openUncompressedLayer(store: LayoutStore, layer: ImageLayer): Promise<OpenedContent> {
  const path = join(store.temporaryDirectory, temporaryName('save-layer'));
  const close = (): Promise<void> => rm(path, { force: true });
  try {
    let size = 0;
    const handle = await open(path, 'wx', 0o600);
    try {
      for await (const chunk of layer.uncompressed()) {
        size += chunk.length;
        await writeAll(handle, chunk);
      }
    } finally {
      await handle.close();
    }
    return { size, content: createReadStream(path, { highWaterMark: 1024 * 1024 }), close };
  } catch (error) {
    await close();
    if (error instanceof TsbuildError) throw error;
    throw new TsbuildError('INTERNAL', `save layer ${layer.digest()}: ${messageOf(error)}`, { cause: error });
  }
}

/** Entries of a docker-archive (`docker save` format): config, uncompressed layer tars, manifest.json, repositories. */
async function dockerEntries(store: LayoutStore, images: readonly SaveImage[], platform: Platform | undefined, mtime: number): Promise<LayerEntry[]> {
  const files = new Map<string, LayerEntry>();
  const manifest: Array<{ Config: string; RepoTags: string[]; Layers: string[] }> = [];
  const repositories: Record<string, Record<string, string>> = {};
  for (const image of images) {
    const model = await storeImage(store, image.descriptor, platform);
    const configBytes = await model.configBytes();
    const diffIds = (await model.config()).rootfs.diff_ids;
    const configPath = `blobs/sha256/${digestHex((await model.manifest()).config.digest)}`;
    files.set(configPath, { path: configPath, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime, size: configBytes.length, content: () => configBytes });
    const layers: string[] = [];
    for (const layer of await model.layers()) {
      const path = `blobs/sha256/${digestHex(layer.diffID())}`;
      layers.push(path);
      if (files.has(path)) continue;
      files.set(path, { path, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime, open: () => openUncompressedLayer(store, layer) });
    }
    const tags: string[] = [];
    if (image.name !== undefined) {
      const reference = parseReference(image.name);
      if (reference.tag !== undefined && reference.digest === undefined) {
        tags.push(familiarReference(reference));
        const repository = familiarReference({ domain: reference.domain, path: reference.path });
        const top = diffIds.at(-1);
        repositories[repository] = { ...repositories[repository], [reference.tag]: top === undefined ? '' : digestHex(top) };
      }
    }
    // As docker save: one entry per image, holding every tag it was asked for under.
    const same = manifest.find((entry) => entry.Config === configPath && entry.Layers.join('\n') === layers.join('\n'));
    if (same === undefined) manifest.push({ Config: configPath, RepoTags: tags, Layers: layers });
    else for (const tag of tags) if (!same.RepoTags.includes(tag)) same.RepoTags.push(tag);
  }
  const sorted = [...files.values()].sort((a, b) => (a.path < b.path ? -1 : 1));
  return [directory('blobs', mtime), directory('blobs/sha256', mtime), ...sorted, json('manifest.json', manifest, mtime), json('repositories', repositories, mtime)];
}

/**
 * The bytes of an archive of IMAGES: an OCI image layout as a tar, or a docker-archive that
 * `docker load` and skopeo's `docker-archive:` read. Streamed; blobs are read from the store as
 * they are written out. Deterministic: same images, same bytes.
 */
export async function saveArchive(store: LayoutStore, images: readonly SaveImage[], options: SaveOptions): Promise<Readable> {
  if (images.length === 0) throw new TsbuildError('INVALID_ARGUMENT', 'save images: no image given');
  const mtime = sourceDateEpochFromEnv() ?? 0;
  const entries = options.format === 'oci' ? await ociEntries(store, images, mtime) : await dockerEntries(store, images, options.platform, mtime);
  return Readable.from(tarStream(entries, { sourceDateEpoch: mtime }));
}

/**
 * The OCI layout of IMAGES as a directory at DEST (`type=oci,tar=false`): the same files the
 * archive holds, written in place. Each file is written under a temporary name and renamed, so
 * a layout left by a failed write never holds a torn blob under a digest's name.
 */
export async function saveLayoutDirectory(store: LayoutStore, images: readonly SaveImage[], dest: string): Promise<void> {
  if (images.length === 0) throw new TsbuildError('INVALID_ARGUMENT', 'save images: no image given');
  await mkdir(dest, { recursive: true });
  for (const entry of await ociEntries(store, images, sourceDateEpochFromEnv() ?? 0)) {
    const path = join(dest, ...entry.path.split('/'));
    if (entry.type === 'directory') {
      await mkdir(path, { recursive: true });
      continue;
    }
    const content = entry.content?.();
    const temporary = `${path}.${temporaryName('part')}`;
    try {
      await pipeline(content === undefined ? Readable.from([]) : Readable.from(content instanceof Uint8Array ? [content] : content), createWriteStream(temporary, { mode: 0o644 }));
      await rename(temporary, path);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }
}

// --- load --------------------------------------------------------------------------------------

export interface LoadedImage {
  readonly name?: string;
  readonly descriptor: Descriptor;
  /** What NAME pointed at before, when the load moved it (that image stays, unnamed if nothing else names it). */
  readonly replaced?: Descriptor;
}

/** Names DESCRIPTOR; says what the name held before when that was another image. */
async function nameLoaded(store: LayoutStore, name: string, descriptor: Descriptor): Promise<LoadedImage> {
  const previous = await store.resolveReference(name);
  await store.setReference(name, descriptor);
  return { name, descriptor, ...(previous === undefined || previous.digest === descriptor.digest ? {} : { replaced: previous }) };
}

/**
 * Largest JSON member read (index.json, manifest.json, a config), as the store's largest config.
 * JSON members are cut at it while spooled and checked before they are read (containerd
 * CVE-2023-25153): a compressed archive could otherwise unfold one into gigabytes.
 */
const maxJsonBytes = 16 * 1024 * 1024;

/** Members whose names say they are JSON documents: every one the loaders read by name. */
function isJsonMember(key: string): boolean {
  return key === 'index.json' || key === 'manifest.json' || key === 'oci-layout' || key === 'repositories' || key.endsWith('.json');
}

/** The content of a member, refused once it passes LIMIT bytes. */
async function* bounded(body: AsyncIterable<Buffer>, limit: number, key: string): AsyncGenerator<Buffer> {
  let total = 0;
  for await (const chunk of body) {
    total += chunk.length;
    if (total > limit) throw new TsbuildError('SIZE_MISMATCH', `load archive: ${key} exceeds ${limit} bytes`);
    yield chunk;
  }
}

/** A spooled member read whole: its size is checked first, so a large one is never read. */
async function readMember(path: string, key: string, limit: number): Promise<Buffer> {
  const { size } = await stat(path);
  if (size > limit) throw new TsbuildError('SIZE_MISMATCH', `load archive: ${key} exceeds ${limit} bytes`);
  return readFile(path);
}

/** Archive member names as keys: no leading `./` or `/`, no `..` (such members are never used). */
function memberKey(name: string): string | undefined {
  const parts = name.split('/').filter((part) => part !== '' && part !== '.');
  return parts.includes('..') || parts.length === 0 ? undefined : parts.join('/');
}

/**
 * Makes each symlink member name the file it points to, resolved as a path inside the archive
 * (never on the disk): `a/layer.tar -> ../b/layer.tar` names b/layer.tar. A link that leaves
 * the archive, loops, or ends nowhere names nothing.
 */
function resolveMemberLinks(members: Map<string, string>, links: ReadonlyMap<string, string>): void {
  for (const [key, firstTarget] of links) {
    let current = key;
    let target = firstTarget;
    for (let hops = 0; hops < 16; hops++) {
      const base = target.startsWith('/') ? [] : current.split('/').slice(0, -1);
      const parts: string[] = [...base];
      let outside = false;
      for (const part of target.split('/')) {
        if (part === '' || part === '.') continue;
        if (part === '..') {
          if (parts.length === 0) outside = true;
          parts.pop();
        } else parts.push(part);
      }
      if (outside || parts.length === 0) break;
      const resolved = parts.join('/');
      const file = members.get(resolved);
      if (file !== undefined) {
        members.set(key, file);
        break;
      }
      const next = links.get(resolved);
      if (next === undefined) break;
      current = resolved;
      target = next;
    }
  }
}

/**
 * Loads an archive written by `save` (either format, told apart by `oci-layout` or
 * `manifest.json`) into the store. Members are spooled to a private directory under the store's
 * tmp/ first, since the order of members in a tar is not fixed; every blob is verified against
 * its digest on the way in. Docker layers are compressed with gzip as tsbuild stores layers.
 */
export async function loadArchive(store: LayoutStore, archive: Readable | AsyncIterable<Uint8Array>): Promise<LoadedImage[]> {
  const spool = join(store.temporaryDirectory, temporaryName('load'));
  await mkdir(spool, { mode: 0o700 });
  try {
    const members = new Map<string, string>();
    // docker save writes a layer shared by several images once, and symlinks to it elsewhere.
    const links = new Map<string, string>();
    let count = 0;
    // As docker load: an archive may also come gzip- or zstd-compressed (`save | gzip`).
    for await (const { header, body } of readTar(decompressStream(archive, 'decompress archive'), { what: 'load archive' })) {
      const key = memberKey(header.name);
      if (key === undefined) continue;
      if (header.type === 'symlink') {
        links.set(key, header.linkname);
      } else if (header.type === 'file') {
        const path = join(spool, `m${count++}`);
        const handle = await open(path, 'wx', 0o600);
        try {
          await pipeline(Readable.from(isJsonMember(key) ? bounded(body, maxJsonBytes, key) : body), handle.createWriteStream());
        } finally {
          await handle.close().catch(() => undefined);
        }
        members.set(key, path);
      }
    }
    resolveMemberLinks(members, links);
    const readJson = async (key: string): Promise<unknown> => {
      const path = members.get(key);
      if (path === undefined) throw new TsbuildError('NOT_FOUND', `load archive: no ${key}`);
      return parseBoundedJson((await readMember(path, key, maxJsonBytes)).toString('utf8'));
    };
    if (members.has('oci-layout')) return await loadOci(store, members, readJson);
    if (members.has('manifest.json')) return await loadDocker(store, members, readJson);
    throw new TsbuildError('INVALID_ARGUMENT', 'load archive: neither an OCI layout (oci-layout) nor a docker archive (manifest.json)');
  } catch (error) {
    if (error instanceof TsbuildError) throw error;
    throw new TsbuildError('INVALID_ARGUMENT', `load archive: ${messageOf(error)}`, { cause: error });
  } finally {
    await rm(spool, { recursive: true, force: true });
  }
}

async function loadOci(store: LayoutStore, members: Map<string, string>, readJson: (key: string) => Promise<unknown>): Promise<LoadedImage[]> {
  const index = parseIndex(Buffer.from(JSON.stringify(await readJson('index.json'))));
  for (const [key, path] of [...members.entries()].sort()) {
    const match = /^blobs\/([a-z0-9]+)\/([0-9a-f]+)$/.exec(key);
    if (match === null) continue;
    const digest = parseDigest(`${match[1] ?? ''}:${match[2] ?? ''}`);
    await store.putBlob(createReadStream(path), { digest });
  }
  const loaded: LoadedImage[] = [];
  for (const entry of index.manifests) {
    const { annotations, ...rest } = entry;
    const others = Object.fromEntries(Object.entries(annotations ?? {}).filter(([key]) => key !== refNameAnnotation && key !== containerdNameAnnotation));
    const descriptor: Descriptor = Object.keys(others).length === 0 ? rest : { ...rest, annotations: others };
    if (isIndexMediaType(descriptor.mediaType)) await reachableBlobs(store, descriptor, new Set());
    // Named only once it reads as the rest of tsbuild reads an image.
    else await storeImage(store, descriptor);
    const name = loadedName(annotations);
    // As docker load: an image the archive does not name stays, without a name.
    if (name !== undefined) {
      loaded.push(await nameLoaded(store, name, descriptor));
    } else {
      await store.keepUnnamed(descriptor);
      loaded.push({ descriptor });
    }
  }
  return loaded;
}

/** The image name an OCI layout gives: containerd's full-name annotation, else ref.name when it is a full reference. */
function loadedName(annotations: Readonly<Record<string, string>> | undefined): string | undefined {
  for (const candidate of [annotations?.[containerdNameAnnotation], annotations?.[refNameAnnotation]]) {
    if (candidate === undefined) continue;
    // A bare tag (`latest`, as some tools write ref.name) names no repository.
    if (!candidate.includes('/') && !candidate.includes(':')) continue;
    try {
      return storeName(candidate);
    } catch {
      continue;
    }
  }
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

async function isGzip(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const magic = Buffer.alloc(2);
    await handle.read(magic, 0, 2, 0);
    return magic[0] === 0x1f && magic[1] === 0x8b;
  } finally {
    await handle.close();
  }
}

async function loadDocker(store: LayoutStore, members: Map<string, string>, readJson: (key: string) => Promise<unknown>): Promise<LoadedImage[]> {
  const manifest = await readJson('manifest.json');
  if (!Array.isArray(manifest)) throw new TsbuildError('INVALID_ARGUMENT', 'load archive: manifest.json is not an array');
  const loaded: LoadedImage[] = [];
  for (const item of manifest) {
    if (!isRecord(item) || typeof item.Config !== 'string' || !Array.isArray(item.Layers)) throw new TsbuildError('INVALID_ARGUMENT', 'load archive: invalid manifest.json entry');
    const configKey = memberKey(item.Config);
    const configPath = configKey === undefined ? undefined : members.get(configKey);
    if (configPath === undefined) throw new TsbuildError('NOT_FOUND', `load archive: no config ${item.Config}`);
    const configBytes = await readMember(configPath, item.Config, maxJsonBytes);
    const config = parseImageConfig(configBytes);
    if (config.rootfs.diff_ids.length !== item.Layers.length) throw new TsbuildError('INVALID_ARGUMENT', 'load archive: layer count differs from the config');
    const layers: Descriptor[] = [];
    for (const [position, layerName] of item.Layers.entries()) {
      const key = typeof layerName === 'string' ? memberKey(layerName) : undefined;
      const path = key === undefined ? undefined : members.get(key);
      if (path === undefined) throw new TsbuildError('NOT_FOUND', `load archive: no layer ${String(layerName)}`);
      const expected = config.rootfs.diff_ids[position] as Digest;
      if (await isGzip(path)) {
        const info = await store.putBlob(createReadStream(path));
        const diffId = await diffOfGzip(path);
        if (diffId !== expected) throw new TsbuildError('DIGEST_MISMATCH', `load archive: layer ${String(layerName)} has diff ID ${diffId}, config says ${expected}`);
        layers.push({ mediaType: MediaType.ociLayerGzip, digest: info.digest, size: info.size });
      } else {
        const written = await compressLayer(createReadStream(path), store);
        if (written.diffId !== expected) throw new TsbuildError('DIGEST_MISMATCH', `load archive: layer ${String(layerName)} has diff ID ${written.diffId}, config says ${expected}`);
        layers.push(written.descriptor);
      }
    }
    // The config is kept byte for byte, so the image ID (its digest) survives the round trip.
    const configInfo = await store.putBlob(Readable.from([configBytes]));
    const manifestBytes = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: MediaType.ociConfig, digest: configInfo.digest, size: configInfo.size }, layers }),
      'utf8',
    );
    const manifestInfo = await store.putBlob(Readable.from([manifestBytes]));
    const descriptor: Descriptor = { mediaType: MediaType.ociManifest, digest: manifestInfo.digest, size: manifestInfo.size };
    const tags = Array.isArray(item.RepoTags) ? item.RepoTags.filter((tag): tag is string => typeof tag === 'string') : [];
    if (tags.length === 0) {
      await store.keepUnnamed(descriptor);
      loaded.push({ descriptor });
    }
    for (const tag of tags) {
      loaded.push(await nameLoaded(store, storeName(tag), descriptor));
    }
  }
  return loaded;
}

async function diffOfGzip(path: string): Promise<Digest> {
  const hash = createHasher('sha256');
  const gunzip = nodeZlib().createGunzip();
  const feeding = pipeline(createReadStream(path), gunzip);
  for await (const chunk of gunzip) hash.update(chunk as Buffer);
  await feeding;
  return parseDigest(`sha256:${hash.digest('hex')}`);
}

