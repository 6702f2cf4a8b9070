/**
 * Ad-hoc comparison of one or more build contexts with BuildKit (docker 26.1's engine, the peers
 * of /work/shared/peers): each DIR (a Dockerfile and its context, laid out as a case of
 * test/parity/cases: optional setup.sh and case.json) is built by BuildKit (`--no-cache`,
 * `docker save`) and by tsbuild (`bin/tsbuild.js build --root` a throwaway root, after
 * `npm run prepare`), both images go through test/parity/record.ts, and the records are diffed
 * entry by entry, base layers included (any base: both builders pull the same registry image, so
 * the base layers' diff IDs must match too). Unlike the corpus this needs no golden file, and a
 * base with a package manager (FROM 127.0.0.1:5000/library/debian:bookworm-slim, apt-get in RUN)
 * works as long as both builders reach the network.
 *
 *   npx tsx scripts/buildkit-compare.ts [--twice] [--keep DIR] CONTEXT…
 *
 * --twice builds with BuildKit a second time and reports, apart, what differs between
 * BuildKit's own two builds (run-to-run noise: logs and caches apt writes with times and ids),
 * leaving out of tsbuild's differences the entries of those noisy paths; a difference in the
 * content alone of a log, a cache (ldconfig's, fontconfig's) or byte code that holds times, or
 * of a secret a package makes at random on install (ssl-cert's snakeoil pair, rabbitmq's erlang
 * cookie), or of a database or keystore that differs between any two runs (postfix's aliases.db,
 * the Java truststore) (`noisyContent`) is always taken as noise, and shown marked so. --keep DIR
 * writes both records of each context to DIR/NAME.{buildkit,tsbuild}.json for a closer look.
 * Exits 1 when any context differs (beyond the noise).
 */
import { execFile, execFileSync } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { formatReference, parseReference } from '../src/common/index.js';
import { decompressLayer, openStore, resolveImage, type Store } from '../src/store/index.js';
import { caseBuildFlags, imageRecord, prepareContext, recordDiff, serveDirectory, type ImageRecord, type CaseOptions, peerDocker as docker, peerDockerEnv as dockerEnv } from '../test/parity/record.js';

const repository = fileURLToPath(new URL('..', import.meta.url));

async function runFile(file: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)(file, args, { env, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    return stdout;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(`${basename(file)} ${args.join(' ')}: ${(error as Error).message}\n${stderr.slice(-4000)}`);
  }
}

const runDocker = (args: readonly string[]): Promise<string> => runFile(docker, args, dockerEnv);

/** BuildKit's image of CONTEXT as a record of every layer (base included), and its diff IDs. */
async function buildKitRecord(context: string, options: CaseOptions, tag: string, work: string): Promise<{ record: ImageRecord; diffIds: string[] }> {
  await runDocker(['builder', 'prune', '-f', '--filter', 'type=source.local']);
  await runDocker(['build', '--no-cache', '--network', 'host', '-q', '-t', tag, ...caseBuildFlags(options, context), context]);
  const dir = join(work, 'save');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await runDocker(['save', '-o', join(dir, 'image.tar'), tag]);
  execFileSync('tar', ['-xf', join(dir, 'image.tar'), '-C', dir]);
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Array<{ Config: string; Layers: string[] }>;
  const first = manifest[0];
  if (first === undefined) throw new Error(`docker save ${tag}: no manifest`);
  const configBytes = await readFile(join(dir, first.Config));
  const record = await imageRecord(
    configBytes,
    first.Layers.map((layer) => () => createReadStream(join(dir, layer))),
    0,
  );
  const diffIds = (JSON.parse(configBytes.toString('utf8')) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids;
  await runDocker(['rmi', '-f', tag]);
  await rm(dir, { recursive: true, force: true });
  return { record, diffIds };
}

async function* layerOf(store: Store, digest: Parameters<Store['openBlob']>[0], mediaType: string): AsyncGenerator<Uint8Array> {
  yield* decompressLayer(await store.openBlob(digest), mediaType);
}

/**
 * tsbuild's image of CONTEXT, built in a throwaway root, as a record of every layer; with
 * `--network host` as BuildKit's build is (which also grants RUN --network=host).
 */
async function tsbuildRecord(context: string, options: CaseOptions, tag: string, work: string): Promise<{ record: ImageRecord; diffIds: string[] }> {
  const root = join(work, 'root');
  await runFile(process.execPath, [join(repository, 'bin/tsbuild.js'), 'build', '--root', root, '--no-cache', '--network', 'host', '--progress', 'plain', '-t', tag, ...caseBuildFlags(options, context), context], process.env);
  const store = await openStore({ root });
  const descriptor = await store.resolveReference(formatReference(parseReference(tag)));
  if (descriptor === undefined) throw new Error(`no image ${tag} in ${root}`);
  const image = await resolveImage(store, descriptor);
  const record = await imageRecord(
    image.configBytes,
    image.manifest.layers.map((layer) => () => layerOf(store, layer.digest, layer.mediaType)),
    0,
  );
  return { record, diffIds: [...image.config.rootfs.diff_ids] };
}

/** The paths a difference line names (`layer N: PATH: …`), to tell noise from a difference. */
function linePath(line: string): string | undefined {
  return /^layer \d+: (.*?): /.exec(line)?.[1];
}

/**
 * Files whose bytes hold the time or the inodes of the run that wrote them, the same in type,
 * mode, owner and size from one build to the next: logs (apt, dpkg, alternatives), ldconfig's
 * aux-cache (inode numbers and ctimes), debconf's and dpkg's `-old` backups, and byte code that
 * holds its source's mtime. Only a difference of their content alone is taken as noise.
 */
// A kept .git's index holds the checkout's stat data (times, inodes); ssl-cert's postinst makes a
// new snakeoil key pair (and a certificate of it) on every install, rabbitmq-server's a new cookie;
// newaliases writes postfix's aliases.db, a Berkeley DB file, with other bytes on every run;
// ca-certificates-java's Java truststore holds the time each certificate was added; fontconfig's
// caches hold the mtimes of the font directories they list; Perl's perllocal.pod, which
// ExtUtils::MakeMaker appends to on every install, holds the time of the install; autom4te's
// cache lists its requests by Data::Dumper of Perl hashes, in an order that changes every run.
const noisyContent = [/^var\/log\//, /^var\/cache\/ldconfig\/aux-cache$/, /-old$/, /\.pyc$/, /(^|\/)\.git\/index$/, /^etc\/ssl\/(certs|private)\/ssl-cert-snakeoil\.(pem|key)$/, /^var\/lib\/rabbitmq\/\.erlang\.cookie$/, /^etc\/aliases\.db$/, /^etc\/ssl\/certs\/java\/cacerts$/, /^var\/cache\/fontconfig\/[^/]+\.cache-\d+$/, /(^|\/)perllocal\.pod$/, /(^|\/)autom4te\.cache\/requests$/];

function isContentNoise(line: string): boolean {
  const match = /^layer \d+: (.*?): sha256 BuildKit "[0-9a-f]+" tsbuild "[0-9a-f]+"$/.exec(line);
  return match !== null && noisyContent.some((pattern) => pattern.test(match[1] ?? ''));
}

async function compare(source: string, work: string, twice: boolean, keep: string | undefined): Promise<boolean> {
  const name = basename(source);
  const options = existsSync(join(source, 'case.json')) ? (JSON.parse(await readFile(join(source, 'case.json'), 'utf8')) as CaseOptions) : {};
  const context = join(work, 'context', name);
  await prepareContext(source, context);
  const tag = `compare-${name.toLowerCase()}:latest`;
  const stop = options.serve === undefined ? undefined : await serveDirectory(join(source, 'served'), options.serve.port);
  try {
    const buildKit = await buildKitRecord(context, options, tag, work);
    const noise = new Set<string>();
    if (twice) {
      const again = await buildKitRecord(context, options, tag, work);
      for (const line of recordDiff(buildKit.record, again.record)) {
        process.stdout.write(`  noise (BuildKit against itself, "tsbuild" naming its second build): ${line}\n`);
        const path = linePath(line);
        if (path !== undefined) noise.add(path);
      }
    }
    const tsbuild = await tsbuildRecord(context, options, tag, work);
    if (keep !== undefined) {
      await mkdir(keep, { recursive: true });
      await writeFile(join(keep, `${name}.buildkit.json`), `${JSON.stringify(buildKit.record, null, 1)}\n`);
      await writeFile(join(keep, `${name}.tsbuild.json`), `${JSON.stringify(tsbuild.record, null, 1)}\n`);
    }
    const sameDiffIds = buildKit.diffIds.map((id, index) => (tsbuild.diffIds[index] === id ? '=' : 'x')).join('');
    process.stdout.write(`  diff IDs (BuildKit ${buildKit.diffIds.length}, tsbuild ${tsbuild.diffIds.length} layers): ${sameDiffIds}\n`);
    const lines = recordDiff(buildKit.record, tsbuild.record);
    const genuine = lines.filter((line) => !noise.has(linePath(line) ?? '') && !isContentNoise(line));
    for (const line of lines) process.stdout.write(`  ${genuine.includes(line) ? '' : '(noise) '}${line}\n`);
    return genuine.length === 0;
  } finally {
    await stop?.();
    await rm(join(work, 'root'), { recursive: true, force: true });
    await rm(context, { recursive: true, force: true });
  }
}

const argv = process.argv.slice(2);
let twice = false;
let keep: string | undefined;
const sources: string[] = [];
for (let index = 0; index < argv.length; index++) {
  const arg = argv[index] ?? '';
  if (arg === '--twice') twice = true;
  else if (arg === '--keep') keep = resolve(argv[++index] ?? '.');
  else sources.push(arg);
}
if (sources.length === 0) {
  process.stderr.write('usage: npx tsx scripts/buildkit-compare.ts [--twice] [--keep DIR] CONTEXT…\n');
  process.exit(2);
}
const work = await mkdtemp(join(tmpdir(), 'buildkit-compare-'));
let failed = false;
try {
  for (const source of sources) {
    process.stdout.write(`${basename(source)}\n`);
    try {
      const same = await compare(resolve(source), work, twice, keep);
      process.stdout.write(same ? `ok ${basename(source)}\n` : `DIFFERS ${basename(source)}\n`);
      if (!same) failed = true;
    } catch (error) {
      failed = true;
      process.stdout.write(`FAILED ${basename(source)}: ${(error as Error).message}\n`);
    }
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
if (failed) process.exitCode = 1;
