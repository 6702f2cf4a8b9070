/**
 * Layer compression does not depend on the machine: the same file tree gives the same gzip and
 * zstd blobs on one core with one thread-pool thread as on two cores with four, and in another
 * place on disk; gzip(1) and zstd(1) read what was written back to the tar the diff ID names.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, scratchDir, toolExists } from '../runtime/helpers.js';

let dir: string;
let tree: string;

/** Bytes that look like a program's: text that deflates, and a stretch that does not (a seeded generator's). */
function content(seed: number, size: number): Buffer {
  const bytes = Buffer.alloc(size);
  let state = seed;
  for (let i = 0; i < size; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    bytes[i] = i % 4096 < 3000 ? 97 + ((state >>> 16) % 7) : state >>> 24;
  }
  return bytes;
}

/** Writes the layer of ROOT with each compression in a process of its own, under taskset CPUS; their digests and diff IDs. */
function layerDigests(root: string, cpus: string, threads: number): { parallelism: number; gzip: string[]; zstd: string[] } {
  const script = join(dir, 'write-layers.mts');
  writeFileSync(
    script,
    [
      "import { availableParallelism } from 'node:os';",
      "import { createHash } from 'node:crypto';",
      "import { writeFileSync } from 'node:fs';",
      `import { directoryEntries, writeLayer } from ${JSON.stringify(join(repoRoot, 'src/exporter/index.ts'))};`,
      'const root = process.argv[2];',
      'const out = process.argv[3];',
      'const result = { parallelism: availableParallelism() };',
      "for (const compression of ['gzip', 'zstd']) {",
      '  const chunks = [];',
      '  const sink = { async putBlob(source) { for await (const chunk of source) chunks.push(chunk); const bytes = Buffer.concat(chunks); return { digest: `sha256:${createHash("sha256").update(bytes).digest("hex")}`, size: bytes.length }; } };',
      '  const layer = await writeLayer(directoryEntries(root), sink, { compression });',
      '  writeFileSync(`${out}.${compression}`, Buffer.concat(chunks));',
      '  result[compression] = [layer.descriptor.digest, layer.diffId];',
      '}',
      'console.log(JSON.stringify(result));',
    ].join('\n'),
  );
  const out = join(dir, `blob-${cpus.replace(/,/g, '_')}-${threads}`);
  const result = spawnSync('taskset', ['-c', cpus, process.execPath, '--import', 'tsx', script, root, out], {
    cwd: repoRoot,
    encoding: 'utf8',
    env: { ...process.env, UV_THREADPOOL_SIZE: String(threads), SOURCE_DATE_EPOCH: '' },
    timeout: 120_000,
  });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  const parsed = JSON.parse(result.stdout) as { parallelism: number; gzip: string[]; zstd: string[] };
  // The blobs read back by the reference tools are the tar the diff ID names.
  const sha = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  expect(sha(execFileSync('gzip', ['-dc', `${out}.gzip`], { maxBuffer: 256 << 20 }))).toBe(parsed.gzip[1]);
  expect(sha(execFileSync('zstd', ['-dc', `${out}.zstd`], { maxBuffer: 256 << 20 }))).toBe(parsed.zstd[1]);
  return parsed;
}

beforeAll(() => {
  dir = scratchDir('tsbuild-compression-');
  tree = join(dir, 'tree');
  mkdirSync(join(tree, 'usr/lib'), { recursive: true });
  // 12 MiB in a few files: many 1 MiB gzip runs, and more than one zstd job.
  for (let n = 0; n < 4; n++) writeFileSync(join(tree, 'usr/lib', `lib${n}.so`), content(n + 1, 3 * 1024 * 1024 + n * 777));
  writeFileSync(join(tree, 'usr/readme'), 'hello\n');
  setTimes(tree);
});

/** Every entry of the test tree at one time, children before their directories. */
function setTimes(root: string): void {
  for (const path of ['usr/lib/lib0.so', 'usr/lib/lib1.so', 'usr/lib/lib2.so', 'usr/lib/lib3.so', 'usr/readme', 'usr/lib', 'usr']) utimesSync(join(root, path), 1_600_000_000, 1_600_000_000);
}

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe.runIf(toolExists('taskset') && toolExists('zstd'))('layer compression', () => {
  it('gives the same gzip and zstd blobs on one core and on two, and for a copy of the tree elsewhere', () => {
    const one = layerDigests(tree, '0', 1);
    expect(one.parallelism).toBe(1);
    const two = layerDigests(tree, '0,1', 4);
    expect(two.parallelism).toBe(2);
    expect(two).toEqual({ ...one, parallelism: 2 });
    // gzip and zstd blobs differ from each other, over the same tar.
    expect(one.gzip[0]).not.toBe(one.zstd[0]);
    expect(one.gzip[1]).toBe(one.zstd[1]);

    // The same tree elsewhere, written anew with the same times: the same layer, byte for byte.
    const copy = join(dir, 'elsewhere', 'tree');
    mkdirSync(join(dir, 'elsewhere'));
    cpSync(tree, copy, { recursive: true });
    setTimes(copy);
    expect(layerDigests(copy, '0,1', 2)).toEqual(two);
  }, 240_000);
});
