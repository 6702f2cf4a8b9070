/**
 * What `tsbuild build` produces, read back by tools that share no code with it: the committed
 * image in the store (an OCI layout) through skopeo and umoci, run under crun and under
 * `tsbuild run`; every `--output` type through skopeo, tar, docker and the file system; `--push`
 * through a registry the test starts; and the flags that shape what is printed and named.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdir, readFile, readdir, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatReference, hostPlatform, parseIndex, parseReference, refNameAnnotation } from '../../src/common/index.js';
import { buildFixture, type BuildFixture } from '../helpers/build.js';
import { runCliCaptured } from '../helpers/run-cli.js';
import { canStartDockerEngine, startDockerEngine, type DockerEngine } from '../helpers/docker-engine.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { haveRegistry, startRegistry } from '../helpers/registry.js';
import { layoutBlobs, validateImage, validateLayout } from '../helpers/validate.js';
import { buildBinaries, isRoot, toolExists } from '../runtime/helpers.js';

const bin = new URL('../../bin/tsbuild.js', import.meta.url).pathname;

/**
 * Two stages; the final image has a layer from another stage (owned, moded, with a symlink), a
 * whiteout (/usr/bin/cal removed), an opaque directory (/var replaced), a set-user-ID file with a
 * hard link and a fifo in a sticky directory, and every kind of metadata.
 * Not /etc: /etc/hosts and /etc/resolv.conf are mount points in RUN, and removing them fails
 * with EBUSY, as under BuildKit.
 */
const dockerfile = [
  'FROM busybox AS builder',
  'RUN mkdir -p /out/sub && echo built > /out/artifact && chmod 0640 /out/artifact && ln -s artifact /out/link && echo deep > /out/sub/file',
  'FROM busybox',
  'COPY --from=builder --chown=65534:65534 /out /opt/app',
  'RUN rm /usr/bin/cal',
  'RUN rm -rf /var && mkdir /var && echo x > /var/only',
  'RUN mkdir -p /srv && mkdir -m 1777 /srv/shared && echo s > /srv/shared/tool && chmod 4755 /srv/shared/tool && ln /srv/shared/tool /srv/shared/hard && mkfifo -m 0600 /srv/shared/pipe',
  'ENV GREETING=hello',
  'WORKDIR /opt/app',
  'USER nobody',
  'LABEL org.example.kind=interop',
  'EXPOSE 8080/tcp',
  'ENTRYPOINT ["/bin/sh", "-c"]',
  'CMD ["echo $GREETING $(id -u):$(id -g) $(pwd) $(cat artifact) $(ls /var)"]',
].join('\n');

/** What the image prints when run with its own Entrypoint and Cmd. */
const expectedOutput = 'hello 65534:65534 /opt/app built only\n';

interface Spawned {
  readonly status: number | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

/** The installed command in its own process (for standard output as a file descriptor, and the environment). */
function tsbuild(args: readonly string[], env: Record<string, string | undefined> = {}): Spawned {
  const result = spawnSync(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, input: '', timeout: 120_000, maxBuffer: 256 << 20 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr.toString('utf8') };
}

function skopeoInspect(reference: string, ...flags: string[]): string {
  return execFileSync('skopeo', ['inspect', ...flags, reference], { encoding: 'utf8', maxBuffer: 64 << 20 });
}

interface Inspected {
  readonly Digest: string;
  readonly Labels: Record<string, string> | null;
  readonly Architecture: string;
  readonly Os: string;
  readonly Layers: string[];
  readonly Env: string[];
}

const sha256 = (bytes: Buffer | string): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** Names in the store's index.json. */
async function storeNames(root: string): Promise<string[]> {
  const index = parseIndex(await readFile(join(root, 'index.json')));
  return index.manifests.map((entry) => entry.annotations?.[refNameAnnotation] ?? entry.digest).sort();
}

/** `tar -tvf` of an archive, by path: "type+mode owner target". GNU tar's own reading. */
function tarListing(archive: string): Map<string, string> {
  const listing = new Map<string, string>();
  const lines = execFileSync('tar', ['--numeric-owner', '-tvf', archive], { encoding: 'utf8', maxBuffer: 64 << 20 }).trim().split('\n');
  for (const line of lines) {
    const match = /^(\S+) (\d+)\/(\d+)\s+\d+ \S+ \S+ (.*?)(?:( -> | link to )(.*))?$/.exec(line);
    if (match === null) throw new Error(`unexpected tar listing line ${line}`);
    const [, mode, uid, gid, path, arrow, target] = match as unknown as [string, string, string, string, string, string | undefined, string | undefined];
    listing.set(path.replace(/^\.\//, '').replace(/\/$/, ''), `${mode} ${uid}:${gid}${target === undefined ? '' : `${arrow ?? ''}${target}`}`);
  }
  return listing;
}

/**
 * What the final root filesystem must hold, as a tree seen on disk or in a tar; OWNER is the
 * ids its files have (the image's, or for a local output the build's user's).
 */
async function checkRootfs(rootfs: string, owner: readonly [number, number] = [65534, 65534]): Promise<void> {
  expect(await readFile(join(rootfs, 'opt/app/artifact'), 'utf8')).toBe('built\n');
  expect(await readFile(join(rootfs, 'opt/app/sub/file'), 'utf8')).toBe('deep\n');
  const artifact = await lstat(join(rootfs, 'opt/app/artifact'));
  expect([artifact.mode & 0o7777, artifact.uid, artifact.gid]).toEqual([0o640, ...owner]);
  const app = await lstat(join(rootfs, 'opt/app'));
  expect([app.isDirectory(), app.uid, app.gid]).toEqual([true, ...owner]);
  expect(await readlink(join(rootfs, 'opt/app/link'))).toBe('artifact');
  expect((await lstat(join(rootfs, 'opt/app/link'))).uid).toBe(owner[0]);
  // The whiteout removed the file; the opaque directory holds only what the step wrote.
  expect(existsSync(join(rootfs, 'usr/bin/cal'))).toBe(false);
  expect(await readlink(join(rootfs, 'bin/sh'))).toBe('/bin/busybox');
  expect(await readdir(join(rootfs, 'var'))).toEqual(['only']);
  expect(await readFile(join(rootfs, 'var/only'), 'utf8')).toBe('x\n');
  expect(await readFile(join(rootfs, 'etc/passwd'), 'utf8')).toContain('nobody:x:65534:65534');
  expect((await lstat(join(rootfs, 'tmp'))).mode & 0o7777).toBe(0o1777);
  expect((await lstat(join(rootfs, 'bin/busybox'))).mode & 0o7777).toBe(0o755);
  const [tool, hard, pipe, shared] = await Promise.all(['srv/shared/tool', 'srv/shared/hard', 'srv/shared/pipe', 'srv/shared'].map((path) => lstat(join(rootfs, path))));
  expect([tool?.mode, tool?.nlink, await readFile(join(rootfs, 'srv/shared/tool'), 'utf8')]).toEqual([0o104755, 2, 's\n']);
  expect(hard?.ino).toBe(tool?.ino);
  expect([pipe?.isFIFO(), (pipe?.mode ?? 0) & 0o7777]).toEqual([true, 0o600]);
  expect(shared?.mode).toBe(0o41777);
  // No whiteout file is left in a root filesystem.
  const all = execFileSync('find', [rootfs, '-name', '.wh.*'], { encoding: 'utf8' });
  expect(all).toBe('');
}

/** What the tests read of buildx's rawjson updates (BuildKit's client.SolveStatus). */
interface SolveVertex {
  readonly digest: string;
  readonly name: string;
  readonly started?: string;
  readonly completed?: string;
  readonly cached?: boolean;
}
interface SolveStatus {
  readonly vertexes?: SolveVertex[];
  readonly logs?: Array<{ readonly vertex: string; readonly stream: number; readonly data: string }>;
}

describe('build outputs, read by other tools', () => {
  let fx: BuildFixture;
  let context: string;

  beforeAll(async () => {
    buildBinaries();
    fx = await buildFixture();
    context = await fx.context('interop', { Dockerfile: dockerfile });
  });
  afterAll(async () => {
    await fx.cleanup();
  });

  it('commits an image that validates, that skopeo reads and umoci unpacks, and that runs under crun and tsbuild run', async () => {
    const iidfile = join(fx.dir, 'iid');
    const result = await fx.build(['-t', 'interop:1', '-t', 'example.test/interop:2', '-q', '--iidfile', iidfile, '--label', 'org.example.cli=yes', '--label', 'org.example.kind=overridden', context]);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    // -q prints the image ID alone: the config's digest.
    expect(result.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    const id = result.stdout.trim();
    expect(await readFile(iidfile, 'utf8')).toBe(id);
    const image = await fx.image('interop:1');
    expect(image.manifest.config.digest).toBe(id);
    expect(sha256(await readFile(join(fx.root, 'blobs/sha256', id.slice(7))))).toBe(id);
    // -t twice: two names for one manifest.
    expect(await fx.store.resolveReference('example.test/interop:2')).toEqual(await fx.store.resolveReference('docker.io/library/interop:1'));

    const config = image.config.config ?? {};
    // --label is applied over the Dockerfile's LABEL, as docker does.
    expect(config.Labels).toEqual({ 'org.example.kind': 'overridden', 'org.example.cli': 'yes' });
    expect(config.Env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'GREETING=hello']);
    expect(config.WorkingDir).toBe('/opt/app');
    expect(config.User).toBe('nobody');
    expect(config.ExposedPorts).toEqual({ '8080/tcp': {} });
    expect(config.Entrypoint).toEqual(['/bin/sh', '-c']);
    expect(config.Cmd).toEqual(['echo $GREETING $(id -u):$(id -g) $(pwd) $(cat artifact) $(ls /var)']);
    // busybox, the COPY, three RUNs, and WORKDIR's mkdir: an empty layer (the COPY made the
    // directory), which BuildKit keeps.
    expect(image.manifest.layers).toHaveLength(6);
    const whiteout = await fx.layerFiles(image.manifest.layers[2] ?? expect.fail('no layer'));
    // The first RUN on this busybox, which lacks them, also keeps the directories /dev, /proc and
    // /sys are mounted on, as BuildKit's does.
    expect(whiteout.map((file) => file.path)).toEqual(['dev', 'etc', 'proc', 'sys', 'usr', 'usr/bin', 'usr/bin/.wh.cal']);
    const opaque = await fx.layerFiles(image.manifest.layers[3] ?? expect.fail('no layer'));
    expect(opaque.map((file) => file.path)).toEqual(['etc', 'var', 'var/.wh..wh..opq', 'var/only']);
    // As docker's overlay2 driver writes them in BuildKit's images: a whiteout 0600 with the
    // time it was made, an opaque marker with its directory's mode and owner and no time.
    const started = Math.floor(Date.now() / 1000) - 600;
    const wh = whiteout.find((file) => file.path === 'usr/bin/.wh.cal');
    expect([wh?.type, wh?.mode, wh?.uid, wh?.gid]).toEqual(['file', 0o600, 0, 0]);
    expect(wh?.mtime).toBeGreaterThan(started);
    const marker = opaque.find((file) => file.path === 'var/.wh..wh..opq');
    expect([marker?.type, marker?.mode, marker?.uid, marker?.gid, marker?.mtime]).toEqual(['file', 0o755, 0, 0, 0]);

    await validateLayout(fx.root);
    const descriptor = await fx.store.resolveReference('docker.io/library/interop:1');
    await validateImage(layoutBlobs(fx.root), descriptor ?? expect.fail('not named'));

    // skopeo reads the store as the OCI layout it is.
    const store = `oci:${fx.root}:docker.io/library/interop:1`;
    const inspected = JSON.parse(skopeoInspect(store)) as Inspected;
    expect(inspected.Digest).toBe(descriptor?.digest);
    expect(inspected.Labels).toEqual(config.Labels);
    expect(inspected.Env).toEqual(config.Env);
    expect(inspected.Layers).toEqual(image.manifest.layers.map((layer) => layer.digest));
    expect(`${inspected.Os}/${inspected.Architecture}`).toBe(`${hostPlatform().os}/${hostPlatform().architecture}`);
    expect(sha256(skopeoInspect(store, '--raw'))).toBe(descriptor?.digest);
    expect(sha256(execFileSync('skopeo', ['inspect', '--config', '--raw', store]))).toBe(id);

    // umoci applies the layers itself: whiteouts and opaque directories as the image says.
    const bundle = join(fx.dir, 'bundle');
    execFileSync('umoci', ['unpack', '--image', `${fx.root}:docker.io/library/interop:1`, bundle], { stdio: 'pipe' });
    await checkRootfs(join(bundle, 'rootfs'));

    if (isRoot && toolExists('crun')) {
      // umoci's config.json carries the image's Entrypoint, Cmd, Env, WorkingDir and User.
      const spec = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as { process: { terminal?: boolean; args: string[]; cwd: string; user: { uid: number; gid: number } } };
      expect(spec.process.args).toEqual([...(config.Entrypoint ?? []), ...(config.Cmd ?? [])]);
      expect([spec.process.cwd, spec.process.user.uid, spec.process.user.gid]).toEqual(['/opt/app', 65534, 65534]);
      spec.process.terminal = false;
      await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
      // crun 1.8 refuses cgroup v1 hybrid hosts unless the unified hierarchy is unmounted in its namespace.
      const crun = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', 'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$@"', 'sh', 'crun', '--root', join(fx.dir, 'crun-state'), 'run', '--bundle', bundle, `interop-${process.pid}`], {
        encoding: 'utf8',
        input: '',
        timeout: 60_000,
      });
      expect(crun.stderr).toBe('');
      expect({ status: crun.status, stdout: crun.stdout }).toEqual({ status: 0, stdout: expectedOutput });
    }

    if (isRoot) {
      const run = tsbuild(['run', '--rm', '--root', fx.root, 'interop:1']);
      expect(run.stderr).toBe('');
      expect({ status: run.status, stdout: run.stdout.toString('utf8') }).toEqual({ status: 0, stdout: expectedOutput });
      const named = tsbuild(['run', '--rm', '--root', fx.root, 'example.test/interop:2', 'echo other']);
      expect(named.stdout.toString('utf8')).toBe('other\n');
      // USER nobody, from the image's own passwd and group, as docker applies it.
      expect(tsbuild(['run', '--rm', '--root', fx.root, 'interop:1', 'id']).stdout.toString('utf8')).toBe('uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n');
    }
  });

  it('writes every --output type at once, each readable by its own tool', async () => {
    const oci = join(fx.dir, 'out.oci.tar');
    const docker = join(fx.dir, 'out.docker.tar');
    const tar = join(fx.dir, 'out.rootfs.tar');
    const local = join(fx.dir, 'out-local');
    const result = await fx.build(['-t', 'interop:1', '-t', 'example.test/interop:2', '-o', `type=oci,dest=${oci}`, '-o', `type=docker,dest=${docker}`, '-o', `type=tar,dest=${tar}`, '-o', `type=local,dest=${local}`, context]);
    expect(result.status).toBe(0);
    expect(result.stdout).toBe('');
    const image = await fx.image('interop:1');
    const manifestDigest = (await fx.store.resolveReference('docker.io/library/interop:1'))?.digest;

    // The store keeps the layers it built uncompressed, as docker's does; an OCI archive leaves
    // the machine, so it holds them in gzip, under the same config (the image ID).
    expect(image.manifest.layers.at(-1)?.mediaType).toBe('application/vnd.oci.image.layer.v1.tar');
    const fromOci = JSON.parse(skopeoInspect(`oci-archive:${oci}:1`)) as Inspected;
    expect(fromOci.Digest).not.toBe(manifestDigest);
    const ociManifest = JSON.parse(skopeoInspect(`oci-archive:${oci}:1`, '--raw')) as { config: { digest: string }; layers: Array<{ mediaType: string; digest: string }> };
    expect(ociManifest.config.digest).toBe(image.manifest.config.digest);
    expect(ociManifest.layers.map((layer) => layer.mediaType)).toEqual(image.manifest.layers.map(() => 'application/vnd.oci.image.layer.v1.tar+gzip'));
    expect(fromOci.Layers).toEqual(ociManifest.layers.map((layer) => layer.digest));
    const ociLayout = join(fx.dir, 'oci-layout');
    await mkdir(ociLayout);
    execFileSync('tar', ['-xf', oci, '-C', ociLayout]);
    await validateLayout(ociLayout);
    // Both -t names, for one manifest: the full name as containerd's annotation, the tag alone as the OCI reference name.
    const named = parseIndex(await readFile(join(ociLayout, 'index.json'))).manifests.map((entry) => [entry.annotations?.['io.containerd.image.name'], entry.annotations?.[refNameAnnotation]]);
    expect(named).toEqual([['docker.io/library/interop:1', '1'], ['example.test/interop:2', '2']]);
    expect(new Set(parseIndex(await readFile(join(ociLayout, 'index.json'))).manifests.map((entry) => entry.digest))).toEqual(new Set([fromOci.Digest]));

    // tar=false: the same layout as a directory, which skopeo and umoci read in place.
    const ociDirectory = join(fx.dir, 'out-oci-dir');
    expect((await fx.build(['-t', 'interop:1', '-o', `type=oci,tar=false,dest=${ociDirectory}`, context])).status).toBe(0);
    await validateLayout(ociDirectory);
    expect(await readdir(ociDirectory)).toEqual(expect.arrayContaining(['blobs', 'index.json', 'oci-layout']));
    expect(JSON.parse(skopeoInspect(`oci:${ociDirectory}:1`)) as Inspected).toMatchObject({ Digest: fromOci.Digest });
    execFileSync('umoci', ['unpack', '--rootless', '--image', `${ociDirectory}:1`, join(fx.dir, 'out-oci-dir-bundle')]);
    expect(existsSync(join(fx.dir, 'out-oci-dir-bundle', 'rootfs', 'opt', 'app', 'artifact'))).toBe(true);
    const refused = await fx.build(['-o', `type=docker,tar=false,dest=${join(fx.dir, 'no-docker-dir')}`, context]);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain('only type=oci,tar=false (an OCI layout directory) is written as a directory');

    // A docker archive as BuildKit's docker exporter writes it: the OCI archive's blobs under
    // Docker's media types, with manifest.json naming them; skopeo lists the layers by their diff IDs.
    const entries = JSON.parse(execFileSync('tar', ['-xOf', docker, 'manifest.json'], { encoding: 'utf8' })) as Array<{ RepoTags: string[]; Layers: string[] }>;
    expect(entries.map((entry) => entry.RepoTags)).toEqual([['interop:1', 'example.test/interop:2']]);
    expect(entries[0]?.Layers).toEqual(ociManifest.layers.map((layer) => `blobs/sha256/${layer.digest.slice(7)}`));
    const dockerIndex = parseIndex(Buffer.from(execFileSync('tar', ['-xOf', docker, 'index.json'])));
    expect(dockerIndex.manifests.map((entry) => entry.mediaType)).toEqual(['application/vnd.docker.distribution.manifest.v2+json', 'application/vnd.docker.distribution.manifest.v2+json']);
    const fromDocker = JSON.parse(skopeoInspect(`docker-archive:${docker}`)) as Inspected;
    expect(fromDocker.Layers).toEqual(image.config.rootfs.diff_ids);
    expect(fromDocker.Labels).toEqual(image.config.config?.Labels);
    expect(sha256(execFileSync('skopeo', ['inspect', '--config', '--raw', `docker-archive:${docker}`]))).toBe(image.manifest.config.digest);

    // The root filesystem as a tar, read by GNU tar: owners, modes, links; no whiteouts.
    const listing = tarListing(tar);
    expect(listing.get('opt/app/artifact')).toBe('-rw-r----- 65534:65534');
    expect(listing.get('opt/app/link')).toBe('lrwxrwxrwx 65534:65534 -> artifact');
    expect(listing.get('opt/app')).toBe('drwxr-xr-x 65534:65534');
    expect(listing.get('tmp')).toBe('drwxrwxrwt 0:0');
    expect(listing.get('bin/sh')).toBe('lrwxrwxrwx 0:0 -> /bin/busybox');
    expect(listing.has('usr/bin/cal')).toBe(false);
    expect([listing.get('srv/shared'), listing.get('srv/shared/pipe')]).toEqual(['drwxrwxrwt 0:0', 'prw------- 0:0']);
    // One of the two names is the file, the other a hard link to it.
    expect([listing.get('srv/shared/hard'), listing.get('srv/shared/tool')].sort()).toEqual(['-rwsr-xr-x 0:0', 'hrwsr-xr-x 0:0 link to srv/shared/hard']);
    expect([...listing.keys()].filter((path) => path.startsWith('var/'))).toEqual(['var/only']);
    expect([...listing.keys()].filter((path) => path.split('/').at(-1)?.startsWith('.wh.') === true)).toEqual([]);
    const unpacked = join(fx.dir, 'rootfs-from-tar');
    await mkdir(unpacked);
    execFileSync('tar', ['--numeric-owner', '-xpf', tar, '-C', unpacked]);
    await checkRootfs(unpacked);

    // As BuildKit's receiver: every file of a local output is the build's user's.
    await checkRootfs(local, [process.getuid?.() ?? 0, process.getgid?.() ?? 0]);
  });

  // A docker engine of the file's own (Debian's docker.io, installed when missing) on a private
  // socket; it needs root.
  describe.skipIf(!canStartDockerEngine())('with a docker engine', () => {
    let engine: DockerEngine | undefined;
    const docker = (args: readonly string[]): string => (engine ?? expect.fail('the docker engine did not start')).docker(args);
    beforeAll(async () => {
      engine = await startDockerEngine();
    }, 300_000);
    afterAll(async () => {
      await engine?.stop();
    });

    it('loads the docker output, and runs it as tsbuild run does', async () => {
      const tag = 'tsbuild-test/interop:1';
      const archive = join(fx.dir, 'for-docker.tar');
      const result = await fx.build(['-t', tag, '-q', '-o', `type=docker,dest=${archive}`, context]);
      expect(result.status).toBe(0);
      expect(docker(['load', '-i', archive])).toContain(`Loaded image: ${tag}`);
      expect(docker(['image', 'inspect', tag, '--format', '{{.Id}}']).trim()).toBe(result.stdout.trim());
      expect(docker(['run', '--rm', '--network', 'none', tag])).toBe(expectedOutput);
      // What the process sees of its user, environment and privileges is what docker gives it
      // (less docker's default seccomp filter, which tsbuild run does not install).
      const probe = 'id; umask; pwd; env | grep -v ^HOSTNAME= | sort; grep -E "^(Cap|NoNewPrivs)" /proc/self/status';
      const underTsbuild = tsbuild(['run', '--rm', '--root', fx.root, '--network', 'none', tag, probe]);
      expect(underTsbuild.stdout.toString('utf8')).toBe(docker(['run', '--rm', '--network', 'none', tag, probe]));
    });
  });

  it('writes an output to standard output with dest=-, and nothing else there', () => {
    const tar = tsbuild(['build', '--root', fx.root, '--progress', 'plain', '-t', 'interop:1', '-o', 'type=tar,dest=-', context]);
    expect(tar.stderr).toContain('#');
    expect(tar.status).toBe(0);
    const tarFile = join(fx.dir, 'stdout.tar');
    execFileSync('tee', [tarFile], { input: tar.stdout, stdio: ['pipe', 'ignore', 'inherit'] });
    expect(tarListing(tarFile).get('var/only')).toBe('-rw-r--r-- 0:0');

    const oci = tsbuild(['build', '--root', fx.root, '--progress', 'quiet', '-t', 'interop:1', '-o', 'type=oci,dest=-', context]);
    expect(oci.stderr).toBe('');
    expect(oci.status).toBe(0);
    const ociFile = join(fx.dir, 'stdout.oci.tar');
    execFileSync('tee', [ociFile], { input: oci.stdout, stdio: ['pipe', 'ignore', 'inherit'] });
    const inspected = JSON.parse(skopeoInspect(`oci-archive:${ociFile}`)) as Inspected;
    expect(inspected.Labels).toEqual({ 'org.example.kind': 'interop' });

    // -q with standard output taken by an output: the ID is not written into the archive, as docker.
    const quiet = tsbuild(['build', '--root', fx.root, '-q', '--iidfile', join(fx.dir, 'quiet-iid'), '-t', 'interop:1', '-o', 'type=oci,dest=-', context]);
    expect(quiet.status).toBe(0);
    expect(quiet.stdout.length % 512).toBe(0);
    expect(quiet.stdout.subarray(-1024).equals(Buffer.alloc(1024))).toBe(true);
    expect(existsSync(join(fx.dir, 'quiet-iid'))).toBe(true);

    // A root filesystem output makes no image: no ID file (refused before the build, as buildx),
    // and -q prints an empty line, as buildx prints the ID its exporters did not report.
    for (const output of ['type=tar,dest=-', `type=local,dest=${join(fx.dir, 'quiet-local')}`]) {
      const refused = tsbuild(['build', '--root', fx.root, '-q', '--iidfile', join(fx.dir, 'refused-iid'), '-o', output, context]);
      expect(refused.status).not.toBe(0);
      expect(refused.stderr).toContain('local and tar exporters are incompatible with image ID file');
      expect(existsSync(join(fx.dir, 'refused-iid'))).toBe(false);
    }
    const local = tsbuild(['build', '--root', fx.root, '-q', '-o', `type=local,dest=${join(fx.dir, 'quiet-local')}`, context]);
    expect(local.status).toBe(0);
    expect(local.stdout.toString()).toBe('\n');

    // Two archives on one stream would be one unreadable file.
    const twice = tsbuild(['build', '--root', fx.root, '-t', 'interop:twice', '-o', 'type=tar,dest=-', '-o', 'type=oci,dest=-', context]);
    expect(twice.status).not.toBe(0);
    expect(twice.stdout.length).toBe(0);
    expect(twice.stderr).toMatch(/standard output/);
  });

  it('fails clearly on an output it cannot write, and does not hang', async () => {
    // procfs answers ENOENT to mkdir under a directory that exists.
    const local = await fx.build(['-o', 'type=local,dest=/proc/tsbuild-no-such-output', context]);
    expect(local.status).not.toBe(0);
    expect(local.stderr).toMatch(/write local output \/proc\/tsbuild-no-such-output: .*(ENOENT|EACCES)/);
    const file = await fx.build(['-o', `type=oci,dest=${join(fx.dir, 'no-such-directory', 'out.tar')}`, context]);
    expect(file.status).not.toBe(0);
    expect(file.stderr).toMatch(/write oci output .*no-such-directory.*ENOENT/);
    expect(existsSync(join(fx.dir, 'no-such-directory'))).toBe(false);
  }, 30_000);

  it.runIf(haveRegistry())('pushes every -t name to the registry, its layers in gzip and its config the store\'s', async () => {
    const registry = await startRegistry();
    try {
      const one = `${registry.host}/interop/app:1`;
      const two = `${registry.host}/interop/app:two`;
      const metadataFile = join(fx.dir, 'pushed.json');
      const result = await fx.build(['-t', one, '-t', two, '--push', '--metadata-file', metadataFile, '--progress', 'plain', context]);
      expect(result.status).toBe(0);
      const image = await fx.image(formatReference(parseReference(one)));
      const digest = (JSON.parse(await readFile(metadataFile, 'utf8')) as Record<string, unknown>)['containerimage.digest'];
      expect(digest).toMatch(/^sha256:/);
      // Each push a step of the progress, a line per layer, as buildx shows a push; nothing after the progress.
      for (const name of [one, two]) expect(result.stderr).toMatch(new RegExp(`#\\d+ pushing ${name.replace(/[.:/]/g, '\\$&')}\n(#\\d+ pushing layer [0-9a-f]{12} .*\n)+#\\d+ DONE`));
      expect(result.stderr).not.toContain('pushed ');
      for (const name of [one, two]) {
        const inspected = JSON.parse(skopeoInspect(`docker://${name}`, '--tls-verify=false')) as Inspected;
        expect(inspected.Digest).toBe(digest);
        const raw = skopeoInspect(`docker://${name}`, '--tls-verify=false', '--raw');
        expect(sha256(raw)).toBe(digest);
        // As docker push: the layers the store keeps uncompressed go out in gzip; the image ID stays.
        const pushed = JSON.parse(raw) as { config: { digest: string }; layers: Array<{ mediaType: string }> };
        expect(pushed.config.digest).toBe(image.manifest.config.digest);
        expect(pushed.layers.map((layer) => layer.mediaType)).toEqual(image.manifest.layers.map(() => 'application/vnd.oci.image.layer.v1.tar+gzip'));
      }
      // What was pushed pulls back whole: skopeo copies it into a layout that validates.
      const copied = join(fx.dir, 'pushed-layout');
      execFileSync('skopeo', ['copy', '--src-tls-verify=false', `docker://${one}`, `oci:${copied}:pulled`], { stdio: 'pipe' });
      await validateLayout(copied);
    } finally {
      await registry.stop();
    }
  });

  it('leaves no image ID file from an earlier build when the build fails, as docker', async () => {
    const iidfile = join(fx.dir, 'stale-iid');
    await writeFile(iidfile, 'sha256:stale');
    const failing = await fx.context('failing', { Dockerfile: 'FROM busybox\nRUN exit 3\n' });
    const result = await fx.build(['-q', '--iidfile', iidfile, failing]);
    expect(result.status).not.toBe(0);
    expect(result.stdout).toBe('');
    expect(existsSync(iidfile)).toBe(false);
  });

  it('with --output type=cacheonly runs the steps into the cache and names or keeps no image, as buildx', async () => {
    const cached = await fx.context('cacheonly', { Dockerfile: 'FROM busybox\nRUN echo cache-only-step > /made\n' });
    const before = await storeNames(fx.root);
    const result = await fx.build(['--progress', 'plain', '-t', 'cacheonly:1', '--output', 'type=cacheonly,dest=ignored', cached]);
    expect(result.status).toBe(0);
    expect(result.stderr).toMatch(/RUN echo cache-only-step > \/made\n(#\d+ cache miss.*\n)?#\d+ DONE/);
    expect(await storeNames(fx.root)).toEqual(before);
    expect(existsSync(join(fx.dir, 'ignored'))).toBe(false);
    // The step's result is in the cache: the build that names the image runs nothing.
    const again = await fx.build(['--progress', 'plain', '-t', 'cacheonly:1', cached]);
    expect(again.status).toBe(0);
    expect(again.stderr).toMatch(/RUN echo cache-only-step > \/made\n#\d+ CACHED/);
    expect(await fx.store.resolveReference('docker.io/library/cacheonly:1')).toBeDefined();
  });

  it('builds for another platform from a base of one manifest as BuildKit does, and for this one as for none named', async () => {
    // The base's binaries are this machine's whatever the build asks: the steps run, and the image
    // says the platform asked for (tests of bases with several platforms: build-platforms.test.ts).
    const other = hostPlatform().architecture === 'arm64' ? 'linux/amd64' : 'linux/arm64';
    const result = await fx.build(['-t', 'other-platform', '--platform', other, context]);
    expect(result.status, result.stderr).toBe(0);
    expect((await fx.image('other-platform')).config.architecture).toBe(other.slice('linux/'.length));
    // This machine's own platform, named, is the same build as none named.
    const host = `${hostPlatform().os}/${hostPlatform().architecture}`;
    const named = await fx.build(['-q', '--platform', host, context]);
    const unnamed = await fx.build(['-q', context]);
    expect(named.status).toBe(0);
    expect(named.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect(named.stdout).toBe(unnamed.stdout);
  });

  it('prints progress as rawjson, refuses tty without a terminal, and honours BUILDKIT_PROGRESS', async () => {
    const raw = await runCliCaptured(['build', '--root', fx.root, '--progress', 'rawjson', '--no-cache', '-t', 'interop:raw', context]);
    expect(raw.status).toBe(0);
    expect(raw.stdout).toBe('');
    // buildx's rawjson: BuildKit's SolveStatus updates, each an indented JSON object.
    const updates = (text: string): SolveStatus[] => text.split(/\n(?=\{)/).filter((chunk) => chunk.trim() !== '').map((chunk) => JSON.parse(chunk) as SolveStatus);
    const vertexes = (text: string, name: string): SolveVertex[] => updates(text).flatMap((update) => (update.vertexes ?? []).filter((vertex) => vertex.name === name));
    const removal = '[stage-1 4/6] RUN rm -rf /var && mkdir /var && echo x > /var/only';
    const ran = vertexes(raw.stderr, removal);
    expect(ran.map((vertex) => [vertex.started !== undefined, vertex.completed !== undefined, vertex.cached ?? false])).toEqual([
      [true, false, false],
      [true, true, false],
    ]);
    expect(Date.parse(ran[1]?.completed ?? '')).toBeGreaterThanOrEqual(Date.parse(ran[1]?.started ?? ''));
    const again = await runCliCaptured(['build', '--root', fx.root, '--progress', 'rawjson', '-t', 'interop:raw', context]);
    expect(vertexes(again.stderr, removal).map((vertex) => vertex.cached)).toContain(true);
    const noisy = await fx.context('noisy', { Dockerfile: 'FROM busybox\nRUN echo to-stdout; echo to-stderr >&2\n' });
    const logs = await runCliCaptured(['build', '--root', fx.root, '--progress', 'rawjson', noisy]);
    const logged = updates(logs.stderr).flatMap((update) => update.logs ?? []);
    const runDigest = vertexes(logs.stderr, '[2/2] RUN echo to-stdout; echo to-stderr >&2')[0]?.digest;
    expect(logged.every((log) => log.vertex === runDigest)).toBe(true);
    const streamText = (stream: number): string => Buffer.concat(logged.filter((log) => log.stream === stream).map((log) => Buffer.from(log.data, 'base64'))).toString();
    expect(streamText(1)).toBe('to-stdout\n');
    expect(streamText(2)).toBe('to-stderr\n');

    const tty = await runCliCaptured(['build', '--root', fx.root, '--progress', 'tty', '-t', 'interop:tty', context]);
    expect(tty.status).not.toBe(0);
    expect(tty.stderr).toMatch(/terminal/);
    expect(await fx.store.resolveReference('docker.io/library/interop:tty')).toBeUndefined();

    // Standard error is a pipe here, so auto would be plain too: rawjson shows the variable is read.
    const fromEnv = tsbuild(['build', '--root', fx.root, '-t', 'interop:env', context], { BUILDKIT_PROGRESS: 'rawjson' });
    expect(fromEnv.status).toBe(0);
    expect(fromEnv.stderr).toMatch(/^\{\n {2}"vertexes": \[/);
    // On a terminal auto is tty; BUILDKIT_PROGRESS=plain makes it plain there too (script(1) gives the terminal).
    const onTerminal = (env: Record<string, string>): string =>
      execFileSync('script', ['-q', '-e', '-c', `${process.execPath} ${bin} build --root ${fx.root} -t interop:env ${context}`, '/dev/null'], { env: { ...process.env, ...env }, encoding: 'utf8', input: '' }).replace(/\r\n/g, '\n');
    const plain = onTerminal({ BUILDKIT_PROGRESS: 'plain' });
    expect(plain).toMatch(/^#1 \[internal\] load build definition from Dockerfile$/m);
    expect(plain).toMatch(/^#\d+ \[stage-1 4\/6\] RUN rm -rf \/var && mkdir \/var && echo x > \/var\/only$/m);
    expect(plain).not.toContain('\u001b[');
    const live = onTerminal({ BUILDKIT_PROGRESS: '' });
    expect(live).toContain('\u001b[');
    expect(live).not.toMatch(/^#1 /m);
    // The flag wins over the variable.
    const flag = tsbuild(['build', '--root', fx.root, '--progress', 'plain', '-t', 'interop:env', context], { BUILDKIT_PROGRESS: 'rawjson' });
    expect(flag.stderr).toMatch(/^#1 /m);
    const unknown = tsbuild(['build', '--root', fx.root, '-t', 'interop:env', context], { BUILDKIT_PROGRESS: 'fancy' });
    expect(unknown.status).not.toBe(0);
    expect(unknown.stderr).toContain('BUILDKIT_PROGRESS');
  });

  it('fails on a base image that cannot be pulled, naming the reference and the cause, and keeps nothing', async () => {
    const before = await storeNames(fx.root);
    const dir = await fx.context('unpullable', { Dockerfile: 'FROM 127.0.0.1:1/nope:1\nRUN echo never\n' });
    const started = Date.now();
    const result = await fx.build(['-t', 'unpullable', dir]);
    expect(result.status).not.toBe(0);
    // As BuildKit: the FROM line, then the reference and the cause, last.
    expect(result.stderr).toContain('>>> FROM 127.0.0.1:1/nope:1');
    const last = result.stderr.trimEnd().split('\n').at(-1) ?? '';
    expect(last).toMatch(/^ERROR: failed to solve: 127\.0\.0\.1:1\/nope:1: failed to resolve source metadata for 127\.0\.0\.1:1\/nope:1: .*(ECONNREFUSED|connection refused)/i);
    // The step after it never started.
    expect(result.stderr).not.toMatch(/\[2\/2\] RUN echo never/);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(await storeNames(fx.root)).toEqual(before);
    await validateLayout(fx.root);
  });

  it.runIf(haveRegistry())('fails on a base image whose layer arrives corrupted, naming it, and keeps nothing of it', async () => {
    const registry = await startRegistry();
    const proxy = await startFaultProxy({ target: registry.url });
    try {
      const pushed = `${proxy.host}/base/app:1`;
      const app = await fx.context('to-push', { Dockerfile: 'FROM busybox\nRUN echo pushed > /pushed\n' });
      expect((await fx.build(['-t', pushed, '--push', app])).status).toBe(0);
      const layer = (await fx.image(pushed)).manifest.layers[1]?.digest ?? expect.fail('no layer');
      // A fresh root, so that the layer has to come from the registry; every try gets bad bytes.
      const other = await buildFixture();
      try {
        const before = await storeNames(other.root);
        proxy.add({ method: 'GET', path: /\/blobs\/sha256:/, action: { kind: 'corrupt' }, times: 100 });
        const dir = await other.context('corrupt', { Dockerfile: `FROM ${pushed}\nRUN echo never\n` });
        const result = await other.build(['-t', 'corrupt', '--pull', dir]);
        expect(result.status).not.toBe(0);
        expect(result.stderr).toContain(pushed);
        // The cause: what the bytes hash to is not the digest asked for.
        const refused = /expected sha256:([0-9a-f]{64})/.exec(result.stderr)?.[1] ?? expect.fail(result.stderr);
        expect(await storeNames(other.root)).toEqual(before);
        // Nothing of the refused layer was kept, not even in part, and no layer was stored.
        expect(existsSync(join(other.root, 'blobs', 'sha256', layer.slice(7)))).toBe(false);
        expect(existsSync(join(other.root, 'blobs', 'sha256', refused))).toBe(false);
        // The image's other layers, whose downloads the failure stopped midway, may stay as
        // resumable ingests (verified when they complete); nothing else may be there.
        const { manifest } = await fx.image(pushed);
        const resumable = new Set([manifest.config, ...manifest.layers].map((entry) => entry.digest.slice(7)));
        resumable.delete(refused);
        for (const name of await readdir(join(other.root, 'ingest'))) {
          expect(name).toMatch(/^sha256-[0-9a-f]{64}\.data$/);
          expect(resumable.has(name.slice(7, 71)), name).toBe(true);
        }
        expect(await readdir(join(other.root, 'tmp'))).toEqual([]);
      } finally {
        await other.cleanup();
      }
    } finally {
      await proxy.stop();
      await registry.stop();
    }
  });

  it('gives the same image ID and layers with SOURCE_DATE_EPOCH on fresh roots and on one whose cache was made without it', async () => {
    const roots = [fx, await buildFixture(), await buildFixture()];
    try {
      // The first root has run every step already, without SOURCE_DATE_EPOCH: its cached layers
      // hold the times the steps ran at, and must not be taken for the clamped ones.
      const warm = await fx.context('epoch', { Dockerfile: dockerfile });
      expect((await fx.build(['-t', 'not-epoch', warm])).status).toBe(0);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const ids: string[] = [];
      const layers: string[][] = [];
      for (const [n, root] of roots.entries()) {
        const dir = await root.context('epoch', { Dockerfile: dockerfile });
        // The build argument on two roots, the environment variable on the third.
        const outputs = ['-o', `type=tar,dest=${join(root.dir, 'epoch.tar')}`, '-o', `type=oci,dest=${join(root.dir, 'epoch.oci.tar')}`, '-o', `type=local,dest=${join(root.dir, 'epoch-local')}`];
        const result = n === 2 ? tsbuild(['build', '--root', root.root, '-q', '-t', 'epoch', ...outputs, dir], { SOURCE_DATE_EPOCH: '0' }) : await root.build(['-q', '--build-arg', 'SOURCE_DATE_EPOCH=0', '-t', 'epoch', ...outputs, dir]);
        expect(result.status).toBe(0);
        ids.push(result.stdout.toString().trim());
        const image = await root.image('epoch');
        layers.push(image.manifest.layers.map((layer) => layer.digest));
        expect(image.config.created).toBe('1970-01-01T00:00:00Z');
        expect(new Set((image.config.history ?? []).map((entry) => entry.created))).toEqual(new Set(['1970-01-01T00:00:00Z']));
        const files = (await Promise.all(image.manifest.layers.map((layer) => root.layerFiles(layer)))).flat();
        expect(files.filter((file) => file.mtime !== 0)).toEqual([]);
        // A second to pass between builds: times that are not clamped would differ.
        await new Promise((resolve) => setTimeout(resolve, 1100));
      }
      expect(ids[0]).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(ids[1]).toBe(ids[0]);
      expect(ids[2]).toBe(ids[0]);
      expect(layers[1]).toEqual(layers[0]);
      expect(layers[2]).toEqual(layers[0]);
      // The outputs are the same bytes too.
      for (const name of ['epoch.tar', 'epoch.oci.tar']) {
        const [first, ...others] = await Promise.all(roots.map((root) => readFile(join(root.dir, name))));
        for (const other of others) expect(other.equals(first ?? Buffer.alloc(0))).toBe(true);
      }
      // Every file of a root filesystem output has the epoch's time, as BuildKit's exporters give it.
      for (const root of roots) {
        expect(execFileSync('find', [join(root.dir, 'epoch-local'), '-mindepth', '1', '-printf', '%T@\\n'], { encoding: 'utf8' }).trim().split('\n').filter((time) => Number(time) !== 0)).toEqual([]);
      }
      // Nor are the clamped layers taken for a build without SOURCE_DATE_EPOCH.
      const later = roots[1] ?? expect.fail('no root');
      const plain = await later.build(['-q', '-t', 'later', await later.context('epoch', { Dockerfile: dockerfile })]);
      expect(plain.stdout.trim()).not.toBe(ids[0]);
      expect((await later.image('later')).config.created).not.toBe('1970-01-01T00:00:00Z');
    } finally {
      for (const root of roots.slice(1)) await root.cleanup();
    }
  });

  it('leaves every image it built readable by skopeo and unpackable by umoci', async () => {
    // Run alone, this test still has the main image to check besides the base.
    expect((await fx.build(['-t', 'interop:1', context])).status).toBe(0);
    const index = parseIndex(await readFile(join(fx.root, 'index.json')));
    const named = index.manifests.filter((entry) => entry.annotations?.[refNameAnnotation] !== undefined);
    expect(named.length).toBeGreaterThan(1);
    for (const [n, entry] of named.entries()) {
      const name = entry.annotations?.[refNameAnnotation] ?? '';
      await validateImage(layoutBlobs(fx.root), entry);
      expect((JSON.parse(skopeoInspect(`oci:${fx.root}:${name}`)) as Inspected).Digest).toBe(entry.digest);
      const bundle = join(fx.dir, `every-${n}`);
      execFileSync('umoci', ['unpack', '--image', `${fx.root}:${name}`, bundle], { stdio: 'pipe' });
      expect((await lstat(join(bundle, 'rootfs/bin/busybox'))).isFile()).toBe(true);
      execFileSync('rm', ['-rf', bundle]);
    }
  });
});
