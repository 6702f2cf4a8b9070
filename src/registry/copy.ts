/**
 * Copying an image or index from one repository to another, registry to registry, as buildx's
 * `imagetools create` does for sources kept elsewhere than its target: blobs are mounted where
 * both are on one registry, else streamed through (each checked against its digest on the way
 * in and by the target registry), then the manifests are put by digest, children first.
 */
import { TsbuildError, formatReference, type ImageReference } from '../common/index.js';
import { fetchDocument, type FetchedDocument } from './artifact.js';
import { openRemoteBlob } from './blob.js';
import type { RegistryClient } from './client.js';
import { pushBlobs, putManifest } from './push.js';

/** Deeper than an index of indexes, or wider than this, is no image anyone makes; a registry that says so is refused. */
const maxDepth = 2;
const maxEntries = 1024;

export async function copyRemoteDocument(client: RegistryClient, source: ImageReference, document: FetchedDocument, destination: ImageReference, depth = 0): Promise<void> {
  const registry = client.registry(destination.domain);
  if (document.kind === 'index') {
    if (depth >= maxDepth) throw new TsbuildError('REGISTRY', `copy ${formatReference(source)}: indexes nested more than ${maxDepth} deep`);
    if (document.index.manifests.length > maxEntries) throw new TsbuildError('REGISTRY', `copy ${formatReference(source)}: the index names ${document.index.manifests.length} manifests, more than the ${maxEntries} copied here`);
    for (const entry of document.index.manifests) {
      const child = { ...source, digest: entry.digest };
      await copyRemoteDocument(client, child, await fetchDocument(client, child), destination, depth + 1);
    }
  } else {
    const mountable = source.domain === destination.domain && source.path !== destination.path;
    const blobs = [document.manifest.config, ...document.manifest.layers].map((descriptor) => ({
      descriptor,
      open: () => openRemoteBlob({ client, reference: source, digest: descriptor.digest }),
    }));
    await pushBlobs({ registry, client, destination, mountFrom: () => (mountable ? [source.path] : []), counters: { uploaded: 0, mounted: 0, present: 0 } }, blobs);
  }
  await putManifest(registry, client, destination, document, document.descriptor.digest);
}
