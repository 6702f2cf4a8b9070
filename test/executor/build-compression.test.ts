/**
 * `--output …,compression=…` on every image output, `--annotation` and `--metadata-file`, read
 * back by tools that share no code with tsbuild: skopeo (which reads zstd layers itself), the
 * zstd command, umoci (through skopeo's gzip copy: umoci 0.4.7 has no zstd), and a registry.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatReference, MediaType, parseReference, type Manifest } from '../../src/common/index.js';
import { buildFixture, type BuildFixture } from '../helpers/build.js';
import { haveRegistry, startRegistry } from '../helpers/registry.js';
import { validateLayout } from '../helpers/validate.js';
import { buildBinaries } from '../runtime/helpers.js';

const dockerfile = ['FROM busybox', 'COPY data /data', 'RUN mkdir /made && echo made > /made/file && seq 1 20000 > /made/numbers'].join('\n');

const sha256 = (bytes: Buffer | string): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

function rawManifest(reference: string, ...flags: string[]): { bytes: string; manifest: Manifest } {
  const bytes = execFileSync('skopeo', ['inspect', '--raw', ...flags, reference], { encoding: 'utf8' });
  return { bytes, manifest: JSON.parse(bytes) as Manifest };
}

describe('compression of image outputs', () => {
  let fx: BuildFixture;
  let context: string;

  beforeAll(async () => {
    buildBinaries();
    fx = await buildFixture();
    context = await fx.context('compress', { Dockerfile: dockerfile, data: 'data\n'.repeat(1000) });
  });
  afterAll(async () => {
    await fx.cleanup();
  });

  it('writes zstd layers skopeo, zstd and umoci read: the build layers by default, the base too with force-compression', async () => {
    const oci = join(fx.dir, 'zstd.oci.tar');
    const result = await fx.build(['-t', 'plain:1', '-o', `type=oci,dest=${oci},compression=zstd`, '-o', 'type=image,name=forced:1,compression=zstd,force-compression=true', context]);
    expect(result.stderr).not.toMatch(/error/i);
    expect(result.status).toBe(0);
    const plain = await fx.image('plain:1');
    // The store's own image (-t): the base's layer as pulled, the build's kept uncompressed (as docker's store keeps them).
    expect(plain.manifest.layers.map((layer) => layer.mediaType)).toEqual([MediaType.ociLayerGzip, MediaType.ociLayer, MediaType.ociLayer]);
    const diffIds = plain.config.rootfs.diff_ids;

    // The archive: busybox's layer as it was, the build's two in zstd; the config untouched.
    const archived = rawManifest(`oci-archive:${oci}:1`);
    expect(archived.manifest.layers.map((layer) => layer.mediaType)).toEqual([MediaType.ociLayerGzip, MediaType.ociLayerZstd, MediaType.ociLayerZstd]);
    expect(archived.manifest.layers[0]).toEqual(plain.manifest.layers[0]);
    expect(archived.manifest.config).toEqual(plain.manifest.config);
    const layout = join(fx.dir, 'zstd-layout');
    await mkdir(layout);
    execFileSync('tar', ['-xf', oci, '-C', layout]);
    await validateLayout(layout);
    // The zstd command decompresses each layer to the tar its diff ID names.
    for (const [index, layer] of archived.manifest.layers.entries()) {
      if (layer.mediaType !== MediaType.ociLayerZstd) continue;
      const tar = execFileSync('zstd', ['-dc', join(layout, 'blobs/sha256', layer.digest.slice(7))], { maxBuffer: 64 << 20 });
      expect(sha256(tar)).toBe(diffIds[index]);
    }

    // type=image with force-compression: every layer zstd, named in the store.
    const forced = await fx.image('forced:1');
    expect(forced.manifest.layers.map((layer) => layer.mediaType)).toEqual([MediaType.ociLayerZstd, MediaType.ociLayerZstd, MediaType.ociLayerZstd]);
    expect(forced.manifest.layers.slice(1)).toEqual(archived.manifest.layers.slice(1));
    expect(forced.manifest.config.digest).toBe(plain.manifest.config.digest);
    await validateLayout(fx.root);
    const inspected = JSON.parse(execFileSync('skopeo', ['inspect', `oci:${fx.root}:docker.io/library/forced:1`], { encoding: 'utf8' })) as { Layers: string[] };
    expect(inspected.Layers).toEqual(forced.manifest.layers.map((layer) => layer.digest));
    // skopeo decompresses the zstd layers (and checks them against the diff IDs) into gzip ones umoci unpacks.
    const copied = join(fx.dir, 'from-zstd');
    execFileSync('skopeo', ['copy', '--dest-compress', '--dest-compress-format', 'gzip', `oci:${fx.root}:docker.io/library/forced:1`, `oci:${copied}:copy`], { stdio: 'pipe' });
    const bundle = join(fx.dir, 'zstd-bundle');
    execFileSync('umoci', ['unpack', '--image', `${copied}:copy`, bundle], { stdio: 'pipe' });
    expect(await readFile(join(bundle, 'rootfs/made/file'), 'utf8')).toBe('made\n');
    expect(await readFile(join(bundle, 'rootfs/data'), 'utf8')).toBe('data\n'.repeat(1000));
    expect(execFileSync(join(bundle, 'rootfs/bin/busybox'), ['echo', 'base layer unpacked'], { encoding: 'utf8' })).toBe('base layer unpacked\n');

    // A second export of the same layers writes the same blobs (the rewrite is remembered and deterministic).
    const again = join(fx.dir, 'zstd-again.oci.tar');
    expect((await fx.build(['-t', 'plain:1', '-o', `type=oci,dest=${again},compression=zstd`, context])).status).toBe(0);
    expect(rawManifest(`oci-archive:${again}:1`).bytes).toBe(archived.bytes);
  }, 120_000);

  it('writes uncompressed layers and other gzip levels; the image ID stays; docker archives take zstd under Docker\'s type', async () => {
    const result = await fx.build(['-q', '-t', 'plain:1', '-o', 'type=image,name=bare:1,compression=uncompressed', '-o', 'type=image,name=best:1,compression=gzip,compression-level=9', context]);
    expect(result.status).toBe(0);
    const id = result.stdout.trim();
    const plain = await fx.image('plain:1');
    const bare = await fx.image('bare:1');
    // Uncompressed: the blob is the tar, so its digest is the diff ID.
    expect(bare.manifest.layers.slice(1).map((layer) => [layer.mediaType, layer.digest])).toEqual(plain.config.rootfs.diff_ids.slice(1).map((diffId) => [MediaType.ociLayer, diffId]));
    // The store keeps what it builds uncompressed: the -t image is the bare one.
    expect(plain.manifest).toEqual(bare.manifest);
    const best = await fx.image('best:1');
    expect(best.manifest.layers.map((layer) => layer.mediaType)).toEqual([MediaType.ociLayerGzip, MediaType.ociLayerGzip, MediaType.ociLayerGzip]);
    expect(best.manifest.layers[0]).toEqual(plain.manifest.layers[0]);
    // /made/numbers deflates better at level 9 than at gzip's default: a different, smaller blob than a push sends.
    const pushed = await fx.build(['-q', '-t', 'plain:1', '-o', 'type=image,name=sent:1,compression=gzip', context]);
    expect(pushed.status).toBe(0);
    const sent = await fx.image('sent:1');
    expect(best.manifest.layers[2]?.digest).not.toBe(sent.manifest.layers[2]?.digest);
    expect(best.manifest.layers[2]?.size).toBeLessThan(sent.manifest.layers[2]?.size ?? 0);
    for (const image of [bare, best]) expect(image.manifest.config.digest).toBe(id);
    await validateLayout(fx.root);
    for (const name of ['bare:1', 'best:1']) execFileSync('skopeo', ['inspect', `oci:${fx.root}:docker.io/library/${name}`], { stdio: 'pipe' });

    // As BuildKit 0.13's docker exporter: the build's layers in zstd under Docker's name for it, the base image's as they were.
    const zstdArchive = join(fx.dir, 'zstd.docker.tar');
    expect((await fx.build(['-q', '-t', 'plain:1', '-o', `type=docker,dest=${zstdArchive},compression=zstd`, context])).status).toBe(0);
    const zstdIndex = JSON.parse(execFileSync('tar', ['-xOf', zstdArchive, 'index.json'], { encoding: 'utf8' })) as { manifests: Array<{ digest: string }> };
    const zstdManifest = JSON.parse(execFileSync('tar', ['-xOf', zstdArchive, `blobs/sha256/${zstdIndex.manifests[0]?.digest.slice(7) ?? ''}`], { encoding: 'utf8' })) as Manifest;
    expect(zstdManifest.config.digest).toBe(id);
    expect(zstdManifest.layers[0]?.digest).toBe(plain.manifest.layers[0]?.digest);
    expect(zstdManifest.layers.slice(1).map((layer) => layer.mediaType)).toEqual(['application/vnd.docker.image.rootfs.diff.tar.zstd', 'application/vnd.docker.image.rootfs.diff.tar.zstd']);
  }, 120_000);

  it('writes the metadata file with BuildKit keys and the manifest annotations', async () => {
    const metadataFile = join(fx.dir, 'metadata.json');
    const result = await fx.build(['-q', '-t', 'annotated:1', '--annotation', 'org.opencontainers.image.title=compressed', '--annotation', 'manifest:org.example.kind=test', '--metadata-file', metadataFile, context]);
    expect(result.status).toBe(0);
    const metadata = JSON.parse(await readFile(metadataFile, 'utf8')) as Record<string, unknown>;
    const descriptor = await fx.store.resolveReference('docker.io/library/annotated:1');
    const image = await fx.image('annotated:1');
    expect(metadata['containerimage.digest']).toBe(descriptor?.digest);
    expect(metadata['containerimage.config.digest']).toBe(result.stdout.trim());
    expect(metadata['containerimage.descriptor']).toEqual({ mediaType: MediaType.ociManifest, digest: descriptor?.digest, size: descriptor?.size });
    expect(metadata['image.name']).toBe('docker.io/library/annotated:1');
    // builder/node/ref, the ref as BuildKit's identity.NewID makes one; Go's MarshalIndent, no newline after it.
    expect(metadata['buildx.build.ref']).toMatch(/^tsbuild\/local\/[0-9a-z]{25}$/);
    expect((await readFile(metadataFile, 'utf8')).endsWith('}')).toBe(true);
    expect(image.manifest.annotations).toEqual({ 'org.opencontainers.image.title': 'compressed', 'org.example.kind': 'test' });
    const skopeo = rawManifest(`oci:${fx.root}:docker.io/library/annotated:1`);
    expect(sha256(skopeo.bytes)).toBe(descriptor?.digest);
    expect(skopeo.manifest.annotations?.['org.example.kind']).toBe('test');

    // With an image output, the metadata describes what it exported, under its names.
    const zstdMetadata = join(fx.dir, 'metadata-zstd.json');
    expect((await fx.build(['-t', 'annotated:1', '-o', 'type=image,name=other:1,compression=zstd', '--metadata-file', zstdMetadata, context])).status).toBe(0);
    const zstd = JSON.parse(await readFile(zstdMetadata, 'utf8')) as Record<string, unknown>;
    expect(zstd['containerimage.digest']).toBe((await fx.store.resolveReference('docker.io/library/other:1'))?.digest);
    expect(zstd['containerimage.digest']).not.toBe(metadata['containerimage.digest']);
    expect(zstd['image.name']).toBe('docker.io/library/other:1');

    // An output's own annotation keys, BuildKit's exporter options, on that output's manifest only.
    const oci = join(fx.dir, 'annotated.oci.tar');
    const ociMetadata = join(fx.dir, 'metadata-oci.json');
    expect((await fx.build(['-t', 'annotated:1', '--annotation', 'org.example.kind=test', '--build-arg', 'SOURCE_DATE_EPOCH=1700000000', '--metadata-file', ociMetadata, '-o', `type=oci,dest=${oci},name=named:2,annotation.org.example.output=oci,annotation-manifest.org.example.more=yes`, context])).status).toBe(0);
    const ociManifest = rawManifest(`oci-archive:${oci}:2`);
    expect(ociManifest.manifest.annotations).toEqual({ 'org.example.kind': 'test', 'org.example.output': 'oci', 'org.example.more': 'yes' });
    // BuildKit's oci exporter: the descriptor as the archive's index has it, with its creation time; the names of name=.
    const fromOci = JSON.parse(await readFile(ociMetadata, 'utf8')) as Record<string, unknown>;
    expect(fromOci['containerimage.descriptor']).toEqual({ mediaType: MediaType.ociManifest, digest: sha256(ociManifest.bytes), size: ociManifest.bytes.length, annotations: { 'org.opencontainers.image.created': '2023-11-14T22:13:20Z' } });
    expect(fromOci['containerimage.digest']).toBe(sha256(ociManifest.bytes));
    expect(fromOci['image.name']).toBe('docker.io/library/named:2');

    // The local and tar exporters report no image: the build's reference alone.
    const localMetadata = join(fx.dir, 'metadata-local.json');
    expect((await fx.build(['-o', `type=local,dest=${join(fx.dir, 'local-out')}`, '--metadata-file', localMetadata, context])).status).toBe(0);
    expect(Object.keys(JSON.parse(await readFile(localMetadata, 'utf8')) as Record<string, unknown>).filter((key) => !key.startsWith('tsbuild.'))).toEqual(['buildx.build.ref']);
    expect((await fx.image('annotated:1')).manifest.annotations).toEqual({ 'org.example.kind': 'test' });

    const index = await fx.build(['--annotation', 'index:org.example.kind=test', context]);
    expect(index.status).not.toBe(0);
    expect(index.stderr).toMatch(/index annotations are not supported: a single-platform build writes one manifest and no index/);
  }, 120_000);

  it.runIf(haveRegistry())('pushes zstd layers with type=registry', async () => {
    const registry = await startRegistry();
    try {
      const name = `${registry.host}/compress/app:zstd`;
      const result = await fx.build(['-o', `type=registry,name=${name},compression=zstd`, context]);
      expect(result.status).toBe(0);
      const stored = await fx.store.resolveReference(formatReference(parseReference(name)));
      expect(result.stderr).toContain(`pushing ${formatReference(parseReference(name))}\n`);
      const pushed = rawManifest(`docker://${name}`, '--tls-verify=false');
      expect(sha256(pushed.bytes)).toBe(stored?.digest);
      expect(pushed.manifest.layers.map((layer) => layer.mediaType)).toEqual([MediaType.ociLayerGzip, MediaType.ociLayerZstd, MediaType.ociLayerZstd]);
      const copied = join(fx.dir, 'pulled-zstd');
      // No signatures: skopeo would read the machine's signature store, which a user namespace cannot.
      execFileSync('skopeo', ['copy', '--remove-signatures', '--src-tls-verify=false', `docker://${name}`, `oci:${copied}:pulled`], { stdio: 'pipe' });
      await validateLayout(copied);
    } finally {
      await registry.stop();
    }
  }, 120_000);
});
