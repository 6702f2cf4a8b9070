/**
 * Docker Hub's mirrors, as docker's daemon.json names them (`registry-mirrors`): an image of
 * Docker Hub is pulled from each mirror in turn, one that fails passed over, before Docker Hub
 * itself (which this machine cannot reach: a pull that succeeds came from a mirror).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configuredMirrors } from '../../src/registry/index.js';
import { openStore } from '../../src/store/index.js';
import { haveRegistry, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { writeRandomImage, type RandomImage } from '../helpers/registry-image.js';
import { runCliCaptured as run } from '../helpers/run-cli.js';

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'tsbuild-mirrors-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('registry-mirrors of daemon.json', () => {
  it('are read in order, each http(s)://host[:port]; one that is no such URL is passed over', async () => {
    const path = join(scratch, 'daemon.json');
    await writeFile(path, JSON.stringify({ 'registry-mirrors': ['https://mirror.example', 'http://127.0.0.1:5000/', 'ftp://x.example', 'https://p.example/sub/path', 'https://u:p@q.example', 'not a url', 42, 'https://mirror.example'] }));
    expect(configuredMirrors({ daemonConfigs: [path, join(scratch, 'missing.json')], registriesConfs: [] })).toEqual(['https://mirror.example', 'http://127.0.0.1:5000']);
  });
});

describe.runIf(haveRegistry())('a pull of a Docker Hub image with mirrors configured', () => {
  let registry: TestRegistry;
  let image: RandomImage;
  let saved: string | undefined;

  beforeAll(async () => {
    registry = await startRegistry();
    const source = join(scratch, 'source');
    image = await writeRandomImage(await openStore({ root: source }), { name: `${registry.host}/library/mirrored:1`, layerSizes: [20_000] });
    const pushed = await run(['push', '--root', source, `${registry.host}/library/mirrored:1`]);
    if (pushed.status !== 0) throw new Error(pushed.stderr);
    const config = join(scratch, 'config');
    await mkdir(join(config, 'docker'), { recursive: true });
    // A mirror that answers nothing first: passed over for the next.
    await writeFile(join(config, 'docker', 'daemon.json'), JSON.stringify({ 'registry-mirrors': ['http://127.0.0.1:9', `http://${registry.host}`] }));
    saved = process.env.XDG_CONFIG_HOME;
    process.env.XDG_CONFIG_HOME = config;
  });
  afterAll(async () => {
    if (saved === undefined) delete process.env.XDG_CONFIG_HOME;
    else process.env.XDG_CONFIG_HOME = saved;
    await registry.stop();
  });

  it('comes from the first mirror that has it, named as Docker Hub’s', async () => {
    const root = join(scratch, 'pulled');
    const pulled = await run(['pull', '--root', root, 'mirrored:1']);
    expect(pulled.status, pulled.stderr).toBe(0);
    expect(pulled.stdout).toContain(`Digest: ${image.manifest.digest}`);
    expect(pulled.stdout).toContain('Status: Downloaded newer image for mirrored:1');
    const store = await openStore({ root });
    expect((await store.resolveReference('docker.io/library/mirrored:1'))?.digest).toBe(image.manifest.digest);
    // Another registry's images never go through Docker Hub's mirrors.
    const elsewhere = await run(['pull', '--root', root, 'registry.mirrors.test/library/mirrored:1']);
    expect(elsewhere.status).not.toBe(0);
  });
});
