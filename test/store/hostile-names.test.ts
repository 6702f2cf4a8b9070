/**
 * Names the store keeps are names, never paths: references, tags, volume, network and container
 * names with `..` or `/` are refused with docker's wording, and a lookup of such a name never
 * reaches a file beside the store's own folders. The store is unchanged and verifies after each.
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { busyboxImage } from '../helpers/busybox-image.js';
import { runCliCaptured } from '../helpers/run-cli.js';
import { temporaryDirectory } from '../helpers/temporary-store.js';
import { validateLayout } from '../helpers/validate.js';

let dir: string;
let root: string;
let removeDir: () => Promise<void>;

/** Every path under DIR: what a command that refused must leave as it was. */
async function tree(path: string): Promise<string[]> {
  return (await readdir(path, { recursive: true })).sort();
}

beforeAll(async () => {
  ({ path: dir, cleanup: removeDir } = await temporaryDirectory('tsbuild-hostile-names-'));
  root = join(dir, 'root');
  await busyboxImage(await openStore({ root }));
  // What a name climbing out of a store folder would find: a directory and a file beside them.
  await mkdir(join(root, 'planted'));
  await writeFile(join(root, 'planted', 'config.json'), '{}');
  // The folders (and the default network's record) the store makes on first use, made now.
  for (const args of [['network', 'ls'], ['volume', 'create', 'kept']]) expect((await runCliCaptured([...args, '--root', root])).status).toBe(0);
  await mkdir(join(dir, 'context'));
  await writeFile(join(dir, 'context', 'Dockerfile'), 'FROM busybox\n');
}, 60_000);

afterAll(async () => {
  await removeDir();
});

describe('names that are paths', () => {
  it('refuses references with .. as docker does: invalid reference format', async () => {
    const before = await tree(root);
    for (const args of [
      ['pull', '../x'],
      ['pull', 'localhost:5000/a/../b'],
      ['tag', 'busybox', '../x'],
      ['tag', 'busybox', 'x/..:1'],
      ['tag', 'busybox', 'busybox:../x'],
      ['build', '-q', '-t', '../x', join(dir, 'context')],
      ['push', '../x'],
    ]) {
      const result = await runCliCaptured([args[0] ?? '', '--root', root, ...args.slice(1)]);
      expect(result.status, args.join(' ')).toBe(args[1] === '-f' ? 0 : 1);
      expect(result.stderr, args.join(' ')).toContain('invalid reference format');
    }
    expect(await tree(root)).toEqual(before);
  });

  it('refuses names longer than a file name or a registry path can hold, as docker: repository over 255 characters, tag over 128', async () => {
    const before = await tree(root);
    const longRepository = Array.from({ length: 30 }, () => 'abcdefghij').join('/');
    for (const [args, message] of [
      [['tag', 'busybox', `x/${'a'.repeat(300)}:1`], 'repository name longer than 255 characters'],
      [['tag', 'busybox', `${longRepository}:1`], 'repository name longer than 255 characters'],
      [['pull', `127.0.0.1:1/${longRepository}:1`], 'repository name longer than 255 characters'],
      [['tag', 'busybox', `x/y:${'t'.repeat(129)}`], 'invalid tag'],
      [['build', '-q', '-t', `x/${'a'.repeat(300)}`, join(dir, 'context')], `invalid tag "x/${'a'.repeat(300)}": repository name must not be more than 255 characters`],
    ] as const) {
      const result = await runCliCaptured([args[0], '--root', root, ...args.slice(1)]);
      expect(result.status, args[0]).toBe(1);
      // buildx names a tag too long without docker's "invalid reference format" before it.
      if (args[0] !== 'build') expect(result.stderr, args[0]).toContain('invalid reference format');
      expect(result.stderr, args[0]).toContain(message);
    }
    expect(await tree(root)).toEqual(before);
  });

  it("refuses volume, network and container names that are not names, with docker's wording", async () => {
    const before = await tree(root);
    const volume = await runCliCaptured(['volume', 'create', '--root', root, '../../x']);
    expect(volume.status).toBe(1);
    expect(volume.stderr).toContain('create ../../x: "../../x" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed');
    const network = await runCliCaptured(['network', 'create', '--root', root, '../x']);
    expect(network.status).toBe(1);
    expect(network.stderr).toContain("invalid network name '../x'");
    for (const command of ['create', 'run']) {
      const container = await runCliCaptured([command, '--root', root, '--name', '../x', 'busybox', 'true']);
      // docker's create says its daemon's refusal with status 1; run with 125.
      expect(container.status, command).toBe(command === 'create' ? 1 : 125);
      expect(container.stderr, command).toContain('Invalid container name (../x), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed');
    }
    expect(await tree(root)).toEqual(before);
  });

  it('finds nothing beside the store folders when a name climbs out of them', async () => {
    const before = await tree(root);
    const lookups: Array<[string[], string]> = [
      [['volume', 'rm', '../planted'], 'no such volume'],
      [['volume', 'inspect', '../planted'], 'get ../planted: no such volume'],
      [['network', 'rm', '../planted'], 'network ../planted not found'],
      [['network', 'inspect', '../planted'], 'network ../planted not found'],
      // docker's rm -f says so too, and exits 0.
      [['rm', '-f', '../planted'], 'No such container: ../planted'],
      [['container', 'inspect', '../planted'], 'No such container: ../planted'],
      [['logs', '../planted'], 'No such container: ../planted'],
    ];
    for (const [args, message] of lookups) {
      const result = await runCliCaptured([...args.slice(0, -1), '--root', root, args.at(-1) ?? '']);
      expect(result.status, args.join(' ')).toBe(args[1] === '-f' ? 0 : 1);
      expect(result.stderr, args.join(' ')).toContain(message);
    }
    expect(await tree(root)).toEqual(before);
    const verified = await runCliCaptured(['verify', '--root', root]);
    expect(verified.status).toBe(0);
    await validateLayout(root);
  });
});
