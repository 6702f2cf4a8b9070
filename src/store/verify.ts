import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { isTsbuildError, MediaType, messageOf, type Digest } from '../common/index.js';
import { reachableBlobs } from './image.js';
import { storeImage } from './image-model.js';
import type { LayoutStore } from './layout-store.js';

export interface VerifyProblem {
  /** The reference or blob concerned. */
  readonly subject: string;
  readonly message: string;
}

export interface VerifyResult {
  readonly blobs: number;
  readonly references: number;
  /** Images kept without a name (docker's dangling images), checked as named ones are. */
  readonly unnamed: number;
  readonly problems: readonly VerifyProblem[];
}

/**
 * Checks the whole store: every blob rehashes to its name, every reference and every image
 * kept without a name resolves to a complete image (manifest, config and layers present and valid), and every layer of the
 * host-platform image decompresses (gzip, zstd or none, by its magic bytes) to its diff ID.
 */
export async function verifyStore(store: LayoutStore): Promise<VerifyResult> {
  const problems: VerifyProblem[] = [];
  const checked = new Set<Digest>();
  const references = await store.listReferences();
  const unnamed = await store.listUnnamed();
  // An unnamed image is reported by its manifest digest.
  const images = [...references, ...unnamed.map((target) => ({ name: target.digest, target }))];
  for (const { name, target } of images) {
    try {
      const reachable = new Set<Digest>();
      const missing: Digest[] = [];
      await reachableBlobs(store, target, reachable, missing);
      for (const digest of missing) problems.push({ subject: name, message: `missing blob ${digest}` });
      if (missing.length > 0) continue;
      const image = await storeImage(store, target).catch((error: unknown) => {
        // An index without the host's platform is complete if what it holds is.
        if (isTsbuildError(error, 'NOT_FOUND') && target.mediaType !== MediaType.ociManifest && target.mediaType !== MediaType.dockerManifest) return undefined;
        throw error;
      });
      if (image === undefined) continue;
      for (const layer of await image.layers()) {
        if (checked.has(layer.digest())) continue;
        // The blob is verified on the way, the tar against the diff ID at its end.
        await pipeline(layer.uncompressed(), new Writable({ write: (_chunk, _encoding, callback) => callback() }));
        checked.add(layer.digest());
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
  return { blobs: blobs.length, references: references.length, unnamed: unnamed.length, problems };
}
