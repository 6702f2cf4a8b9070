import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MediaType, type Digest } from '../../src/common/index.js';
import { buildReference, writeMetadataFile } from '../../src/cli/commands/build-export.js';
import { temporaryDirectory } from '../helpers/temporary-store.js';

describe('--metadata-file', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    ({ path: dir, cleanup } = await temporaryDirectory());
  });
  afterEach(async () => {
    await cleanup();
  });

  const digest = `sha256:${'a'.repeat(64)}` as Digest;
  const config = `sha256:${'b'.repeat(64)}` as Digest;

  it('writes BuildKit\'s image keys as buildx prints them: sorted, two-space indent, no newline after', async () => {
    const path = join(dir, 'metadata.json');
    await writeMetadataFile(path, {
      image: { configDigest: config, descriptor: { mediaType: MediaType.ociManifest, digest, size: 555, annotations: { 'org.opencontainers.image.created': '2023-11-14T22:13:20Z' } }, names: ['docker.io/library/a:1', 'docker.io/library/b:2'] },
      cacheVerdicts: { '[1/1] RUN true': 'cache miss: no record of this step' },
    });
    const text = await readFile(path, 'utf8');
    const document = JSON.parse(text) as Record<string, unknown>;
    expect(text).toBe(JSON.stringify(document, null, 2));
    expect(Object.keys(document)).toEqual(['buildx.build.ref', 'containerimage.config.digest', 'containerimage.descriptor', 'containerimage.digest', 'image.name', 'tsbuild.cache.steps']);
    expect(document['containerimage.descriptor']).toEqual({ mediaType: MediaType.ociManifest, digest, size: 555, annotations: { 'org.opencontainers.image.created': '2023-11-14T22:13:20Z' } });
    expect(document['containerimage.digest']).toBe(digest);
    expect(document['image.name']).toBe('docker.io/library/a:1,docker.io/library/b:2');
  });

  it('writes the build reference alone when no output made an image (tar, local), and no provenance key', async () => {
    const path = join(dir, 'local.json');
    await writeMetadataFile(path, {});
    const document = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    expect(Object.keys(document)).toEqual(['buildx.build.ref']);
  });

  it('names a build as builder/node/ref, the ref 25 characters of base 36 as BuildKit makes them', () => {
    const references = new Set(Array.from({ length: 50 }, () => buildReference()));
    expect(references.size).toBe(50);
    for (const reference of references) expect(reference).toMatch(/^tsbuild\/local\/[0-9a-z]{25}$/);
  });
});
