/**
 * `manifest` (inspect, and docker's local lists) and `buildx imagetools` against a real
 * registry: an OCI image, a Docker one, and an index naming the first twice, printed as docker
 * 26 and buildx 0.13 print them (their layouts were taken from those tools on the same documents).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliCaptured } from '../helpers/run-cli.js';
import { openStore } from '../../src/store/index.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { writeRandomImage, type RandomImage } from '../helpers/registry-image.js';

let registry: TestRegistry;
let scratch: string;
let oci: RandomImage;
let docker: RandomImage;
let ociBytes: Buffer;
let indexBytes: Buffer;
let indexDigest: string;

const run = runCliCaptured;

async function manifestBytes(path: string, reference: string): Promise<Buffer> {
  const response = await fetch(`${registry.url}/v2/${path}/manifests/${reference}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' } });
  return Buffer.from(await response.arrayBuffer());
}

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'tsbuild-manifest-inspect-'));
  registry = await startRegistry();
  const root = join(scratch, 'root');
  const store = await openStore({ root });
  oci = await writeRandomImage(store, { name: `${registry.host}/tools/app:oci`, layerSizes: [2000] });
  docker = await writeRandomImage(store, { name: `${registry.host}/tools/app:docker`, layerSizes: [3000], docker: true });
  for (const tag of ['oci', 'docker']) expect((await run(['push', '--root', root, `${registry.host}/tools/app:${tag}`])).status).toBe(0);
  ociBytes = await manifestBytes('tools/app', 'oci');
  const entry = { mediaType: oci.manifest.mediaType, digest: oci.manifest.digest, size: oci.manifest.size };
  indexBytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { ...entry, platform: { architecture: 'amd64', os: 'linux' } },
        { ...entry, annotations: { b: '2', a: '1 <&>' }, platform: { architecture: 'arm', os: 'linux', variant: 'v7', 'os.version': '10.0', 'os.features': ['x', 'y'] } },
      ],
      annotations: { 'org.example': 'z' },
    }),
  );
  indexDigest = `sha256:${createHash('sha256').update(indexBytes).digest('hex')}`;
  const put = await fetch(`${registry.url}/v2/tools/app/manifests/multi`, { method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' }, body: indexBytes });
  expect(put.status).toBe(201);
}, 120_000);

afterAll(async () => {
  await registry.stop();
  await rm(scratch, { recursive: true, force: true });
});

describe('manifest inspect', () => {
  it('prints an image manifest as fetched, indented by tabs in its own key order', async () => {
    const result = await run(['manifest', 'inspect', '--insecure', `${registry.host}/tools/app:oci`]);
    expect(result).toMatchObject({ status: 0, stderr: '' });
    expect(result.stdout).toBe(`${JSON.stringify(JSON.parse(ociBytes.toString()), null, '\t')}\n`);
  });

  it('with -v, the reference, descriptor with the config’s platform, raw bytes and the manifest under its schema’s name', async () => {
    for (const [tag, image, member] of [
      ['oci', oci, 'OCIManifest'],
      ['docker', docker, 'SchemaV2Manifest'],
    ] as const) {
      const result = await run(['manifest', 'inspect', '--insecure', '-v', `${registry.host}/tools/app:${tag}`]);
      expect(result.status).toBe(0);
      const raw = await manifestBytes('tools/app', tag);
      const expected = {
        Ref: `${registry.host}/tools/app:${tag}`,
        Descriptor: { mediaType: image.manifest.mediaType, digest: image.manifest.digest, size: image.manifest.size, platform: { architecture: 'amd64', os: 'linux' } },
        Raw: raw.toString('base64'),
        [member]: JSON.parse(raw.toString()) as unknown,
      };
      expect(result.stdout).toBe(`${JSON.stringify(expected, null, '\t')}\n`);
    }
  });

  it('prints an index as docker assembles one from the manifests it names: three-space indents, each entry’s platform, no annotations', async () => {
    const result = await run(['manifest', 'inspect', '--insecure', `${registry.host}/tools/app:multi`]);
    expect(result.status).toBe(0);
    const entry = { mediaType: oci.manifest.mediaType, size: oci.manifest.size, digest: oci.manifest.digest };
    const expected = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { ...entry, platform: { architecture: 'amd64', os: 'linux' } },
        { ...entry, platform: { architecture: 'arm', os: 'linux', 'os.version': '10.0', 'os.features': ['x', 'y'], variant: 'v7' } },
      ],
    };
    expect(result.stdout).toBe(`${JSON.stringify(expected, null, 3)}\n`);
    const verbose = JSON.parse((await run(['manifest', 'inspect', '--insecure', '-v', `${registry.host}/tools/app:multi`])).stdout) as { Ref: string; Descriptor: { platform: unknown } }[];
    expect(verbose.map((item) => item.Ref)).toEqual([`${registry.host}/tools/app:multi@${oci.manifest.digest}`, `${registry.host}/tools/app:multi@${oci.manifest.digest}`]);
    expect(verbose[1]?.Descriptor.platform).toEqual({ architecture: 'arm', os: 'linux', 'os.version': '10.0', 'os.features': ['x', 'y'], variant: 'v7' });
  });

  it('refuses an index naming more manifests than any image has, rather than asking for each', async () => {
    const entry = { mediaType: oci.manifest.mediaType, digest: oci.manifest.digest, size: oci.manifest.size, platform: { architecture: 'amd64', os: 'linux' } };
    const body = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: Array.from({ length: 1025 }, () => entry) });
    const put = await fetch(`${registry.url}/v2/tools/app/manifests/wide`, { method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' }, body });
    expect(put.status).toBe(201);
    const result = await run(['manifest', 'inspect', '--insecure', `${registry.host}/tools/app:wide`]);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain(`${registry.host}/tools/app:wide: the index names 1025 manifests, more than the 1024 read here`);
    const copied = await run(['buildx', 'imagetools', 'create', '-t', `${registry.host}/elsewhere/wide:1`, `${registry.host}/tools/app:wide`]);
    expect(copied.status).not.toBe(0);
    expect(copied.stderr).toContain('the index names 1025 manifests, more than the 1024 copied here');
  });

  it('reads a registry speaking plain HTTP only with --insecure, loopback or not, as docker 26\'s CLI', async () => {
    const reference = `${registry.host}/tools/app:oci`;
    expect(await run(['manifest', 'inspect', reference])).toMatchObject({ status: 1, stdout: '', stderr: `no such manifest: ${reference}\n` });
    expect((await run(['manifest', 'inspect', '--insecure', reference])).status).toBe(0);
  });

  it('says there is no such manifest for a missing tag, digest or repository, and exits 1', async () => {
    for (const reference of [`${registry.host}/tools/app:nosuch`, `${registry.host}/tools/none:latest`, `${registry.host}/tools/app@sha256:${'0'.repeat(64)}`]) {
      expect(await run(['manifest', 'inspect', '--insecure', reference])).toMatchObject({ status: 1, stdout: '', stderr: `no such manifest: ${reference}\n` });
    }
  });
});

describe('buildx imagetools inspect', () => {
  it('prints the name, media type and digest, and for an index each manifest it names', async () => {
    const single = await run(['buildx', 'imagetools', 'inspect', `${registry.host}/tools/app:oci`]);
    expect(single.stdout).toBe(`Name:      ${registry.host}/tools/app:oci\nMediaType: ${oci.manifest.mediaType}\nDigest:    ${oci.manifest.digest}\n`);
    const multi = await run(['buildx', 'imagetools', 'inspect', `${registry.host}/tools/app:multi`]);
    const name = `${registry.host}/tools/app:multi@${oci.manifest.digest}`;
    expect(multi.stdout).toBe(
      [
        `Name:      ${registry.host}/tools/app:multi`,
        'MediaType: application/vnd.oci.image.index.v1+json',
        `Digest:    ${indexDigest}`,
        '           ',
        'Manifests: ',
        `  Name:        ${name}`,
        `  MediaType:   ${oci.manifest.mediaType}`,
        '  Platform:    linux/amd64',
        '               ',
        `  Name:        ${name}`,
        `  MediaType:   ${oci.manifest.mediaType}`,
        '  Platform:    linux/arm/v7',
        '  OSVersion:   10.0',
        '  OSFeatures:  x, y',
        '  Annotations: ',
        '    a: 1 <&>',
        '    b: 2',
        '',
      ].join('\n'),
    );
  });

  it('prints the bytes as fetched with --raw, and fills --format templates with the manifest and the image config', async () => {
    const raw = await run(['buildx', 'imagetools', 'inspect', '--raw', `${registry.host}/tools/app:multi`]);
    expect(raw.stdout).toBe(indexBytes.toString());
    const manifest = await run(['buildx', 'imagetools', 'inspect', '--format', '{{json .Manifest}}', `${registry.host}/tools/app:oci`]);
    expect(manifest.stdout).toBe(JSON.stringify({ mediaType: oci.manifest.mediaType, digest: oci.manifest.digest, size: oci.manifest.size }, null, 2));
    const fields = await run(['buildx', 'imagetools', 'inspect', '--format', '{{.Name}} {{.Image.Architecture}} {{json .Image.Config.Env}} {{.Image.RootFS.Type}}', `${registry.host}/tools/app:oci`]);
    expect(fields.stdout).toBe(`${registry.host}/tools/app:oci amd64 [\n  "PATH=/bin"\n] layers`);
    const entries = await run(['buildx', 'imagetools', 'inspect', '--format', '{{range .Manifest.Manifests}}{{.Platform.Architecture}} {{end}}', `${registry.host}/tools/app:multi`]);
    expect(entries.stdout).toBe('amd64 arm ');
    const whole = JSON.parse((await run(['buildx', 'imagetools', 'inspect', '--format', '{{json .}}', `${registry.host}/tools/app:multi`])).stdout) as Record<string, unknown>;
    expect(Object.keys(whole)).toEqual(['name', 'manifest', 'image']);
    expect(Object.keys(whole['image'] as object)).toEqual(['linux/amd64', 'linux/arm/v7']);
    expect(Object.keys(whole['manifest'] as object)).toEqual(['schemaVersion', 'mediaType', 'digest', 'size', 'manifests', 'annotations']);
  });

  it('fails a template asking a typed struct for a field it has not, as Go\'s templates (buildx 0.13\'s words), a map\'s missing key printing <no value>', async () => {
    const single = `${registry.host}/tools/app:oci`;
    const format = async (template: string, reference = single): Promise<{ status: number | null; stdout: string; stderr: string }> => run(['buildx', 'imagetools', 'inspect', '--format', template, reference]);
    expect(await format('{{.Nope}}')).toMatchObject({ status: 1, stdout: '', stderr: 'ERROR: template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope in type imagetools.tplInput\n' });
    // A chain is placed at its second field; the column counts from its line's start.
    expect(await format('{{ .Image.Config.Nope }}')).toMatchObject({ status: 1, stderr: 'ERROR: template: :1:9: executing "" at <.Image.Config.Nope>: can\'t evaluate field Nope in type v1.ImageConfig\n' });
    expect((await format('{{.Name}}\n{{.Image.Nope.X}}')).stderr).toBe('ERROR: template: :2:8: executing "" at <.Image.Nope.X>: can\'t evaluate field Nope in type *v1.Image\n');
    // Not a list: a single manifest has no Manifests (buildx holds it as an interface{}).
    expect((await format('x{{.Manifest.Manifests}}')).stderr).toBe('ERROR: template: :1:12: executing "" at <.Manifest.Manifests>: can\'t evaluate field Manifests in type interface {}\n');
    expect((await format('{{(index .Manifest.Manifests 0).Nope}}', `${registry.host}/tools/app:multi`)).stderr).toContain("can't evaluate field Nope in type v1.Descriptor");
    // Fields that are there, empty or not, and the embedded Platform; a map's missing key.
    expect(await format('{{.Image.RootFS.Type}} {{.Image.Platform.OS}} {{.Image.Config.Labels.nope}}')).toMatchObject({ status: 0, stdout: 'layers linux <no value>' });
    // {{.Manifest…}} formats still print the manifest's lines, as buildx's.
    expect((await format('{{.Manifest.Manifests}}')).stdout).toMatch(/^Name: +\S+\nMediaType: /);
  });

  it('says a missing image is not found, and exits 1', async () => {
    expect(await run(['buildx', 'imagetools', 'inspect', `${registry.host}/tools/app:nosuch`])).toMatchObject({ status: 1, stdout: '', stderr: `ERROR: ${registry.host}/tools/app:nosuch: not found\n` });
  });
});

describe('buildx imagetools create', () => {
  const platform = { architecture: 'amd64', os: 'linux' };

  it('makes an OCI index of images, each with its config’s platform, shown by --dry-run as buildx marshals it', async () => {
    const result = await run(['buildx', 'imagetools', 'create', '--dry-run', '-t', `${registry.host}/tools/app:x`, `${registry.host}/tools/app:oci`, `${registry.host}/tools/app:docker`, oci.manifest.digest]);
    expect(result.status).toBe(0);
    const descriptor = (image: RandomImage): object => ({ mediaType: image.manifest.mediaType, digest: image.manifest.digest, size: image.manifest.size, platform });
    // The bare digest names the OCI image again: it is listed once.
    expect(result.stdout).toBe(`${JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [descriptor(oci), descriptor(docker)] }, null, 2)}\n`);
    const dockerOnly = JSON.parse((await run(['buildx', 'imagetools', 'create', '--dry-run', `${registry.host}/tools/app:docker`])).stdout) as { mediaType: string };
    expect(dockerOnly.mediaType).toBe('application/vnd.docker.distribution.manifest.list.v2+json');
    // One index and nothing to add: kept byte for byte.
    expect((await run(['buildx', 'imagetools', 'create', '--dry-run', `${registry.host}/tools/app:multi`])).stdout).toBe(`${indexBytes.toString()}\n`);
    const annotated = JSON.parse((await run(['buildx', 'imagetools', 'create', '--dry-run', '--annotation', 'index:org.example.b=2', '--annotation', 'index:org.example.a=<1>', `${registry.host}/tools/app:multi`])).stdout) as { annotations: object; manifests: { annotations?: object; platform: object }[] };
    expect(annotated.annotations).toEqual({ 'org.example.a': '<1>', 'org.example.b': '2' });
    // The index names one manifest twice: once in the new one, the later entry's platform and annotations merged in.
    expect(annotated.manifests).toHaveLength(1);
    expect(annotated.manifests[0]?.annotations).toEqual({ a: '1 <&>', b: '2' });
    expect(annotated.manifests[0]?.platform).toEqual({ architecture: 'arm', os: 'linux', 'os.version': '10.0', 'os.features': ['x', 'y'], variant: 'v7' });
  });

  it('pushes the index under every tag, copying sources from other repositories and registries first', async () => {
    const other = await startRegistry();
    try {
      const targets = [`${registry.host}/other/multi:1`, `${other.host}/far/multi:2`];
      const dry = await run(['buildx', 'imagetools', 'create', '--dry-run', `${registry.host}/tools/app:oci`, `${registry.host}/tools/app:docker`]);
      const result = await run(['buildx', 'imagetools', 'create', ...targets.flatMap((target) => ['-t', target]), `${registry.host}/tools/app:oci`, `${registry.host}/tools/app:docker`]);
      expect(result.status).toBe(0);
      const digest = `sha256:${createHash('sha256').update(dry.stdout.slice(0, -1)).digest('hex')}`;
      expect(result.stderr).toContain(`#1 [internal] pushing ${targets[0] ?? ''}\n`);
      expect(result.stderr).toContain(`copying ${docker.manifest.digest} from ${registry.host}/tools/app:docker to ${targets[1] ?? ''}\n`);
      expect(result.stderr).toContain(`pushing ${digest} to ${targets[1] ?? ''}\n`);
      for (const target of targets) {
        const inspected = await run(['buildx', 'imagetools', 'inspect', '--raw', target]);
        expect(inspected.stdout).toBe(dry.stdout.slice(0, -1));
        // Every manifest, config and layer is in the target repository: a pull of it into a fresh store works.
        const root = join(scratch, `pulled-${target.replace(/[^a-z0-9]/gi, '-')}`);
        const pulled = await run(['pull', '--root', root, target]);
        expect(pulled.status).toBe(0);
        expect(pulled.stdout).toContain(`Digest: ${digest}\n`);
        const layers = await run(['image', 'inspect', '-f', '{{json .RootFS.Layers}}', '--root', root, target]);
        expect(layers.status).toBe(0);
      }
    } finally {
      await other.stop();
    }
  }, 60_000);

  it("refuses what buildx refuses, in its words", async () => {
    expect(await run(['buildx', 'imagetools', 'create', `${registry.host}/tools/app:oci`])).toMatchObject({ status: 1, stderr: "ERROR: can't push with no tags specified, please set --tag or --dry-run\n" });
    expect(await run(['buildx', 'imagetools', 'create', '--dry-run', '--annotation', 'a=b', `${registry.host}/tools/app:oci`])).toMatchObject({ status: 1, stderr: 'ERROR: "" annotations are not supported yet\n' });
    expect(await run(['buildx', 'imagetools', 'create', '--dry-run', '--annotation', 'manifest-descriptor:a=b', `${registry.host}/tools/app:oci`])).toMatchObject({ status: 1, stderr: 'ERROR: "manifest-descriptor" annotations are invalid while creating an image\n' });
    expect(await run(['buildx', 'imagetools', 'create', '--dry-run', `${registry.host}/tools/app:gone`])).toMatchObject({ status: 1, stderr: `ERROR: ${registry.host}/tools/app:gone: not found\n` });
  });
});

describe("docker's local manifest lists: manifest create, annotate, inspect, push, rm", () => {
  let config: string;
  let saved: string | undefined;

  beforeAll(async () => {
    saved = process.env['DOCKER_CONFIG'];
    config = await mkdtemp(join(tmpdir(), 'tsbuild-docker-config-'));
    process.env['DOCKER_CONFIG'] = config;
  });
  afterAll(async () => {
    if (saved === undefined) delete process.env['DOCKER_CONFIG'];
    else process.env['DOCKER_CONFIG'] = saved;
    await rm(config, { recursive: true, force: true });
  });

  it('keeps a list where docker does, in its format, and pushes it with the images it names', async () => {
    const list = `${registry.host}/tools/list:1`;
    const images = [`${registry.host}/tools/app:oci`, `${registry.host}/tools/app:docker`];
    // A registry speaking plain HTTP is read only with --insecure, loopback or not, as docker's CLI reads one.
    expect(await run(['manifest', 'create', list, ...images])).toMatchObject({ status: 1, stdout: '', stderr: `no such manifest: ${images[0] ?? ''}\n` });
    expect(await run(['manifest', 'create', '--insecure', list, ...images])).toMatchObject({ status: 0, stdout: `Created manifest list ${list}\n` });
    const directory = join(config, 'manifests', `${registry.host.replace(':', '-')}_tools_list-1`);
    const files = (await readdir(directory)).sort();
    expect(files).toEqual([`${registry.host.replace(':', '-')}_tools_app-docker`, `${registry.host.replace(':', '-')}_tools_app-oci`]);
    const stored = JSON.parse(await readFile(join(directory, files[1] ?? ''), 'utf8')) as Record<string, unknown>;
    expect(Object.keys(stored)).toEqual(['Ref', 'Descriptor', 'Raw', 'OCIManifest']);
    expect(Buffer.from(stored['Raw'] as string, 'base64')).toEqual(ociBytes);
    expect(await run(['manifest', 'create', list, images[0] ?? ''])).toMatchObject({ status: 1, stderr: 'refusing to amend an existing manifest list with no --amend flag\n' });

    expect((await run(['manifest', 'annotate', list, images[1] ?? '', '--arch', 'arm64', '--variant', 'v8', '--os-features', 'a,b'])).status).toBe(0);
    expect(await run(['manifest', 'annotate', list, images[1] ?? '', '--arch', 'foo'])).toMatchObject({ status: 1, stderr: 'manifest entry for image has unsupported os/arch combination: /foo\n' });
    expect(await run(['manifest', 'annotate', list, `${registry.host}/tools/app:nope`, '--arch', 'amd64'])).toMatchObject({ status: 1, stderr: `manifest for image ${registry.host}/tools/app:nope does not exist in ${list}\n` });
    // The local list comes first: in file-name order, with the annotated platform.
    const expected = {
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json',
      manifests: [
        { mediaType: docker.manifest.mediaType, size: docker.manifest.size, digest: docker.manifest.digest, platform: { architecture: 'arm64', os: 'linux', 'os.features': ['a', 'b'], variant: 'v8' } },
        { mediaType: oci.manifest.mediaType, size: oci.manifest.size, digest: oci.manifest.digest, platform: { architecture: 'amd64', os: 'linux' } },
      ],
    };
    expect((await run(['manifest', 'inspect', list])).stdout).toBe(`${JSON.stringify(expected, null, 3)}\n`);
    expect((await run(['manifest', 'inspect', list, images[0] ?? ''])).stdout).toBe(`${JSON.stringify(JSON.parse(ociBytes.toString()), null, '\t')}\n`);

    // docker's push reaches a loopback registry over plain HTTP without --insecure.
    const pushed = await run(['manifest', 'push', '--purge', list]);
    expect(pushed.status).toBe(0);
    const body = JSON.stringify(expected, null, 3);
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    expect(pushed.stdout).toBe(
      `Pushed ref ${registry.host}/tools/list@${docker.manifest.digest} with digest: ${docker.manifest.digest}\nPushed ref ${registry.host}/tools/list@${oci.manifest.digest} with digest: ${oci.manifest.digest}\n${digest}\n`,
    );
    expect((await run(['buildx', 'imagetools', 'inspect', '--raw', list])).stdout).toBe(body);
    // The images were copied into the list's repository: their configs are read from there.
    expect((await run(['manifest', 'inspect', '--insecure', '-v', `${registry.host}/tools/list@${docker.manifest.digest}`])).status).toBe(0);
    expect(existsSync(directory)).toBe(false);
    expect(await run(['manifest', 'push', list])).toMatchObject({ status: 1, stderr: `No such manifest: ${list}\n` });
    expect(await run(['manifest', 'rm', list, `${registry.host}/tools/list:2`])).toMatchObject({ status: 1, stderr: `No such manifest: ${list}\nNo such manifest: ${registry.host}/tools/list:2\n` });
  });
});
