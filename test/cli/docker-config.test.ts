/**
 * The settings of docker's client configuration its CLI reads besides credentials and proxies:
 * the formats of its lists when no --format is given, and the detach keys. As docker 26 showed
 * them for the same configuration: `ps` printed psFormat's lines, `ps -q` the IDs (and, with
 * --format too, a warning that it ignores it), `images`, `network ls`, `volume ls` and `stats` theirs.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFixture, type BuildFixture } from '../helpers/build.js';
import { runCliCaptured } from '../helpers/run-cli.js';
import { isRoot } from '../runtime/helpers.js';

describe.runIf(isRoot)("docker's client configuration", () => {
  let fx: BuildFixture;
  let dir: string;
  let saved: string | undefined;
  const cli = (args: readonly string[]): ReturnType<typeof runCliCaptured> => runCliCaptured([args[0] ?? '', ...(args[0] === 'network' || args[0] === 'volume' ? [args[1] ?? ''] : []), '--root', fx.root, ...args.slice(args[0] === 'network' || args[0] === 'volume' ? 2 : 1)]);

  beforeAll(async () => {
    fx = await buildFixture();
    dir = await mkdtemp(join(tmpdir(), 'tsbuild-docker-config-'));
    await writeFile(
      join(dir, 'config.json'),
      JSON.stringify({ psFormat: 'PS {{.Names}}', imagesFormat: 'IMG {{.Repository}}', networksFormat: 'NET {{.Name}}', volumesFormat: 'VOL {{.Name}}', statsFormat: 'STATS {{.Name}}', detachKeys: 'ctrl-' }),
    );
    saved = process.env.DOCKER_CONFIG;
    process.env.DOCKER_CONFIG = dir;
  });
  afterAll(async () => {
    if (saved === undefined) delete process.env.DOCKER_CONFIG;
    else process.env.DOCKER_CONFIG = saved;
    await rm(dir, { recursive: true, force: true });
    await fx.cleanup();
  });

  it('gives the lists their formats when --format is not given; -q prints IDs', async () => {
    const created = await cli(['create', '--name', 'configured', 'busybox', 'true']);
    expect(created.status, created.stderr).toBe(0);
    const id = created.stdout.trim();
    try {
      expect((await cli(['ps', '-a'])).stdout).toBe('PS configured\n');
      expect((await cli(['ps', '-a', '--format', 'table {{.Names}}'])).stdout).toBe('NAMES\nconfigured\n');
      expect((await cli(['ps', '-a', '-q'])).stdout).toBe(`${id.slice(0, 12)}\n`);
      const both = await cli(['ps', '-a', '-q', '--format', '{{.Names}}']);
      expect([both.stdout, both.stderr]).toEqual([`${id.slice(0, 12)}\n`, 'WARNING: Ignoring custom format, because both --format and --quiet are set.\n']);
    } finally {
      await cli(['rm', '-f', id]);
    }
    expect((await cli(['images'])).stdout).toBe('IMG busybox\n');
    expect((await cli(['network', 'ls'])).stdout.split('\n').filter(Boolean)).toEqual(['NET bridge', 'NET host', 'NET none']);
    expect((await cli(['volume', 'create', 'configured-volume'])).status).toBe(0);
    expect((await cli(['volume', 'ls'])).stdout).toBe('VOL configured-volume\n');
    expect((await cli(['volume', 'rm', 'configured-volume'])).status).toBe(0);
  });

  it('gives stats its format', async () => {
    const started = await cli(['run', '-d', '--name', 'configured-stats', '--network', 'none', 'busybox', 'sleep', '30']);
    expect(started.status, started.stderr).toBe(0);
    try {
      expect((await cli(['stats', '--no-stream', 'configured-stats'])).stdout).toBe('STATS configured-stats\n');
    } finally {
      await cli(['rm', '-f', 'configured-stats']);
    }
  });

  it('takes its detach keys, which the flag replaces', async () => {
    const refused = await cli(['run', '-i', '--rm', 'busybox', 'true']);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('Invalid detach keys (ctrl-) provided');
    const given = await cli(['run', '-i', '--rm', '--detach-keys', 'ctrl-a', 'busybox', 'true']);
    expect(given.status, given.stderr).toBe(0);
  });
});
