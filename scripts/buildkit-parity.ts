/**
 * Writes the golden records of the BuildKit parity corpus: every case under
 * test/parity/cases/NAME/ (a Dockerfile and its context) is built by BuildKit (docker 26.1's
 * engine, the peers of /work/shared/peers), the image is saved, and its normalized record is
 * written to test/parity/golden/NAME.json. test/parity/parity.test.ts builds the same cases
 * with tsbuild and compares. Needs the peers: `setup.sh` (the registry on 127.0.0.1:5000 with
 * library/busybox:latest) and `docker26.sh`.
 *
 *   npx tsx scripts/buildkit-parity.ts [NAME…]        (no names: every case)
 *
 * A case directory may hold, besides the Dockerfile and context files:
 *   setup.sh   run with sh in the copied context before the build (links, modes, tars: what git
 *              cannot hold), then removed from it;
 *   case.json  {"args": {"NAME": "VALUE"}, "target": "STAGE", "file": "PATH", "serve": {"port": N},
 *              "contexts": {"NAME": "DIR"}}: build arguments, target, a port on 127.0.0.1 where
 *              the case's `served/` directory is served over http during the build (for ADD of
 *              URLs; Last-Modified is the context's time), and named contexts (--build-context
 *              NAME= the case's directory DIR, or a docker-image:// reference); case.json and
 *              served/ are removed from the context.
 * Every context entry's mtime is then set to 2020-01-01T00:00:00Z, so that where BuildKit keeps
 * a source's mtime the record holds it.
 *
 * Normalized away, and why:
 *   - `created` of the config and of each history entry: the time of the build.
 *   - Any entry mtime at or after 2025-01-01 becomes `build-time`: the inputs fix every time
 *     before that (context files, tar members, the base), so a later one is when the step ran
 *     (a directory a RUN wrote into, a parent a COPY made); the record still says which entries
 *     have one, so a copied mtime turned into the build's time (or back) is a difference.
 *   - The base image's layers: BuildKit's base is the peers' registry image, tsbuild's the same
 *     entries rebuilt from golden/_base.json by the test (CI has no registry), so their blobs
 *     differ; the base's entries are recorded once in _base.json and the test checks its replica
 *     against them. Records hold the layers a build added, and the count of all layers.
 *   - Layer digests, compression, the order of entries in a layer (sorted by path), uname and
 *     gname (not what a container sees), image IDs and manifests.
 *   - A whiteout (`.wh.NAME`) is recorded as an empty file without a link target: docker's
 *     overlay2 driver, which writes the layers of BuildKit's images in docker, writes a second
 *     whiteout of a layer as a regular file that keeps a hard link's target in its header (or
 *     as a hard link) when overlayfs gave the whiteouts one inode (kernels since 5.8 share
 *     one); a reader of the layer treats a `.wh.` name as a whiteout whatever its type and target.
 * Kept exactly: the config object (Env, Cmd, Entrypoint, WorkingDir, User, ExposedPorts,
 * Volumes, Labels, StopSignal, Healthcheck, Shell, OnBuild, ArgsEscaped, absent vs empty),
 * os/architecture, history's created_by, comment and empty_layer, and per entry: path, type,
 * permission bits with setuid/setgid/sticky, uid, gid, link target, size, content's sha256,
 * xattr names and values, device numbers.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { readTar } from '../src/common/index.js';
import { baseReference, caseBuildFlags, imageRecord, prepareContext, serveDirectory, type EntryRecord, type CaseOptions, peerDocker as docker, peerDockerEnv as dockerEnv } from '../test/parity/record.js';

const repository = fileURLToPath(new URL('..', import.meta.url));
const casesDir = join(repository, 'test/parity/cases');
const goldenDir = join(repository, 'test/parity/golden');

/** The build, not blocking: a case's http server answers from this process meanwhile. */
async function runAsync(args: readonly string[]): Promise<void> {
  try {
    await promisify(execFile)(docker, args, { env: dockerEnv, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(`docker ${args.join(' ')}: ${(error as Error).message}\n${stderr}`);
  }
}

function run(args: readonly string[]): string {
  try {
    return execFileSync(docker, args, { env: dockerEnv, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(`docker ${args.join(' ')}: ${(error as Error).message}\n${stderr}`);
  }
}

interface SavedImage {
  readonly configBytes: Buffer;
  readonly layerPaths: readonly string[];
  readonly diffIds: readonly string[];
}

/** `docker save` of NAME unpacked into DIR: its config and its layers' (uncompressed) tars. */
async function saveImage(name: string, dir: string): Promise<SavedImage> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const archive = join(dir, 'image.tar');
  run(['save', '-o', archive, name]);
  execFileSync('tar', ['-xf', archive, '-C', dir]);
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Array<{ Config: string; Layers: string[] }>;
  const first = manifest[0];
  if (first === undefined) throw new Error(`docker save ${name}: no manifest`);
  const configBytes = await readFile(join(dir, first.Config));
  const config = JSON.parse(configBytes.toString('utf8')) as { rootfs: { diff_ids: string[] } };
  return { configBytes, layerPaths: first.Layers.map((layer) => join(dir, layer)), diffIds: config.rootfs.diff_ids };
}

function commonPrefix(a: readonly string[], b: readonly string[]): number {
  let length = 0;
  while (length < a.length && length < b.length && a[length] === b[length]) length++;
  return length;
}

/** The base's entries with the content of its small files, which the test writes back. */
async function writeBase(work: string): Promise<readonly string[]> {
  run(['pull', '-q', baseReference]);
  const saved = await saveImage(baseReference, join(work, 'base'));
  const layers: Array<Array<EntryRecord & { text?: string }>> = [];
  for (const path of saved.layerPaths) {
    const entries: Array<EntryRecord & { text?: string }> = [];
    for await (const entry of readTar(createReadStream(path))) {
      const header = entry.header;
      const record: EntryRecord & { text?: string } = {
        path: header.name.replace(/^\.\//, '').replace(/\/+$/, ''),
        type: header.type,
        mode: (header.mode & 0o7777).toString(8).padStart(4, '0'),
        uid: header.uid,
        gid: header.gid,
        mtime: new Date(header.mtime * 1000).toISOString().replace('.000Z', 'Z'),
      };
      if (header.linkname !== '') record.linkname = header.linkname;
      if (header.type === 'file') {
        const chunks: Buffer[] = [];
        for await (const chunk of entry.body) chunks.push(chunk);
        const content = Buffer.concat(chunks);
        record.size = content.length;
        record.sha256 = createHash('sha256').update(content).digest('hex');
        if (content.length <= 4096) record.text = content.toString('utf8');
      }
      entries.push(record);
    }
    layers.push(entries);
  }
  const config = JSON.parse(saved.configBytes.toString('utf8')) as Record<string, unknown>;
  const base = { reference: baseReference, config: config.config, architecture: config.architecture, os: config.os, history: config.history, created: config.created, layers };
  await writeFile(join(goldenDir, '_base.json'), `${JSON.stringify(base, null, 1)}\n`);
  return saved.diffIds;
}

async function goldenCase(name: string, work: string, baseDiffIds: readonly string[]): Promise<void> {
  const source = join(casesDir, name);
  const options = existsSync(join(source, 'case.json')) ? (JSON.parse(await readFile(join(source, 'case.json'), 'utf8')) as CaseOptions) : {};
  const context = join(work, 'context', name);
  await prepareContext(source, context);
  const tag = `parity-${name}:latest`;
  // --no-cache: BuildKit's cache key of a COPY from the context ignores directory mtimes, so a
  // warm daemon would hand back the layer of an earlier build of equal content, with the
  // directory times that build's context transfer left (the time it removed or added a child).
  // The context transfer is incremental against the daemon's kept copy of an earlier context,
  // and it takes a file of the same size and mtime as unchanged: every context file has the
  // corpus's one mtime, so a setup.sh that changes a file's bytes but not its size would leave
  // the old bytes. Dropping the kept copies first makes every transfer whole.
  run(['builder', 'prune', '-f', '--filter', 'type=source.local']);
  const args = ['build', '--no-cache', '--network', 'host', '-q', '-t', tag, ...caseBuildFlags(options, context)];
  const stop = options.serve === undefined ? undefined : await serveDirectory(join(source, 'served'), options.serve.port);
  try {
    await runAsync([...args, context]);
  } finally {
    await stop?.();
  }
  const saved = await saveImage(tag, join(work, 'save', name));
  const record = await imageRecord(
    saved.configBytes,
    saved.layerPaths.map((path) => () => createReadStream(path)),
    commonPrefix(saved.diffIds, baseDiffIds),
  );
  await writeFile(join(goldenDir, `${name}.json`), `${JSON.stringify(record, null, 1)}\n`);
  run(['rmi', '-f', tag]);
}

const work = await mkdtemp(join(tmpdir(), 'buildkit-parity-'));
try {
  await mkdir(goldenDir, { recursive: true });
  const baseDiffIds = await writeBase(work);
  const wanted = process.argv.slice(2);
  const names = wanted.length > 0 ? wanted : (await readdir(casesDir)).sort();
  const failed: string[] = [];
  for (const name of names) {
    try {
      await goldenCase(name, work, baseDiffIds);
      process.stdout.write(`ok ${name}\n`);
    } catch (error) {
      failed.push(name);
      process.stdout.write(`FAILED ${name}: ${(error as Error).message}\n`);
    }
  }
  if (failed.length > 0) process.exitCode = 1;
} finally {
  await rm(work, { recursive: true, force: true });
}
