import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { createHasher, isTsbuildError, MediaType, messageOf, nodeZlib, type Digest } from '../common/index.js';
import { reachableBlobs, resolveImage } from './image.js';
import type { LayoutStore } from './layout-store.js';

export interface VerifyProblem {
  /** The reference or blob concerned. */
  readonly subject: string;
  readonly message: string;
}

export interface VerifyResult {
  readonly blobs: number;
  readonly references: number;
  readonly problems: readonly VerifyProblem[];
}

/** sha256 of a layer's uncompressed content, read from the store once (the blob itself is verified on the way). */
async function layerDiffId(store: LayoutStore, digest: Digest, mediaType: string): Promise<Digest> {
  const hash = createHasher('sha256');
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      callback();
    },
  });
  const blob = await store.openBlob(digest);
  if (mediaType.endsWith('gzip')) await pipeline(blob, nodeZlib().createGunzip(), sink);
  else await pipeline(blob, sink);
  return `sha256:${hash.digest('hex')}` as Digest;
}

/**
 * Checks the whole store: every blob rehashes to its name, every reference resolves to a
 * complete image (manifest, config and layers present and valid), and every layer of the
 * host-platform image decompresses to its diff ID.
 */
export async function verifyStore(store: LayoutStore): Promise<VerifyResult> {
  const problems: VerifyProblem[] = [];
  const checked = new Set<Digest>();
  const references = await store.listReferences();
  for (const { name, target } of references) {
    try {
      const reachable = new Set<Digest>();
      const missing: Digest[] = [];
      await reachableBlobs(store, target, reachable, missing);
      for (const digest of missing) problems.push({ subject: name, message: `missing blob ${digest}` });
      if (missing.length > 0) continue;
      const image = await resolveImage(store, target).catch((error: unknown) => {
        // An index without the host's platform is complete if what it holds is.
        if (isTsbuildError(error, 'NOT_FOUND') && target.mediaType !== MediaType.ociManifest && target.mediaType !== MediaType.dockerManifest) return undefined;
        throw error;
      });
      if (image === undefined) continue;
      for (const [position, layer] of image.manifest.layers.entries()) {
        if (checked.has(layer.digest)) continue;
        const diffId = await layerDiffId(store, layer.digest, layer.mediaType);
        checked.add(layer.digest);
        if (diffId !== image.config.rootfs.diff_ids[position]) problems.push({ subject: name, message: `layer ${layer.digest} has diff ID ${diffId}, config says ${image.config.rootfs.diff_ids[position] ?? ''}` });
      }
    } catch (error) {
      problems.push({ subject: name, message: messageOf(error) });
    }
  }
  const blobs = await store.listBlobs();
  for (const blob of blobs) {
    if (checked.has(blob.digest)) continue;
    try {
      // openBlob verifies digest and size at the end: reading it through is the check.
      const stream = await store.openBlob(blob.digest);
      await pipeline(stream, new Writable({ write: (_chunk, _encoding, callback) => callback() }));
    } catch (error) {
      problems.push({ subject: blob.digest, message: messageOf(error) });
    }
  }
  return { blobs: blobs.length, references: references.length, problems };
}
