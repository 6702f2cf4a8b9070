/**
 * A config.json the runtime-shim cannot carry out whole (runc CVE-2021-43784's class: data
 * given to the runtime cut or dropped on the way, so that what runs is not what was asked):
 * namespaces named twice, which a table of one slot per type would keep only the first eight
 * of, and id maps longer than one write of uid_map holds. Each is refused before the process
 * runs; a shorter one still runs as asked.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateConfig, type ContainerSpec, type IdMapping } from '../../src/runtime/index.js';
import { buildBinaries, isRoot, makeRootfs, scratchDir, shimBinary } from './helpers.js';

let dir: string;
let counter = 0;

beforeAll(() => {
  buildBinaries();
  dir = scratchDir('tsbuild-hostile-config-');
});

afterAll(() => {
  spawnSync('rm', ['-rf', dir]);
});

interface OciConfig {
  linux: { namespaces: Array<{ type: string; path?: string }> };
}

/** A bundle of SPEC's config, then changed by EDIT. */
function bundleWith(spec: Omit<ContainerSpec, 'rootfs'>, edit: (config: OciConfig) => void = () => undefined): string {
  const bundle = join(dir, `b${++counter}`);
  mkdirSync(bundle, { recursive: true });
  const rootfs = makeRootfs(bundle);
  const config = generateConfig({ rootless: false, ...spec, rootfs }) as unknown as OciConfig;
  edit(config);
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(config));
  return bundle;
}

function runShim(bundle: string): { status: number; stdout: string; stderr: string } {
  const result = spawnSync(shimBinary, ['--root', join(dir, 'state'), 'run', '--bundle', bundle, `c${++counter}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** The first line of the runtime's JSON error on stderr. */
function errorOf(stderr: string): { message: string } {
  const line = stderr.split('\n').find((text) => text.startsWith('{"error"'));
  expect(line, stderr).toBeDefined();
  return (JSON.parse(line ?? '{}') as { error: { message: string } }).error;
}

describe.runIf(isRoot)('a config the runtime-shim cannot carry out whole', () => {
  it('refuses a namespace named twice instead of dropping the ones after it: the process never runs in the host pid namespace', () => {
    const asked = bundleWith({ args: ['/test-init', 'pid'] });
    const inOwn = runShim(asked);
    expect(inOwn.stderr).toBe('');
    expect(JSON.parse(inOwn.stdout)).toMatchObject({ Pid: '1' });

    // Seven entries for uts, then mount: a table of eight slots that only counted would keep
    // those and drop pid, ipc and network silently, and the process would run in the host's.
    const repeated = bundleWith({ args: ['/test-init', 'pid'] }, (config) => {
      const own = config.linux.namespaces;
      config.linux.namespaces = [...Array.from({ length: 7 }, () => ({ type: 'uts' })), { type: 'mount' }, ...own.filter((namespace) => namespace.type !== 'uts' && namespace.type !== 'mount')];
    });
    const result = runShim(repeated);
    expect(result.status).not.toBe(0);
    expect(result.stdout).toBe('');
    expect(errorOf(result.stderr).message).toContain('duplicated namespace uts');

    // Once is enough: a second network entry is refused as well.
    const twice = bundleWith({ args: ['/test-init', 'pid'] }, (config) => {
      config.linux.namespaces.push({ type: 'network' });
    });
    const again = runShim(twice);
    expect(again.status).not.toBe(0);
    expect(errorOf(again.stderr).message).toContain('duplicated namespace network');
  });

  it('writes a user namespace id map whole or refuses it: never its first page only', () => {
    // The container's root as the host's, then one line of 15 bytes, then lines of 21 bytes:
    // 6 + 15 + 194 * 21 = 4095 bytes, where a 4096-byte buffer cut at a line's end would stop
    // (the kernel takes the shorter map without a word), and 10 lines more.
    const mappings = (extra: number): IdMapping[] => [
      { containerID: 0, hostID: 0, size: 1 },
      { containerID: 50, hostID: 500_000_000, size: 1 },
      ...Array.from({ length: 194 + extra }, (_, index) => ({ containerID: 1_000_000 + index, hostID: 2_000_000_000 + index, size: 1 })),
    ];
    const text = (list: readonly IdMapping[]): string => list.map((mapping) => `${mapping.containerID} ${mapping.hostID} ${mapping.size}\n`).join('');
    expect(text(mappings(0)).length).toBe(4095);
    // A config for a user namespace, as a rootless container's, with these maps.
    const inUserNamespace = (list: IdMapping[]): Omit<ContainerSpec, 'rootfs'> => ({ args: ['/test-init', 'write', '/tmp/ran'], rootless: true, idMappings: { uid: list, gid: list } });

    // One page: written and in force.
    const fitting = bundleWith(inUserNamespace(mappings(0)));
    const fits = runShim(fitting);
    expect(fits.stderr).toBe('');
    expect(fits.status).toBe(0);
    expect(JSON.parse(fits.stdout)).toEqual({ errno: 0 });
    expect(readFileSync(join(fitting, 'rootfs', 'tmp', 'ran'), 'utf8')).toBe('x');

    const longer = bundleWith(inUserNamespace(mappings(10)));
    const result = runShim(longer);
    expect(result.status).not.toBe(0);
    expect(errorOf(result.stderr).message).toMatch(/linux\.(gid|uid)Mappings: 206 mappings do not fit in one write of (gid|uid)_map/);
    // The process never ran.
    expect(() => readFileSync(join(longer, 'rootfs', 'tmp', 'ran'))).toThrow();
  });
});
