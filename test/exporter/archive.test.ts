import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, existsSync } from 'node:fs';
import { lstat, mkdir, readFile, readdir, readlink, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { MediaType, hostPlatform, parseDigest, parseIndex } from '../../src/common/index.js';
import { loadArchive, saveArchive, writeImage, writeLayer, type ArchiveFormat, type SaveImage } from '../../src/exporter/index.js';
import { resolveImage, unpackImage, type Store } from '../../src/store/index.js';
import { busyboxImage, type BusyboxImage } from '../helpers/busybox-image.js';
import { useTemporaryStores } from '../helpers/temporary-store.js';
import { validateLayout } from '../helpers/validate.js';
import { codeOf } from '../helpers/error-code.js';
import { buildFixture } from '../helpers/build.js';
import { canStartDockerEngine, startDockerEngine, type DockerEngine } from '../helpers/docker-engine.js';

describe('save and load', () => {
  const stores = useTemporaryStores();
  let dir: string;
  let store: Store;
  let busybox: BusyboxImage;

  beforeEach(async () => {
    dir = stores.dir;
    store = await stores.open();
    busybox = await busyboxImage(store);
  });

  async function save(format: ArchiveFormat, file: string, images: SaveImage[] = [{ name: busybox.name, descriptor: busybox.descriptor }]): Promise<string> {
    const path = join(dir, file);
    await pipeline(await saveArchive(store, images, { format }), createWriteStream(path));
    return path;
  }

  function freshStore(name: string): Promise<Store> {
    return stores.open(name);
  }

  it('writes a docker archive that skopeo reads and that loads back to the same digests', async () => {
    const archive = await save('docker', 'docker.tar');
    const members = execFileSync('tar', ['-tf', archive], { encoding: 'utf8' }).trim().split('\n');
    expect(members).toContain('manifest.json');
    expect(members).toContain('repositories');
    const manifest = JSON.parse(execFileSync('tar', ['-xOf', archive, 'manifest.json'], { encoding: 'utf8' })) as Array<{ RepoTags: string[]; Layers: string[]; Config: string }>;
    expect(manifest[0]?.RepoTags).toEqual(['busybox:latest']);
    // Layers are plain tars, as `docker load` has always accepted.
    const layer = execFileSync('tar', ['-xOf', archive, manifest[0]?.Layers[0] ?? ''], { maxBuffer: 64 * 1024 * 1024 });
    expect(layer.subarray(257, 262).toString()).toBe('ustar');

    const inspected = JSON.parse(execFileSync('skopeo', ['inspect', `docker-archive:${archive}`], { encoding: 'utf8' })) as { Layers: string[]; Os: string };
    expect(inspected.Os).toBe('linux');
    expect(inspected.Layers).toHaveLength(1);
    const copied = join(dir, 'skopeo-layout');
    execFileSync('skopeo', ['copy', `docker-archive:${archive}`, `oci:${copied}:copied`], { stdio: 'pipe' });
    await validateLayout(copied);

    const other = await freshStore('loaded');
    const loaded = await loadArchive(other, Readable.from([await readFile(archive)]));
    expect(loaded).toEqual([{ name: busybox.name, descriptor: busybox.descriptor }]);
    expect(await other.resolveReference(busybox.name)).toEqual(busybox.descriptor);
  });

  it('writes a docker archive as docker 26 saves one: an OCI layout of uncompressed tars beside manifest.json', async () => {
    const base = await resolveImage(store, busybox.descriptor);
    const diffId = base.config.rootfs.diff_ids[0] ?? '';
    await store.setReference('docker.io/library/second:2', busybox.descriptor);
    const archive = await save('docker', 'docker26.tar', [
      { name: busybox.name, descriptor: busybox.descriptor },
      { name: 'docker.io/library/second:2', descriptor: busybox.descriptor },
    ]);
    const listing = execFileSync('tar', ['-tvf', archive, '--numeric-owner'], { encoding: 'utf8' }).trim().split('\n');
    const names = listing.map((line) => line.split(/\s+/).at(-1));
    const manifestBlob = names.find((name) => name !== undefined && name.startsWith('blobs/sha256/') && ![diffId, base.manifest.config.digest].some((digest) => name.endsWith(digest.slice(7))) && name !== 'blobs/sha256/') ?? '';
    expect(names).toEqual(['blobs/', 'blobs/sha256/', ...[`blobs/sha256/${diffId.slice(7)}`, `blobs/sha256/${base.manifest.config.digest.slice(7)}`, manifestBlob].sort(), 'index.json', 'manifest.json', 'oci-layout', 'repositories']);
    for (const line of listing) expect(line).toMatch(line.startsWith('d') ? /^drwxr-xr-x 0\/0 / : /^-rw-r--r-- 0\/0 /);
    const member = (name: string): string => execFileSync('tar', ['-xOf', archive, name], { encoding: 'utf8', maxBuffer: 64 << 20 });
    expect(member('oci-layout')).toBe('{"imageLayoutVersion": "1.0.0"}');
    const manifestBytes = member(manifestBlob);
    expect(JSON.parse(manifestBytes)).toEqual({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: base.manifest.config.digest, size: base.manifest.config.size },
      layers: [{ mediaType: MediaType.ociLayer, digest: diffId, size: expect.any(Number) as number }],
    });
    const descriptor = { mediaType: MediaType.ociManifest, digest: `sha256:${createHash('sha256').update(manifestBytes).digest('hex')}`, size: Buffer.byteLength(manifestBytes) };
    // One entry per name, the tag alone as the OCI reference name; no newline after it, as Go's json.Marshal.
    expect(member('index.json')).toBe(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociIndex,
        manifests: [
          { ...descriptor, annotations: { 'io.containerd.image.name': busybox.name, 'org.opencontainers.image.ref.name': 'latest' } },
          { ...descriptor, annotations: { 'io.containerd.image.name': 'docker.io/library/second:2', 'org.opencontainers.image.ref.name': '2' } },
        ],
      }),
    );
    const entries = JSON.parse(member('manifest.json')) as Array<{ LayerSources: Record<string, { size: number }> }>;
    expect(Object.keys(entries[0] ?? {})).toEqual(['Config', 'RepoTags', 'Layers', 'LayerSources']);
    expect(entries[0]?.LayerSources).toEqual({ [diffId]: { mediaType: MediaType.ociLayer, size: expect.any(Number) as number, digest: diffId } });
    expect(JSON.parse(manifestBytes).layers[0].size).toBe(entries[0]?.LayerSources[diffId]?.size);
    expect(member('repositories')).toBe(`{"busybox":{"latest":"${diffId.slice(7)}"},"second":{"2":"${diffId.slice(7)}"}}\n`);

    // Saved by ID: no name in the index, RepoTags null, and no repositories file, as docker.
    const byId = await save('docker', 'by-id.tar', [{ descriptor: busybox.descriptor }]);
    expect(execFileSync('tar', ['-tf', byId], { encoding: 'utf8' })).not.toContain('repositories');
    const unnamed = JSON.parse(execFileSync('tar', ['-xOf', byId, 'manifest.json'], { encoding: 'utf8' })) as Array<{ RepoTags: unknown }>;
    expect(unnamed[0]?.RepoTags).toBeNull();
    expect(JSON.parse(execFileSync('tar', ['-xOf', byId, 'index.json'], { encoding: 'utf8' })).manifests[0]).toEqual(descriptor);
    const loaded = await loadArchive(await freshStore('by-id'), Readable.from([await readFile(byId)]));
    expect(loaded).toHaveLength(1);
    expect(loaded[0]?.name).toBeUndefined();
  });

  it('loads an image the store holds already under its name as docker load does: by its ID, the name left where it was', async () => {
    // Layers kept uncompressed, as a build keeps them: a load compresses them, which makes another manifest.
    const plain = await writeLayer([{ path: 'hello', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 2, content: () => Buffer.from('hi') }], store, { compression: 'none' });
    const image = await writeImage(store, { layers: [plain], platform: hostPlatform(), created: '1970-01-01T00:00:00Z', history: [{ created_by: 'hello' }] }, 'localhost/plain:1');
    const archive = await save('docker', 'again.tar', [{ name: 'localhost/plain:1', descriptor: image.descriptor }]);
    const loaded = await loadArchive(store, Readable.from([await readFile(archive)]));
    expect(loaded).toEqual([{ name: 'localhost/plain:1', descriptor: image.descriptor }]);
    expect(await store.resolveReference('localhost/plain:1')).toEqual(image.descriptor);
  });

  it('reads each compressed layer once for a docker archive, and leaves no temporary file, even when stopped', async () => {
    const opened = new Map<string, number>();
    const original = store.openBlob.bind(store);
    const spy = vi.spyOn(store, 'openBlob').mockImplementation((digest, options) => {
      opened.set(digest, (opened.get(digest) ?? 0) + 1);
      return original(digest, options);
    });
    try {
      const image = await resolveImage(store, busybox.descriptor);
      opened.clear();
      const archive = await save('docker', 'once.tar');
      const layer = image.manifest.layers[0]?.digest ?? '';
      expect(image.manifest.layers[0]?.mediaType).toMatch(/gzip/);
      expect(opened.get(layer)).toBe(1);
      // The decompressed layer in the archive is the one the config's diff ID names.
      const manifest = JSON.parse(execFileSync('tar', ['-xOf', archive, 'manifest.json'], { encoding: 'utf8' })) as Array<{ Layers: string[] }>;
      const tarBytes = execFileSync('tar', ['-xOf', archive, manifest[0]?.Layers[0] ?? ''], { maxBuffer: 64 * 1024 * 1024 });
      expect(`sha256:${createHash('sha256').update(tarBytes).digest('hex')}`).toBe(image.config.rootfs.diff_ids[0]);
      expect(await readdir(join(dir, 'store', 'tmp'))).toEqual([]);

      // A reader that goes away in the middle: the temporary file goes too.
      const stream = await saveArchive(store, [{ name: busybox.name, descriptor: busybox.descriptor }], { format: 'docker' });
      await new Promise<void>((resolve) => stream.once('readable', () => resolve()));
      stream.read();
      // The stream closes once its source has finished, and the source removes its temporary
      // file on the way out: after 'close' nothing may be left.
      const closed = once(stream, 'close');
      stream.destroy();
      await closed;
      expect(await readdir(join(dir, 'store', 'tmp'))).toEqual([]);
    } finally {
      spy.mockRestore();
    }
  });

  it('saves and unpacks a zstd layer: the docker archive holds the tar the diff ID names', async () => {
    const plain = await writeLayer(
      (async function* () {
        yield { path: 'etc', type: 'directory' as const, mode: 0o755, uid: 0, gid: 0, mtime: 0 };
        const bytes = Buffer.from('compressed with zstd\n'.repeat(1000));
        yield { path: 'etc/motd', type: 'file' as const, mode: 0o644, uid: 0, gid: 0, mtime: 0, size: bytes.length, content: () => bytes };
      })(),
      store,
      { compression: 'none' },
    );
    const compressed = execFileSync('zstd', ['-q', '-c'], { input: await readFile(join(dir, 'store', 'blobs', 'sha256', plain.descriptor.digest.slice(7))) });
    const info = await store.putBlob(Readable.from([compressed]));
    const layer = { descriptor: { mediaType: MediaType.ociLayerZstd, digest: info.digest, size: info.size }, diffId: plain.diffId };
    const image = await writeImage(store, { layers: [layer], platform: hostPlatform(), created: '1970-01-01T00:00:00Z', history: [{ created_by: 'zstd' }] }, 'localhost/zstd:1');

    const archive = await save('docker', 'zstd.tar', [{ name: 'localhost/zstd:1', descriptor: image.descriptor }]);
    const manifest = JSON.parse(execFileSync('tar', ['-xOf', archive, 'manifest.json'], { encoding: 'utf8' })) as Array<{ Layers: string[] }>;
    const tarBytes = execFileSync('tar', ['-xOf', archive, manifest[0]?.Layers[0] ?? ''], { maxBuffer: 64 * 1024 * 1024 });
    expect(`sha256:${createHash('sha256').update(tarBytes).digest('hex')}`).toBe(plain.diffId);

    const root = await unpackImage(store, (await resolveImage(store, image.descriptor)).manifest, [plain.diffId]);
    expect(await readFile(join(root ?? '', 'etc/motd'), 'utf8')).toBe('compressed with zstd\n'.repeat(1000));
  });

  it('fails a docker save whose layer does not hash to the diff ID its config gives, and leaves no temporary file', async () => {
    const plain = await writeLayer(
      (async function* () {
        const bytes = Buffer.from('one content\n');
        yield { path: 'motd', type: 'file' as const, mode: 0o644, uid: 0, gid: 0, mtime: 0, size: bytes.length, content: () => bytes };
      })(),
      store,
    );
    const wrongDiffId = parseDigest(`sha256:${createHash('sha256').update('another content').digest('hex')}`);
    // A config that names another tar than the layer holds: not an image that validates.
    stores.broken();
    const image = await writeImage(store, { layers: [{ descriptor: plain.descriptor, diffId: wrongDiffId }], platform: hostPlatform(), created: '1970-01-01T00:00:00Z', history: [{ created_by: 'wrong' }] }, 'localhost/wrong:1');
    await expect(save('docker', 'wrong.tar', [{ name: 'localhost/wrong:1', descriptor: image.descriptor }])).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    expect(await readdir(join(dir, 'store', 'tmp'))).toEqual([]);
  });

  it('loads a docker archive whose layer is a symlink to another image\'s, as docker save writes shared layers', async () => {
    const saved = await save('docker', 'plain.tar');
    const manifest = JSON.parse(execFileSync('tar', ['-xOf', saved, 'manifest.json'], { encoding: 'utf8' })) as Array<{ Config: string; Layers: string[] }>;
    const config = execFileSync('tar', ['-xOf', saved, manifest[0]?.Config ?? ''], { maxBuffer: 1 << 20 });
    const layerTar = execFileSync('tar', ['-xOf', saved, manifest[0]?.Layers[0] ?? ''], { maxBuffer: 64 * 1024 * 1024 });
    const build = async (entries: Array<{ name: string; content?: Buffer; linkname?: string }>): Promise<Buffer> => {
      const { pack } = await import('tar-stream');
      const packer = pack();
      const chunks: Buffer[] = [];
      const done = (async () => {
        for await (const chunk of packer) chunks.push(chunk as Buffer);
      })();
      for (const item of entries) {
        if (item.linkname !== undefined) packer.entry({ name: item.name, type: 'symlink', linkname: item.linkname });
        else packer.entry({ name: item.name }, item.content ?? Buffer.alloc(0));
      }
      packer.finalize();
      await done;
      return Buffer.concat(chunks);
    };
    const legacy = (layers: string, extra: Array<{ name: string; linkname: string }>): Promise<Buffer> =>
      build([
        { name: 'aaa/layer.tar', content: layerTar },
        ...extra,
        { name: 'config.json', content: config },
        { name: 'manifest.json', content: Buffer.from(JSON.stringify([{ Config: 'config.json', RepoTags: ['busybox:latest'], Layers: [layers] }])) },
      ]);

    const other = await freshStore('legacy');
    const loaded = await loadArchive(other, Readable.from([await legacy('bbb/layer.tar', [{ name: 'bbb/layer.tar', linkname: '../aaa/layer.tar' }])]));
    expect(loaded[0]?.descriptor.digest).toBeDefined();
    const image = await resolveImage(other, loaded[0]?.descriptor ?? busybox.descriptor);
    expect(image.config.rootfs.diff_ids).toEqual((await resolveImage(store, busybox.descriptor)).config.rootfs.diff_ids);

    // A link that leaves the archive names nothing: the load fails, reading nothing outside.
    const escaping = await legacy('ccc/layer.tar', [{ name: 'ccc/layer.tar', linkname: '../../../../etc/passwd' }]);
    expect(await codeOf(loadArchive(await freshStore('escaping'), Readable.from([escaping])))).toBe('NOT_FOUND');
    const looping = await legacy('ddd/layer.tar', [
      { name: 'ddd/layer.tar', linkname: '../eee/layer.tar' },
      { name: 'eee/layer.tar', linkname: '../ddd/layer.tar' },
    ]);
    expect(await codeOf(loadArchive(await freshStore('looping'), Readable.from([looping])))).toBe('NOT_FOUND');
  });

  it('writes an OCI layout tar that skopeo and umoci read and that loads back to the same digests', async () => {
    const archive = await save('oci', 'oci.tar');
    // The reference name is the tag alone, as docker save and BuildKit write it; the full name is containerd's annotation.
    const inspected = JSON.parse(execFileSync('skopeo', ['inspect', `oci-archive:${archive}:latest`], { encoding: 'utf8' })) as { Digest: string };
    expect(inspected.Digest).toBe(busybox.descriptor.digest);
    const copied = join(dir, 'copied');
    execFileSync('skopeo', ['copy', `oci-archive:${archive}`, `oci:${copied}:copied`], { stdio: 'pipe' });
    await validateLayout(copied);

    // umoci reads layout directories: unpack the archive first.
    const layout = join(dir, 'layout');
    await mkdir(layout);
    execFileSync('tar', ['-xf', archive, '-C', layout]);
    await validateLayout(layout);
    const index = parseIndex(await readFile(join(layout, 'index.json')));
    expect(index.manifests[0]?.annotations).toEqual({ 'io.containerd.image.name': busybox.name, 'org.opencontainers.image.ref.name': 'latest' });
    const bundle = join(dir, 'bundle');
    execFileSync('umoci', ['unpack', '--image', `${layout}:latest`, bundle], { stdio: 'pipe' });
    expect(await readlink(join(bundle, 'rootfs/bin/sh'))).toBe('/bin/busybox');
    expect((await stat(join(bundle, 'rootfs/tmp'))).mode & 0o7777).toBe(0o1777);
    expect((await lstat(join(bundle, 'rootfs/bin/busybox'))).size).toBe((await stat('/bin/busybox')).size);

    const other = await freshStore('loaded');
    expect(await loadArchive(other, Readable.from([await readFile(archive)]))).toEqual([{ name: busybox.name, descriptor: busybox.descriptor }]);
  });

  it('saves the same bytes twice', async () => {
    const one = await readFile(await save('oci', 'one.tar'));
    const two = await readFile(await save('oci', 'two.tar'));
    expect(one.equals(two)).toBe(true);
    const three = await readFile(await save('docker', 'three.tar'));
    const four = await readFile(await save('docker', 'four.tar'));
    expect(three.equals(four)).toBe(true);
  });

  it('saves several images and loads what skopeo wrote', async () => {
    const layer = await writeLayer([{ path: 'hello', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 2, content: () => Buffer.from('hi') }], store);
    const base = await resolveImage(store, busybox.descriptor);
    const baseLayer = { descriptor: base.manifest.layers[0] ?? layer.descriptor, diffId: base.config.rootfs.diff_ids[0] ?? layer.diffId };
    const app = await writeImage(store, { layers: [baseLayer, layer], platform: hostPlatform(), history: [{ created_by: 'base' }, { created_by: 'hello' }] }, 'localhost:5000/app:1');
    const archive = await save('docker', 'two.tar', [{ name: busybox.name, descriptor: busybox.descriptor }, { name: 'localhost:5000/app:1', descriptor: app.descriptor }]);
    const other = await freshStore('loaded');
    const loaded = await loadArchive(other, Readable.from([await readFile(archive)]));
    expect(loaded.map((image) => image.name)).toEqual([busybox.name, 'localhost:5000/app:1']);
    expect(loaded[1]?.descriptor).toEqual(app.descriptor);

    // An archive written by skopeo (uncompressed layers in its own layout) loads too.
    const skopeoArchive = join(dir, 'skopeo.tar');
    execFileSync('skopeo', ['copy', `oci:${join(dir, 'store')}:${busybox.name}`, `docker-archive:${skopeoArchive}:busybox:skopeo`], { stdio: 'pipe' });
    const third = await freshStore('third');
    const fromSkopeo = await loadArchive(third, Readable.from([await readFile(skopeoArchive)]));
    expect(fromSkopeo.map((image) => image.name)).toEqual(['docker.io/library/busybox:skopeo']);
    const image = await resolveImage(third, fromSkopeo[0]?.descriptor ?? busybox.descriptor);
    expect(image.config.rootfs.diff_ids).toEqual((await resolveImage(store, busybox.descriptor)).config.rootfs.diff_ids);
    expect(image.manifest.layers[0]?.mediaType).toBe(MediaType.ociLayerGzip);
  });

  // A docker engine of the file's own (Debian's docker.io, installed when missing) on a private
  // socket; it needs root. As root, an engine that does not start fails these tests with its log.
  describe.skipIf(!canStartDockerEngine())('with a docker engine', () => {
    let started: DockerEngine | undefined;
    const engine = {
      docker(args: readonly string[]): string {
        if (started === undefined) throw new Error('the docker engine did not start');
        return started.docker(args);
      },
    };
    // Installing docker.io on a machine without it takes about a minute.
    beforeAll(async () => {
      started = await startDockerEngine();
    }, 300_000);
    afterAll(async () => {
      await started?.stop();
    });

    it('writes what docker load accepts, and loads what docker save writes', async () => {
      const tag = 'tsbuild-test/busybox:1';
      await store.setReference(`docker.io/${tag}`, busybox.descriptor);
      const archive = await save('docker', 'for-docker.tar', [{ name: `docker.io/${tag}`, descriptor: busybox.descriptor }]);
      expect(engine.docker(['load', '-i', archive])).toContain(`Loaded image: ${tag}`);
      const id = engine.docker(['image', 'inspect', tag, '--format', '{{.Id}}']).trim();
      const image = await resolveImage(store, busybox.descriptor);
      expect(id).toBe(image.manifest.config.digest);
      const saved = join(dir, 'docker-saved.tar');
      engine.docker(['save', tag, '-o', saved]);
      const other = await freshStore('from-docker');
      const loaded = await loadArchive(other, Readable.from([await readFile(saved)]));
      expect(loaded).toEqual([{ name: `docker.io/${tag}`, descriptor: busybox.descriptor }]);
    });

    it('runs in docker an image that tsbuild build wrote with --output type=docker', async () => {
      const fx = await buildFixture();
      try {
        const context = await fx.context('app', {
          Dockerfile: [
            'FROM busybox',
            'RUN echo "built by tsbuild" > /greeting',
            'COPY message.txt /app/',
            'WORKDIR /app',
            'CMD ["sh", "-c", "cat /greeting message.txt; pwd"]',
          ].join('\n'),
          'message.txt': 'copied from the context\n',
        });
        const archive = join(fx.dir, 'app.docker.tar');
        const result = await fx.build(['-t', 'tsbuild-test/app:1', '-q', '--output', `type=docker,dest=${archive}`, context]);
        expect(result.stderr).toBe('');
        expect(result.status).toBe(0);
        const built = await fx.image('tsbuild-test/app:1');

        expect(engine.docker(['load', '-i', archive])).toContain('Loaded image: tsbuild-test/app:1');
        const inspected = JSON.parse(engine.docker(['image', 'inspect', 'tsbuild-test/app:1'])) as Array<{ Id: string; RootFS: { Layers: string[] }; Config: { Cmd: string[]; WorkingDir: string } }>;
        expect(inspected[0]?.Id).toBe(built.manifest.config.digest);
        expect(inspected[0]?.RootFS.Layers).toEqual(built.config.rootfs.diff_ids);
        expect(inspected[0]?.Config.Cmd).toEqual(['sh', '-c', 'cat /greeting message.txt; pwd']);
        expect(inspected[0]?.Config.WorkingDir).toBe('/app');
        expect(engine.docker(['run', '--rm', '--network', 'none', 'tsbuild-test/app:1'])).toBe('built by tsbuild\ncopied from the context\n/app\n');
      } finally {
        await fx.cleanup();
      }
    });
  });

  it('writes an image saved under several names once, with all its tags, as docker save does', async () => {
    await store.setReference('docker.io/library/second:2', busybox.descriptor);
    const archive = await save('docker', 'two-names.tar', [
      { name: busybox.name, descriptor: busybox.descriptor },
      { name: 'docker.io/library/second:2', descriptor: busybox.descriptor },
    ]);
    const entries = JSON.parse(execFileSync('tar', ['-xOf', archive, 'manifest.json'], { encoding: 'utf8' })) as Array<{ RepoTags: string[] }>;
    expect(entries).toHaveLength(1);
    expect(entries[0]?.RepoTags).toEqual(['busybox:latest', 'second:2']);
    const loaded = await loadArchive(await freshStore('two-names'), Readable.from([await readFile(archive)]));
    expect(loaded.map((image) => image.name)).toEqual([busybox.name, 'docker.io/library/second:2']);
  });

  it('loads archives compressed with gzip or zstd, as docker load does, and names xz and bzip2', async () => {
    const archive = await save('docker', 'to-compress.tar');
    const plain = await readFile(archive);
    const viaGzip = await loadArchive(await freshStore('gzip'), Readable.from([gzipSync(plain)]));
    expect(viaGzip).toEqual([{ name: busybox.name, descriptor: busybox.descriptor }]);
    const viaZstd = await loadArchive(await freshStore('zstd'), Readable.from([execFileSync('zstd', ['-q', '-c', archive], { maxBuffer: 64 << 20 })]));
    expect(viaZstd).toEqual([{ name: busybox.name, descriptor: busybox.descriptor }]);
    for (const [tool, name] of [['xz', 'xz'], ['bzip2', 'bzip2']] as const) {
      const compressed = execFileSync(tool, ['-c', archive], { maxBuffer: 64 << 20 });
      const error = await loadArchive(await freshStore(name), Readable.from([compressed])).catch((caught: unknown) => caught);
      expect(error).toMatchObject({ code: 'INVALID_ARCHIVE', message: expect.stringContaining(`${name}-compressed`) });
    }
    // Cut short, the gzip stream fails as such.
    const truncated = gzipSync(plain).subarray(0, 4000);
    await expect(loadArchive(await freshStore('truncated'), Readable.from([truncated]))).rejects.toThrow(/decompress archive/);
  });

  it('refuses a name an archive gives that is no image reference, naming where it was, and loads nothing of it', async () => {
    /** The archive saved in FORMAT, its index.json or manifest.json changed by EDIT. */
    const edited = async (format: ArchiveFormat, name: string, edit: (document: { manifests: Array<{ annotations?: Record<string, string> }> } & Array<{ RepoTags: string[] }>) => void): Promise<Buffer> => {
      const tree = join(dir, `edited-${name}`);
      await mkdir(tree);
      execFileSync('tar', ['-xf', await save(format, `${name}.tar`), '-C', tree]);
      const file = join(tree, format === 'oci' ? 'index.json' : 'manifest.json');
      const document = JSON.parse(await readFile(file, 'utf8')) as Parameters<typeof edit>[0];
      edit(document);
      await writeFile(file, JSON.stringify(document));
      return execFileSync('tar', ['-cf', '-', '-C', tree, '.'], { maxBuffer: 64 << 20 });
    };
    const annotated = (name: string, annotations: Record<string, string>): Promise<Buffer> =>
      edited('oci', name, (index) => {
        for (const entry of index.manifests) entry.annotations = annotations;
      });
    const tagged = (name: string, tags: string[]): Promise<Buffer> =>
      edited('docker', name, (manifest) => {
        for (const entry of manifest) entry.RepoTags = tags;
      });
    const digest = busybox.descriptor.digest;
    const refused: Array<[string, Buffer, string]> = [
      ['containerd', await annotated('containerd', { 'io.containerd.image.name': 'Bad Name!' }), `load archive: index.json: the io.containerd.image.name annotation of ${digest}, "Bad Name!": invalid reference format: repository name must be lowercase`],
      ['climbing', await annotated('climbing', { 'io.containerd.image.name': '../../etc/passwd', 'org.opencontainers.image.ref.name': 'latest' }), `load archive: index.json: the io.containerd.image.name annotation of ${digest}, "../../etc/passwd": invalid reference format: invalid registry host ".."`],
      ['ref-name', await annotated('ref-name', { 'org.opencontainers.image.ref.name': '../evil' }), `load archive: index.json: the org.opencontainers.image.ref.name annotation of ${digest}, "../evil": not a valid OCI ref.name`],
      ['repo-tags', await tagged('repo-tags', ['Bad Name!']), 'load archive: manifest.json: RepoTags "Bad Name!": invalid reference format: repository name must be lowercase'],
      ['untagged', await tagged('untagged', ['busybox']), 'load archive: manifest.json: RepoTags: invalid tag "busybox"'],
      ['by-digest', await tagged('by-digest', [`busybox@${digest}`]), `load archive: manifest.json: RepoTags: invalid tag "busybox@${digest}"`],
    ];
    for (const [name, archive, message] of refused) {
      const target = await freshStore(`refused-${name}`);
      const error = await loadArchive(target, Readable.from([archive])).catch((caught: unknown) => caught);
      expect(error, name).toMatchObject({ code: 'INVALID_REFERENCE' });
      expect((error as Error).message, name).toContain(message);
      expect(await target.resolveReference(busybox.name), name).toBeUndefined();
    }
    // A bare tag as ref.name names no repository: unnamed, as before. A good containerd name wins over a ref.name it makes unused.
    expect(await loadArchive(await freshStore('bare-tag'), Readable.from([await annotated('bare-tag', { 'org.opencontainers.image.ref.name': 'v1.0' })]))).toEqual([{ descriptor: busybox.descriptor }]);
    const named = await annotated('named', { 'io.containerd.image.name': 'localhost:5000/ok/img:1', 'org.opencontainers.image.ref.name': 'latest' });
    expect(await loadArchive(await freshStore('named'), Readable.from([named]))).toEqual([{ name: 'localhost:5000/ok/img:1', descriptor: busybox.descriptor }]);
  });

  it('rejects an archive that is neither format', async () => {
    const { pack } = await import('tar-stream');
    const packer = pack();
    packer.entry({ name: 'random.txt' }, 'nothing');
    packer.finalize();
    const chunks: Buffer[] = [];
    for await (const chunk of packer) chunks.push(chunk as Buffer);
    await expect(loadArchive(await freshStore('empty'), Readable.from([Buffer.concat(chunks)]))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(existsSync(join(dir, 'empty/tmp'))).toBe(true);
  });
});
