/**
 * Assembles a small base image from Debian's busybox-static binary: busybox, a symlink for each
 * applet (`busybox --list-full`), /etc/passwd, /etc/group, /root and /tmp (1777), stored as
 * `busybox:latest` (docker.io/library/busybox:latest). Reproducible: every timestamp is
 * SOURCE_DATE_EPOCH (0 when unset), so the same binary always gives the same digest.
 *
 *   npx tsx scripts/make-busybox-image.ts [--root DIR] [--name NAME] [--busybox PATH]
 */
import { execFileSync } from 'node:child_process';
import { createReadStream, statSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { formatReference, hostPlatform, parseReference, type Descriptor } from '../src/common/index.js';
import { comparePaths, sourceDateEpochFromEnv, writeImage, writeLayer, type LayerEntry } from '../src/exporter/index.js';
import { openStore, type Store } from '../src/store/index.js';

export interface BusyboxImageOptions {
  readonly store: Store;
  /** Default `busybox:latest`. */
  readonly name?: string;
  /** Default `/bin/busybox` (Debian's busybox-static). */
  readonly busybox?: string;
  /** Seconds; default SOURCE_DATE_EPOCH or 0. */
  readonly epoch?: number;
}

export interface BusyboxImage {
  readonly name: string;
  readonly descriptor: Descriptor;
}

function text(path: string, content: string, mtime: number, mode = 0o644): LayerEntry {
  const bytes = Buffer.from(content, 'utf8');
  return { path, type: 'file', mode, uid: 0, gid: 0, mtime, size: bytes.length, content: () => bytes };
}

export async function makeBusyboxImage(options: BusyboxImageOptions): Promise<BusyboxImage> {
  const busybox = options.busybox ?? '/bin/busybox';
  const epoch = options.epoch ?? sourceDateEpochFromEnv() ?? 0;
  const name = formatReference(parseReference(options.name ?? 'busybox:latest'));
  const applets = execFileSync(busybox, ['--list-full'], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.trim().replace(/^\/+/, ''))
    .filter((line) => line !== '' && line !== 'bin/busybox' && !line.split('/').includes('..'));
  const size = statSync(busybox).size;
  const dir = (path: string, mode = 0o755): LayerEntry => ({ path, type: 'directory', mode, uid: 0, gid: 0, mtime: epoch });
  const entries = new Map<string, LayerEntry>();
  for (const entry of [dir('bin'), dir('etc'), dir('root', 0o700), dir('sbin'), dir('tmp', 0o1777), dir('usr'), dir('usr/bin'), dir('usr/sbin'), dir('var'), dir('var/spool'), dir('var/spool/mail')]) {
    entries.set(entry.path, entry);
  }
  entries.set('bin/busybox', { path: 'bin/busybox', type: 'file', mode: 0o755, uid: 0, gid: 0, mtime: epoch, size, content: () => createReadStream(busybox) });
  for (const applet of applets) {
    entries.set(applet, { path: applet, type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: epoch, linkname: '/bin/busybox' });
  }
  entries.set('etc/passwd', text('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n', epoch));
  entries.set('etc/group', text('etc/group', 'root:x:0:\nnogroup:x:65534:\n', epoch));
  const sorted = [...entries.values()].sort((a, b) => comparePaths(a.path, b.path));
  const layer = await writeLayer(sorted, options.store, { sourceDateEpoch: epoch });
  const created = new Date(epoch * 1000).toISOString().replace('.000Z', 'Z');
  const image = await writeImage(
    options.store,
    {
      layers: [layer],
      platform: hostPlatform(),
      created,
      config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] },
      history: [{ created, created_by: 'tsbuild scripts/make-busybox-image.ts', comment: 'busybox-static' }],
    },
    name,
  );
  return { name, descriptor: image.descriptor };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  const flag = (name: string): string | undefined => {
    const position = args.indexOf(name);
    return position < 0 ? undefined : args[position + 1];
  };
  const root = flag('--root');
  const store = await openStore(root === undefined ? {} : { root });
  const nameFlag = flag('--name');
  const busyboxFlag = flag('--busybox');
  const image = await makeBusyboxImage({ store, ...(nameFlag === undefined ? {} : { name: nameFlag }), ...(busyboxFlag === undefined ? {} : { busybox: busyboxFlag }) });
  process.stdout.write(`${image.name} ${image.descriptor.digest}\n`);
}
