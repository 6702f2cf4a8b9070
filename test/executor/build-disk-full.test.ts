/**
 * A disk that fills up during a build: the store on a small tmpfs, a step whose layer cannot be
 * written, a COPY whose file cannot, a cache export to a full directory. Each fails with the
 * disk's own words and the path, exits non-zero, and leaves the store whole and usable: no
 * scratch file, no mount, no half image, and the next build that fits succeeds.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { busyboxImage } from '../helpers/busybox-image.js';
import { runCliCaptured } from '../helpers/run-cli.js';
import { temporaryDirectory } from '../helpers/temporary-store.js';
import { validateLayout } from '../helpers/validate.js';

const isRoot = process.getuid?.() === 0;
const mebibyte = 1024 * 1024;

async function mountsUnder(path: string): Promise<string[]> {
  return (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((line) => line.split(' ')[4]?.startsWith(`${path}/`) === true);
}

describe.runIf(isRoot)('a build on a disk that fills up', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  /** The store, on a tmpfs of its own. */
  let root: string;
  /** A second, smaller tmpfs for outputs. */
  let small: string;
  let context: string;

  beforeAll(async () => {
    ({ path: dir, cleanup } = await temporaryDirectory('tsbuild-disk-full-'));
    root = join(dir, 'store');
    small = join(dir, 'small');
    await mkdir(root);
    await mkdir(small);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=48m', 'tmpfs', root]);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', small]);
    await busyboxImage(await openStore({ root }));
    context = join(dir, 'context');
    await mkdir(context);
    // Random bytes: whatever the store does, 30 MiB in a layer and 30 MiB in the step's upper directory do not fit in 48.
    await writeFile(join(context, 'big.bin'), randomBytes(30 * mebibyte));
    await writeFile(join(context, 'mid.bin'), randomBytes(12 * mebibyte));
    await writeFile(join(context, 'Dockerfile.run'), 'FROM busybox\nRUN head -c 31457280 /dev/urandom > /big\nRUN echo reached-$((2 + 3))\n');
    await writeFile(join(context, 'Dockerfile.copy'), 'FROM busybox\nCOPY big.bin /big.bin\nRUN echo reached-$((2 + 3))\n');
    await writeFile(join(context, 'Dockerfile.mid'), 'FROM busybox\nCOPY mid.bin /mid.bin\n');
    await writeFile(join(context, 'Dockerfile.small'), 'FROM busybox\nRUN echo small > /small\n');
  }, 120_000);

  afterAll(async () => {
    for (const mountPoint of [root, small]) execFileSync('umount', ['-l', mountPoint]);
    await cleanup();
  });

  async function expectStoreWhole(): Promise<void> {
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
    expect(await mountsUnder(root)).toEqual([]);
    await validateLayout(root);
  }

  it.each(['run', 'copy'])('fails a %s step whose layer does not fit, naming the disk and the file, and keeps the store whole', async (kind) => {
    const result = await runCliCaptured(['build', '--root', root, '--progress', 'plain', '-t', `full-${kind}`, '-f', join(context, `Dockerfile.${kind}`), context]);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/no space left on device/i);
    expect(result.stderr).toContain(root);
    expect(result.stderr).not.toContain('reached-5');
    expect(result.stderr).not.toContain('internal error');
    await expectStoreWhole();
    await expect((await openStore({ root })).resolveReference(`docker.io/library/full-${kind}:latest`)).resolves.toBeUndefined();
  }, 120_000);

  it('builds what fits once the failed builds are gone', async () => {
    const result = await runCliCaptured(['build', '--root', root, '--progress', 'plain', '-t', 'fits', '-f', join(context, 'Dockerfile.small'), context]);
    expect(result.status).toBe(0);
    await expectStoreWhole();
  }, 120_000);

  it('fails a cache export to a directory without room, naming it, with no scratch file left there', async () => {
    const dest = join(small, 'cache');
    const result = await runCliCaptured(['build', '--root', root, '-q', '-f', join(context, 'Dockerfile.mid'), '--cache-to', `type=local,dest=${dest},mode=max`, context]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`export cache to ${dest}: ENOSPC`);
    const left = execFileSync('find', [dest, '-name', '*.tmp'], { encoding: 'utf8' });
    expect(left).toBe('');
    await expectStoreWhole();
  }, 120_000);
});
