/**
 * Registries' mirrors, as docker's daemon.json names them (`registry-mirrors`, Docker Hub's) and
 * podman's registries.conf: an image is pulled from each mirror in turn, one that fails passed
 * over, before its registry itself (which this machine cannot reach: a pull that succeeds came
 * from a mirror).
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
    expect(configuredMirrors({ daemonConfigs: [path, join(scratch, 'missing.json')], registriesConfs: [] })).toEqual([
      { registry: 'docker.io', url: 'https://mirror.example' },
      { registry: 'docker.io', url: 'http://127.0.0.1:5000' },
    ]);
  });

  it('and registries.conf’s mirror tables, for any registry, after daemon.json’s', async () => {
    const daemon = join(scratch, 'daemon-one.json');
    await writeFile(daemon, JSON.stringify({ 'registry-mirrors': ['https://hub-mirror.example'] }));
    const conf = join(scratch, 'registries.conf');
    await writeFile(
      conf,
      [
        'unqualified-search-registries = ["docker.io"]',
        '[[registry]]',
        'prefix = "docker.io"',
        'location = "docker.io"',
        '[[registry.mirror]]',
        'location = "mirror.gcr.io"',
        '[[registry.mirror]]',
        'location = "localhost:5001"',
        'insecure = true',
        '',
        '[[registry]]',
        'location = "quay.io"',
        'mirror-by-digest-only = true',
        '[[registry.mirror]]',
        'location = "quay-mirror.example"',
        '[[registry.mirror]]',
        '# a path the registry API cannot be reached under: passed over',
        'location = "proxy.example/quay"',
        '',
        '[[registry]]',
        'prefix = "example.com/team"',
        '[[registry.mirror]]',
        'location = "team-mirror.example"',
        '',
      ].join('\n'),
    );
    expect(configuredMirrors({ daemonConfigs: [daemon], registriesConfs: [conf] })).toEqual([
      { registry: 'docker.io', url: 'https://hub-mirror.example' },
      { registry: 'docker.io', url: 'https://mirror.gcr.io' },
      { registry: 'docker.io', url: 'http://localhost:5001' },
      { registry: 'quay.io', url: 'https://quay-mirror.example', digestOnly: true },
    ]);
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

  it('comes from a mirror registries.conf names for another registry, by digest alone when it says so', async () => {
    const conf = join(scratch, 'mirrors-registries.conf');
    const table = (digestOnly: boolean): string =>
      ['[[registry]]', 'location = "registry.mirrors.test"', `mirror-by-digest-only = ${String(digestOnly)}`, '[[registry.mirror]]', `location = "${registry.host}"`, 'insecure = true', ''].join('\n');
    const saved = process.env.CONTAINERS_REGISTRIES_CONF;
    process.env.CONTAINERS_REGISTRIES_CONF = conf;
    try {
      await writeFile(conf, table(false));
      const root = join(scratch, 'pulled-conf');
      const pulled = await run(['pull', '--root', root, 'registry.mirrors.test/library/mirrored:1']);
      expect(pulled.status, pulled.stderr).toBe(0);
      expect((await (await openStore({ root })).resolveReference('registry.mirrors.test/library/mirrored:1'))?.digest).toBe(image.manifest.digest);
      await writeFile(conf, table(true));
      expect((await run(['pull', '--root', join(scratch, 'by-tag'), 'registry.mirrors.test/library/mirrored:1'])).status).not.toBe(0);
      const byDigest = await run(['pull', '--root', join(scratch, 'by-digest'), `registry.mirrors.test/library/mirrored@${image.manifest.digest}`]);
      expect(byDigest.status, byDigest.stderr).toBe(0);
    } finally {
      if (saved === undefined) delete process.env.CONTAINERS_REGISTRIES_CONF;
      else process.env.CONTAINERS_REGISTRIES_CONF = saved;
    }
  });
});
