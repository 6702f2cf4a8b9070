/**
 * What tsbuild reads of a running container from the host side, with the container against it:
 * `top` runs the host's `ps`, never a program of the container's root (podman CVE-2022-1227,
 * whose `top` ran the container's own), and `export`, `commit` (paused or not) and `diff` take
 * the links a container planted as links and never follow one the container swaps in for a
 * directory while they read (docker CVE-2018-15664's symlink-exchange race, on these
 * commands): no byte of the host's files reaches a tar or an image.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostPlatform } from '../../src/common/index.js';
import { writeImage, writeLayer, type LayerEntry } from '../../src/exporter/index.js';
import { containerChanges } from '../../src/runtime/index.js';
import { openStore, resolveImage } from '../../src/store/index.js';
import { busyboxImage } from '../helpers/busybox-image.js';
import { temporaryDirectory } from '../helpers/temporary-store.js';
import { buildBinaries, isRoot, runInstalledCli, runInstalledCliBytes } from './helpers.js';

const secret = 'HOST SECRET 5f1c';

let dir: string;
let root: string;
/** A host directory the containers' links name: never read into a tar or an image. */
let outside: string;
let removeDir: () => Promise<void>;

function tsbuild(args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  return runInstalledCli(args, { root });
}

const script = (path: string, text: string): LayerEntry => ({ path, type: 'file', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: Buffer.byteLength(text), content: () => Buffer.from(text) });

describe.runIf(isRoot)("reading a running container's files from the host", () => {
  beforeAll(async () => {
    buildBinaries();
    ({ path: dir, cleanup: removeDir } = await temporaryDirectory('tsbuild-hostile-reads-'));
    root = join(dir, 'root');
    outside = join(dir, 'outside');
    mkdirSync(join(outside, 'sub'), { recursive: true });
    writeFileSync(join(outside, 'secret'), `${secret}\n`);
    writeFileSync(join(outside, 'sub', 'secret'), `${secret}\n`);
    const store = await openStore({ root });
    await busyboxImage(store);
    const base = await resolveImage(store, (await store.resolveReference('docker.io/library/busybox:latest')) ?? expect.fail('no busybox'));
    const baseLayer = { descriptor: base.manifest.layers[0] ?? expect.fail('no layer'), diffId: base.config.rootfs.diff_ids[0] ?? expect.fail('no diff id') };
    // A `ps` of the image's own wherever a host's PATH may look: it marks that it ran.
    const fake = `#!/bin/sh\necho FAKE PS >&2\ntouch /fake-ps-ran /tmp/fake-ps-ran\necho FAKE PS\n`;
    const layer = await writeLayer(
      [
        { path: 'usr', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0 },
        { path: 'usr/bin', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0 },
        script('usr/bin/ps', fake),
        { path: 'usr/local', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0 },
        { path: 'usr/local/bin', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0 },
        script('usr/local/bin/ps', fake),
      ],
      store,
    );
    await writeImage(store, { layers: [baseLayer, layer], platform: hostPlatform(), config: { Cmd: ['sh'] } }, 'docker.io/library/fake-ps:latest');
  }, 120_000);

  afterAll(async () => {
    tsbuild(['rm', '-f', 'top-target', 'planter', 'swapper']);
    expect(readdirSync(outside).sort()).toEqual(['secret', 'sub']);
    await removeDir();
  });

  it("runs the host's ps for top, never one of the container's root (podman CVE-2022-1227)", () => {
    expect(tsbuild(['run', '-d', '--name', 'top-target', 'fake-ps', 'sleep', '300']).status).toBe(0);
    for (const options of [[], ['aux'], ['-o', 'pid,comm']]) {
      const result = tsbuild(['top', 'top-target', ...options]);
      expect([options, result.status, result.stderr]).toEqual([options, 0, '']);
      expect(result.stdout).toContain('sleep');
      expect(result.stdout).not.toContain('FAKE PS');
    }
    expect(tsbuild(['exec', 'top-target', 'ls', '/fake-ps-ran', '/tmp/fake-ps-ran']).status).not.toBe(0);
  });

  it('exports, commits and diffs the links a container planted as links, never what they name', () => {
    const plant = `ln -s ${outside} /evil && ln -s ${outside}/secret /evil-file && ln -s ../../../../../../../..${outside} /evil-up && mkdir /kept && echo kept > /kept/file && exec sleep 300`;
    expect(tsbuild(['run', '-d', '--name', 'planter', 'busybox', 'sh', '-c', plant]).status).toBe(0);
    for (let attempt = 0; attempt < 50 && tsbuild(['exec', 'planter', 'test', '-f', '/kept/file']).status !== 0; attempt++) spawnSync('sleep', ['0.1']);
    const exported = runInstalledCliBytes(['export', 'planter'], { root });
    expect(exported.status, exported.stderr).toBe(0);
    expect(exported.stdout.includes(secret)).toBe(false);
    const listing = spawnSync('tar', ['-tvf', '-'], { input: exported.stdout, encoding: 'utf8', maxBuffer: 1 << 26 }).stdout;
    expect(listing).toContain(`evil -> ${outside}`);
    expect(listing).toContain(`evil-file -> ${outside}/secret`);
    expect(listing).toMatch(/kept\/file/);
    const diff = tsbuild(['diff', 'planter']);
    expect(diff.stdout.split('\n')).toEqual(expect.arrayContaining(['A /evil', 'A /evil-file', 'A /evil-up', 'A /kept']));
    for (const pause of [[], ['--pause=false']]) {
      expect(tsbuild(['commit', ...pause, 'planter', `planted:${pause.length}`]).status).toBe(0);
      const saved = runInstalledCliBytes(['save', `planted:${pause.length}`], { root });
      expect(saved.status).toBe(0);
      // Layers are gzip: what the image holds is read back through a container of it.
      const seen = tsbuild(['run', '--rm', `planted:${pause.length}`, 'sh', '-c', 'readlink /evil; readlink /evil-file; cat /kept/file; cat /evil/secret 2>/dev/null; true']);
      expect(seen).toMatchObject({ status: 0, stdout: `${outside}\n${outside}/secret\nkept\n` });
    }
  }, 60_000);

  it('never exports, commits or lists in diff a host file while the container swaps a directory for a link to the host', async () => {
    const swap = `mkdir -p /data/d && for i in 1 2 3 4 5 6 7 8; do echo data > /data/d/f$i; done; ln -s ${outside} /data/l; while :; do mv /data/d /data/d.x; mv /data/l /data/d; mv /data/d /data/l; mv /data/d.x /data/d; done`;
    expect(tsbuild(['run', '-d', '--name', 'swapper', 'busybox', 'sh', '-c', swap]).status).toBe(0);
    // What diff and commit walk, many times over in this process while the container swaps.
    const store = await openStore({ root });
    const seen = new Set<string>();
    const walking = Date.now();
    while (Date.now() - walking < 2_500) {
      const changes = await containerChanges(store, 'swapper').catch((error: unknown) => [{ kind: 'error', path: (error as Error).message }]);
      for (const change of changes) if (change.path.startsWith('/data/') || change.kind === 'error') seen.add(`${change.kind} ${change.path}`);
    }
    expect([...seen].filter((line) => /\/data\/(d|l|d\.x)\/(secret|sub)|^error/.test(line))).toEqual([]);
    const started = Date.now();
    let reads = 0;
    while (Date.now() - started < 3_000) {
      const exported = runInstalledCliBytes(['export', 'swapper'], { root });
      // A read that met a swap may fail naming what changed; it never carries the host's files.
      expect(exported.stdout.includes(secret)).toBe(false);
      if (exported.status !== 0) expect(exported.stderr).not.toContain('internal error');
      reads++;
      const diff = tsbuild(['diff', 'swapper']);
      if (diff.status === 0) expect(diff.stdout).not.toMatch(/\/data\/d\/(secret|sub)/);
      else expect(diff.stderr).not.toContain('internal error');
      const committed = tsbuild(['commit', '--pause=false', 'swapper', 'swapped:latest']);
      if (committed.status === 0) {
        const image = runInstalledCliBytes(['save', 'swapped:latest'], { root });
        expect(image.status).toBe(0);
        const layers = spawnSync('sh', ['-c', 'tar -xOf - --wildcards "blobs/*" | gzip -dcf 2>/dev/null | tr -d "\\0" | grep -c "HOST SECRET" || true'], { input: image.stdout, encoding: 'utf8', maxBuffer: 1 << 26 });
        expect(layers.stdout.trim()).toBe('0');
      } else {
        expect(committed.stderr).not.toContain('internal error');
      }
    }
    expect(reads).toBeGreaterThan(1);
    expect(readFileSync(join(outside, 'secret'), 'utf8')).toBe(`${secret}\n`);
  }, 120_000);
});

