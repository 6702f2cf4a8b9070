/**
 * User networks as an unprivileged user, end to end: the installed `tsbuild` run as the test
 * user, with a store of its own. The store's rootless network namespace (a holder process, its
 * slirp4netns, the DNS responders in it) runs while containers are on its networks, and nothing of
 * it may be left once they and the networks are removed.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, statSync } from 'node:fs';
import { readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { busyboxImage } from '../helpers/busybox-image.js';
import { freePort } from '../helpers/registry.js';
import { asRootless, buildBinaries, chownTree, ensureRootlessUser, fetchFromHost, isRoot, scratchDir, startHostServer, toolExists } from './helpers.js';

const bin = new URL('../../bin/tsbuild.js', import.meta.url).pathname;
const suffix = `${process.pid.toString(36)}${Math.random().toString(36).slice(2, 6)}`;

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

interface Inspected {
  Id: string;
  Name: string;
  IPAM: { Config: { Subnet: string; Gateway: string }[] };
  Containers: Record<string, { Name: string; IPv4Address: string }>;
  Options: Record<string, string>;
}

interface HolderState {
  pid: number;
  keeperPid: number;
  apiSocket: string;
}

let dir: string;
let userRoot: string;
let user: ReturnType<typeof ensureRootlessUser>;
/** /dev/net/tun's mode before the test opened it to the user (slirp4netns opens it), restored after. */
let tunMode: number | undefined;

function tsbuild(...args: string[]): Run {
  const prefix = asRootless(user);
  const result = spawnSync(prefix[0] ?? 'setpriv', [...prefix.slice(1), `TSBUILD_ROOT=${userRoot}`, process.execPath, bin, ...args], { encoding: 'utf8', timeout: 90_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function inspect(name: string): Inspected {
  const result = tsbuild('network', 'inspect', name);
  expect(result.stderr).toBe('');
  return (JSON.parse(result.stdout) as Inspected[])[0] ?? expect.fail(`no network ${name}`);
}

/** The processes of the machine whose command line holds every one of WORDS, and that still run (not zombies). */
async function processesWith(...words: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const pid of (await readdir('/proc')).filter((entry) => /^\d+$/.test(entry))) {
    const command = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).replaceAll('\0', ' ');
    const state = (await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')).split(') ')[1]?.[0];
    if (state !== undefined && state !== 'Z' && words.every((word) => command.includes(word))) found.push(`${pid} ${command}`);
  }
  return found;
}

function running(pid: number): boolean {
  try {
    const state = execFileSync('cat', [`/proc/${pid}/stat`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split(') ')[1]?.[0];
    return state !== undefined && state !== 'Z';
  } catch {
    return false;
  }
}

/** wget in CONTAINER (running), tried a few times (the server may be about to listen). */
function fetchIn(container: string, url: string, tries = 10): Run {
  return tsbuild('exec', container, 'sh', '-c', `for i in $(seq ${tries}); do timeout 3 wget -qO- ${url} && exit 0; sleep 0.3; done; exit 1`);
}

/** wget in a new container on NETWORK. */
function fetchFrom(network: string, url: string, tries = 10): Run {
  return tsbuild('run', '--rm', '--network', network, 'busybox', 'sh', '-c', `for i in $(seq ${tries}); do timeout 3 wget -qO- ${url} && exit 0; sleep 0.3; done; exit 1`);
}

const canRun = isRoot && toolExists('newuidmap') && toolExists('nsenter');

beforeAll(async () => {
  if (!canRun) return;
  buildBinaries();
  // The user-mode network stack, from Debian, when the machine has none.
  if (!toolExists('slirp4netns')) execFileSync('flock', ['/tmp/tsbuild-apt.lock', 'sh', '-c', 'apt-get update -qq && apt-get install -y -qq slirp4netns'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const mode = statSync('/dev/net/tun').mode & 0o777;
  if ((mode & 0o006) !== 0o006) {
    tunMode = mode;
    chmodSync('/dev/net/tun', 0o666);
  }
  user = ensureRootlessUser();
  dir = scratchDir('tsbuild-rootless-networks-');
  userRoot = join(dir, 'root');
  await busyboxImage(await openStore({ root: userRoot }));
  chownTree(dir, user);
}, 180_000);

afterAll(async () => {
  if (!canRun) return;
  if (dir !== undefined) {
    // What a failed test left: its containers (their monitors), then its networks, which stops the holder.
    const left = tsbuild('ps', '-aq').stdout.split('\n').filter((id) => id !== '');
    if (left.length > 0) tsbuild('rm', '-f', ...left);
    tsbuild('network', 'prune', '-f');
    const state = await readFile(join(userRoot, 'networks', 'rootless-netns.json'), 'utf8').catch(() => undefined);
    const holder = state === undefined ? undefined : (JSON.parse(state) as HolderState);
    if (holder !== undefined && running(holder.pid)) process.kill(holder.pid, 'SIGTERM');
    await rm(dir, { recursive: true, force: true });
  }
  if (tunMode !== undefined) chmodSync('/dev/net/tun', tunMode);
}, 120_000);

describe.runIf(canRun)('user networks as an unprivileged user', () => {
  it('reach containers by name and alias, the host through slirp4netns, published ports from the host, and leave nothing once removed', async () => {
    const app = `app-${suffix}`;
    const other = `other-${suffix}`;
    const [publishedPort, hostPort] = [await freePort(), await freePort()];

    const created = tsbuild('network', 'create', app);
    expect(created).toMatchObject({ status: 0, stdout: expect.stringMatching(/^[0-9a-f]{64}\n$/) });
    const made = inspect(app);
    expect(made).toMatchObject({ Name: app, Containers: {} });
    const subnet = made.IPAM.Config[0]?.Subnet ?? expect.fail('no subnet');
    // The first address of a subnet chosen at creation: the bridge is made only when a container joins.
    expect(made.IPAM.Config[0]?.Gateway).toBe(subnet.split('/')[0]?.replace(/\.0$/, '.1'));
    expect(tsbuild('network', 'ls').stdout).toMatch(new RegExp(`^${made.Id.slice(0, 12)}\\s+${app}\\s+bridge\\s+local$`, 'm'));
    // slirp4netns's own network cannot be a user network's.
    expect(tsbuild('network', 'create', '--subnet', '10.0.2.0/24', `${app}-slirp`)).toMatchObject({ status: 1, stderr: expect.stringContaining('overlaps 10.0.2.0/24') });
    // Nothing runs for a network without containers.
    await expect(readFile(join(userRoot, 'networks', 'rootless-netns.json'))).rejects.toThrow();
    // The host's loopback is out of reach unless the store's config lets it in (the next test
    // shows the default); this test's server listens there.
    await writeFile(join(userRoot, 'config.json'), JSON.stringify({ rootlessNetworks: { allowHostLoopback: true } }), { mode: 0o644 });

    const db = `db-${suffix}`;
    const web = `web-${suffix}`;
    const serve = (text: string): string[] => ['busybox', 'sh', '-c', `mkdir /www; echo ${text} > /www/index.html; exec httpd -f -p 80 -h /www`];
    expect(tsbuild('run', '-d', '--name', db, '--network', app, '--network-alias', `dbalias-${suffix}`, ...serve('hello-db'))).toMatchObject({ status: 0 });
    let holder: HolderState | undefined;
    try {
      holder = JSON.parse(await readFile(join(userRoot, 'networks', 'rootless-netns.json'), 'utf8')) as HolderState;
      expect(running(holder.pid) && running(holder.keeperPid)).toBe(true);
      expect(await processesWith('slirp4netns', `--api-socket=${holder.apiSocket}`)).toHaveLength(1);
      expect(tsbuild('run', '-d', '--name', web, '--network', app, '-p', `127.0.0.1:${publishedPort}:80`, ...serve('hello-web'))).toMatchObject({ status: 0 });

      // By name and by alias, from one detached container to the other.
      expect(fetchIn(web, `http://${db}/`)).toMatchObject({ status: 0, stdout: 'hello-db\n' });
      expect(fetchIn(web, `http://dbalias-${suffix}/`)).toMatchObject({ status: 0, stdout: 'hello-db\n' });
      expect(fetchIn(db, `http://${web}/`)).toMatchObject({ status: 0, stdout: 'hello-web\n' });
      const addresses = Object.values(inspect(app).Containers).map((container) => container.IPv4Address.split('/')[0] ?? '');
      expect(addresses).toHaveLength(2);
      expect(tsbuild('exec', db, 'cat', '/etc/resolv.conf').stdout).toContain(`nameserver ${made.IPAM.Config[0]?.Gateway ?? '-'}\n`);

      // Outbound: the host's loopback is 10.0.2.2 through slirp4netns.
      const server = await startHostServer('127.0.0.1', hostPort);
      try {
        expect(fetchIn(db, `http://10.0.2.2:${hostPort}/`)).toMatchObject({ status: 0, stdout: 'from-host\n' });
      } finally {
        await server.stop();
      }

      // A published port, from the host, through slirp4netns's forward and the namespace's DNAT.
      expect(await fetchFromHost(`http://127.0.0.1:${publishedPort}/`)).toBe('hello-web\n');
      expect(tsbuild('port', web)).toMatchObject({ status: 0, stdout: `80/tcp -> 127.0.0.1:${publishedPort}\n` });
      expect(tsbuild('run', '--rm', '--network', app, '-p', `127.0.0.1:${publishedPort}:80`, 'busybox', 'true')).toMatchObject({ status: 125, stderr: expect.stringContaining('port is already allocated') });

      // In use, the network stays.
      expect(tsbuild('network', 'rm', app)).toMatchObject({ status: 1, stderr: expect.stringContaining('has active endpoints') });

      // Another network: no name or route to the first; connected there too, the server is reached by its alias there.
      expect(tsbuild('network', 'create', other)).toMatchObject({ status: 0 });
      expect(fetchFrom(other, `http://${web}/`, 1).status).not.toBe(0);
      expect(fetchFrom(other, `http://${addresses[0] ?? '-'}/`, 1).status).not.toBe(0);
      expect(tsbuild('network', 'connect', '--alias', `web2-${suffix}`, other, web)).toMatchObject({ status: 0 });
      expect(Object.values(inspect(other).Containers).map((container) => container.Name)).toEqual([web]);
      expect(fetchFrom(other, `http://web2-${suffix}/`)).toMatchObject({ status: 0, stdout: 'hello-web\n' });
      expect(tsbuild('network', 'disconnect', other, web)).toMatchObject({ status: 0 });
      expect(fetchFrom(other, `http://web2-${suffix}/`, 1).status).not.toBe(0);

      // Removed while the namespace runs, its bridge and rules go from it; the other network's stay.
      // A network's bridge is tsb- and the start of its ID.
      const bridgeOf = (name: string): string => `tsb-${inspect(name).Id.slice(0, 10)}`;
      const [appBridge, otherBridge] = [bridgeOf(app), bridgeOf(other)];
      const inNamespace = (...args: string[]): string => {
        const prefix = asRootless(user);
        return execFileSync(prefix[0] ?? 'setpriv', [...prefix.slice(1), 'nsenter', '-t', String(holder?.keeperPid), '-U', '--preserve-credentials', '-n', ...args], { encoding: 'utf8' });
      };
      expect(inNamespace('ip', '-o', 'link', 'show', 'type', 'bridge')).toContain(`${otherBridge}:`);
      expect(tsbuild('network', 'rm', other)).toMatchObject({ status: 0, stdout: `${other}\n` });
      const bridges = inNamespace('ip', '-o', 'link', 'show', 'type', 'bridge');
      expect(bridges).toContain(`${appBridge}:`);
      expect(bridges).not.toContain(`${otherBridge}:`);
      const rules = inNamespace('iptables-save');
      expect(rules).toContain(`tsbuild-net-${made.Id.slice(0, 12)}`);
      expect(rules).not.toContain(`tsbuild-net-${otherBridge.slice(4)}`);
    } finally {
      expect(tsbuild('rm', '-f', db, web)).toMatchObject({ status: 0 });
    }
    expect(inspect(app).Containers).toEqual({});
    await expect(fetch(`http://127.0.0.1:${publishedPort}/`, { signal: AbortSignal.timeout(2000) })).rejects.toThrow();
    expect(tsbuild('network', 'rm', app)).toMatchObject({ status: 0, stdout: `${app}\n` });
    expect(tsbuild('network', 'ls').stdout).not.toContain(app);

    // Nothing left: the holder, its namespace's keeper, slirp4netns, the responders, the state, the socket, the binds.
    expect(holder !== undefined && (running(holder.pid) || running(holder.keeperPid))).toBe(false);
    expect(await processesWith('slirp4netns', holder?.apiSocket ?? '-')).toEqual([]);
    expect(await processesWith('dns-responder', userRoot)).toEqual([]);
    expect(await processesWith('rootless-holder', holder?.apiSocket ?? '-')).toEqual([]);
    const networkFiles = await readdir(join(userRoot, 'networks'));
    expect(networkFiles.filter((name) => !/^[0-9a-f]{64}\.json$/.test(name) && name !== 'netns')).toEqual([]);
    // Only the default network's record is left.
    expect(networkFiles.filter((name) => name.endsWith('.json'))).toHaveLength(1);
    expect(await readdir(join(userRoot, 'networks', 'netns'))).toEqual([]);
    await expect(readFile(holder?.apiSocket ?? '-')).rejects.toThrow();
    const mounts = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((line) => line.includes(userRoot));
    expect(mounts).toEqual([]);
  }, 300_000);

  it('give containers started at once one namespace and addresses of their own, keep --internal networks in, and start again after the holder died', async () => {
    const net = `addr-${suffix}`;
    const internal = `int-${suffix}`;
    await rm(join(userRoot, 'config.json'), { force: true });
    expect(tsbuild('network', 'create', net)).toMatchObject({ status: 0 });
    expect(tsbuild('network', 'create', '--internal', internal)).toMatchObject({ status: 0 });
    const [keep, keep2] = [`keep-${suffix}`, `keep2-${suffix}`];
    const prefix = asRootless(user);
    /** tsbuild as the user in the background: its status and output. */
    const background = (...args: string[]): Promise<Run> =>
      new Promise((resolve) => {
        const child = spawn(prefix[0] ?? 'setpriv', [...prefix.slice(1), `TSBUILD_ROOT=${userRoot}`, process.execPath, bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
        let [stdout, stderr] = ['', ''];
        child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        child.on('exit', (status) => resolve({ status, stdout, stderr }));
      });
    try {
      // Two at once, with no namespace running yet: both enter the one started for them.
      const started = await Promise.all([keep, keep2].map((name) => background('run', '-d', '--name', name, '--network', net, 'busybox', 'sleep', '600')));
      for (const run of started) expect(run).toMatchObject({ status: 0, stderr: '' });
      expect(tsbuild('exec', keep, 'ping', '-c', '1', '-W', '3', keep2)).toMatchObject({ status: 0 });
      // Restarted, it is on the network again, by name.
      expect(tsbuild('restart', keep2)).toMatchObject({ status: 0 });
      expect(tsbuild('exec', keep, 'ping', '-c', '1', '-W', '3', keep2)).toMatchObject({ status: 0 });

      const runs = [1, 2, 3].map((index) => background('run', '--rm', '--network', net, '--hostname', `h${index}`, 'busybox', 'sh', '-c', 'ip -4 -o addr show eth0; sleep 3'));
      const addresses = (await Promise.all(runs)).map((run) => /inet (\S+)\//.exec(run.stdout)?.[1]);
      expect(addresses.every((address) => address !== undefined)).toBe(true);
      expect(new Set(addresses).size).toBe(3);

      // By default the host's loopback stays out of reach, as in docker's and podman's rootless networks.
      const hostPort = await freePort();
      const server = await startHostServer('127.0.0.1', hostPort);
      try {
        const loopback = fetchFrom(net, `http://10.0.2.2:${hostPort}/`, 1);
        expect(loopback.status).not.toBe(0);
        expect(loopback.stdout).not.toContain('from-host');
      } finally {
        await server.stop();
      }

      // An internal network: its bridge has no way out, not even to the host through slirp4netns.
      const blocked = tsbuild('run', '--rm', '--network', internal, 'busybox', 'sh', '-c', 'ip route; timeout 3 wget -qO- http://10.0.2.2:1/ 2>&1; echo end');
      expect(blocked.stdout).not.toContain('default');
      expect(blocked.stdout).toContain('Network is unreachable');

      // The holder killed: its slirp4netns and namespace go; the store's records are released with the
      // container, and the next container starts it again.
      const holder = JSON.parse(await readFile(join(userRoot, 'networks', 'rootless-netns.json'), 'utf8')) as HolderState;
      process.kill(holder.pid, 'SIGKILL');
      for (let waited = 0; running(holder.keeperPid) || (await processesWith('slirp4netns', holder.apiSocket)).length > 0; waited += 50) {
        if (waited > 10_000) expect.fail('the keeper or slirp4netns outlived the holder');
        await sleep(50);
      }
    } finally {
      expect(tsbuild('rm', '-f', keep, keep2)).toMatchObject({ status: 0 });
    }
    await expect(readFile(join(userRoot, 'networks', 'rootless-netns.json'))).rejects.toThrow();
    const again = tsbuild('run', '--rm', '--network', net, 'busybox', 'sh', '-c', 'ip -4 -o addr show eth0');
    expect(again).toMatchObject({ status: 0, stdout: expect.stringContaining('inet ') });
    expect(tsbuild('network', 'rm', net, internal)).toMatchObject({ status: 0 });
    expect(await processesWith('dns-responder', userRoot)).toEqual([]);
    await expect(readFile(join(userRoot, 'networks', 'rootless-netns.json'))).rejects.toThrow();
    expect(await readdir(join(userRoot, 'networks', 'netns'))).toEqual([]);
  }, 300_000);

  it('keep containers of an enable_icc=false network from reaching each other, as rootful, while they still reach the host through slirp4netns', async () => {
    const net = `noicc-${suffix}`;
    const plain = `icc-${suffix}`;
    expect(tsbuild('network', 'create', '-o', 'com.docker.network.bridge.enable_icc=false', net)).toMatchObject({ status: 0 });
    expect(tsbuild('network', 'create', plain)).toMatchObject({ status: 0 });
    const [server, plainServer] = [`srv-${suffix}`, `psrv-${suffix}`];
    const serve = (name: string, network: string): Run => tsbuild('run', '-d', '--name', name, '--network', network, 'busybox', 'sh', '-c', `mkdir -p /w && echo hello-${name} > /w/index.html && exec httpd -f -p 80 -h /w`);
    // The host's loopback let in, where the test's server listens (see the first test).
    await writeFile(join(userRoot, 'config.json'), JSON.stringify({ rootlessNetworks: { allowHostLoopback: true } }), { mode: 0o644 });
    const hostPort = await freePort();
    const hostServer = await startHostServer('127.0.0.1', hostPort);
    try {
      expect(serve(server, net)).toMatchObject({ status: 0 });
      expect(serve(plainServer, plain)).toMatchObject({ status: 0 });
      // The same check on a network that allows it, so that a refusal below is the rule's.
      expect(fetchFrom(plain, `http://${plainServer}/`)).toMatchObject({ status: 0, stdout: `hello-${plainServer}\n` });
      expect(fetchFrom(net, `http://${server}/`, 2).status).not.toBe(0);
      // The bridge's own traffic out is still passed: the host through slirp4netns.
      expect(fetchFrom(net, `http://10.0.2.2:${hostPort}/`)).toMatchObject({ status: 0, stdout: 'from-host\n' });
    } finally {
      await hostServer.stop();
      await rm(join(userRoot, 'config.json'), { force: true });
      expect(tsbuild('rm', '-f', server, plainServer)).toMatchObject({ status: 0 });
    }
    expect(tsbuild('network', 'rm', net, plain)).toMatchObject({ status: 0 });
  }, 180_000);
});
