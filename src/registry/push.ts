/**
 * Push: blobs first (skipped when the registry has them, mounted from another repository of the
 * same registry when one may hold them, else uploaded in one PUT or in chunks by size), then
 * manifests, then the index, each tag last. `Location` headers are followed exactly as given.
 * Each image's manifest, config and layers are read through the store's image model.
 */
import { Readable, Transform } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import pLimit from 'p-limit';
import {
  TsbuildError,
  formatPlatform,
  isIndexMediaType,
  isTsbuildError,
  maxManifestBytes,
  formatReference,
  parseReference,
  selectManifest,
  referenceName,
  type Descriptor,
  type Digest,
  type ImageReference,
  type Platform,
} from '../common/index.js';
import { readIndex, storeImage, type ContentStore, type Image, type OpenBlobOptions } from '../store/index.js';
import type { Registry, RegistryClient } from './client.js';
import { readCapped, statusError, withContext, type RegistryErrorContext } from './errors.js';
import { parseDocument, pullScope, pushScope, type FetchedDocument } from './manifest.js';
import { describePlatforms } from './platform.js';
import type { ProgressListener } from './progress.js';
import { withRetries } from './retry.js';
import { discard, header, type RegistryResponse } from './transport.js';

export interface PushOptions {
  /** The image in the store, by name. */
  readonly source: string | ImageReference;
  /**
   * The document to push in the place of the one the source's name resolves to (the same image
   * made ready to leave: its layers compressed); the name still says where blobs may be mounted from.
   */
  readonly document?: Descriptor;
  /** Where to push; default the source's own name. Several tags may be given. */
  readonly destinations?: ReadonlyArray<string | ImageReference>;
  readonly store: ContentStore;
  readonly client: RegistryClient;
  /** Other repositories of the destination registry that may hold the blobs, tried for mounts. */
  readonly mountFrom?: ReadonlyArray<string | ImageReference>;
  /** Blobs up to this size go in one PUT, larger ones in chunks; default 512 MiB (one request is fastest; chunks bound what a failure costs). */
  readonly monolithicMaxBytes?: number;
  /** Size of a chunk, raised to the registry's `OCI-Chunk-Min-Length`; default 16 MiB. */
  readonly chunkBytes?: number;
  /** Blobs uploaded at once; default 3. */
  readonly concurrency?: number;
  /** When the image is an index, push only this platform's manifest, as a single-platform image. */
  readonly platform?: Platform;
  readonly onProgress?: ProgressListener;
  readonly signal?: AbortSignal;
}

export interface PushResult {
  readonly digest: Digest;
  readonly mediaType: string;
  readonly size: number;
  /** Every reference written, fully qualified. */
  readonly references: readonly string[];
  readonly blobsUploaded: number;
  readonly blobsMounted: number;
  readonly blobsPresent: number;
}

const maxMountCandidates = 3;

export interface Counters {
  uploaded: number;
  mounted: number;
  present: number;
}

export async function push(options: PushOptions): Promise<PushResult> {
  const source = typeof options.source === 'string' ? parseReference(options.source) : options.source;
  const destinations = (options.destinations ?? [source]).map((entry) => (typeof entry === 'string' ? parseReference(entry) : entry));
  if (destinations.length === 0) throw new TsbuildError('INVALID_ARGUMENT', 'push image: no destination');
  const sourceName = formatReference(source);
  const root = options.document ?? (await options.store.resolveReference(sourceName));
  if (root === undefined) throw new TsbuildError('NOT_FOUND', `push ${sourceName}: no such image in the store`);
  let rootDocument = await readDocument(options.store, root, `push ${sourceName}`);
  if (rootDocument.kind === 'index' && options.platform !== undefined) {
    const chosen = selectManifest(rootDocument.index.manifests, options.platform);
    if (chosen === undefined) {
      throw new TsbuildError('NOT_FOUND', `push ${sourceName}: no manifest for platform ${formatPlatform(options.platform)} (available: ${describePlatforms(rootDocument.index.manifests)})`);
    }
    rootDocument = await readDocument(options.store, chosen, `push ${sourceName}`);
  }
  const images: Image[] = [];
  for (const manifest of rootDocument.kind === 'index' ? rootDocument.index.manifests : [rootDocument.descriptor]) {
    if (isIndexMediaType(manifest.mediaType)) throw new TsbuildError('INVALID_MEDIA_TYPE', `push ${sourceName}: nested indexes are not supported`);
    images.push(await storeImage(options.store, manifest).catch((error: unknown) => {
      throw withContext(error, { action: `push ${sourceName}`, digest: manifest.digest });
    }));
  }

  for (const destination of destinations) {
    if (destination.digest !== undefined && destination.digest !== rootDocument.descriptor.digest) {
      throw new TsbuildError('INVALID_REFERENCE', `push ${sourceName}: ${formatReference(destination)} names another digest than the image's ${rootDocument.descriptor.digest}`);
    }
  }
  const counters: Counters = { uploaded: 0, mounted: 0, present: 0 };
  const written: string[] = [];
  const pushedRepositories: ImageReference[] = [];
  for (const destination of destinations) {
    const registry = options.client.registry(destination.domain);
    const general = [source, ...(options.mountFrom ?? []).map((entry) => (typeof entry === 'string' ? parseReference(entry) : entry)), ...pushedRepositories]
      .filter((candidate) => candidate.domain === destination.domain && candidate.path !== destination.path)
      .map((candidate) => candidate.path);
    const origins = await knownOrigins(options.store, destination);
    // Repositories known to hold this very blob come first, then the likely ones.
    const mountFrom = (digest: Digest): string[] => [...new Set([...(origins.get(digest) ?? []), ...general])].slice(0, maxMountCandidates);
    for (const image of images) {
      await pushBlobs({ ...options, registry, destination, mountFrom, counters }, await imageBlobs(image));
      if (rootDocument.kind === 'index') await putManifest(registry, options.client, destination, { descriptor: image.descriptor(), bytes: await image.rawManifest() }, image.descriptor().digest);
    }
    const tag = destination.tag ?? rootDocument.descriptor.digest;
    await putManifest(registry, options.client, destination, rootDocument, tag);
    options.onProgress?.({ kind: 'manifest', digest: rootDocument.descriptor.digest, mediaType: rootDocument.descriptor.mediaType, reference: formatReference(destination) });
    written.push(formatReference(destination));
    if (!pushedRepositories.some((entry) => entry.domain === destination.domain && entry.path === destination.path)) pushedRepositories.push(destination);
  }
  return {
    digest: rootDocument.descriptor.digest,
    mediaType: rootDocument.descriptor.mediaType,
    size: rootDocument.descriptor.size,
    references: written,
    blobsUploaded: counters.uploaded,
    blobsMounted: counters.mounted,
    blobsPresent: counters.present,
  };
}

const maxReferencesScanned = 200;

/**
 * Where blobs came from: images in the store named after other repositories of the destination
 * registry (pulled from there, or pushed there) hold blobs that registry can mount. The store's
 * names are the record; nothing else needs keeping.
 */
async function knownOrigins(store: ContentStore, destination: ImageReference): Promise<Map<Digest, string[]>> {
  const origins = new Map<Digest, string[]>();
  const add = (digest: Digest, path: string): void => {
    const list = origins.get(digest) ?? [];
    if (!list.includes(path)) list.push(path);
    origins.set(digest, list);
  };
  const references = (await store.listReferences()).slice(0, maxReferencesScanned);
  for (const { name, target } of references) {
    let reference: ImageReference;
    try {
      reference = parseReference(name);
    } catch {
      continue;
    }
    if (reference.domain !== destination.domain || reference.path === destination.path) continue;
    try {
      const manifests = isIndexMediaType(target.mediaType) ? (await readIndex(store, target)).manifests : [target];
      for (const manifest of manifests) {
        // A platform a pull left out, or a manifest that is no image, has no blobs to offer.
        const image = await storeImage(store, manifest).catch(() => undefined);
        if (image === undefined) continue;
        add((await image.manifest()).config.digest, reference.path);
        for (const layer of await image.layers()) add(layer.digest(), reference.path);
      }
    } catch {
      // An image the store cannot read whole only loses its blobs a chance to be mounted.
    }
  }
  return origins;
}

async function readDocument(store: ContentStore, descriptor: Descriptor, what: string): Promise<FetchedDocument> {
  let bytes: Buffer;
  try {
    bytes = await store.readBlob(descriptor.digest, maxManifestBytes);
  } catch (error) {
    throw withContext(error, { action: what, digest: descriptor.digest });
  }
  return parseDocument(bytes, { what, expected: { mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size } });
}

/** A blob to push, and how to read it: the registry hashes what it receives, so it is read without hashing. */
export interface PushBlob {
  readonly descriptor: Descriptor;
  open(options: OpenBlobOptions): Promise<Readable>;
}

/** An image's config and layers, read through the image model. */
async function imageBlobs(image: Image): Promise<PushBlob[]> {
  const config = (await image.manifest()).config;
  const configBytes = await image.configBytes();
  const layers = await image.layers();
  return [
    { descriptor: config, open: () => Promise.resolve(Readable.from([configBytes])) },
    ...layers.map((layer) => ({ descriptor: layer.descriptor(), open: (options: OpenBlobOptions) => layer.compressed(options) })),
  ];
}

export interface BlobPushContext {
  readonly registry: Registry;
  readonly client: RegistryClient;
  readonly destination: ImageReference;
  /** Repositories of the destination registry to try mounting a blob from. */
  readonly mountFrom: (digest: Digest) => readonly string[];
  readonly counters: Counters;
  readonly monolithicMaxBytes?: number;
  readonly chunkBytes?: number;
  readonly concurrency?: number;
  readonly onProgress?: ProgressListener;
  readonly signal?: AbortSignal;
}

/** Below this size a blob is pushed beside the large ones, not in turn with them. */
const smallBlobBytes = 1024 * 1024;

export async function pushBlobs(context: BlobPushContext, blobs: readonly PushBlob[]): Promise<void> {
  const unique = [...new Map(blobs.map((blob) => [blob.descriptor.digest, blob])).values()];
  const limit = pLimit(Math.max(1, Math.min(context.concurrency ?? 3, 16)));
  // Small blobs (a config, tiny layers) neither wait for nor take a large one's slot: they are a
  // request or two each, and a push whose layers the registry has is then one round of HEADs.
  const smallLimit = pLimit(8);
  await Promise.all(unique.map((blob) => (blob.descriptor.size < smallBlobBytes ? smallLimit : limit)(() => pushBlob(context, blob))));
}

type Outcome = 'exists' | 'uploaded' | { readonly mountedFrom: string };

async function pushBlob(context: BlobPushContext, blob: PushBlob): Promise<void> {
  const descriptor = blob.descriptor;
  const errorContext: RegistryErrorContext = { action: 'push blob', reference: referenceName(context.destination), digest: descriptor.digest };
  const report = (phase: 'exists' | 'mounted' | 'transfer' | 'retry' | 'done' | 'waiting', current: number, from?: string): void =>
    context.onProgress?.({ kind: 'blob', digest: descriptor.digest, mediaType: descriptor.mediaType, phase, current, total: descriptor.size, ...(from === undefined ? {} : { from }) });
  report('waiting', 0);
  const outcome = await withRetries<Outcome>(
    context.client.backoff,
    () => pushBlobOnce(context, blob, errorContext, report),
    () => report('retry', 0),
  ).catch((error: unknown) => {
    throw withContext(rejectedDigest(error, descriptor) ?? error, errorContext);
  });
  if (outcome === 'exists') {
    context.counters.present++;
    report('exists', descriptor.size);
  } else if (outcome === 'uploaded') {
    context.counters.uploaded++;
    report('done', descriptor.size);
  } else {
    context.counters.mounted++;
    report('mounted', descriptor.size, outcome.mountedFrom);
  }
}

/**
 * Blobs are read from the store without hashing them (the registry hashes what it receives),
 * so a local blob that does not match its digest shows up as the registry's DIGEST_INVALID.
 * That is a corrupt local copy, or bytes damaged on the way: said as such, with the store's code.
 */
function rejectedDigest(error: unknown, descriptor: Descriptor): TsbuildError | undefined {
  const diagnostics = (error as { diagnostics?: ReadonlyArray<{ code?: string }> } | undefined)?.diagnostics;
  if (!isTsbuildError(error) || diagnostics?.some((entry) => entry.code === 'DIGEST_INVALID') !== true) return undefined;
  return new TsbuildError(
    'DIGEST_MISMATCH',
    `the registry found the uploaded content does not hash to ${descriptor.digest}: the local blob is corrupt (\`tsbuild verify\` checks the store) or was damaged on the way (${error.message})`,
    { cause: error },
  );
}

function signalOption(signal: AbortSignal | undefined): { signal?: AbortSignal } {
  return signal === undefined ? {} : { signal };
}

async function expectStatus(response: RegistryResponse, expected: readonly number[], context: RegistryErrorContext, method: string, url: URL): Promise<void> {
  if (expected.includes(response.status)) return;
  throw statusError({ context, method, url, status: response.status, body: await readCapped(response.body) });
}

/** The upload URL of a response: `Location` used verbatim, resolved against the request's URL. */
function uploadLocation(response: RegistryResponse, requestUrl: URL, context: RegistryErrorContext): URL {
  const location = header(response, 'location');
  if (location === undefined || location === '') throw new TsbuildError('REGISTRY', `${context.action}: registry answered ${response.status} without a Location`);
  try {
    return new URL(location, requestUrl);
  } catch {
    throw new TsbuildError('REGISTRY', `${context.action}: registry answered an invalid Location`);
  }
}

/** Adds a query parameter without re-encoding what the registry put in the URL. */
function withQuery(url: URL, key: string, value: string): URL {
  const copy = new URL(url.href);
  copy.search = `${url.search === '' ? '?' : `${url.search}&`}${key}=${encodeURIComponent(value)}`;
  return copy;
}

async function pushBlobOnce(
  context: BlobPushContext,
  blob: PushBlob,
  errorContext: RegistryErrorContext,
  report: (phase: 'transfer' | 'retry', current: number) => void,
): Promise<Outcome> {
  const descriptor = blob.descriptor;
  const { registry, destination } = context;
  const path = destination.path;
  const blobUrl = await registry.url(`${path}/blobs/${descriptor.digest}`);
  const head = await registry.send({ method: 'HEAD', url: blobUrl, scopes: [pushScope(path)], context: errorContext, ...signalOption(context.signal) });
  await discard(head);
  if (head.status === 200) return 'exists';
  if (head.status !== 404) await expectStatus(head, [200, 404], errorContext, 'HEAD', blobUrl);

  const uploadsUrl = await registry.url(`${path}/blobs/uploads/`);
  let started: RegistryResponse | undefined;
  let startedUrl = uploadsUrl;
  for (const from of context.mountFrom(descriptor.digest)) {
    const mountUrl = new URL(uploadsUrl.href);
    mountUrl.search = `?mount=${encodeURIComponent(descriptor.digest)}&from=${encodeURIComponent(from)}`;
    const response = await registry.send({ method: 'POST', url: mountUrl, headers: { 'content-length': '0' }, scopes: [pushScope(path), pullScope(from)], context: errorContext, ...signalOption(context.signal) });
    if (response.status === 201) {
      await discard(response);
      return { mountedFrom: from };
    }
    if (response.status === 202) {
      // The mount did not happen, but the registry opened an ordinary upload: use it.
      started = response;
      startedUrl = mountUrl;
      break;
    }
    await discard(response);
  }
  if (started === undefined) {
    started = await registry.send({ method: 'POST', url: uploadsUrl, headers: { 'content-length': '0' }, scopes: [pushScope(path)], context: errorContext, ...signalOption(context.signal) });
    await expectStatus(started, [202], errorContext, 'POST', uploadsUrl);
  }
  await discard(started);
  let location = uploadLocation(started, startedUrl, errorContext);
  const minChunk = Number(header(started, 'oci-chunk-min-length') ?? '0');

  if (descriptor.size <= (context.monolithicMaxBytes ?? 512 * 1024 * 1024)) {
    let sent = 0;
    const putUrl = withQuery(location, 'digest', descriptor.digest);
    const response = await registry.send({
      method: 'PUT',
      url: putUrl,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(descriptor.size) },
      body: async () => {
        sent = 0;
        const stream = await blob.open({ verify: false });
        // Counted in a pipeline step: a 'data' listener would start the flow before undici reads.
        const counter = new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            sent += chunk.length;
            report('transfer', sent);
            callback(null, chunk);
          },
        });
        stream.on('error', (error) => counter.destroy(error));
        // A request that fails before its body is read destroys the counter only (pipe does not
        // pass that on): the blob's file under it would stay open until collected.
        counter.on('close', () => stream.destroy());
        return stream.pipe(counter);
      },
      scopes: [pushScope(path)],
      context: errorContext,
      ...signalOption(context.signal),
    });
    await expectStatus(response, [201, 204], errorContext, 'PUT', putUrl);
    await discard(response);
    return 'uploaded';
  }

  const chunkSize = Math.max(context.chunkBytes ?? 16 * 1024 * 1024, Number.isFinite(minChunk) ? minChunk : 0, 1);
  let reader = new ChunkReader(await blob.open({ verify: false }));
  try {
    let offset = 0;
    let failures = 0;
    while (offset < descriptor.size) {
      const length = Math.min(chunkSize, descriptor.size - offset);
      const chunkUrl = location;
      try {
        const response = await registry.send({
          method: 'PATCH',
          url: chunkUrl,
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(length), 'content-range': `${offset}-${offset + length - 1}` },
          body: () => Promise.resolve(reader.take(length)),
          once: true,
          scopes: [pushScope(path)],
          context: errorContext,
          ...signalOption(context.signal),
        });
        if (response.status === 416) {
          await discard(response);
          // Registry and client disagree on the offset: worth asking again, then starting over.
          throw new TsbuildError('REGISTRY', `${errorContext.action}: registry refused the chunk at byte ${offset}`, { temporary: true });
        }
        await expectStatus(response, [202], errorContext, 'PATCH', chunkUrl);
        await discard(response);
        location = uploadLocation(response, chunkUrl, errorContext);
        offset += length;
        report('transfer', offset);
      } catch (error) {
        failures++;
        if (!isTsbuildError(error) || !error.temporary || failures >= context.client.backoff.attempts) throw error;
        await sleep(context.client.backoff.delay(failures - 1));
        // The upload session survives a failed chunk: continue from what the registry holds.
        const resumed = await uploadStatus(context, chunkUrl, errorContext);
        if (resumed === undefined) throw error;
        location = resumed.location;
        offset = resumed.offset;
        reader.close();
        reader = new ChunkReader(await blob.open({ verify: false }));
        await reader.skip(offset);
        report('retry', offset);
      }
    }
    // Reading past the last byte lets the store's stream verify digest and size.
    await reader.end();
  } finally {
    reader.close();
  }
  const putUrl = withQuery(location, 'digest', descriptor.digest);
  const response = await registry.send({ method: 'PUT', url: putUrl, headers: { 'content-length': '0' }, scopes: [pushScope(path)], context: errorContext, ...signalOption(context.signal) });
  await expectStatus(response, [201, 204], errorContext, 'PUT', putUrl);
  await discard(response);
  return 'uploaded';
}

/**
 * Asks the registry how much of an upload it holds (`GET` on the upload URL answers 204 with
 * `Range: 0-LAST`). Undefined when it cannot say, and the upload starts over.
 */
async function uploadStatus(context: BlobPushContext, url: URL, errorContext: RegistryErrorContext): Promise<{ location: URL; offset: number } | undefined> {
  const response = await context.registry.send({ method: 'GET', url, scopes: [pushScope(context.destination.path)], context: errorContext, ...signalOption(context.signal) });
  await discard(response);
  if (response.status !== 204) return undefined;
  const range = /^(?:bytes=)?0-(\d+)$/.exec(header(response, 'range') ?? '');
  // Registries answer "0-0" for an empty upload too: taken as empty, since resending one byte
  // too many fails cleanly (the next chunk's range does not fit) where skipping one corrupts.
  const last = range === null ? -1 : Number(range[1]);
  const offset = last <= 0 ? 0 : last + 1;
  const location = header(response, 'location') === undefined ? url : uploadLocation(response, url, errorContext);
  return { location, offset };
}

/** Hands out consecutive pieces of exactly the requested length from one stream. */
class ChunkReader {
  private readonly iterator: AsyncIterator<Buffer>;
  private pending: Buffer | undefined;

  constructor(private readonly stream: NodeJS.ReadableStream & { destroy(): void }) {
    this.iterator = (stream as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  }

  async *take(length: number): AsyncGenerator<Buffer> {
    let remaining = length;
    while (remaining > 0) {
      let chunk = this.pending;
      this.pending = undefined;
      if (chunk === undefined) {
        const next = await this.iterator.next();
        if (next.done === true) throw new TsbuildError('SIZE_MISMATCH', `read blob: ended ${remaining} bytes early`);
        chunk = next.value;
      }
      if (chunk.length > remaining) {
        this.pending = chunk.subarray(remaining);
        chunk = chunk.subarray(0, remaining);
      }
      remaining -= chunk.length;
      yield chunk;
    }
  }

  /** Reads and drops the first `length` bytes: the registry holds them already. */
  async skip(length: number): Promise<void> {
    for await (const _chunk of this.take(length)) {
      // dropped
    }
  }

  async end(): Promise<void> {
    if (this.pending !== undefined && this.pending.length > 0) throw new TsbuildError('SIZE_MISMATCH', 'read blob: longer than its descriptor');
    const next = await this.iterator.next();
    if (next.done !== true) throw new TsbuildError('SIZE_MISMATCH', 'read blob: longer than its descriptor');
  }

  close(): void {
    this.stream.destroy();
  }
}

export async function putManifest(registry: Registry, client: RegistryClient, destination: ImageReference, document: { readonly descriptor: Descriptor; readonly bytes: Buffer }, target: string): Promise<void> {
  const path = destination.path;
  const context: RegistryErrorContext = { action: 'push manifest', reference: `${referenceName(destination)}:${target}`.replace(/:sha256:/, '@sha256:'), digest: document.descriptor.digest };
  await withRetries(client.backoff, async () => {
    const url = await registry.url(`${path}/manifests/${target}`);
    const response = await registry.send({
      method: 'PUT',
      url,
      headers: { 'content-type': document.descriptor.mediaType },
      body: document.bytes,
      scopes: [pushScope(path)],
      context,
    });
    await expectStatus(response, [201, 200, 204], context, 'PUT', url);
    await discard(response);
    const claimed = header(response, 'docker-content-digest');
    if (claimed !== undefined && claimed !== '' && claimed !== document.descriptor.digest) {
      throw new TsbuildError('DIGEST_MISMATCH', `${context.action}: registry stored ${claimed} instead of ${document.descriptor.digest}`);
    }
  }).catch((error: unknown) => {
    throw withContext(error, context);
  });
}
