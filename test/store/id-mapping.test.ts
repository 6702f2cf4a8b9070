/**
 * A store remembers the uid and gid maps its files were made under: root's store handed to an
 * ordinary user (whose tsbuild maps the user as root and its subordinate range from id 1), or
 * the other way round, is refused while it holds unpacked layers, with the maps and the way out
 * named; emptied of them, it is taken and recorded under the new maps.
 */
import { readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asRootless, busyboxStore, chownTree, ensureRootlessUser, isRoot, removeBusyboxStore, rootlessUser, runInstalledCli, toolExists } from '../runtime/helpers.js';

interface Record {
  uid: number[][];
  gid: number[][];
}

describe.skipIf(!isRoot || !toolExists('newuidmap'))('the id mapping a store was made under', () => {
  let store: { dir: string; root: string };
  let user: ReturnType<typeof ensureRootlessUser>;
  // useradd's range or the helper's: whatever /etc/subuid and /etc/subgid grant the user.
  const range = (file: string): [number, number] => {
    const line = readFileSync(file, 'utf8').split('\n').find((entry) => entry.startsWith(`${rootlessUser}:`)) ?? '';
    const [, start, count] = line.split(':');
    return [Number(start), Number(count)];
  };
  const record = (): Record => JSON.parse(readFileSync(join(store.root, 'id-mapping.json'), 'utf8')) as Record;

  beforeAll(async () => {
    user = ensureRootlessUser();
    store = await busyboxStore('tsbuild-id-mapping-');
  });

  afterAll(() => {
    removeBusyboxStore(store);
  });

  it("is recorded by root's first command, refused to another user's namespace while layers hold its owners, and taken once they are gone", () => {
    const context = join(store.dir, 'context');
    mkdirSync(context);
    writeFileSync(join(context, 'Dockerfile'), 'FROM busybox\nRUN touch /owned && chown 4242:4343 /owned\n');
    const built = runInstalledCli(['build', '-q', '-t', 'owned', context], { root: store.root, timeoutMs: 120_000 });
    expect(built.stderr).toBe('');
    expect(built.status).toBe(0);
    expect(record()).toEqual({ uid: [[0, 0, 4294967295]], gid: [[0, 0, 4294967295]] });

    chownTree(store.dir, user);
    const [uidStart, uidCount] = range('/etc/subuid');
    const [gidStart, gidCount] = range('/etc/subgid');
    const userUidMap = `0:${user.uid}:1,1:${uidStart}:${uidCount}`;
    const asUser = { root: store.root, prefix: asRootless(user), timeoutMs: 120_000 };
    const refused = runInstalledCli(['build', '-q', context], asUser);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain(`store ${store.root} holds files made under uid map 0:0:4294967295 and gid map 0:0:4294967295 (${join(store.root, 'id-mapping.json')})`);
    expect(refused.stderr).toContain(`this process maps uid ${userUidMap} and gid 0:${user.gid}:1,1:${gidStart}:${gidCount}`);
    // Nothing was changed by the refusal: root still uses the store as it was.
    expect(record()).toEqual({ uid: [[0, 0, 4294967295]], gid: [[0, 0, 4294967295]] });

    // Blobs and names do not depend on the mapping: without the unpacked layers the user takes the store.
    rmSync(join(store.root, 'layers'), { recursive: true, force: true });
    const rebuilt = runInstalledCli(['build', '-q', context], asUser);
    expect(rebuilt.stderr).toBe('');
    expect(rebuilt.status).toBe(0);
    expect(record()).toEqual({ uid: [[0, user.uid, 1], [1, uidStart, uidCount]], gid: [[0, user.gid, 1], [1, gidStart, gidCount]] });
    const run = runInstalledCli(['run', '--rm', rebuilt.stdout.trim(), 'stat', '-c', '%u:%g', '/owned'], asUser);
    expect(run.stdout).toBe('4242:4343\n');

    // And root, back at a store the user's namespace filled, is refused in turn.
    const rootRefused = runInstalledCli(['run', '--rm', 'owned', 'true'], { root: store.root });
    expect(rootRefused.status).not.toBe(0);
    expect(rootRefused.stderr).toContain(`holds files made under uid map ${userUidMap}`);
  }, 300_000);
});
