import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliCaptured } from '../helpers/run-cli.js';
import { openStore } from '../../src/store/index.js';
import { makeCertificate, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { validateLayout } from '../helpers/validate.js';
import { writeRandomImage, type RandomImage } from '../helpers/registry-image.js';

let registry: TestRegistry;
let scratch: string;
let sourceRoot: string;
let image: RandomImage;

const run = runCliCaptured;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'tsbuild-cli-transfer-'));
  registry = await startRegistry();
  sourceRoot = join(scratch, 'source');
  image = await writeRandomImage(await openStore({ root: sourceRoot }), { name: `${registry.host}/cli/app:1`, layerSizes: [120_000, 4000] });
});

afterAll(async () => {
  await registry.stop();
  await rm(scratch, { recursive: true, force: true });
});

describe('tsbuild push and pull', () => {
  it('pushes with plain per-layer progress and prints the digest', async () => {
    const result = await run(['push', '--root', sourceRoot, `${registry.host}/cli/app:1`, `${registry.host}/cli/app:1`, `${registry.host}/cli/app:2`]);
    expect(result.status).toBe(0);
    // The progress then the digests on standard output, as docker's push writes them.
    expect(result.stdout).toMatch(
      new RegExp(`\n${registry.host}/cli/app:1: digest: ${image.manifest.digest} size: ${image.manifest.size}\n${registry.host}/cli/app:2: digest: ${image.manifest.digest} size: ${image.manifest.size}\n$`),
    );
    for (const layer of image.layers) expect(result.stdout).toContain(`${layer.digest.slice(7, 19)}: Pushed`);
    // As docker: layers only; the config is not one.
    expect(result.stdout).not.toContain(image.config.digest.slice(7, 19));
    expect(result.stdout).not.toMatch(/\x1b\[/);
    expect(result.stderr).toBe('');
    // An image to its own name: docker's first line, and the tag alone with its digest.
    const own = await run(['push', '--root', sourceRoot, `${registry.host}/cli/app:1`]);
    expect(own.stdout).toMatch(new RegExp(`^The push refers to repository \\[${registry.host}/cli/app\\]\n(.*\n)*1: digest: ${image.manifest.digest} size: ${image.manifest.size}\n$`));

    const copy = await run(['push', '--root', sourceRoot, `${registry.host}/cli/app:1`, `${registry.host}/cli/copy:1`]);
    expect(copy.status).toBe(0);
    for (const layer of image.layers) expect(copy.stdout).toContain(`${layer.digest.slice(7, 19)}: Mounted from cli/app\n`);
  });

  it('pulls into a store that skopeo reads as an OCI layout', async () => {
    const root = join(scratch, 'pulled');
    const result = await run(['pull', '--root', root, `${registry.host}/cli/app:2`]);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(`Digest: ${image.manifest.digest}\n`);
    expect(result.stdout).toContain(`Status: Downloaded newer image for ${registry.host}/cli/app:2\n`);
    for (const layer of image.layers) expect(result.stdout).toContain(`${layer.digest.slice(7, 19)}: Pull complete`);
    expect(result.stderr).not.toContain(image.config.digest.slice(7, 19));
    const inspected = JSON.parse(execFileSync('skopeo', ['inspect', `oci:${root}:${registry.host}/cli/app:2`], { encoding: 'utf8' })) as { Digest: string; Layers: string[] };
    expect(inspected.Digest).toBe(image.manifest.digest);
    expect(inspected.Layers).toEqual(image.layers.map((layer) => layer.digest));
    await validateLayout(root);

    const again = await run(['pull', '--root', root, `${registry.host}/cli/app:2`]);
    expect(again.stdout).toContain('Status: Image is up to date');
    expect(again.stdout).toContain('Already exists');

    // A new tag whose every blob is already here is still a newer image, as docker says; and a
    // reference without a tag says it takes latest.
    expect((await run(['push', '--root', sourceRoot, `${registry.host}/cli/app:1`, `${registry.host}/cli/untagged`])).status).toBe(0);
    const untagged = await run(['pull', '--root', root, `${registry.host}/cli/untagged`]);
    expect(untagged.status).toBe(0);
    // docker's pull writes its progress on standard output, in order.
    expect(untagged.stdout).toMatch(/^Using default tag: latest\nlatest: Pulling from cli\/untagged\n/);
    expect(untagged.stderr).toBe('');
    expect(untagged.stdout).not.toContain('Downloading');
    expect(untagged.stdout).toContain(`Status: Downloaded newer image for ${registry.host}/cli/untagged:latest\n`);
    // Pulling from is said once the registry has the image, as docker's: not for one it does not have.
    const missing = await run(['pull', '--root', root, `${registry.host}/cli/untagged:nosuch`]);
    expect(missing.status).toBe(1);
    expect(missing.stdout).not.toContain('Pulling from');
  });

  it('pulls every tag of a repository with --all-tags, as docker pull -a', async () => {
    expect((await run(['push', '--root', sourceRoot, `${registry.host}/cli/app:1`, `${registry.host}/cli/every:one`, `${registry.host}/cli/every:two`])).status).toBe(0);
    const root = join(scratch, 'all-tags');
    const result = await run(['pull', '--all-tags', '--root', root, `${registry.host}/cli/every`]);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('one: Pulling from cli/every\n');
    expect(result.stdout).toContain('two: Pulling from cli/every\n');
    expect(result.stdout).toMatch(new RegExp(`Status: Downloaded newer image for ${registry.host}/cli/every\\n${registry.host}/cli/every\\n$`));
    const listed = await run(['images', '--format', 'json', '--root', root]);
    expect(listed.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { Tag: string }).Tag)).toEqual(['one', 'two']);
    const tagged = await run(['pull', '-a', '--root', root, `${registry.host}/cli/every:one`]);
    expect(tagged.status).toBe(1);
    expect(tagged.stderr).toMatch(/a tag or digest cannot be used with --all-tags/);

    // And back, as docker push -a: every tag of the repository in the store, each to itself.
    for (const tag of ['x', 'y']) expect((await run(['tag', '--root', root, `${registry.host}/cli/every:one`, `${registry.host}/cli/again:${tag}`])).status).toBe(0);
    const pushed = await run(['push', '-a', '--root', root, `${registry.host}/cli/again`]);
    expect(pushed.status).toBe(0);
    // Each tag to itself, as docker's: the tag alone with its digest.
    expect(pushed.stdout).toContain(`\nx: digest: ${image.manifest.digest}`);
    expect(pushed.stdout).toContain(`\ny: digest: ${image.manifest.digest}`);
    const back = await run(['pull', '-a', '-q', '--root', join(scratch, 'again'), `${registry.host}/cli/again`]);
    expect(back.status).toBe(0);
    expect((await run(['images', '--format', 'json', '--root', join(scratch, 'again')])).stdout.trim().split('\n').map((line) => (JSON.parse(line) as { Tag: string }).Tag)).toEqual(['x', 'y']);
    expect((await run(['push', '-a', '--root', root, `${registry.host}/cli/none`])).stderr).toMatch(/no tagged image of/);
  });

  it('draws bars on a terminal', async () => {
    const result = await run(['pull', '--root', join(scratch, 'tty'), `${registry.host}/cli/app:1`], true);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/\x1b\[2K/);
    expect(result.stdout).toContain('Pull complete');
  });

  it('reaches a registry with an untrusted certificate only when named insecure', async () => {
    const tlsRegistry = await startRegistry({ tls: await makeCertificate(scratch, 'untrusted') });
    try {
      const name = `${tlsRegistry.host}/cli/app:1`;
      const refused = await run(['push', '--root', sourceRoot, `${registry.host}/cli/app:1`, name]);
      expect(refused.status).toBe(1);
      expect(refused.stderr).toMatch(/over HTTPS: .*certificate/i);
      const pushed = await run(['push', '--insecure-registry', tlsRegistry.host, '--root', sourceRoot, `${registry.host}/cli/app:1`, name]);
      expect(pushed.status).toBe(0);
      const pulled = await run(['pull', '--insecure-registry', tlsRegistry.host, '--root', join(scratch, 'insecure'), name]);
      expect(pulled.status).toBe(0);
      expect(pulled.stdout).toContain(`Digest: ${image.manifest.digest}`);

      // Named insecure in the machine's registries.conf instead of on the command line.
      const conf = join(scratch, 'registries.conf');
      await writeFile(conf, `[[registry]]\nlocation = "${tlsRegistry.host}"\ninsecure = true\n`);
      const saved = process.env.CONTAINERS_REGISTRIES_CONF;
      process.env.CONTAINERS_REGISTRIES_CONF = conf;
      try {
        const configured = await run(['pull', '--root', join(scratch, 'insecure-conf'), name]);
        expect(configured.status).toBe(0);
        expect(configured.stdout).toContain(`Digest: ${image.manifest.digest}`);
      } finally {
        if (saved === undefined) delete process.env.CONTAINERS_REGISTRIES_CONF;
        else process.env.CONTAINERS_REGISTRIES_CONF = saved;
      }
    } finally {
      await tlsRegistry.stop();
    }
  });

  it('reports bad references and platforms as errors', async () => {
    const bad = await run(['pull', '--root', join(scratch, 'bad'), 'Not_Valid::ref']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/^parse reference "Not_Valid::ref": invalid reference format: /);
    const platform = await run(['pull', '--root', join(scratch, 'bad'), '--platform', 'linux/', `${registry.host}/cli/app:1`]);
    expect(platform.status).toBe(1);
    expect(platform.stderr).toMatch(/parse platform/);
    const missing = await run(['push', '--root', join(scratch, 'bad'), `${registry.host}/cli/none:1`]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toBe(`An image does not exist locally with the tag: ${registry.host}/cli/none\n`);
  });

  it("says a manifest the registry lacks in docker's words, and a build's base in BuildKit's", async () => {
    const pulled = await run(['pull', '--root', join(scratch, 'unknown'), `${registry.host}/cli/app:nope`]);
    expect(pulled.status).toBe(1);
    expect(pulled.stderr).toBe(`Error response from daemon: manifest for ${registry.host}/cli/app:nope not found: manifest unknown: manifest unknown\n`);
    const context = join(scratch, 'unknown-base');
    mkdirSync(context, { recursive: true });
    writeFileSync(join(context, 'Dockerfile'), `FROM ${registry.host}/cli/app:nope\n`);
    const built = await run(['build', '--root', join(scratch, 'unknown'), '--progress', 'quiet', context]);
    expect(built.status).toBe(1);
    const base = `${registry.host}/cli/app:nope`;
    expect(built.stderr.trimEnd().split('\n').at(-1)).toBe(`ERROR: failed to solve: ${base}: failed to resolve source metadata for ${base}: ${base}: not found`);
  });
});
