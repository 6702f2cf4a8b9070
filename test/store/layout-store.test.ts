import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { beforeEach, describe, expect, it } from 'vitest';
import { MediaType, parseDigest, type Digest } from '../../src/common/index.js';
import { defaultRoot, openStore, pruneStore, type Store } from '../../src/store/index.js';
import { busyboxImage } from '../helpers/busybox-image.js';
import { temporaryDirectory, useTemporaryStores } from '../helpers/temporary-store.js';
import { validateLayout } from '../helpers/validate.js';
import { codeOf } from '../helpers/error-code.js';

const sha256 = (data: string | Buffer): Digest => parseDigest(`sha256:${createHash('sha256').update(data).digest('hex')}`);


async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('layout store', () => {
  // Every test leaves a layout that validates, or says why not.
  const stores = useTemporaryStores();
  let root: string;
  let store: Store;

  beforeEach(async () => {
    root = stores.root();
    store = await stores.open();
  });

  it('reads a side index as it is on disk, after its own writes and after another writer\'s', async () => {
    const blob = async (text: string): Promise<{ mediaType: string; digest: Digest; size: number }> => {
      const info = await store.putBlob(Readable.from([Buffer.from(text)]));
      return { mediaType: MediaType.ociManifest, digest: info.digest, size: info.size };
    };
    const [a, b] = [await blob('{"a":1}'), await blob('{"b":2}')];
    await store.updateSideIndex('records', () => ({ entries: [a, b], result: undefined }));
    expect((await store.readSideIndex('records')).manifests).toEqual([a, b]);
    // Another process rewrites it: what this store wrote last is not what it reads.
    const path = store.sideIndexPath('records');
    await writeFile(path, `${JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [b] })}\n`);
    expect((await store.readSideIndex('records')).manifests).toEqual([b]);
    await store.updateSideIndex('records', (entries) => ({ entries: [...entries, a], result: undefined }));
    expect((await store.readSideIndex('records')).manifests).toEqual([b, a]);
    // Damaged from outside after a read: refused, not answered from memory.
    await writeFile(path, '{"schemaVersion":2,"manifests":');
    await expect(store.readSideIndex('records')).rejects.toThrow();
  });

  it('is an OCI image layout from the start', async () => {
    expect(JSON.parse(await readFile(join(root, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    expect(JSON.parse(await readFile(join(root, 'index.json'), 'utf8'))).toMatchObject({ schemaVersion: 2, manifests: [] });
    await validateLayout(root);
  });

  it('marks tmp/ and layers/ as tops of directory hierarchies where the file system has the flag (ext4)', (context) => {
    // lsattr reads the flags where the file system keeps them (ext2/3/4); elsewhere there is none to set.
    const flags = (path: string): string | undefined => {
      try {
        return execFileSync('lsattr', ['-d', path], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split(' ')[0];
      } catch {
        return undefined;
      }
    };
    if (flags(root) === undefined) context.skip();
    expect(flags(join(root, 'tmp'))).toContain('T');
    expect(flags(join(root, 'layers'))).toContain('T');
    expect(flags(join(root, 'blobs'))).not.toContain('T');
  });

  it('chooses the root as DESIGN.md says', () => {
    expect(defaultRoot({ TSBUILD_ROOT: '/x' }, 1000)).toBe('/x');
    expect(defaultRoot({}, 0)).toBe('/var/lib/tsbuild');
    expect(defaultRoot({ XDG_DATA_HOME: '/d', HOME: '/h' }, 1000)).toBe('/d/tsbuild');
    expect(defaultRoot({ HOME: '/h' }, 1000)).toBe('/h/.local/share/tsbuild');
    // The XDG spec: a relative value is ignored.
    expect(defaultRoot({ XDG_DATA_HOME: 'd', HOME: '/h' }, 1000)).toBe('/h/.local/share/tsbuild');
  });

  it('opens a relative root as an absolute path, since the runtime reads it from another directory', async () => {
    const parent = stores.root();
    const previous = process.cwd();
    process.chdir(dirname(parent));
    try {
      const relative = await openStore({ root: basename(parent) });
      expect(relative.root).toBe(parent);
    } finally {
      process.chdir(previous);
    }
  });

  it('puts blobs idempotently under blobs/sha256/HEX', async () => {
    const info = await store.putBlob(Readable.from([Buffer.from('hello '), Buffer.from('world')]));
    expect(info).toEqual({ digest: sha256('hello world'), size: 11 });
    expect(await readFile(join(root, 'blobs/sha256', info.digest.slice(7)), 'utf8')).toBe('hello world');
    expect(await store.putBlob(Readable.from([Buffer.from('hello world')]), info)).toEqual(info);
    expect(await store.blobSize(info.digest)).toBe(11);
    expect(await store.hasBlob(sha256('other'))).toBe(false);
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
  });

  it('rejects content that does not match the expected digest or size, leaving nothing', async () => {
    expect(await codeOf(store.putBlob(Readable.from([Buffer.from('evil')]), { digest: sha256('good') }))).toBe('DIGEST_MISMATCH');
    expect(await codeOf(store.putBlob(Readable.from([Buffer.from('good!')]), { digest: sha256('good'), size: 4 }))).toBe('SIZE_MISMATCH');
    // The error names the blob it concerns.
    await expect(store.putBlob(Readable.from([Buffer.from('evil')]), { digest: sha256('good') })).rejects.toMatchObject({ digest: sha256('good') });
    expect(await store.hasBlob(sha256('good'))).toBe(false);
    expect(await store.hasBlob(sha256('evil'))).toBe(false);
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
    expect(await readdir(join(root, 'blobs/sha256'))).toEqual([]);
  });

  it('verifies while reading: a corrupted blob fails at the end instead of ending cleanly', async () => {
    stores.broken();
    const info = await store.putBlob(Readable.from([Buffer.from('original content')]));
    expect((await readAll(await store.openBlob(info.digest))).toString()).toBe('original content');
    expect((await store.readBlob(info.digest)).toString()).toBe('original content');
    await writeFile(join(root, 'blobs/sha256', info.digest.slice(7)), 'tampered content');
    expect(await codeOf(readAll(await store.openBlob(info.digest)))).toBe('DIGEST_MISMATCH');
    // Only for a reader that checks the digest itself (a registry receiving a push).
    expect((await readAll(await store.openBlob(info.digest, { verify: false }))).toString()).toBe('tampered content');
    expect(await codeOf(store.readBlob(info.digest))).toBe('DIGEST_MISMATCH');
    expect(await codeOf(store.openBlob(sha256('absent')))).toBe('NOT_FOUND');
    expect(await codeOf(store.readBlob(info.digest, 3))).toBe('SIZE_MISMATCH');
  });

  it('validates digests before they touch a path', async () => {
    expect(await codeOf(store.hasBlob('sha256:../../etc/passwd' as Digest))).toBe('INVALID_DIGEST');
    expect(await codeOf(store.openBlob('sha256:ABC' as Digest))).toBe('INVALID_DIGEST');
  });

  it('resumes an interrupted ingest from where it stopped', async () => {
    const content = Buffer.from('0123456789'.repeat(1000));
    const expected = { digest: sha256(content), size: content.length };
    const first = await store.beginIngest(expected);
    expect(first.offset).toBe(0);
    await first.write([content.subarray(0, 1000), content.subarray(1000, 4000)]);
    await first.suspend();
    expect(await store.hasBlob(expected.digest)).toBe(false);

    // A second process (here: a second store object) picks up where the first stopped.
    const again = await (await openStore({ root })).beginIngest(expected);
    expect(again.offset).toBe(4000);
    await again.write([content.subarray(4000)]);
    expect(await again.commit()).toEqual(expected);
    expect(await store.readBlob(expected.digest)).toEqual(content);
    expect((await readdir(join(root, 'ingest'))).filter((name) => !name.endsWith('.lock'))).toEqual([]);

    const present = await store.beginIngest(expected);
    expect(present.offset).toBe(content.length);
    expect(await present.commit()).toEqual(expected);
  });

  it('throws away an ingest whose content is wrong, and an aborted one', async () => {
    const expected = { digest: sha256('right'), size: 5 };
    const ingest = await store.beginIngest(expected);
    await ingest.write([Buffer.from('wrong')]);
    expect(await codeOf(ingest.commit())).toBe('DIGEST_MISMATCH');
    expect(await store.hasBlob(expected.digest)).toBe(false);
    const next = await store.beginIngest(expected);
    expect(next.offset).toBe(0);
    await next.write([Buffer.from('ri')]);
    await next.abort();
    const again = await store.beginIngest(expected);
    expect(again.offset).toBe(0);
    await again.abort();
    // A write past the expected size is refused; the ingest is still ended by its owner.
    const tooLong = await store.beginIngest(expected);
    expect(await codeOf(tooLong.write([Buffer.from('too'), Buffer.from(' long')]))).toBe('SIZE_MISMATCH');
    await tooLong.abort();
  });

  it('gives a second concurrent ingest of the same blob its own file', async () => {
    const content = Buffer.from('shared blob');
    const expected = { digest: sha256(content), size: content.length };
    const a = await store.beginIngest(expected);
    const b = await store.beginIngest(expected);
    await a.write([content]);
    await b.write([content]);
    expect(await b.commit()).toEqual(expected);
    expect(await a.commit()).toEqual(expected);
    expect(await store.readBlob(expected.digest)).toEqual(content);
  });

  it('prunes the lock a killed ingest left without data, and keeps a live writer\'s', async () => {
    const ingest = join(root, 'ingest');
    // A pid no process has: the writer was killed after installing its blob, before releasing.
    await writeFile(join(ingest, `sha256-${'a'.repeat(64)}.lock`), '4194303\nfeedface\n');
    await writeFile(join(ingest, `sha256-${'b'.repeat(64)}.lock`), `${process.pid}\nfeedface\n`);
    // A breaker of stale locks killed between its two steps: its guard names it.
    await writeFile(join(ingest, `sha256-${'c'.repeat(64)}.lock.break`), '4194303\n');
    await pruneStore(store);
    expect(await readdir(ingest)).toEqual([`sha256-${'b'.repeat(64)}.lock`]);
  });

  it('keeps references in index.json with ref.name annotations', async () => {
    const image = await busyboxImage(store);
    expect(image.name).toBe('docker.io/library/busybox:latest');
    await store.setReference('localhost:5000/app:1', image.descriptor);
    expect(await store.resolveReference('localhost:5000/app:1')).toEqual(image.descriptor);
    expect((await store.listReferences()).map((reference) => reference.name)).toEqual(['docker.io/library/busybox:latest', 'localhost:5000/app:1']);
    const index = JSON.parse(await readFile(join(root, 'index.json'), 'utf8')) as { manifests: Array<{ annotations: Record<string, string> }> };
    expect(index.manifests.map((entry) => entry.annotations['org.opencontainers.image.ref.name'])).toEqual(['docker.io/library/busybox:latest', 'localhost:5000/app:1']);
    expect(await store.deleteReference('localhost:5000/app:1')).toBe(true);
    expect(await store.deleteReference('localhost:5000/app:1')).toBe(false);
    expect(await store.resolveReference('localhost:5000/app:1')).toBeUndefined();
  });

  it('never names something incomplete', async () => {
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: MediaType.ociConfig, digest: sha256('absent config'), size: 3 }, layers: [] }));
    const info = await store.putBlob(Readable.from([manifest]));
    expect(await codeOf(store.setReference('docker.io/library/x:1', { mediaType: MediaType.ociManifest, ...info }))).toBe('NOT_FOUND');
    expect(await codeOf(store.setReference('docker.io/library/x:1', { mediaType: MediaType.ociManifest, digest: sha256('nothing'), size: 1 }))).toBe('NOT_FOUND');
    expect(await codeOf(store.setReference('bad name!', { mediaType: MediaType.ociManifest, ...info }))).toBe('INVALID_REFERENCE');
    expect(await store.listReferences()).toEqual([]);
  });

  it('is read by skopeo and umoci as it is', async () => {
    const image = await busyboxImage(store);
    const inspected = JSON.parse(execFileSync('skopeo', ['inspect', `oci:${root}:docker.io/library/busybox:latest`], { encoding: 'utf8' })) as { Digest: string; Os: string };
    expect(inspected.Digest).toBe(image.descriptor.digest);
    expect(inspected.Os).toBe('linux');
    const { path: bundle, cleanup: removeBundle } = await temporaryDirectory();
    try {
      execFileSync('umoci', ['unpack', '--image', `${root}:docker.io/library/busybox:latest`, join(bundle, 'b')], { stdio: 'pipe' });
      expect(existsSync(join(bundle, 'b/rootfs/bin/busybox'))).toBe(true);
    } finally {
      await removeBundle();
    }
  });
});
