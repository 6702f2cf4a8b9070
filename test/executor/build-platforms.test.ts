/**
 * Builds for another platform than this machine's, as BuildKit makes them without emulation:
 * the cross-compilation pattern (the builder stage on BUILDPLATFORM, the final stage on the
 * target's base image, which only copies), the target's base chosen from a multi-platform
 * index, and a RUN of the target platform run as BuildKit runs it, with what it lacks said when
 * the kernel cannot start its program.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaType, formatReference, hostPlatform, parseReference, type Descriptor, type Platform } from '../../src/common/index.js';
import { buildFixture, type BuildFixture } from '../helpers/build.js';
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
