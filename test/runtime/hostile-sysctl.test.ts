/**
 * `--sysctl` made to set more than the one namespaced parameter it names (CRI-O CVE-2022-0811,
 * where `kernel.shm_rmid_forced=1+kernel.core_pattern=|/x` set the host's core_pattern): a
 * value is written whole into its own parameter's file, never split into further assignments;
 * a name is dotted words of a namespaced parameter, never a path (`/`, `..`) nor a parameter of
 * the host's kernel such as kernel.core_pattern.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { busyboxImage } from '../helpers/busybox-image.js';
import { temporaryDirectory } from '../helpers/temporary-store.js';
import { buildBinaries, isRoot, runInstalledCli } from './helpers.js';

const hostParameters = ['/proc/sys/kernel/core_pattern', '/proc/sys/kernel/pid_max', '/proc/sys/kernel/shmmni'];

let root: string;
let removeDir: () => Promise<void>;
let before: Map<string, string>;

function tsbuild(args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  return runInstalledCli(args, { root, timeoutMs: 30_000 });
}

describe.runIf(isRoot)('--sysctl smuggling', () => {
  beforeAll(async () => {
    buildBinaries();
    let dir: string;
    ({ path: dir, cleanup: removeDir } = await temporaryDirectory('tsbuild-hostile-sysctl-'));
    root = join(dir, 'root');
    await busyboxImage(await openStore({ root }));
    before = new Map(hostParameters.map((path) => [path, readFileSync(path, 'utf8')]));
  }, 120_000);

  afterEach(() => {
    // The host's parameters are as they were; put back any a failure changed, then fail.
    const changed = hostParameters.filter((path) => readFileSync(path, 'utf8') !== before.get(path));
    for (const path of changed) writeFileSync(path, before.get(path) ?? '');
    expect(changed).toEqual([]);
  });

  afterAll(async () => {
    await removeDir();
  });

  const smuggled = ['kernel.shm_rmid_forced=1+kernel.core_pattern=|/tmp/x', 'kernel.shm_rmid_forced=1 kernel.core_pattern=|/tmp/x', 'kernel.shmmni=4000\nkernel.core_pattern=|/tmp/x'];

  it.each(smuggled)('writes the value of %j whole into its one parameter, setting nothing else', (entry) => {
    const host = readFileSync('/proc/sys/kernel/core_pattern', 'utf8');
    const result = tsbuild(['run', '--rm', '--sysctl', entry, 'busybox', 'cat', '/proc/sys/kernel/core_pattern', '/proc/sys/kernel/shm_rmid_forced']);
    // The kernel refuses such a value for its parameter, or takes the number it starts with;
    // either way core_pattern, seen from the container or the host, is the host's.
    if (result.status === 0) expect(result.stdout.split('\n')[0]).toBe(host.trimEnd());
    else expect(result.status).toBe(125);
    expect(readFileSync('/proc/sys/kernel/core_pattern', 'utf8')).toBe(host);
  });

  it.each([
    ['kernel.core_pattern=|/tmp/x', 'not namespaced'],
    ['kernel.pid_max=5', 'not namespaced'],
    ['kernel/core_pattern=|/tmp/x', 'not in the form key=value'],
    ['net.core.somaxconn/../../../kernel/core_pattern=|/tmp/x', 'not in the form key=value'],
    ['net.ipv4/../../kernel.core_pattern=|/tmp/x', 'not in the form key=value'],
    ['net..core.somaxconn=5', 'not in the form key=value'],
    ['../kernel.shmmni=5', 'not in the form key=value'],
    ['kernel.shmmni./../core_pattern=5', 'not in the form key=value'],
    ['net.core.somaxconn', 'not in the form key=value'],
    ['fs.mqueue/../../kernel/core_pattern=5', 'not in the form key=value'],
  ])('refuses --sysctl %j before anything runs', (entry, message) => {
    const result = tsbuild(['run', '--rm', '--sysctl', entry, 'busybox', 'echo', 'started']);
    expect(result.stdout).toBe('');
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain(message);
  });
});
