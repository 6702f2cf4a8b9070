/**
 * Scaffolding for build tests: a store with the busybox base image, contexts written from a
 * table of files, the CLI run in process, and readers of what a build made — its config, its
 * layers' entries — so that a test asserts on the real image.
 */
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { decompressLayer, openStore, resolveImage, type ResolvedImage, type Store } from '../../src/store/index.js';
import { formatReference, parseReference, readTar, type Descriptor } from '../../src/common/index.js';
import { busyboxImage } from './busybox-image.js';
import { runCliCaptured, type CliResult } from './run-cli.js';
import { temporaryDirectory } from './temporary-store.js';
import { validateLayout } from './validate.js';

export interface LayerFile {
  readonly path: string;
  readonly type: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly linkname: string;
  readonly mtime: number;
  /** Content of regular files, as text. */
  readonly text?: string;
}

export interface BuildFixture {
  readonly dir: string;
  readonly root: string;
  readonly store: Store;
  /** Writes a context directory: file contents by relative path; a value `{ symlink }` makes a link. */
  context(name: string, files: Readonly<Record<string, string | { symlink: string } | { mode: number; content: string }>>): Promise<string>;
  /** `tsbuild build --root ROOT --progress plain ARGS…`. */
  build(args: readonly string[]): Promise<CliResult>;
  image(name: string): Promise<ResolvedImage>;
  layerFiles(layer: Descriptor): Promise<LayerFile[]>;
  /** Validates the store's layout and removes everything. */
  cleanup(): Promise<void>;
}

export async function buildFixture(): Promise<BuildFixture> {
  const { path: dir, cleanup } = await temporaryDirectory('tsbuild-build-');
  const root = join(dir, 'root');
  const store = await openStore({ root });
  await busyboxImage(store);
  return {
    dir,
    root,
    store,
    async context(name, files) {
      const base = join(dir, name);
      await mkdir(base, { recursive: true });
      for (const [path, value] of Object.entries(files)) {
        const target = join(base, path);
        await mkdir(dirname(target), { recursive: true });
        if (typeof value === 'string') await writeFile(target, value);
        else if ('symlink' in value) await symlink(value.symlink, target);
        else await writeFile(target, value.content, { mode: value.mode });
      }
      return base;
    },
    build: (args) => runCliCaptured(['build', '--root', root, '--progress', 'plain', ...args]),
    async image(name) {
      const descriptor = await store.resolveReference(formatReference(parseReference(name)));
      if (descriptor === undefined) throw new Error(`no image ${name} in the store`);
      return resolveImage(store, descriptor);
    },
    async layerFiles(layer) {
      const files: LayerFile[] = [];
      for await (const entry of readTar(decompressLayer(await store.openBlob(layer.digest), layer.mediaType))) {
        const { name, type, mode, uid, gid, linkname, mtime } = entry.header;
        let text: string | undefined;
        if (type === 'file') {
          const chunks: Buffer[] = [];
          for await (const chunk of entry.body) chunks.push(chunk);
          text = Buffer.concat(chunks).toString('utf8');
        }
        files.push({ path: name.replace(/\/$/, ''), type, mode, uid, gid, linkname, mtime, ...(text === undefined ? {} : { text }) });
      }
      return files;
    },
    async cleanup() {
      try {
        await validateLayout(root);
      } finally {
        await cleanup();
      }
    },
  };
}

/** Every file of image NAME's layers by path, a later layer's entry over an earlier one's. */
export async function imageFiles(fx: BuildFixture, name: string): Promise<Map<string, LayerFile>> {
  const image = await fx.image(name);
  const files = new Map<string, LayerFile>();
  for (const layer of image.manifest.layers) for (const file of await fx.layerFiles(layer)) files.set(file.path, file);
  return files;
}

/**
 * The step lines of BuildKit's plain progress that say CACHED, by step name; not the FROM steps,
 * which say it when a step on top of them runs (their image is loaded for it).
 */
export function cachedSteps(stderr: string): string[] {
  const names = new Map<string, string>();
  const cached: string[] = [];
  for (const line of stderr.split('\n')) {
    const step = /^#(\d+) (\[.*)$/.exec(line);
    if (step !== null) names.set(step[1] ?? '', step[2] ?? '');
    const hit = /^#(\d+) CACHED$/.exec(line);
    const name = hit === null ? undefined : (names.get(hit[1] ?? '') ?? '');
    if (name !== undefined && !/\] FROM /.test(name)) cached.push(name);
  }
  return cached;
}

/** The step lines of the plain progress that ran (DONE without CACHED), by name. */
export function ranSteps(stderr: string): string[] {
  const names = new Map<string, string>();
  const ran: string[] = [];
  for (const line of stderr.split('\n')) {
    const step = /^#(\d+) (\[.*)$/.exec(line);
    if (step !== null) names.set(step[1] ?? '', step[2] ?? '');
    const done = /^#(\d+) DONE /.exec(line);
    const name = done === null ? undefined : names.get(done[1] ?? '');
    if (name !== undefined && !/^\[(?:\S+ )?internal\]/.test(name) && !/\] FROM /.test(name)) ran.push(name);
  }
  return ran;
}
