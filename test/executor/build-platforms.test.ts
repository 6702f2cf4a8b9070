/**
 * Builds for another platform than this machine's, as BuildKit makes them without emulation:
 * the cross-compilation pattern (the builder stage on BUILDPLATFORM, the final stage on the
 * target's base image, which only copies), the target's base chosen from a multi-platform
 * index, and a RUN of the target platform run as BuildKit runs it, with what it lacks said when
 * the kernel cannot start its program.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaType, formatReference, hostPlatform, parseIndex, parseReference, type Descriptor, type Platform } from '../../src/common/index.js';
import { readIndex, resolveImage } from '../../src/store/index.js';
import { haveRegistry, startRegistry } from '../helpers/registry.js';
import { runCliCaptured } from '../helpers/run-cli.js';
import { validateLayout } from '../helpers/validate.js';
import { buildFixture, ranSteps, type BuildFixture } from '../helpers/build.js';
import { putBytes, writeRandomImage } from '../helpers/registry-image.js';
import { isRoot } from '../runtime/helpers.js';

const host = hostPlatform();
const other: Platform = host.architecture === 'arm64' ? { os: 'linux', architecture: 'amd64' } : { os: 'linux', architecture: 'arm64' };
const otherName = `${other.os}/${other.architecture}`;
const hostName = `${host.os}/${host.architecture}`;
const qemuName = other.architecture === 'arm64' ? 'qemu-aarch64' : 'qemu-x86_64';
/** Whether this machine has emulation for the other platform (then its RUN steps run). */
const emulated = existsSync(`/proc/sys/fs/binfmt_misc/${qemuName}`);

/** The 64 bytes of an ELF executable's header for machine MACHINE (183 aarch64, 62 x86-64): enough for the kernel to refuse it. */
function elfHeader(machine: number): Buffer {
  const header = Buffer.alloc(64);
  header.write('\x7fELF', 0, 'latin1');
  header.set([2, 1, 1], 4);
  header.writeUInt16LE(2, 16);
  header.writeUInt16LE(machine, 18);
  header.writeUInt32LE(1, 20);
  header.writeUInt16LE(64, 52);
  header.writeUInt16LE(56, 54);
  header.writeUInt16LE(64, 58);
  return header;
}

let fx: BuildFixture;
/** The other platform's image that `multi:latest` holds beside busybox. */
let otherImage: { manifest: Descriptor; layers: readonly Descriptor[] };

beforeAll(async () => {
  if (!isRoot) return;
  fx = await buildFixture();
  const busybox = await fx.store.resolveReference(formatReference(parseReference('busybox')));
  if (busybox === undefined) throw new Error('the fixture has no busybox');
  otherImage = await writeRandomImage(fx.store, { name: 'other-only:latest', layerSizes: [3000], platform: other });
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociIndex,
      manifests: [
        { ...busybox, platform: { os: host.os, architecture: host.architecture } },
        { ...otherImage.manifest, platform: { os: other.os, architecture: other.architecture } },
      ],
    }),
  );
  const digest = await putBytes(fx.store, index);
  await fx.store.setReference(formatReference(parseReference('multi')), { mediaType: MediaType.ociIndex, digest, size: index.length });
}, 120_000);

afterAll(async () => {
  await fx?.cleanup();
});

describe.runIf(isRoot)('build --platform of another machine', () => {
  it('cross-compiles: the builder runs on this machine, the image is the target platform base and what was copied', async () => {
    const context = await fx.context('cross', {
      Dockerfile: [
        'FROM --platform=$BUILDPLATFORM busybox AS build',
        'ARG TARGETPLATFORM TARGETARCH BUILDPLATFORM',
        'RUN echo "built on $BUILDPLATFORM for $TARGETPLATFORM" > /out && echo $TARGETARCH > /arch && uname -m > /machine',
        'FROM multi',
        'ARG TARGETARCH',
        'COPY --from=build /out /arch /machine /',
        'LABEL arch=$TARGETARCH',
        '',
      ].join('\n'),
    });
    const result = await fx.build(['-t', 'cross', '--platform', otherName, context]);
    expect(result.status, result.stderr).toBe(0);
    const image = await fx.image('cross');
    expect(image.config.architecture).toBe(other.architecture);
    expect(image.config.os).toBe('linux');
    expect(image.config.config?.Labels).toEqual({ arch: other.architecture });
    // The target platform's base from the index, then the one COPY.
    expect(image.manifest.layers.slice(0, -1).map((layer) => layer.digest)).toEqual(otherImage.layers.map((layer) => layer.digest));
    expect(image.manifest.layers).toHaveLength(otherImage.layers.length + 1);
    const files = await fx.layerFiles(image.manifest.layers.at(-1) as Descriptor);
    expect(Object.fromEntries(files.map((file) => [file.path, file.text]))).toEqual({
      out: `built on ${hostName} for ${otherName}\n`,
      arch: `${other.architecture}\n`,
      machine: `${host.architecture === 'amd64' ? 'x86_64' : 'aarch64'}\n`,
    });

    // The same Dockerfile for this machine takes the index's other manifest.
    const native = await fx.build(['-t', 'native', context]);
    expect(native.status, native.stderr).toBe(0);
    const nativeImage = await fx.image('native');
    expect(nativeImage.config.architecture).toBe(host.architecture);
    expect(nativeImage.config.config?.Labels).toEqual({ arch: host.architecture });
    expect(nativeImage.manifest.layers.map((layer) => layer.digest)).not.toContain(otherImage.layers[0]?.digest);
  });

  it("runs a RUN of the target's platform as BuildKit does, and says what it lacks when the kernel cannot start its program", async () => {
    // A base of one manifest holds this machine's binaries whatever the build asks: its RUN runs.
    const single = await fx.context('single-manifest-base', { Dockerfile: 'FROM busybox\nRUN uname -m > /machine\n' });
    const built = await fx.build(['-t', 'single-base', '--platform', otherName, single]);
    expect(built.status, built.stderr).toBe(0);
    expect(built.stderr).toContain(`InvalidBaseImagePlatform: Base image busybox was pulled with platform "${hostName}", expected "${otherName}" for current build`);
    const image = await fx.image('single-base');
    expect(image.config.architecture).toBe(other.architecture);
    const files = await fx.layerFiles(image.manifest.layers.at(-1) as Descriptor);
    expect(files.find((file) => file.path === 'machine')?.text).toBe(`${host.architecture === 'amd64' ? 'x86_64' : 'aarch64'}\n`);

    // The other platform's program, which the kernel refuses without an emulator.
    const context = await fx.context('needs-emulation', {
      Dockerfile: ['FROM multi', 'COPY --chmod=755 program /program', 'RUN ["/program"]', ''].join('\n'),
    });
    await writeFile(join(context, 'program'), elfHeader(other.architecture === 'arm64' ? 183 : 62), { mode: 0o755 });
    const result = await fx.build(['-t', 'needs-emulation', '--platform', otherName, context]);
    if (emulated) return;
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/process "\/program" did not complete successfully: execve \/program: Exec format error/);
    expect(result.stderr).toContain(`the step runs for ${otherName}, and this machine (${hostName}) needs emulation for its binaries: a binfmt_misc handler /proc/sys/fs/binfmt_misc/${qemuName} registered with the F flag`);
    expect(result.stderr).toContain('Dockerfile:3');
    expect(await fx.store.resolveReference(formatReference(parseReference('needs-emulation')))).toBeUndefined();
  });
});

/** How many step records an exported cache (a local destination) holds. */
async function cacheRecords(dir: string): Promise<number> {
  const blob = (digest: string): string => join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length));
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  const manifest = JSON.parse(await readFile(blob(index.manifests[0]?.digest ?? ''), 'utf8')) as { config: { digest: string } };
  return (JSON.parse(await readFile(blob(manifest.config.digest), 'utf8')) as { records: unknown[] }).records.length;
}

/** A builder on BUILDPLATFORM that writes for the target, and a final stage of the target's base from the index. */
const crossDockerfile = [
  'FROM --platform=$BUILDPLATFORM busybox AS build',
  'ARG TARGETARCH',
  'RUN echo "for $TARGETARCH" > /out',
  'FROM multi',
  'COPY --from=build /out /out',
  'CMD ["cat", "/out"]',
  '',
].join('\n');

describe.runIf(isRoot)('run and create --platform', () => {
  it("take that platform's image from an index, and refuse a store's image of another platform alone in docker's words", async () => {
    const cli = (args: readonly string[]): Promise<{ status: number; stdout: string; stderr: string }> => runCliCaptured([args[0] ?? '', '--root', fx.root, ...args.slice(1)]);
    const created = await cli(['create', '--platform', otherName, '--pull', 'never', 'multi', 'sh']);
    expect(created.status, created.stderr).toBe(0);
    const id = created.stdout.trim();
    const otherConfig = (await resolveImage(fx.store, otherImage.manifest)).manifest.config.digest;
    expect((await cli(['inspect', '-f', '{{.Image}}', id])).stdout.trim()).toBe(otherConfig);
    expect((await cli(['rm', id])).status).toBe(0);
    // This machine's, named or not: busybox from the same index.
    const own = await cli(['run', '--rm', '--platform', hostName, 'multi', 'echo', 'native']);
    expect([own.status, own.stdout]).toEqual([0, 'native\n']);
    const single = await cli(['run', '--rm', '--pull', 'never', '--platform', otherName, 'busybox', 'true']);
    expect(single.status).toBe(125);
    expect(single.stderr).toContain(`image with reference busybox was found but does not match the specified platform: wanted ${otherName}, actual: ${hostName}`);
  });

  it("run and create an image of another platform without --platform, with docker's warning; the kernel decides", async () => {
    const cli = (args: readonly string[]): Promise<{ status: number; stdout: string; stderr: string }> => runCliCaptured([args[0] ?? '', '--root', fx.root, ...args.slice(1)]);
    // This machine's busybox in an image whose config says the other platform's.
    const dockerfile = 'FROM --platform=$BUILDPLATFORM busybox AS tools\nFROM scratch\nCOPY --from=tools /bin/busybox /bin/busybox\nCMD ["/bin/busybox", "echo", "ran"]\n';
    const built = await fx.build(['-t', 'foreign', '--platform', otherName, await fx.context('foreign', { Dockerfile: dockerfile })]);
    expect(built.status, built.stderr).toBe(0);
    const warning = new RegExp(`^WARNING: The requested image's platform \\(${otherName}\\) does not match the detected host platform \\(${hostName}(/v[1-4])?\\) and no specific platform was requested$`, 'm');
    const ran = await cli(['run', '--rm', 'foreign']);
    expect([ran.status, ran.stdout]).toEqual([0, 'ran\n']);
    expect(ran.stderr).toMatch(warning);
    const created = await cli(['create', 'foreign']);
    expect(created.status, created.stderr).toBe(0);
    expect(created.stderr).toMatch(warning);
    expect((await cli(['rm', created.stdout.trim()])).status).toBe(0);
    // Asked for, the platform draws no warning; nor does this machine's own image.
    const asked = await cli(['run', '--rm', '--platform', otherName, 'foreign']);
    expect([asked.status, asked.stdout, asked.stderr]).toEqual([0, 'ran\n', '']);
    const own = await cli(['run', '--rm', 'busybox', 'true']);
    expect([own.status, own.stderr]).toEqual([0, '']);
  });
});

/** Runs BODY with NAME set to VALUE in this process's environment (the CLI runs in it), restored after. */
async function withVariable<T>(name: string, value: string, body: () => Promise<T>): Promise<T> {
  const saved = process.env[name];
  process.env[name] = value;
  try {
    return await body();
  } finally {
    if (saved === undefined) delete process.env[name];
    else process.env[name] = saved;
  }
}

describe.runIf(isRoot)('DOCKER_DEFAULT_PLATFORM and SOURCE_DATE_EPOCH of the environment', () => {
  it("are build's --platform and its SOURCE_DATE_EPOCH build arg, and run's --platform, unless given", async () => {
    const context = await fx.context('environment-defaults', { Dockerfile: 'FROM --platform=$BUILDPLATFORM busybox AS tools\nFROM scratch\nCOPY --from=tools /bin/busybox /bin/busybox\n' });
    const built = await withVariable('DOCKER_DEFAULT_PLATFORM', otherName, () => withVariable('SOURCE_DATE_EPOCH', '1000', () => fx.build(['-t', 'environment-defaults', context])));
    expect(built.status, built.stderr).toBe(0);
    const image = await fx.image('environment-defaults');
    expect([image.config.architecture, image.config.created]).toEqual([other.architecture, '1970-01-01T00:16:40Z']);
    // A flag or build arg given wins.
    const given = await withVariable('DOCKER_DEFAULT_PLATFORM', otherName, () => withVariable('SOURCE_DATE_EPOCH', '1000', () => fx.build(['-t', 'environment-given', '--platform', hostName, '--build-arg', 'SOURCE_DATE_EPOCH=2000', context])));
    expect(given.status, given.stderr).toBe(0);
    const givenImage = await fx.image('environment-given');
    expect([givenImage.config.architecture, givenImage.config.created]).toEqual([host.architecture, '1970-01-01T00:33:20Z']);
    // busybox is this machine's alone: the environment's platform refuses it, as --platform would.
    const ran = await withVariable('DOCKER_DEFAULT_PLATFORM', otherName, () => runCliCaptured(['run', '--root', fx.root, '--rm', '--pull', 'never', 'busybox', 'true']));
    expect(ran.status).toBe(125);
    expect(ran.stderr).toContain(`image with reference busybox was found but does not match the specified platform: wanted ${otherName}, actual: ${hostName}`);
  });
});

describe.runIf(isRoot)('build --platform with several platforms', () => {
  it('makes an index of an image per platform, named by -t, its ID the index digest; run takes this machine\'s', async () => {
    const context = await fx.context('several', { Dockerfile: crossDockerfile });
    const metadataFile = join(fx.dir, 'several.json');
    const annotated = ['--annotation', 'index:org.example.index=i', '--annotation', 'manifest-descriptor:org.example.descriptor=d', '--annotation', 'org.example.manifest=m'];
    const result = await fx.build(['-t', 'several', '--platform', `${hostName},${otherName}`, '--platform', hostName, '--metadata-file', metadataFile, ...annotated, context]);
    expect(result.status, result.stderr).toBe(0);
    const named = await fx.store.resolveReference(formatReference(parseReference('several')));
    expect(named?.mediaType).toBe(MediaType.ociIndex);
    const index = await readIndex(fx.store, named as Descriptor);
    // Each platform once (the repeated flag too), in the order asked.
    expect(index.manifests.map((manifest) => manifest.platform)).toEqual([
      { architecture: host.architecture, os: 'linux' },
      { architecture: other.architecture, os: 'linux' },
    ]);
    // --annotation by type: the index's, each descriptor in it, each manifest.
    expect(index.annotations).toEqual({ 'org.example.index': 'i' });
    expect(index.manifests.map((manifest) => manifest.annotations)).toEqual([{ 'org.example.descriptor': 'd' }, { 'org.example.descriptor': 'd' }]);
    const [hostImage, otherBuilt] = await Promise.all(index.manifests.map((manifest) => resolveImage(fx.store, manifest)));
    expect([hostImage?.manifest.annotations, otherBuilt?.manifest.annotations]).toEqual([{ 'org.example.manifest': 'm' }, { 'org.example.manifest': 'm' }]);
    expect(hostImage?.config.architecture).toBe(host.architecture);
    expect(otherBuilt?.config.architecture).toBe(other.architecture);
    expect(otherBuilt?.manifest.layers.slice(0, -1).map((layer) => layer.digest)).toEqual(otherImage.layers.map((layer) => layer.digest));
    for (const [image, arch] of [[hostImage, host.architecture], [otherBuilt, other.architecture]] as const) {
      const files = await fx.layerFiles(image?.manifest.layers.at(-1) as Descriptor);
      expect(files.find((file) => file.path === 'out')?.text).toBe(`for ${arch}\n`);
    }
    // BuildKit's step names in a build of several platforms: the platform, and ->ARCH for the cross builder.
    expect(result.stderr).toContain(`[${hostName} build 2/2] RUN echo "for ${host.architecture}" > /out`);
    expect(result.stderr).toContain(`[${hostName}->${other.architecture} build 2/2] RUN echo "for ${other.architecture}" > /out`);
    expect(result.stderr).toContain(`[${otherName} stage-1 2/2] COPY --from=build /out /out`);
    expect(result.stderr).toMatch(new RegExp(`exporting manifest list ${named?.digest ?? ''}`));
    // The definition once; the builder's FROM for the second platform from what the first loaded.
    expect(result.stderr.match(/load build definition/g)).toHaveLength(1);
    const metadata = JSON.parse(await readFile(metadataFile, 'utf8')) as Record<string, unknown>;
    expect(metadata['containerimage.digest']).toBe(named?.digest);
    expect(metadata['containerimage.config.digest']).toBeUndefined();

    // buildx's `local` is this machine's platform: the same build.
    const quiet = await fx.build(['-q', '--platform', `local,${otherName}`, ...annotated, context]);
    expect(quiet.stdout).toBe(`${named?.digest ?? ''}\n`);
    const run = await runCliCaptured(['run', '--root', fx.root, '--rm', 'several']);
    expect([run.status, run.stdout]).toEqual([0, `for ${host.architecture}\n`]);
  });

  it('writes an OCI layout of the index that skopeo reads, splits tar and local outputs by platform, and refuses a docker archive', async () => {
    const context = await fx.context('several-outputs', { Dockerfile: crossDockerfile });
    const layout = join(fx.dir, 'several-layout');
    const tarFile = join(fx.dir, 'several.tar');
    const local = join(fx.dir, 'several-local');
    const result = await fx.build(['--platform', `${hostName},${otherName}`, '--output', `type=oci,dest=${layout},tar=false`, '--output', `type=tar,dest=${tarFile}`, '--output', `type=local,dest=${local}`, context]);
    expect(result.status, result.stderr).toBe(0);
    await validateLayout(layout);
    const top = parseIndex(await readFile(join(layout, 'index.json')));
    expect(top.manifests.map((manifest) => manifest.mediaType)).toEqual([MediaType.ociIndex]);
    const raw = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', `oci:${layout}`], { encoding: 'utf8' })) as { manifests: Array<{ platform: Platform }> };
    expect(raw.manifests.map((manifest) => manifest.platform.architecture)).toEqual([host.architecture, other.architecture]);
    const inspected = JSON.parse(execFileSync('skopeo', ['inspect', '--override-arch', other.architecture, `oci:${layout}`], { encoding: 'utf8' })) as { Architecture: string; Layers: string[] };
    expect(inspected.Architecture).toBe(other.architecture);
    // Layers leave in gzip, as from a build of one platform.
    expect(inspected.Layers).toHaveLength(otherImage.layers.length + 1);

    const hostDirectory = `linux_${host.architecture}`;
    const otherDirectory = `linux_${other.architecture}`;
    const listing = execFileSync('tar', ['-tf', tarFile], { encoding: 'utf8' }).split('\n');
    expect(listing).toEqual(expect.arrayContaining([`${hostDirectory}/`, `${hostDirectory}/out`, `${hostDirectory}/bin/busybox`, `${otherDirectory}/`, `${otherDirectory}/out`]));
    expect(await readFile(join(local, hostDirectory, 'out'), 'utf8')).toBe(`for ${host.architecture}\n`);
    expect(await readFile(join(local, otherDirectory, 'out'), 'utf8')).toBe(`for ${other.architecture}\n`);

    const docker = await fx.build(['--platform', `${hostName},${otherName}`, '--output', `type=docker,dest=${join(fx.dir, 'never.tar')}`, context]);
    expect(docker.status).not.toBe(0);
    expect(docker.stderr).toContain('docker exporter does not currently support exporting manifest lists');
    expect(existsSync(join(fx.dir, 'never.tar'))).toBe(false);
  });

  it('loads the build context and its .dockerignore once for every platform, and copies the same layer into each', async () => {
    const context = await fx.context('several-context', { Dockerfile: 'FROM multi\nCOPY . /app/\n', '.dockerignore': 'secret.txt\n', 'a.txt': 'a\n', 'secret.txt': 's\n' });
    const result = await fx.build(['-t', 'several-context', '--platform', `${hostName},${otherName}`, context]);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr.match(/^#\d+ \[internal\] load build context$/gm)).toHaveLength(1);
    expect(result.stderr.match(/^#\d+ \[internal\] load \.dockerignore$/gm)).toHaveLength(1);
    const index = await readIndex(fx.store, (await fx.store.resolveReference(formatReference(parseReference('several-context')))) as Descriptor);
    const images = await Promise.all(index.manifests.map((manifest) => resolveImage(fx.store, manifest)));
    const copied = images.map((image) => image.config.rootfs.diff_ids.at(-1));
    expect(copied[0]).toBe(copied[1]);
    const files = await fx.layerFiles(images[1]?.manifest.layers.at(-1) as Descriptor);
    expect(files.map((file) => file.path).sort()).toEqual(['app', 'app/.dockerignore', 'app/Dockerfile', 'app/a.txt']);
  });

  it("exports one cache of every platform's steps, mode=min the images' own, that a pruned root builds both from", async () => {
    const context = await fx.context('several-cache', { Dockerfile: crossDockerfile });
    const min = join(fx.dir, 'several-cache-min');
    const max = join(fx.dir, 'several-cache-max');
    const platforms = ['--platform', `${hostName},${otherName}`];
    const built = await fx.build([...platforms, '--no-cache', '--cache-to', `type=local,dest=${min}`, '--cache-to', `type=local,dest=${max},mode=max`, context]);
    expect(built.status, built.stderr).toBe(0);
    // One export step per destination, whatever the number of platforms.
    expect(built.stderr.match(/exporting cache to client directory/g)).toHaveLength(2);
    // mode=min: each image's own steps, as many again as one platform's; mode=max: the builders' besides.
    const one = join(fx.dir, 'one-platform-cache-min');
    const single = await fx.build(['--platform', hostName, '--no-cache', '--cache-to', `type=local,dest=${one}`, context]);
    expect(single.status, single.stderr).toBe(0);
    expect(await cacheRecords(one)).toBeGreaterThan(0);
    expect(await cacheRecords(min)).toBe(2 * (await cacheRecords(one)));
    expect(await cacheRecords(max)).toBeGreaterThan(await cacheRecords(min));
    const pruned = await runCliCaptured(['builder', 'prune', '-a', '-f', '--root', fx.root]);
    expect(pruned.status, pruned.stderr).toBe(0);
    const rebuilt = await fx.build([...platforms, '--cache-from', `type=local,src=${max}`, context]);
    expect(rebuilt.status, rebuilt.stderr).toBe(0);
    // Every step of both platforms from the imported cache: none ran.
    expect(ranSteps(rebuilt.stderr)).toEqual([]);
    expect(rebuilt.stderr.match(/^#\d+ CACHED$/gm)?.length ?? 0).toBeGreaterThanOrEqual(4);
  });

  it.runIf(haveRegistry())('pushes the index with each image, its layers in gzip, as the registry serves it to skopeo', async () => {
    const registry = await startRegistry();
    try {
      const context = await fx.context('several-push', { Dockerfile: crossDockerfile });
      const name = `${registry.host}/several/app:1`;
      const result = await fx.build(['-t', name, '--push', '--platform', `${hostName},${otherName}`, context]);
      expect(result.status, result.stderr).toBe(0);
      const raw = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${name}`], { encoding: 'utf8' })) as { mediaType: string; manifests: Array<{ digest: string; platform: Platform }> };
      expect(raw.mediaType).toBe(MediaType.ociIndex);
      expect(raw.manifests.map((manifest) => manifest.platform.architecture)).toEqual([host.architecture, other.architecture]);
      const copied = join(fx.dir, 'several-pulled');
      await mkdir(copied, { recursive: true });
      const copy = spawnSync('skopeo', ['copy', '--all', '--remove-signatures', '--src-tls-verify=false', `docker://${name}`, `oci:${copied}:pulled`], { encoding: 'utf8' });
      expect(copy.status, copy.stderr).toBe(0);
      await validateLayout(copied);
      const pushedOther = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${registry.host}/several/app@${raw.manifests[1]?.digest ?? ''}`], { encoding: 'utf8' })) as { layers: Array<{ mediaType: string }> };
      expect(new Set(pushedOther.layers.map((layer) => layer.mediaType))).toEqual(new Set(['application/vnd.oci.image.layer.v1.tar+gzip']));
    } finally {
      await registry.stop();
    }
  });
});
