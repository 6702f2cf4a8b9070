/**
 * A bounded mutation fuzzer for tsbuild's readers of untrusted bytes: the tar reader, the layer
 * unpacker, gzip members of an ADD, registry manifests, indexes and configs, .dockerignore
 * patterns, and the Dockerfile parser and planner. Not part of the test suite: a campaign run by
 * hand, whose findings become deterministic regression tests.
 *
 *   npx tsx scripts/fuzz-parsers.ts [--target tar|unpack|gzip|documents|patterns|dockerfile|native]
 *       [--iterations N] [--seconds S] [--seed N] [--out DIR] [--slow-ms N] [--memory-mb N] [--outcomes]
 *
 * Seeds are real inputs (archives GNU tar writes in each of its formats, gzip files, documents
 * of the shapes a registry serves, the parity cases' Dockerfiles); each run mutates one with a
 * seeded PRNG, so a run is repeated by its seed. A finding is an exception that is not a
 * TsbuildError, a call slower than the time bound, or a heap grown past the memory bound; its
 * input is saved under --out. Before each call the input is written to DIR/TARGET.current, so
 * a hang that never returns leaves it behind too.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync, lstatSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync, crc32 } from 'node:zlib';
import { isTsbuildError, loadContextAddon, loadFsAddon, parseImageConfig, parseIndex, parseManifest, readTar } from '../src/common/index.js';
import { PatternMatcher, readIgnoreFile } from '../src/cache/patterns.js';
import { gzipMembers } from '../src/executor/gzip-members.js';
import { parseDockerfile } from '../src/parser/index.js';
import { resolveDockerfile } from '../src/planner/index.js';
import { parseDocument } from '../src/registry/manifest.js';
import { unpackLayer } from '../src/store/unpack.js';

interface Options {
  targets: string[];
  iterations: number;
  seconds: number;
  seed: number;
  out: string;
  /** A call slower than this is a finding. */
  slowMs: number;
  /** Heap and array buffers above this after a call are a finding. */
  memoryBytes: number;
  /** Whether to print how the runs ended (refused by which check, or read whole): what the inputs reach. */
  outcomes: boolean;
}

function parseOptions(argv: readonly string[]): Options {
  const value = (flag: string): string | undefined => {
    const index = argv.indexOf(flag);
    return index === -1 ? undefined : argv[index + 1];
  };
  return {
    targets: value('--target')?.split(',') ?? Object.keys(targets),
    iterations: Number(value('--iterations') ?? 20000),
    seconds: Number(value('--seconds') ?? 120),
    seed: Number(value('--seed') ?? 1),
    out: value('--out') ?? join(tmpdir(), 'tsbuild-fuzz'),
    slowMs: Number(value('--slow-ms') ?? 2000),
    memoryBytes: Number(value('--memory-mb') ?? 512) * 1024 * 1024,
    outcomes: argv.includes('--outcomes'),
  };
}

/** mulberry32: small, fast and good enough to pick mutations; the seed repeats a run. */
class Random {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  below(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)] as T;
  }
}

/** Values that reach parsers' edge cases more often than random bytes do. */
const interestingText = [
  '0', '-1', '1e400', '18446744073709551616', '9007199254740993', '4294967296', '77777777777', '\0', ' ', '\n', '\r\n', '/', '..', '../', '//', '.', '\\',
  '*', '**', '?', '[', ']', '[^', '!', '#', '"', "'", '`', '$', '${', '}', '{', ':', ',', '=', '%', '\uFEFF', '\u00e9', '\ud800', '\udfff', 'x'.repeat(300),
  '<<EOF\n', 'EOF', '--mount=', '--from=', 'null', 'true', '[]', '{}', '"sha256:', 'sha256:' + '0'.repeat(64), 'GNU.sparse.map=', 'GNU.sparse.major=1',
  'GNU.sparse.minor=0', 'GNU.sparse.realsize=', 'SCHILY.xattr.', 'path=', 'linkpath=', 'size=', 'mtime=',
];

function mutate(random: Random, input: Buffer, seeds: readonly Buffer[]): Buffer {
  let bytes = Buffer.from(input);
  const rounds = 1 + random.below(6);
  for (let round = 0; round < rounds; round++) {
    const at = bytes.length === 0 ? 0 : random.below(bytes.length);
    switch (random.below(9)) {
      case 0: // flip a bit
        if (bytes.length > 0) bytes[at] = (bytes[at] as number) ^ (1 << random.below(8));
        break;
      case 1: // an interesting byte
        if (bytes.length > 0) bytes[at] = random.pick([0, 0xff, 0x7f, 0x80, 0x20, 0x0a, 0x30, 0x37, 0x38, 0x2f, 0x2e, 0x5c]);
        break;
      case 2: // insert interesting text
        bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(random.pick(interestingText)), bytes.subarray(at)]);
        break;
      case 3: // overwrite with interesting text
        {
          const text = Buffer.from(random.pick(interestingText));
          text.copy(bytes, at, 0, Math.min(text.length, bytes.length - at));
        }
        break;
      case 4: // delete a run
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1 + random.below(64))]);
        break;
      case 5: // duplicate a run, sometimes many times
        {
          const run = bytes.subarray(at, at + 1 + random.below(512));
          const copies = random.below(4) === 0 ? 1 + random.below(200) : 1;
          bytes = Buffer.concat([bytes.subarray(0, at), ...Array.from({ length: copies }, () => run), bytes.subarray(at)]);
        }
        break;
      case 6: // splice in part of another seed
        {
          const other = random.pick(seeds);
          const from = other.length === 0 ? 0 : random.below(other.length);
          bytes = Buffer.concat([bytes.subarray(0, at), other.subarray(from, from + 1 + random.below(1024)), bytes.subarray(at + random.below(1024))]);
        }
        break;
      case 7: // cut the end
        bytes = bytes.subarray(0, at);
        break;
      default: // a decimal or octal number where a digit was
        if (bytes.length > 0 && (bytes[at] as number) >= 0x30 && (bytes[at] as number) <= 0x39) {
          const number = random.pick(['0', '7', '777777777777', '99999999999999999999', '1' + '0'.repeat(random.below(30)), String(random.below(1 << 30))]);
          bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(number), bytes.subarray(at + 1)]);
        }
    }
  }
  return bytes;
}

/**
 * Writes correct checksums into every block that looks like a header (its checksum field octal
 * digits, spaces and NULs; or every block with ALL), so mutations reach past the checksum test.
 */
function fixTarChecksums(bytes: Buffer, all = false): Buffer {
  for (let offset = 0; offset + 512 <= bytes.length; offset += 512) {
    const block = bytes.subarray(offset, offset + 512);
    if (!all && (!/^[0-7 \0]{8}$/.test(block.toString('latin1', 148, 156)) || block.every((byte) => byte === 0))) continue;
    block.fill(0x20, 148, 156);
    let sum = 0;
    for (const byte of block) sum += byte;
    block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  }
  return bytes;
}

/** A pax record, its length prefix counting itself. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let length = body.length + 1;
  while (String(length).length + body.length !== length) length = String(length).length + body.length;
  return `${length}${body}`;
}

function tarHeader(fields: { name: string; flag: string; size: number; mode?: string; linkname?: string; magic?: string; extra?: (block: Buffer) => void }): Buffer {
  const block = Buffer.alloc(512);
  block.write(fields.name.slice(0, 100), 0, 'latin1');
  block.write(fields.mode ?? '0000644\0', 100, 'latin1');
  block.write('0000000\0', 108, 'latin1');
  block.write('0000000\0', 116, 'latin1');
  block.write(`${fields.size.toString(8).padStart(11, '0').slice(-11)}\0`, 124, 'latin1');
  block.write('14544060400\0', 136, 'latin1');
  block.write(fields.flag, 156, 'latin1');
  block.write((fields.linkname ?? '').slice(0, 100), 157, 'latin1');
  block.write(fields.magic ?? 'ustar\x0000', 257, 'latin1');
  fields.extra?.(block);
  return fixTarChecksums(block, true);
}

const structuredNames = ['a', 'a/b', 'dir/', '.', './', '..', '../x', '/abs', 'a/../../x', '.wh.a', 'dir/.wh..wh..opq', 'link', 'x'.repeat(200), 'a\\b', 'é', '\ud800'];
const structuredValues = ['0', '1', '-1', '1.5', '-1.5', '99999999999999999', '9007199254740993', '', ' ', 'x', '0,0', '0,1,1,1', '1,0', '0,4,2,4', '0,' + '1,'.repeat(50) + '1'];

/**
 * An archive built entry by entry from pieces that reach deep into the reader: PAX records of
 * every key it reads (sizes, times, sparse maps of each format), GNU long names and links, old
 * GNU sparse headers, global headers, links, with contents that fit or do not.
 */
function structuredTar(random: Random): Buffer {
  const blocks: Buffer[] = [];
  const entries = 1 + random.below(5);
  for (let entry = 0; entry < entries; entry++) {
    const name = random.pick(structuredNames);
    const kind = random.below(6);
    if (kind <= 1) {
      const keys = ['path', 'linkpath', 'size', 'uid', 'gid', 'mtime', 'uname', 'GNU.sparse.major', 'GNU.sparse.minor', 'GNU.sparse.map', 'GNU.sparse.size', 'GNU.sparse.realsize', 'GNU.sparse.name', 'GNU.sparse.offset', 'GNU.sparse.numbytes', 'SCHILY.xattr.user.a', 'SCHILY.xattr.', 'comment'];
      let records = '';
      for (let count = 1 + random.below(5); count > 0; count--) {
        const key = random.pick(keys);
        const value = key.endsWith('major') || key.endsWith('minor') ? random.pick(['0', '1', '2']) : key.includes('name') || key === 'path' || key === 'linkpath' ? random.pick(structuredNames) : random.pick(structuredValues);
        records += paxRecord(key, value);
      }
      const data = Buffer.from(records, 'latin1');
      blocks.push(tarHeader({ name: 'pax', flag: random.below(6) === 0 ? 'g' : 'x', size: data.length }), data, Buffer.alloc((512 - (data.length % 512)) % 512));
    } else if (kind === 2) {
      const long = Buffer.from(`${random.pick(structuredNames)}\0`, 'latin1');
      blocks.push(tarHeader({ name: '././@LongLink', flag: random.pick(['L', 'K']), size: long.length }), long, Buffer.alloc((512 - (long.length % 512)) % 512));
    }
    const flag = random.pick(['0', '0', '\0', '1', '2', '3', '5', '6', '7', 'S', 'D', 'V']);
    const contentSize = random.pick([0, 1, 4, 511, 512, 513, 2048]);
    const declared = random.below(5) === 0 ? random.pick([0, 1, 1024, 8 ** 11 - 1]) : contentSize;
    const sparseMap = flag === 'S' ? random.pick(['0,4', '4,4', '0,0', '0,512']) : '';
    blocks.push(
      tarHeader({
        name,
        flag,
        size: declared,
        linkname: random.pick(structuredNames),
        magic: random.pick(['ustar\x0000', 'ustar  \0', '\0\0\0\0\0\0\0\0']),
        extra: (block) => {
          if (flag !== 'S') return;
          const [offset = '0', length = '0'] = sparseMap.split(',');
          block.write(`${Number(offset).toString(8).padStart(11, '0')}\0`, 386, 'latin1');
          block.write(`${Number(length).toString(8).padStart(11, '0')}\0`, 398, 'latin1');
          block.write(`${random.pick([8, 16, 1024, 0]).toString(8).padStart(11, '0')}\0`, 483, 'latin1');
          if (random.below(4) === 0) block[482] = 1;
        },
      }),
    );
    if (flag === 'S' && blocks.at(-1)?.[482] === 1) blocks.push(Buffer.alloc(512, random.below(2) === 0 ? 0 : 0x30));
    const content = Buffer.alloc(contentSize, random.pick(['x', '\n', '1', '\0']));
    if (random.below(3) === 0 && contentSize > 4) content.write('1\n0\n4\n', 0, 'latin1');
    blocks.push(content, Buffer.alloc((512 - (contentSize % 512)) % 512));
  }
  if (random.below(4) !== 0) blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

async function* chunked(bytes: Buffer, random: Random): AsyncGenerator<Buffer> {
  // Chunk boundaries anywhere: the reader must not depend on how its input arrives.
  let offset = 0;
  const size = 1 + random.below(4096);
  while (offset < bytes.length) {
    yield bytes.subarray(offset, offset + size);
    offset += size;
  }
}

/** Reads every entry, and at most a bounded number of body bytes per entry (sparse holes may be terabytes of zeros). */
async function readWholeTar(bytes: Buffer, random: Random): Promise<void> {
  for await (const entry of readTar(chunked(bytes, random))) {
    let read = 0;
    for await (const chunk of entry.body) {
      read += chunk.length;
      if (read > 64 * 1024 * 1024) break;
    }
  }
}

/** A tool's output; without LD_PRELOAD, which a run against sanitizer builds of the addons sets for node alone. */
function tool(command: string, args: readonly string[]): Buffer {
  const { LD_PRELOAD: _preload, ...env } = process.env;
  return execFileSync(command, args, { env, maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'ignore'] });
}

function tarSeeds(work: string): Buffer[] {
  const source = join(work, 'tree');
  mkdirSync(join(source, 'dir', 'sub'), { recursive: true });
  writeFileSync(join(source, 'dir', 'file'), 'hello\n');
  writeFileSync(join(source, `${'long-name-'.repeat(15)}end`), 'long\n');
  tool('ln', ['-s', '../dir/file', join(source, 'dir', 'sub', 'link')]);
  tool('ln', [join(source, 'dir', 'file'), join(source, 'hard')]);
  tool('truncate', ['-s', '3M', join(source, 'sparse')]);
  tool('sh', ['-c', `printf data | dd of=${join(source, 'sparse')} bs=1 seek=1048576 conv=notrunc 2>/dev/null`]);
  try {
    // A binary value, as security.capability is (a file system without user xattrs has none).
    tool('python3', ['-c', 'import os,sys; os.setxattr(sys.argv[1], "user.test", b"\\x00\\xff")', join(source, 'dir', 'file')]);
  } catch {
    // The archives are seeds without one then.
  }
  const archives: Buffer[] = [];
  const variants: string[][] = [
    ['--format=ustar'],
    ['--format=gnu'],
    ['--format=pax'],
    ['--format=pax', '--xattrs'],
    ['--format=gnu', '--sparse'],
    ['--format=pax', '--sparse', '--sparse-version=0.1'],
    ['--format=pax', '--sparse', '--sparse-version=1.0'],
  ];
  for (const flags of variants) {
    // ustar holds no name past 100 bytes; the sparse file only where it is written sparse.
    const names = readdirSync(source).filter((name) => (flags.includes('--sparse') || name !== 'sparse') && (flags[0] !== '--format=ustar' || name.length <= 100));
    archives.push(tool('tar', ['-c', ...flags, '-C', source, '--owner=0', '--group=0', '--mtime=@1700000000', ...names]));
  }
  return archives;
}

/** gzip members with every header field Go reads: FEXTRA, FNAME, FCOMMENT, FHCRC. */
function gzipMember(data: Buffer, fields: { extra?: Buffer; name?: string; comment?: string; headerCrc?: boolean }): Buffer {
  const whole = gzipSync(data);
  const deflated = whole.subarray(10, whole.length - 8);
  const trailer = whole.subarray(whole.length - 8);
  let flags = 0;
  const parts: Buffer[] = [];
  if (fields.extra !== undefined) {
    flags |= 4;
    const length = Buffer.alloc(2);
    length.writeUInt16LE(fields.extra.length);
    parts.push(length, fields.extra);
  }
  if (fields.name !== undefined) {
    flags |= 8;
    parts.push(Buffer.from(`${fields.name}\0`, 'latin1'));
  }
  if (fields.comment !== undefined) {
    flags |= 16;
    parts.push(Buffer.from(`${fields.comment}\0`, 'latin1'));
  }
  if (fields.headerCrc === true) flags |= 2;
  let header = Buffer.concat([Buffer.from([0x1f, 0x8b, 8, flags, 0, 0, 0, 0, 0, 3]), ...parts]);
  if (fields.headerCrc === true) {
    const crc = Buffer.alloc(2);
    crc.writeUInt16LE(crc32(header) & 0xffff);
    header = Buffer.concat([header, crc]);
  }
  return Buffer.concat([header, deflated, trailer]);
}

function gzipSeeds(tars: readonly Buffer[]): Buffer[] {
  const [first = Buffer.alloc(0), second = Buffer.alloc(0)] = tars;
  return [
    gzipSync(first),
    Buffer.concat([gzipSync(first.subarray(0, 1024)), gzipSync(first.subarray(1024))]),
    gzipMember(second, { extra: Buffer.from('ab\x02\x00xy'), name: 'layer.tar', comment: 'a comment', headerCrc: true }),
    Buffer.concat([gzipMember(Buffer.alloc(0), { name: 'empty' }), gzipSync(second), Buffer.from('trailing garbage')]),
  ];
}

const digest = (n: number): string => `sha256:${n.toString(16).padStart(64, '0')}`;

function documentSeeds(): Buffer[] {
  const descriptor = (mediaType: string, n: number, extra: object = {}): object => ({ mediaType, digest: digest(n), size: 100 + n, ...extra });
  const documents: object[] = [
    {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: descriptor('application/vnd.oci.image.config.v1+json', 1),
      layers: [descriptor('application/vnd.oci.image.layer.v1.tar+gzip', 2), descriptor('application/vnd.oci.image.layer.v1.tar+zstd', 3, { annotations: { a: 'b' } })],
      annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
    },
    {
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json',
      manifests: [
        descriptor('application/vnd.docker.distribution.manifest.v2+json', 4, { platform: { architecture: 'amd64', os: 'linux' } }),
        descriptor('application/vnd.docker.distribution.manifest.v2+json', 5, { platform: { architecture: 'arm', os: 'linux', variant: 'v7', 'os.features': ['x'] } }),
      ],
    },
    {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [descriptor('application/vnd.oci.image.manifest.v1+json', 6, { platform: { architecture: 'arm64', os: 'linux' }, annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } })],
    },
    {
      architecture: 'amd64',
      os: 'linux',
      created: '2024-01-01T00:00:00Z',
      config: {
        Env: ['PATH=/usr/bin:/bin'], Cmd: ['sh'], Entrypoint: null, WorkingDir: '/w', User: '1:1', Labels: { a: 'b' }, ExposedPorts: { '80/tcp': {} },
        Volumes: { '/data': {} }, OnBuild: ['RUN true'], StopSignal: 'SIGTERM', Healthcheck: { Test: ['CMD', 'true'], Interval: 1000000000 }, Shell: ['/bin/sh', '-c'],
      },
      rootfs: { type: 'layers', diff_ids: [digest(7), digest(8)] },
      history: [{ created: '2024-01-01T00:00:00Z', created_by: 'x', empty_layer: true }, { created_by: 'y' }],
    },
  ];
  return documents.map((document) => Buffer.from(JSON.stringify(document, null, 2)));
}

const ignoreSeeds = [
  'node_modules\n*.log\n!important.log\n**/.git\n# comment\n/build/\n',
  '*\n!src/**/*.ts\n!src/**/[a-c]?.js\nsrc/**/test\n\\!literal\n',
  '\uFEFF a/b/../c \r\n!!x\n**\n**/**/y/**\n[^a-z]*\n?/*/?\n',
];
const pathSeeds = ['node_modules/a/b', 'src/a/b.ts', 'a.log', 'important.log', 'build/x', '.git/HEAD', 'x/y/z/w', 'src/test/a.ts', '!literal', 'é/ü'];

function dockerfileSeeds(repository: string): Buffer[] {
  const cases = join(repository, 'test', 'parity', 'cases');
  const seeds: Buffer[] = [];
  for (const name of readdirSync(cases)) {
    const path = join(cases, name, 'Dockerfile');
    if (existsSync(path)) seeds.push(readFileSync(path));
  }
  return seeds;
}

/** Whether any path under ROOT (the directory above an unpack's target) was made outside the target. */
function outsideTarget(root: string, target: string): string | undefined {
  // Walked by hand, names as bytes: readdirSync's recursive walk follows links to directories,
  // which a layer may hold, and names that are not UTF-8 would not be found again as strings.
  const inside = Buffer.from(`${target}/`);
  const pending = [Buffer.from(root)];
  for (let directory = pending.pop(); directory !== undefined; directory = pending.pop()) {
    for (const entry of readdirSync(directory, { withFileTypes: true, encoding: 'buffer' })) {
      const path = Buffer.concat([directory, Buffer.from('/'), entry.name]);
      if (!path.subarray(0, inside.length).equals(inside) && path.toString() !== target) return path.toString('latin1');
      if (entry.isDirectory()) pending.push(path);
    }
  }
  return undefined;
}

interface Target {
  seeds: (work: string) => Buffer[];
  run: (input: Buffer, random: Random, work: string) => Promise<void> | void;
  /** Makes an input from scratch, for half of the runs, where bytes mutated at random rarely get past the first checks. */
  generate?: (random: Random) => Buffer;
  /** Adjusts a mutated input before the run (tar checksums). */
  prepare?: (input: Buffer, random: Random) => Buffer;
}

let unpackCount = 0;

const targets: Record<string, Target> = {
  tar: {
    seeds: tarSeeds,
    generate: structuredTar,
    prepare: (input, random) => (random.below(10) < 8 ? fixTarChecksums(input) : input),
    run: (input, random) => readWholeTar(input, random),
  },
  unpack: {
    seeds: tarSeeds,
    generate: structuredTar,
    prepare: (input, random) => (random.below(10) < 8 ? fixTarChecksums(input) : input),
    run: async (input, random, work) => {
      const root = join(work, `unpack-${unpackCount++}`);
      const target = join(root, 'target');
      mkdirSync(target, { recursive: true });
      try {
        await unpackLayer(chunked(input, random), target, { root: false });
      } finally {
        const escaped = outsideTarget(root, target);
        rmSync(root, { recursive: true, force: true });
        if (escaped !== undefined) throw new Error(`ESCAPE: unpack made ${escaped} outside its target`);
      }
    },
  },
  gzip: {
    seeds: (work) => gzipSeeds(tarSeeds(work)),
    run: async (input, _random, work) => {
      const path = join(work, 'member.gz');
      writeFileSync(path, input);
      let total = 0;
      for await (const chunk of gzipMembers(path)) {
        total += chunk.length;
        if (total > 256 * 1024 * 1024) break;
      }
    },
  },
  documents: {
    seeds: documentSeeds,
    run: (input, random) => {
      const contentType = random.pick([undefined, 'application/json', 'application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.v2+json']);
      for (const call of [
        () => parseDocument(input, { what: 'fuzz', contentType }),
        () => parseManifest(input),
        () => parseIndex(input),
        () => parseImageConfig(input),
      ]) {
        try {
          call();
        } catch (error) {
          if (!isTsbuildError(error)) throw error;
        }
      }
    },
  },
  patterns: {
    seeds: () => ignoreSeeds.map((text) => Buffer.from(text)),
    run: (input, random) => {
      const matcher = new PatternMatcher(readIgnoreFile(input.toString('utf8')));
      // Paths of a context's size: matching costs patterns × parents × length (as in Go), which
      // a path of thousands of characters makes slow without anything being wrong.
      const paths = [...pathSeeds, ...input.toString('utf8').split('\n').slice(0, 8).map((line) => line.replace(/^[!/]+/, '').slice(0, 100))];
      for (const path of paths) {
        const deep = random.below(4) === 0 ? Array.from({ length: 1 + random.below(20) }, () => path.slice(0, 20)).join('/') : path;
        matcher.matchesOrParentMatches(deep);
        let info: boolean[] | undefined;
        const parts = deep.split('/');
        for (let depth = 1; depth <= parts.length; depth++) info = matcher.matchesUsingParentResults(parts.slice(0, depth).join('/'), info).info;
        matcher.mayIncludeBelow(goDirectory(deep));
        matcher.decidesBelow(goDirectory(deep));
      }
    },
  },
  dockerfile: {
    seeds: (work) => dockerfileSeeds(work),
    run: (input, random) => {
      const source = input.toString('utf8');
      parseDockerfile(source);
      try {
        resolveDockerfile(
          { source, file: 'Dockerfile' },
          { buildArgs: random.below(2) === 0 ? {} : { A: '${B}', HTTP_PROXY: 'x', BUILDKIT_SYNTAX: 'y' }, target: random.below(4) === 0 ? 'base' : undefined },
        );
      } catch (error) {
        if (!isTsbuildError(error)) throw error;
      }
    },
  },
  native: {
    // The addons' own argument checks, with hostile paths, names and numbers: they throw
    // TypeError, RangeError or errno errors, which are fine; a crash ends the process.
    seeds: () => [Buffer.from('a'), Buffer.from('dir/\u00e9'), Buffer.from([0x66, 0xff, 0xfe]), Buffer.from('x'.repeat(300)), Buffer.from('user.a')],
    run: (input, random, work) => {
      const fs = loadFsAddon().module;
      const context = loadContextAddon().module;
      if (fs === undefined || context === undefined) throw new Error('the native addons did not load: npm run build:native');
      const directory = join(work, 'native');
      mkdirSync(directory, { recursive: true });
      const name = Buffer.concat([Buffer.from(`${directory}/`), input.subarray(0, 300)]);
      const text = input.toString('utf8');
      const big = random.pick([0n, -1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 64n, 10n ** 30n]);
      const calls: (() => unknown)[] = [
        () => writeFileSync(name, input),
        () => fs.lsetxattr(name, `user.${text.slice(0, 300)}`, input),
        () => fs.llistxattr(name),
        () => fs.lgetxattr(name, random.pick(['user.a', `user.${text}`, text])),
        () => fs.lutimens(random.below(2) === 0 ? name : text, big, big),
        () => fs.mknod(name, random.pick([0o10644, 0o20644, 0o60644, 0o100644, -1, 2 ** 32]), random.below(300), random.below(300)),
        () => fs.startWriteback(random.pick([-1, 0, 1, 2 ** 31]), random.below(1000) - 1, random.below(1000) - 1),
        () => closeSync(fs.openInRoot(random.below(2) === 0 ? directory : name, random.below(2) === 0 ? name : text, random.pick([0, 0o10000000, 0o200000, -1, 2 ** 32]))),
        () => context.listDirectory(random.below(2) === 0 ? directory : name, big < 0n ? 0n : big % 2n ** 64n, 0n),
        () => context.hashFiles([name, text, Buffer.from(text)], new BigUint64Array(3), new BigUint64Array(random.below(4))),
      ];
      for (const call of calls) {
        try {
          const result = call();
          if (result instanceof Promise) result.catch(() => undefined);
        } catch (error) {
          if (!(error instanceof Error)) throw new Error(`the addon threw ${String(error)}, not an Error`);
        }
      }
      rmSync(directory, { recursive: true, force: true });
    },
  },
};

function goDirectory(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash === -1 ? '' : path.slice(0, slash);
}

interface Finding {
  target: string;
  iteration: number;
  kind: 'exception' | 'slow' | 'memory';
  detail: string;
  file: string;
}

async function fuzz(name: string, target: Target, options: Options, repository: string): Promise<{ iterations: number; seconds: number; findings: Finding[] }> {
  const work = mkdtempSync(join(tmpdir(), `tsbuild-fuzz-${name}-`));
  const seeds = target.seeds(name === 'dockerfile' ? repository : work);
  const random = new Random(options.seed);
  const findings: Finding[] = [];
  const seen = new Set<string>();
  const outcomes = new Map<string, number>();
  const started = Date.now();
  const current = join(options.out, `${name}.current`);
  let iteration = 0;
  for (; iteration < options.iterations && Date.now() - started < options.seconds * 1000; iteration++) {
    let input = target.generate !== undefined && random.below(2) === 0 ? target.generate(random) : mutate(random, random.pick(seeds), seeds);
    if (target.prepare !== undefined) input = target.prepare(input, random);
    writeFileSync(current, input);
    const before = Date.now();
    let failure: { kind: Finding['kind']; detail: string } | undefined;
    try {
      await target.run(input, random, work);
      outcomes.set('ok', (outcomes.get('ok') ?? 0) + 1);
    } catch (error) {
      if (!isTsbuildError(error)) failure = { kind: 'exception', detail: error instanceof Error ? (error.stack ?? error.message) : String(error) };
      else {
        // The refusal without its positions and names: which checks the inputs reached.
        const reason = error.message.replace(/"[^"]*"/g, '"…"').replace(/[0-9]+/g, 'N').replace(/^.*?: at byte N: /, '').slice(0, 80);
        outcomes.set(reason, (outcomes.get(reason) ?? 0) + 1);
      }
    }
    const elapsed = Date.now() - before;
    if (failure === undefined && elapsed > options.slowMs) failure = { kind: 'slow', detail: `${elapsed} ms` };
    const memory = process.memoryUsage();
    if (failure === undefined && memory.heapUsed + memory.arrayBuffers > options.memoryBytes) {
      failure = { kind: 'memory', detail: `heap ${memory.heapUsed} and array buffers ${memory.arrayBuffers} bytes after the call` };
    }
    if (failure === undefined) continue;
    // One finding per distinct first line (the error and where it was thrown).
    const key = `${failure.kind}:${failure.detail.split('\n').slice(0, 2).join('|')}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const file = join(options.out, `${name}-${failure.kind}-${iteration}.bin`);
    writeFileSync(file, input);
    findings.push({ target: name, iteration, ...failure, file });
    console.log(`[${name}] #${iteration} ${failure.kind}: ${failure.detail.split('\n').slice(0, 4).join('\n    ')}\n    input: ${file}`);
  }
  rmSync(work, { recursive: true, force: true });
  rmSync(current, { force: true });
  if (options.outcomes) {
    for (const [reason, count] of [...outcomes].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`  ${String(count).padStart(7)}  ${reason}`);
  }
  return { iterations: iteration, seconds: (Date.now() - started) / 1000, findings };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  mkdirSync(options.out, { recursive: true });
  const repository = realpathSync(join(import.meta.dirname, '..'));
  if (!lstatSync(repository).isDirectory()) throw new Error(`no repository at ${repository}`);
  let total = 0;
  for (const name of options.targets) {
    const target = targets[name];
    if (target === undefined) throw new Error(`no target ${name}; targets: ${Object.keys(targets).join(', ')}`);
    const result = await fuzz(name, target, options, repository);
    total += result.findings.length;
    console.log(`${name}: ${result.iterations} runs in ${result.seconds.toFixed(1)} s, seed ${options.seed}, ${result.findings.length} findings`);
  }
  process.exitCode = total === 0 ? 0 : 1;
}

await main();
