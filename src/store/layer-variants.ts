/**
 * Layers in another compression than the store holds them: `layer-variants/<layer hex>.<type>-<level>.json`
 * names the blob of LAYER compressed so (same tar, same diff ID). Made by exports (a layer
 * compressed once for every push, archive and cache export of it), and by cache imports, which
 * keep a fetched layer uncompressed, as the store keeps what it builds, and remember the fetched
 * bytes as its variant so that sending it on costs nothing.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { digestHex, parseDigest, type Descriptor } from '../common/index.js';
import { writeFileAtomic } from './atomic.js';
import type { LayoutStore } from './layout-store.js';

/**
 * gzip's default level: what an export compresses at when no level is asked for, and so the
 * variant a fetched gzip layer stands for.
 */
export const defaultGzipLevel = 6;

/** How a variant is named in its memo: `gzip-6`, `zstd-3`. */
export function layerVariantName(type: string, level: number): string {
  return `${type}-${level}`;
}

function memoPath(store: LayoutStore, layer: Descriptor, variant: string): string {
  return join(store.root, 'layer-variants', `${digestHex(layer.digest)}.${variant}.json`);
}

/** LAYER's VARIANT (`gzip-6`, `zstd-3`…) when remembered and its blob is still in the store. */
export async function knownLayerVariant(store: LayoutStore, layer: Descriptor, variant: string): Promise<Descriptor | undefined> {
  const known = await readFile(memoPath(store, layer, variant), 'utf8')
    .then((text) => JSON.parse(text) as Descriptor)
    .catch(() => undefined);
  if (known === undefined || typeof known.digest !== 'string') return undefined;
  return (await store.blobSize(parseDigest(known.digest))) === known.size ? known : undefined;
}

/** Remembers BLOB (in the store) as LAYER's VARIANT. */
export async function rememberLayerVariant(store: LayoutStore, layer: Descriptor, variant: string, blob: Descriptor): Promise<void> {
  await mkdir(join(store.root, 'layer-variants'), { recursive: true });
  await writeFileAtomic(memoPath(store, layer, variant), JSON.stringify(blob));
}
