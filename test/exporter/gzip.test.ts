/**
 * The gzip layers tsbuild sends are a function of the tar alone: runs of 1 MiB, each probed (its
 * first 64 KiB at level 1 must shrink by 3%) and then deflated with a sync flush or stored as it
 * is, between a fixed header and gzip's trailer. Checked against that format built here with
 * zlib's synchronous calls, so that how the writer spreads its work (which thread probes, which
 * deflates) can never change a layer's digest. And a layer's variant is made only from the tar
 * its diff ID names: the store's blob is not hashed on the way in, the tar is.
 */
import { createHash } from 'node:crypto';
import { chmod, open } from 'node:fs/promises';
import { constants, crc32, deflateRawSync, gunzipSync } from 'node:zlib';
import { beforeEach, describe, expect, it } from 'vitest';
import { parseDigest, type Descriptor } from '../../src/common/index.js';
import { compressLayer, exportCompression, layerInCompression, writeLayer } from '../../src/exporter/index.js';
import { knownLayerVariant, layerVariantName, type Store } from '../../src/store/index.js';
import { useTemporaryStores } from '../helpers/temporary-store.js';

const mib = 1024 * 1024;

/** SIZE bytes whose 1 MiB runs alternate: text that deflates, a seeded generator's bytes that do not, then a mix (which does). */
function mixedBytes(size: number): Buffer {
  const out = Buffer.alloc(size);
  let state = 7;
  for (let i = 0; i < size; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    const run = Math.floor(i / mib) % 3;
    out[i] = run === 1 || (run === 2 && i % 4096 >= 3000) ? state >>> 24 : 97 + ((state >>> 16) % 7);
  }
  return out;
}

/** The gzip of DATA as the format above says, at LEVEL. */
function referenceGzip(data: Buffer, level: number): Buffer {
  const parts: Buffer[] = [Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03])];
  for (let offset = 0; offset < data.length; offset += mib) {
    const run = data.subarray(offset, Math.min(offset + mib, data.length));
    const probe = run.subarray(0, 64 * 1024);
    if (deflateRawSync(probe, { level: 1 }).length < probe.length * 0.97) {
      parts.push(deflateRawSync(run, { level, finishFlush: constants.Z_SYNC_FLUSH }));
      continue;
    }
    for (let start = 0; start < run.length; start += 65535) {
      const piece = run.subarray(start, Math.min(start + 65535, run.length));
      const head = Buffer.alloc(5);
      head.writeUInt16LE(piece.length, 1);
      head.writeUInt16LE(~piece.length & 0xffff, 3);
      parts.push(head, piece);
    }
  }
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc32(data) >>> 0, 0);
  trailer.writeUInt32LE(data.length % 2 ** 32, 4);
  parts.push(Buffer.from([0x01, 0x00, 0x00, 0xff, 0xff]), trailer);
  return Buffer.concat(parts);
}

const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

describe('gzip layers', () => {
  const stores = useTemporaryStores();
  let store: Store;

  beforeEach(async () => {
    store = await stores.open();
  });

  it('are the format built with zlib alone, whatever the pieces the tar arrives in', async () => {
    const data = mixedBytes(6 * mib + 12_345);
    const expected = referenceGzip(data, 6);
    // The reference has both kinds of run: this test covers the probe's two answers.
    expect(expected.length).toBeGreaterThan(2 * mib);
    expect(expected.length).toBeLessThan(data.length * 0.8);
    for (const piece of [mib, 300_000, 4 * mib + 1]) {
      const chunks = async function* (): AsyncGenerator<Buffer> {
        for (let offset = 0; offset < data.length; offset += piece) yield data.subarray(offset, offset + piece);
      };
      const layer = await compressLayer(chunks(), store, 'gzip', 6);
      expect(layer.descriptor.digest).toBe(sha256(expected));
      expect(layer.descriptor.size).toBe(expected.length);
      expect(layer.diffId).toBe(sha256(data));
    }
    expect(gunzipSync(expected).equals(data)).toBe(true);
  });

  it('are made from the tar the diff ID names: a damaged store layer fails, and no variant is remembered', async () => {
    const content = mixedBytes(2 * mib);
    const tar = await writeLayer([{ path: 'data', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 1, size: content.length, content: () => content }], store, { compression: 'none' });
    const layer: Descriptor = tar.descriptor;
    // Damaged in place: the same size, other bytes, as a failing disk leaves a file.
    const path = store.blobPath(parseDigest(layer.digest));
    await chmod(path, 0o644);
    const file = await open(path, 'r+');
    await file.write(Buffer.from('damaged'), 0, 7, 1024 * 1024);
    await file.close();
    await expect(layerInCompression(store, layer, tar.diffId, exportCompression)).rejects.toThrow(/diff ID/);
    expect(await knownLayerVariant(store, layer, layerVariantName('gzip', 6))).toBeUndefined();
    stores.broken();
  });
});
