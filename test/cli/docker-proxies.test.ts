/**
 * The proxies of docker's client configuration (`proxies` in config.json), handed on as docker's
 * CLI hands them: to a build as build args (buildx's four, unless given), to a new container as
 * environment variables in both cases (unless set). Compared with docker 26 and buildx 0.13 on
 * the same configuration: a RUN saw HTTP(S)_PROXY and NO_PROXY in both cases, no ALL_PROXY; a
 * container all five in both cases, `-e http_proxy=mine` kept.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withProxyBuildArgs, withProxyEnvironment } from '../../src/cli/docker-proxies.js';
import { buildFixture, imageFiles, type BuildFixture } from '../helpers/build.js';
import { runCliCaptured } from '../helpers/run-cli.js';
import { isRoot } from '../runtime/helpers.js';

const proxies = {
  default: { httpProxy: 'http://proxy.example:3128', httpsProxy: 'http://sproxy.example:3129', noProxy: 'localhost,*.internal', allProxy: 'socks5://all.example:1080' },
  'tcp://remote:2376': { httpProxy: 'http://remote-proxy:3128' },
};

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tsbuild-proxies-'));
  await writeFile(join(dir, 'config.json'), JSON.stringify({ proxies }));
  await mkdir(join(dir, 'broken'));
  await writeFile(join(dir, 'broken', 'config.json'), '{"proxies": ');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the proxies of docker’s configuration', () => {
  it('join a build’s args as buildx passes them: four names, a --build-arg of the same name first', async () => {
    expect(await withProxyBuildArgs({ NO_PROXY: 'given', OTHER: '1' }, { DOCKER_CONFIG: dir })).toEqual({
      NO_PROXY: 'given',
      OTHER: '1',
      HTTP_PROXY: 'http://proxy.example:3128',
      HTTPS_PROXY: 'http://sproxy.example:3129',
    });
  });

  it('join a container’s environment in both cases, after what -e set, which they never replace', async () => {
    expect(await withProxyEnvironment(['http_proxy=mine', 'A=1'], { DOCKER_CONFIG: dir })).toEqual([
      'http_proxy=mine',
      'A=1',
      'HTTP_PROXY=http://proxy.example:3128',
      'HTTPS_PROXY=http://sproxy.example:3129',
      'https_proxy=http://sproxy.example:3129',
      'NO_PROXY=localhost,*.internal',
      'no_proxy=localhost,*.internal',
      'ALL_PROXY=socks5://all.example:1080',
      'all_proxy=socks5://all.example:1080',
    ]);
  });

  it('take the entry of the daemon host docker would talk to, else the default one; none without a readable file', async () => {
    expect(await withProxyBuildArgs({}, { DOCKER_CONFIG: dir, DOCKER_HOST: 'tcp://remote:2376' })).toEqual({ HTTP_PROXY: 'http://remote-proxy:3128' });
    expect(await withProxyBuildArgs({}, { DOCKER_CONFIG: dir, DOCKER_HOST: 'tcp://elsewhere:2376' })).toHaveProperty('HTTPS_PROXY', 'http://sproxy.example:3129');
    expect(await withProxyBuildArgs({ A: '1' }, { DOCKER_CONFIG: join(dir, 'broken') })).toEqual({ A: '1' });
    expect(await withProxyEnvironment(['A=1'], { DOCKER_CONFIG: join(dir, 'missing') })).toEqual(['A=1']);
  });
});

describe.runIf(isRoot)('a build and a container with proxies configured', () => {
  let fx: BuildFixture;
  let saved: string | undefined;
  beforeAll(async () => {
    fx = await buildFixture();
    saved = process.env.DOCKER_CONFIG;
    process.env.DOCKER_CONFIG = dir;
  });
  afterAll(async () => {
    if (saved === undefined) delete process.env.DOCKER_CONFIG;
    else process.env.DOCKER_CONFIG = saved;
    await fx.cleanup();
  });

  it('RUN sees them, the image keeps none; a container has them', async () => {
    const context = await fx.context('proxied', { Dockerfile: 'FROM busybox\nRUN env | grep -i _proxy | sort > /seen\n' });
    const built = await fx.build(['-t', 'proxied', '--build-arg', 'NO_PROXY=given', context]);
    expect(built.status, built.stderr).toBe(0);
    const files = await imageFiles(fx, 'proxied');
    expect(files.get('seen')?.text).toBe(
      ['HTTPS_PROXY=http://sproxy.example:3129', 'HTTP_PROXY=http://proxy.example:3128', 'NO_PROXY=given', 'http_proxy=http://proxy.example:3128', 'https_proxy=http://sproxy.example:3129', 'no_proxy=given', ''].join('\n'),
    );
    const image = await fx.image('proxied');
    expect(JSON.stringify(image.config)).not.toMatch(/proxy\.example/);
    const ran = await runCliCaptured(['run', '--root', fx.root, '--rm', '--network', 'none', '-e', 'http_proxy=mine', 'proxied', 'sh', '-c', 'env | grep -i _proxy | sort']);
    expect(ran.status, ran.stderr).toBe(0);
    expect(ran.stdout.split('\n').filter(Boolean)).toEqual([
      'ALL_PROXY=socks5://all.example:1080',
      'HTTPS_PROXY=http://sproxy.example:3129',
      'HTTP_PROXY=http://proxy.example:3128',
      'NO_PROXY=localhost,*.internal',
      'all_proxy=socks5://all.example:1080',
      'http_proxy=mine',
      'https_proxy=http://sproxy.example:3129',
      'no_proxy=localhost,*.internal',
    ]);
  });
});
