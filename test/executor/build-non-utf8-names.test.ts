/**
 * File names that are not UTF-8 (Latin-1 names a RUN leaves, as old archives and the test
 * fixtures of some packages hold) are bytes, and a build keeps them byte for byte, as BuildKit
 * does: in the layer tar, in the next step's root, in another stage that mounts or copies them,
 * and in the container `tsbuild run` starts.
 */
import { readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeFileName, type Descriptor } from '../../src/common/index.js';
import { buildFixture, cachedSteps, imageFiles, type BuildFixture } from '../helpers/build.js';
import { runCliCaptured } from '../helpers/run-cli.js';

/** A name as the layer reader gives it (stray bytes escaped) back as the bytes, shown as Latin-1. */
const latin1 = (name: string): string => encodeFileName(name).toString('latin1');

/**
 * What `od -An -c` prints for the listing `caf\351\ndir\377\n`, words joined by one space (the
 * shell's glob gives the bytes; busybox's ls would print `?` for them).
 */
const listing = 'c a f 351 \\n d i r 377 \\n';

const squeeze = (text: string): string => text.trim().split(/\s+/).join(' ');

describe('build: names that are not UTF-8', () => {
  let fx: BuildFixture;
  beforeAll(async () => {
    fx = await buildFixture();
  });
  afterAll(async () => {
    await fx.cleanup();
  });

  const make = "mkdir /latin1 && echo x > \"/latin1/$(printf 'caf\\351')\" && mkdir \"/latin1/$(printf 'dir\\377')\" && echo y > \"/latin1/$(printf 'dir\\377')/f\"";

  it('writes the layer of a RUN that leaves them with their bytes, and later steps see them so', async () => {
    const dir = await fx.context('latin1', {
      Dockerfile: [
        'FROM busybox',
        `RUN ${make}`,
        "RUN cd /latin1 && printf '%s\\n' * | od -An -c > /listing && cat \"/latin1/$(printf 'caf\\351')\" \"/latin1/$(printf 'dir\\377')/f\" > /read",
      ].join('\n'),
    });
    const result = await fx.build(['-t', 'latin1', dir]);
    expect(result.status, result.stderr).toBe(0);
    const image = await fx.image('latin1');
    const made = await fx.layerFiles(image.manifest.layers[1] as Descriptor);
    // With the directories the sandbox mounts /dev, /proc and /sys on, which this busybox lacks,
    // as BuildKit's first RUN on such a root keeps them.
    expect(made.map((file) => [latin1(file.path), file.type, file.text])).toEqual([
      ['dev', 'directory', undefined],
      ['etc', 'directory', undefined],
      ['latin1', 'directory', undefined],
      ['latin1/caf\xe9', 'file', 'x\n'],
      ['latin1/dir\xff', 'directory', undefined],
      ['latin1/dir\xff/f', 'file', 'y\n'],
      ['proc', 'directory', undefined],
      ['sys', 'directory', undefined],
    ]);
    // The next step, on an overlay over the kept diff, reads the same bytes.
    const files = await imageFiles(fx, 'latin1');
    expect(squeeze(files.get('listing')?.text ?? '')).toBe(listing);
    expect(files.get('read')?.text).toBe('x\ny\n');
    // And so does the container, on the tree unpacked from the diffs.
    const run = await runCliCaptured(['run', '--root', fx.root, '--rm', '--network', 'none', 'latin1', 'sh', '-c', "cd /latin1 && printf '%s\\n' * | od -An -c; cat \"/latin1/$(printf 'caf\\351')\""]);
    expect(run.status, run.stderr).toBe(0);
    expect(squeeze(run.stdout)).toBe(`${listing} x`);
  });

  it('mounts and copies them from another stage with their bytes', async () => {
    const dir = await fx.context('latin1-stages', {
      Dockerfile: [
        'FROM busybox AS names',
        `RUN ${make}`,
        'FROM busybox',
        "RUN --mount=from=names,target=/names cd /names/latin1 && printf '%s\\n' * | od -An -c > /mounted",
        'COPY --from=names /latin1 /copied',
        "RUN cd /copied && printf '%s\\n' * | od -An -c > /listing && cat \"/copied/$(printf 'dir\\377')/f\" > /read",
      ].join('\n'),
    });
    const result = await fx.build(['-t', 'latin1-stages', dir]);
    expect(result.status, result.stderr).toBe(0);
    const image = await fx.image('latin1-stages');
    const copied = await fx.layerFiles(image.manifest.layers[2] as Descriptor);
    expect(copied.map((file) => [latin1(file.path), file.type, file.text])).toEqual([
      ['copied', 'directory', undefined],
      ['copied/caf\xe9', 'file', 'x\n'],
      ['copied/dir\xff', 'directory', undefined],
      ['copied/dir\xff/f', 'file', 'y\n'],
    ]);
    const files = await imageFiles(fx, 'latin1-stages');
    expect(squeeze(files.get('mounted')?.text ?? '')).toBe(listing);
    expect(squeeze(files.get('listing')?.text ?? '')).toBe(listing);
    expect(files.get('read')?.text).toBe('y\n');
  });
  it('copies them from the context with their bytes, and keys the copy by them', async () => {
    const dir = await fx.context('latin1-context', { Dockerfile: 'FROM busybox\nCOPY . /ctx\n' });
    const inContext = (name: string): Buffer => Buffer.from(join(dir, name), 'latin1');
    await writeFile(inContext('caf\xe9'), 'x\n');
    const build = async (): Promise<string[]> => {
      const result = await fx.build(['-t', 'latin1-context', dir]);
      expect(result.status, result.stderr).toBe(0);
      const image = await fx.image('latin1-context');
      const copied = await fx.layerFiles(image.manifest.layers[1] as Descriptor);
      expect(cachedSteps(result.stderr)).toEqual([]);
      return copied.map((file) => latin1(file.path));
    };
    expect(await build()).toEqual(['ctx', 'ctx/Dockerfile', 'ctx/caf\xe9']);
    // Another name that is not UTF-8 either: another key (both would be U+FFFD as text).
    await rename(inContext('caf\xe9'), inContext('caf\xff'));
    expect(await build()).toEqual(['ctx', 'ctx/Dockerfile', 'ctx/caf\xff']);
  });
  it('writes them to local and tar outputs with their bytes', async () => {
    const dir = await fx.context('latin1-outputs', { Dockerfile: `FROM scratch AS empty\nFROM busybox AS names\nRUN ${make}\nFROM empty\nCOPY --from=names /latin1 /latin1\n` });
    const local = `${dir}-local`;
    const tar = `${dir}.tar`;
    const result = await fx.build(['-o', `type=local,dest=${local}`, '-o', `type=tar,dest=${tar}`, dir]);
    expect(result.status, result.stderr).toBe(0);
    const at = (name: string): Buffer => Buffer.from(join(local, name), 'latin1');
    expect((await readdir(at('latin1'), { encoding: 'buffer' })).map((name) => name.toString('latin1')).sort()).toEqual(['caf\xe9', 'dir\xff']);
    expect(await readFile(at('latin1/dir\xff/f'), 'utf8')).toBe('y\n');
    const listing = execFileSync('tar', ['--quoting-style=literal', '-tf', tar]).toString('latin1').split('\n');
    expect(listing).toEqual(['latin1/', 'latin1/caf\xe9', 'latin1/dir\xff/', 'latin1/dir\xff/f', '']);
  });
  it('removes them in a later step by whiteouts and opaque directories holding their bytes', async () => {
    const dir = await fx.context('latin1-removed', {
      Dockerfile: [
        'FROM busybox',
        `RUN ${make}`,
        "RUN rm \"/latin1/$(printf 'caf\\351')\" && rm -r \"/latin1/$(printf 'dir\\377')\" && mkdir \"/latin1/$(printf 'dir\\377')\" && echo z > \"/latin1/$(printf 'dir\\377')/g\"",
      ].join('\n'),
    });
    const result = await fx.build(['-t', 'latin1-removed', dir]);
    expect(result.status, result.stderr).toBe(0);
    const image = await fx.image('latin1-removed');
    const removed = await fx.layerFiles(image.manifest.layers[2] as Descriptor);
    expect(removed.map((file) => [latin1(file.path), file.type])).toEqual([
      ['etc', 'directory'],
      ['latin1', 'directory'],
      ['latin1/.wh.caf\xe9', 'file'],
      ['latin1/dir\xff', 'directory'],
      ['latin1/dir\xff/.wh..wh..opq', 'file'],
      ['latin1/dir\xff/g', 'file'],
    ]);
    const run = await runCliCaptured(['run', '--root', fx.root, '--rm', '--network', 'none', 'latin1-removed', 'sh', '-c', "cd /latin1 && printf '%s\\n' * */* | od -An -c"]);
    expect(run.status, run.stderr).toBe(0);
    expect(squeeze(run.stdout)).toBe('d i r 377 \\n d i r 377 / g \\n');
  });
});
