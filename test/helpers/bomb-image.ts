/**
 * An image whose one layer is a decompression bomb: a tar entry of 64 GiB of zeros as 256 gzip
 * members of 256 MiB each (a few MiB, made in a second or two), stored as a pull leaves an image.
 * Writing it whole takes minutes: what an interrupted command must not wait for.
 */
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { MediaType, goJson, hostPlatform, type Descriptor } from '../../src/common/index.js';
import { encodeHeader } from '../../src/exporter/tar.js';
import type { Store } from '../../src/store/index.js';

/**
 * Stores the bomb image as REFERENCE (a full name: docker.io/library/NAME:TAG), its scratch files
 * in DIR; its manifest's descriptor. Its diff ID is made up: a load would read all 64 GiB to check it, the unpack checks it
 * only at its end. Delete the reference before the store is checked, or its check reads them.
 */
export async function storeBombImage(store: Store, dir: string, reference: string): Promise<Descriptor> {
  const chunk = join(dir, 'zeros.gz');
  execFileSync('sh', ['-c', `head -c 268435456 /dev/zero | gzip -1 -c > ${chunk}`]);
  const header = execFileSync('gzip', ['-1', '-c'], { input: encodeHeader({ path: 'zeros', type: 'file', size: 256 * 268435456, mode: 0o644, uid: 0, gid: 0, mtime: 0 }) });
  const repeated = await readFile(chunk);
  const layer = Buffer.concat([header, ...Array.from({ length: 256 }, () => repeated)]);
  const platform = hostPlatform();
  const config = Buffer.from(goJson({ architecture: platform.architecture, os: platform.os, config: { Cmd: ['/zeros'] }, rootfs: { type: 'layers', diff_ids: [`sha256:${'0'.repeat(64)}`] }, history: [{ created_by: 'bomb' }] }));
  const layerBlob = await store.putBlob(Readable.from([layer]));
  const configBlob = await store.putBlob(Readable.from([config]));
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: MediaType.ociConfig, ...configBlob }, layers: [{ mediaType: MediaType.ociLayerGzip, ...layerBlob }] }));
  const manifestBlob = await store.putBlob(Readable.from([manifest]));
  const descriptor: Descriptor = { mediaType: MediaType.ociManifest, ...manifestBlob };
  await store.setReference(reference, descriptor);
  return descriptor;
}
