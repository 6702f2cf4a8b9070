/**
 * Layers given to `import` and `load` whose links lead out (docker CVE-2014-6407 and
 * CVE-2014-9356: symlink and hard link traversal while an archive is unpacked): a symlink to a
 * host directory, absolute and climbing; a hard link of that symlink (the link itself, not what
 * it names), and a hard link of that hard link, each followed by a file written below it; a chain
 * of hard links; a hard link to a file reached through a hard-linked symlink. The image is then
 * used (FROM, COPY --from, which unpack the layer): whatever the archive names lands inside the
 * root, and the host directory is never written.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { goJson, hostPlatform } from '../../src/common/index.js';
import { encodeHeader, endOfArchive, padding } from '../../src/exporter/tar.js';
import { verifyStore } from '../../src/store/index.js';
import { buildFixture, imageFiles, type BuildFixture } from '../helpers/build.js';
import { runCliCaptured } from '../helpers/run-cli.js';

const isRoot = process.getuid?.() === 0;

describe.runIf(isRoot)('import and load of layers whose links lead out', () => {
  let fx: BuildFixture;
  let host: string;
  let layer: Buffer;

  const entry = (path: string, type: 'file' | 'symlink' | 'link', target = '', content = ''): Buffer => {
    const body = Buffer.from(content);
    const header = encodeHeader({ path, type, size: type === 'file' ? body.length : 0, mode: 0o644, uid: 0, gid: 0, mtime: 0, ...(target === '' ? {} : { linkname: target }) });
    return type === 'file' ? Buffer.concat([header, body, padding(body.length)]) : header;
  };

  beforeAll(async () => {
    fx = await buildFixture();
    host = join(fx.dir, 'host');
    await mkdir(host);
    await writeFile(join(host, 'secret'), 'HOST SECRET\n');
    const climbing = `${'../'.repeat(12)}${host.slice(1)}`;
    layer = Buffer.concat([
      entry('evil', 'symlink', host),
      // A hard link of the symlink itself, then of that hard link: each a link to the host directory.
      entry('hl', 'link', 'evil'),
      entry('hl/secret', 'file', '', 'pwned through a hard-linked symlink\n'),
      entry('hl2', 'link', 'hl'),
      entry('hl2/another', 'file', '', 'pwned through a chain\n'),
      entry('rel', 'symlink', climbing),
      entry('hlrel', 'link', 'rel'),
      entry('hlrel/climbed', 'file', '', 'pwned through a climbing link\n'),
      entry('f', 'file', '', 'inside\n'),
      entry('h1', 'link', 'f'),
      entry('h2', 'link', 'h1'),
      // The file written above, reached through the hard-linked symlink: inside, as it was written.
      entry('hout', 'link', 'hl/secret'),
      endOfArchive,
    ]);
  }, 120_000);

  afterEach(async () => {
    expect(await readdir(host)).toEqual(['secret']);
    expect(await readFile(join(host, 'secret'), 'utf8')).toBe('HOST SECRET\n');
    expect((await verifyStore(fx.store)).problems).toEqual([]);
  });

  afterAll(async () => {
    await fx.cleanup();
  });

  async function expectInside(image: string): Promise<void> {
    const context = await fx.context(`use-${image}`, {
      Dockerfile: ['FROM busybox', `COPY --from=${image} / /imp/`, `RUN cat /imp/f /imp/h2 /imp/hout /imp${host}/another /imp${host}/climbed > /seen`].join('\n'),
    });
    const result = await fx.build(['-t', `used-${image}`, context]);
    expect(result.stderr).not.toMatch(/ERROR/);
    expect(result.status).toBe(0);
    expect((await imageFiles(fx, `used-${image}`)).get('seen')?.text).toBe('inside\ninside\npwned through a hard-linked symlink\npwned through a chain\npwned through a climbing link\n');
    // FROM the image itself unpacks it as a base.
    const from = await fx.context(`from-${image}`, { Dockerfile: `FROM ${image}\nCOPY Dockerfile /\n` });
    const built = await fx.build([from]);
    expect(built.stderr).not.toMatch(/ERROR/);
    expect(built.status).toBe(0);
  }

  it('keeps an imported layer inside the root (CVE-2014-6407)', async () => {
    const archive = join(fx.dir, 'links.tar');
    await writeFile(archive, layer);
    const imported = await runCliCaptured(['import', '--root', fx.root, archive, 'imported-links:1']);
    expect(imported.status).toBe(0);
    await expectInside('imported-links:1');
  }, 120_000);

  it('keeps a loaded layer inside the root (CVE-2014-9356)', async () => {
    const platform = hostPlatform();
    const diffId = `sha256:${createHash('sha256').update(layer).digest('hex')}`;
    const config = Buffer.from(goJson({ architecture: platform.architecture, os: platform.os, config: {}, rootfs: { type: 'layers', diff_ids: [diffId] }, history: [{ created_by: 'hostile layer' }] }));
    const configName = `${createHash('sha256').update(config).digest('hex')}.json`;
    const manifest = Buffer.from(JSON.stringify([{ Config: configName, RepoTags: ['loaded-links:1'], Layers: ['layer/layer.tar'] }]));
    const archive = Buffer.concat([
      encodeHeader({ path: configName, type: 'file', size: config.length, mode: 0o644, uid: 0, gid: 0, mtime: 0 }),
      config,
      padding(config.length),
      encodeHeader({ path: 'layer/layer.tar', type: 'file', size: layer.length, mode: 0o644, uid: 0, gid: 0, mtime: 0 }),
      layer,
      padding(layer.length),
      encodeHeader({ path: 'manifest.json', type: 'file', size: manifest.length, mode: 0o644, uid: 0, gid: 0, mtime: 0 }),
      manifest,
      padding(manifest.length),
      endOfArchive,
    ]);
    const path = join(fx.dir, 'links-archive.tar');
    await writeFile(path, archive);
    const loaded = await runCliCaptured(['load', '--root', fx.root, '-q', '-i', path]);
    expect(loaded.stderr).toBe('');
    expect(loaded.status).toBe(0);
    await expectInside('loaded-links:1');
  }, 120_000);
});
