/**
 * The normalized record of an image that the BuildKit parity corpus compares: what the
 * golden-file script (scripts/buildkit-parity.ts) writes from BuildKit's image and what
 * test/parity/parity.test.ts makes from tsbuild's. Both sides go through this one module so
 * that a difference is a difference of the images, not of two readers.
 *
 * Normalized away (see the script's header for why): `created` of the config and of each
 * history entry, the layers of the base image (compared once, in golden/_base.json), layer
 * digests and compression, the order of entries in a layer, mtimes that are the time of the
 * build rather than one the inputs fixed (any mtime at or after `buildTimeFloor`), and whether a
 * whiteout is written as a file or as a hard link to another whiteout.
 */
import { createHash } from 'node:crypto';
import { cp, chmod, lstat, readFile, readdir, rm, utimes, lutimes } from 'node:fs/promises';
import { createServer } from 'node:http';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { encodeFileName, readTar } from '../../src/common/index.js';

/** Every context file, tar member and base entry the corpus fixes is older than this. */
export const buildTimeFloor = Date.UTC(2025, 0, 1) / 1000;
/** The mtime the corpus gives every context file (after the case's setup script ran). */
export const contextEpoch = '2020-01-01T00:00:00Z';
const emptySha256 = createHash('sha256').digest('hex');
/** The base image's reference, the same in the peers' registry and in the test's store. */
export const baseReference = '127.0.0.1:5000/library/busybox:latest';

/**
 * A case's `case.json`: build arguments, target, a port where its `served/` directory is served
 * (ADD of URLs), and named contexts (`--build-context NAME=VALUE`: a directory of the case, or
 * a `docker-image://` reference as it is) and secrets (`--secret id=ID,src=` a file of the case).
 */
export interface CaseOptions {
  readonly args?: Readonly<Record<string, string>>;
  readonly target?: string;
  readonly serve?: { readonly port: number };
  readonly contexts?: Readonly<Record<string, string>>;
  /** The Dockerfile's path in the context (`-f`), when it is not `Dockerfile` at its root. */
  readonly file?: string;
  /** `--secret id=ID,src=` a file of the context, for RUN --mount=type=secret. */
  readonly secrets?: Readonly<Record<string, string>>;
  /** `--label KEY=VALUE`, in order. */
  readonly labels?: readonly string[];
  /** `--add-host NAME:IP`, in order. */
  readonly addHosts?: readonly string[];
  /** `--ulimit NAME=SOFT[:HARD]`, in order. */
  readonly ulimits?: readonly string[];
  /** `--shm-size` of every RUN. */
  readonly shmSize?: string;
  /** `--platform`: the image's, another than this machine's for a cross-compiling case. */
  readonly platform?: string;
}

/** The build flags a case's options ask for, the same for both builders; CONTEXT is the prepared context. */
export function caseBuildFlags(options: CaseOptions, context: string): string[] {
  const flags: string[] = [];
  for (const [key, value] of Object.entries(options.args ?? {})) flags.push('--build-arg', `${key}=${value}`);
  if (options.target !== undefined) flags.push('--target', options.target);
  if (options.file !== undefined) flags.push('-f', join(context, options.file));
  for (const [name, value] of Object.entries(options.contexts ?? {})) flags.push('--build-context', `${name}=${value.includes('://') ? value : join(context, value)}`);
  for (const [id, file] of Object.entries(options.secrets ?? {})) flags.push('--secret', `id=${id},src=${join(context, file)}`);
  for (const label of options.labels ?? []) flags.push('--label', label);
  for (const host of options.addHosts ?? []) flags.push('--add-host', host);
  for (const ulimit of options.ulimits ?? []) flags.push('--ulimit', ulimit);
  if (options.shmSize !== undefined) flags.push('--shm-size', options.shmSize);
  if (options.platform !== undefined) flags.push('--platform', options.platform);
  return flags;
}

/** The peers' docker 26.1 (BuildKit 0.13), which the golden records and the comparisons are built with. */
export const peerDocker = '/opt/peers/docker26/usr/bin/docker';
export const peerDockerEnv = { ...process.env, DOCKER_HOST: 'unix:///run/peer-docker26.sock', DOCKER_BUILDKIT: '1', BUILDX_GIT_INFO: 'false' };

export interface EntryRecord {
  path: string;
  type: string;
  mode: string;
  uid: number;
  gid: number;
  linkname?: string;
  size?: number;
  sha256?: string;
  /** ISO time when the inputs fixed it; `build-time` for the time of the build. */
  mtime: string;
  /** `NAME=VALUE`, the value in hex. */
  xattrs?: string[];
  device?: string;
}

export interface HistoryRecord {
  created_by?: string;
  comment?: string;
  author?: string;
  empty_layer?: boolean;
}

export interface ImageRecord {
  /** The config's top-level fields, `created` aside. */
  fields: string[];
  author?: string;
  architecture?: string;
  os?: string;
  config: Record<string, unknown>;
  history: HistoryRecord[];
  /** Number of layers, base included. */
  layerCount: number;
  baseLayerCount: number;
  /** Entries of each layer above the base's. */
  layers: EntryRecord[][];
  /**
   * The config JSON as written, its times and diff IDs masked: key order and string escapes
   * make the image's ID, and are Go's encoding/json's under BuildKit. Older records lack it.
   */
  configText?: string;
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([key, inner]) => [key, sortKeys(inner)]),
    );
  }
  return value;
}

function mtimeRecord(seconds: number): string {
  if (seconds >= buildTimeFloor) return 'build-time';
  return new Date(Math.floor(seconds) * 1000).toISOString().replace('.000Z', 'Z');
}

/**
 * A name as the records show it: its bytes decoded as UTF-8, a byte that is not UTF-8 as U+FFFD.
 * The reader keeps such a byte exactly (escaped); the records were written with it replaced.
 */
function nameRecord(name: string): string {
  return encodeFileName(name).toString('utf8');
}

/** The entries of one uncompressed layer tar, sorted by path. */
export async function layerRecord(tar: AsyncIterable<Uint8Array>): Promise<EntryRecord[]> {
  const entries: EntryRecord[] = [];
  for await (const entry of readTar(tar)) {
    const header = entry.header;
    const path = nameRecord(header.name).replace(/^\.\//, '').replace(/\/+$/, '');
    const record: EntryRecord = {
      path,
      type: header.type,
      mode: (header.mode & 0o7777).toString(8).padStart(4, '0'),
      uid: header.uid,
      gid: header.gid,
      mtime: mtimeRecord(header.mtime),
    };
    const leaf = path.split('/').at(-1) ?? '';
    const whiteout = leaf.startsWith('.wh.') && leaf !== '.wh..wh..opq';
    // docker's overlay2 driver writes a layer's whiteouts as hard links of one another when the
    // kernel gave them one inode (overlayfs reuses its whiteout inode), or as files that keep
    // the link's target in their header: a reader takes a `.wh.` name as a whiteout whatever
    // its type and target, so a whiteout is recorded as the empty file it stands for.
    if (whiteout && header.type === 'link') {
      record.type = 'file';
      record.size = 0;
      record.sha256 = emptySha256;
    } else if (header.linkname !== '' && !whiteout) record.linkname = nameRecord(header.linkname);
    if (header.type === 'file') {
      const hash = createHash('sha256');
      let size = 0;
      for await (const chunk of entry.body) {
        hash.update(chunk);
        size += chunk.length;
      }
      record.size = size;
      record.sha256 = hash.digest('hex');
    }
    // Each name with its value in hex: a file capability's or an ACL's bits are what differ.
    if (header.xattrs.size > 0) record.xattrs = [...header.xattrs].map(([name, value]) => `${name}=${value.toString('hex')}`).sort();
    if (header.type === 'character-device' || header.type === 'block-device') record.device = `${header.devmajor}:${header.devminor}`;
    entries.push(record);
  }
  return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

interface ConfigJson {
  author?: string;
  architecture?: string;
  os?: string;
  config?: Record<string, unknown>;
  history?: Array<Record<string, unknown>>;
  rootfs?: { diff_ids?: unknown[] };
}

/** The record of an image from its config JSON and its layers' uncompressed tars (base first). */
export async function imageRecord(configBytes: Buffer, layers: ReadonlyArray<() => AsyncIterable<Uint8Array>>, baseLayerCount: number): Promise<ImageRecord> {
  const config = JSON.parse(configBytes.toString('utf8')) as ConfigJson;
  const history = (config.history ?? []).map((entry) => {
    const record: HistoryRecord = {};
    if (typeof entry.created_by === 'string') record.created_by = entry.created_by;
    if (typeof entry.comment === 'string') record.comment = entry.comment;
    if (typeof entry.author === 'string') record.author = entry.author;
    if (entry.empty_layer === true) record.empty_layer = true;
    return record;
  });
  const added: EntryRecord[][] = [];
  for (const open of layers.slice(baseLayerCount)) added.push(await layerRecord(open()));
  return {
    fields: Object.keys(config)
      .filter((key) => key !== 'created')
      .sort(),
    ...(config.author === undefined ? {} : { author: config.author }),
    ...(config.architecture === undefined ? {} : { architecture: config.architecture }),
    ...(config.os === undefined ? {} : { os: config.os }),
    config: sortKeys(config.config ?? {}) as Record<string, unknown>,
    history,
    layerCount: layers.length,
    baseLayerCount,
    layers: added,
    configText: configBytes
      .toString('utf8')
      .replace(/"created":"[^"]*"/g, '"created":"(time)"')
      .replace(/"sha256:[0-9a-f]{64}"/g, '"(diff ID)"'),
  };
}

/**
 * Copies case directory SOURCE to TARGET as a build context: files 0644 (0755 when executable
 * in the checkout), directories 0755, then the case's `setup.sh` (run in TARGET, then removed)
 * makes what git cannot hold (modes, links, tars), then every entry's mtime is `contextEpoch`.
 */
export async function prepareContext(source: string, target: string): Promise<void> {
  await rm(target, { recursive: true, force: true });
  await cp(source, target, { recursive: true, verbatimSymlinks: true });
  const normalize = async (dir: string): Promise<void> => {
    await chmod(dir, 0o755);
    for (const name of await readdir(dir)) {
      const path = join(dir, name);
      const info = await lstat(path);
      if (info.isDirectory()) await normalize(path);
      else if (info.isFile()) await chmod(path, (info.mode & 0o100) !== 0 ? 0o755 : 0o644);
    }
  };
  await normalize(target);
  const setup = join(target, 'setup.sh');
  const hasSetup = await lstat(setup).then(
    () => true,
    () => false,
  );
  if (hasSetup) {
    execFileSync('sh', ['-eu', setup], { cwd: target, stdio: 'pipe', env: { ...process.env, TZ: 'UTC', LC_ALL: 'C' } });
    await rm(setup);
  }
  await rm(join(target, 'case.json'), { force: true });
  await rm(join(target, 'served'), { recursive: true, force: true });
  const epoch = new Date(contextEpoch);
  // Paths as bytes: a setup script may make names that are not UTF-8.
  const touch = async (path: Buffer): Promise<void> => {
    const info = await lstat(path);
    if (info.isDirectory()) for (const name of await readdir(path, { encoding: 'buffer' })) await touch(Buffer.concat([path, Buffer.from('/'), name]));
    if (info.isSymbolicLink()) await lutimes(path, epoch, epoch);
    else await utimes(path, epoch, epoch);
  };
  await touch(Buffer.from(target));
}

/** A readable difference of two records: one line per differing field, empty when equal. */
export function recordDiff(expected: ImageRecord, actual: ImageRecord): string[] {
  const lines: string[] = [];
  const show = (value: unknown): string => JSON.stringify(value);
  for (const key of ['fields', 'author', 'architecture', 'os', 'layerCount', 'baseLayerCount'] as const) {
    if (show(expected[key]) !== show(actual[key])) lines.push(`${key}: BuildKit ${show(expected[key])}, tsbuild ${show(actual[key])}`);
  }
  const keys = new Set([...Object.keys(expected.config), ...Object.keys(actual.config)]);
  for (const key of [...keys].sort()) {
    const want = show(expected.config[key]);
    const got = show(actual.config[key]);
    if (want !== got) lines.push(`config.${key}: BuildKit ${want ?? '(absent)'}, tsbuild ${got ?? '(absent)'}`);
  }
  const historyLength = Math.max(expected.history.length, actual.history.length);
  for (let index = 0; index < historyLength; index++) {
    const want = show(expected.history[index]);
    const got = show(actual.history[index]);
    if (want !== got) lines.push(`history[${index}]: BuildKit ${want ?? '(absent)'}, tsbuild ${got ?? '(absent)'}`);
  }
  // Only where config and history matched as values: the text then shows just how they were written.
  if (lines.length === 0 && expected.configText !== undefined && expected.configText !== actual.configText) {
    lines.push(`config text: BuildKit ${expected.configText}, tsbuild ${actual.configText ?? '(absent)'}`);
  }
  const layerLength = Math.max(expected.layers.length, actual.layers.length);
  for (let index = 0; index < layerLength; index++) {
    const want = new Map((expected.layers[index] ?? []).map((entry) => [entry.path, entry]));
    const got = new Map((actual.layers[index] ?? []).map((entry) => [entry.path, entry]));
    const layer = `layer ${index + expected.baseLayerCount}`;
    for (const path of [...new Set([...want.keys(), ...got.keys()])].sort()) {
      const a = want.get(path);
      const b = got.get(path);
      if (a === undefined) lines.push(`${layer}: ${path}: only tsbuild has it ${show(b)}`);
      else if (b === undefined) lines.push(`${layer}: ${path}: only BuildKit has it ${show(a)}`);
      else {
        const fields = new Set([...Object.keys(a), ...Object.keys(b)]) as Set<keyof EntryRecord>;
        const differing = [...fields].filter((field) => show(a[field]) !== show(b[field]));
        if (differing.length > 0) lines.push(`${layer}: ${path}: ${differing.map((field) => `${field} BuildKit ${show(a[field]) ?? '-'} tsbuild ${show(b[field]) ?? '-'}`).join(', ')}`);
      }
    }
  }
  return lines;
}

/**
 * Serves the files of DIR on 127.0.0.1:PORT for a case's ADD of URLs (case.json `serve`), each
 * with `contextEpoch` as its Last-Modified, until the returned stop is called.
 */
export async function serveDirectory(dir: string, port: number): Promise<() => Promise<void>> {
  const lastModified = new Date(contextEpoch).toUTCString();
  const server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://localhost').pathname);
    if (path.split('/').includes('..')) {
      response.writeHead(400).end();
      return;
    }
    // Below `gzip-encoded/` a file is sent gzipped with Content-Encoding: gzip, as servers that
    // compress their responses send it; below `labelled-ENCODING/` it is sent as it is with
    // Content-Encoding: ENCODING, as servers send a .gz file mislabelled; below `undated/`
    // without Last-Modified, below `iso-dated/` with it in ISO 8601 (no HTTP date).
    const labelled = /^\/labelled-([^/]+)\//.exec(path)?.[1];
    const gzipped = path.startsWith('/gzip-encoded/');
    const date = path.startsWith('/undated/') ? {} : { 'last-modified': path.startsWith('/iso-dated/') ? contextEpoch : lastModified };
    readFile(join(dir, path)).then(
      (file) => {
        const content = gzipped ? gzipSync(file) : file;
        const encoding = gzipped ? 'gzip' : labelled;
        response
          .writeHead(200, { 'content-length': content.length, ...date, 'content-type': 'application/octet-stream', ...(encoding === undefined ? {} : { 'content-encoding': encoding }) })
          .end(content);
      },
      () => response.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}
