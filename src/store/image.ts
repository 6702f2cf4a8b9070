import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import pLimit from 'p-limit';
import { digestHex, encodeFileName, familiarReference, formatPlatform, formatReference, hashHex, hostPlatform, imagePlatform, isIndexMediaType, isManifestMediaType, parseDigest, parseImageConfig, parseIndex, parseManifest, parseReference, platformMatches, readTar, selectManifest, isTsbuildError, maxImageConfigBytes, maxManifestBytes, TsbuildError, type Descriptor, type Digest, type ImageConfig, type Index, type Manifest, type Platform } from '../common/index.js';
import { writeFileAtomic } from './atomic.js';
import type { ContentStore } from './content-store.js';
import type { LayoutStore } from './layout-store.js';
import { decompressLayer } from './unpack.js';

export interface ResolvedImage {
  /** The manifest's descriptor (inside an index, the chosen platform's entry). */
  readonly descriptor: Descriptor;
  readonly manifest: Manifest;
  /** The manifest's bytes, as its digest was computed over them. */
  readonly manifestBytes: Buffer;
  readonly config: ImageConfig;
  readonly configBytes: Buffer;
  /** The index a platform was chosen from, when the reference named one. */
  readonly index?: { readonly descriptor: Descriptor; readonly index: Index };
}

/** Chain IDs of a layer stack: chain(0) = diff(0); chain(n) = sha256(chain(n-1) + " " + diff(n)). */
export function chainIds(diffIds: readonly Digest[]): Digest[] {
  const result: Digest[] = [];
  for (const diffId of diffIds) {
    const previous = result.at(-1);
    result.push(previous === undefined ? diffId : parseDigest(`sha256:${hashHex('sha256', `${previous} ${diffId}`)}`));
  }
  return result;
}

export async function readManifest(store: ContentStore, descriptor: Descriptor): Promise<Manifest> {
  return parseManifest(await store.readBlob(descriptor.digest, maxManifestBytes), descriptor.mediaType);
}

export async function readIndex(store: ContentStore, descriptor: Descriptor): Promise<Index> {
  return parseIndex(await store.readBlob(descriptor.digest, maxManifestBytes), descriptor.mediaType);
}

/** Picks the manifest for PLATFORM (default the host's) out of an index. */
export function selectPlatform(index: Index, platform: Platform = hostPlatform()): Descriptor | undefined {
  return selectManifest(
    index.manifests.filter((entry) => isManifestMediaType(entry.mediaType)),
    platform,
  );
}

/**
 * As containerd: an index entry that names no platform is the image its config says, considered
 * after the entries that name one. Entries whose blobs the store lacks are passed over.
 */
async function unlabelledEntryFor(store: ContentStore, index: Index, platform: Platform): Promise<Descriptor | undefined> {
  for (const entry of index.manifests) {
    if (entry.platform !== undefined || !isManifestMediaType(entry.mediaType)) continue;
    try {
      const manifest = await readManifest(store, entry);
      const config = parseImageConfig(await store.readBlob(manifest.config.digest, maxImageConfigBytes));
      if (platformMatches(imagePlatform(config), platform)) return entry;
    } catch (error) {
      if (!isTsbuildError(error)) throw error;
    }
  }
  return undefined;
}

/** Reads the manifest and config a descriptor leads to, choosing a platform inside an index. */
export async function resolveImage(store: ContentStore, descriptor: Descriptor, platform?: Platform): Promise<ResolvedImage> {
  let indexPart: ResolvedImage['index'];
  let manifestDescriptor = descriptor;
  if (isIndexMediaType(descriptor.mediaType)) {
    const index = await readIndex(store, descriptor);
    const chosen = selectPlatform(index, platform) ?? (await unlabelledEntryFor(store, index, platform ?? hostPlatform()));
    if (chosen === undefined) {
      throw new TsbuildError('NOT_FOUND', `resolve image ${descriptor.digest}: no manifest for ${formatPlatform(platform ?? hostPlatform())}`);
    }
    indexPart = { descriptor, index };
    manifestDescriptor = chosen;
  } else if (!isManifestMediaType(descriptor.mediaType)) {
    throw new TsbuildError('INVALID_MEDIA_TYPE', `resolve image ${descriptor.digest}: ${descriptor.mediaType} is neither a manifest nor an index`);
  }
  const manifestBytes = await store.readBlob(manifestDescriptor.digest, maxManifestBytes);
  const manifest = parseManifest(manifestBytes, manifestDescriptor.mediaType);
  const configBytes = await store.readBlob(manifest.config.digest, maxImageConfigBytes);
  const config = parseImageConfig(configBytes);
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    throw new TsbuildError('INVALID_MEDIA_TYPE', `resolve image ${manifestDescriptor.digest}: ${manifest.layers.length} layers but ${config.rootfs.diff_ids.length} diff_ids`);
  }
  return { descriptor: manifestDescriptor, manifest, manifestBytes, config, configBytes, ...(indexPart === undefined ? {} : { index: indexPart }) };
}

/** A user's image argument as the store names it: `busybox` → `docker.io/library/busybox:latest`. */
export function storeName(text: string): string {
  return formatReference(parseReference(text));
}

/**
 * Finds an image by name (normalized), by manifest digest, or by image ID (config digest, or a
 * prefix of at least 4 hex characters of it), as docker accepts; by digest or ID, images kept
 * without a name are found too.
 */
/**
 * The error for an image the store does not have, in the docker daemon's words: the name as
 * docker normalizes it (`nosuch` is `nosuch:latest`), so that scripts matching `No such image:`
 * work unchanged.
 */
export function noSuchImage(text: string): TsbuildError {
  let shown = text;
  try {
    shown = familiarReference(parseReference(text));
  } catch {
    // Not a name (a malformed digest): said as given.
  }
  return new TsbuildError('NOT_FOUND', `No such image: ${shown}`);
}

export async function findImage(store: ContentStore, text: string): Promise<{ name?: string; descriptor: Descriptor } | undefined> {
  let name: string | undefined;
  try {
    name = storeName(text);
  } catch {
    name = undefined;
  }
  if (name !== undefined) {
    const target = await store.resolveReference(name);
    if (target !== undefined) return { name, descriptor: target };
  }
  const hex = text.startsWith('sha256:') ? text.slice(7) : text;
  if (!/^[0-9a-f]{4,64}$/.test(hex)) return undefined;
  const targets = [...(await store.listReferences()).map((reference) => reference.target), ...(await store.listUnnamed())];
  // An image ID (the config's digest) or a prefix of one naming a single image, as docker's
  // image store resolves it; then a manifest digest.
  const byId = new Map<string, Descriptor>();
  for (const target of targets) {
    try {
      const image = await resolveImage(store, target);
      const id = image.manifest.config.digest;
      if (id.slice(7).startsWith(hex) && !byId.has(id)) byId.set(id, target);
    } catch {
      // An incomplete image cannot match by ID; verify reports it.
    }
  }
  if (byId.size > 1) throw new TsbuildError('INVALID_ARGUMENT', `find image ${text}: multiple IDs found with provided prefix: ${hex}`);
  const [only] = byId.values();
  if (only !== undefined) return { descriptor: only };
  const byDigest = targets.find((target) => target.digest.slice(7).startsWith(hex));
  return byDigest === undefined ? undefined : { descriptor: byDigest };
}

/**
 * Every blob reachable from DESCRIPTOR that is present: the manifest or index itself, children of
 * an index, config and layers of a manifest. MISSING collects what should be there and is not.
 */
export async function reachableBlobs(store: ContentStore, descriptor: Descriptor, into: Set<Digest>, missing: Digest[] = []): Promise<void> {
  if (into.has(descriptor.digest)) return;
  if (!(await store.hasBlob(descriptor.digest))) {
    missing.push(descriptor.digest);
    return;
  }
  into.add(descriptor.digest);
  if (isIndexMediaType(descriptor.mediaType)) {
    const index = await readIndex(store, descriptor);
    for (const child of index.manifests) {
      // A pull keeps only the platform it needed: absent siblings are not missing.
      if (await store.hasBlob(child.digest)) await reachableBlobs(store, child, into, missing);
    }
    if (index.subject !== undefined && (await store.hasBlob(index.subject.digest))) into.add(index.subject.digest);
  } else if (isManifestMediaType(descriptor.mediaType)) {
    const manifest = await readManifest(store, descriptor);
    for (const blob of [manifest.config, ...manifest.layers]) {
      if (await store.hasBlob(blob.digest)) into.add(blob.digest);
      else if (blob.urls === undefined) missing.push(blob.digest);
    }
  }
}

function contentSizeMemo(store: LayoutStore, layer: Descriptor): string {
  return join(store.root, 'layer-sizes', digestHex(layer.digest));
}

/**
 * Remembers SIZE as LAYER's content size (a layer's content never changes). A memo, and so
 * written whole under its name but not synced: lost to a crash, it is measured again.
 */
export async function rememberLayerContentSize(store: LayoutStore, layer: Descriptor, size: number): Promise<void> {
  const memo = contentSizeMemo(store, layer);
  await mkdir(dirname(memo), { recursive: true });
  await writeFileAtomic(memo, String(size), 0o644, { sync: false });
}

/**
 * The bytes of content a layer holds, as docker 26 sizes it. A layer that arrived as a tar
 * (pulled, loaded, committed) is measured by its overlay2 driver as the directory it unpacked
 * to: a regular file's size and a symlink's target's length, a hard link's content once,
 * nothing for directories, devices and whiteouts. A step of a build keeps the size BuildKit
 * gave it, which counts no symlink (the build remembers it when it writes the layer). Without
 * that memo the layer is read whole, once, and the size remembered (`layer-sizes/<hex>`), where
 * the disk allows. A layer that unpacks to far more than it is stored in (a decompression bomb)
 * is not read on: it counts at its stored size, and is read again next time only that far.
 */
export async function layerContentSize(store: LayoutStore, layer: Descriptor): Promise<number> {
  const remembered = await readFile(contentSizeMemo(store, layer), 'utf8').then(Number, () => undefined);
  if (remembered !== undefined && Number.isSafeInteger(remembered) && remembered >= 0) return remembered;
  const readable = layer.size * maxLayerExpansion + layerExpansionAllowance;
  let size = 0;
  let read = 0;
  const tar = decompressLayer(await store.openBlob(layer.digest), layer.mediaType);
  for await (const { header } of readTar(tar, { what: `layer ${layer.digest}` })) {
    read += header.size;
    // Leaving the loop ends the reading, down to the blob's file.
    if (read > readable) return layer.size;
    size += header.type === 'symlink' ? encodeFileName(header.linkname).length : header.size;
  }
  // Only a memo: a full disk costs the next listing a read, nothing more.
  await rememberLayerContentSize(store, layer, size).catch(() => undefined);
  return size;
}

/** How much a layer may unpack to, for its size to be read: this many times its stored size… */
const maxLayerExpansion = 32;
/** …and this much more, for small layers. */
const layerExpansionAllowance = 64 * 1024 * 1024;

/**
 * The content sizes of LAYERS, in their order, for the lists that sum them: a layer that cannot
 * be read (missing, corrupt: `verify` says which) counts at its stored size.
 */
export async function layerContentSizes(store: LayoutStore, layers: readonly Descriptor[]): Promise<number[]> {
  const limit = pLimit(4);
  return Promise.all(layers.map((layer) => limit(() => layerContentSize(store, layer).catch(() => layer.size))));
}

/** An image's size as docker 26 lists and inspects it: the sum of its layers' content sizes. */
export async function imageContentSize(store: LayoutStore, manifest: Manifest): Promise<number> {
  return (await layerContentSizes(store, manifest.layers)).reduce((total, size) => total + size, 0);
}
