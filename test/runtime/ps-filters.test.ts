/**
 * `ps --filter` as docker's: terms of one key are alternatives, of different keys all must
 * hold; before= and since= by creation, volume= by name or destination, network= by name,
 * publish= and expose= by container port (ranges and protocols); `--expose` adds to the image's
 * exposed ports, which inspect shows.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { busyboxImage } from '../helpers/busybox-image.js';
import { installedCliOutput, isRoot, runInstalledCli, scratchDir } from './helpers.js';

let dir: string;
let root: string;
const network = `tsbt-psf-${process.pid}`;

const tsbuild = (...args: string[]): { status: number | null; stdout: string; stderr: string } => runInstalledCli(args, { root });
const ok = (...args: string[]): string => installedCliOutput(args, { root });

/** The names ps lists with these filters, sorted. */
const names = (...filters: string[]): string[] =>
  ok('ps', '-a', ...filters.flatMap((filter) => ['--filter', filter]), '--format', '{{.Names}}')
    .split('\n')
    .filter((line) => line !== '')
    .sort();

describe.skipIf(!isRoot)('ps filters', () => {
  beforeAll(async () => {
    dir = scratchDir('tsbuild-psf-');
    root = join(dir, 'root');
    await busyboxImage(await openStore({ root }));
    ok('network', 'create', '--subnet', `10.${200 + (process.pid % 50)}.${process.pid % 250}.0/24`, network);
    ok('create', '--name', 'first', '-v', 'psvol:/data', '--label', 'tier=db', 'busybox', 'true');
    await new Promise((resolve) => setTimeout(resolve, 20));
    ok('create', '--name', 'second', '-p', '127.0.0.1:18999:80', '--network', network, '--label', 'tier=web', 'busybox', 'true');
    await new Promise((resolve) => setTimeout(resolve, 20));
    ok('create', '--name', 'third', '--expose', '9000', '--expose', '7000-7001/udp', 'busybox', 'true');
  }, 120_000);
  afterAll(() => {
    tsbuild('rm', '-f', '-v', 'first', 'second', 'third');
    tsbuild('volume', 'rm', 'psvol');
    tsbuild('network', 'rm', network);
    spawnSync('rm', ['-rf', dir]);
  });

  it('takes terms of one key as alternatives and of different keys as all holding', () => {
    expect(names('name=first', 'name=third')).toEqual(['first', 'third']);
    expect(names('label=tier=db', 'label=tier=web')).toEqual(['first', 'second']);
    expect(names('label=tier=web', 'name=first')).toEqual([]);
    expect(names('status=created', 'status=exited')).toEqual(['first', 'second', 'third']);
  });

  it('reads labels from --label-file (comments and blank lines skipped), --label winning', () => {
    const file = join(dir, 'labels');
    writeFileSync(file, '# labels of the team\n\nteam=platform\ntier=from-file\nempty\n');
    ok('create', '--name', 'labelled', '--label-file', file, '--label', 'tier=cache', 'busybox', 'true');
    try {
      expect(JSON.parse(ok('inspect', '-f', '{{json .Config.Labels}}', 'labelled'))).toEqual({ team: 'platform', tier: 'cache', empty: '' });
      expect(names('label=team=platform')).toEqual(['labelled']);
      expect(tsbuild('create', '--label-file', join(dir, 'missing'), 'busybox', 'true')).toMatchObject({ status: 125, stderr: expect.stringContaining('missing') as unknown });
    } finally {
      tsbuild('rm', 'labelled');
    }
  });

  it('filters by creation order, volume, network and ports', () => {
    expect(names('before=second')).toEqual(['first']);
    expect(names('since=first')).toEqual(['second', 'third']);
    expect(names('volume=psvol')).toEqual(['first']);
    expect(names('volume=/data')).toEqual(['first']);
    expect(names(`network=${network}`)).toEqual(['second']);
    expect(names('network=bridge')).toEqual(['first', 'third']);
    expect(names('publish=80')).toEqual(['second']);
    expect(names('publish=80/udp')).toEqual([]);
    expect(names('publish=70-90/tcp')).toEqual(['second']);
    expect(names('expose=80')).toEqual(['second']);
    expect(names('expose=9000/tcp')).toEqual(['third']);
    expect(names('expose=7001/udp')).toEqual(['third']);
    expect(tsbuild('ps', '--filter', 'nonsense=1')).toMatchObject({ status: 1, stderr: expect.stringContaining("invalid filter 'nonsense'") as unknown });
    // docker 26 refuses values no container can have, in its daemon's words, rather than list nothing.
    expect(tsbuild('ps', '-a', '--filter', 'status=bogus')).toMatchObject({ status: 1, stdout: '', stderr: expect.stringContaining("invalid filter 'status=bogus'") as unknown });
    expect(tsbuild('ps', '-a', '--filter', 'health=bogus')).toMatchObject({ status: 1, stderr: expect.stringContaining('unrecognized filter value for health: bogus') as unknown });
    expect(tsbuild('ps', '-a', '--filter', 'exited=x')).toMatchObject({ status: 1, stderr: expect.stringContaining(`invalid filter 'exited=x': strconv.Atoi: parsing "x": invalid syntax`) as unknown });
  });

  it('shows the exposed ports (the image\'s, --expose\'s and the published ones) in inspect, and refuses a bad --expose', () => {
    expect(JSON.parse(ok('inspect', '-f', '{{json .Config.ExposedPorts}}', 'third'))).toEqual({ '9000/tcp': {}, '7000/udp': {}, '7001/udp': {} });
    expect(JSON.parse(ok('inspect', '-f', '{{json .Config.ExposedPorts}}', 'second'))).toEqual({ '80/tcp': {} });
    // As docker 26's CLI: any 16-bit port (0 too) and protocol as written; what is no number is refused.
    expect(tsbuild('create', '--expose', 'x', 'busybox', 'true')).toMatchObject({ status: 125, stderr: `tsbuild: invalid range format for --expose: x, error: strconv.ParseUint: parsing "x": invalid syntax.\nSee 'tsbuild create --help'.\n` });
    const any = tsbuild('create', '--expose', '0-1/foo', '--expose', '70000', 'busybox', 'true');
    expect(any.stderr).toBe(`tsbuild: invalid range format for --expose: 70000, error: strconv.ParseUint: parsing "70000": value out of range.\nSee 'tsbuild create --help'.\n`);
    const zero = ok('create', '--expose', '0-1/foo', 'busybox', 'true').trim();
    expect(JSON.parse(ok('inspect', '-f', '{{json .Config.ExposedPorts}}', zero))).toEqual({ '0/foo': {}, '1/foo': {} });
    ok('rm', zero);
  });
  it('fails formats asking a row for a field docker\'s has not as docker 26 does: ps at the place in the format as given, even with no container', () => {
    const failed = (...args: string[]): string => {
      const result = tsbuild(...args);
      expect(result.status, result.stdout).toBe(1);
      return result.stderr.trim();
    };
    expect(failed('ps', '-a', '--filter', 'name=nothing-matches', '--format', '{{.Nope}}')).toBe('failed to execute template: template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope in type *formatter.ContainerContext');
    expect(failed('ps', '-a', '--format', 'table {{.Names}}\\t{{.Nope}}')).toBe('failed to execute template: template: :1:20: executing "" at <.Nope>: can\'t evaluate field Nope in type *formatter.ContainerContext');
    expect(failed('volume', 'ls', '--format', '{{.Name}} {{.Nope}}')).toBe('template parsing error: template: :1:12: executing "" at <.Nope>: can\'t evaluate field Nope in type *formatter.volumeContext');
    expect(failed('network', 'ls', '--format', '{{.Nope}}')).toBe('template parsing error: template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope in type *network.networkContext');
    expect(failed('images', '--format', '{{.Labels}}')).toBe('template parsing error: template: :1:2: executing "" at <.Labels>: can\'t evaluate field Labels in type *formatter.imageContext');
    // Every field docker's rows have is there.
    expect(ok('volume', 'ls', '--format', '{{.Name}} {{.Driver}} {{.Scope}} {{.Links}} {{.Size}} {{.Group}} {{.Availability}} {{.Status}}[{{.Labels}}{{.Label "x"}}]')).toBe('psvol local local N/A N/A N/A N/A N/A[]\n');
    expect(ok('ps', '-a', '--filter', 'name=first', '--format', '{{.Names}} {{.State}} {{.Labels}} {{.Label "tier"}} {{.Mounts}} {{.LocalVolumes}} {{.Networks}} {{.Ports}}|{{.ID}}{{.Image}}{{.Command}}{{.CreatedAt}}{{.RunningFor}}{{.Status}}{{.Size}}').split('|')[0]).toBe('first created tier=db db psvol 1 bridge ');
  });
});
