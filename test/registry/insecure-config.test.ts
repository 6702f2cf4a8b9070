import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RegistryClient, configuredInsecureRegistries } from '../../src/registry/index.js';

describe('insecure registries from the machine configuration', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsbuild-insecure-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("reads docker's daemon.json and containers' registries.conf with its drop-ins", async () => {
    const daemon = join(dir, 'daemon.json');
    await writeFile(daemon, JSON.stringify({ 'insecure-registries': ['build.internal:5000', '10.0.0.0/8'], debug: true }));
    const conf = join(dir, 'registries.conf');
    await writeFile(
      conf,
      [
        '# comment',
        'unqualified-search-registries = ["docker.io", # inline comment',
        '  "quay.io"]',
        '',
        '[[registry]]',
        'location = "plain.example:5000/team"  # a path is ignored',
        'insecure = true',
        '',
        '[[registry.mirror]]',
        'location = "mirror.example"',
        'insecure = true',
        '',
        '[[registry]]',
        "location = 'secure.example'",
        'insecure = false',
        '',
        '[[registry]]',
        'prefix = "*.corp.example"',
        'insecure = true',
        '',
        '[registries.insecure]',
        "registries = ['old-style.example']",
        '',
        '[aliases]',
        '"fedora" = "registry.fedoraproject.org/fedora"',
      ].join('\n'),
    );
    await mkdir(join(dir, 'registries.conf.d'));
    await writeFile(join(dir, 'registries.conf.d', '50-local.conf'), '[[registry]]\nlocation = "drop-in.example:5000"\ninsecure = true\n');
    await writeFile(join(dir, 'registries.conf.d', 'ignored.txt'), 'not = [toml');
    expect(configuredInsecureRegistries({ daemonConfigs: [daemon, join(dir, 'missing.json')], registriesConfs: [conf] })).toEqual([
      'build.internal:5000',
      '10.0.0.0/8',
      'plain.example:5000',
      '*.corp.example',
      'old-style.example',
      'drop-in.example:5000',
    ]);
  });

  it('names the file when it cannot be read as configuration', async () => {
    const daemon = join(dir, 'daemon.json');
    await writeFile(daemon, '{ "insecure-registries": [');
    expect(() => configuredInsecureRegistries({ daemonConfigs: [daemon], registriesConfs: [] })).toThrow(new RegExp(`read ${daemon}: invalid JSON`));
    await writeFile(daemon, '{ "insecure-registries": "one" }');
    expect(() => configuredInsecureRegistries({ daemonConfigs: [daemon], registriesConfs: [] })).toThrow(/insecure-registries is not a list of strings/);
    const conf = join(dir, 'registries.conf');
    await writeFile(conf, '[[registry]]\nlocation\n');
    expect(() => configuredInsecureRegistries({ daemonConfigs: [], registriesConfs: [conf] })).toThrow(new RegExp(`read ${conf}:2: `));
  });

  it('matches hosts named by IP address against CIDR ranges, never names', async () => {
    const client = new RegistryClient({ insecureRegistries: ['10.0.0.0/8', 'fd00::/8', 'named.example:5000', '*.corp.example'], credentials: () => Promise.resolve(undefined) });
    try {
      expect(client.isInsecure('10.1.2.3:5000')).toBe(true);
      expect(client.isInsecure('10.1.2.3')).toBe(true);
      expect(client.isInsecure('11.0.0.1:5000')).toBe(false);
      expect(client.isInsecure('[fd12::1]:5000')).toBe(true);
      expect(client.isInsecure('[fe80::1]:5000')).toBe(false);
      expect(client.isInsecure('ten.example:5000')).toBe(false);
      expect(client.isInsecure('named.example:5000')).toBe(true);
      expect(client.isInsecure('build.corp.example:5000')).toBe(true);
      expect(client.isInsecure('corp.example')).toBe(false);
      expect(client.isInsecure('evilcorp.example')).toBe(false);
      expect(client.allowsPlainHttp('10.9.9.9:443')).toBe(true);
    } finally {
      await client.close();
    }
    expect(() => new RegistryClient({ insecureRegistries: ['10.0.0.0/40'] })).toThrow(/not an IP address range/);
  });
});
