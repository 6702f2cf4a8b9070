/** Random images for the registry tests: real gzipped tar layers of random content. */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { MediaType, hostPlatform, type Descriptor, type Digest, type ImageConfig, type Manifest, type Platform } from '../../src/common/index.js';
import type { ContentStore } from '../../src/store/index.js';

export interface RandomImage {
  readonly manifest: Descriptor;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
}

function sha256(bytes: Uint8Array): Digest {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest;
}

/** A tar of one file NAME, and its diff ID. */
export async function tarOf(name: string, content: Buffer): Promise<{ tar: Buffer; diffId: Digest }> {
  const archive = pack();
  archive.entry({ name, size: content.length, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0 }, content);
  archive.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of archive as AsyncIterable<Buffer>) chunks.push(chunk);
  const tar = Buffer.concat(chunks);
  return { tar, diffId: sha256(tar) };
}

export async function randomLayer(size: number): Promise<{ blob: Buffer; diffId: Digest }> {
  const { tar, diffId } = await tarOf(`file-${randomBytes(4).toString('hex')}`, randomBytes(size));
  // Random content does not compress: the blob is about as large as asked.
  return { blob: gzipSync(tar, { level: 1 }), diffId };
}

export async function putBytes(store: ContentStore, bytes: Buffer): Promise<Digest> {
  const digest = sha256(bytes);
  await store.putBlob(Readable.from([bytes]), { digest, size: bytes.length });
  return digest;
}

export interface RandomImageOptions {
  readonly name: string;
  readonly layerSizes: readonly number[];
  /** Docker v2 schema 2 media types instead of OCI. */
  readonly docker?: boolean;
  /** The platform its config names; default the host's. */
  readonly platform?: Platform;
  /** Labels for its config (large ones make a large config). */
  readonly labels?: Readonly<Record<string, string>>;
}

export async function writeRandomImage(store: ContentStore, options: RandomImageOptions): Promise<RandomImage> {
  const layerType = options.docker === true ? MediaType.dockerLayerGzip : MediaType.ociLayerGzip;
  const layers: Descriptor[] = [];
  const diffIds: Digest[] = [];
  for (const size of options.layerSizes) {
    const { blob, diffId } = await randomLayer(size);
    layers.push({ mediaType: layerType, digest: await putBytes(store, blob), size: blob.length });
    diffIds.push(diffId);
  }
  const platform = options.platform ?? hostPlatform();
  const imageConfig: ImageConfig = {
    architecture: platform.architecture,
    os: platform.os,
    config: { Env: ['PATH=/bin'], Cmd: ['sh'], ...(options.labels === undefined ? {} : { Labels: { ...options.labels } }) },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: diffIds.map(() => ({ created_by: 'random layer' })),
  };
  const configBytes = Buffer.from(JSON.stringify(imageConfig));
  const config: Descriptor = {
    mediaType: options.docker === true ? MediaType.dockerConfig : MediaType.ociConfig,
    digest: await putBytes(store, configBytes),
    size: configBytes.length,
  };
  const manifestType = options.docker === true ? MediaType.dockerManifest : MediaType.ociManifest;
  const manifestDocument: Manifest = { schemaVersion: 2, mediaType: manifestType, config, layers };
  const manifestBytes = Buffer.from(JSON.stringify(manifestDocument));
  const manifest: Descriptor = { mediaType: manifestType, digest: await putBytes(store, manifestBytes), size: manifestBytes.length };
  await store.setReference(options.name, manifest);
  return { manifest, config, layers };
}
