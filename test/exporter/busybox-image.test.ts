import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { resolveImage } from '../../src/store/index.js';
import { busyboxImage } from '../helpers/busybox-image.js';
import { useTemporaryStores } from '../helpers/temporary-store.js';

describe('busybox base image', () => {
  const stores = useTemporaryStores();

  it('is reproducible, complete and valid', async () => {
    const one = await stores.open('one');
    const first = await busyboxImage(one);
    const second = await busyboxImage(await stores.open('two'));
    expect(second.descriptor).toEqual(first.descriptor);

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
    const expected = await busyboxImage(await stores.open('helper'));
    stores.validateAtTeardown(stores.root('script'));
    const output = execFileSync(process.execPath, ['--import', 'tsx', 'scripts/make-busybox-image.ts', '--root', stores.root('script')], { encoding: 'utf8', cwd: join(import.meta.dirname, '../..') });
    expect(output.trim()).toBe(`docker.io/library/busybox:latest ${expected.descriptor.digest}`);
    const inspected = JSON.parse(execFileSync('skopeo', ['inspect', `oci:${stores.root('script')}:docker.io/library/busybox:latest`], { encoding: 'utf8' })) as { Digest: string };
    expect(inspected.Digest).toBe(expected.descriptor.digest);
  });
});
