/**
 * BuildKit parity: every case of test/parity/cases is built with tsbuild and its normalized
 * record (test/parity/record.ts) must equal the one scripts/buildkit-parity.ts wrote from
 * BuildKit's image (test/parity/golden/NAME.json): config, history, layer count, and every
 * entry of the layers the build added. No docker is needed: the base image is rebuilt in the
 * test's store, under the peers' registry name, from the entries BuildKit's base holds
 * (golden/_base.json), with Debian's busybox-static binary as /bin/busybox.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createReadStream } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatReference, hostPlatform, parseReference, userNamespaceSize, type ContainerConfig, type Digest, type History } from '../../src/common/index.js';
import { comparePaths, writeImage, writeLayer, type LayerEntry } from '../../src/exporter/index.js';
import { decompressLayer, openStore, resolveImage, type Store } from '../../src/store/index.js';
import { runCliCaptured } from '../helpers/run-cli.js';
import { temporaryDirectory } from '../helpers/temporary-store.js';
import { validateLayout } from '../helpers/validate.js';
import { baseReference, caseBuildFlags, imageRecord, layerRecord, prepareContext, recordDiff, serveDirectory, type EntryRecord, type ImageRecord, type CaseOptions } from './record.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const casesDir = join(here, 'cases');
const goldenDir = join(here, 'golden');
const busyboxPath = '/bin/busybox';

/**
 * Cases where tsbuild still differs from BuildKit, each with why; they run as `it.fails`, so
 * one that starts to match fails the suite until it leaves this list.
 */
const knownDifferences: Readonly<Record<string, string>> = {
  // BuildKit 0.13 takes SOURCE_DATE_EPOCH for the config's and history's times only, and
  // rewrites layer times just with the exporter's rewrite-timestamp=true (not docker's default);
  // tsbuild always applies that rewrite when the epoch is set (README, reproducible images).
  'rw-source-date-epoch': 'with SOURCE_DATE_EPOCH tsbuild clamps the times in the layers it adds, as BuildKit only does with rewrite-timestamp=true',
  // fsutil's copyDevice clears S_IFSOCK from the whole st_mode to turn a socket into a stub
  // file, which clears one of S_IFBLK's two bits as well: every block device BuildKit copies
  // becomes a character device with the same numbers, a node that opens another driver.
  'copy-block-devices': 'BuildKit copies a block device as a character device (its socket-stub mask clears a bit of S_IFBLK); tsbuild keeps the block device',
  // runc keeps device nodes out with the device cgroup, which allows the container's own devices
  // (null, zero, full, random, urandom, tty, ptmx, pts) wherever a node of theirs is made; the
  // runtime-shim keeps no device cgroup (none on a v2 host without a BPF program, none rootless)
  // and makes the root, /dev and the other mounts nodev instead, binding the host's nodes into
  // /dev: a node made with mknod never opens (EACCES, where runc's refusal is EPERM), and the
  // mount table lists /dev as nodev, with a bind per device.
  // tsbuild walks a step's upper directory, writes its layer and removes it by paths from the
  // store's root, which the kernel refuses beyond PATH_MAX (ENAMETOOLONG); BuildKit's snapshot
  // and export take such a tree (its COPY --from cannot: its checksum walk fails alike).
  'run-tree-beyond-path-max': 'a RUN leaving a tree whose paths exceed PATH_MAX fails in tsbuild (ENAMETOOLONG in the layer walk and the cleanup); BuildKit exports it',
  // dockerfile2llb 0.13 appends a global ARG without a default (and no --build-arg) to the
  // global ARGs with no value, after the automatic platform ones: the FROM lines and later
  // global defaults then read the name as empty, and a stage's bare `ARG NAME` takes that
  // no-value. Dockerfile 1.11 (its args as an llb.EnvList) adds a global only when it has a
  // value, so the automatic TARGETARCH stays; tsbuild follows that, as `# syntax=docker/dockerfile:1`
  // builds and later engines do, rather than the older engine's hiding of the platform's values.
  'global-arg-bare-platform-names': 'a bare global `ARG TARGETARCH` empties the automatic value in BuildKit 0.13 (FROM, global defaults, stage ARGs); tsbuild keeps it, as dockerfile 1.11 and later do',
  // BuildKit 0.13's directive parser knows syntax and escape only: `# check=` (dockerfile 1.8)
  // is a comment there, which ends the directives, so an escape directive after it is not read.
  // tsbuild's parser knows check, as the frontends since 1.8 do, and reads the escape after it.
  'directive-check-then-escape': 'BuildKit 0.13 does not know the check directive, so an escape directive after it is a comment; tsbuild, as dockerfile 1.8 and later, reads it',
  // dockerfile2llb 0.13 predefines the BUILD* and TARGET* platform ARGs only; TARGETSTAGE came
  // with dockerfile 1.11 and BUILDOSVERSION/TARGETOSVERSION with 1.13, which tsbuild predefines
  // as those frontends do.
  'platform-args-newer-names': 'BuildKit 0.13 does not predefine TARGETSTAGE, BUILDOSVERSION and TARGETOSVERSION (dockerfile 1.11 and 1.13 do, as tsbuild does)',
  'run-sandbox-mknod-devices': 'a /dev/null or /dev/zero made with mknod (chroot builds) opens under BuildKit, not under the runtime-shim, whose mounts are nodev in place of a device cgroup',
};

/**
 * Cases that differ only when the suite runs in a user namespace, as rootless tsbuild builds (an
 * ordinary user's tsbuild re-executes itself in one: the user as root, its /etc/subuid range
 * after it; test/executor/rootless-build.test.ts runs this suite so). Each is a limit of the
 * kernel for an unprivileged namespace that BuildKit's rootless mode (RootlessKit's namespace)
 * meets too, never one of tsbuild's; they run as `it.fails` there, like knownDifferences.
 */
const rootlessKnownDifferences: Readonly<Record<string, string>> = {
  // moby's untar, which BuildKit's ADD unpacks with, makes no device node in a user namespace and
  // goes on without it (handleTarTypeBlockCharFifo); tsbuild's unpack skips the EPERM alike.
  'add-tar-more': 'the character devices of an ADD archive are left out: mknod is refused in a user namespace (moby’s untar skips them too)',
  // mknod of a device node needs CAP_MKNOD in the initial user namespace.
  'run-devices': 'a RUN’s mknod of a device node fails (EPERM) in a user namespace, as under rootless BuildKit',
  // Only the ids the namespace maps can own a file: the user's own and its subordinate range
  // only, so chown to 3000000 or 4294967294 fails with EINVAL, as under rootless BuildKit.
  'run-extreme-values': 'chown to ids beyond the mapped subordinate range fails (EINVAL)',
  'run-ids-beyond-16-bits': 'chown to ids beyond the mapped subordinate range fails (EINVAL)',
  // The sandbox binds the host's device nodes into /dev (a user namespace cannot make them), whose
  // owner, the host's root, is not mapped: `ls -ln /dev` shows 65534, the overflow id, as runc's
  // rootless containers do.
  'run-sandbox-dev-nodes': 'the device nodes bound from the host show the overflow owner 65534:65534 (the host’s root is not mapped)',
  // The root of /proc and of /sys (bound: sysfs mounts only in a network namespace the user
  // namespace owns, and builds use the host's) belong to the host's unmapped root.
  'rw-run-sandbox': '/proc and /sys show the owner nobody:nogroup (the host’s root is not mapped)',
  // /proc/self/uid_map shows the namespace's own maps, and a --network=none namespace's default
  // ping_group_range (1 0, kernel ids) reads as 65534 65534 from inside: id 1 of the host is not
  // mapped there.
  'run-sandbox-namespaces': 'the id maps are the user namespace’s, and a new network namespace’s ping_group_range reads as the overflow ids',
  // A RUN lists the attributes of a file whose user.overlay.* names it set itself in the order the
  // file system stores them: in overlayfs's userxattr mode the upper directory holds them escaped
  // (user.overlay.overlay.*), longer names that ext4 stores in another order than root's.
  'run-sets-overlay-xattrs': 'listxattr order of user.overlay.* names a step set: overlayfs in a user namespace stores them escaped, which the file system orders otherwise',
  // `ls -la` totals: a directory a step copies up holds overlayfs's origin and impure attributes;
  // as root the origin is a 29-byte file handle, which with impure overflows ext4's inode into an
  // attribute block (8 more sectors); in userxattr mode overlayfs stores an empty origin.
  'copy-link-onto-base-links': '`ls -la` totals of copied-up directories: overlayfs in a user namespace stores an empty origin attribute, which fits in the inode where root’s file handle takes a block',
};

const inUserNamespace = userNamespaceSize() !== undefined;

// A raw socket needs CAP_NET_RAW over the network namespace's owner, and the build's host network
// is the real host's, which the initial user namespace owns: busybox's ping then opens an ICMP
// socket, which only a host whose ping_group_range admits the user's group allows (systemd's
// default does; the kernel's, 1 0, does not). Probed as a step on the host's network would ping.
// (RootlessKit's "host" network is a namespace of its own, where the raw socket works.)
const pingRefused = inUserNamespace && existsSync(busyboxPath) && spawnSync(busyboxPath, ['ping', '-c', '1', '-W', '1', '127.0.0.1'], { stdio: 'ignore' }).status !== 0;
const rootlessDifferences: Readonly<Record<string, string>> = inUserNamespace
  ? { ...rootlessKnownDifferences, ...(pingRefused ? { 'run-sandbox-masked-writes': 'a ping of loopback fails: the host’s network namespace is not the user namespace’s, and its ping_group_range admits no group' } : {}) }
  : {};

interface BaseEntry extends EntryRecord {
  readonly text?: string;
}

interface BaseRecord {
  readonly reference: string;
  readonly config: ContainerConfig;
  readonly history: History[];
  readonly created: string;
  readonly layers: BaseEntry[][];
}

const base = JSON.parse(readFileSync(join(goldenDir, '_base.json'), 'utf8')) as BaseRecord;
const busyboxHash = existsSync(busyboxPath) ? createHash('sha256').update(readFileSync(busyboxPath)).digest('hex') : '';

/** BuildKit's base rebuilt from its entries: small files from their recorded text, busybox from the system's. */
async function makeBase(store: Store): Promise<Digest[]> {
  const layers = [];
  for (const entries of base.layers) {
    const layerEntries: LayerEntry[] = entries.map((entry) => {
      const mtime = Date.parse(entry.mtime) / 1000;
      const common = { path: entry.path, mode: Number.parseInt(entry.mode, 8), uid: entry.uid, gid: entry.gid, mtime };
      if (entry.type === 'directory') return { ...common, type: 'directory' };
      if (entry.type === 'symlink') return { ...common, type: 'symlink', linkname: entry.linkname ?? '' };
      if (entry.type === 'link') return { ...common, type: 'link', linkname: entry.linkname ?? '' };
      if (entry.type !== 'file') throw new Error(`base entry ${entry.path}: type ${entry.type} is not rebuilt`);
      if (entry.text !== undefined) {
        const bytes = Buffer.from(entry.text, 'utf8');
        return { ...common, type: 'file', size: bytes.length, content: () => bytes };
      }
      const size = readFileSync(busyboxPath).length;
      return { ...common, type: 'file', size, content: () => createReadStream(busyboxPath) };
    });
    layers.push(await writeLayer(layerEntries.sort((a, b) => comparePaths(a.path, b.path)), store));
  }
  await writeImage(store, { layers, platform: hostPlatform(), created: base.created, config: base.config, history: base.history }, formatReference(parseReference(base.reference)));
  return layers.map((layer) => layer.diffId);
}

function commonPrefix(a: readonly string[], b: readonly string[]): number {
  let length = 0;
  while (length < a.length && length < b.length && a[length] === b[length]) length++;
  return length;
}

const caseNames = readdirSync(casesDir).filter((name) => existsSync(join(goldenDir, `${name}.json`))).sort();

describe('BuildKit parity', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let root: string;
  let store: Store;
  let baseDiffIds: Digest[];

  beforeAll(async () => {
    ({ path: dir, cleanup } = await temporaryDirectory('tsbuild-parity-'));
    root = join(dir, 'root');
    store = await openStore({ root });
    baseDiffIds = await makeBase(store);
  });
  afterAll(async () => {
    try {
      await validateLayout(root);
    } finally {
      await cleanup();
    }
  });

  it('rebuilds the base with the entries of BuildKit’s base', async () => {
    expect(baseReference).toBe(base.reference);
    const image = await resolveImage(store, (await store.resolveReference(formatReference(parseReference(base.reference))))!);
    for (const [index, layer] of image.manifest.layers.entries()) {
      const actual = await layerRecord(decompressLayer(await store.openBlob(layer.digest), layer.mediaType));
      const expected = (base.layers[index] ?? [])
        .map(({ text: _text, ...entry }) => entry)
        // The system's busybox-static may be another build than the peers' (CI's Debian).
        .map((entry) => (entry.sha256 !== undefined && entry.sha256 !== busyboxHash && entry.size !== undefined && entry.size > 4096 ? { ...entry, size: -1, sha256: '' } : entry));
      const comparable = actual.map((entry) => (expected.find((want) => want.path === entry.path)?.size === -1 ? { ...entry, size: -1, sha256: '' } : entry));
      expect(comparable).toEqual([...expected].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)));
    }
  });

  for (const name of caseNames) {
    const known = knownDifferences[name] ?? rootlessDifferences[name];
    const test = known === undefined ? it : it.fails;
    test(`${name}${known === undefined ? '' : ` (known difference: ${known})`}`, async () => {
      const source = join(casesDir, name);
      const options = existsSync(join(source, 'case.json')) ? (JSON.parse(await readFile(join(source, 'case.json'), 'utf8')) as CaseOptions) : {};
      const context = join(dir, 'context', name);
      await prepareContext(source, context);
      const tag = `parity-${name}:latest`;
      // As the golden records' builds: `--network host` (which also grants RUN --network=host).
      const args = ['build', '--root', root, '--network', 'host', '--progress', 'plain', '-t', tag, ...caseBuildFlags(options, context)];
      const stop = options.serve === undefined ? undefined : await serveDirectory(join(source, 'served'), options.serve.port);
      let result;
      try {
        result = await runCliCaptured([...args, context]);
      } finally {
        await stop?.();
      }
      expect(result.status, result.stderr).toBe(0);
      const descriptor = await store.resolveReference(formatReference(parseReference(tag)));
      if (descriptor === undefined) throw new Error(`no image ${tag} in the store`);
      const image = await resolveImage(store, descriptor);
      const actual = await imageRecord(
        image.configBytes,
        image.manifest.layers.map((layer) => () => decompressLayerOf(store, layer.digest, layer.mediaType)),
        commonPrefix(image.config.rootfs.diff_ids, baseDiffIds),
      );
      const expected = JSON.parse(await readFile(join(goldenDir, `${name}.json`), 'utf8')) as ImageRecord;
      const differences = recordDiff(expected, actual);
      expect(differences.join('\n'), `tsbuild's image differs from BuildKit's:\n${differences.join('\n')}`).toBe('');
    });
  }
});

async function* decompressLayerOf(store: Store, digest: Digest, mediaType: string): AsyncGenerator<Uint8Array> {
  yield* decompressLayer(await store.openBlob(digest), mediaType);
}
