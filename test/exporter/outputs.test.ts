import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, readdir, readFile, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hostPlatform, isTsbuildError, readTar, readXattr, setExactTimes } from '../../src/common/index.js';
import { loadArchive, outputImage, parseOutputSpec, writeImage, writeLayer, writeOutput, type OutputImage, type OutputSpec } from '../../src/exporter/index.js';
import { openStore, resolveImage, unpackImage, type Store } from '../../src/store/index.js';
import { busyboxImage } from '../helpers/busybox-image.js';
import { codeOf } from '../helpers/error-code.js';
import { validateLayout } from '../helpers/validate.js';
import { temporaryDirectory } from '../helpers/temporary-store.js';

const isRoot = process.getuid?.() === 0;

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

describe('parseOutputSpec', () => {
  it('reads buildx’s forms', () => {
    expect(parseOutputSpec('type=oci,dest=out.tar')).toEqual({ type: 'oci', dest: 'out.tar', options: {} });
    expect(parseOutputSpec('type=docker,dest=/tmp/app.tar,name=app:1')).toEqual({ type: 'docker', dest: '/tmp/app.tar', options: { name: 'app:1' } });
    expect(parseOutputSpec('type=tar,dest=-')).toEqual({ type: 'tar', dest: '-', options: {} });
    expect(parseOutputSpec('Type=local, Dest=out')).toEqual({ type: 'local', dest: 'out', options: {} });
    expect(parseOutputSpec('out/dir')).toEqual({ type: 'local', dest: 'out/dir', options: {} });
    expect(parseOutputSpec('-')).toEqual({ type: 'tar', dest: '-', options: {} });
    // Without dest, oci and tar go to standard output, as buildx.
    expect(parseOutputSpec('type=oci')).toEqual({ type: 'oci', dest: '-', options: {} });
    expect(parseOutputSpec('type=image,name=a:1,push=true,compression=zstd,compression-level=19,force-compression=true')).toEqual({
      type: 'image',
      dest: '',
      options: { name: 'a:1', push: 'true', compression: 'zstd', 'compression-level': '19', 'force-compression': 'true' },
    });
    expect(parseOutputSpec('type=registry')).toEqual({ type: 'registry', dest: '', options: {} });
    expect(parseOutputSpec('type=oci,"name=a:1,b:2",compression=zstd,annotation.org.example=x,"dest=with,comma"')).toEqual({
      type: 'oci',
      dest: 'with,comma',
      options: { name: 'a:1,b:2', compression: 'zstd', 'annotation.org.example': 'x' },
    });
  });

  it('names what it refuses', () => {
    const message = (text: string): string => {
      try {
        parseOutputSpec(text);
        return 'accepted';
      } catch (error) {
        expect(isTsbuildError(error, 'INVALID_ARGUMENT')).toBe(true);
        return (error as Error).message;
      }
    };
    expect(message('type=zip,dest=x')).toMatch(/unknown output type "zip" \(expected oci, docker, tar, local, image, registry, cacheonly\)/);
    expect(message('type=registry,dest=x')).toMatch(/takes no dest/);
    expect(message('type=oci,dest=x,compression=lz4')).toMatch(/unsupported compression type "lz4"/);
    expect(message('type=oci,dest=x,compression=gzip,compression-level=high')).toMatch(/non-integer value "high"/);
    expect(message('type=image,compression=gzip,compression-level=10')).toMatch(/out of range for gzip \(0-9\)/);
    expect(message('type=registry,compression=zstd,force-compression=maybe')).toMatch(/not a boolean/);
    // As BuildKit's docker exporter, zstd layers are written (under Docker's name for them).
    expect(parseOutputSpec('type=docker,dest=x,compression=zstd,oci-mediatypes=true').options).toEqual({ compression: 'zstd', 'oci-mediatypes': 'true' });
    expect(message('type=docker,dest=x,oci-mediatypes=maybe')).toMatch(/non-bool value "maybe" specified for oci-mediatypes/);
    expect(message('type=docker,dest=x,annotation-index.k=v')).toMatch(/index annotations are not supported/);
    expect(message('type=oci,dest=x,annotation-index.org.example=1')).toMatch(/annotation-index.org.example: index annotations are not supported/);
    expect(message('type=image,annotation-manifest-descriptor.k=v')).toMatch(/manifest-descriptor annotations are not supported/);
    expect(message('type=tar,dest=x,colour=blue,size=2')).toMatch(/unknown keys "colour", "size" for type=tar/);
    expect(message('type=local,name=x,dest=d')).toMatch(/unknown key "name" for type=local/);
    expect(message('dest=x')).toMatch(/type= is required/);
    expect(message('type=local')).toMatch(/dest=DIRECTORY/);
    expect(message('type=local,dest=-')).toMatch(/not standard output/);
    expect(message('type=docker')).toMatch(/dest=FILE/);
    expect(message('type=tar,dest')).toMatch(/"dest" is not KEY=VALUE/);
    expect(message('type=tar,"dest=x')).toMatch(/not closed/);
    // As Go's encoding/csv, which buildx uses: a quote opens a field or is an error.
    expect(message('type=tar,dest="x,y"')).toMatch(/quote inside an unquoted field/);
    expect(message('')).toMatch(/empty/);
  });
});

describe('writeOutput', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let store: Store;
  let image: OutputImage;
  let rootfs: string;
  const name = 'localhost/outputs:1';

  beforeEach(async () => {
    ({ path: dir, cleanup } = await temporaryDirectory());
    store = await openStore({ root: join(dir, 'store') });
    const busybox = await busyboxImage(store);
    const base = await resolveImage(store, busybox.descriptor);
    const mtime = 1_700_000_000;
    const hello = Buffer.from('hello\n');
    // vfs_cap_data, revision 2, effective: cap_net_bind_service (10) permitted.
    const netBindService = Buffer.alloc(20);
    netBindService.writeUInt32LE(0x02000001, 0);
    netBindService.writeUInt32LE(1 << 10, 4);
    const layer = await writeLayer(
      [
        { path: 'app', type: 'directory', mode: 0o750, uid: 1000, gid: 1001, mtime },
        { path: 'app/empty', type: 'directory', mode: 0o700, uid: 0, gid: 0, mtime },
        { path: 'app/fifo', type: 'fifo', mode: 0o640, uid: 0, gid: 0, mtime },
        { path: 'app/hello', type: 'file', mode: 0o4755, uid: 1000, gid: 1001, mtime, size: hello.length, content: () => hello },
        { path: 'app/né', type: 'file', mode: 0o600, uid: 0, gid: 0, mtime, size: 3, content: () => Buffer.from('né') },
        { path: 'app/outside', type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime, linkname: '/etc/passwd' },
        { path: 'app/ping', type: 'file', mode: 0o755, uid: 0, gid: 0, mtime, size: 4, content: () => Buffer.from('ping'), pax: { 'SCHILY.xattr.security.capability': netBindService } },
        { path: 'app/same', type: 'link', mode: 0o4755, uid: 1000, gid: 1001, mtime, linkname: 'app/hello' },
        { path: 'app/up', type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime, linkname: '../../../../tmp' },
      ],
      store,
    );
    const baseLayer = { descriptor: base.manifest.layers[0] ?? layer.descriptor, diffId: base.config.rootfs.diff_ids[0] ?? layer.diffId };
    const written = await writeImage(store, { layers: [baseLayer, layer], platform: hostPlatform(), created: '2024-05-06T07:08:09.123456789Z', config: { Cmd: ['/app/hello'] }, history: [{ created_by: 'base' }, { created_by: 'app' }] }, name);
    image = { descriptor: written.descriptor, names: [name] };
    rootfs = (await unpackImage(store, written.manifest, written.config.rootfs.diff_ids)) ?? '';
  });
  afterEach(async () => {
    await validateLayout(join(dir, 'store'));
    await cleanup();
  });

  async function write(spec: string | OutputSpec, stdout: NodeJS.WritableStream = new PassThrough()): Promise<void> {
    await writeOutput(store, image, rootfs, typeof spec === 'string' ? parseOutputSpec(spec) : spec, stdout);
  }

  it('writes an OCI layout tar that skopeo and umoci read', async () => {
    const archive = join(dir, 'image.oci.tar');
    await write(`type=oci,dest=${archive}`);
    const inspected = JSON.parse(execFileSync('skopeo', ['inspect', `oci-archive:${archive}:1`], { encoding: 'utf8' })) as { Digest: string; Layers: string[] };
    expect(inspected.Digest).toBe(image.descriptor.digest);
    expect(inspected.Layers).toHaveLength(2);
    const layout = join(dir, 'layout');
    await mkdir(layout);
    execFileSync('tar', ['-xf', archive, '-C', layout]);
    await validateLayout(layout);
    const bundle = join(dir, 'bundle');
    execFileSync('umoci', ['unpack', '--image', `${layout}:1`, bundle], { stdio: 'pipe' });
    expect(await readFile(join(bundle, 'rootfs/app/hello'), 'utf8')).toBe('hello\n');
    expect(await readlink(join(bundle, 'rootfs/app/outside'))).toBe('/etc/passwd');
    // name= replaces the build's names.
    const renamed = join(dir, 'renamed.tar');
    await write(`type=oci,dest=${renamed},"name=other:2,localhost:5000/third:3"`);
    execFileSync('tar', ['-xf', renamed, '-C', await mkdir(join(dir, 'renamed'), { recursive: true }).then(() => join(dir, 'renamed'))]);
    const index = JSON.parse(await readFile(join(dir, 'renamed', 'index.json'), 'utf8')) as { manifests: Array<{ annotations: Record<string, string> }> };
    expect(index.manifests.map((m) => m.annotations['io.containerd.image.name'])).toEqual(['docker.io/library/other:2', 'localhost:5000/third:3']);
    // The OCI reference name is the tag alone, as BuildKit's exporter (containerd's archive writer) gives it.
    expect(index.manifests.map((m) => m.annotations['org.opencontainers.image.ref.name'])).toEqual(['2', '3']);
  });

  it('writes an OCI archive as BuildKit\'s oci exporter does: modes, time zero, the index\'s shape and annotations', async () => {
    const archive = join(dir, 'buildkit.oci.tar');
    await writeOutput(store, image, rootfs, parseOutputSpec(`type=oci,dest=${archive},"name=other:2,localhost:5000/third:3"`), new PassThrough(), { sourceDateEpoch: 1_700_000_000 });
    const headers: Array<{ name: string; mode: number; mtime: number; type: string }> = [];
    const bodies = new Map<string, Buffer>();
    for await (const { header, body } of readTar(createReadStream(archive), { what: 'test' })) {
      headers.push({ name: header.name, mode: header.mode, mtime: header.mtime, type: header.type });
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(chunk);
      bodies.set(header.name, Buffer.concat(chunks));
    }
    // containerd's archive writer, which BuildKit uses: sorted names, blobs and oci-layout 0444, index.json 0644, every time zero.
    expect(headers.map((header) => header.name)).toEqual([...headers.map((header) => header.name)].sort());
    for (const header of headers) {
      expect(header.mtime).toBe(0);
      const expected = header.type === 'directory' ? 0o755 : header.name === 'index.json' ? 0o644 : 0o444;
      expect([header.name, header.mode]).toEqual([header.name, expected]);
    }
    expect(headers.slice(-2).map((header) => header.name)).toEqual(['index.json', 'oci-layout']);
    expect(bodies.get('oci-layout')?.toString()).toBe('{"imageLayoutVersion":"1.0.0"}');
    const index = bodies.get('index.json')?.toString() ?? '';
    const manifest = JSON.parse(index) as { manifests: Array<{ digest: string; size: number }> };
    const { digest, size } = manifest.manifests[0] ?? { digest: '', size: 0 };
    // No media type of its own, no newline; per name an entry with the epoch as its creation time.
    expect(index).toBe(
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size, annotations: { 'io.containerd.image.name': 'docker.io/library/other:2', 'org.opencontainers.image.created': '2023-11-14T22:13:20Z', 'org.opencontainers.image.ref.name': '2' } },
          { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size, annotations: { 'io.containerd.image.name': 'localhost:5000/third:3', 'org.opencontainers.image.created': '2023-11-14T22:13:20Z', 'org.opencontainers.image.ref.name': '3' } },
        ],
      }),
    );
    // Without SOURCE_DATE_EPOCH: the image's creation time (BuildKit's is the export's), so the archive stays reproducible.
    const again = join(dir, 'again.oci.tar');
    await write(`type=oci,dest=${again}`);
    const annotations = (JSON.parse(execFileSync('tar', ['-xOf', again, 'index.json'], { encoding: 'utf8' })) as { manifests: Array<{ annotations: Record<string, string> }> }).manifests[0]?.annotations;
    expect(annotations?.['org.opencontainers.image.created']).toBe('2024-05-06T07:08:09Z');
  });

  /** The members of the tar at PATH: headers and contents, in order. */
  async function members(path: string): Promise<Array<{ name: string; mode: number; mtime: number; type: string; body: Buffer }>> {
    const found: Array<{ name: string; mode: number; mtime: number; type: string; body: Buffer }> = [];
    for await (const { header, body } of readTar(createReadStream(path), { what: 'test' })) {
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(chunk);
      found.push({ name: header.name, mode: header.mode, mtime: header.mtime, type: header.type, body: Buffer.concat(chunks) });
    }
    return found;
  }

  interface ArchiveManifest {
    mediaType: string;
    config: { mediaType: string; digest: string; size: number };
    layers: Array<{ mediaType: string; digest: string; size: number; annotations?: Record<string, string> }>;
  }

  /** The manifest the archive's index names first, and the config it names. */
  function indexedImage(files: ReadonlyMap<string, Buffer>): { entry: { mediaType: string; digest: string; size: number }; manifest: ArchiveManifest; config: { rootfs: { diff_ids: string[] } } } {
    const index = JSON.parse(files.get('index.json')?.toString() ?? '{}') as { manifests: Array<{ mediaType: string; digest: string; size: number }> };
    const entry = index.manifests[0] ?? expect.fail('the index names no manifest');
    const manifest = JSON.parse(files.get(`blobs/sha256/${entry.digest.slice(7)}`)?.toString() ?? '{}') as ArchiveManifest;
    const config = JSON.parse(files.get(`blobs/sha256/${manifest.config.digest.slice(7)}`)?.toString() ?? '{}') as { rootfs: { diff_ids: string[] } };
    return { entry, manifest, config };
  }

  it('writes a docker archive as BuildKit\'s docker exporter does: Docker media types, gzip layers, containerd\'s manifest.json', async () => {
    const archive = join(dir, 'image.docker.tar');
    const written = await writeOutput(store, image, rootfs, parseOutputSpec(`type=docker,dest=${archive}`), new PassThrough());
    const found = await members(archive);
    const files = new Map(found.map((member) => [member.name, member.body]));
    // containerd's archive writer: sorted names, the OCI layout's files and manifest.json; no repositories.
    const blobNames = found.filter((member) => member.name.startsWith('blobs/sha256/') && member.type === 'file').map((member) => member.name);
    expect(found.map((member) => member.name)).toEqual(['blobs/', 'blobs/sha256/', ...blobNames, 'index.json', 'manifest.json', 'oci-layout']);
    for (const member of found) {
      expect(member.mtime).toBe(0);
      const mode = member.type === 'directory' || member.name === 'index.json' || member.name === 'manifest.json' ? (member.type === 'directory' ? 0o755 : 0o644) : 0o444;
      expect([member.name, member.mode]).toEqual([member.name, mode]);
    }
    expect(files.get('oci-layout')?.toString()).toBe('{"imageLayoutVersion":"1.0.0"}');

    // The image with Docker's media types; the same config (the image ID), its layers in gzip.
    const { entry, manifest, config } = indexedImage(files);
    const stored = await resolveImage(store, image.descriptor);
    expect(entry.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(manifest.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(manifest.config).toEqual({ mediaType: 'application/vnd.docker.container.image.v1+json', digest: stored.manifest.config.digest, size: stored.manifest.config.size });
    expect(manifest.layers.map((layer) => layer.mediaType)).toEqual(['application/vnd.docker.image.rootfs.diff.tar.gzip', 'application/vnd.docker.image.rootfs.diff.tar.gzip']);
    const diffIds = manifest.layers.map((layer) => {
      const blob = files.get(`blobs/sha256/${layer.digest.slice(7)}`) ?? expect.fail(`no blob ${layer.digest}`);
      expect(sha256(blob)).toBe(layer.digest);
      expect(blob.length).toBe(layer.size);
      expect([...blob.subarray(0, 2)]).toEqual([0x1f, 0x8b]);
      return sha256(gunzipSync(blob));
    });
    expect(diffIds).toEqual(config.rootfs.diff_ids);
    for (const name of blobNames) expect(sha256(files.get(name) ?? Buffer.alloc(0))).toBe(`sha256:${name.slice('blobs/sha256/'.length)}`);
    // The store's image keeps its own manifest and types.
    expect(await store.resolveReference(name)).toEqual(image.descriptor);
    expect(stored.manifest.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');

    // containerd's manifest.json: Config, RepoTags, Layers naming the compressed blobs; Go's json.Marshal (no newline).
    expect(files.get('manifest.json')?.toString()).toBe(
      JSON.stringify([{ Config: `blobs/sha256/${manifest.config.digest.slice(7)}`, RepoTags: ['localhost/outputs:1'], Layers: manifest.layers.map((layer) => `blobs/sha256/${layer.digest.slice(7)}`) }]),
    );
    // The index as the oci exporter's; what the metadata file reports is the manifest it names.
    const index = JSON.parse(files.get('index.json')?.toString() ?? '{}') as { manifests: Array<{ annotations: Record<string, string> }> };
    expect(index.manifests[0]?.annotations).toEqual({ 'io.containerd.image.name': 'localhost/outputs:1', 'org.opencontainers.image.created': '2024-05-06T07:08:09Z', 'org.opencontainers.image.ref.name': '1' });
    expect(written).toEqual({ descriptor: { mediaType: entry.mediaType, digest: entry.digest, size: entry.size, annotations: { 'org.opencontainers.image.created': '2024-05-06T07:08:09Z' } }, names: ['localhost/outputs:1'] });

    // skopeo reads it, and tsbuild load loads it back under the same image ID.
    expect(sha256(execFileSync('skopeo', ['inspect', '--config', '--raw', `docker-archive:${archive}`]))).toBe(stored.manifest.config.digest);
    const other = await openStore({ root: join(dir, 'loaded') });
    const loaded = await loadArchive(other, createReadStream(archive));
    expect(loaded.map((entry) => entry.name)).toEqual([name]);
    const back = await resolveImage(other, loaded[0]?.descriptor ?? expect.fail('nothing loaded'));
    expect(back.manifest.config.digest).toBe(stored.manifest.config.digest);
    await validateLayout(join(dir, 'loaded'));

    // Unnamed: RepoTags null, as Go marshals an empty slice of names.
    const unnamed = join(dir, 'unnamed.docker.tar');
    await writeOutput(store, { descriptor: image.descriptor, names: [] }, rootfs, parseOutputSpec(`type=docker,dest=${unnamed}`), new PassThrough());
    expect((JSON.parse(execFileSync('tar', ['-xOf', unnamed, 'manifest.json'], { encoding: 'utf8' })) as Array<{ RepoTags: unknown }>)[0]?.RepoTags).toBeNull();

    // The same bytes to standard output, which stays open for what follows (as process.stdout would).
    const stdout = new PassThrough();
    const chunks: Buffer[] = [];
    stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    await write('type=docker,dest=-', stdout);
    expect(Buffer.concat(chunks).equals(await readFile(archive))).toBe(true);
    expect(stdout.writableEnded).toBe(false);
  });

  it('honours oci-mediatypes on docker and oci outputs, and writes zstd layers under Docker\'s type for them', async () => {
    const stored = await resolveImage(store, image.descriptor);
    const read = async (spec: string): Promise<ReturnType<typeof indexedImage>> => {
      const archive = join(dir, 'types.tar');
      await write(`${spec},dest=${archive}`);
      return indexedImage(new Map((await members(archive)).map((member) => [member.name, member.body])));
    };
    const ociDocker = await read('type=docker,oci-mediatypes=true');
    expect([ociDocker.entry.mediaType, ociDocker.manifest.mediaType, ociDocker.manifest.config.mediaType]).toEqual(['application/vnd.oci.image.manifest.v1+json', 'application/vnd.oci.image.manifest.v1+json', 'application/vnd.oci.image.config.v1+json']);
    expect(ociDocker.manifest.layers.map((layer) => layer.mediaType)).toEqual(['application/vnd.oci.image.layer.v1.tar+gzip', 'application/vnd.oci.image.layer.v1.tar+gzip']);
    const dockerOci = await read('type=oci,oci-mediatypes=false');
    expect([dockerOci.entry.mediaType, dockerOci.manifest.mediaType, dockerOci.manifest.config.mediaType]).toEqual(['application/vnd.docker.distribution.manifest.v2+json', 'application/vnd.docker.distribution.manifest.v2+json', 'application/vnd.docker.container.image.v1+json']);
    // Both name the same blobs: only the types differ, and the config is the store's.
    expect(dockerOci.manifest.layers.map((layer) => [layer.digest, layer.size])).toEqual(ociDocker.manifest.layers.map((layer) => [layer.digest, layer.size]));
    for (const made of [ociDocker, dockerOci]) expect(made.manifest.config.digest).toBe(stored.manifest.config.digest);
    // Left as the oci exporter's default: OCI types.
    expect((await read('type=oci')).manifest).toEqual(ociDocker.manifest);

    // zstd: the build's layer in zstd under Docker's name for it, the base image's kept in gzip (not forced), as BuildKit 0.13.
    const archive = join(dir, 'zstd.docker.tar');
    await writeOutput(store, { ...image, firstBuiltLayers: new Map([[image.descriptor.digest, 1]]) }, rootfs, parseOutputSpec(`type=docker,compression=zstd,dest=${archive}`), new PassThrough());
    const zstd = indexedImage(new Map((await members(archive)).map((member) => [member.name, member.body])));
    expect(zstd.manifest.layers.map((layer) => layer.mediaType)).toEqual(['application/vnd.docker.image.rootfs.diff.tar.gzip', 'application/vnd.docker.image.rootfs.diff.tar.zstd']);
    const other = await openStore({ root: join(dir, 'loaded-zstd') });
    const loaded = await loadArchive(other, createReadStream(archive));
    expect((await resolveImage(other, loaded[0]?.descriptor ?? expect.fail('nothing loaded'))).config.rootfs.diff_ids).toEqual(stored.config.rootfs.diff_ids);
    await validateLayout(join(dir, 'loaded-zstd'));

    // An image output keeps the store's OCI types unless oci-mediatypes asks otherwise.
    expect((await outputImage(store, image, parseOutputSpec('type=image'))).descriptor).toEqual(image.descriptor);
    const dockerTyped = await outputImage(store, image, parseOutputSpec('type=image,oci-mediatypes=false'));
    expect(dockerTyped.descriptor.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    const typed = await resolveImage(store, dockerTyped.descriptor);
    expect([typed.manifest.config.mediaType, typed.manifest.config.digest]).toEqual(['application/vnd.docker.container.image.v1+json', stored.manifest.config.digest]);
    expect(() => parseOutputSpec('type=registry,name=r/x,oci-mediatypes=perhaps')).toThrow(/non-bool value "perhaps" specified for oci-mediatypes/);
  });

  it('writes the root filesystem as a deterministic tar', async () => {
    const first = join(dir, 'rootfs.tar');
    await write(`type=tar,dest=${first}`);
    const listing = execFileSync('tar', ['--numeric-owner', '-tvf', first], { encoding: 'utf8' });
    const lines = listing.trim().split('\n');
    const line = (path: string): string => lines.find((l) => l.endsWith(` ${path}`) || l.includes(` ${path} -> `) || l.includes(` ${path} link to `)) ?? `${path} missing`;
    expect(line('bin/busybox')).toMatch(/^-rwxr-xr-x 0\/0 /);
    expect(line('app/hello')).toMatch(/^-rwsr-xr-x 1000\/1001 .* 6 /);
    expect(line('app/outside')).toMatch(/^lrwxrwxrwx 0\/0 .* app\/outside -> \/etc\/passwd$/);
    expect(line('app/same')).toMatch(/app\/same link to app\/hello$/);
    expect(line('app/fifo')).toMatch(/^prw-r----- /);
    expect(line('app/')).toMatch(/^drwxr-x--- 1000\/1001 /);
    const names = execFileSync('tar', ['-tf', first], { encoding: 'utf8' }).trim().split('\n');
    expect(names).toContain('app/né');
    expect(names.some((n) => n.startsWith('/') || n.startsWith('./'))).toBe(false);

    // The same bytes again, to a file or to standard output.
    const stdout = new PassThrough();
    const chunks: Buffer[] = [];
    stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    await write('-', stdout);
    expect(Buffer.concat(chunks).equals(await readFile(first))).toBe(true);
    // Replaced atomically: no temporary file is left beside it.
    await write(`type=tar,dest=${first}`);
    expect((await readdir(dir)).filter((n) => n.includes('rootfs.tar'))).toEqual(['rootfs.tar']);
  });

  it('dates a tar output’s entries as Go’s tar writer rounds them: to the nearest second, a half up', async () => {
    setExactTimes(join(rootfs, 'app/hello'), 1_700_000_000_500_000_000n, 1_700_000_000_500_000_000n);
    setExactTimes(join(rootfs, 'app/outside'), -29_012_345_679n, -29_012_345_679n);
    setExactTimes(join(rootfs, 'app/empty'), 1_700_000_000_499_999_999n, 1_700_000_000_499_999_999n);
    setExactTimes(join(rootfs, 'app/fifo'), -30_500_000_000n, -30_500_000_000n);
    const archive = join(dir, 'timed.tar');
    await write(`type=tar,dest=${archive}`);
    const times = new Map<string, number>();
    for await (const entry of readTar(createReadStream(archive))) {
      times.set(entry.header.name, entry.header.mtime);
      for await (const _ of entry.body) void _;
    }
    expect([times.get('app/hello'), times.get('app/outside'), times.get('app/empty/'), times.get('app/fifo')]).toEqual([1_700_000_001, -29, 1_700_000_000, -30]);
  });

  it('refuses a tar to a terminal and a file output onto a directory', async () => {
    const terminal = Object.assign(new PassThrough(), { isTTY: true });
    for (const spec of ['-', 'type=oci', 'type=docker,dest=-']) {
      expect(await codeOf(write(spec, terminal))).toBe('INVALID_ARGUMENT');
    }
    expect(terminal.read()).toBeNull();
    expect(await codeOf(write(`type=tar,dest=${dir}`))).toBe('INVALID_ARGUMENT');
  });

  it('copies the root filesystem into a directory: files, modes, owners, links, nothing outside', async () => {
    const outside = join(dir, 'outside');
    await mkdir(outside);
    const target = join(dir, 'out', 'rootfs');
    // A symlink already in the target where the tree has a directory: replaced, never followed.
    await mkdir(target, { recursive: true });
    await symlink(outside, join(target, 'app'));
    await writeFile(join(target, 'kept'), 'not in the image\n');
    await write(target);

    expect(await readdir(outside)).toEqual([]);
    expect((await lstat(join(target, 'app'))).isDirectory()).toBe(true);
    expect(await readFile(join(target, 'kept'), 'utf8')).toBe('not in the image\n');
    expect((await stat(join(target, 'bin/busybox'))).size).toBe((await stat('/bin/busybox')).size);
    expect(await readlink(join(target, 'bin/sh'))).toBe('/bin/busybox');
    expect(await readlink(join(target, 'app/outside'))).toBe('/etc/passwd');
    expect(await readlink(join(target, 'app/up'))).toBe('../../../../tmp');
    const hello = await lstat(join(target, 'app/hello'));
    expect(hello.mode & 0o7777).toBe(0o4755);
    expect(hello.mtimeMs).toBe(1_700_000_000_000);
    expect((await lstat(join(target, 'app/same'))).ino).toBe(hello.ino);
    expect((await lstat(join(target, 'app/fifo'))).isFIFO()).toBe(true);
    expect((await lstat(join(target, 'app/empty'))).mode & 0o7777).toBe(0o700);
    const app = await lstat(join(target, 'app'));
    expect(app.mode & 0o7777).toBe(0o750);
    expect(app.mtimeMs).toBe(1_700_000_000_000);
    expect((await stat(join(target, 'tmp'))).mode & 0o7777).toBe(0o1777);
    expect(await readdir(join(target, 'app'))).toContain('né');
    if (isRoot) expect(readXattr(join(target, 'app/ping'), 'security.capability')?.readUInt32LE(4)).toBe(1 << 10);
    // Every file the build's user's, whatever the image says (1000:1001 here), as BuildKit's receiver gives them its client's ids.
    const user = [process.getuid?.(), process.getgid?.()];
    for (const owned of [hello, app, await lstat(join(target, 'app/outside')), await lstat(join(target, 'app/fifo'))]) expect([owned.uid, owned.gid]).toEqual(user);
    // The directory it made is its user's alone, as BuildKit's MkdirAll(dest, 0700); one that was there keeps its mode.
    expect((await stat(join(dir, 'out'))).mode & 0o7777).toBe(0o755);
    const fresh = join(dir, 'fresh', 'output');
    await write(`type=local,dest=${fresh}`);
    expect((await stat(fresh)).mode & 0o7777).toBe(0o700);
    expect((await stat(join(dir, 'fresh'))).mode & 0o7777).toBe(0o700);
    // Written again over itself: the same tree.
    await write(`type=local,dest=${target}`);
    expect((await lstat(join(target, 'app/hello'))).mode & 0o7777).toBe(0o4755);
  });
  it('gives a directory output its tree’s times to the nanosecond, before 1970 too', async () => {
    // As a RUN or an archive left them in the root filesystem (a layer holds whole seconds).
    setExactTimes(join(rootfs, 'app/hello'), 1_700_000_000_123_456_789n, 1_700_000_000_123_456_789n);
    setExactTimes(join(rootfs, 'app/outside'), -30_500_000_000n, -30_500_000_000n);
    setExactTimes(join(rootfs, 'app/empty'), 5n, 5n);
    const target = join(dir, 'timed');
    await write(target);
    const time = async (path: string): Promise<bigint> => (await lstat(join(target, path), { bigint: true })).mtimeNs;
    expect(await time('app/hello')).toBe(1_700_000_000_123_456_789n);
    expect(await time('app/same')).toBe(1_700_000_000_123_456_789n);
    expect(await time('app/outside')).toBe(-30_500_000_000n);
    expect(await time('app/empty')).toBe(5n);
  });
});
