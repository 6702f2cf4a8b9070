/**
 * Reading and writing an OCI artifact that is no image (a build cache, say): one manifest, its
 * config and its layers, by reference. Everything received is verified as a pull verifies it;
 * nothing is stored here, the caller decides where the blobs go.
 */
import type { Readable } from 'node:stream';
import { TsbuildError, parseReference, type Descriptor, type ImageReference } from '../common/index.js';
import type { RegistryClient } from './client.js';
import { openRemoteBlob } from './blob.js';
import { fetchManifest, readWhole, type FetchedDocument } from './manifest.js';
import type { ProgressListener } from './progress.js';
import { putManifest, pushBlobs } from './push.js';
import { withRetries } from './retry.js';

export type { FetchedDocument } from './manifest.js';

function referenceOf(reference: string | ImageReference): ImageReference {
  return typeof reference === 'string' ? parseReference(reference) : reference;
}

/** The manifest or index a reference names (its tag, else `latest`, or its digest), digest and media type checked. */
export async function fetchDocument(client: RegistryClient, reference: string | ImageReference, signal?: AbortSignal): Promise<FetchedDocument> {
  const parsed = referenceOf(reference);
  const registry = client.registry(parsed.domain);
  const target = parsed.digest ?? parsed.tag ?? 'latest';
  return withRetries(client.backoff, () => fetchManifest(registry, { reference: parsed, target, ...(signal === undefined ? {} : { signal }) }));
}

/** A small blob (a config) read whole, up to LIMIT bytes, its digest and size checked. */
export async function fetchSmallBlob(client: RegistryClient, reference: string | ImageReference, descriptor: Descriptor, limit: number): Promise<Buffer> {
  if (descriptor.size > limit) throw new TsbuildError('REGISTRY', `read blob ${descriptor.digest}: ${descriptor.size} bytes exceed the ${limit}-byte limit`);
  const body = await withRetries(client.backoff, () => openRemoteBlob({ client, reference, digest: descriptor.digest }));
  const bytes = await readWhole(body as Readable & { destroy(): void }, descriptor.size + 1, (error) =>
    error instanceof TsbuildError ? error : new TsbuildError('REGISTRY', `read blob ${descriptor.digest}: ${String(error)}`, { cause: error }),
  );
  if (bytes.length !== descriptor.size) throw new TsbuildError('SIZE_MISMATCH', `read blob ${descriptor.digest}: ${bytes.length} bytes received, the descriptor says ${descriptor.size}`);
  return bytes;
}

export interface ArtifactBlob {
  readonly descriptor: Descriptor;
  open(): Promise<Readable>;
}

export interface PushArtifactOptions {
  readonly client: RegistryClient;
  /** Where the manifest goes: its tag (default `latest`). */
  readonly destination: string | ImageReference;
  readonly manifest: { readonly descriptor: Descriptor; readonly bytes: Buffer };
  /** The config and the layers: those the registry holds already are skipped. */
  readonly blobs: readonly ArtifactBlob[];
  readonly onProgress?: ProgressListener;
}

/** Pushes an artifact's blobs, then its manifest under the destination's tag. */
export async function pushArtifact(options: PushArtifactOptions): Promise<void> {
  const destination = referenceOf(options.destination);
  await pushArtifactBlobs({ ...options, destination });
  await putManifest(options.client.registry(destination.domain), options.client, destination, options.manifest, destination.tag ?? 'latest');
}

/**
 * Pushes blobs of an artifact to come (those the registry holds already are skipped), before
 * its manifest is known: a cache export sends each layer as its step ends.
 */
export async function pushArtifactBlobs(options: Omit<PushArtifactOptions, 'manifest'>): Promise<void> {
  const destination = referenceOf(options.destination);
  const registry = options.client.registry(destination.domain);
  await pushBlobs(
    {
      registry,
      client: options.client,
      destination,
      mountFrom: () => [],
      counters: { uploaded: 0, mounted: 0, present: 0 },
      ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
    },
    options.blobs.map((blob) => ({ descriptor: blob.descriptor, open: () => blob.open() })),
  );
}
