/**
 * Pull: reference → (index → platform) → manifest → config and layers, each streamed into the
 * store through an ingest that verifies digest and size before anything becomes visible.
 * Blobs download in parallel up to a bound; a temporary failure resumes from the bytes already
 * held (a Range request) when the registry allows it; the reference is set last, so a failed
 * pull never leaves a name pointing at an incomplete image.
 */
import pLimit from 'p-limit';
import { Readable } from 'node:stream';
import {
  TsbuildError,
  formatPlatform,
  formatReference,
  hostPlatform,
  imagePlatform,
  isManifestMediaType,
  isTsbuildError,
  layerMediaTypes,
  maxImageConfigBytes,
  parseImageConfig,
  parseReference,
  platformMatches,
  selectManifest,
  referenceName,
  type Descriptor,
  type Digest,
  type ImageReference,
  type Manifest,
  type Platform,
} from '../common/index.js';
import { storeImage, type ContentStore, type Image, type Ingest } from '../store/index.js';
import type { Registry, RegistryClient } from './client.js';
import { networkError, readCapped, statusError, withContext } from './errors.js';
import { fetchManifest, pullScope, type FetchedDocument } from './manifest.js';
import { describePlatforms } from './platform.js';
import type { ProgressListener } from './progress.js';
import { withRetries } from './retry.js';
import { discard, header } from './transport.js';

export interface PullOptions {
  readonly reference: string | ImageReference;
  /** The store, or its opening: the manifest is fetched meanwhile (a fresh root takes a while to create). */
  readonly store: ContentStore | Promise<ContentStore>;
  readonly client: RegistryClient;
  /** The platform to select from an index; default the host's. */
  readonly platform?: Platform;
  /**
   * Take a single-platform image (a manifest, not an index) whatever platform its config says,
   * as containerd's resolver takes the manifest a reference names (BuildKit's FROM); otherwise
   * one of another platform than PLATFORM is refused, as `docker pull --platform` refuses it.
   */
  readonly anyPlatformOfManifest?: boolean;
  /** Blobs downloaded at once; default 3. */
  readonly concurrency?: number;
  readonly onProgress?: ProgressListener;
  readonly signal?: AbortSignal;
}

export interface PullResult {
  /** The fully qualified reference that was pulled and set in the store. */
  readonly reference: string;
  /** Digest of what the reference resolved to in the registry (an index or a manifest). */
  readonly digest: Digest;
  /** The image manifest stored and referenced. */
  readonly manifest: Descriptor;
  /** The image as stored, read through the store's image model. */
  readonly image: Image;
  readonly blobsFetched: number;
  readonly blobsPresent: number;
  /** Whether the reference is new in the store or now names another manifest. */
  readonly referenceUpdated: boolean;
}

const maxIndexDepth = 2;
const writeBatchBytes = 1024 * 1024;

/**
 * Pulls the image OPTIONS name: from each of its registry's mirrors in turn (see
 * RegistryClientOptions.mirrors), as docker's daemon and podman do, any failure there passing on
 * to the next, then from the registry itself, whose failure is the pull's.
 */
export async function pull(options: PullOptions): Promise<PullResult> {
  const reference = typeof options.reference === 'string' ? parseReference(options.reference) : options.reference;
  for (const mirror of options.client.mirrorsFor(reference.domain, reference.digest !== undefined)) {
    try {
      return await pullFrom(options, reference, options.client.registry(mirror));
    } catch (error) {
      if (options.signal?.aborted === true) throw error;
    }
  }
  return pullFrom(options, reference, options.client.registry(reference.domain));
}

async function pullFrom(options: PullOptions, reference: ImageReference, registry: Registry): Promise<PullResult> {
  const platform = options.platform ?? hostPlatform();
  const name = formatReference(reference);
  const signal = options.signal;

  const fetch = (target: string, expected?: Descriptor): Promise<FetchedDocument> =>
    withRetries(options.client.backoff, () =>
      fetchManifest(registry, { reference, target, ...(expected === undefined ? {} : { expected }), ...(signal === undefined ? {} : { signal }) }),
    );

  const opening = Promise.resolve(options.store);
  // Its failure is taken up where the store is first needed.
  opening.catch(() => undefined);
  const root = await fetch(reference.digest ?? reference.tag ?? 'latest');
  options.onProgress?.({ kind: 'manifest', digest: root.descriptor.digest, mediaType: root.descriptor.mediaType, reference: name });
  const configPlatformOf = async (manifest: Manifest): Promise<Platform> => {
    const store = await opening;
    await pullBlob({ registry, reference, store, descriptor: manifest.config, backoff: options.client.backoff, signal: signal ?? new AbortController().signal, onProgress: undefined });
    const bytes = await store.readBlob(manifest.config.digest, maxImageConfigBytes);
    let config;
    try {
      config = parseImageConfig(bytes);
    } catch (error) {
      throw new TsbuildError('INVALID_MEDIA_TYPE', `pull ${name}: config ${manifest.config.digest}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    return imagePlatform(config);
  };
  let document = root;
  let chosenPlatform: Platform | undefined;
  for (let depth = 0; document.kind === 'index'; depth++) {
    if (depth >= maxIndexDepth) throw new TsbuildError('REGISTRY', `pull ${name}: indexes nested too deeply`);
    const chosen = selectManifest(document.index.manifests, platform);
    let next: FetchedDocument | undefined;
    if (chosen !== undefined) {
      chosenPlatform = chosen.platform;
      next = await fetch(chosen.digest, { mediaType: chosen.mediaType, digest: chosen.digest, size: chosen.size });
    } else {
      // As containerd: an entry that names no platform is the image its config says, and comes
      // after every entry that names one.
      for (const entry of document.index.manifests) {
        if (entry.platform !== undefined || !isManifestMediaType(entry.mediaType)) continue;
        const candidate = await fetch(entry.digest, { mediaType: entry.mediaType, digest: entry.digest, size: entry.size });
        if (candidate.kind !== 'manifest') continue;
        const actual = await configPlatformOf(candidate.manifest);
        if (!platformMatches(actual, platform)) continue;
        chosenPlatform = actual;
        next = candidate;
        break;
      }
    }
    if (next === undefined) {
      throw new TsbuildError('NOT_FOUND', `pull ${name}: no manifest for platform ${formatPlatform(platform)} (available: ${describePlatforms(document.index.manifests)})`);
    }
    document = next;
    options.onProgress?.({ kind: 'manifest', digest: document.descriptor.digest, mediaType: document.descriptor.mediaType, reference: name });
  }
  const manifest = document.manifest;
  for (const layer of manifest.layers) {
    if (!layerMediaTypes.has(layer.mediaType) && !layer.mediaType.startsWith('application/vnd.oci.image.layer.')) {
      throw new TsbuildError('INVALID_MEDIA_TYPE', `pull ${name}: layer ${layer.digest} has unsupported media type ${layer.mediaType}`);
    }
  }

  const store = await opening;
  if (document === root && options.platform !== undefined && options.anyPlatformOfManifest !== true) {
    // A single-platform image says its platform only in its config: fetched first, and checked.
    const actual = await configPlatformOf(manifest);
    if (!platformMatches(actual, platform)) {
      throw new TsbuildError('NOT_FOUND', `pull ${name}: the image is for ${formatPlatform(actual)}, not the requested ${formatPlatform(platform)}`);
    }
  }

  const blobs = [manifest.config, ...manifest.layers];
  const unique = [...new Map(blobs.map((blob) => [blob.digest, blob])).values()];
  const limit = pLimit(Math.max(1, Math.min(options.concurrency ?? 3, 16)));
  const controller = new AbortController();
  const abortAll = (): void => controller.abort();
  signal?.addEventListener('abort', abortAll, { once: true });
  let fetched = 0;
  let present = 0;
  let firstFailure: { readonly error: unknown } | undefined;
  try {
    // Settled, not raced: a pull that failed returns only once no download of it writes to the
    // store any more.
    await Promise.allSettled(
      unique.map((descriptor) =>
        // The config is small: it does not wait for, nor take, a layer's download slot.
        (descriptor === manifest.config ? (run: () => Promise<void>) => run() : limit)(async () => {
          if (controller.signal.aborted) return;
          const outcome = await pullBlob({ registry, reference, store, descriptor, backoff: options.client.backoff, signal: controller.signal, onProgress: options.onProgress }).catch(
            (error: unknown) => {
              // One failed blob stops the others rather than letting them run on for nothing;
              // theirs are only the consequence of the abort.
              firstFailure ??= { error };
              controller.abort();
              throw error;
            },
          );
          if (outcome === 'fetched') fetched++;
          else present++;
        }),
      ),
    );
  } finally {
    signal?.removeEventListener('abort', abortAll);
  }
  if (signal?.aborted === true) throw new TsbuildError('REGISTRY', `pull ${name}: cancelled`);
  if (firstFailure !== undefined) throw firstFailure.error;

  const manifestDescriptor: Descriptor = {
    mediaType: document.descriptor.mediaType,
    digest: document.descriptor.digest,
    size: document.descriptor.size,
    ...(chosenPlatform === undefined ? {} : { platform: chosenPlatform }),
  };
  await store.putBlob(Readable.from([document.bytes]), { digest: document.descriptor.digest, size: document.descriptor.size });
  // Read back as the rest of tsbuild reads it before a name points at it: a config that is no
  // image config, or whose diff IDs do not match the layers, fails the pull rather than a build.
  const image = await storeImage(store, manifestDescriptor).catch((error: unknown) => {
    if (!isTsbuildError(error)) throw error;
    throw new TsbuildError(error.code, `pull ${name}: ${error.message}`, { cause: error });
  });
  const previous = await store.resolveReference(name);
  await store.setReference(name, manifestDescriptor);
  return {
    reference: name,
    digest: root.descriptor.digest,
    manifest: manifestDescriptor,
    image,
    blobsFetched: fetched,
    blobsPresent: present,
    referenceUpdated: previous?.digest !== manifestDescriptor.digest,
  };
}

interface PullBlobOptions {
  readonly registry: Registry;
  readonly reference: ImageReference;
  readonly store: ContentStore;
  readonly descriptor: Descriptor;
  readonly backoff: RegistryClient['backoff'];
  readonly signal: AbortSignal;
  readonly onProgress: ProgressListener | undefined;
}

/** Downloads one blob into the store unless it is there already. */
export async function pullBlob(options: PullBlobOptions): Promise<'fetched' | 'present'> {
  const { descriptor, store } = options;
  const context = { action: 'pull blob', reference: referenceName(options.reference), digest: descriptor.digest };
  const report = (phase: 'exists' | 'transfer' | 'retry' | 'done' | 'waiting', current: number): void =>
    options.onProgress?.({ kind: 'blob', digest: descriptor.digest, mediaType: descriptor.mediaType, phase, current, total: descriptor.size });
  if ((await store.blobSize(descriptor.digest)) === descriptor.size) {
    report('exists', descriptor.size);
    return 'present';
  }
  report('waiting', 0);
  let restartFromZero = false;
  await withRetries(
    options.backoff,
    async () => {
      let ingest = await store.beginIngest({ digest: descriptor.digest, size: descriptor.size });
      if (restartFromZero || ingest.offset > descriptor.size) {
        await ingest.abort();
        ingest = await store.beginIngest({ digest: descriptor.digest, size: descriptor.size });
        restartFromZero = false;
      }
      const resumedFrom = ingest.offset;
      try {
        await transfer(options, ingest, context, report);
      } catch (error) {
        if (isTsbuildError(error, 'DIGEST_MISMATCH') || isTsbuildError(error, 'SIZE_MISMATCH')) {
          await ingest.abort().catch(() => undefined);
          // Bytes kept from an earlier attempt may be what is wrong: one fresh attempt from zero.
          if (resumedFrom > 0) {
            restartFromZero = true;
            throw new TsbuildError(error.code, error.message, { cause: error, temporary: true });
          }
          throw withContext(error, context);
        }
        await ingest.suspend().catch(() => undefined);
        if (isTsbuildError(error) && error.temporary) report('retry', 0);
        throw error;
      }
    },
  ).catch((error: unknown) => {
    throw withContext(error, context);
  });
  report('done', descriptor.size);
  return 'fetched';
}

async function transfer(
  options: PullBlobOptions,
  ingest: Ingest,
  context: { action: string; reference: string; digest: Digest },
  report: (phase: 'transfer', current: number) => void,
): Promise<void> {
  const { descriptor, registry } = options;
  let written = ingest.offset;
  if (written < descriptor.size) {
    const url = await registry.url(`${options.reference.path}/blobs/${descriptor.digest}`);
    const response = await registry.send({
      method: 'GET',
      url,
      headers: written > 0 ? { range: `bytes=${written}-` } : {},
      scopes: [pullScope(options.reference.path)],
      context,
      signal: options.signal,
      // No expectDigest: the ingest hashes what it is given and its commit verifies digest and
      // size, so hashing the same bytes a second time here would only cost CPU.
    });
    if (response.status === 416) {
      await discard(response);
      throw new TsbuildError('SIZE_MISMATCH', `${context.action}: registry refused range from byte ${written}`);
    }
    if (response.status === 200 && written > 0) {
      // The registry ignored the Range: start over with this complete body.
      response.body.destroy();
      throw new TsbuildError('SIZE_MISMATCH', `${context.action}: registry ignored the range request`);
    }
    if (response.status === 206) {
      const range = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(header(response, 'content-range') ?? '');
      if (range === null || Number(range[1]) !== written) {
        response.body.destroy();
        throw new TsbuildError('SIZE_MISMATCH', `${context.action}: registry answered a different range than asked`);
      }
    } else if (response.status !== 200) {
      throw statusError({ context, method: 'GET', url, status: response.status, body: await readCapped(response.body) });
    }
    // One write in flight while the next chunk arrives: the disk and the network overlap.
    let pending: Promise<void> | undefined;
    try {
      for await (const batch of batches(response.body)) {
        written += batch.size;
        if (written > descriptor.size) {
          throw new TsbuildError('SIZE_MISMATCH', `${context.action}: registry sent more than the ${descriptor.size} bytes of the descriptor`);
        }
        if (pending !== undefined) await pending;
        const reached = written;
        pending = ingest.write(batch.chunks).then(() => report('transfer', reached));
        // Its failure is taken up by the next await; until then it must not count as unhandled.
        pending.catch(() => undefined);
      }
      if (pending !== undefined) await pending;
    } catch (error) {
      // Whatever was received is written before the ingest is suspended for a later resume.
      await pending?.catch(() => undefined);
      response.body.destroy();
      throw networkError(context, 'GET', url, error);
    }
    if (written < descriptor.size) {
      throw new TsbuildError('REGISTRY', `${context.action}: connection ended after ${written} of ${descriptor.size} bytes`, { temporary: true });
    }
  }
  await ingest.commit();
}

/**
 * Yields a body's chunks in batches of what arrived since the last one, for one writev each:
 * fewer system calls when the network is faster than the disk, no copy into a bigger buffer, and
 * nothing held back while waiting for the network (a killed download keeps every byte it
 * received). The body flows ('data' events: a paused stream's read() costs several times more per
 * chunk) and is paused while a batch waits that holds `writeBatchBytes`. A body that fails
 * yields what it delivered before the failure is thrown.
 */
export async function* batches(body: Readable): AsyncGenerator<{ readonly chunks: Buffer[]; readonly size: number }> {
  let chunks: Buffer[] = [];
  let size = 0;
  let ended = body.readableEnded;
  // A body that failed or closed before this listened fires nothing more: it is taken from its state.
  let failure: unknown = body.errored ?? (body.destroyed && !ended ? closedEarly() : undefined);
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  const onData = (chunk: Buffer): void => {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= writeBatchBytes) body.pause();
    notify();
  };
  const onEnd = (): void => {
    ended = true;
    notify();
  };
  // Also the listener that keeps an error between two batches, while the consumer writes, from
  // ending the process as an 'error' nobody listens to.
  const onError = (error: Error): void => {
    failure ??= error;
    notify();
  };
  const onClose = (): void => {
    if (!ended) failure ??= closedEarly();
    notify();
  };
  body.on('data', onData);
  body.on('end', onEnd);
  body.on('error', onError);
  body.on('close', onClose);
  try {
    for (;;) {
      if (size > 0) {
        const batch = { chunks, size };
        chunks = [];
        size = 0;
        if (!ended && failure === undefined) body.resume();
        yield batch;
        continue;
      }
      if (failure !== undefined) throw failure;
      if (ended) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    body.off('data', onData);
    body.off('end', onEnd);
    body.off('error', onError);
    body.off('close', onClose);
  }
}

function closedEarly(): TsbuildError {
  return new TsbuildError('REGISTRY', 'connection closed before the body ended', { temporary: true });
}
