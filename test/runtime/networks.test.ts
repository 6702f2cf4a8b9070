/**
 * Networks end to end, as root: the installed `tsbuild` in processes of its own, servers being
 * foreground `tsbuild run`s in the background of the test. Names and subnets are unique to this
 * run (others run tests on the machine at the same time). At the end, nothing of this run's may
 * be left on the host: bridge, veth, iptables rule, namespace mount, DNS responder.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, readdir, rm } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostPlatform } from '../../src/common/index.js';
import { writeImage } from '../../src/exporter/index.js';
import { openStore, resolveImage } from '../../src/store/index.js';
import { busyboxImage } from '../helpers/busybox-image.js';
import { freePort } from '../helpers/registry.js';
import { asRootless, buildBinaries, chownTree, ensureRootlessUser, fetchFromHost, isRoot, scratchDir, startHostServer, toolExists } from './helpers.js';

const bin = new URL('../../bin/tsbuild.js', import.meta.url).pathname;
const suffix = `${process.pid.toString(36)}${Math.random().toString(36).slice(2, 6)}`;

let dir: string;
let root: string;

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function tsbuild(...args: string[]): Run {
  const result = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, TSBUILD_ROOT: root }, timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Networks this run made (ID → bridge), and containers seen on them, for the final checks. */
const madeNetworks = new Map<string, string>();
const seenContainers = new Set<string>();

interface Inspected {
  Id: string;
  Name: string;
  Internal: boolean;
  Attachable: boolean;
  IPAM: { Config: { Subnet: string; Gateway: string }[] };
  Containers: Record<string, { Name: string; IPv4Address: string; MacAddress: string }>;
  Options: Record<string, string>;
  Labels: Record<string, string>;
}

function inspect(name: string): Inspected {
  const result = tsbuild('network', 'inspect', name);
  expect(result.stderr).toBe('');
  const [found] = JSON.parse(result.stdout) as Inspected[];
  if (found === undefined) return expect.fail(`no network ${name}`);
  // The default network shows its bridge's name, as docker's shows docker0; another's is tsb- and the start of its ID.
  madeNetworks.set(found.Id, found.Options['com.docker.network.bridge.name'] ?? `tsb-${found.Id.slice(0, 10)}`);
  for (const id of Object.keys(found.Containers)) seenContainers.add(id);
  return found;
}

/** A network with a random /24 of 10.128.0.0/9 no route of the host overlaps (tried again when one does). */
function createNetwork(name: string, ...options: string[]): Inspected {
  return createNetworkWith(name, () => options);
}

/** The same, with the options OPTIONSFOR gives for the subnet's first three bytes (`10.130.7.`). */
function createNetworkWith(name: string, optionsFor: (base: string) => readonly string[]): Inspected {
  for (let attempt = 0; ; attempt++) {
    const base = `10.${128 + Math.floor(Math.random() * 127)}.${Math.floor(Math.random() * 256)}.`;
    const subnet = `${base}0/24`;
    const result = tsbuild('network', 'create', '--subnet', subnet, ...optionsFor(base), name);
    if (result.status === 0) {
      expect(result.stdout).toMatch(/^[0-9a-f]{64}\n$/);
      return inspect(name);
    }
    if (!result.stderr.includes('overlaps') || attempt > 5) return expect.fail(result.stderr);
  }
}

interface Server {
  readonly child: ChildProcess;
  /** Ends the server (SIGTERM through tsbuild, to the container's init) and resolves to tsbuild's status. */
  stop(): Promise<number | null>;
}

/** A busybox httpd serving `hello-NAME`, in a foreground `tsbuild run` in the background. */
async function startServer(name: string, ...args: string[]): Promise<Server> {
  const child = spawn(process.execPath, [bin, 'run', '--rm', '--init', ...args, 'busybox', 'sh', '-c', `mkdir /www; echo hello-${name} > /www/index.html; echo ready; exec httpd -f -p 80 -h /www`], {
    env: { ...process.env, TSBUILD_ROOT: root },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let errors = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  for (let waited = 0; !out.includes('ready'); waited += 50) {
    if (child.exitCode !== null || waited > 30_000) throw new Error(`server ${name} did not start: ${errors}`);
    await sleep(50);
  }
  return {
    child,
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/** wget in a client container, tried a few times (the server may be about to listen). */
function fetchFrom(network: string, url: string, tries = 10): Run {
  return tsbuild('run', '--rm', '--network', network, 'busybox', 'sh', '-c', `for i in $(seq ${tries}); do timeout 3 wget -qO- ${url} && exit 0; sleep 0.3; done; exit 1`);
}

function hostAddress(): string {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) if (address.family === 'IPv4' && !address.internal && !address.address.startsWith('10.')) return address.address;
  }
  return expect.fail('no address of the host');
}

beforeAll(async () => {
  buildBinaries();
  dir = scratchDir('tsbuild-networks-');
  root = join(dir, 'root');
  const store = await openStore({ root });
  await busyboxImage(store);
  // busybox with a port exposed, for -P.
  const base = await resolveImage(store, (await store.resolveReference('docker.io/library/busybox:latest')) ?? expect.fail('no busybox'));
  const layers = [{ descriptor: base.manifest.layers[0] ?? expect.fail('no layer'), diffId: base.config.rootfs.diff_ids[0] ?? expect.fail('no diff id') }];
  await writeImage(store, { layers, platform: hostPlatform(), config: { ExposedPorts: { '80/tcp': {} } } }, 'docker.io/library/exposing:latest');
}, 120_000);

afterAll(async () => {
  if (root === undefined) return;
  // What a failed test left (its networks); removing them removes all they made, or the checks below fail.
  if (isRoot) tsbuild('network', 'prune');
  // The default network's bridge too (it goes once no container uses it).
  if (isRoot) inspect('bridge');
  const links = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout;
  for (const bridge of madeNetworks.values()) expect(links).not.toContain(`${bridge}:`);
  for (const id of seenContainers) expect(links).not.toContain(`tsbv${id.slice(0, 8)}`);
  const rules = spawnSync('iptables-save', [], { encoding: 'utf8' }).stdout;
  for (const id of madeNetworks.keys()) expect(rules).not.toContain(`tsbuild-net-${id.slice(0, 12)}`);
  for (const id of seenContainers) expect(rules).not.toContain(`tsbuild-ctr-${id.slice(0, 12)}`);
  const mounts = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((line) => line.split(' ')[4]?.startsWith(root) === true);
  expect(mounts).toEqual([]);
  const responders: string[] = [];
  for (const pid of (await readdir('/proc')).filter((entry) => /^\d+$/.test(entry))) {
    const command = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (command.includes('dns-responder') && command.includes(root)) responders.push(command);
  }
  expect(responders).toEqual([]);
  await rm(dir, { recursive: true, force: true });
}, 60_000);

describe.runIf(isRoot)('networks', () => {
  it('lists, inspects and removes networks as docker does', () => {
    const name = `tsbt-ls-${suffix}`;
    const made = createNetwork(name, '--label', 'purpose=test');
    expect(made).toMatchObject({ Name: name, Internal: false, Labels: { purpose: 'test' }, Containers: {} });
    expect(made.IPAM.Config[0]?.Gateway).toBe(made.IPAM.Config[0]?.Subnet.replace(/0\/24$/, '1'));
    // docker 26's IPAM: {} options for a user network, null for the default bridge's; no config for host and none.
    expect(tsbuild('network', 'inspect', '-f', '{{json .IPAM.Options}}', name, 'bridge').stdout).toBe('{}\nnull\n');
    expect(tsbuild('network', 'inspect', '-f', '{{json .IPAM}}', 'host', 'none').stdout).toBe('{"Driver":"default","Options":null,"Config":null}\n'.repeat(2));
    const listed = tsbuild('network', 'ls');
    const lines = listed.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^NETWORK ID\s+NAME\s+DRIVER\s+SCOPE$/);
    expect(lines).toEqual(expect.arrayContaining([expect.stringMatching(new RegExp(`^${made.Id.slice(0, 12)}\\s+${name}\\s+bridge\\s+local$`)), expect.stringMatching(/^[0-9a-f]{12}\s+bridge\s+bridge\s+local$/), expect.stringMatching(/^[0-9a-f]{12}\s+host\s+host\s+local$/), expect.stringMatching(/^[0-9a-f]{12}\s+none\s+null\s+local$/)]));
    // docker's filters: keys all hold, values of one key are alternatives.
    const names = (...filters: string[]): string[] => tsbuild('network', 'ls', '--format', '{{.Name}}', ...filters.flatMap((filter) => ['--filter', filter])).stdout.split('\n').filter((line) => line !== '');
    expect(names('label=purpose=test')).toEqual([name]);
    expect(names('type=builtin')).toEqual(['bridge', 'host', 'none']);
    expect(names('type=custom', `name=^${name}$`)).toEqual([name]);
    expect(names('driver=null', 'driver=host')).toEqual(['host', 'none']);
    expect(names(`id=^${made.Id.slice(0, 8)}`)).toEqual([name]);
    expect(names('dangling=true', 'label=purpose')).toEqual([name]);
    expect(tsbuild('network', 'ls', '--filter', 'colour=red')).toMatchObject({ status: 1, stderr: expect.stringContaining("invalid filter 'colour'") });
    // docker's templates: list rows with their Label method, inspect documents whole.
    expect(tsbuild('network', 'ls', '--format', '{{if .Label "purpose"}}{{.Name}} {{.Label "purpose"}} {{.Labels}}{{end}}').stdout.split('\n').filter((line) => line !== '')).toEqual([`${name} test purpose=test`]);
    // json is docker's row, every field a string, the keys sorted.
    const json = tsbuild('network', 'ls', '--format', 'json', '--filter', `name=^${name}$`).stdout;
    expect(JSON.parse(json)).toEqual({ CreatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} \S+$/), Driver: 'bridge', ID: made.Id.slice(0, 12), IPv6: 'false', Internal: 'false', Labels: 'purpose=test', Name: name, Scope: 'local' });
    expect(Object.keys(JSON.parse(json) as object)).toEqual(['CreatedAt', 'Driver', 'ID', 'IPv6', 'Internal', 'Labels', 'Name', 'Scope']);
    expect(tsbuild('network', 'ls', '--format', 'table {{.Name}}\t{{.Driver}}').stdout.split('\n')[0]).toBe('NAME                 DRIVER'.replace(/NAME +/, `NAME${' '.repeat(Math.max(10, name.length + 3) - 4)}`));
    expect(tsbuild('network', 'inspect', '-f', '{{.Name}} {{(index .IPAM.Config 0).Gateway}} {{.Labels.purpose}}', name).stdout).toBe(`${name} ${made.IPAM.Config[0]?.Gateway ?? ''} test\n`);
    expect(tsbuild('network', 'create', name)).toMatchObject({ status: 1, stderr: expect.stringContaining(`network with name ${name} already exists`) });
    expect(tsbuild('network', 'create', '--subnet', made.IPAM.Config[0]?.Subnet ?? '', `${name}-2`)).toMatchObject({ status: 1, stderr: expect.stringContaining('overlaps') });
    expect(tsbuild('network', 'rm', 'bridge')).toMatchObject({ status: 1, stderr: expect.stringContaining('pre-defined network') });
    // One line for each network that could not go, as docker's, and nothing after.
    expect(tsbuild('network', 'rm', `nosuch-${suffix}`)).toMatchObject({ status: 1, stdout: '', stderr: `Error response from daemon: network nosuch-${suffix} not found\n` });
    // docker 26's -f: one that is not there is passed over, silently; the others are still removed.
    expect(tsbuild('network', 'rm', '-f', `nosuch-${suffix}`, name)).toMatchObject({ status: 0, stdout: `${name}\n`, stderr: '' });
    expect(tsbuild('network', 'inspect', name)).toMatchObject({ status: 1, stderr: expect.stringContaining(`network ${name} not found`) });
    // Unused networks go with prune (those its filters take); the default one stays.
    createNetwork(`${name}-p`);
    createNetwork(`${name}-q`, '--label', 'keep=yes');
    expect(tsbuild('network', 'prune', '-f', '--filter', 'until=2000-01-01T00:00:00Z').stdout).toBe('');
    expect(tsbuild('network', 'prune', '-f', '--filter', 'label=keep').stdout).toBe(`Deleted Networks:\n${name}-q\n`);
    expect(tsbuild('network', 'prune', '-f').stdout).toContain(`${name}-p\n`);
    expect(tsbuild('network', 'ls', '-q').stdout.trim().split('\n')).toHaveLength(3);
  });

  it('reaches a server by name and alias on its network, from the host through published ports, and not from another network', async () => {
    const app = createNetwork(`tsbt-app-${suffix}`);
    const other = createNetwork(`tsbt-other-${suffix}`);
    const [loopbackPort, anyPort] = [await freePort(), await freePort()];
    const web = `web-${suffix}`;
    const server = await startServer('web', '--network', app.Name, '--name', web, '--network-alias', `www-${suffix}`, '-p', `127.0.0.1:${loopbackPort}:80`, '-p', `${anyPort}:80/tcp`);
    try {
      const address = Object.values(inspect(app.Name).Containers)[0]?.IPv4Address.split('/')[0] ?? expect.fail('no container on the network');
      expect(address.startsWith(app.IPAM.Config[0]?.Subnet.replace(/0\/24$/, '') ?? '-')).toBe(true);
      expect(fetchFrom(app.Name, `http://${web}/`)).toMatchObject({ status: 0, stdout: 'hello-web\n' });
      expect(fetchFrom(app.Name, `http://www-${suffix}/`)).toMatchObject({ status: 0, stdout: 'hello-web\n' });
      // Other names still resolve through the host's resolvers (the responder forwards them).
      const resolv = tsbuild('run', '--rm', '--network', app.Name, 'busybox', 'cat', '/etc/resolv.conf').stdout;
      expect(resolv).toContain(`nameserver ${app.IPAM.Config[0]?.Gateway ?? ''}`);
      // --dns keeps the responder (it answers the network's names, as docker's embedded DNS); the options given are written.
      const given = tsbuild('run', '--rm', '--network', app.Name, '--dns', '192.0.2.53', '--dns-option', 'ndots:2', 'busybox', 'sh', '-c', `cat /etc/resolv.conf; nslookup ${web} >/dev/null && echo resolved`).stdout;
      expect(given).toBe(`nameserver ${app.IPAM.Config[0]?.Gateway ?? ''}\noptions ndots:2\nresolved\n`);

      // From the host: loopback through the userland proxy, the host's address through DNAT.
      expect(await fetchFromHost(`http://127.0.0.1:${loopbackPort}/`)).toBe('hello-web\n');
      expect(await fetchFromHost(`http://127.0.0.1:${anyPort}/`)).toBe('hello-web\n');
      expect(await fetchFromHost(`http://${hostAddress()}:${anyPort}/`)).toBe('hello-web\n');
      // A port published on loopback only is not on the host's other addresses.
      await expect(fetch(`http://${hostAddress()}:${loopbackPort}/`, { signal: AbortSignal.timeout(2000) })).rejects.toThrow();
      // The port is taken: another container cannot publish it.
      const taken = tsbuild('run', '--rm', '--network', app.Name, '-p', `127.0.0.1:${loopbackPort}:80`, 'busybox', 'true');
      expect(taken).toMatchObject({ status: 125, stderr: expect.stringContaining('port is already allocated') });
      // Detached, as docker 26: the ID printed, the container left created with exit code 128 and
      // the reason as its error (the reason in the message, not only in the monitor's log), detached from the network.
      const detached = tsbuild('run', '-d', '--name', `taken-${suffix}`, '--network', app.Name, '-p', `127.0.0.1:${loopbackPort}:80`, 'busybox', 'true');
      expect(detached).toMatchObject({ status: 125, stdout: expect.stringMatching(/^[0-9a-f]{64}\n$/), stderr: expect.stringContaining('port is already allocated') });
      expect(tsbuild('inspect', '-f', '{{.State.Status}} {{.State.ExitCode}} {{.State.Error}}', `taken-${suffix}`).stdout).toMatch(/^created 128 .*port is already allocated\n$/);
      expect(Object.values(inspect(app.Name).Containers).map((container) => container.Name)).toEqual([web]);
      expect(tsbuild('rm', `taken-${suffix}`)).toMatchObject({ status: 0 });

      // Another network: no name, no route to it.
      expect(fetchFrom(other.Name, `http://${web}/`, 1).status).not.toBe(0);
      expect(fetchFrom(other.Name, `http://${address}/`, 1).status).not.toBe(0);
      // The default network has no names either, and is isolated from user networks as well.
      expect(fetchFrom('bridge', `http://${web}/`, 1).status).not.toBe(0);
      expect(fetchFrom('bridge', `http://${address}/`, 1).status).not.toBe(0);
      // Its published port, through the host's address, is theirs to reach too, as docker 28's.
      expect(fetchFrom(other.Name, `http://${hostAddress()}:${anyPort}/`)).toMatchObject({ status: 0, stdout: 'hello-web\n' });
      expect(fetchFrom('bridge', `http://${hostAddress()}:${anyPort}/`)).toMatchObject({ status: 0, stdout: 'hello-web\n' });

      // Connected to the other network too, the server is reached there by name; disconnected, no more.
      expect(tsbuild('network', 'connect', '--alias', `www2-${suffix}`, other.Name, web)).toMatchObject({ status: 0 });
      expect(Object.values(inspect(other.Name).Containers).map((container) => container.Name)).toEqual([web]);
      expect(fetchFrom(other.Name, `http://www2-${suffix}/`)).toMatchObject({ status: 0, stdout: 'hello-web\n' });
      expect(tsbuild('network', 'rm', other.Name)).toMatchObject({ status: 1, stderr: expect.stringContaining('has active endpoints') });
      expect(tsbuild('network', 'disconnect', other.Name, web)).toMatchObject({ status: 0 });
      expect(fetchFrom(other.Name, `http://${web}/`, 1).status).not.toBe(0);
    } finally {
      expect(await server.stop()).toBe(143);
    }
    // Its address, port and names are gone with it.
    expect(inspect(app.Name).Containers).toEqual({});
    expect(fetchFrom(app.Name, `http://${web}/`, 1).status).not.toBe(0);
    await expect(fetch(`http://127.0.0.1:${loopbackPort}/`, { signal: AbortSignal.timeout(2000) })).rejects.toThrow();
    expect(tsbuild('network', 'rm', app.Name, other.Name)).toMatchObject({ status: 0 });
  }, 180_000);

  it('runs a detached server with a name, a volume and a published port, reached by name and from the host, and leaves nothing when removed', async () => {
    const app = createNetwork(`tsbt-detached-${suffix}`);
    const port = await freePort();
    const web = `dweb-${suffix}`;
    const volume = `tsbt-data-${suffix}`;
    const started = tsbuild('run', '-d', '--name', web, '--network', app.Name, '-p', `127.0.0.1:${port}:80`, '-v', `${volume}:/www`, 'busybox', 'sh', '-c', 'echo hello-detached > /www/index.html; exec httpd -f -p 80 -h /www');
    expect(started).toMatchObject({ status: 0, stdout: expect.stringMatching(/^[0-9a-f]{64}\n$/) });
    try {
      expect(fetchFrom(app.Name, `http://${web}/`)).toMatchObject({ status: 0, stdout: 'hello-detached\n' });
      expect(await fetchFromHost(`http://127.0.0.1:${port}/`)).toBe('hello-detached\n');
      expect(tsbuild('port', web)).toMatchObject({ status: 0, stdout: `80/tcp -> 127.0.0.1:${port}\n` });
      // docker 26: `Error: No public port '81' published for web`, the port as it was asked for.
      expect(tsbuild('port', web, '81')).toMatchObject({ status: 1, stderr: `Error: No public port '81' published for ${web}\n` });
      // docker 26 `run -d -p` of a taken port: 125, its port mapper's words, the container left created.
      const clash = tsbuild('run', '-d', '--name', `clash-${suffix}`, '-p', `127.0.0.1:${port}:80`, 'busybox', 'true');
      expect(clash).toMatchObject({ status: 125, stderr: expect.stringContaining(`Error response from daemon: Bind for 127.0.0.1:${port} failed: port is already allocated`) as unknown });
      expect(tsbuild('rm', `clash-${suffix}`).status).toBe(0);
      // inspect's NetworkSettings as docker's: the address on each network (scripts' usual idiom),
      // the top-level fields only for the default bridge, the published port under Ports.
      const endpoint = Object.values(inspect(app.Name).Containers)[0] ?? expect.fail('no container on the network');
      const settings = tsbuild('inspect', '-f', `{{range $name, $n := .NetworkSettings.Networks}}{{$name}} {{$n.IPAddress}}/{{$n.IPPrefixLen}} {{$n.MacAddress}} {{$n.NetworkID}}{{end}}|{{.NetworkSettings.IPAddress}}|{{json .NetworkSettings.Ports}}`, web);
      expect(settings).toMatchObject({ status: 0, stdout: `${app.Name} ${endpoint.IPv4Address} ${endpoint.MacAddress} ${app.Id}||{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"${port}"}]}\n` });
      // The page lives in the volume: another container reads it there.
      expect(tsbuild('run', '--rm', '-v', `${volume}:/data`, 'busybox', 'cat', '/data/index.html')).toMatchObject({ status: 0, stdout: 'hello-detached\n' });
    } finally {
      expect(tsbuild('rm', '-f', web)).toMatchObject({ status: 0 });
    }
    expect(inspect(app.Name).Containers).toEqual({});
    await expect(fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2000) })).rejects.toThrow();
    expect(tsbuild('volume', 'rm', volume)).toMatchObject({ status: 0 });
    expect(tsbuild('network', 'rm', app.Name)).toMatchObject({ status: 0 });
  }, 180_000);

  it('gives every container its own address, and takes it back when it goes', async () => {
    const net = createNetwork(`tsbt-addr-${suffix}`);
    const prefix = net.IPAM.Config[0]?.Subnet.replace(/0\/24$/, '') ?? '';
    // At once, and all on the network together (each waits for its stdin to close): the store's
    // lock gives each an address of its own.
    const children = [1, 2, 3, 4].map((index) => {
      const child = spawn(process.execPath, [bin, 'run', '--rm', '-i', '--network', net.Name, '--hostname', `h${index}`, 'busybox', 'sh', '-c', 'ip -4 -o addr show eth0; grep "$(hostname)" /etc/hosts; cat'], {
        env: { ...process.env, TSBUILD_ROOT: root },
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      const output = { text: '' };
      child.stdout.on('data', (chunk: Buffer) => (output.text += chunk.toString()));
      return { child, output, exited: new Promise((resolve) => child.on('exit', resolve)) };
    });
    for (let waited = 0; !children.every(({ output }) => output.text.includes('\th')); waited += 50) {
      if (waited > 60_000) expect.fail(`not all containers started: ${JSON.stringify(children.map(({ output }) => output.text))}`);
      await sleep(50);
    }
    expect(Object.keys(inspect(net.Name).Containers)).toHaveLength(4);
    for (const { child } of children) child.stdin.end();
    await Promise.all(children.map(({ exited }) => exited));
    const runs = children.map(({ output }) => output.text);
    const addresses = runs.map((out) => /inet (\S+)\//.exec(out)?.[1]);
    expect(new Set(addresses).size).toBe(4);
    for (const [index, out] of runs.entries()) {
      expect(addresses[index]?.startsWith(prefix)).toBe(true);
      // /etc/hosts names the container's own address.
      expect(out).toContain(`${addresses[index] ?? ''}\th${index + 1}`);
    }
    // All gone: the first address is free again.
    expect(inspect(net.Name).Containers).toEqual({});
    expect(tsbuild('run', '--rm', '--network', net.Name, 'busybox', 'ip', '-4', '-o', 'addr', 'show', 'eth0').stdout).toContain(`inet ${prefix}2/24`);
    expect(tsbuild('network', 'rm', net.Name).status).toBe(0);
  }, 120_000);

  it('drops connections routed into a network from outside the machine, but those to its published ports, as docker 28', async () => {
    const network = createNetwork(`tsbt-routed-${suffix}`);
    const port = await freePort();
    const web = `web-routed-${suffix}`;
    const server = await startServer('routed', '--network', network.Name, '--name', web, '-p', `${port}:80`);
    // Another machine on a link of its own: a network namespace behind a veth pair, routing the
    // network's subnet through this host.
    const namespace = `tsbt-rt-${suffix}`;
    const link = `tsbtr${suffix}`.slice(0, 15);
    const sh = (script: string): void => expect(spawnSync('sh', ['-ec', script], { encoding: 'utf8' })).toMatchObject({ status: 0, stderr: '' });
    try {
      sh(`ip netns add ${namespace}
ip link add ${link} type veth peer name eth0 netns ${namespace}
ip addr add 198.51.100.1/30 dev ${link} && ip link set ${link} up
ip -n ${namespace} addr add 198.51.100.2/30 dev eth0 && ip -n ${namespace} link set eth0 up
ip -n ${namespace} route add ${network.IPAM.Config[0]?.Subnet ?? ''} via 198.51.100.1`);
      /** URL fetched from that machine, tried TRIES times (the server may be about to listen). */
      const fetchOutside = (url: string, tries = 10): Run => {
        const script = `(async () => { for (let i = 1; ; i++) { try { const r = await fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(3000) }); process.stdout.write(await r.text()); return; } catch (e) { if (i >= ${tries}) { console.error(String(e.cause ?? e)); process.exit(1); } await new Promise((d) => setTimeout(d, 300)); } } })()`;
        const result = spawnSync('ip', ['netns', 'exec', namespace, process.execPath, '-e', script], { encoding: 'utf8', timeout: 60_000 });
        return { status: result.status, stdout: result.stdout, stderr: result.stderr };
      };
      const address = tsbuild('inspect', '-f', `{{(index .NetworkSettings.Networks "${network.Name}").IPAddress}}`, web).stdout.trim();
      // Through the host's address on that link: the published port's DNAT, reached.
      expect(fetchOutside(`http://198.51.100.1:${port}/`)).toMatchObject({ status: 0, stdout: 'hello-routed\n' });
      // Straight to the container's address, even at the port it publishes: dropped.
      const direct = fetchOutside(`http://${address}/`, 1);
      expect(direct.status).not.toBe(0);
      expect(direct.stdout).not.toContain('hello-routed');
    } finally {
      spawnSync('ip', ['link', 'del', link]);
      spawnSync('ip', ['netns', 'del', namespace]);
      expect(await server.stop()).toBe(143);
    }
    expect(tsbuild('network', 'rm', network.Name).status).toBe(0);
  }, 120_000);

  it('gives an --internal network no access outside it', async () => {
    const outside = createNetwork(`tsbt-out-${suffix}`);
    const internal = createNetwork(`tsbt-int-${suffix}`, '--internal');
    expect(internal.Internal).toBe(true);
    // A server on the host, on the other network's bridge address: not reachable from outside the machine.
    const gateway = outside.IPAM.Config[0]?.Gateway ?? '';
    const port = await freePort();
    const server = await startHostServer(gateway, port);
    try {
      // From the default network, routed through the host: reached.
      expect(fetchFrom('bridge', `http://${gateway}:${port}/`)).toMatchObject({ status: 0, stdout: 'from-host\n' });
      // From the internal network: no route out.
      const blocked = tsbuild('run', '--rm', '--network', internal.Name, 'busybox', 'sh', '-c', `ip route; timeout 3 wget -qO- http://${gateway}:${port}/`);
      expect(blocked.status).not.toBe(0);
      expect(blocked.stdout).not.toContain('default');
      expect(blocked.stdout).not.toContain('from-host');
    } finally {
      await server.stop();
    }
    expect(tsbuild('network', 'rm', outside.Name, internal.Name).status).toBe(0);
  }, 120_000);

  it("takes the bridge driver's -o options as docker's: the MTU, no inter-container traffic, no masquerading, a default host address for published ports", async () => {
    const name = `tsbt-opt-${suffix}`;
    // Refused in the words of docker's bridge driver, and nothing made.
    expect(tsbuild('network', 'create', '-o', 'com.docker.network.driver.mtu=abc', name)).toMatchObject({ status: 1, stderr: expect.stringContaining('failed to parse com.docker.network.driver.mtu value: abc (strconv.Atoi: parsing "abc": invalid syntax)') });
    expect(tsbuild('network', 'create', '-o', 'com.docker.network.driver.mtu=-1', name)).toMatchObject({ status: 1, stderr: expect.stringContaining('invalid MTU number: -1') });
    expect(tsbuild('network', 'create', '-o', 'com.docker.network.bridge.enable_icc=maybe', name)).toMatchObject({ status: 1, stderr: expect.stringContaining('failed to parse com.docker.network.bridge.enable_icc value: maybe (strconv.ParseBool: parsing "maybe": invalid syntax)') });
    expect(tsbuild('network', 'create', '-o', 'com.docker.network.bridge.host_binding_ipv4=nowhere', name)).toMatchObject({ status: 1, stderr: expect.stringContaining('(nil ip)') });
    expect(tsbuild('network', 'create', '-o', 'com.docker.network.bridge.name=much-too-long-a-name', name)).toMatchObject({ status: 1, stderr: expect.stringContaining('is not an interface name') });
    expect(tsbuild('network', 'create', '-o', 'com.docker.network.bridge.name=tsb-mine', name)).toMatchObject({ status: 1, stderr: expect.stringContaining('names starting tsb are') });
    expect(tsbuild('network', 'create', '-o', 'com.docker.network.bridge.name=lo', name)).toMatchObject({ status: 1, stderr: expect.stringContaining('a link of that name exists on the host') });
    expect(tsbuild('network', 'ls', '-q', '--filter', `name=${name}`).stdout).toBe('');

    const plain = createNetwork(`${name}-plain`);
    expect(plain).toMatchObject({ Options: {}, Attachable: false });
    const made = createNetwork(name, '--attachable', '-o', 'com.docker.network.driver.mtu=1400', '-o', `com.docker.network.bridge.enable_icc=false`, '-o', 'com.docker.network.bridge.enable_ip_masquerade=0', '-o', 'com.docker.network.bridge.host_binding_ipv4=127.0.0.1', '-o', 'com.example.note=kept');
    // Shown as given, as docker shows them; a key the driver does not know is kept and changes nothing.
    expect(made).toMatchObject({
      Attachable: true,
      Options: { 'com.docker.network.driver.mtu': '1400', 'com.docker.network.bridge.enable_icc': 'false', 'com.docker.network.bridge.enable_ip_masquerade': '0', 'com.docker.network.bridge.host_binding_ipv4': '127.0.0.1', 'com.example.note': 'kept' },
    });
    const bridge = `tsb-${made.Id.slice(0, 10)}`;
    expect((await readFile(`/sys/class/net/${bridge}/mtu`, 'utf8')).trim()).toBe('1400');
    const rules = spawnSync('iptables-save', [], { encoding: 'utf8' }).stdout.split('\n').filter((line) => line.includes(`tsbuild-net-${made.Id.slice(0, 12)}`));
    expect(rules).toContainEqual(expect.stringMatching(new RegExp(`-i ${bridge} -o ${bridge} .*-j DROP`)));
    expect(rules.filter((line) => line.includes('MASQUERADE'))).toEqual([]);
    expect(spawnSync('iptables-save', [], { encoding: 'utf8' }).stdout).toMatch(new RegExp(`-s ${plain.IPAM.Config[0]?.Subnet ?? ''} ! -o tsb-${plain.Id.slice(0, 10)} .*-j MASQUERADE`));

    const web = `web-opt-${suffix}`;
    const server = await startServer('opt', '--network', made.Name, '--name', web, '-p', '80');
    try {
      // The container's interface has the network's MTU.
      expect(tsbuild('exec', web, 'cat', '/sys/class/net/eth0/mtu')).toMatchObject({ status: 0, stdout: '1400\n' });
      // The published port is on the network's host address, not on every address of the host.
      const port = tsbuild('port', web, '80');
      expect(port.stdout).toMatch(/^127\.0\.0\.1:\d+\n$/);
      const hostPort = port.stdout.trim().split(':')[1] ?? '';
      expect(await fetchFromHost(`http://127.0.0.1:${hostPort}/`)).toBe('hello-opt\n');
      const id = tsbuild('inspect', '-f', '{{.Id}}', web).stdout.trim();
      expect(spawnSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' }).stdout).toMatch(new RegExp(`-d 127\\.0\\.0\\.1/32 .*--dport ${hostPort} .*tsbuild-ctr-${id.slice(0, 12)}`));
      // No inter-container communication: another container on the network cannot reach the server.
      expect(fetchFrom(made.Name, `http://${web}/`, 2).status).not.toBe(0);
    } finally {
      await server.stop();
    }
    expect(tsbuild('network', 'rm', made.Name, plain.Name).status).toBe(0);
  }, 180_000);

  it('names a bridge as com.docker.network.bridge.name asks, and keeps its network isolated from the others both ways', async () => {
    const bridgeName = `brt${suffix}`.slice(0, 15);
    const custom = createNetwork(`tsbt-named-${suffix}`, '-o', `com.docker.network.bridge.name=${bridgeName}`);
    expect(custom.Options).toEqual({ 'com.docker.network.bridge.name': bridgeName });
    expect((await readFile(`/sys/class/net/${bridgeName}/bridge/bridge_id`, 'utf8')).trim()).not.toBe('');
    expect(tsbuild('network', 'create', '-o', `com.docker.network.bridge.name=${bridgeName}`, `tsbt-named2-${suffix}`)).toMatchObject({ status: 1, stderr: expect.stringContaining(`bridge name ${bridgeName} is network ${custom.Name}'s already`) });
    // Another of a name of the user's: replies from a tsb- bridge are dropped by its own rules, where
    // two such bridges have only the rule each makes for what comes in.
    const otherBridge = `brs${suffix}`.slice(0, 15);
    const plain = createNetwork(`tsbt-plain-${suffix}`, '-o', `com.docker.network.bridge.name=${otherBridge}`);
    const inCustom = await startServer('in-named', '--network', custom.Name, '--name', `web-named-${suffix}`);
    const inPlain = await startServer('in-plain', '--network', plain.Name, '--name', `web-plain-${suffix}`);
    try {
      const addressOf = (container: string, network: string): string => tsbuild('inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, container).stdout.trim();
      const customServer = addressOf(`web-named-${suffix}`, custom.Name);
      const plainServer = addressOf(`web-plain-${suffix}`, plain.Name);
      // On its own network, by name: reached.
      expect(fetchFrom(custom.Name, `http://web-named-${suffix}/`)).toMatchObject({ status: 0, stdout: 'hello-in-named\n' });
      // Into it from another network, and out of it to another network: not.
      expect(fetchFrom(plain.Name, `http://${customServer}/`, 2).status).not.toBe(0);
      expect(fetchFrom(custom.Name, `http://${plainServer}/`, 2).status).not.toBe(0);
      expect(fetchFrom(plain.Name, `http://${plainServer}/`)).toMatchObject({ status: 0, stdout: 'hello-in-plain\n' });
    } finally {
      await inCustom.stop();
      await inPlain.stop();
    }
    expect(tsbuild('network', 'rm', custom.Name, plain.Name).status).toBe(0);
    expect((await readdir('/sys/class/net')).filter((link) => link === bridgeName || link === otherBridge)).toEqual([]);
  }, 180_000);

  it("forwards the names a container's network does not hold to the resolvers it was given (--dns), as docker's embedded DNS", async () => {
    const network = createNetwork(`tsbt-dns-${suffix}`);
    // A resolver of the test's, in a process of its own (the commands below are waited for):
    // every name is 192.0.2.9.
    const resolverScript = `const s = require('node:dgram').createSocket('udp4');
      s.on('message', (m, p) => { const r = Buffer.concat([m, Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 9])]);
        r.writeUInt16BE((m.readUInt16BE(2) & 0x0100) | 0x8080, 2); r.writeUInt16BE(1, 6); s.send(r, p.port, p.address); });
      s.bind(53, '127.0.0.83', () => process.stdout.write('ready\\n'));`;
    const resolver = spawn(process.execPath, ['-e', resolverScript], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        resolver.stdout?.once('data', () => resolve());
        resolver.once('exit', (code) => reject(new Error(`the test's resolver exited with ${code ?? 'a signal'}`)));
      });
      const looked = tsbuild('run', '--rm', '--network', network.Name, '--dns', '127.0.0.83', 'busybox', 'sh', '-c', 'cat /etc/resolv.conf; nslookup -type=a outside.example');
      expect(looked.status, looked.stderr + looked.stdout).toBe(0);
      // resolv.conf keeps the responder; the answer comes from the container's resolver.
      expect(looked.stdout).toContain(`nameserver ${network.IPAM.Config[0]?.Gateway ?? '-'}\n`);
      expect(looked.stdout).toMatch(/Address:\s+192\.0\.2\.9/);
      // A container without --dns on the same network is not sent there.
      const other = tsbuild('run', '--rm', '--network', network.Name, 'busybox', 'nslookup', '-type=a', 'outside.example');
      expect(other.stdout).not.toContain('192.0.2.9');
    } finally {
      resolver.kill();
    }
    expect(tsbuild('network', 'rm', network.Name).status).toBe(0);
  }, 120_000);

  it('gives a container the address --ip asks for on a network with a subnet, keeps it across a restart, and refuses one taken or outside', () => {
    const network = createNetwork(`tsbt-ip-${suffix}`);
    const base = (network.IPAM.Config[0]?.Subnet ?? '').replace(/0\/24$/, '');
    const name = `fixed-${suffix}`;
    expect(tsbuild('run', '-d', '--name', name, '--network', network.Name, '--ip', `${base}50`, 'busybox', 'sleep', '100').status).toBe(0);
    try {
      const address = (): string => tsbuild('exec', name, 'sh', '-c', 'ip -4 addr show eth0').stdout;
      expect(address()).toContain(`inet ${base}50/24`);
      expect(tsbuild('restart', name).status).toBe(0);
      expect(address()).toContain(`inet ${base}50/24`);
      expect(tsbuild('run', '--rm', '--network', network.Name, '--ip', `${base}50`, 'busybox', 'true')).toMatchObject({ status: 125, stderr: expect.stringContaining(`Address already in use: ${base}50`) });
      expect(tsbuild('run', '--rm', '--network', network.Name, '--ip', '192.0.2.7', 'busybox', 'true')).toMatchObject({ status: 125, stderr: expect.stringContaining('does not belong to') });
      expect(tsbuild('run', '--rm', '--ip', `${base}51`, 'busybox', 'true')).toMatchObject({ status: 125, stderr: expect.stringContaining('user defined networks only') });
      // Refused before the default network's bridge was made for it: no container uses one, so none is up.
      expect(existsSync(`/sys/class/net/tsb-${inspect('bridge').Id.slice(0, 10)}`)).toBe(false);
      // network connect --ip: a second interface at the address asked for.
      const other = createNetwork(`tsbt-ip2-${suffix}`);
      const otherBase = (other.IPAM.Config[0]?.Subnet ?? '').replace(/0\/24$/, '');
      expect(tsbuild('network', 'connect', '--ip', `${otherBase}9`, other.Name, name).status).toBe(0);
      expect(tsbuild('exec', name, 'sh', '-c', 'ip -4 addr').stdout).toContain(`inet ${otherBase}9/24`);
      expect(tsbuild('network', 'disconnect', other.Name, name).status).toBe(0);
      expect(tsbuild('network', 'rm', other.Name).status).toBe(0);
      // A network whose subnet tsbuild chose takes no address request, as docker's IPAM.
      const chosen = `tsbt-ip3-${suffix}`;
      expect(tsbuild('network', 'create', chosen).status).toBe(0);
      try {
        expect(tsbuild('run', '--rm', '--network', chosen, '--ip', `${base}52`, 'busybox', 'true')).toMatchObject({ status: 125, stderr: expect.stringContaining('user specified IP address is supported only when connecting to networks with user configured subnets') });
        expect(tsbuild('network', 'connect', '--ip', `${base}52`, chosen, name)).toMatchObject({ status: 1, stderr: expect.stringContaining('user configured subnets') });
      } finally {
        tsbuild('network', 'rm', chosen);
      }
    } finally {
      tsbuild('rm', '-f', name);
    }
    expect(tsbuild('network', 'rm', network.Name).status).toBe(0);
  }, 120_000);

  it('gives containers addresses from the --ip-range of the subnet but its --aux-address ones, shown in inspect as docker 26 shows them, and refuses a range or an address outside', () => {
    const name = `tsbt-range-${suffix}`;
    expect(tsbuild('network', 'create', '--ip-range', '10.200.0.0/25', name)).toMatchObject({ status: 1, stderr: expect.stringContaining('every ip-range or gateway must have a corresponding subnet') });
    expect(tsbuild('network', 'create', '--subnet', '10.200.0.0/24', '--ip-range', '10.201.0.1/16', name)).toMatchObject({
      status: 1,
      stderr: expect.stringContaining('invalid network config:\ninvalid ip-range 10.201.0.1/16: CIDR block is bigger than its parent subnet 10.200.0.0/24\ninvalid ip-range 10.201.0.1/16: it should be 10.201.0.0/16\ninvalid ip-range 10.201.0.1/16: parent subnet 10.200.0.0/24 doesn\'t contain ip-range'),
    });
    expect(tsbuild('network', 'create', '--aux-address', 'router=10.200.0.5', name)).toMatchObject({ status: 1, stderr: expect.stringContaining('no matching subnet for aux-address 10.200.0.5') });
    expect(tsbuild('network', 'create', '--subnet', '10.200.0.0/24', '--aux-address', 'router=10.200.1.5', name)).toMatchObject({ status: 1, stderr: expect.stringContaining('no matching subnet for aux-address 10.200.1.5') });
    expect(tsbuild('network', 'create', '--ipam-driver', 'other', name)).toMatchObject({ status: 1, stderr: expect.stringContaining('plugin "other" not found') });
    expect(tsbuild('network', 'create', '--ipv6', name)).toMatchObject({ status: 1, stderr: expect.stringContaining('IPv4 only') });
    const network = createNetworkWith(name, (base) => ['--ip-range', `${base}128/25`, '--aux-address', `router=${base}128`, '--ipam-opt', 'note=kept']);
    const base = (network.IPAM.Config[0]?.Subnet ?? '').replace(/0\/24$/, '');
    expect(tsbuild('network', 'inspect', '-f', '{{json .IPAM}}', name).stdout).toBe(`{"Driver":"default","Options":{"note":"kept"},"Config":[{"Subnet":"${base}0/24","IPRange":"${base}128/25","Gateway":"${base}1","AuxiliaryAddresses":{"router":"${base}128"}}]}\n`);
    // The first free address of the range, the auxiliary one passed over; --ip may still ask for
    // one outside the range, in the subnet, but not an auxiliary one.
    expect(tsbuild('run', '--rm', '--network', name, 'busybox', 'sh', '-c', 'ip -4 addr show eth0').stdout).toContain(`inet ${base}129/24`);
    expect(tsbuild('run', '--rm', '--network', name, '--ip', `${base}20`, 'busybox', 'sh', '-c', 'ip -4 addr show eth0').stdout).toContain(`inet ${base}20/24`);
    expect(tsbuild('run', '--rm', '--network', name, '--ip', `${base}128`, 'busybox', 'true')).toMatchObject({ status: 125, stderr: expect.stringContaining(`Address already in use: ${base}128`) });
    expect(tsbuild('network', 'rm', name).status).toBe(0);
  }, 120_000);

  it('gives a container the MAC address --mac-address asks for, shown in inspect as docker 26 shows it, and refuses one that is none', () => {
    // The default bridge, in the foreground: the interface takes it whatever its notation.
    expect(tsbuild('run', '--rm', '--mac-address', '02:42:AC:11:00:99', 'busybox', 'cat', '/sys/class/net/eth0/address')).toMatchObject({ status: 0, stdout: '02:42:ac:11:00:99\n' });
    const network = createNetwork(`tsbt-mac-${suffix}`);
    const name = `mac-${suffix}`;
    expect(tsbuild('run', '-d', '--name', name, '--network', network.Name, '--mac-address', '0242.ac11.0077', 'busybox', 'sleep', '100').status).toBe(0);
    try {
      const fields = `{{json .Config.MacAddress}} {{json .NetworkSettings.MacAddress}} {{json (index .NetworkSettings.Networks "${network.Name}").MacAddress}}`;
      expect(tsbuild('exec', name, 'cat', '/sys/class/net/eth0/address').stdout).toBe('02:42:ac:11:00:77\n');
      // Config keeps it as given; the network's entry shows the interface's (the top-level field is the default bridge's).
      expect(tsbuild('inspect', '-f', fields, name).stdout).toBe(`"0242.ac11.0077" "" "02:42:ac:11:00:77"\n`);
      expect(tsbuild('restart', name).status).toBe(0);
      expect(tsbuild('exec', name, 'cat', '/sys/class/net/eth0/address').stdout).toBe('02:42:ac:11:00:77\n');
    } finally {
      tsbuild('rm', '-f', name);
    }
    // Created, on the default bridge: its settings as given; none asked, no Config.MacAddress.
    const created = tsbuild('create', '--mac-address', '02-42-AC-11-00-99', 'busybox', 'true').stdout.trim();
    expect(tsbuild('inspect', '-f', '{{json .Config.MacAddress}} {{json .NetworkSettings.MacAddress}} {{json .NetworkSettings.Networks.bridge.MacAddress}}', created).stdout).toBe('"02-42-AC-11-00-99" "02-42-AC-11-00-99" "02-42-AC-11-00-99"\n');
    tsbuild('rm', created);
    const plain = tsbuild('create', 'busybox', 'true').stdout.trim();
    expect(tsbuild('inspect', '-f', '{{json .Config}}', plain).stdout).not.toContain('MacAddress');
    tsbuild('rm', plain);
    for (const bad of ['xx', '02:42:ac:11:00', '02:42:ac:11:00:99:aa:bb', '02:42-ac:11:00:99']) {
      expect(tsbuild('create', '--mac-address', bad, 'busybox', 'true'), bad).toMatchObject({ status: 125, stderr: `tsbuild: ${bad} is not a valid mac address.\nSee 'tsbuild create --help'.\n` });
    }
    expect(tsbuild('network', 'rm', network.Name).status).toBe(0);
  }, 120_000);

  it("publishes the image's exposed ports on free ports of the host with -P", async () => {
    const child = spawn(process.execPath, [bin, 'run', '--rm', '--init', '-P', 'exposing', 'sh', '-c', 'mkdir /www; echo exposed > /www/index.html; hostname; exec httpd -f -p 80 -h /www'], {
      env: { ...process.env, TSBUILD_ROOT: root },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    try {
      while (!/^[0-9a-f]{12}\n/.test(out)) {
        if (child.exitCode !== null) expect.fail('the server did not start');
        await sleep(50);
      }
      // The port chosen is the one in the container's DNAT rule.
      const rule = spawnSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' }).stdout.split('\n').find((line) => line.includes(`tsbuild-ctr-${out.slice(0, 12)}`));
      const port = /--dport (\d+)/.exec(rule ?? '')?.[1] ?? expect.fail('no DNAT rule for the container');
      expect(rule).toMatch(/--to-destination \S+:80$/);
      expect(await fetchFromHost(`http://127.0.0.1:${port}/`)).toBe('exposed\n');
      expect(await fetchFromHost(`http://${hostAddress()}:${port}/`)).toBe('exposed\n');
    } finally {
      child.kill('SIGTERM');
      expect(await exited).toBe(143);
    }
    expect(spawnSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' }).stdout).not.toContain(`tsbuild-ctr-${out.slice(0, 12)}`);
  }, 60_000);

  it('gives --network none loopback only and --network container:NAME the other container\'s', async () => {
    const net = createNetwork(`tsbt-join-${suffix}`);
    const server = await startServer('joined', '--network', net.Name, '--name', `joined-${suffix}`);
    try {
      // The joiner shares the server's namespace: the server is on its loopback.
      const joined = tsbuild('run', '--rm', '--network', `container:joined-${suffix}`, 'busybox', 'sh', '-c', 'for i in 1 2 3 4 5; do wget -qO- http://127.0.0.1/ && exit 0; sleep 0.3; done; exit 1');
      expect(joined).toMatchObject({ status: 0, stdout: 'hello-joined\n' });
    } finally {
      await server.stop();
    }
    expect(tsbuild('run', '--rm', '--network', 'none', 'busybox', 'sh', '-c', 'ls /sys/class/net').stdout).toBe('lo\n');
    // As docker's inspect: a container on none is on the network none, without an address.
    const none = tsbuild('create', '--network', 'none', 'busybox', 'true').stdout.trim();
    expect(tsbuild('inspect', '-f', '{{range $name, $n := .NetworkSettings.Networks}}{{$name}}:{{$n.IPAddress}}{{end}}', none)).toMatchObject({ status: 0, stdout: 'none:\n' });
    // docker 26's refusals of `network connect|disconnect` with the built-in modes, in its words.
    const onHost = tsbuild('create', '--network', 'host', 'busybox', 'true').stdout.trim();
    const bridged = tsbuild('create', 'busybox', 'true').stdout.trim();
    const refused = (args: string[], message: string): void => expect(tsbuild('network', ...args), args.join(' ')).toMatchObject({ status: 1, stderr: `Error response from daemon: ${message}\n` });
    refused(['connect', net.Name, none], 'container cannot be connected to multiple networks with one of the networks in private (none) mode');
    refused(['connect', net.Name, onHost], 'container sharing network namespace with another container or host cannot be connected to any other network');
    refused(['connect', 'host', bridged], 'container cannot be disconnected from host network or connected to host network');
    refused(['connect', 'none', bridged], 'container cannot be connected to multiple networks with one of the networks in private (none) mode');
    refused(['disconnect', 'host', onHost], 'container cannot be disconnected from host network or connected to host network');
    refused(['disconnect', 'host', bridged], `container ${bridged} is not connected to the network host`);
    refused(['disconnect', net.Name, bridged.slice(0, 12)], `container ${bridged} is not connected to the network ${net.Name}`);
    expect(tsbuild('rm', none, onHost, bridged).status).toBe(0);
    expect(tsbuild('run', '--rm', '--network', 'nosuch', 'busybox', 'true')).toMatchObject({ status: 125, stderr: expect.stringContaining('network nosuch not found') });
    // docker 26: -p with none publishes nothing, with host says so and publishes nothing, with container: is refused.
    expect(tsbuild('run', '--rm', '--network', 'none', '-p', '80', 'busybox', 'true')).toMatchObject({ status: 0, stderr: '' });
    expect(tsbuild('run', '--rm', '--network', 'host', '-p', '80', 'busybox', 'true')).toMatchObject({ status: 0, stderr: 'WARNING: Published ports are discarded when using host network mode\n' });
    expect(tsbuild('run', '-d', '--rm', '--network', 'host', '-p', '80', 'busybox', 'true')).toMatchObject({ status: 0, stderr: 'WARNING: Published ports are discarded when using host network mode\n' });
    expect(tsbuild('run', '--rm', '--network', `container:joined-${suffix}`, '-p', '80', 'busybox', 'true')).toMatchObject({ status: 125, stderr: 'tsbuild: Error response from daemon: conflicting options: port publishing and the container type network mode.\nSee \'tsbuild run --help\'.\n' });
    expect(tsbuild('network', 'rm', net.Name).status).toBe(0);
  }, 120_000);

  it('shows the default bridge\'s subnet and gateway before any container used it, and gives its containers addresses there', async () => {
    const fresh = join(dir, 'fresh-bridge');
    await busyboxImage(await openStore({ root: fresh }));
    const inFresh = (...args: string[]): Run => {
      const result = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, TSBUILD_ROOT: fresh }, timeout: 60_000 });
      return { status: result.status, stdout: result.stdout, stderr: result.stderr };
    };
    const ipam = JSON.parse(inFresh('network', 'inspect', '-f', '{{json .IPAM}}', 'bridge').stdout) as { Driver: string; Options: null; Config: { Subnet: string; Gateway: string }[] };
    expect(ipam).toEqual({ Driver: 'default', Options: null, Config: [{ Subnet: expect.stringMatching(/^\d+\.\d+\.0\.0\/16$/), Gateway: expect.stringMatching(/\.0\.1$/) }] });
    const [config] = ipam.Config;
    const prefix = config?.Subnet.replace(/0\.0\/16$/, '') ?? '?';
    expect(config?.Gateway).toBe(`${prefix}0.1`);
    const id = inFresh('run', '-d', 'busybox', 'sleep', '60').stdout.trim();
    try {
      // The subnet shown is the first free one when asked; the bridge takes it at the first start
      // if it is still free, and keeps it while a container holds it. Another store's bridge
      // (tests run side by side) may take it in between, so the container's address is compared
      // with what inspect shows while it runs.
      const held = JSON.parse(inFresh('network', 'inspect', '-f', '{{json .IPAM.Config}}', 'bridge').stdout) as { Subnet: string; Gateway: string }[];
      const heldPrefix = held[0]?.Subnet.replace(/0\.0\/16$/, '') ?? '?';
      const route = inFresh('exec', id, 'sh', '-c', "ip -4 -o addr show eth0 | awk '{print $4}'; ip route | awk '/default/ {print $3}'");
      expect(route.stdout).toBe(`${heldPrefix}0.2/16\n${heldPrefix}0.1\n`);
    } finally {
      inFresh('rm', '-f', id);
    }
  }, 60_000);

  it('connects and disconnects a created or stopped container at its next start, as docker 26; inspect shows it meanwhile', () => {
    const net = createNetwork(`tsbt-later-${suffix}`);
    const name = `later-${suffix}`;
    const id = tsbuild('create', '--name', name, 'busybox', 'sleep', '60').stdout.trim();
    const networksOf = (): Record<string, { Aliases: string[] | null; IPAddress: string; DNSNames: string[] | null }> => JSON.parse(tsbuild('inspect', '-f', '{{json .NetworkSettings.Networks}}', name).stdout) as Record<string, { Aliases: string[] | null; IPAddress: string; DNSNames: string[] | null }>;
    const interfaces = (): string => tsbuild('exec', name, 'ls', '/sys/class/net').stdout;
    try {
      expect(tsbuild('network', 'connect', '--alias', `later-alias-${suffix}`, net.Name, name)).toMatchObject({ status: 0, stderr: '' });
      expect(tsbuild('network', 'disconnect', 'bridge', name)).toMatchObject({ status: 0, stderr: '' });
      expect(tsbuild('network', 'disconnect', 'bridge', name)).toMatchObject({ status: 1, stderr: `Error response from daemon: container ${id} is not connected to the network bridge\n` });
      // Stopped: its settings, no address; HostConfig.NetworkMode stays as made.
      expect(networksOf()).toEqual({ [net.Name]: expect.objectContaining({ Aliases: [`later-alias-${suffix}`], IPAddress: '', DNSNames: [name, `later-alias-${suffix}`, id.slice(0, 12)] }) });
      expect(tsbuild('inspect', '-f', '{{.HostConfig.NetworkMode}}', name).stdout).toBe('bridge\n');

      expect(tsbuild('start', name).status).toBe(0);
      const running = networksOf();
      expect(Object.keys(running)).toEqual([net.Name]);
      expect(running[net.Name]?.IPAddress.startsWith(net.IPAM.Config[0]?.Subnet.replace(/0\/24$/, '') ?? '?')).toBe(true);
      expect(interfaces()).toBe('eth0\nlo\n');
      // Reached by its alias on the network it was connected to while stopped.
      expect(fetchFrom(net.Name, `http://later-alias-${suffix}:1/`, 1).stderr).not.toContain('bad address');

      // Taken off every network while stopped: loopback alone at the next start, and connected again while it runs.
      expect(tsbuild('stop', '-t', '0', name).status).toBe(0);
      expect(tsbuild('network', 'disconnect', net.Name, name).status).toBe(0);
      expect(networksOf()).toEqual({});
      expect(tsbuild('start', name).status).toBe(0);
      expect(interfaces()).toBe('lo\n');
      expect(tsbuild('network', 'connect', net.Name, name)).toMatchObject({ status: 0, stderr: '' });
      expect(interfaces()).toBe('eth0\nlo\n');
      // Kept for the next start too.
      expect(tsbuild('restart', '-t', '0', name).status).toBe(0);
      expect(interfaces()).toBe('eth0\nlo\n');
    } finally {
      tsbuild('rm', '-f', name);
      tsbuild('network', 'rm', net.Name);
    }
  }, 120_000);
});

describe.runIf(isRoot && toolExists('newuidmap') && toolExists('slirp4netns'))('networks as an unprivileged user', () => {
  it('gives the default network outbound access and published ports through slirp4netns (user networks: rootless-networks.test.ts)', async () => {
    const user = ensureRootlessUser();
    const userRoot = join(dir, 'rootless');
    await busyboxImage(await openStore({ root: userRoot }));
    chownTree(userRoot, user);
    const env = { ...process.env, TSBUILD_ROOT: userRoot };
    const userCommand = (...args: string[]): string[] => [...asRootless(user).slice(1), `TSBUILD_ROOT=${userRoot}`, process.execPath, bin, ...args];
    const runAs = (...args: string[]): Run => {
      const result = spawnSync(asRootless(user)[0] ?? 'setpriv', userCommand(...args), { encoding: 'utf8', timeout: 60_000, env });
      return { status: result.status, stdout: result.stdout, stderr: result.stderr };
    };
    const port = await freePort();
    const child = spawn(asRootless(user)[0] ?? 'setpriv', userCommand('run', '--rm', '--init', '-p', `${port}:80`, 'busybox', 'sh', '-c', 'mkdir /www; echo rootless-web > /www/index.html; echo ready; exec httpd -f -p 80 -h /www'), {
      stdio: ['ignore', 'pipe', 'inherit'],
      env,
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    try {
      for (let waited = 0; !out.includes('ready'); waited += 50) {
        if (child.exitCode !== null || waited > 30_000) expect.fail('the rootless server did not start');
        await sleep(50);
      }
      // From the host, through slirp4netns's forward.
      expect(await fetchFromHost(`http://127.0.0.1:${port}/`)).toBe('rootless-web\n');
      // From another rootless container, out through its own slirp4netns to the host's address, and back in.
      expect(runAs('run', '--rm', 'busybox', 'sh', '-c', `cat /etc/resolv.conf; wget -qO- http://${hostAddress()}:${port}/`)).toMatchObject({ status: 0, stdout: 'nameserver 10.0.2.3\nrootless-web\n' });
      expect(runAs('run', '--rm', '-p', `${port}:80`, 'busybox', 'true')).toMatchObject({ status: 125, stderr: expect.stringContaining('port is already allocated') });
      // --mac-address: slirp4netns's tap device takes it.
      expect(runAs('run', '--rm', '--mac-address', '02:42:AC:11:00:42', 'busybox', 'ip', 'link', 'show', 'tap0')).toMatchObject({ status: 0, stdout: expect.stringContaining('link/ether 02:42:ac:11:00:42 ') });
    } finally {
      // setpriv execs: the signal reaches tsbuild, which passes it to the container's init.
      child.kill('SIGTERM');
      expect(await exited).toBe(143);
    }
    // No slirp4netns of this store's left running (an exited one may stay a zombie of the machine's init).
    const alive: string[] = [];
    for (const pid of (await readdir('/proc')).filter((entry) => /^\d+$/.test(entry))) {
      const command = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      const state = (await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')).split(') ')[1]?.[0];
      if (command.startsWith('slirp4netns') && command.includes(userRoot) && state !== 'Z') alive.push(command);
    }
    expect(alive).toEqual([]);
    expect(await readdir(join(userRoot, 'networks', 'netns'))).toEqual([]);
  }, 120_000);
});
