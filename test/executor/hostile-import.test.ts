/**
 * OCI layouts and archives made to be read without end (containerd CVE-2023-25153): `tsbuild
 * load` of a compressed layout whose index.json unfolds into gigabytes, of a docker archive
 * whose config is larger than any image config the store reads; and `--build-context
 * NAME=oci-layout://DIR` whose index.json is a fifo or a sparse file of gigabytes, or whose
 * index names a manifest of gigabytes. Each is refused naming what is too large, after
 * reading at most the limit of it; the store verifies after each.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, readdir, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MediaType, hostPlatform, parseDigest } from '../../src/common/index.js';
import { encodeHeader, endOfArchive, padding } from '../../src/exporter/tar.js';
import { verifyStore } from '../../src/store/index.js';
import { buildFixture, type BuildFixture } from '../helpers/build.js';
import { runCliCaptured } from '../helpers/run-cli.js';

const isRoot = process.getuid?.() === 0;
const bin = new URL('../../bin/tsbuild.js', import.meta.url).pathname;
const gib = 1024 * 1024 * 1024;
const limit = 16 * 1024 * 1024;

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** A tar member: header, content, padding. */
function member(path: string, content: Buffer): Buffer {
  return Buffer.concat([encodeHeader({ path, type: 'file', size: content.length, mode: 0o644, uid: 0, gid: 0, mtime: 0 }), content, padding(content.length)]);
}

describe.runIf(isRoot)('imports made to be read without end', () => {
  let fx: BuildFixture;

  beforeAll(async () => {
    fx = await buildFixture();
  }, 120_000);

  afterEach(async () => {
    const report = await verifyStore(fx.store);
    expect(report.problems).toEqual([]);
  });

  afterAll(async () => {
    await fx.cleanup();
  });

  it('stops reading a compressed layout whose index.json unfolds into 3 GiB at the limit', async () => {
    const path = join(fx.dir, 'bomb.tar.gz');
    // gzip members one after the other are one stream: 64 MiB of spaces, compressed once, 48 times.
    const spaces = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20), { level: 9 });
    const out = createWriteStream(path);
    const write = (bytes: Buffer): Promise<void> => new Promise((resolve, reject) => out.write(bytes, (error) => (error ? reject(error) : resolve())));
    await write(gzipSync(Buffer.concat([member('oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}')), encodeHeader({ path: 'index.json', type: 'file', size: 3 * gib, mode: 0o644, uid: 0, gid: 0, mtime: 0 })])));
    for (let part = 0; part < 48; part++) await write(spaces);
    await write(gzipSync(endOfArchive));
    await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));

    const started = Date.now();
    const result = await runCliCaptured(['load', '--root', fx.root, '-i', path]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`index.json exceeds ${limit} bytes`);
    // Unfolded to the limit and no further: seconds at most, where 3 GiB would take much longer.
    expect(Date.now() - started).toBeLessThan(20_000);
  }, 60_000);

  it('refuses a docker archive whose config is larger than any config the store reads', async () => {
    const layer = member('file', Buffer.from('content\n'));
    const layerTar = Buffer.concat([layer, endOfArchive]);
    const platform = hostPlatform();
    const config = Buffer.concat([
      Buffer.from(JSON.stringify({ architecture: platform.architecture, os: platform.os, config: {}, rootfs: { type: 'layers', diff_ids: [`sha256:${sha256(layerTar)}`] } })),
      Buffer.alloc(limit, 0x20),
    ]);
    // As docker 25's save: members named by digest, the config's name without .json.
    const configName = `blobs/sha256/${sha256(config)}`;
    const layerName = `blobs/sha256/${sha256(layerTar)}`;
    const manifest = Buffer.from(JSON.stringify([{ Config: configName, RepoTags: ['hostile/large-config:1'], Layers: [layerName] }]));
    const archive = join(fx.dir, 'large-config.tar');
    await writeFile(archive, Buffer.concat([member('manifest.json', manifest), member(configName, config), member(layerName, layerTar), endOfArchive]));
    const result = await runCliCaptured(['load', '--root', fx.root, '-i', archive]);
    expect(result.stderr).toContain(`${configName} exceeds ${limit} bytes`);
    expect(result.status).toBe(1);
    expect(await fx.store.resolveReference('docker.io/hostile/large-config:1')).toBeUndefined();
  }, 60_000);

  it('reads a docker archive and an OCI archive only from their own members: names that climb, absolute names and links to host files name nothing', async () => {
    const secret = join(fx.dir, 'load-host-secret');
    await writeFile(secret, 'HOST SECRET\n');
    const platform = hostPlatform();
    const secretDigest = `sha256:${sha256(Buffer.from('HOST SECRET\n'))}`;
    const config = Buffer.from(JSON.stringify({ architecture: platform.architecture, os: platform.os, rootfs: { type: 'layers', diff_ids: [secretDigest] } }));
    const link = (path: string, linkname: string): Buffer => encodeHeader({ path, type: 'symlink', linkname, mode: 0o777, uid: 0, gid: 0, mtime: 0 });
    const docker = (layers: string[], configName = 'config.json', extra: Buffer[] = []): Buffer =>
      Buffer.concat([member('manifest.json', Buffer.from(JSON.stringify([{ Config: configName, RepoTags: ['hostile/load-names:1'], Layers: layers }]))), member('config.json', config), ...extra, endOfArchive]);
    const ociManifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: MediaType.ociConfig, digest: `sha256:${sha256(config)}`, size: config.length }, layers: [{ mediaType: MediaType.ociLayer, digest: secretDigest, size: 12 }] }));
    const oci = (index: unknown, extra: Buffer[]): Buffer =>
      Buffer.concat([member('oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}')), member('index.json', Buffer.from(JSON.stringify(index))), member(`blobs/sha256/${sha256(config)}`, config), member(`blobs/sha256/${sha256(ociManifest)}`, ociManifest), ...extra, endOfArchive]);
    const cases: Array<[string, Buffer, string]> = [
      ['docker-config-climbing', docker(['layer.tar'], `../../../..${secret}`), `no config ../../../..${secret}`],
      ['docker-layer-absolute', docker([secret]), `no layer ${secret}`],
      ['docker-layer-climbing', docker(['sub/../../layer.tar']), 'no layer sub/../../layer.tar'],
      ['docker-layer-link', docker(['layer.tar'], 'config.json', [link('layer.tar', secret)]), 'no layer layer.tar'],
      ['oci-blob-link', oci({ schemaVersion: 2, manifests: [{ mediaType: MediaType.ociManifest, digest: `sha256:${sha256(ociManifest)}`, size: ociManifest.length }] }, [link(`blobs/sha256/${secretDigest.slice(7)}`, secret)]), secretDigest],
      ['oci-index-climbing', oci({ schemaVersion: 2, manifests: [{ mediaType: MediaType.ociManifest, digest: `sha256:../../../..${secret}`, size: 12 }] }, []), 'invalid digest'],
    ];
    for (const [name, archive, message] of cases) {
      const path = join(fx.dir, `${name}.tar`);
      await writeFile(path, archive);
      const result = await runCliCaptured(['load', '--root', fx.root, '-i', path]);
      expect(result.status, name).toBe(1);
      expect(result.stderr, name).toContain(message);
      expect(await fx.store.resolveReference('docker.io/hostile/load-names:1'), name).toBeUndefined();
    }
    expect(await readFile(secret, 'utf8')).toBe('HOST SECRET\n');
  }, 60_000);

  it('refuses a docker archive whose layer is not the one its config names (plain or gzip), and an OCI archive whose tag is no reference, naming nothing', async () => {
    const platform = hostPlatform();
    const layer = Buffer.concat([member('file', Buffer.from('the layer the archive holds\n')), endOfArchive]);
    const named = Buffer.concat([member('file', Buffer.from('the layer the config names\n')), endOfArchive]);
    const config = Buffer.from(JSON.stringify({ architecture: platform.architecture, os: platform.os, rootfs: { type: 'layers', diff_ids: [`sha256:${sha256(named)}`] } }));
    for (const [name, content] of [['layer.tar', layer], ['layer.tar.gz', gzipSync(layer)]] as const) {
      const archive = Buffer.concat([member('manifest.json', Buffer.from(JSON.stringify([{ Config: 'config.json', RepoTags: ['hostile/load-diff:1'], Layers: [name] }]))), member('config.json', config), member(name, content), endOfArchive]);
      const path = join(fx.dir, `load-diff-${name}`);
      await writeFile(path, archive);
      const result = await runCliCaptured(['load', '--root', fx.root, '-i', path]);
      expect(result.status, name).toBe(1);
      expect(result.stderr, name).toContain(`load archive: layer ${name} has diff ID sha256:${sha256(layer)}, config says sha256:${sha256(named)}`);
      expect(await fx.store.resolveReference('docker.io/hostile/load-diff:1'), name).toBeUndefined();
    }
    // An OCI archive's tag is the image's name: one that is a path or no reference names nothing.
    const goodConfig = Buffer.from(JSON.stringify({ architecture: platform.architecture, os: platform.os, rootfs: { type: 'layers', diff_ids: [`sha256:${sha256(layer)}`] } }));
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: MediaType.ociConfig, digest: `sha256:${sha256(goodConfig)}`, size: goodConfig.length }, layers: [{ mediaType: MediaType.ociLayer, digest: `sha256:${sha256(layer)}`, size: layer.length }] }));
    for (const tag of ['../../../etc/passwd', 'a:b:c', 'Upper-Path/x/Case:1', `x${'/y'.repeat(200)}`, 'name@sha256:1234']) {
      const index = { schemaVersion: 2, manifests: [{ mediaType: MediaType.ociManifest, digest: `sha256:${sha256(manifest)}`, size: manifest.length, annotations: { 'io.containerd.image.name': tag, 'org.opencontainers.image.ref.name': tag } }] };
      const archive = Buffer.concat([member('oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}')), member('index.json', Buffer.from(JSON.stringify(index))), ...[goodConfig, manifest, layer].map((blob) => member(`blobs/sha256/${sha256(blob)}`, blob)), endOfArchive]);
      const path = join(fx.dir, 'load-tag.tar');
      await writeFile(path, archive);
      const result = await runCliCaptured(['load', '--root', fx.root, '-i', path]);
      expect(result.status, tag).toBe(1);
      expect(result.stderr, tag).toMatch(/invalid reference format|more than 255/);
      expect(result.stderr, tag).not.toMatch(/TypeError|internal error/);
      const listed = await runCliCaptured(['images', '--root', fx.root, '--format', '{{.Repository}}:{{.Tag}}']);
      expect(listed.stdout, tag).not.toContain('etc/passwd');
    }
    expect(await readdir(join(fx.root))).not.toContain('etc');
  }, 60_000);

  it('refuses documents nested thousands deep in load, a named layout and the store, naming them, where inspect died of a stack overflow (moby CVE-2021-21285 class)', async () => {
    const depth = 100_000;
    const deep = `${'['.repeat(depth)}${']'.repeat(depth)}`;
    const layerTar = Buffer.concat([member('file', Buffer.from('content\n')), endOfArchive]);
    const layerHex = sha256(layerTar);
    const platform = hostPlatform();
    const configText = JSON.stringify({ architecture: platform.architecture, os: platform.os, config: {}, rootfs: { type: 'layers', diff_ids: [`sha256:${layerHex}`] } });
    // An unknown member, which readers keep as it is: nothing reads it but what prints or copies the whole.
    const deepConfig = Buffer.from(`${configText.slice(0, -1)},"x":${deep}}`);
    const plainConfig = Buffer.from(configText);
    const manifestOf = (config: Buffer, extra = ''): Buffer =>
      Buffer.from(`{"schemaVersion":2,"mediaType":"${MediaType.ociManifest}","config":{"mediaType":"${MediaType.ociConfig}","digest":"sha256:${sha256(config)}","size":${config.length}},"layers":[{"mediaType":"${MediaType.ociLayer}","digest":"sha256:${layerHex}","size":${layerTar.length}}]${extra}}`);
    const deepManifest = manifestOf(plainConfig, `,"annotations":{},"x":${deep}`);
    const docker = (config: Buffer, manifestJson = JSON.stringify([{ Config: `blobs/sha256/${sha256(config)}`, RepoTags: ['hostile/deep:1'], Layers: [`blobs/sha256/${layerHex}`] }])): Buffer =>
      Buffer.concat([member('manifest.json', Buffer.from(manifestJson)), member(`blobs/sha256/${sha256(config)}`, config), member(`blobs/sha256/${layerHex}`, layerTar), endOfArchive]);
    const oci = (manifest: Buffer, config: Buffer): Buffer =>
      Buffer.concat([
        member('oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}')),
        member('index.json', Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MediaType.ociManifest, digest: `sha256:${sha256(manifest)}`, size: manifest.length, annotations: { 'io.containerd.image.name': 'docker.io/hostile/deep:1' } }] }))),
        member(`blobs/sha256/${sha256(manifest)}`, manifest),
        member(`blobs/sha256/${sha256(config)}`, config),
        member(`blobs/sha256/${layerHex}`, layerTar),
        endOfArchive,
      ]);
    for (const [name, archive] of [
      ['docker-config', docker(deepConfig)],
      ['docker-manifest-json', docker(plainConfig, `[{"Config":"blobs/sha256/${sha256(plainConfig)}","RepoTags":["hostile/deep:1"],"Layers":["blobs/sha256/${layerHex}"],"x":${deep}}]`)],
      ['oci-config', oci(manifestOf(deepConfig), deepConfig)],
      ['oci-manifest', oci(deepManifest, plainConfig)],
    ] as const) {
      const path = join(fx.dir, `deep-${name}.tar`);
      await writeFile(path, archive);
      const result = await runCliCaptured(['load', '--root', fx.root, '-i', path]);
      expect([name, result.status]).toEqual([name, 1]);
      expect(result.stderr, name).toContain('nested deeper than 1000 levels');
      expect(result.stderr, name).not.toContain('internal error');
      expect(await fx.store.resolveReference('docker.io/hostile/deep:1'), name).toBeUndefined();
    }
    // A layout given to --build-context, its manifest nested deep.
    const dir = join(fx.dir, 'deep-layout');
    await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    for (const blob of [deepManifest, plainConfig, layerTar]) await writeFile(join(dir, 'blobs', 'sha256', sha256(blob)), blob);
    await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MediaType.ociManifest, digest: `sha256:${sha256(deepManifest)}`, size: deepManifest.length }] }));
    const context = await fx.context('deep-layout-context', { Dockerfile: 'FROM base\nRUN true\n' });
    const built = await fx.build(['--build-context', `base=oci-layout://${dir}`, context]);
    expect(built.status).toBe(1);
    expect(built.stderr).toContain('nested deeper than 1000 levels');
    // One already in the store (as an older tsbuild took it): inspect, history and run fail
    // naming what they read, never die of it.
    const storedManifest = manifestOf(deepConfig);
    for (const blob of [deepConfig, layerTar, storedManifest]) await fx.store.putBlob(Readable.from([blob]), { digest: parseDigest(`sha256:${sha256(blob)}`), size: blob.length });
    await fx.store.setReference('docker.io/hostile/stored-deep:1', { mediaType: MediaType.ociManifest, digest: parseDigest(`sha256:${sha256(storedManifest)}`), size: storedManifest.length });
    for (const args of [['inspect', 'hostile/stored-deep:1'], ['history', 'hostile/stored-deep:1'], ['run', '--rm', 'hostile/stored-deep:1', 'true']]) {
      const result = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, TSBUILD_ROOT: fx.root }, timeout: 30_000 });
      expect([args[0], result.stderr]).toEqual([args[0], expect.stringContaining('nested deeper than 1000 levels')]);
      expect(result.stderr).not.toContain('internal error');
      expect(result.status).not.toBe(0);
    }
    expect(await fx.store.deleteReference('docker.io/hostile/stored-deep:1')).toBe(true);
  }, 60_000);

  describe('--build-context NAME=oci-layout://DIR', () => {
    async function layout(name: string): Promise<{ dir: string; context: string }> {
      const dir = join(fx.dir, name);
      await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
      await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
      const context = await fx.context(`${name}-context`, { Dockerfile: 'FROM base\nRUN true\n' });
      return { dir, context };
    }

    it('refuses an index.json that is a fifo instead of waiting for a writer forever', async () => {
      const { dir, context } = await layout('fifo-index');
      expect(spawnSync('mkfifo', [join(dir, 'index.json')]).status).toBe(0);
      // In a child: a read that waits forever would hold this process too.
      const result = spawnSync(process.execPath, [bin, 'build', '--root', fx.root, '--progress', 'plain', '--build-context', `base=oci-layout://${dir}`, context], { encoding: 'utf8', timeout: 30_000 });
      expect(result.signal).toBeNull();
      expect(result.status).toBe(1);
      expect(result.stderr).toContain('index.json: not a regular file');
    }, 60_000);

    it('refuses an index.json of 3 GiB by its size, before reading it', async () => {
      const { dir, context } = await layout('sparse-index');
      await writeFile(join(dir, 'index.json'), '');
      await truncate(join(dir, 'index.json'), 3 * gib);
      const result = await fx.build(['--build-context', `base=oci-layout://${dir}`, context]);
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(/index\.json: exceeds \d+ bytes/);
    }, 60_000);

    it('refuses a manifest of 5 GiB by its size, before reading or copying it', async () => {
      const { dir, context } = await layout('sparse-manifest');
      const digest = `sha256:${'ab'.repeat(32)}`;
      await writeFile(join(dir, 'blobs', 'sha256', 'ab'.repeat(32)), '');
      await truncate(join(dir, 'blobs', 'sha256', 'ab'.repeat(32)), 5 * gib);
      await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MediaType.ociManifest, digest, size: 5 * gib }] }));
      const started = Date.now();
      const result = await fx.build(['--build-context', `base=oci-layout://${dir}`, context]);
      expect(result.status).toBe(1);
      expect(result.stderr).toContain(`blob ${digest} of ${5 * gib} bytes exceeds the 4194304-byte limit of a manifest or index`);
      expect(Date.now() - started).toBeLessThan(20_000);
    }, 60_000);
  });
  describe('--build-context NAME=oci-layout://DIR, a config', () => {
    it('refuses a config larger than any the store reads, by its size, before copying it', async () => {
      const dir = join(fx.dir, 'large-config-layout');
      await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
      const configHex = 'ef'.repeat(32);
      await writeFile(join(dir, 'blobs', 'sha256', configHex), '');
      await truncate(join(dir, 'blobs', 'sha256', configHex), 20 * 1024 * 1024);
      const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: MediaType.ociConfig, digest: `sha256:${configHex}`, size: 20 * 1024 * 1024 }, layers: [] }));
      await writeFile(join(dir, 'blobs', 'sha256', sha256(manifest)), manifest);
      await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MediaType.ociManifest, digest: `sha256:${sha256(manifest)}`, size: manifest.length }] }));
      const context = await fx.context('large-config-layout-context', { Dockerfile: 'FROM base\nRUN true\n' });
      const result = await fx.build(['--build-context', `base=oci-layout://${dir}`, context]);
      expect(result.status).toBe(1);
      expect(result.stderr).toContain(`blob sha256:${configHex} of ${20 * 1024 * 1024} bytes exceeds the ${limit}-byte limit of an image config`);
    }, 60_000);
  });

  describe('ADD of a local archive', () => {
    /** What a failed step may leave in the store's temporary directory: nothing of its own. */
    async function leftovers(): Promise<string[]> {
      return (await readdir(join(fx.root, 'tmp')).catch(() => [] as string[])).filter((name) => /^(step|commit|load)/.test(name));
    }

    it.each([
      // A first header that reads (so it is an archive), then 8 GiB promised and 1 MiB given.
      ['huge.tar', () => Buffer.concat([encodeHeader({ path: 'huge', type: 'file', size: 8 * gib - 1, mode: 0o644, uid: 0, gid: 0, mtime: 0 }), Buffer.alloc(1024 * 1024, 0x61)]), 'unexpected end of archive in the content of "huge"'],
      // 256 MiB of zeros in a few hundred KiB, cut before its end.
      ['bomb.tar.gz', () => {
        const whole = gzipSync(Buffer.concat([encodeHeader({ path: 'zeros', type: 'file', size: 256 * 1024 * 1024, mode: 0o644, uid: 0, gid: 0, mtime: 0 }), Buffer.alloc(256 * 1024 * 1024)]));
        return whole.subarray(0, whole.length - 1024);
      }, 'read archive bomb.tar.gz'],
    ])('fails cleanly on %s, naming it, and leaves the store whole', async (name, make, message) => {
      const context = await fx.context(`add-${name}`, { Dockerfile: `FROM busybox\nADD ${name} /unpacked/\n` });
      await writeFile(join(context, name), make());
      const result = await fx.build(['-t', 'add-hostile', context]);
      expect(result.status).toBe(1);
      expect(result.stderr).toContain(`unpack ${name} into /unpacked/`);
      expect(result.stderr).toContain(message);
      expect(await leftovers()).toEqual([]);
    }, 60_000);

    it.each(['gnu', 'pax'])('unpacks a sparse file of a --format=%s archive as BuildKit: its real size, holes as zeros', async (format) => {
      const source = join(fx.dir, `sparse-${format}`);
      await mkdir(source);
      const original = Buffer.alloc(2 * 1024 * 1024);
      original.write('middle', 1024 * 1024);
      original.write('end', original.length - 3);
      await writeFile(join(source, 'sparse'), original);
      expect(spawnSync('fallocate', ['--dig-holes', join(source, 'sparse')]).status).toBe(0);
      const context = await fx.context(`add-sparse-${format}`, { Dockerfile: 'FROM busybox\nADD sparse.tar /unpacked/\nRUN wc -c < /unpacked/sparse > /size && tail -c 3 /unpacked/sparse > /tail\n' });
      expect(spawnSync('tar', ['--sparse', `--format=${format}`, '-C', source, '-cf', join(context, 'sparse.tar'), 'sparse']).status).toBe(0);
      const result = await fx.build(['-t', `add-sparse-${format}`, context]);
      expect(result.stderr).not.toMatch(/ERROR/);
      expect(result.status).toBe(0);
      const files = new Map<string, string | undefined>();
      for (const layer of (await fx.image(`add-sparse-${format}`)).manifest.layers) for (const file of await fx.layerFiles(layer)) files.set(file.path, file.text);
      expect([files.get('size')?.trim(), files.get('tail'), files.get('unpacked/sparse')?.length]).toEqual([String(original.length), 'end', original.length]);
    }, 60_000);

    it('keeps what an archive names by climbing, absolute names and hard links inside the destination, or refuses it naming the entry (BuildKit 0.12 tar advisories)', async () => {
      const host = join(fx.dir, 'add-names-host');
      await mkdir(host, { recursive: true });
      await writeFile(join(host, 'secret'), 'HOST SECRET\n');
      const climb = '../'.repeat(12);
      // encodeHeader refuses names that are not clean: these headers are written as a hostile tool would.
      const raw = (name: string, type: 'file' | 'link' | 'symlink', linkname = ''): Buffer => {
        expect(Math.max(Buffer.byteLength(name), Buffer.byteLength(linkname))).toBeLessThan(100);
        const header = encodeHeader({ path: 'placeholder', type, size: type === 'file' ? 2 : 0, mode: 0o644, uid: 0, gid: 0, mtime: 0, ...(linkname === '' ? {} : { linkname: 'placeholder' }) });
        header.fill(0, 0, 100).write(name, 0, 'utf8');
        if (linkname !== '') header.fill(0, 157, 257).write(linkname, 157, 'utf8');
        // The checksum over the header as it now is, its field counted as spaces.
        header.fill(0x20, 148, 156);
        let sum = 0;
        for (const byte of header) sum += byte;
        header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
        return type === 'file' ? Buffer.concat([header, Buffer.from('x\n'), padding(2)]) : header;
      };
      const cases: Array<[string, Buffer[], string | undefined]> = [
        ['hardlink-absolute.tar', [raw('hl', 'link', join(host, 'secret'))], `hard link target "${join(host, 'secret')}" does not exist in the layer`],
        // A link target that climbs stays inside too, as BuildKit's chrooted untar: there is nothing to link to.
        ['hardlink-climbing.tar', [raw('hl', 'link', `${climb}${host.slice(1)}/secret`)], `hard link target "${climb}${host.slice(1)}/secret" does not exist in the layer`],
        ['hardlink-through-link.tar', [raw('up', 'symlink', `${climb}${host.slice(1)}`), raw('hl', 'link', 'up/secret')], 'hard link target "up/secret" does not exist in the layer'],
        // Taken inside the destination, as BuildKit's untar chrooted there takes them: a name
        // that climbs stays at the destination.
        ['climbing.tar', [raw(`${climb}${host.slice(1)}/climbed`, 'file')], undefined],
        ['absolute.tar', [raw(`${host}/absolute`, 'file')], undefined],
        ['through-link.tar', [raw('up', 'symlink', `${climb}${host.slice(1)}`), raw('up/through', 'file')], undefined],
      ];
      for (const [name, entries, message] of cases) {
        const context = await fx.context(`add-names-${name}`, { Dockerfile: `FROM busybox\nADD ${name} /dest/\n` });
        await writeFile(join(context, name), Buffer.concat([...entries, endOfArchive]));
        const result = await fx.build([context]);
        if (message === undefined) {
          expect(result.stderr, name).not.toMatch(/ERROR/);
          expect(result.status, name).toBe(0);
        } else {
          expect(result.status, name).toBe(1);
          expect(result.stderr, name).toContain(`unpack ${name} into /dest/`);
          expect(result.stderr, name).toContain(message);
        }
        expect(await readdir(host), name).toEqual(['secret']);
        expect(await readFile(join(host, 'secret'), 'utf8'), name).toBe('HOST SECRET\n');
      }
      expect(await leftovers()).toEqual([]);
    }, 120_000);

    it('unpacks through links the archive or an earlier step planted only inside the root', async () => {
      const host = join(fx.dir, 'add-host');
      await mkdir(host);
      const links = Buffer.concat([
        encodeHeader({ path: 'rootlink', type: 'symlink', linkname: '/', mode: 0o777, uid: 0, gid: 0, mtime: 0 }),
        member('rootlink/from-archive', Buffer.from('archive\n')),
        encodeHeader({ path: 'hostlink', type: 'symlink', linkname: host, mode: 0o777, uid: 0, gid: 0, mtime: 0 }),
        encodeHeader({ path: 'hostlink', type: 'directory', mode: 0o777, uid: 0, gid: 0, mtime: 0 }),
        endOfArchive,
      ]);
      const context = await fx.context('add-links', { Dockerfile: ['FROM busybox', `RUN ln -s ${host} /dest`, 'ADD links.tar /dest/', 'RUN ls -A /dest/ > /listing && cat /dest/from-archive > /seen'].join('\n') });
      await writeFile(join(context, 'links.tar'), links);
      const result = await fx.build(['-t', 'add-links', context]);
      expect(result.stderr).not.toMatch(/ERROR/);
      expect(result.status).toBe(0);
      expect(await readdir(host)).toEqual([]);
      const image = await fx.image('add-links');
      const files = new Map<string, string | undefined>();
      for (const layer of image.manifest.layers) for (const file of await fx.layerFiles(layer)) files.set(file.path, file.text);
      // As BuildKit's untar, chrooted into the destination: the archive's `/` is the destination.
      expect([files.get('listing'), files.get('seen')]).toEqual(['from-archive\nhostlink\nrootlink\n', 'archive\n']);
    }, 60_000);
  });
  describe('a local cache directory (--cache-from and --cache-to type=local)', () => {
    /** The CLI in a child: a read that waits forever would hold this process too. */
    function build(args: readonly string[]): { signal: NodeJS.Signals | null; status: number | null; stderr: string } {
      return spawnSync(process.execPath, [bin, 'build', '--root', fx.root, '--progress', 'plain', ...args], { encoding: 'utf8', timeout: 30_000 });
    }

    it('passes over an index.json or a manifest that is a fifo, with a warning, instead of waiting forever', async () => {
      const fifoIndex = join(fx.dir, 'cache-fifo-index');
      await mkdir(fifoIndex);
      expect(spawnSync('mkfifo', [join(fifoIndex, 'index.json')]).status).toBe(0);
      const fifoManifest = join(fx.dir, 'cache-fifo-manifest');
      const digest = 'cd'.repeat(32);
      await mkdir(join(fifoManifest, 'blobs', 'sha256'), { recursive: true });
      expect(spawnSync('mkfifo', [join(fifoManifest, 'blobs', 'sha256', digest)]).status).toBe(0);
      await writeFile(join(fifoManifest, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MediaType.ociManifest, digest: `sha256:${digest}`, size: 100, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }] }));
      for (const dir of [fifoIndex, fifoManifest]) {
        // A step of its own each: the import is read only for a step the local cache misses.
        const context = await fx.context(`${dir}-context`.slice(fx.dir.length + 1), { Dockerfile: `FROM busybox\nRUN echo ${dir} > /cached\n` });
        const result = build(['--cache-from', `type=local,src=${dir}`, context]);
        expect(result.signal, dir).toBeNull();
        expect(result.stderr, dir).toContain(`cache local ${dir}`);
        expect(result.stderr, dir).toContain('not a regular file');
        expect(result.status, dir).toBe(0);
      }
    }, 120_000);

    it('replaces an index.json that is a fifo when it exports, instead of waiting forever', async () => {
      const context = await fx.context('cache-to-fifo-context', { Dockerfile: 'FROM busybox\nRUN echo exported > /exported\n' });
      const dir = join(fx.dir, 'cache-to-fifo');
      await mkdir(dir);
      expect(spawnSync('mkfifo', [join(dir, 'index.json')]).status).toBe(0);
      const result = build(['--cache-to', `type=local,dest=${dir}`, context]);
      expect(result.signal).toBeNull();
      expect(result.stderr).not.toMatch(/ERROR/);
      expect(result.status).toBe(0);
      expect(JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'))).toMatchObject({ manifests: [expect.objectContaining({ mediaType: MediaType.ociManifest })] });
    }, 120_000);
  });
});
