/**
 * A base image whose layer carries overlayfs's own attributes as xattrs: `user.overlay.opaque`
 * on a directory (a plain attribute to an overlay run as root, copied up into a step's changes),
 * `trusted.overlay.opaque` on another, `trusted.overlay.metacopy` on a file. Unpacked as they
 * were, the overlay of a root filesystem took them as its marks: the file could not be opened
 * (EPERM), and a step that touched the first directory had its layer written with an opaque
 * marker there (BuildKit's issue 2720), so the image built lost every file the layers below
 * held in it though the step saw them all. A layer's files are what its tar says, whatever
 * overlay marks it names.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostPlatform } from '../../src/common/index.js';
import { writeImage, writeLayer, type LayerEntry } from '../../src/exporter/index.js';
import { resolveImage } from '../../src/store/index.js';
import { buildFixture, type BuildFixture } from '../helpers/build.js';
import { buildBinaries, isRoot } from '../runtime/helpers.js';

const bin = new URL('../../bin/tsbuild.js', import.meta.url).pathname;

const directory = (path: string, pax: Record<string, string> = {}): LayerEntry => ({ path, type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0, pax });
const file = (path: string, text: string, pax: Record<string, string> = {}): LayerEntry => ({ path, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: Buffer.byteLength(text), content: () => Buffer.from(text), pax });

describe.runIf(isRoot)('a base image whose layer names overlay marks as xattrs', () => {
  let fx: BuildFixture;

  beforeAll(async () => {
    buildBinaries();
    fx = await buildFixture();
    const base = await resolveImage(fx.store, (await fx.store.resolveReference('docker.io/library/busybox:latest')) ?? expect.fail('no busybox'));
    const busybox = { descriptor: base.manifest.layers[0] ?? expect.fail('no layer'), diffId: base.config.rootfs.diff_ids[0] ?? expect.fail('no diff id') };
    const below = await writeLayer([directory('d'), file('d/below', 'below\n'), directory('t'), file('t/below', 'below\n')], fx.store);
    const marked = await writeLayer(
      [
        directory('d', { 'SCHILY.xattr.user.overlay.opaque': 'y' }),
        file('d/meta', 'meta\n', { 'SCHILY.xattr.trusted.overlay.metacopy': '' }),
        directory('t', { 'SCHILY.xattr.trusted.overlay.opaque': 'y' }),
        file('t/own', 'own\n'),
      ],
      fx.store,
    );
    await writeImage(fx.store, { layers: [busybox, below, marked], platform: hostPlatform(), config: { Cmd: ['sh'] }, history: [{ created_by: 'busybox' }, { created_by: 'below' }, { created_by: 'marked' }] }, 'docker.io/library/marked:latest');
  }, 120_000);

  afterAll(async () => {
    await fx.cleanup();
  });

  const run = (image: string, script: string): { status: number | null; stdout: string; stderr: string } => {
    const result = spawnSync(process.execPath, [bin, 'run', '--rm', image, 'sh', '-c', script], { encoding: 'utf8', env: { ...process.env, TSBUILD_ROOT: fx.root }, timeout: 30_000 });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  };

  it('shows a container every file of every layer, each readable', () => {
    const result = run('marked', 'ls /d /t && cat /d/meta');
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('/d:\nbelow\nmeta\n\n/t:\nbelow\nown\nmeta\n');
  });

  it('builds on it an image that keeps what the layers below hold in a directory a step changed', async () => {
    const context = await fx.context('marked', { Dockerfile: 'FROM marked\nRUN touch /d/new /t/new && echo $(ls /d /t)\n' });
    const result = await fx.build(['-t', 'built', context]);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toContain('/d: below meta new /t: below new own');
    const image = await fx.image('built');
    const top = await fx.layerFiles(image.manifest.layers.at(-1) ?? expect.fail('no layer'));
    expect(top.map((entry) => entry.path).filter((path) => path.includes('.wh.'))).toEqual([]);
    const listing = run('built', 'ls /d /t');
    expect(listing.stdout).toBe('/d:\nbelow\nmeta\nnew\n\n/t:\nbelow\nnew\nown\n');
  }, 120_000);
});
