/**
 * Commands that make or remove containers, volumes and networks killed with SIGKILL at moments
 * spread over their run: after every kill `ps -a`, `volume ls` and `network ls` work and show
 * nothing half-made (or show it as docker would, removable), the same command run again
 * succeeds, a next `run --name` of the same name succeeds once the first is removed, and at the
 * end no mount, veth, bridge, iptables rule or process of the store is left on the host.
 */
import { spawnSync } from 'node:child_process';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, cliOk, killSweep, runBin, type BinRun } from '../helpers/kill-sweep.js';
import { busyboxStore, isRoot } from './helpers.js';

let dir: string;
let root: string;
/** Every container and network ID a check saw, for the host's leftovers at the end. */
const containers = new Set<string>();
const networks = new Set<string>();

async function ok(args: readonly string[]): Promise<string> {
  const run = await runBin(root, args);
  expect(run.status, `tsbuild ${args.join(' ')}: ${run.stderr}`).toBe(0);
  return run.stdout;
}

/** The listings after a kill: each works, and what they show is noted for the checks at the end. */
async function listings(round: number, killed: BinRun): Promise<void> {
  const context = `round ${round} (killed after ${killed.ms} ms: ${killed.stderr})`;
  for (const args of [['ps', '-a'], ['volume', 'ls'], ['network', 'ls'], ['images']]) {
    const run = await cli(root, args);
    expect(run.status, `${context}: ${args.join(' ')}: ${run.stderr}`).toBe(0);
    expect(run.stderr, `${context}: ${args.join(' ')}`).toBe('');
  }
  // Every container shown has a name, as docker's always do.
  expect((await cliOk(root, ['ps', '-a', '--format', '{{.ID}}:{{.Names}}'])).split('\n').filter((line) => line.endsWith(':')), context).toEqual([]);
  for (const id of (await cliOk(root, ['ps', '-aq', '--no-trunc'])).split('\n')) if (id !== '') containers.add(id);
  for (const id of (await cliOk(root, ['network', 'ls', '-q', '--no-trunc'])).split('\n')) if (id !== '') networks.add(id);
}

/** The state `ps -a` shows for NAME, or undefined when there is no such container. */
async function stateOf(name: string): Promise<string | undefined> {
  const run = await cli(root, ['inspect', '-f', '{{.State.Status}}', name]);
  return run.status === 0 ? run.stdout.trim() : undefined;
}

/** `rm -f NAME`, which must succeed or find nothing to remove. */
async function removeContainer(name: string): Promise<void> {
  const run = await runBin(root, ['rm', '-f', name]);
  if (run.status !== 0) expect(run.stderr).toMatch(/No such container/);
  expect(await stateOf(name)).toBeUndefined();
}

/** Processes whose environment names this store (the commands run here, their monitors and containers). */
async function processesOfStore(): Promise<string[]> {
  const found: string[] = [];
  for (const pid of (await readdir('/proc')).filter((entry) => /^\d+$/.test(entry))) {
    const environment = await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '');
    if (environment.split('\0').includes(`TSBUILD_ROOT=${root}`)) found.push(`${pid}: ${(await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).replaceAll('\0', ' ')}`);
  }
  return found;
}

beforeAll(async () => {
  if (!isRoot) return;
  ({ dir, root } = await busyboxStore('tsbuild-kill-runtime-'));
}, 120_000);

afterAll(async () => {
  if (root === undefined) return;
  const ids = (await cli(root, ['ps', '-aq'])).stdout.split('\n').filter((id) => id !== '');
  const removed = ids.length > 0 ? await runBin(root, ['rm', '-f', '-v', ...ids]) : undefined;
  expect(removed?.status ?? 0, removed?.stderr).toBe(0);
  await runBin(root, ['network', 'prune', '-f']);
  await runBin(root, ['volume', 'prune', '-a', '-f']);
  const links = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout;
  const rules = spawnSync('iptables-save', [], { encoding: 'utf8' }).stdout;
  const mounts = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((line) => line.split(' ')[4]?.startsWith(dir) === true);
  const processes = await processesOfStore();
  spawnSync('rm', ['-rf', dir]);
  expect(mounts).toEqual([]);
  expect(processes).toEqual([]);
  for (const id of networks) {
    expect(links).not.toContain(`tsb-${id.slice(0, 10)}:`);
    expect(rules).not.toContain(`tsbuild-net-${id.slice(0, 12)}`);
  }
  for (const id of containers) {
    expect(links).not.toContain(`tsbv${id.slice(0, 8)}`);
    expect(rules).not.toContain(`tsbuild-ctr-${id.slice(0, 12)}`);
  }
}, 120_000);

describe.runIf(isRoot)('runtime commands killed with SIGKILL', () => {
  it('volume create and volume rm', async () => {
    const name = (round: number): string => `kv${round + 2}`;
    expect(
      await killSweep({
        root,
        rounds: 8,
        args: (round) => ['volume', 'create', name(round)],
        check: async (round, killed) => {
          await listings(round, killed);
          await ok(['volume', 'create', name(round)]);
          expect(await cliOk(root, ['volume', 'ls', '-q'])).toContain(`${name(round)}\n`);
        },
      }),
    ).toBeGreaterThanOrEqual(2);
    expect(
      await killSweep({
        root,
        rounds: 8,
        args: (round) => ['volume', 'rm', name(round)],
        check: async (round, killed) => {
          await listings(round, killed);
          const again = await runBin(root, ['volume', 'rm', name(round)]);
          if (again.status !== 0) expect(again.stderr).toMatch(/no such volume/);
          expect(await cliOk(root, ['volume', 'ls', '-q'])).not.toContain(`${name(round)}\n`);
          // A volume of the same name made again is new and empty.
          await ok(['volume', 'create', name(round)]);
          expect(await readdir(join(root, 'volumes', name(round), '_data'))).toEqual([]);
          await ok(['volume', 'rm', name(round)]);
        },
      }),
    ).toBeGreaterThanOrEqual(2);
    // Nothing is left of the volumes removed, not even a directory no listing shows.
    expect((await readdir(join(root, 'volumes')).catch(() => [] as string[])).filter((entry) => entry.startsWith('kv'))).toEqual([]);
    // A new volume is filled with what the image has at its mount point; a run killed while it
    // copied leaves a volume the next run fills whole, and no copy beside it.
    const image = await ok(['run', '--rm', '--network', 'none', 'busybox', 'ls', '/bin']);
    expect(
      await killSweep({
        root,
        rounds: 8,
        args: (round) => ['run', '--rm', '--network', 'none', '-v', `kfill${round + 2}:/bin`, 'busybox', 'true'],
        check: async (round, killed) => {
          await listings(round, killed);
          expect(await ok(['run', '--rm', '--network', 'none', '-v', `kfill${round + 2}:/bin`, 'busybox', 'ls', '/bin'])).toBe(image);
          expect((await readdir(join(root, 'volumes', `kfill${round + 2}`))).filter((entry) => entry.includes('fill'))).toEqual([]);
        },
      }),
    ).toBeGreaterThanOrEqual(2);
  }, 150_000);

  it('network create, connect and rm', async () => {
    const name = (round: number): string => `kn${round + 2}`;
    expect(
      await killSweep({
        root,
        rounds: 6,
        args: (round) => ['network', 'create', name(round)],
        check: async (round, killed) => {
          await listings(round, killed);
          const again = await runBin(root, ['network', 'create', name(round)]);
          if (again.status !== 0) expect(again.stderr).toMatch(/already exists/);
          expect(await cliOk(root, ['network', 'ls', '--format', '{{.Name}}'])).toContain(`${name(round)}\n`);
        },
      }),
    ).toBeGreaterThanOrEqual(2);
    // The state a create killed while its bridge was being made leaves (the script making it runs
    // on): the bridge there, the record without the subnet it was given. Its first use makes it again.
    const half = (await ok(['network', 'create', 'khalf'])).trim();
    const recordPath = join(root, 'networks', `${half}.json`);
    const { subnet: _subnet, gateway: _gateway, ...record } = JSON.parse(await readFile(recordPath, 'utf8')) as Record<string, unknown>;
    await writeFile(recordPath, JSON.stringify(record));
    expect(await ok(['run', '--rm', '--network', 'khalf', 'busybox', 'echo', 'joined'])).toBe('joined\n');
    await ok(['network', 'rm', 'khalf']);
    expect(spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout).not.toContain(`tsb-${half.slice(0, 10)}:`);
    await ok(['network', 'create', 'kbase']);
    await ok(['run', '-d', '--name', 'kconnect', '--network', 'kbase', 'busybox', 'sleep', '600']);
    expect(
      await killSweep({
        root,
        rounds: 6,
        args: (round) => ['network', 'connect', name(round), 'kconnect'],
        check: async (round, killed) => {
          await listings(round, killed);
          const again = await runBin(root, ['network', 'connect', name(round), 'kconnect']);
          if (again.status !== 0) expect(again.stderr).toMatch(/already exists in network/);
          expect(await cliOk(root, ['inspect', '-f', '{{json .NetworkSettings.Networks}}', 'kconnect'])).toContain(`"${name(round)}"`);
          expect(await stateOf('kconnect')).toBe('running');
          // The address works: the container reaches its gateway.
          const gateway = (await cliOk(root, ['network', 'inspect', '-f', '{{range .IPAM.Config}}{{.Gateway}}{{end}}', name(round)])).trim();
          await ok(['exec', 'kconnect', 'ping', '-c', '1', '-W', '2', gateway]);
          await ok(['network', 'disconnect', name(round), 'kconnect']);
        },
      }),
    ).toBeGreaterThanOrEqual(2);
    await removeContainer('kconnect');
    await ok(['network', 'rm', 'kbase']);
    expect(
      await killSweep({
        root,
        rounds: 6,
        args: (round) => ['network', 'rm', name(round)],
        check: async (round, killed) => {
          await listings(round, killed);
          const again = await runBin(root, ['network', 'rm', name(round)]);
          if (again.status !== 0) expect(again.stderr).toMatch(/not found/);
          expect(await cliOk(root, ['network', 'ls', '--format', '{{.Name}}'])).not.toContain(`${name(round)}\n`);
          // The name can be taken again, with a working bridge.
          await ok(['network', 'create', name(round)]);
          await ok(['run', '--rm', '--network', name(round), 'busybox', 'true']);
          await ok(['network', 'rm', name(round)]);
        },
      }),
    ).toBeGreaterThanOrEqual(2);
  }, 240_000);

  it('create and run -d, then stop, commit and rm -f', async () => {
    await ok(['network', 'create', 'krun']);
    const runArgs = (name: string): string[] => ['run', '-d', '--name', name, '--network', 'krun', '-p', '127.0.0.1::80', '-v', `${name}-data:/data`, 'busybox', 'sh', '-c', 'echo hi > /data/f; echo up > /upper; head -c 4000000 /dev/urandom > /noise; exec sleep 600'];
    const settle = async (name: string): Promise<void> => {
      // Whatever the kill left is shown as a container docker would show, and rm -f removes it.
      const state = await stateOf(name);
      if (state !== undefined) expect(['created', 'running', 'exited', 'dead']).toContain(state);
      await removeContainer(name);
    };
    expect(
      await killSweep({
        root,
        rounds: 6,
        args: (round) => ['create', '--name', `kc${round + 2}`, '--network', 'krun', 'busybox', 'true'],
        check: async (round, killed) => {
          await listings(round, killed);
          await settle(`kc${round + 2}`);
          await ok(['create', '--name', `kc${round + 2}`, '--network', 'krun', 'busybox', 'true']);
          expect(await stateOf(`kc${round + 2}`)).toBe('created');
          await removeContainer(`kc${round + 2}`);
        },
      }),
    ).toBeGreaterThanOrEqual(2);
    // The foreground run, --rm: killed, it leaves a container that goes (its monitor removes it,
    // or rm -f does), and the name is free for the next.
    expect(
      await killSweep({
        root,
        rounds: 6,
        args: (round) => ['run', '--rm', '--name', `kf${round + 2}`, '--network', 'krun', 'busybox', 'sh', '-c', 'echo hi > /f; sleep 0.2'],
        check: async (round, killed) => {
          await listings(round, killed);
          await settle(`kf${round + 2}`);
          expect(await ok(['run', '--rm', '--name', `kf${round + 2}`, '--network', 'krun', 'busybox', 'echo', 'again'])).toBe('again\n');
          expect(await stateOf(`kf${round + 2}`)).toBeUndefined();
        },
      }),
    ).toBeGreaterThanOrEqual(2);
    expect(
      await killSweep({
        root,
        rounds: 8,
        args: (round) => runArgs(`kr${round + 2}`),
        check: async (round, killed) => {
          await listings(round, killed);
          await settle(`kr${round + 2}`);
          await ok(runArgs(`kr${round + 2}`));
          expect(await stateOf(`kr${round + 2}`)).toBe('running');
          await ok(['exec', `kr${round + 2}`, 'cat', '/data/f']);
        },
      }),
    ).toBeGreaterThanOrEqual(3);
    // The containers the last sweep left running are stopped, committed and removed by commands killed in turn.
    expect(
      await killSweep({
        root,
        rounds: 6,
        args: (round) => ['stop', '-t', '1', `kr${round + 2}`],
        check: async (round, killed) => {
          await listings(round, killed);
          await ok(['stop', '-t', '1', `kr${round + 2}`]);
          expect(await stateOf(`kr${round + 2}`)).toBe('exited');
          await ok(['start', `kr${round + 2}`]);
          expect(await stateOf(`kr${round + 2}`)).toBe('running');
        },
      }),
    ).toBeGreaterThanOrEqual(2);
    expect(
      await killSweep({
        root,
        rounds: 8,
        args: (round) => ['commit', `kr${round + 2}`, `committed:${round + 2}`],
        check: async (round, killed) => {
          await listings(round, killed);
          // The commit froze the container while it read it: killed, it leaves it running, not frozen.
          expect(await stateOf(`kr${round + 2}`)).toBe('running');
          await ok(['exec', `kr${round + 2}`, 'true']);
          const verify = await cli(root, ['verify']);
          expect(verify.status, verify.stdout + verify.stderr).toBe(0);
          await ok(['commit', `kr${round + 2}`, `committed:${round + 2}`]);
          expect(await stateOf(`kr${round + 2}`)).toBe('running');
          expect(await ok(['run', '--rm', '--network', 'none', `committed:${round + 2}`, 'cat', '/upper'])).toBe('up\n');
        },
      }),
    ).toBeGreaterThanOrEqual(2);
    expect(
      await killSweep({
        root,
        rounds: 6,
        args: (round) => ['rm', '-f', `kr${round + 2}`],
        check: async (round, killed) => {
          await listings(round, killed);
          await settle(`kr${round + 2}`);
          // The name is free again, and the volume is kept for the next container.
          await ok(runArgs(`kr${round + 2}`));
          await ok(['rm', '-f', `kr${round + 2}`]);
        },
      }),
    ).toBeGreaterThanOrEqual(2);
    const left = (await cliOk(root, ['ps', '-aq'])).split('\n').filter((id) => id !== '');
    if (left.length > 0) await ok(['rm', '-f', ...left]);
    await ok(['network', 'rm', 'krun']);
  }, 400_000);
  it('system prune of stopped containers, unused networks and anonymous volumes', async () => {
    const command = ['system', 'prune', '--volumes', '-f'];
    expect(
      await killSweep({
        root,
        rounds: 6,
        prepare: async (round) => {
          await ok(['network', 'create', `kp${round + 2}`]);
          await ok(['run', '--name', `kp${round + 2}`, '--network', `kp${round + 2}`, '-v', '/anon', 'busybox', 'true']);
        },
        args: () => command,
        check: async (round, killed) => {
          await listings(round, killed);
          await ok(command);
          expect(await stateOf(`kp${round + 2}`)).toBeUndefined();
          expect(await cliOk(root, ['network', 'ls', '--format', '{{.Name}}'])).not.toContain(`kp${round + 2}\n`);
          expect((await cliOk(root, ['volume', 'ls', '-q'])).split('\n').filter((name) => /^[0-9a-f]{64}$/.test(name))).toEqual([]);
          // What it removed can be made again.
          await ok(['network', 'create', `kp${round + 2}`]);
          await ok(['run', '--rm', '--network', `kp${round + 2}`, '-v', '/anon', 'busybox', 'true']);
          await ok(['network', 'rm', `kp${round + 2}`]);
        },
      }),
    ).toBeGreaterThanOrEqual(2);
  }, 150_000);
});
