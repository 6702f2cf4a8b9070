/**
 * The command as installed (the bundled CLI under bin/, with its dependencies bundled in):
 * push, pull, images and verify against a real registry, in separate processes.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { busyboxImage, type BusyboxImage } from '../helpers/busybox-image.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

const bin = new URL('../../bin/tsbuild.js', import.meta.url).pathname;
let registry: TestRegistry;
let scratch: string;
let base: BusyboxImage;

function tsbuild(...args: string[]): string {
  return execFileSync(process.execPath, [bin, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'tsbuild-installed-'));
  registry = await startRegistry();
  base = await busyboxImage(await openStore({ root: join(scratch, 'source') }), 'busybox:latest');
});

afterAll(async () => {
  await registry.stop();
  await rm(scratch, { recursive: true, force: true });
});

describe('the installed tsbuild command', () => {
  it('pushes and pulls through a registry with the digests unchanged', () => {
    const target = `${registry.host}/installed/busybox:1`;
    tsbuild('push', '--root', join(scratch, 'source'), 'busybox:latest', target);
    tsbuild('pull', '--root', join(scratch, 'pulled'), target);
    const images = tsbuild('images', '--root', join(scratch, 'pulled'), '--format', 'json')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { Repository: string; Digest?: string; ID: string });
    expect(images.map((i) => i.Repository)).toEqual([`${registry.host}/installed/busybox`]);
    const inspected = JSON.parse(tsbuild('inspect', '--root', join(scratch, 'pulled'), target)) as { digest?: string }[] | { digest?: string };
    expect(JSON.stringify(inspected)).toContain(base.descriptor.digest);
    expect(tsbuild('verify', '--root', join(scratch, 'pulled'))).toContain('0 problems');
  });

  it('pushes to and pulls from a plain-HTTP registry without loading zlib', async () => {
    // What each process loaded, written at its exit by a preloaded script.
    const preload = join(scratch, 'modules.cjs');
    await writeFile(preload, "process.on('exit', () => require('fs').writeFileSync(process.env.MODULES_OUT, process.moduleLoadList.join('\\n')));\n");
    const loaded = async (...args: string[]): Promise<string[]> => {
      const out = join(scratch, `modules-${args[0]}.txt`);
      execFileSync(process.execPath, ['-r', preload, bin, ...args], { env: { ...process.env, MODULES_OUT: out }, stdio: 'ignore' });
      return (await readFile(out, 'utf8')).split('\n');
    };
    const target = `${registry.host}/installed/light:1`;
    for (const modules of [await loaded('push', '--root', join(scratch, 'source'), 'busybox:latest', target), await loaded('pull', '--root', join(scratch, 'light'), target)]) {
      expect(modules).toContain('NativeModule net');
      expect(modules.filter((name) => /^NativeModule zlib$/.test(name))).toEqual([]);
    }
  });
});
