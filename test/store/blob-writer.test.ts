import { createHash, randomBytes } from 'node:crypto';
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createNativeHashingWriter } from '../../src/common/index.js';
import { openBlobWriter, openNodeBlobWriter, type BlobWriter } from '../../src/store/blob-writer.js';
import { useTemporaryStores } from '../helpers/temporary-store.js';

const scratch = useTemporaryStores();

describe('blob writers', () => {
  it('loads the native writer here (npm ci builds it): the fast path is the one tested below', async () => {
    const handle = await open(join(scratch.dir, 'probe'), 'w');
    try {
      expect(createNativeHashingWriter(handle.fd, 'sha256', 0, 0)).toBeDefined();
    } finally {
      await handle.close();
    }
  });

  for (const [kind, make] of [
    ['native (thread pool)', openBlobWriter],
    ['Node (main thread)', openNodeBlobWriter],
  ] as const) {
    for (const algorithm of ['sha256', 'sha512'] as const) {
      it(`${kind}, ${algorithm}: writes and hashes exactly what it is given, and continues a file it absorbed`, async () => {
        const path = join(scratch.dir, `${algorithm}.blob`);
        const earlier = randomBytes(3_000_001);
        await writeFile(path, earlier);
        // Sizes around the writeback step (8 MiB) and odd ones, empty included.
        const chunks = [randomBytes(0), randomBytes(1), randomBytes(9 * 1024 * 1024 + 7), randomBytes(65_536), randomBytes(1_000_003)];
        const handle = await open(path, 'a');
        let writer: BlobWriter;
        try {
          writer = make(handle, algorithm, earlier.length);
          writer.absorb(earlier.subarray(0, 1_000_000));
          writer.absorb(earlier.subarray(1_000_000));
          await writer.write(chunks.slice(0, 2));
          for (const chunk of chunks.slice(2)) await writer.write([chunk]);
          await handle.sync();
        } finally {
          await handle.close();
        }
        const expected = Buffer.concat([earlier, ...chunks]);
        expect((await readFile(path)).equals(expected)).toBe(true);
        expect(writer.hex()).toBe(createHash(algorithm).update(expected).digest('hex'));
        // hex() does not finish the hash: asking twice gives the same answer.
        expect(writer.hex()).toBe(createHash(algorithm).update(expected).digest('hex'));
      });
    }
  }

  it('native: fails a write with the errno of the system call, and refuses two writes at once', async () => {
    const handle = await open(join(scratch.dir, 'readonly'), 'w+');
    const readOnly = await open(join(scratch.dir, 'readonly'), 'r');
    try {
      const broken = openBlobWriter(readOnly, 'sha256', 0);
      await expect(broken.write([Buffer.from('x')])).rejects.toMatchObject({ code: 'EBADF', syscall: 'pwritev' });
      const native = createNativeHashingWriter(handle.fd, 'sha256', 0, 0);
      const first = native?.write([Buffer.from('a')]);
      expect(() => native?.write([Buffer.from('b')])).toThrow(expect.objectContaining({ code: 'EBUSY' }));
      await first;
      // Other algorithms are Node's to hash.
      expect(createNativeHashingWriter(handle.fd, 'md5', 0, 0)).toBeUndefined();
    } finally {
      await readOnly.close();
      await handle.close();
    }
  });

  for (const [kind, make] of [
    ['native (thread pool)', openBlobWriter],
    ['Node (main thread)', openNodeBlobWriter],
  ] as const) {
    it(`${kind}: makes the data durable as it goes, one flush at a time, and reports a flush that failed`, async () => {
      const handle = await open(join(scratch.dir, 'flushed.blob'), 'w');
      const flushes: number[] = [];
      let running = 0;
      const datasync = handle.datasync.bind(handle);
      handle.datasync = async () => {
        running++;
        flushes.push(running);
        try {
          return await datasync();
        } finally {
          running--;
        }
      };
      try {
        const writer = make(handle, 'sha256', 0);
        const chunk = randomBytes(1024 * 1024);
        for (let index = 0; index < 100; index++) await writer.write([chunk]);
        await writer.settle();
        // 100 MiB, a flush every 32 MiB at most, never two at once.
        expect(flushes.length).toBeGreaterThanOrEqual(1);
        expect(flushes.length).toBeLessThanOrEqual(3);
        expect(Math.max(...flushes)).toBe(1);

        handle.datasync = () => Promise.reject(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
        for (let index = 0; index < 40; index++) await writer.write([chunk]);
        await expect(writer.settle()).rejects.toMatchObject({ code: 'EIO' });
      } finally {
        await handle.close();
      }
    });
  }
});
