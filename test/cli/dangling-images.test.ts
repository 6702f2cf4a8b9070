/**
 * Images without a name, as docker users expect them: `build` without -t keeps its image, run
 * and found by ID; a name that moves leaves its old image as `<none>:<none>`; `images` lists
 * them (and `--filter dangling=`), `tag`, `rmi`, `inspect` and `commit` work with them, and
 * `image prune` / `system prune` remove them, never one a container was created from.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildFixture, type BuildFixture } from '../helpers/build.js';
import { runCliCaptured, type CliResult } from '../helpers/run-cli.js';

describe('images without a name', () => {
  let fx: BuildFixture;
  beforeEach(async () => {
    fx = await buildFixture();
  });
  afterEach(async () => {
    await fx.cleanup();
  });

  /** The command's words, then --root, then its arguments (a container's command takes what follows its image). */
  const cli = (...args: string[]): Promise<CliResult> => {
    const words = args[0] === 'image' || args[0] === 'system' ? 2 : 1;
    return runCliCaptured([...args.slice(0, words), '--root', fx.root, ...args.slice(words)]);
  };
  /** `images` with a template: one `repository:tag id` line per image, in the store's order. */
  const listed = async (...args: string[]): Promise<string[]> => {
    const result = await cli('images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}', ...args);
    expect(result.status, result.stderr).toBe(0);
    return result.stdout.split('\n').filter((line) => line !== '');
  };

  async function buildQuiet(text: string, ...args: string[]): Promise<string> {
    const context = await fx.context(`ctx-${text}`, { Dockerfile: `FROM busybox\nRUN echo ${text} > /file\n` });
    const built = await fx.build(['-q', ...args, context]);
    expect(built.status, built.stderr).toBe(0);
    const id = built.stdout.trim();
    expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
    return id;
  }

  it('keeps a build without -t, run by its ID and by a prefix of it, listed as <none> <none>', async () => {
    const id = await buildQuiet('unnamed');
    expect(await cli('run', '--rm', '--network', 'none', id, 'cat', '/file')).toMatchObject({ status: 0, stdout: 'unnamed\n' });
    expect(await cli('run', '--rm', '--network', 'none', id.slice(7, 19), 'cat', '/file')).toMatchObject({ status: 0, stdout: 'unnamed\n' });

    const table = await cli('images');
    expect(table.stdout).toMatch(new RegExp(`^<none>\\s+<none>\\s+${id.slice(7, 19)}\\s+\\S.* ago\\s+\\S+B$`, 'm'));
    expect(await listed()).toEqual([`busybox:latest ${(await fx.image('busybox')).manifest.config.digest.slice(7, 19)}`, `<none>:<none> ${id.slice(7, 19)}`]);
    expect((await cli('images', '-q')).stdout).toContain(`${id.slice(7, 19)}\n`);
    // docker's -a (intermediate images too): there are none, the list is the same.
    expect((await cli('images', '-a', '-q')).stdout).toBe((await cli('images', '-q')).stdout);
    expect((await cli('images', '-q', '--no-trunc', '--filter', 'dangling=true')).stdout).toBe(`${id}\n`);

    const inspected = JSON.parse((await cli('inspect', id.slice(7, 19))).stdout) as Array<{ Id: string; RepoTags: string[]; RepoDigests: string[] }>;
    expect(inspected[0]).toMatchObject({ Id: id, RepoTags: [], RepoDigests: [] });
    expect((await cli('history', '-q', id.slice(7, 19))).stdout.split('\n')[0]).toBe(id.slice(7, 19));
    const verified = await cli('verify');
    expect(verified).toMatchObject({ status: 0, stdout: expect.stringMatching(/^\d+ blobs, 1 references, 1 unnamed images, 0 problems\n$/) as unknown });

    // Tagged, it has a name and dangles no more.
    expect(await cli('tag', id.slice(7, 19), 'named:1')).toMatchObject({ status: 0 });
    expect((await cli('images', '-q', '--filter', 'dangling=true')).stdout).toBe('');
    expect(await listed('named')).toEqual([`named:1 ${id.slice(7, 19)}`]);
  });

  it('leaves the image a rebuild with -t moved its name from as <none>, as docker', async () => {
    const first = await buildQuiet('first', '-t', 'app');
    const second = await buildQuiet('second', '-t', 'app');
    expect(second).not.toBe(first);
    expect(await listed()).toEqual([
      `app:latest ${second.slice(7, 19)}`,
      `busybox:latest ${(await fx.image('busybox')).manifest.config.digest.slice(7, 19)}`,
      `<none>:<none> ${first.slice(7, 19)}`,
    ]);
    expect((await cli('images', '-q', '--no-trunc', '-f', 'dangling=true')).stdout).toBe(`${first}\n`);
    expect((await cli('images', '-q', '--no-trunc', '-f', 'dangling=false', 'app')).stdout).toBe(`${second}\n`);
    // The old image is still whole and runs.
    expect(await cli('run', '--rm', '--network', 'none', first.slice(7, 19), 'cat', '/file')).toMatchObject({ status: 0, stdout: 'first\n' });

    // rmi by ID removes it and what only it used, its ID first as docker prints it.
    const removed = await cli('rmi', first.slice(7, 19));
    expect(removed.status, removed.stderr).toBe(0);
    expect(removed.stdout).toMatch(new RegExp(`^Deleted: ${first}\n(Deleted: sha256:[0-9a-f]{64}\n)+$`));
    expect(await listed()).toHaveLength(2);
    expect((await cli('rmi', first.slice(7, 19))).stderr).toMatch(/No such image: [0-9a-f]{12}:latest/);

    // tag moves a name as a build does: what it held stays, without a name.
    expect((await cli('tag', 'busybox', 'app')).status).toBe(0);
    expect((await cli('images', '-q', '--no-trunc', '-f', 'dangling=true')).stdout).toBe(`${second}\n`);
    expect((await cli('verify')).status).toBe(0);
  });

  it('image prune removes dangling images, never a named one nor one a container was created from', async () => {
    const dangling = await buildQuiet('dangling', '--label', 'drop=yes');
    const kept = await buildQuiet('kept');
    const named = await buildQuiet('named', '-t', 'named');
    // A stopped container made from an image without a name keeps that image.
    const created = await cli('create', '--name', 'keeper', '--network', 'none', kept.slice(7, 19), 'true');
    expect(created.status, created.stderr).toBe(0);

    const asked = await cli('image', 'prune');
    expect(asked.stdout).toBe('WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N]\nstandard input is not a terminal: nothing removed (use -f)\n');
    expect(await listed('-f', 'dangling=true')).toHaveLength(2);

    // docker's filters: only images with the label, only images created before a time.
    expect((await cli('image', 'prune', '-f', '--filter', 'label=drop=no')).stdout).toBe('Total reclaimed space: 0B\n');
    expect((await cli('image', 'prune', '-f', '--filter', 'until=1h')).stdout).toBe('Total reclaimed space: 0B\n');
    expect((await cli('image', 'prune', '-f', '--filter', 'size=1')).status).toBe(1);
    expect(await listed('-f', 'dangling=true')).toHaveLength(2);
    const pruned = await cli('image', 'prune', '-f', '--filter', 'label=drop');
    expect(pruned.status, pruned.stderr).toBe(0);
    expect(pruned.stdout).toMatch(new RegExp(`^Deleted Images:\\ndeleted: ${dangling}\\n(deleted: sha256:[0-9a-f]{64}\\n)+\\nTotal reclaimed space: \\S+B\\n$`));
    expect(await listed('-f', 'dangling=true')).toEqual([`<none>:<none> ${kept.slice(7, 19)}`]);
    expect(await listed('named')).toEqual([`named:latest ${named.slice(7, 19)}`]);
    // rmi -f of an image a container uses leaves it be.
    expect(await cli('rmi', '-f', kept.slice(7, 19))).toMatchObject({ status: 0, stdout: '' });
    expect(await listed('-f', 'dangling=true')).toEqual([`<none>:<none> ${kept.slice(7, 19)}`]);
    expect((await cli('image', 'prune', '-f')).stdout).toBe('Total reclaimed space: 0B\n');
    expect((await cli('verify')).status).toBe(0);

    // With -a, every image no container uses: the named ones go, the container's stays.
    const all = await cli('image', 'prune', '-a', '-f');
    expect(all.status, all.stderr).toBe(0);
    expect(all.stdout).toContain('untagged: named:latest\n');
    expect(all.stdout).toContain(`deleted: ${named}\n`);
    expect(await listed()).toEqual([`<none>:<none> ${kept.slice(7, 19)}`]);
    expect(await cli('start', '-a', 'keeper')).toMatchObject({ status: 0 });

    // system prune takes the stopped container, then its image, which now dangles unused.
    const system = await cli('system', 'prune', '-f');
    expect(system.status, system.stderr).toBe(0);
    expect(system.stdout).toMatch(new RegExp(`Deleted Images:\\ndeleted: ${kept}\\n`));
    expect(await listed()).toEqual([]);
  });

  it('rmi refuses an image a container uses; with -f its name goes and the image stays, without one', async () => {
    const app = await buildQuiet('app', '-t', 'app');
    const created = await cli('create', '--name', 'user', '--network', 'none', 'app', 'cat', '/file');
    expect(created.status, created.stderr).toBe(0);
    const container = (await cli('ps', '-a', '-q')).stdout.trim();
    const refused = await cli('rmi', 'app');
    expect(refused.status).toBe(1);
    expect(refused.stderr).toBe(`Error response from daemon: conflict: unable to remove repository reference "app" (must force) - container ${container} is using its referenced image ${app.slice(7, 19)}\n`);
    expect((await cli('rmi', app.slice(7, 19))).stderr).toBe(`Error response from daemon: conflict: unable to delete ${app.slice(7, 19)} (must be forced) - image is being used by container ${container}\n`);
    expect(await listed('app')).toEqual([`app:latest ${app.slice(7, 19)}`]);

    expect(await cli('rmi', '-f', 'app')).toMatchObject({ status: 0, stdout: 'Untagged: app:latest\n' });
    expect(await listed('-f', 'dangling=true')).toEqual([`<none>:<none> ${app.slice(7, 19)}`]);
    expect(await cli('start', '-a', 'user')).toMatchObject({ status: 0, stdout: 'app\n' });
    // Once the container is gone, the image goes as any other.
    expect((await cli('rm', 'user')).status).toBe(0);
    expect((await cli('rmi', app.slice(7, 19))).stdout).toMatch(new RegExp(`^Deleted: ${app}\n`));
    expect((await cli('verify')).status).toBe(0);
  });

  it('commit without a repository gives an image without a name, run by its ID', async () => {
    const created = await cli('create', '--name', 'source', '--network', 'none', 'busybox', 'sh', '-c', 'echo committed > /made');
    expect(created.status, created.stderr).toBe(0);
    expect((await cli('start', '-a', 'source')).status).toBe(0);
    const committed = await cli('commit', 'source');
    expect(committed.status, committed.stderr).toBe(0);
    const id = committed.stdout.trim();
    expect(committed.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect(await listed('-f', 'dangling=true')).toEqual([`<none>:<none> ${id.slice(7, 19)}`]);
    expect(await cli('run', '--rm', '--network', 'none', id.slice(7, 19), 'cat', '/made')).toMatchObject({ status: 0, stdout: 'committed\n' });
    expect((await cli('rm', 'source')).status).toBe(0);
  });

  it('load that moves a name leaves the old image <none>, and keeps an image the archive does not name', async () => {
    const first = await buildQuiet('first', '-t', 'app');
    const archive = join(fx.dir, 'app.tar');
    expect((await cli('save', '--format', 'oci', '-o', archive, 'app')).status).toBe(0);
    const second = await buildQuiet('second', '-t', 'app');
    expect(await listed('-f', 'dangling=true')).toEqual([`<none>:<none> ${first.slice(7, 19)}`]);
    const loaded = await cli('load', '-i', archive);
    expect(loaded).toMatchObject({ status: 0, stdout: `The image app:latest already exists, renaming the old one with ID ${second} to empty string\nLoaded image: app:latest\n` });
    expect(await listed('-f', 'dangling=true')).toEqual([`<none>:<none> ${second.slice(7, 19)}`]);
    expect(await listed('app')).toEqual([`app:latest ${first.slice(7, 19)}`]);

    // Saved by ID, the archive names nothing: loaded elsewhere, the image is kept without a name.
    const unnamed = join(fx.dir, 'unnamed.tar');
    expect((await cli('save', '-o', unnamed, second.slice(7, 19))).status).toBe(0);
    const fresh = join(fx.dir, 'fresh');
    const into = await runCliCaptured(['load', '--root', fresh, '-i', unnamed]);
    expect(into).toMatchObject({ status: 0, stdout: `Loaded image ID: ${second}\n` });
    expect((await runCliCaptured(['images', '--root', fresh, '--format', '{{.Repository}} {{.Tag}} {{.ID}}'])).stdout).toBe(`<none> <none> ${second.slice(7, 19)}\n`);
    expect(await runCliCaptured(['verify', '--root', fresh])).toMatchObject({ status: 0 });
  });

  it('a build with an output and no -t keeps no image, as buildx', async () => {
    const context = await fx.context('ctx', { Dockerfile: 'FROM busybox\nRUN echo out > /file\n' });
    const built = await fx.build(['-q', '-o', `type=oci,dest=${join(fx.dir, 'out.tar')}`, context]);
    expect(built.status, built.stderr).toBe(0);
    expect(await listed('-f', 'dangling=true')).toEqual([]);
    await writeFile(join(context, 'Dockerfile'), 'FROM busybox\nRUN echo kept > /file\n');
    expect((await fx.build(['-q', context])).status).toBe(0);
    expect(await listed('-f', 'dangling=true')).toHaveLength(1);
  });
});
