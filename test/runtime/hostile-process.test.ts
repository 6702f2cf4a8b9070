/**
 * What a container's processes inherit from the host, and what of the host they reach, for
 * `run`, `exec`, a build's RUN and a healthcheck, as root and rootless:
 * - Capabilities (runc CVE-2022-29162, moby CVE-2022-24769): the caller holds inheritable and
 *   ambient capabilities; no process inside holds any of either, with or without `-u`, so a
 *   file capability of the image can never raise a user's process above what it was given.
 * - Descriptors (runc CVE-2016-9962): the caller leaks a directory of the store, a store file
 *   and a file it writes; the processes inside have 0, 1 and 2 only.
 * - /sys (runc CVE-2023-25809): every mount at /sys and below is read-only, the rootless /sys
 *   (a recursive bind of the host's, with the host's cgroups below it) included.
 * - /proc (runc CVE-2019-16884, CVE-2023-27561, CVE-2023-28642): an image's link leads a VOLUME,
 *   a `-v`, a `--tmpfs` or a RUN's cache mount into /proc/self/attr; nothing is mounted there.
 * - The store (moby CVE-2021-41091): no set-user-ID file of a container, a volume, a build step
 *   or a cache mount can be reached by another user of the host.
 * - Sockets (containerd CVE-2020-15257): no process tsbuild leaves running (monitors, network
 *   responders, slirp4netns) listens on an abstract unix socket, which a container on the
 *   host's network would reach.
 */
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { busyboxImage } from '../helpers/busybox-image.js';
import { temporaryDirectory } from '../helpers/temporary-store.js';
import { asRootless, buildBinaries, ensureRootlessUser, isRoot, toolExists } from './helpers.js';

const bin = new URL('../../bin/tsbuild.js', import.meta.url).pathname;
/** Capabilities the caller holds as inheritable and ambient (setpriv's names). */
const callerCapabilities = ['--inh-caps=+net_raw,+sys_admin,+sys_ptrace', '--ambient-caps=+net_raw,+sys_admin'];
/** Prints the capability sets that must be empty, as `CapInh:<hex> CapAmb:<hex>`. */
const capabilitySets = `grep -E '^Cap(Inh|Amb):' /proc/self/status | tr -d '\\t' | tr '\\n' ' '`;
const emptySets = 'CapInh:0000000000000000 CapAmb:0000000000000000 ';

let dir: string;
let root: string;
let rootlessRoot: string;
let removeDir: () => Promise<void>;
let user: ReturnType<typeof ensureRootlessUser>;

interface Result {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function outcome(result: SpawnSyncReturns<string>): Result {
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The CLI on the root store, under PREFIX (setpriv) and with a shell's redirections LEAKS before it. */
function tsbuild(args: readonly string[], options: { prefix?: readonly string[]; leaks?: string } = {}): Result {
  const command = `${options.leaks ?? ''} exec "$0" "$@"`;
  const [first = process.execPath, ...rest] = [...(options.prefix ?? []), 'sh', '-c', command, process.execPath, bin, ...args];
  return outcome(spawnSync(first, rest, { encoding: 'utf8', env: { ...process.env, TSBUILD_ROOT: root }, timeout: 90_000 }));
}

/** The CLI as the rootless user on its own store. */
function rootless(args: readonly string[], leaks = ''): Result {
  const [command = '', ...prefix] = asRootless(user);
  return outcome(spawnSync(command, [...prefix, `TSBUILD_ROOT=${rootlessRoot}`, 'sh', '-c', `${leaks} exec "$0" "$@"`, process.execPath, bin, ...args], { encoding: 'utf8', timeout: 90_000 }));
}

function ok(result: Result, what: string): string {
  expect(result.stderr, what).not.toMatch(/error/i);
  expect(result.status, `${what}: ${result.stderr}`).toBe(0);
  return result.stdout;
}

function context(name: string, dockerfile: string): string {
  const path = join(dir, name);
  mkdirSync(path, { recursive: true });
  writeFileSync(join(path, 'Dockerfile'), dockerfile);
  chmodSync(path, 0o755);
  return path;
}

describe.runIf(isRoot)('what a container process inherits from the host', () => {
  beforeAll(async () => {
    buildBinaries();
    user = ensureRootlessUser();
    ({ path: dir, cleanup: removeDir } = await temporaryDirectory('tsbuild-hostile-process-'));
    chmodSync(dir, 0o755);
    root = join(dir, 'root');
    rootlessRoot = join(dir, 'rootless');
    await busyboxImage(await openStore({ root }));
    await busyboxImage(await openStore({ root: rootlessRoot }));
    expect(spawnSync('chown', ['-R', `${user.uid}:${user.gid}`, rootlessRoot]).status).toBe(0);
  }, 120_000);

  afterAll(async () => {
    for (const name of ['caps', 'fds', 'health', 'dumpable', 'suid', 'sockets']) tsbuild(['rm', '-f', name]);
    rootless(['rm', '-f', 'sockets', 'sockets-user']);
    // A network's bridge and rules outlive a removed root: the networks go first.
    tsbuild(['network', 'rm', 'sockets-net']);
    rootless(['network', 'rm', 'sockets-net']);
    await removeDir();
  });

  it('disables IPv6 on a container\'s interface of an IPv4-only bridge network, as root (default and user-defined) and rootless (user-defined) (moby CVE-2024-32473)', () => {
    // No link-local or router-advertised address, no IPv6 multicast group: the IPv4 network works.
    const probe = 'cat /proc/sys/net/ipv6/conf/eth0/disable_ipv6; ip -6 addr show dev eth0 | grep -c inet6; ping -c1 -W2 "$(ip route | awk \'/default/ {print $3}\')" | grep -c "bytes from"';
    const expected = '1\n0\n1\n';
    expect(ok(tsbuild(['run', '--rm', 'busybox', 'sh', '-c', probe]), 'run')).toBe(expected);
    ok(tsbuild(['network', 'create', 'ipv4-only']), 'network create');
    try {
      expect(ok(tsbuild(['run', '--rm', '--network', 'ipv4-only', 'busybox', 'sh', '-c', probe]), 'run --network')).toBe(expected);
    } finally {
      tsbuild(['network', 'rm', 'ipv4-only']);
    }
    // Rootless, a user-defined network's bridge is in the rootless namespace; the default network
    // there is slirp4netns's tap, which speaks no IPv6 unless asked.
    ok(rootless(['network', 'create', 'ipv4-only']), 'rootless network create');
    try {
      expect(ok(rootless(['run', '--rm', '--network', 'ipv4-only', 'busybox', 'sh', '-c', probe]), 'rootless run --network')).toBe(expected);
    } finally {
      rootless(['network', 'rm', 'ipv4-only']);
    }
  }, 120_000);

  it('gives no process inheritable or ambient capabilities, whatever the caller holds, with or without -u (runc CVE-2022-29162, moby CVE-2022-24769, buildah CVE-2022-27651)', () => {
    const prefix = ['setpriv', ...callerCapabilities];
    // The caller does hold them: without the runtime's clearing, they would reach the process.
    const caller = spawnSync(prefix[0] ?? '', [...prefix.slice(1), 'sh', '-c', capabilitySets], { encoding: 'utf8' });
    expect(caller.stdout).not.toBe(emptySets);
    for (const flags of [[], ['-u', '1000'], ['--cap-add', 'SYS_PTRACE'], ['-u', '1000', '--cap-add', 'NET_ADMIN'], ['--privileged']]) {
      expect(ok(tsbuild(['run', '--rm', ...flags, 'busybox', 'sh', '-c', capabilitySets], { prefix }), `run ${flags.join(' ')}`), `run ${flags.join(' ')}`).toBe(emptySets);
    }
    ok(tsbuild(['run', '-d', '--name', 'caps', '--cap-add', 'SYS_PTRACE', 'busybox', 'sleep', '300'], { prefix }), 'run -d');
    for (const flags of [[], ['-u', '1000'], ['--privileged'], ['-u', '1000', '--privileged']]) {
      expect(ok(tsbuild(['exec', ...flags, 'caps', 'sh', '-c', capabilitySets], { prefix }), `exec ${flags.join(' ')}`), `exec ${flags.join(' ')}`).toBe(emptySets);
    }
    const check = `RUN test "$(${capabilitySets})" = "${emptySets}"`;
    const build = tsbuild(['build', '--progress', 'plain', '--no-cache', context('caps', ['FROM busybox', check, 'USER 1000', check, ''].join('\n'))], { prefix });
    expect(build.status, build.stderr).toBe(0);
    // Every capability for --security=insecure, as BuildKit gives it: none inheritable or ambient still (buildah CVE-2022-27651).
    const insecure = `RUN --security=insecure test "$(${capabilitySets})" = "${emptySets}"`;
    const privileged = tsbuild(['build', '--progress', 'plain', '--no-cache', '--allow', 'security.insecure', context('caps-insecure', ['# syntax=docker/dockerfile:1-labs', 'FROM busybox', insecure, 'USER 1000', insecure, ''].join('\n'))], { prefix });
    expect(privileged.status, privileged.stderr).toBe(0);
    expect(build.stderr).not.toMatch(/CapInh:0*[1-9a-f]/);
    expect(ok(rootless(['run', '--rm', 'busybox', 'sh', '-c', capabilitySets]), 'rootless run')).toBe(emptySets);
  }, 180_000);

  it('lets no descriptor of the caller, the store or the monitor reach run, exec, RUN or a healthcheck (runc CVE-2016-9962)', async () => {
    const leaks = `exec 5<${root} 6<${join(root, 'index.json')} 7>>${join(dir, 'leaked')};`;
    // The shell's own descriptors, listed without opening one: the glob's directory is closed
    // before each name is tested, and no pipe or redirection is open meanwhile.
    const fdsOf = (pid: string): string => `fds=""; for fd in /proc/${pid}/fd/*; do [ -e "$fd" ] && fds="$fds\${fd##*/} "; done`;
    const fds = `${fdsOf('self')}; echo -n "$fds"`;
    expect(ok(tsbuild(['run', '--rm', 'busybox', 'sh', '-c', fds], { leaks }), 'run')).toBe('0 1 2 ');
    ok(tsbuild(['run', '-d', '--name', 'fds', 'busybox', 'sleep', '300'], { leaks }), 'run -d');
    // The detached container's own process, whose monitor holds the store's files open.
    expect(ok(tsbuild(['exec', 'fds', 'sh', '-c', `${fdsOf('1')}; echo -n "$fds"`], { leaks }), 'exec: pid 1')).toBe('0 1 2 ');
    expect(ok(tsbuild(['exec', 'fds', 'sh', '-c', fds], { leaks }), 'exec')).toBe('0 1 2 ');
    expect(ok(tsbuild(['exec', '-u', '1000', 'fds', 'sh', '-c', fds], { leaks }), 'exec -u')).toBe('0 1 2 ');
    const build = tsbuild(['build', '--progress', 'plain', '--no-cache', context('fds', `FROM busybox\nRUN ${fdsOf('self')}; test "$fds" = "0 1 2 "\n`)], { leaks });
    expect(build.status, build.stderr).toBe(0);
    ok(tsbuild(['run', '-d', '--name', 'health', '--health-cmd', `${fdsOf('self')}; echo -n "$fds" > /tmp/health-fds`, '--health-interval', '1s', 'busybox', 'sleep', '300'], { leaks }), 'run --health-cmd');
    let seen = '';
    for (let attempt = 0; attempt < 50 && seen === ''; attempt++) {
      await sleep(200);
      seen = tsbuild(['exec', 'health', 'cat', '/tmp/health-fds']).stdout;
    }
    expect(seen).toBe('0 1 2 ');
    expect(ok(rootless(['run', '--rm', 'busybox', 'sh', '-c', fds], `exec 5<${rootlessRoot} 6<${join(rootlessRoot, 'index.json')};`), 'rootless run')).toBe('0 1 2 ');
  }, 180_000);

  it.runIf(toolExists('strace'))("gives a container no way into the runtime's process before it runs the program of exec or run: not dumpable until then (runc CVE-2016-9962)", async () => {
    // On the host's pid namespace, it sees the processes of every run and exec, its own too.
    ok(tsbuild(['run', '-d', '--name', 'dumpable', '--pid', 'host', 'busybox', 'sleep', '300']), 'run -d');
    const id = ok(tsbuild(['inspect', '--format', '{{.Id}}', 'dumpable']), 'inspect').trim();
    // Each process of this store's runtime the container sees, and whether its environment (the caller's) can be read.
    const look = `for p in /proc/[0-9]*; do c=$(tr "\\0" " " < $p/cmdline 2>/dev/null); case "$c" in /*/tsbuild-runtime\\ *${root}/*|/*/tsbuild-runtime\\ exec\\ *${id}*) echo "held: $(grep CapEff: $p/status | tr -d "\\t")"; cat $p/environ > /dev/null 2>&1 && echo "READ $p";; esac; done`;
    for (const args of [['exec', 'dumpable', '/bin/sleep', '0'], ['run', '--rm', 'busybox', '/bin/sleep', '0']]) {
      // strace holds the runtime's process at the execve of the program for seconds: the window
      // a container's process would race for, made wide.
      const held = spawn('strace', ['-f', '-qq', '-o', '/dev/null', '-P', '/bin/sleep', '-e', 'trace=execve', '-e', 'inject=execve:delay_enter=4000000', process.execPath, bin, ...args], { env: { ...process.env, TSBUILD_ROOT: root }, stdio: 'ignore' });
      const exited = new Promise<number | null>((resolve) => held.on('exit', resolve));
      let seen = '';
      // The runtime's parents hold every capability and cannot be read anyway; the child held
      // at its execve has the container's, as the process looking at it.
      const containerCapabilities = 'held: CapEff:00000000a80425fb';
      for (let attempt = 0; attempt < 30 && !seen.includes(containerCapabilities); attempt++) {
        await sleep(200);
        seen = tsbuild(['exec', 'dumpable', 'sh', '-c', look]).stdout;
      }
      expect(seen, args[0]).toContain(containerCapabilities);
      expect(seen, args[0]).not.toContain('READ');
      expect(await exited, args[0]).toBe(0);
    }
    // With --init the runtime stays PID 1 and executes nothing: it stays not dumpable.
    const init = tsbuild(['run', '--rm', '--init', 'busybox', 'sh', '-c', 'cat /proc/1/environ']);
    expect(init.stderr).toContain('Permission denied');
    expect(init.stdout).not.toContain('TSBUILD_ROOT');
    // Nor does its command line name the host's paths (the store, the bundle): the container
    // reads its init's as docker's, "tsbuild-init -- ARGS" for "/sbin/docker-init -- ARGS".
    const command = tsbuild(['run', '--rm', '--init', 'busybox', 'sh', '-c', 'tr "\\0" "\\n" < /proc/1/cmdline | grep .']);
    expect(command.stdout).toBe('tsbuild-init\n--\nsh\n-c\ntr "\\0" "\\n" < /proc/1/cmdline | grep .\n');
  }, 120_000);

  it("never lets a container change the host's device nodes: /dev/null and the others are its own (rootful) or the host's root's (rootless)", () => {
    const devices = ['null', 'zero', 'full', 'random', 'urandom', 'tty'];
    const modes = (): string[] => devices.map((name) => { const info = statSync(`/dev/${name}`); return `${name} ${info.mode.toString(8)} ${info.uid}:${info.gid}`; });
    const before = modes();
    const change = `for d in ${devices.join(' ')}; do chmod 0600 /dev/$d; chown 1:1 /dev/$d; done 2>/dev/null; echo x > /dev/null && head -c 3 /dev/zero | wc -c`;
    let results: Array<readonly [string, Result]>;
    let after: string[] = [];
    try {
      results = [
        ['run', tsbuild(['run', '--rm', 'busybox', 'sh', '-c', change])],
        ['build', tsbuild(['build', '--progress', 'plain', '--no-cache', context('devices', `FROM busybox\nRUN ${change}\n`)])],
        ['rootless run', rootless(['run', '--rm', 'busybox', 'sh', '-c', change])],
      ];
    } finally {
      after = modes();
      // A runtime that let them through changed the host's nodes: put them back before failing.
      for (const line of before) {
        const [name, mode, owner] = line.split(' ');
        spawnSync('chown', [owner ?? '0:0', `/dev/${name}`]);
        spawnSync('chmod', [(Number.parseInt(mode ?? '0', 8) & 0o7777).toString(8), `/dev/${name}`]);
      }
    }
    expect(after).toEqual(before);
    for (const [what, result] of results) expect(result.status, `${what}: ${result.stderr}`).toBe(0);
    expect(results[0]?.[1].stdout.trim()).toBe('3');
  }, 120_000);

  it('makes every mount at /sys and below read-only, the rootless /sys bound from the host with its cgroups included (runc CVE-2023-25809)', () => {
    // Every mount at /sys or below (those hidden under others too) by its own options, but the
    // container's own tmpfs that holds the v1 cgroup hierarchies, writable as runc and crun
    // leave it: the last tmpfs mounted at /sys/fs/cgroup (a rootless /sys brings the host's
    // below it).
    const sysCheck = `awk 'function later(i,  j) { for (j = i + 1; j <= n; j++) if (line[j] ~ /^\\/sys\\/fs\\/cgroup /) return 1; return 0 } $5 ~ "^/sys" { n++; line[n] = $5 " " $6; fs[n] = $0 } END { for (i = 1; i <= n; i++) { split(line[i], f, " "); if (f[1] == "/sys/fs/cgroup" && fs[i] ~ / - tmpfs / && !later(i)) continue; if (f[2] !~ /(^|,)ro(,|$)/) { print "writable:", line[i]; bad = 1 } } if (n < 2) print "no mounts at /sys"; exit bad || n < 2 }' /proc/self/mountinfo && ! mkdir /sys/fs/cgroup/cpu/written 2>/dev/null`;
    for (const [what, result] of [
      ['run', tsbuild(['run', '--rm', 'busybox', 'sh', '-c', sysCheck])],
      ['rootless run', rootless(['run', '--rm', 'busybox', 'sh', '-c', sysCheck])],
      ['rootless run on the network none', rootless(['run', '--rm', '--network', 'none', 'busybox', 'sh', '-c', sysCheck])],
      ['build', tsbuild(['build', '--progress', 'plain', '--no-cache', context('sys', `FROM busybox\nRUN ${sysCheck}\n`)])],
      ['rootless build', rootless(['build', '--progress', 'plain', '--no-cache', join(dir, 'sys')])],
    ] as const) {
      expect(result.stdout, what).toBe('');
      expect(result.status, `${what}: ${result.stderr}`).toBe(0);
    }
  }, 180_000);

  it('mounts nothing into /proc through a link the image holds: a VOLUME, a -v, a --tmpfs, a RUN cache mount (runc CVE-2019-16884, CVE-2023-27561, CVE-2023-28642)', () => {
    const links = 'RUN ln -s /proc/self /attr-link && ln -s /proc /proc-link';
    ok(tsbuild(['build', '-q', '-t', 'proc-volume', context('proc-volume', `FROM busybox\n${links}\nVOLUME /attr-link/attr\n`)]), 'build proc-volume');
    ok(tsbuild(['build', '-q', '-t', 'proc-links', context('proc-links', `FROM busybox\n${links}\n`)]), 'build proc-links');
    for (const [what, result] of [
      ['VOLUME', tsbuild(['run', '--rm', 'proc-volume', 'true'])],
      ['-v', tsbuild(['run', '--rm', '-v', 'attr:/attr-link/attr', 'proc-links', 'true'])],
      ['-v file', tsbuild(['run', '--rm', '-v', `${join(dir, 'leaked')}:/proc-link/cmdline`, 'proc-links', 'true'])],
      ['--tmpfs', tsbuild(['run', '--rm', '--tmpfs', '/proc-link/sys', 'proc-links', 'true'])],
      ['--mount', tsbuild(['run', '--rm', '--mount', 'type=volume,source=attr,target=/proc-link/sys/kernel', 'proc-links', 'true'])],
      ['rootless VOLUME', (() => {
        ok(rootless(['build', '-q', '-t', 'proc-volume', join(dir, 'proc-volume')]), 'rootless build');
        return rootless(['run', '--rm', 'proc-volume', 'true']);
      })()],
    ] as const) {
      expect(result.status, what).not.toBe(0);
      expect(result.stderr, what).toContain('the destination is inside /proc');
    }
    const build = tsbuild(['build', '--progress', 'plain', '--no-cache', context('proc-cache', `FROM proc-links\nRUN --mount=type=cache,target=/attr-link/attr true\n`)]);
    expect(build.status).not.toBe(0);
    expect(build.stderr).toContain('the destination is inside /proc');
  }, 180_000);

  it("keeps every set-user-ID file of the store, and the store itself, out of other users' reach: containers, volumes, a running step, a cache mount (moby CVE-2021-41091)", async () => {
    const planted = 'cp /bin/busybox /planted-suid && chmod 4755 /planted-suid';
    ok(tsbuild(['build', '-q', '-t', 'suid', context('suid', `FROM busybox\nRUN ${planted} && mkdir /data && cp -p /planted-suid /data/\nVOLUME /data\n`)]), 'build suid');
    ok(tsbuild(['run', '-d', '--name', 'suid', '-v', 'suid-volume:/data', 'suid', 'sh', '-c', `cp -p /planted-suid /data/again && ${planted.replaceAll('/planted-suid', '/upper-suid')} && sleep 300`]), 'run suid');
    // A step that holds its files while the store is looked at.
    const step = context('suid-step', `FROM busybox\nRUN --mount=type=cache,target=/cache ${planted} && cp -p /planted-suid /cache/ && touch /cache/ready && sleep 8\n`);
    const building = spawn(process.execPath, [bin, 'build', '--no-cache', '-q', step], { env: { ...process.env, TSBUILD_ROOT: root }, stdio: 'ignore' });
    const exited = new Promise((resolve) => building.on('exit', resolve));
    try {
      let found: string[] = [];
      for (let attempt = 0; attempt < 60 && !(found.some((path) => path.includes('/tmp/')) && found.some((path) => path.includes('/cache-mounts/'))); attempt++) {
        await sleep(200);
        found = spawnSync('find', [root, '-xdev', '-type', 'f', '-perm', '-4000'], { encoding: 'utf8' }).stdout.split('\n').filter((line) => line !== '');
      }
      // Each place the store keeps them: unpacked layers, a container's upper directory, a
      // volume, the running step's directories and its cache mount.
      for (const part of ['/layers/', '/containers/', '/volumes/', '/tmp/', '/cache-mounts/']) expect(found.some((path) => path.includes(part)), part).toBe(true);
      const asOther = (...command: string[]): number | null => spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', ...command]).status;
      for (const path of found) expect([path, asOther('test', '-e', path)]).toEqual([path, 1]);
      // Nor any of the store (every image's blobs, private ones pulled with credentials included):
      // a root tsbuild made is its owner's only.
      expect(asOther('test', '-r', join(root, 'index.json'))).toBe(1);
      expect(asOther('ls', join(root, 'blobs', 'sha256'))).not.toBe(0);
    } finally {
      await exited;
    }
  }, 180_000);

  it('leaves no process listening on an abstract unix socket, which a container on the host network would reach, nor on one in a directory others write (containerd CVE-2020-15257 class)', () => {
    ok(tsbuild(['network', 'create', 'sockets-net']), 'network create');
    tsbuild(['rm', '-f', 'sockets']);
    ok(tsbuild(['run', '-d', '--name', 'sockets', '--network', 'sockets-net', '-p', '127.0.0.1::80', 'busybox', 'sleep', '300']), 'run on a network');
    ok(rootless(['run', '-d', '--name', 'sockets', '-p', '127.0.0.1::80', 'busybox', 'sleep', '300']), 'rootless run');
    // A user network's namespace, whose holder puts its socket under $XDG_RUNTIME_DIR where there is one.
    ok(rootless(['network', 'create', 'sockets-net']), 'rootless network create');
    ok(rootless(['run', '-d', '--name', 'sockets-user', '--network', 'sockets-net', '-p', '127.0.0.1::80', 'busybox', 'sleep', '300'], 'unset XDG_RUNTIME_DIR;'), 'rootless run on a user network');
    const ours = (pid: string): boolean => {
      try {
        const environ = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
        return environ.includes(`TSBUILD_ROOT=${root}`) || environ.includes(`TSBUILD_ROOT=${rootlessRoot}`);
      } catch {
        return false;
      }
    };
    const processes = readdirSync('/proc').filter((name) => /^\d+$/.test(name) && name !== String(process.pid) && ours(name));
    // Monitors of the containers, the networks' responders, the rootless holder, slirp4netns.
    expect(processes.length).toBeGreaterThanOrEqual(5);
    const abstract: string[] = [];
    const shared: string[] = [];
    for (const pid of processes) {
      let sockets: Set<string>;
      try {
        sockets = new Set(readdirSync(`/proc/${pid}/fd`).map((fd) => { try { return /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1] ?? ''; } catch { return ''; } }));
      } catch {
        continue;
      }
      // Num RefCount Protocol Flags Type St Inode Path: a listening socket has __SO_ACCEPTCON (00010000) or is a datagram one.
      for (const line of readFileSync(`/proc/${pid}/net/unix`, 'utf8').split('\n').slice(1)) {
        const fields = line.trim().split(/\s+/);
        const [inode, path] = [fields[6], fields[7]];
        if (inode === undefined || !sockets.has(inode) || path === undefined) continue;
        if (path.startsWith('@')) {
          abstract.push(`${pid}: ${path}`);
          continue;
        }
        // A path-based one in a directory others write (the system's /tmp) could be taken
        // first under its name by another user, or reached by anyone the umask lets.
        // One bound through a descriptor of its directory (/proc/self/fd/N/attach.sock) is
        // looked at through the process's descriptor, while it holds that directory.
        const directory = statSync(dirname(path.replace(/^\/proc\/self\//, `/proc/${pid}/`)), { throwIfNoEntry: false });
        if (directory?.isDirectory() === true && (directory.mode & 0o002) !== 0) shared.push(`${pid}: ${path}`);
      }
    }
    expect(abstract).toEqual([]);
    expect(shared).toEqual([]);
  }, 120_000);
});
