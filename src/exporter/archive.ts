import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createHasher, digestHex, familiarReference, goJson, isIndexMediaType, MediaType, messageOf, nodeZlib, parseBoundedJson, parseDigest, parseImageConfig, parseIndex, parseReference, readTar, refNameAnnotation, TsbuildError, uncompressedLayerMediaTypes, type Descriptor, type Digest, type Platform } from '../common/index.js';
import { decompressStream, reachableBlobs, readIndex, storeImage, storeName, temporaryName, validateReferenceName, writeAll, type ImageLayer, type LayoutStore } from '../store/index.js';
import { compressLayer, sourceDateEpochFromEnv, tarStream, type LayerEntry } from './layer.js';

export type ArchiveFormat = 'docker' | 'oci';

export interface SaveImage {
  /** Full name (`docker.io/library/busybox:latest`), or undefined for an image saved by digest. */
  readonly name?: string;
  readonly descriptor: Descriptor;
}

export interface SaveOptions {
  readonly format: ArchiveFormat;
  readonly platform?: Platform;
  /**
   * Whose conventions the archive follows: docker 26's `docker save` (the default), or BuildKit's
   * oci and docker exporters (`build --output type=oci|docker`, see `ociEntries`), which write
   * the images' manifests as they are and, for docker, containerd's manifest.json beside them.
   */
  readonly style?: 'docker' | 'buildkit';
  /** SOURCE_DATE_EPOCH of the build, for the `buildkit` style's creation times (default: the environment's). */
  readonly sourceDateEpoch?: number;
}

/** Name used by containerd and docker for the full image name in an OCI layout's index. */
const containerdNameAnnotation = 'io.containerd.image.name';
/** The OCI annotation of a creation time. */
const createdAnnotation = 'org.opencontainers.image.created';

function directory(path: string, mtime: number): LayerEntry {
  return { path, type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime };
}

function file(path: string, bytes: Buffer, mtime: number, mode = 0o644): LayerEntry {
  return { path, type: 'file', mode, uid: 0, gid: 0, mtime, size: bytes.length, content: () => bytes };
}

/** VALUE as Go's json.Marshal writes it (no newline after it), as bytes. */
function goJsonBytes(value: unknown): Buffer {
  return Buffer.from(goJson(value), 'utf8');
}

/** A descriptor with its fields in the order of Go's ocispec.Descriptor, annotations sorted as Go sorts a map's keys. */
function goDescriptor(descriptor: Descriptor, extra: Readonly<Record<string, string>> = {}): Record<string, unknown> {
  const { mediaType, digest, size, urls, annotations, data, platform, artifactType } = descriptor as Descriptor & { urls?: string[]; data?: string; artifactType?: string };
  const merged = { ...annotations, ...extra };
  const keys = Object.keys(merged).sort();
  return {
    mediaType,
    digest,
    size,
    ...(urls === undefined ? {} : { urls }),
    ...(keys.length === 0 ? {} : { annotations: Object.fromEntries(keys.map((key) => [key, merged[key]])) }),
    ...(data === undefined ? {} : { data }),
    ...(platform === undefined ? {} : { platform }),
    ...(artifactType === undefined ? {} : { artifactType }),
  };
}

/**
 * The annotations naming an image in an OCI layout's index, as docker save and BuildKit's
 * exporters (containerd's archive writer) give them: the full name under containerd's key, and
 * the tag alone (the OCI spec's reference name) under `org.opencontainers.image.ref.name`.
 */
function nameAnnotations(name: string | undefined): Record<string, string> {
  if (name === undefined) return {};
  const reference = parseReference(name);
  const object = reference.tag ?? (reference.digest === undefined ? undefined : `@${reference.digest}`);
  return { [containerdNameAnnotation]: name, ...(object === undefined ? {} : { [refNameAnnotation]: object }) };
}

/** docker save's oci-layout file, byte for byte (its own literal, with a space). */
const dockerLayoutBytes = Buffer.from('{"imageLayoutVersion": "1.0.0"}', 'utf8');

/** BuildKit's oci-layout file: Go's json.Marshal of the layout struct. */
const buildkitLayoutBytes = Buffer.from('{"imageLayoutVersion":"1.0.0"}', 'utf8');

/**
 * The time BuildKit's oci exporter gives a manifest in the layout's index
 * (`org.opencontainers.image.created`, RFC 3339 to the second): SOURCE_DATE_EPOCH's when set.
 * BuildKit takes the time of the export otherwise; tsbuild takes the image's creation time
 * from its config, so that the same image gives the same archive.
 */
export async function buildkitCreated(store: LayoutStore, image: SaveImage, epoch: number | undefined): Promise<Record<string, string>> {
  let created: string | undefined;
  if (epoch !== undefined) created = new Date(epoch * 1000).toISOString();
  else if (!isIndexMediaType(image.descriptor.mediaType)) created = (await (await storeImage(store, image.descriptor)).config()).created;
  else {
    // An index (a build of several platforms): when the last of its images was made.
    for (const manifest of (await readIndex(store, image.descriptor)).manifests) {
      if (isIndexMediaType(manifest.mediaType)) continue;
      const made = (await (await storeImage(store, manifest)).config()).created;
      if (made !== undefined && (created === undefined || Date.parse(made) > Date.parse(created))) created = made;
    }
  }
  if (created === undefined) return {};
  // Whole seconds, as Go's time.RFC3339 prints a UTC time; a config's nanoseconds are dropped.
  const utc = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?Z$/.exec(created);
  const time = utc === null ? Date.parse(created) : undefined;
  if (utc === null && (time === undefined || Number.isNaN(time))) return {};
  return { [createdAnnotation]: utc === null ? new Date(time ?? 0).toISOString().replace(/\.\d+Z$/, 'Z') : `${utc[1] ?? ''}Z` };
}

/**
 * Entries of an OCI image layout holding IMAGES and everything they reach. In STYLE `docker`,
 * as docker save writes one (files 0644, the index with its media type); in STYLE `buildkit`,
 * as BuildKit's oci exporter does through containerd's archive writer: blobs and oci-layout
 * 0444, every entry at time 0 (SOURCE_DATE_EPOCH or not), the index without a media type and
 * each manifest annotated with its creation time.
 */
async function ociEntries(store: LayoutStore, images: readonly SaveImage[], mtime: number, style: 'docker' | 'buildkit', epoch = sourceDateEpochFromEnv()): Promise<LayerEntry[]> {
  const blobs = new Set<Digest>();
  for (const image of images) await reachableBlobs(store, image.descriptor, blobs);
  const buildkit = style === 'buildkit';
  const time = buildkit ? 0 : mtime;
  const blobMode = buildkit ? 0o444 : 0o644;
  const manifests: Array<Record<string, unknown>> = [];
  for (const image of images) manifests.push(goDescriptor(image.descriptor, { ...(buildkit ? await buildkitCreated(store, image, epoch) : {}), ...nameAnnotations(image.name) }));
  const entries: LayerEntry[] = [directory('blobs', time), directory('blobs/sha256', time)];
  for (const digest of [...blobs].sort()) {
    const size = (await store.blobSize(digest)) ?? 0;
    entries.push({ path: `blobs/sha256/${digestHex(digest)}`, type: 'file', mode: blobMode, uid: 0, gid: 0, mtime: time, size, content: () => lazy(() => store.openBlob(digest)) });
  }
  entries.push(file('index.json', goJsonBytes(buildkit ? { schemaVersion: 2, manifests } : { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests }), time));
  entries.push(buildkit ? file('oci-layout', buildkitLayoutBytes, time, 0o444) : file('oci-layout', dockerLayoutBytes, time));
  return entries;
}

async function* lazy(open: () => Promise<AsyncIterable<Uint8Array>>): AsyncGenerator<Uint8Array> {
  yield* await open();
}

/** A layer as the uncompressed tar a docker archive holds, its size known before it is written. */
interface ArchiveLayer {
  readonly diffId: Digest;
  readonly size: number;
  readonly content: () => AsyncIterable<Uint8Array>;
}

/**
 * LAYER as an uncompressed tar. An uncompressed layer (a build's, as the store keeps them) is
 * its own blob, read when its entry's turn comes. A compressed one is decompressed once into a
 * temporary file of the store (checked against its diff ID on the way), listed in SPOOLED for
 * the caller to remove: the archive's manifest names each tar with its size, and that manifest
 * may come before the tar in the archive's order, so every size is needed first.
 */
async function archiveLayer(store: LayoutStore, layer: ImageLayer, spooled: string[]): Promise<ArchiveLayer> {
  if (uncompressedLayerMediaTypes.has(layer.mediaType())) return { diffId: layer.diffID(), size: layer.size(), content: () => layer.uncompressed() };
  const path = join(store.temporaryDirectory, temporaryName('save-layer'));
  spooled.push(path);
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
    return { diffId: layer.diffID(), size, content: () => createReadStream(path, { highWaterMark: 1024 * 1024 }) };
  } catch (error) {
    if (error instanceof TsbuildError) throw error;
    throw new TsbuildError('INTERNAL', `save layer ${layer.digest()}: ${messageOf(error)}`, { cause: error });
  }
}

interface DockerManifestEntry {
  Config: string;
  RepoTags: string[] | null;
  Layers: string[];
  LayerSources: Record<string, { mediaType: string; size: number; digest: Digest }>;
}

/**
 * Entries of a docker archive as docker 26's `docker save` writes one: an OCI image layout
 * (index.json, oci-layout, blobs) whose manifests name the layers as uncompressed tars by their
 * diff IDs, and beside it the legacy manifest.json (with LayerSources) and repositories (only
 * when some image has a tag) that older `docker load`s read. Compressed layers are spooled
 * into SPOOLED temporary files, which the caller removes.
 */
async function dockerEntries(store: LayoutStore, images: readonly SaveImage[], platform: Platform | undefined, mtime: number, spooled: string[]): Promise<LayerEntry[]> {
  const files = new Map<string, LayerEntry>();
  const manifest: DockerManifestEntry[] = [];
  const index: Array<Record<string, unknown>> = [];
  const repositories: Record<string, Record<string, string>> = {};
  const layersByDiffId = new Map<Digest, ArchiveLayer>();
  for (const image of images) {
    const model = await storeImage(store, image.descriptor, platform);
    const configBytes = await model.configBytes();
    const configDigest = (await model.manifest()).config.digest;
    const configPath = `blobs/sha256/${digestHex(configDigest)}`;
    files.set(configPath, file(configPath, configBytes, mtime));
    const layers: ArchiveLayer[] = [];
    for (const layer of await model.layers()) {
      let written = layersByDiffId.get(layer.diffID());
      if (written === undefined) {
        written = await archiveLayer(store, layer, spooled);
        layersByDiffId.set(written.diffId, written);
        const path = `blobs/sha256/${digestHex(written.diffId)}`;
        const { size, content } = written;
        files.set(path, { path, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime, size, content });
      }
      layers.push(written);
    }
    const layerDescriptors = layers.map((layer) => ({ mediaType: MediaType.ociLayer, digest: layer.diffId, size: layer.size }));
    // The image as its layout holds it: a manifest of its own, naming the uncompressed tars.
    const manifestBytes = goJsonBytes({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: MediaType.ociConfig, digest: configDigest, size: configBytes.length }, layers: layerDescriptors });
    const manifestDigest = parseDigest(`sha256:${createHasher('sha256').update(manifestBytes).digest('hex')}`);
    files.set(`blobs/sha256/${digestHex(manifestDigest)}`, file(`blobs/sha256/${digestHex(manifestDigest)}`, manifestBytes, mtime));
    const tagged = image.name === undefined ? undefined : parseReference(image.name);
    const tag = tagged?.tag !== undefined && tagged.digest === undefined ? tagged.tag : undefined;
    const manifestDescriptor: Descriptor = { mediaType: MediaType.ociManifest, digest: manifestDigest, size: manifestBytes.length };
    index.push(goDescriptor(manifestDescriptor, tag === undefined ? {} : nameAnnotations(image.name)));
    const tags: string[] = [];
    if (tagged !== undefined && tag !== undefined) {
      tags.push(familiarReference(tagged));
      const repository = familiarReference({ domain: tagged.domain, path: tagged.path });
      const top = layers.at(-1);
      repositories[repository] = { ...repositories[repository], [tag]: top === undefined ? '' : digestHex(top.diffId) };
    }
    const paths = layers.map((layer) => `blobs/sha256/${digestHex(layer.diffId)}`);
    // As docker save: one entry per image, holding every tag it was asked for under.
    const same = manifest.find((entry) => entry.Config === configPath && entry.Layers.join('\n') === paths.join('\n'));
    if (same !== undefined) {
      for (const name of tags) if (same.RepoTags?.includes(name) !== true) same.RepoTags = [...(same.RepoTags ?? []), name];
      continue;
    }
    const sources = [...layerDescriptors].sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
    manifest.push({
      Config: configPath,
      RepoTags: tags.length === 0 ? null : tags,
      Layers: paths,
      LayerSources: Object.fromEntries(sources.map((layer) => [layer.digest, { mediaType: layer.mediaType, size: layer.size, digest: layer.digest }])),
    });
  }
  const sorted = [...files.values()].sort((a, b) => (a.path < b.path ? -1 : 1));
  return [
    directory('blobs', mtime),
    directory('blobs/sha256', mtime),
    ...sorted,
    file('index.json', goJsonBytes({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: index }), mtime),
    // docker's json.Encoder ends both with a newline; repositories is a map of maps (keys sorted).
    file('manifest.json', Buffer.from(`${goJson(manifest)}\n`, 'utf8'), mtime),
    file('oci-layout', dockerLayoutBytes, mtime),
    ...(Object.keys(repositories).length === 0 ? [] : [file('repositories', Buffer.from(`${goJson(new Map(Object.entries(repositories).map(([repository, tags]) => [repository, new Map(Object.entries(tags))])))}\n`, 'utf8'), mtime)]),
  ];
}

/**
 * The manifest.json of BuildKit's docker exporter, as containerd's archive writer makes it for
 * an OCI layout: per manifest, its config and layers as they are in the layout (the compressed
 * blobs, named by their digests) and the familiar names it is given (null for none); Go's
 * json.Marshal, no newline. Unlike docker save's it has no LayerSources, and no repositories
 * file goes beside it.
 */
async function containerdManifestJson(store: LayoutStore, images: readonly SaveImage[]): Promise<Buffer> {
  const entries = new Map<string, { Config: string; RepoTags: string[] | null; Layers: string[] }>();
  for (const image of images) {
    let entry = entries.get(image.descriptor.digest);
    if (entry === undefined) {
      const manifest = await (await storeImage(store, image.descriptor)).manifest();
      entry = { Config: `blobs/sha256/${digestHex(manifest.config.digest)}`, RepoTags: null, Layers: manifest.layers.map((layer) => `blobs/sha256/${digestHex(parseDigest(layer.digest))}`) };
      entries.set(image.descriptor.digest, entry);
    }
    if (image.name !== undefined) entry.RepoTags = [...(entry.RepoTags ?? []), familiarReference(parseReference(image.name))];
  }
  return goJsonBytes([...entries.values()]);
}

/** A docker archive's bytes; the layers spooled for it are removed when it ends, fails or is dropped. */
async function* dockerArchive(store: LayoutStore, images: readonly SaveImage[], platform: Platform | undefined, mtime: number): AsyncGenerator<Buffer> {
  const spooled: string[] = [];
  try {
    yield* tarStream(await dockerEntries(store, images, platform, mtime, spooled), { sourceDateEpoch: mtime });
  } finally {
    await Promise.all(spooled.map((path) => rm(path, { force: true })));
  }
}

/**
 * The bytes of an archive of IMAGES: an OCI image layout as a tar, or a docker archive that
 * `docker load` and skopeo's `docker-archive:` read. Streamed; blobs are read from the store as
 * they are written out. Deterministic: same images, same bytes.
 */
export async function saveArchive(store: LayoutStore, images: readonly SaveImage[], options: SaveOptions): Promise<Readable> {
  if (images.length === 0) throw new TsbuildError('INVALID_ARGUMENT', 'save images: no image given');
  const style = options.style ?? 'docker';
  // BuildKit's exporters leave every entry's time at zero; docker save's are the images' own.
  const mtime = style === 'buildkit' ? 0 : (sourceDateEpochFromEnv() ?? 0);
  const epoch = options.sourceDateEpoch ?? sourceDateEpochFromEnv();
  if (options.format === 'docker' && style === 'docker') return Readable.from(dockerArchive(store, images, options.platform, mtime));
  const entries = await ociEntries(store, images, mtime, style, epoch);
  if (options.format === 'docker') {
    entries.push(file('manifest.json', await containerdManifestJson(store, images), mtime));
    entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }
  return Readable.from(tarStream(entries, { sourceDateEpoch: mtime }));
}

/**
 * The OCI layout of IMAGES as a directory at DEST (`type=oci,tar=false`): the same files the
 * archive holds, written in place. Each file is written under a temporary name and renamed, so
 * a layout left by a failed write never holds a torn blob under a digest's name.
 */
export async function saveLayoutDirectory(store: LayoutStore, images: readonly SaveImage[], dest: string, sourceDateEpoch = sourceDateEpochFromEnv()): Promise<void> {
  if (images.length === 0) throw new TsbuildError('INVALID_ARGUMENT', 'save images: no image given');
  await mkdir(dest, { recursive: true });
  for (const entry of await ociEntries(store, images, 0, 'buildkit', sourceDateEpoch)) {
    const path = join(dest, ...entry.path.split('/'));
    if (entry.type === 'directory') {
      await mkdir(path, { recursive: true });
      continue;
    }
    const content = entry.content?.();
    const temporary = `${path}.${temporaryName('part')}`;
    try {
      await pipeline(content === undefined ? Readable.from([]) : Readable.from(content instanceof Uint8Array ? [content] : content), createWriteStream(temporary, { mode: entry.mode }));
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

/** The image ID (config digest) DESCRIPTOR names in STORE; undefined for one it cannot read as an image (an index without the host's platform). */
async function imageIdOf(store: LayoutStore, descriptor: Descriptor): Promise<Digest | undefined> {
  try {
    return (await (await storeImage(store, descriptor)).manifest()).config.digest;
  } catch {
    return undefined;
  }
}

/**
 * Names DESCRIPTOR; says what the name held before when that was another image. As docker
 * load, an image is known by its ID: when the name already holds the same ID (a docker
 * archive's layers compressed anew give another manifest for it), the name stays where it was.
 */
async function nameLoaded(store: LayoutStore, name: string, descriptor: Descriptor): Promise<LoadedImage> {
  const previous = await store.resolveReference(name);
  if (previous !== undefined && previous.digest !== descriptor.digest && !isIndexMediaType(descriptor.mediaType)) {
    const id = await imageIdOf(store, previous);
    if (id !== undefined && id === (await imageIdOf(store, descriptor))) {
      // The manifest made for the load is left unreferenced, for the store's garbage collection.
      return { name, descriptor: previous };
    }
  }
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
 * Loads an archive written by `save` (either format, told apart by `manifest.json` or
 * `oci-layout`) into the store. Members are spooled to a private directory under the store's
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
    // As docker load: manifest.json first, which docker 26's archives (and BuildKit's docker
    // exporter's) hold beside their OCI layout; a layout alone is read as one.
    if (members.has('manifest.json')) return await loadDocker(store, members, readJson);
    if (members.has('oci-layout')) return await loadOci(store, members, readJson);
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
  // Every name first, so that an archive naming one image wrongly loads nothing.
  const names = index.manifests.map((entry) => loadedName(entry));
  for (const [key, path] of [...members.entries()].sort()) {
    const match = /^blobs\/([a-z0-9]+)\/([0-9a-f]+)$/.exec(key);
    if (match === null) continue;
    const digest = parseDigest(`${match[1] ?? ''}:${match[2] ?? ''}`);
    await store.putBlob(createReadStream(path), { digest });
  }
  const loaded: LoadedImage[] = [];
  for (const [position, entry] of index.manifests.entries()) {
    const { annotations, ...rest } = entry;
    const others = Object.fromEntries(Object.entries(annotations ?? {}).filter(([key]) => key !== refNameAnnotation && key !== containerdNameAnnotation));
    const descriptor: Descriptor = Object.keys(others).length === 0 ? rest : { ...rest, annotations: others };
    if (isIndexMediaType(descriptor.mediaType)) await reachableBlobs(store, descriptor, new Set());
    // Named only once it reads as the rest of tsbuild reads an image.
    else await storeImage(store, descriptor);
    const name = names[position];
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

/**
 * The image name an OCI layout gives an entry of its index: containerd's full-name annotation,
 * else ref.name when it is more than a tag (`latest`, as skopeo and others write ref.name, names
 * no repository: the image stays unnamed). A name given that is no image reference (`Bad
 * Name!`, `../../etc/passwd`), or a ref.name outside the image-spec's grammar, fails the load
 * naming the annotation and its value, as docker load fails an archive whose RepoTags name
 * one, rather than loading the image unnamed as if the archive had named none.
 */
function loadedName(entry: Descriptor): string | undefined {
  const annotations = entry.annotations ?? {};
  const containerdName = annotations[containerdNameAnnotation];
  const [annotation, value] = containerdName !== undefined ? [containerdNameAnnotation, containerdName] : [refNameAnnotation, annotations[refNameAnnotation]];
  if (value === undefined) return undefined;
  const where = `load archive: index.json: the ${annotation} annotation of ${entry.digest}, ${JSON.stringify(value.slice(0, 300))}`;
  if (annotation === refNameAnnotation) {
    try {
      validateReferenceName(value);
    } catch {
      throw new TsbuildError('INVALID_REFERENCE', `${where}: not a valid OCI ref.name (components of letters and digits joined by -._:@+ or --, separated by /)`);
    }
    if (!value.includes('/') && !value.includes(':')) return undefined;
  }
  try {
    return storeName(value);
  } catch (error) {
    throw new TsbuildError('INVALID_REFERENCE', `${where}: ${whyNotReference(error)}`, { cause: error });
  }
}

/** Why parseReference refused a name, without its own `parse reference "NAME": `: the caller says where the name was. */
function whyNotReference(error: unknown): string {
  return messageOf(error).replace(/^parse reference "(?:[^"\\]|\\.)*": /, '');
}

/**
 * The name a RepoTags entry of a docker archive gives, refused as docker load refuses it: one
 * that does not parse, or that names no tag (`busybox`, `busybox@sha256:…`: "invalid tag").
 */
function repoTagName(tag: string): string {
  let reference;
  try {
    reference = parseReference(tag, { defaultTag: false });
  } catch (error) {
    throw new TsbuildError('INVALID_REFERENCE', `load archive: manifest.json: RepoTags ${JSON.stringify(tag.slice(0, 300))}: ${whyNotReference(error)}`, { cause: error });
  }
  if (reference.tag === undefined) throw new TsbuildError('INVALID_REFERENCE', `load archive: manifest.json: RepoTags: invalid tag ${JSON.stringify(tag.slice(0, 300))}`);
  return storeName(tag);
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
  // Every name first, so that an archive naming one image wrongly loads nothing.
  const names = manifest.map((item) => (isRecord(item) && Array.isArray(item.RepoTags) ? item.RepoTags.filter((tag): tag is string => typeof tag === 'string').map(repoTagName) : []));
  const loaded: LoadedImage[] = [];
  for (const [position, item] of manifest.entries()) {
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
        // A plain tar (docker save's), or a zstd one (BuildKit's docker exporter with compression=zstd).
        const written = await compressLayer(decompressStream(createReadStream(path), `load archive: layer ${String(layerName)}`), store);
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
    const tags = names[position] ?? [];
    if (tags.length === 0) {
      await store.keepUnnamed(descriptor);
      loaded.push({ descriptor });
    }
    for (const tag of tags) {
      loaded.push(await nameLoaded(store, tag, descriptor));
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

