/**
 * Named contexts (`--build-context NAME=VALUE`), as BuildKit's dockerui reads them: a name that
 * a FROM, a stage name, COPY --from or RUN --mount from= would take for an image or a stage is
 * taken by the context instead. The planner sees every one as an image reference: a registry
 * image as itself, a directory or an OCI layout as a reference of their own that `loadBase`
 * recognises, so every reader of images (FROM, COPY --from, mounts) reads them alike.
 */
import { stat } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { MediaType, TsbuildError, digestAlgorithm, digestHex, isIndexMediaType, isManifestMediaType, isTsbuildError, maxImageConfigBytes, messageOf, openRegularFileInRoot, parseDigest, parseIndex, parseManifest, parseReference, readBytesInRoot, refNameAnnotation, type Descriptor, type Digest, type ImageConfig, type Platform } from '../common/index.js';
import type { Store } from '../store/index.js';
import { openContext, sourceDigest, type LayerRef, type StepCache } from '../cache/index.js';
import { copyKey, scratchKey, sourceDateEpochKey } from '../planner/index.js';
import { copyInto } from './copy.js';
import type { Snapshotter } from './snapshots.js';
import { parseGitRef } from './git-source.js';
import { exporterHistoryComment } from './image-config.js';

export type NamedContextSource =
  | { readonly kind: 'image'; readonly reference: string }
  | { readonly kind: 'directory'; readonly path: string }
  | { readonly kind: 'git'; readonly url: string }
  | { readonly kind: 'oci-layout'; readonly path: string; readonly digest?: Digest; readonly tag?: string };

/**
 * The value of `--build-context NAME=VALUE`: `docker-image://REF`, `oci-layout://PATH[:TAG|@DIGEST]`,
 * a git repository (as ADD takes one), or a directory (relative to the current one). Other URLs are refused.
 */
export function parseNamedContextValue(name: string, value: string): NamedContextSource {
  const what = `--build-context ${name}=${value}`;
  if (value.startsWith('docker-image://')) {
    const reference = value.slice('docker-image://'.length);
    try {
      parseReference(reference);
    } catch (error) {
      throw new TsbuildError('INVALID_REFERENCE', `${what}: ${messageOf(error)}`, { cause: error });
    }
    return { kind: 'image', reference };
  }
  if (value.startsWith('oci-layout://')) {
    let path = value.slice('oci-layout://'.length);
    let digest: Digest | undefined;
    let tag: string | undefined;
    const at = path.lastIndexOf('@');
    if (at >= 0) {
      try {
        digest = parseDigest(path.slice(at + 1));
      } catch (error) {
        throw new TsbuildError('INVALID_ARGUMENT', `${what}: ${messageOf(error)}`, { cause: error });
      }
      path = path.slice(0, at);
    } else {
      const colon = path.lastIndexOf(':');
      if (colon > path.lastIndexOf('/')) [path, tag] = [path.slice(0, colon), path.slice(colon + 1)];
    }
    if (path === '') throw new TsbuildError('INVALID_ARGUMENT', `${what}: no layout path`);
    return { kind: 'oci-layout', path: resolve(path), ...(digest === undefined ? {} : { digest }), ...(tag === undefined ? {} : { tag }) };
  }
  if (parseGitRef(value) !== undefined) return { kind: 'git', url: value };
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(value) || /^[\w.-]+@[\w.-]+:/.test(value)) {
    throw new TsbuildError('INVALID_ARGUMENT', `${what}: only directories, git repositories, docker-image:// and oci-layout:// contexts are supported`);
  }
  return { kind: 'directory', path: isAbsolute(value) ? value : resolve(value) };
}

/** Whether a named context's name is one BuildKit takes: a valid image name. */
export function checkContextName(name: string): void {
  try {
    parseReference(name);
  } catch (error) {
    throw new TsbuildError('INVALID_ARGUMENT', `--build-context: invalid context name ${name}: ${messageOf(error)}`, { cause: error });
  }
}

/** The reference the planner sees for a context that is no registry image: a name of its own, never pulled. */
export function contextReference(index: number): string {
  return `tsbuild-context.invalid/context-${index}:latest`;
}

/**
 * Copies the image an OCI layout names (by DIGEST, by the TAG in its index, or its only entry)
 * into STORE, every blob checked by the store as it is written; returns its descriptor. Blobs of
 * other platforms an index names but the layout lacks are passed over. Every index and manifest
 * is checked as one pulled from a registry is: what it names is a digest, never a path.
 */
export async function importOciLayout(store: Store, source: Extract<NamedContextSource, { kind: 'oci-layout' }>, name: string): Promise<Descriptor> {
  const what = `load context ${name} from oci-layout ${source.path}`;
  try {
    const indexBytes = await readLayoutFile(source.path, 'index.json', maxDocumentBytes, what);
    if (indexBytes === undefined) throw new TsbuildError('NOT_FOUND', `${what}: read index.json: no such file`);
    const entries = parseIndex(indexBytes).manifests;
    let chosen: Descriptor | undefined;
    if (source.digest !== undefined) {
      chosen = entries.find((entry) => entry.digest === source.digest);
      if (chosen === undefined) {
        const relativePath = blobPath('', source.digest);
        const document = await readLayoutFile(source.path, relativePath, maxDocumentBytes, what);
        if (document === undefined) throw new TsbuildError('NOT_FOUND', `${what}: no blob ${source.digest}`);
        const ownType = (JSON.parse(document.toString('utf8')) as { mediaType?: unknown }).mediaType;
        chosen = { mediaType: typeof ownType === 'string' ? ownType : MediaType.ociManifest, digest: source.digest, size: document.length };
      }
    } else if (source.tag !== undefined) {
      chosen = entries.find((entry) => entry.annotations?.[refNameAnnotation] === source.tag);
      if (chosen === undefined) throw new TsbuildError('NOT_FOUND', `${what}: no image tagged ${source.tag}`);
    } else {
      if (entries.length !== 1) throw new TsbuildError('INVALID_ARGUMENT', `${what}: the layout holds ${entries.length} images; name one with :TAG or @DIGEST`);
      chosen = entries[0];
    }
    if (chosen === undefined) throw new TsbuildError('NOT_FOUND', `${what}: no image`);
    await copyClosure(store, source.path, chosen, what, true);
    return { mediaType: chosen.mediaType, digest: chosen.digest, size: chosen.size };
  } catch (error) {
    if (isTsbuildError(error) && error.message.startsWith(what)) throw error;
    // A document of the layout that does not parse, or names what is no digest.
    throw new TsbuildError(isTsbuildError(error) ? error.code : 'INVALID_ARGUMENT', `${what}: ${messageOf(error)}`, { cause: error });
  }
}

/**
 * Largest manifest or index read whole from a layout (as from a registry), and largest config:
 * what the store itself reads of them. The layout's files are checked before they are read,
 * never read to their end first (containerd CVE-2023-25153).
 */
const maxDocumentBytes = 4 * 1024 * 1024;

/**
 * The bytes of the file at RELATIVEPATH of LAYOUT, at most MAXBYTES of them; undefined when it
 * is not there. A fifo, a device or a larger file is refused, never read.
 */
async function readLayoutFile(layout: string, relativePath: string, maxBytes: number, what: string): Promise<Buffer | undefined> {
  try {
    // The layout is the user's own directory: its links are followed as on the host.
    return await readBytesInRoot('/', join(layout, relativePath), maxBytes);
  } catch (error) {
    if (isTsbuildError(error)) throw new TsbuildError('INVALID_ARGUMENT', `${what}: ${error.message}`, { cause: error });
    throw new TsbuildError('NOT_FOUND', `${what}: read ${relativePath}: ${messageOf(error)}`, { cause: error });
  }
}

function blobPath(layout: string, digest: Digest): string {
  return join(layout, 'blobs', digestAlgorithm(digest), digestHex(digest));
}

async function copyClosure(store: Store, layout: string, entry: Descriptor, what: string, required: boolean, role: 'document' | 'config' | 'layer' = 'document'): Promise<void> {
  const { digest } = entry;
  const path = blobPath(layout, digest);
  const isIndex = isIndexMediaType(entry.mediaType);
  const isDocument = isIndex || isManifestMediaType(entry.mediaType);
  const limit = isDocument ? maxDocumentBytes : role === 'config' ? maxImageConfigBytes : undefined;
  if (limit !== undefined && entry.size > limit) {
    throw new TsbuildError('INVALID_ARGUMENT', `${what}: blob ${digest} of ${entry.size} bytes exceeds the ${limit}-byte limit of ${isDocument ? 'a manifest or index' : 'an image config'}`);
  }
  if ((await store.blobSize(digest)) !== entry.size) {
    // Opened once, and checked as it is: a fifo would be read forever, a device without end.
    const opened = await openRegularFileInRoot('/', path).catch((error: unknown) => {
      throw new TsbuildError('INVALID_ARGUMENT', `${what}: blob ${digest}: ${messageOf(error)}`, { cause: error });
    });
    if (opened === undefined) {
      if (required) throw new TsbuildError('NOT_FOUND', `${what}: blob ${digest} is missing`);
      return;
    }
    if (limit !== undefined && opened.size > limit) {
      await opened.handle.close();
      throw new TsbuildError('INVALID_ARGUMENT', `${what}: blob ${digest} of ${opened.size} bytes exceeds the ${limit}-byte limit of ${isDocument ? 'a manifest or index' : 'an image config'}`);
    }
    try {
      await store.putBlob(opened.handle.createReadStream(), { digest, size: entry.size });
    } finally {
      // The stream closes it at its end; a put that failed before reading leaves it to us.
      await opened.handle.close().catch(() => undefined);
    }
  }
  if (!isDocument) return;
  // Read from the store, where it was just checked against its digest and size.
  const bytes = await store.readBlob(digest, maxDocumentBytes);
  if (isIndex) {
    for (const child of parseIndex(bytes, entry.mediaType).manifests) await copyClosure(store, layout, child, what, false);
    return;
  }
  const manifest = parseManifest(bytes, entry.mediaType);
  await copyClosure(store, layout, manifest.config, what, true, 'config');
  for (const layer of manifest.layers) await copyClosure(store, layout, layer, what, true, 'layer');
}

/**
 * The config of a context that is a directory: no environment, the build's platform, as
 * BuildKit's emptyImage; its one layer gets a history entry, as BuildKit's exporter adds one
 * (`buildkit.exporter.image.v0`) for a layer the config does not account for.
 */
export function directoryImageConfig(platform: Platform, diffId: Digest | undefined, description: string, created: string | undefined): ImageConfig {
  return {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant === undefined ? {} : { variant: platform.variant }),
    config: { WorkingDir: '/' },
    rootfs: { type: 'layers', diff_ids: diffId === undefined ? [] : [diffId] },
    history: diffId === undefined ? [] : [{ ...(created === undefined ? {} : { created }), created_by: description, comment: exporterHistoryComment }],
  } as ImageConfig;
}

/** What loading a directory context needs of the build. */
export interface DirectoryContextDeps {
  readonly store: Store;
  readonly cache: StepCache;
  readonly snapshots: Snapshotter;
  readonly sourceDateEpoch: number | undefined;
  readonly platform: Platform;
  readonly noCache: boolean;
  /** The build's interrupt: it stops the hashing of the directory's files, as the main context's. */
  readonly signal?: AbortSignal;
}

/**
 * A directory context as a root filesystem: its files (less what its own .dockerignore
 * excludes) in one layer, owned by root as a context's files are, keyed by their content (so
 * the same files give the same key, whatever their mtimes); made once and then taken from the
 * step cache. Returns the key (it stands for a manifest digest) and the layer.
 */
export async function loadDirectoryContext(path: string, deps: DirectoryContextDeps): Promise<{ key: Digest; layers: readonly LayerRef[]; created: string | undefined }> {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined || !info.isDirectory()) throw new TsbuildError('NOT_FOUND', `load context ${path}: not a directory`);
  const context = await openContext(path, { indexDir: join(deps.store.root, 'context-index'), ...(deps.signal === undefined ? {} : { signal: deps.signal }) });
  const content = (await sourceDigest(context, ['.'])).digest;
  const key = copyKey(scratchKey(), {
    add: false,
    source: 'named-context',
    content,
    sources: ['.'],
    contents: [],
    dest: '/',
    cwd: '/',
    chown: '',
    chmod: '',
    link: false,
    parents: false,
    exclude: [],
    checksum: '',
    unpack: undefined,
  });
  const record = deps.sourceDateEpoch === undefined ? key : sourceDateEpochKey(key, deps.sourceDateEpoch);
  const hit = deps.noCache ? undefined : await deps.cache.get(record);
  if (hit !== undefined) return { key, layers: hit.layers, created: hit.created };
  const active = await deps.snapshots.prepare([]);
  let layer: LayerRef | undefined;
  try {
    await copyInto({ kind: 'context', context }, active.path, { sources: ['.'], contents: [], dest: '/', workdir: '/', parents: false, exclude: [], add: false });
    layer = await active.commit({ dropEmpty: true, ...(deps.sourceDateEpoch === undefined ? {} : { sourceDateEpoch: deps.sourceDateEpoch }) });
  } finally {
    await active.discard();
  }
  const layers = layer === undefined ? [] : [layer];
  const created = new Date((deps.sourceDateEpoch ?? Date.now() / 1000) * 1000).toISOString();
  await deps.cache.put(record, { layers, created }, deps.platform);
  return { key, layers, created };
}
