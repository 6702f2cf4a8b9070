import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decompressLayer } from '../../src/store/index.js';
import { MediaType } from '../../src/common/index.js';
import { codeOf } from '../helpers/error-code.js';

/** A compressible tar-like payload, a few MB. */
const payload = Buffer.from(Array.from({ length: 60_000 }, (_, index) => `line ${index} of a layer, ${'x'.repeat(index % 50)}\n`).join(''));
const zstd = (data: Buffer, ...args: string[]): Buffer => execFileSync('zstd', ['-q', '-c', ...args], { input: data, maxBuffer: 1 << 30 });

async function collect(source: AsyncIterable<Buffer>): Promise<{ bytes: Buffer }> {
  const chunks: Buffer[] = [];
  for await (const chunk of source) chunks.push(chunk);
  return { bytes: Buffer.concat(chunks) };
}

/** Splits BYTES into chunks of SIZE (the first one FIRST long), as a stream would deliver them. */
/**
 * Decodes BOMB, given whole in one chunk: the bytes it decodes to, and the most memory (array
 * buffers above what was held before) the decoder held at any moment.
 */
async function decodeMeasured(bomb: Buffer, mediaType: string): Promise<{ total: number; peak: number }> {
  const baseline = process.memoryUsage().arrayBuffers;
  let peak = 0;
  let total = 0;
  for await (const chunk of decompressLayer(chunked(bomb, bomb.length), mediaType)) {
    total += chunk.length;
    peak = Math.max(peak, process.memoryUsage().arrayBuffers - baseline);
  }
  return { total, peak };
}

async function* chunked(bytes: Buffer, size: number, first = size): AsyncGenerator<Buffer> {
  yield bytes.subarray(0, first);
  for (let offset = first; offset < bytes.length; offset += size) yield bytes.subarray(offset, offset + size);
}

describe('decompressLayer', () => {
  it('reads gzip, zstd and plain layers, told by their magic bytes whatever the media type says', async () => {
    const cases: Array<[string, Buffer, string]> = [
      ['gzip', gzipSync(payload), MediaType.ociLayerGzip],
      ['zstd', zstd(payload), MediaType.ociLayerZstd],
      ['zstd, two frames', Buffer.concat([zstd(payload.subarray(0, 1000)), zstd(payload.subarray(1000))]), MediaType.ociLayerZstd],
      ['plain', payload, MediaType.ociLayer],
      ['gzip under a plain media type', gzipSync(payload), MediaType.ociLayer],
      ['zstd under a gzip media type', zstd(payload), MediaType.ociLayerGzip],
    ];
    for (const [name, compressed, mediaType] of cases) {
      // A first chunk shorter than the magic bytes, then odd sizes.
      for (const first of [1, 3, 4097]) {
        const { bytes } = await collect(decompressLayer(chunked(compressed, 4097, first), mediaType));
        expect(createHash('sha256').update(bytes).digest('hex'), `${name}, first chunk ${first}`).toBe(createHash('sha256').update(payload).digest('hex'));
      }
    }
    expect((await collect(decompressLayer(chunked(Buffer.alloc(0), 1), MediaType.ociLayer))).bytes.length).toBe(0);
  });

  it('fails with DIGEST_MISMATCH on a damaged or cut zstd stream', async () => {
    const compressed = zstd(payload);
    const cut = compressed.subarray(0, compressed.length - 100);
    expect(await codeOf(collect(decompressLayer(chunked(cut, 4096), MediaType.ociLayerZstd)))).toBe('DIGEST_MISMATCH');
    const damaged = Buffer.from(compressed);
    for (let offset = 20; offset < damaged.length; offset += 97) damaged[offset] = (damaged[offset] ?? 0) ^ 0x5a;
    expect(await codeOf(collect(decompressLayer(chunked(damaged, 4096), MediaType.ociLayerZstd)))).toBe('DIGEST_MISMATCH');
  });

  it('decodes a zstd bomb in bounded pieces: 1 GiB of zeros from a few KiB never sits in memory at once', async () => {
    // Made by a shell pipeline: a 1 GiB input buffer here would blur the measurement below.
    const bomb = execFileSync('sh', ['-c', 'head -c 1073741824 /dev/zero | zstd -19 -q -c'], { maxBuffer: 1 << 20 });
    expect(bomb.length).toBeLessThan(64 * 1024);
    const { total, peak } = await decodeMeasured(bomb, MediaType.ociLayerZstd);
    expect(total).toBe(1024 * 1024 * 1024);
    // Decoded pieces not yet collected count too; all of it at once would be 1 GiB.
    expect(peak).toBeLessThan(300 * 1024 * 1024);
  }, 60_000);

  it('decodes a gzip bomb as a stream: 512 MiB of zeros from 2 MiB never sits in memory at once (containers/storage CVE-2021-20291 class)', async () => {
    // A layer's size is bound by nothing in docker or BuildKit, so none is here either: what is
    // shown is that decoding holds a bounded piece of it at a time, whatever the ratio.
    const bomb = execFileSync('sh', ['-c', 'head -c 536870912 /dev/zero | gzip -1 -c'], { maxBuffer: 4 << 20 });
    expect(bomb.length).toBeLessThan(4 * 1024 * 1024);
    const { total, peak } = await decodeMeasured(bomb, MediaType.ociLayerGzip);
    expect(total).toBe(512 * 1024 * 1024);
    expect(peak).toBeLessThan(128 * 1024 * 1024);
  }, 60_000);

  it('refuses a zstd frame that asks for more than a 128 MiB window, before anything is allocated for it', async () => {
    // zstd --long=30: a legitimate stream whose header asks for a 1 GiB window, which a decoder
    // would allocate; the zstd program itself refuses it unless told --long=30 too.
    const large = execFileSync('sh', ['-c', 'head -c 100000 /dev/urandom | zstd --long=30 -q -c'], { maxBuffer: 1 << 20 });
    const baseline = process.memoryUsage().arrayBuffers;
    const error = await collect(decompressLayer(chunked(large, 4096), MediaType.ociLayerZstd)).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'DIGEST_MISMATCH' });
    expect((error as Error).message).toMatch(/window/);
    expect(process.memoryUsage().arrayBuffers - baseline).toBeLessThan(64 * 1024 * 1024);

    // A one-segment frame whose header claims 1 GiB of content (its window), with nothing after.
    const claim = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0xa0, 0x00, 0x00, 0x00, 0x40]);
    expect(await codeOf(collect(decompressLayer(chunked(claim, 3), MediaType.ociLayerZstd)))).toBe('DIGEST_MISMATCH');
  });

  it('passes over skippable frames and reads the frames around them', async () => {
    const skippable = Buffer.concat([Buffer.from([0x50, 0x2a, 0x4d, 0x18]), Buffer.from([5, 0, 0, 0]), Buffer.from('notes')]);
    const stream = Buffer.concat([zstd(payload.subarray(0, 5000)), skippable, zstd(payload.subarray(5000))]);
    const { bytes } = await collect(decompressLayer(chunked(stream, 1000, 2), MediaType.ociLayerZstd));
    expect(bytes.equals(payload)).toBe(true);
    // One first (as seekable zstd writers put it) makes the stream zstd, as containerd's and
    // moby's detection take it, whatever the media type says.
    const first = Buffer.concat([Buffer.from([0x5e, 0x2a, 0x4d, 0x18]), Buffer.from([5, 0, 0, 0]), Buffer.from('index'), zstd(payload)]);
    for (const size of [3, 1000]) expect((await collect(decompressLayer(chunked(first, size), MediaType.ociLayer))).bytes.equals(payload)).toBe(true);
  });

  it('either decodes a damaged zstd stream or fails with DIGEST_MISMATCH (property)', async () => {
    const valid = zstd(payload.subarray(0, 200_000));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.nat({ max: valid.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), async (edits) => {
        const damaged = Buffer.from(valid);
        for (const [offset, value] of edits) damaged[offset] = value;
        try {
          await collect(decompressLayer(chunked(damaged, 4096), MediaType.ociLayerZstd));
        } catch (error) {
          expect(error).toMatchObject({ code: 'DIGEST_MISMATCH' });
        }
      }),
      { numRuns: 200 },
    );
  }, 60_000);

  it('closes its source when the reader stops early', async () => {
    for (const compressed of [gzipSync(payload), zstd(payload), payload]) {
      let closed = false;
      const source = (async function* () {
        try {
          yield* chunked(compressed, 1000);
        } finally {
          closed = true;
        }
      })();
      for await (const chunk of decompressLayer(source, MediaType.ociLayer)) {
        void chunk;
        break;
      }
      // gzip: the pipeline closes its source as the gunzip stream is destroyed, a tick later.
      await new Promise((resolve) => setImmediate(resolve));
      expect(closed).toBe(true);
    }
  });
});
