import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore, resolveImage } from '../../src/store/index.js';
import { busyboxImage } from '../helpers/busybox-image.js';
import { temporaryDirectory } from '../store/temp-dir.js';
import { validateLayout } from '../helpers/validate.js';

describe('busybox base image', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    ({ path: dir, cleanup } = await temporaryDirectory());
  });
  afterEach(async () => {
    await cleanup();
  });

  it('is reproducible, complete and valid', async () => {
    const one = await openStore({ root: join(dir, 'one') });
    const first = await busyboxImage(one);
    const second = await busyboxImage(await openStore({ root: join(dir, 'two') }));
    expect(second.descriptor).toEqual(first.descriptor);
    await validateLayout(join(dir, 'one'));

    const image = await resolveImage(one, first.descriptor);
    expect(image.config.config?.Cmd).toEqual(['sh']);
    const layer = gunzipSync(await one.readBlob(image.manifest.layers[0]?.digest ?? first.descriptor.digest, 64 * 1024 * 1024));
    const listing = execFileSync('tar', ['--numeric-owner', '-tv'], { input: layer, encoding: 'utf8' });
    expect(listing).toMatch(/^drwxrwxrwt 0\/0 .* tmp\/$/m);
    expect(listing).toMatch(/^-rwxr-xr-x 0\/0 .* bin\/busybox$/m);
    expect(listing).toMatch(/ bin\/sh -> \/bin\/busybox$/m);
    expect(listing).toMatch(/ etc\/passwd$/m);
    expect(listing).toMatch(/ etc\/group$/m);
    const applets = execFileSync('/bin/busybox', ['--list-full'], { encoding: 'utf8' }).trim().split('\n').filter((applet) => applet !== 'bin/busybox');
    for (const applet of applets.slice(0, 20)) expect(listing).toContain(` ${applet} -> /bin/busybox`);
  });

  it('is made by the script with the same digest', async () => {
    const expected = await busyboxImage(await openStore({ root: join(dir, 'helper') }));
    const output = execFileSync(process.execPath, ['--import', 'tsx', 'scripts/make-busybox-image.ts', '--root', join(dir, 'script')], { encoding: 'utf8', cwd: join(import.meta.dirname, '../..') });
    expect(output.trim()).toBe(`docker.io/library/busybox:latest ${expected.descriptor.digest}`);
    const inspected = JSON.parse(execFileSync('skopeo', ['inspect', `oci:${join(dir, 'script')}:docker.io/library/busybox:latest`], { encoding: 'utf8' })) as { Digest: string };
    expect(inspected.Digest).toBe(expected.descriptor.digest);
    await validateLayout(join(dir, 'script'));
  });
});
