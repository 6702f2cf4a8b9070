/**
 * Filling a volume from an image while a container that already has the volume swaps what is
 * being filled for links to the host (docker CVE-2018-15664's symlink-exchange race, on the
 * copy-up of a volume): the copy runs on the host, so a directory of the volume replaced by a
 * link to `/somewhere` between its creation and the files copied into it would send them to
 * the host's `/somewhere`. Nothing may ever be written outside the volume. And removing a
 * volume whose container planted links to host paths in it removes the links, never what they name.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostPlatform } from '../../src/common/index.js';
import { writeImage, writeLayer, type LayerEntry } from '../../src/exporter/index.js';
import { openStore, resolveImage } from '../../src/store/index.js';
import { busyboxImage } from '../helpers/busybox-image.js';
import { temporaryDirectory } from '../helpers/temporary-store.js';
import { buildBinaries, isRoot, runInstalledCli } from './helpers.js';


let dir: string;
let root: string;
/** Where the swapped links lead on the host: must stay as it is. */
let outside: string;
let removeDir: () => Promise<void>;

function tsbuild(args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  return runInstalledCli(args, { root });
}

const directories = 150;
const filesEach = 20;

describe.runIf(isRoot)('filling a volume another container swaps links into', () => {
  beforeAll(async () => {
    buildBinaries();
    ({ path: dir, cleanup: removeDir } = await temporaryDirectory('tsbuild-hostile-fill-'));
    root = join(dir, 'root');
    outside = join(dir, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret'), 'HOST\n');
    const store = await openStore({ root });
    await busyboxImage(store);
    const base = await resolveImage(store, (await store.resolveReference('docker.io/library/busybox:latest')) ?? expect.fail('no busybox'));
    const baseLayer = { descriptor: base.manifest.layers[0] ?? expect.fail('no layer'), diffId: base.config.rootfs.diff_ids[0] ?? expect.fail('no diff id') };
    // Many directories of many files at /app: the copy takes long enough to be raced.
    const entries: LayerEntry[] = [{ path: 'app', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0 }];
    const names = Array.from({ length: directories }, (_, i) => `d${String(i).padStart(3, '0')}`).sort();
    for (const name of names) {
      entries.push({ path: `app/${name}`, type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0 });
      for (let j = 0; j < filesEach; j++) {
        const text = `${name} ${j}\n`;
        entries.push({ path: `app/${name}/f${String(j).padStart(2, '0')}`, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: text.length, content: () => Buffer.from(text) });
      }
    }
    const app = await writeLayer(entries, store);
    await writeImage(store, { layers: [baseLayer, app], platform: hostPlatform(), config: { Cmd: ['sh'] } }, 'docker.io/library/many:latest');
  }, 120_000);

  afterAll(async () => {
    await removeDir();
  });

  it('writes what it copies into the volume only, whatever links a container that has it swaps in meanwhile', () => {
    for (let round = 0; round < 3; round++) {
      const volume = `shared-${round}`;
      const swapper = `swapper-${process.pid}-${round}`;
      // The hostile container: every directory that appears in the volume becomes a link to
      // the host's OUTSIDE (an absolute link resolves on the host for whatever runs there).
      const script = `while true; do for d in /data/d*; do if [ -d "$d" ] && [ ! -L "$d" ]; then mv "$d" "$d.x" 2>/dev/null && ln -s ${outside} "$d"; fi; done; done`;
      expect(tsbuild(['run', '-d', '--name', swapper, '-v', `${volume}:/data`, 'busybox', 'sh', '-c', script]).status).toBe(0);
      try {
        const filled = tsbuild(['run', '--rm', '-v', `${volume}:/app`, 'many', 'sh', '-c', 'ls /app | wc -l']);
        // The fill may fail on what it found, or succeed: never may it write through a link.
        expect([round, readdirSync(outside)]).toEqual([round, ['secret']]);
        if (filled.status === 0) expect(Number(filled.stdout.trim())).toBeGreaterThanOrEqual(directories);
      } finally {
        tsbuild(['rm', '-f', swapper]);
        tsbuild(['volume', 'rm', volume]);
      }
    }
  }, 240_000);

  it('removes a volume holding links to the host (rm, prune) without following them: the host keeps its files (podman CVE-2023-0778 class)', () => {
    const hostDir = join(dir, 'linked-dir');
    mkdirSync(join(hostDir, 'inner'), { recursive: true });
    writeFileSync(join(hostDir, 'inner', 'file'), 'HOST\n');
    writeFileSync(join(dir, 'linked-file'), 'HOST\n');
    const plant = `ln -s ${hostDir} /data/abs && ln -s ../../../../../../../..${hostDir} /data/up && ln -s ${join(dir, 'linked-file')} /data/file && mkdir -p /data/sub && ln -s ${hostDir}/inner /data/sub/inner`;
    for (const [volume, remove] of [
      ['links-rm', ['volume', 'rm', 'links-rm']],
      ['links-prune', ['volume', 'prune', '--all', '--force']],
    ] as const) {
      const planted = tsbuild(['run', '--rm', '-v', `${volume}:/data`, 'busybox', 'sh', '-c', plant]);
      expect(planted).toMatchObject({ status: 0, stderr: '' });
      expect(tsbuild(remove).status).toBe(0);
      expect(tsbuild(['volume', 'ls', '-q']).stdout).not.toContain(volume);
      expect([volume, readdirSync(hostDir), readdirSync(join(hostDir, 'inner')), readdirSync(dir).includes('linked-file')]).toEqual([volume, ['inner'], ['file'], true]);
    }
  }, 60_000);
});
