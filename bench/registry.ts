/**
 * Push and pull of an image of three layers (about 300 MB in all) to and from a local
 * docker-registry, against `skopeo copy` of the same image in the same run, plus a push whose
 * blobs the registry already has. Both tools read and write OCI layouts: tsbuild's store is one.
 * tsbuild runs as installed (`bin/tsbuild.js`, built by `npm run build`).
 *
 *   npm run bench registry            (BENCH_LAYER_MB=100 by default)
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { createGzip } from 'node:zlib';
import { MediaType, hostPlatform, type Descriptor, type Digest } from '../src/common/index.js';
import { openStore, type ContentStore } from '../src/store/index.js';
import { startRegistry } from '../test/helpers/registry.js';

const layerMb = Number(process.env.BENCH_LAYER_MB ?? '100');
const root = new URL('..', import.meta.url).pathname;

interface Measure {
  readonly seconds: number;
  readonly maxRssMb: number;
}

function timed(command: string, args: readonly string[]): Measure & { stdout: string } {
  // Each command starts with nothing left for the disk to write from the one before: a 300 MB
  // push leaves its data to be written back for the next command to wait on (an fsync on ext4
  // waits for all of it), which would charge one tool for the other's work.
  spawnSync('sync');
  const result = spawnSync('/usr/bin/time', ['-f', '%e %M', command, ...args], { encoding: 'utf8', cwd: root, maxBuffer: 16 << 20 });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr.slice(-2000)}`);
  const last = result.stderr.trim().split('\n').at(-1) ?? '';
  const [seconds, kb] = last.split(' ').map(Number);
  return { seconds: seconds ?? Number.NaN, maxRssMb: (kb ?? Number.NaN) / 1024, stdout: result.stdout };
}

const cli = join(root, 'bin', 'tsbuild.js');

/** The installed command (the bundled CLI under bin/), as a user runs it. */
function tsbuild(operation: 'pull' | 'push', storeRoot: string, reference: string, destination?: string): Measure {
  const args = operation === 'pull' ? ['pull', '--quiet', '--root', storeRoot, reference] : ['push', '--quiet', '--root', storeRoot, reference, ...(destination === undefined ? [] : [destination])];
  return timed(process.execPath, [cli, ...args]);
}

function skopeo(...args: string[]): Measure {
  return timed('skopeo', ['copy', '--quiet', '--src-tls-verify=false', '--dest-tls-verify=false', ...args]);
}

/** A gzipped tar of one file of random bytes, streamed into the store, never held whole. */
async function writeLayer(store: ContentStore, bytes: number): Promise<{ descriptor: Descriptor; diffId: Digest }> {
  const header = Buffer.alloc(512);
  header.write('random.bin', 0);
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(`${bytes.toString(8).padStart(11, '0')}\0`, 124);
  header.write('00000000000\0', 136);
  header.write('        ', 148);
  header.write('0', 156);
  header.write('ustar\0', 257);
  header.write('00', 263);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const padding = (512 - (bytes % 512)) % 512;
  const diff = createHash('sha256');
  const compressed = createHash('sha256');
  async function* tar(): AsyncGenerator<Buffer> {
    yield header;
    for (let left = bytes; left > 0; left -= 1 << 20) yield randomBytes(Math.min(left, 1 << 20));
    yield Buffer.alloc(padding + 1024);
  }
  const gzip = createGzip({ level: 1 });
  let size = 0;
  // Counted in the pipeline, not by a 'data' listener: that would start the flow before the
  // store reads, and the store would miss the first chunks.
  const counted = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      compressed.update(chunk);
      size += chunk.length;
      callback(null, chunk);
    },
  });
  Readable.from(
    (async function* () {
      for await (const chunk of tar()) {
        diff.update(chunk);
        yield chunk;
      }
    })(),
  )
    .pipe(gzip)
    .pipe(counted);
  const info = await store.putBlob(counted);
  if (info.digest !== `sha256:${compressed.digest('hex')}` || info.size !== size) throw new Error('layer digest disagrees with the store');
  return { descriptor: { mediaType: MediaType.ociLayerGzip, digest: info.digest, size: info.size }, diffId: `sha256:${diff.digest('hex')}` as Digest };
}

async function putJson(store: ContentStore, value: unknown, mediaType: string): Promise<Descriptor> {
  const bytes = Buffer.from(JSON.stringify(value));
  const info = await store.putBlob(Readable.from([bytes]));
  return { mediaType, digest: info.digest, size: info.size };
}

const rounds = Math.max(1, Number(process.env.BENCH_ROUNDS ?? '3'));
const scratch = await mkdtemp(join(tmpdir(), 'tsbuild-bench-registry-'));
try {
  const sourceRoot = join(scratch, 'source');
  const store = await openStore({ root: sourceRoot });
  const layers = [];
  for (let i = 0; i < 3; i++) layers.push(await writeLayer(store, layerMb * 1_000_000));
  const platform = hostPlatform();
  const config = await putJson(
    store,
    { architecture: platform.architecture, os: platform.os, rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.diffId) }, config: {} },
    MediaType.ociConfig,
  );
  const manifest = await putJson(store, { schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: layers.map((layer) => layer.descriptor) }, MediaType.ociManifest);
  // Named after no registry of the run, so that no cross-repository mount is attempted.
  const name = 'bench.invalid/bench/image:1';
  await store.setReference(name, manifest);
  const total = layers.reduce((sum, layer) => sum + layer.descriptor.size, 0);
  process.stdout.write(`image: 3 layers, ${(total / 1e6).toFixed(0)} MB; node ${process.version}; ${os.cpus().length} CPUs; median of ${rounds} rounds\n\n`);

  const operations = ['push', 'pull', 'push, blobs present'] as const;
  const results = new Map<string, { ours: Measure[]; theirs: Measure[] }>(operations.map((label) => [label, { ours: [], theirs: [] }]));
  for (let round = 0; round < rounds; round++) {
    // Fresh registries each round, one per tool, so that neither finds blobs the other uploaded.
    const ours = await startRegistry();
    const theirs = await startRegistry();
    try {
      const record = (label: string, mine: Measure, other: Measure): void => {
        results.get(label)?.ours.push(mine);
        results.get(label)?.theirs.push(other);
      };
      // Alternate which tool goes first, so that neither always meets a cold or a warm page cache.
      const pair = <A, B>(first: () => A, second: () => B): [A, B] => {
        if (round % 2 === 0) {
          const a = first();
          return [a, second()];
        }
        const b = second();
        return [first(), b];
      };
      record('push', ...pair(() => tsbuild('push', sourceRoot, name, `${ours.host}/bench/image:1`), () => skopeo(`oci:${sourceRoot}:${name}`, `docker://${theirs.host}/bench/image:1`)));
      record(
        'pull',
        ...pair(
          () => tsbuild('pull', join(scratch, `pull-tsbuild-${round}`), `${ours.host}/bench/image:1`),
          () => skopeo(`docker://${theirs.host}/bench/image:1`, `oci:${join(scratch, `pull-skopeo-${round}`)}:image`),
        ),
      );
      // Another tag of the same repository: every blob is already there.
      record(
        'push, blobs present',
        ...pair(() => tsbuild('push', sourceRoot, name, `${ours.host}/bench/image:2`), () => skopeo(`oci:${sourceRoot}:${name}`, `docker://${theirs.host}/bench/image:2`)),
      );
    } finally {
      await ours.stop();
      await theirs.stop();
      await rm(join(scratch, `pull-tsbuild-${round}`), { recursive: true, force: true });
      await rm(join(scratch, `pull-skopeo-${round}`), { recursive: true, force: true });
    }
  }

  const median = (values: readonly number[]): number => {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
  };
  process.stdout.write('| operation | tsbuild s | tsbuild peak RSS MB | skopeo s | skopeo peak RSS MB | tsbuild / skopeo |\n|---|---|---|---|---|---|\n');
  for (const label of operations) {
    const entry = results.get(label);
    if (entry === undefined) continue;
    const mine = median(entry.ours.map((item) => item.seconds));
    const other = median(entry.theirs.map((item) => item.seconds));
    process.stdout.write(
      `| ${label} | ${mine.toFixed(2)} | ${Math.max(...entry.ours.map((item) => item.maxRssMb)).toFixed(0)} | ${other.toFixed(2)} | ${Math.max(...entry.theirs.map((item) => item.maxRssMb)).toFixed(0)} | ${(mine / other).toFixed(2)} |\n`,
    );
  }
  process.stdout.write('\npeak RSS is the largest of the rounds; times are medians of whole commands, start-up included.\n');
  process.stdout.write('each round, tsbuild s / skopeo s:\n');
  for (const label of operations) {
    const entry = results.get(label);
    if (entry === undefined) continue;
    const rounds = entry.ours.map((mine, index) => `${mine.seconds.toFixed(2)}/${entry.theirs[index]?.seconds.toFixed(2) ?? '?'}`);
    process.stdout.write(`  ${label}: ${rounds.join('  ')}\n`);
  }
} finally {
  await rm(scratch, { recursive: true, force: true });
}
