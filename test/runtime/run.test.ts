/**
 * `tsbuild run --rm` end to end, as root: the installed command in its own process (streams,
 * terminals and signals are the process's), against a store holding the busybox base image and
 * an image with its own Entrypoint, Cmd, Env, WorkingDir and users. After every test no
 * container directory and no mount under the store is left.
 */
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hostPlatform } from '../../src/common/index.js';
import { writeImage, writeLayer, type LayerEntry } from '../../src/exporter/index.js';
import { openStore, resolveImage, type Store } from '../../src/store/index.js';
import { busyboxImage } from '../helpers/busybox-image.js';
import { runCliCaptured } from '../helpers/run-cli.js';
import { freePort, haveRegistry, startRegistry } from '../helpers/registry.js';
import { asRootless, buildBinaries, chownTree, ensureRootlessUser, isRoot, mountsUnder, scratchDir, shimBinary, toolExists } from './helpers.js';

const bin = new URL('../../bin/tsbuild.js', import.meta.url).pathname;

let dir: string;
let root: string;
let store: Store;

interface Run {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

function tsbuild(args: readonly string[], options: { input?: string; env?: Record<string, string | undefined> } = {}): Run {
  const result: SpawnSyncReturns<string> = spawnSync(process.execPath, [bin, ...args], {
    encoding: 'utf8',
    input: options.input ?? '',
    env: { ...process.env, TSBUILD_ROOT: root, ...options.env },
    timeout: 60_000,
  });
  return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

const run = (...args: string[]): Run => tsbuild(['run', '--rm', ...args]);

async function containersLeft(): Promise<string[]> {
  return readdir(join(root, 'containers')).catch(() => []);
}

function text(path: string, content: string): LayerEntry {
  const bytes = Buffer.from(content);
  return { path, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: bytes.length, content: () => bytes };
}

/** An image over busybox's layer: users of its own, and the config given. */
async function imageWith(name: string, config: Parameters<typeof writeImage>[1]['config']): Promise<void> {
  const base = await resolveImage(store, (await store.resolveReference('docker.io/library/busybox:latest')) ?? expect.fail('no busybox'));
  const users = await writeLayer(
    [
      { path: 'etc', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0 },
      text('etc/group', 'root:x:0:\napp:x:1000:\nstaff:x:50:app\nnogroup:x:65534:\n'),
      text('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n'),
    ],
    store,
  );
  const layers = [{ descriptor: base.manifest.layers[0] ?? expect.fail('no layer'), diffId: base.config.rootfs.diff_ids[0] ?? expect.fail('no diff id') }, users];
  await writeImage(store, { layers, platform: hostPlatform(), config }, name);
}

beforeAll(async () => {
  buildBinaries();
  dir = scratchDir('tsbuild-run-');
  root = join(dir, 'root');
  store = await openStore({ root });
  await busyboxImage(store);
  await imageWith('docker.io/library/entry:latest', { Entrypoint: ['echo', 'ep'], Cmd: ['from-cmd'] });
  await imageWith('docker.io/library/cmdonly:latest', { Cmd: ['echo', 'cmd'], Env: ['FOO=image', 'BAR=image'], WorkingDir: '/srv/app', User: 'app' });
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

afterEach(async () => {
  expect(await mountsUnder(root)).toEqual([]);
  expect(await containersLeft()).toEqual([]);
});

describe.runIf(isRoot)('tsbuild run --rm', () => {
  it('prints what the command prints and exits with its status', () => {
    expect(run('busybox', 'echo', 'hello', 'world')).toMatchObject({ status: 0, stdout: 'hello world\n' });
    expect(run('busybox', 'sh', '-c', 'echo out; echo err >&2; exit 3')).toMatchObject({ status: 3, stdout: 'out\n', stderr: 'err\n' });
    // The container's own arguments are its own, options included.
    expect(run('busybox', 'ls', '-d', '/etc')).toMatchObject({ status: 0, stdout: '/etc\n' });
    // Without --rm the container outlives its run (containers.test.ts): removed here.
    const kept = tsbuild(['run', '--name', 'kept', 'busybox', 'echo', 'kept']);
    expect(kept).toMatchObject({ status: 0, stdout: 'kept\n' });
    expect(tsbuild(['rm', 'kept'])).toMatchObject({ status: 0, stdout: 'kept\n' });
  });

  it('runs in process with the output copied to the given streams', async () => {
    const result = await runCliCaptured(['run', '--rm', '--root', root, 'busybox', 'sh', '-c', 'echo captured; exit 4']);
    expect(result).toMatchObject({ status: 4, stdout: 'captured\n' });
  });

  it('exits 127 for a command not found and 126 for one that cannot be executed, as docker', () => {
    const missing = run('busybox', 'nosuch');
    expect(missing.status).toBe(127);
    expect(missing.stderr).toMatch(/^tsbuild: Error response from daemon: run container [0-9a-f]{64}: execve nosuch: No such file or directory/m);
    // The runtime's JSON line becomes the error; it is not shown as well.
    expect(missing.stderr).not.toContain('{"error"');
    expect(run('busybox', '/etc').status).toBe(126);
  });

  it('applies Entrypoint and Cmd as docker does', () => {
    expect(run('entry').stdout).toBe('ep from-cmd\n');
    expect(run('entry', 'a', 'b').stdout).toBe('ep a b\n');
    // --entrypoint drops the image's Cmd; arguments still follow it.
    expect(run('--entrypoint', 'echo', 'entry').stdout).toBe('\n');
    expect(run('--entrypoint', 'echo', 'entry', 'x').stdout).toBe('x\n');
    expect(run('--entrypoint', '', 'entry', 'echo', 'y').stdout).toBe('y\n');
    expect(run('cmdonly').stdout).toBe('cmd\n');
    expect(run('cmdonly', 'echo', 'replaced').stdout).toBe('replaced\n');
    const nothing = run('--entrypoint', '', 'cmdonly');
    expect(nothing.status).toBe(125);
    expect(nothing.stderr).toContain('no command specified');
  });

  it("applies the image's Env, WorkingDir and User, and what -e, --env-file, -w and -u say", async () => {
    const env = run('cmdonly', 'env');
    const lines = env.stdout.trim().split('\n');
    // PATH by default (the image has none), HOSTNAME, then the image's; HOME from passwd.
    expect(lines[0]).toBe('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
    expect(lines[1]).toMatch(/^HOSTNAME=[0-9a-f]{12}$/);
    expect(lines).toEqual(expect.arrayContaining(['FOO=image', 'BAR=image', 'HOME=/home/app']));
    // The image's working directory did not exist: it is made, as docker does.
    expect(run('cmdonly', 'pwd').stdout).toBe('/srv/app\n');
    // As docker: the primary group and the groups listing the user are its additional ones (the kernel sorts them).
    expect(run('cmdonly', 'id').stdout).toBe('uid=1000(app) gid=1000(app) groups=50(staff),1000(app)\n');

    const envFile = join(dir, 'env.list');
    await writeFile(envFile, '# a comment\n\nFILE=1\n  SPACED=a b \nFROM_HOST\nFOO=file\n');
    const set = tsbuild(['run', '--rm', '--env-file', envFile, '-e', 'FOO=flag', '-e', 'FROM_HOST2', '-e', 'BAR', 'cmdonly', 'env'], {
      env: { FROM_HOST: 'host value', FROM_HOST2: 'second', BAR: undefined },
    });
    const vars = set.stdout.trim().split('\n');
    expect(vars).toEqual(expect.arrayContaining(['FILE=1', 'SPACED=a b ', 'FROM_HOST=host value', 'FROM_HOST2=second', 'FOO=flag']));
    // -e BAR with BAR unset here removes the image's BAR.
    expect(vars.some((line) => line.startsWith('BAR='))).toBe(false);
    expect(vars.filter((line) => line.startsWith('FOO='))).toEqual(['FOO=flag']);

    expect(run('-w', '/tmp/a/b', 'busybox', 'sh', '-c', 'pwd; stat -c %U:%a .').stdout).toBe('/tmp/a/b\nroot:755\n');
    expect(run('-w', 'relative', 'busybox', 'pwd')).toMatchObject({ status: 125, stderr: expect.stringContaining("the working directory 'relative' is invalid, it needs to be an absolute path") });
    expect(run('-u', 'nobody', 'busybox', 'id').stdout).toBe('uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n');
    expect(run('-u', '1234:4321', 'busybox', 'id').stdout).toBe('uid=1234 gid=4321 groups=4321\n');
    expect(run('-u', 'app:staff', 'cmdonly', 'id').stdout).toBe('uid=1000(app) gid=50(staff) groups=50(staff)\n');
    expect(run('-u', 'root', 'cmdonly', 'id').stdout).toBe('uid=0(root) gid=0(root) groups=0(root)\n');
    expect(run('-e', '=x', 'busybox', 'true')).toMatchObject({ status: 125, stderr: expect.stringContaining('invalid environment variable: =x') });
    const unknown = run('-u', 'nosuch', 'busybox', 'id');
    expect(unknown.status).toBe(125);
    expect(unknown.stderr).toContain('unable to find user nosuch: no matching entries in passwd file');
  });

  it('names the host after the container id and binds /etc/hostname, /etc/hosts and /etc/resolv.conf', async () => {
    const result = run('busybox', 'sh', '-c', 'hostname; cat /etc/hostname; grep -c localhost /etc/hosts; cat /etc/resolv.conf');
    const [hostname, file, localhost, ...resolv] = result.stdout.split('\n');
    expect(hostname).toMatch(/^[0-9a-f]{12}$/);
    expect(file).toBe(hostname);
    expect(Number(localhost)).toBeGreaterThan(0);
    expect(resolv.join('\n')).toBe(await readFile('/etc/resolv.conf', 'utf8').catch(() => ''));
  });

  it('gives the container its stdin with -i only', () => {
    expect(tsbuild(['run', '--rm', '-i', 'busybox', 'sh', '-c', 'cat; echo done'], { input: 'line one\nline two\n' }).stdout).toBe('line one\nline two\ndone\n');
    // A megabyte in and out again, whole.
    const big = `${'0123456789abcdef'.repeat(64 * 1024)}\n`;
    const echoed = tsbuild(['run', '--rm', '-i', 'busybox', 'cat'], { input: big });
    expect(echoed.stdout.length).toBe(big.length);
    expect(echoed.stdout === big).toBe(true);
    // Without -i the container's stdin is empty, as docker's is.
    expect(tsbuild(['run', '--rm', 'busybox', 'sh', '-c', 'cat; echo done'], { input: 'ignored\n' }).stdout).toBe('done\n');
  });

  it.runIf(toolExists('script'))('gives the container a terminal with -t', () => {
    const command = `stty rows 30 cols 100; printf 'echo typed\\nexit 6\\n' | ${process.execPath} ${bin} run --rm -t busybox sh -c 'test -t 0 && test -t 1 && echo tty:$TERM; stty size; exit 5'`;
    const result = spawnSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8', env: { ...process.env, TSBUILD_ROOT: root }, timeout: 60_000 });
    expect(result.status).toBe(5);
    // A terminal's line endings (the outer terminal, not raw without -i, adds its own \r), and
    // the size of the terminal tsbuild runs in.
    expect(result.stdout).toMatch(/tty:xterm\r+\n30 100\r+\n/);
  });

  it.runIf(toolExists('script'))('passes what is typed to the container with -it', async () => {
    // Typed into the terminal script makes, once the shell has started; the shell's status is tsbuild's.
    const child = spawn('script', ['-qec', `${process.execPath} ${bin} run --rm -it busybox sh`, '/dev/null'], { env: { ...process.env, TSBUILD_ROOT: root }, stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    while (!out.includes('# ')) await sleep(50);
    child.stdin.write('echo typed-$((1+2))\r');
    while (!out.includes('typed-3\r')) await sleep(50);
    child.stdin.write('exit 6\r');
    expect(await new Promise((resolve) => child.on('exit', resolve))).toBe(6);
    // The terminal is raw as docker makes it: the container's line endings pass unchanged.
    expect(out).toContain('typed-3\r\n');
    expect(out).not.toContain('\r\r\n');
  }, 60_000);

  it('forwards signals to the container and exits with its status', async () => {
    const stopped = async (args: string[], signal: NodeJS.Signals): Promise<number | null> => {
      const child = spawn(process.execPath, [bin, 'run', '--rm', ...args], { env: { ...process.env, TSBUILD_ROOT: root }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      // Signalled once the container's command runs.
      while (!out.includes('ready')) await sleep(50);
      child.kill(signal);
      return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
    };
    // A command that is PID 1 ignores SIGTERM unless it handles it; under --init sleep is not PID 1.
    expect(await stopped(['--init', 'busybox', 'sh', '-c', 'echo ready; exec sleep 100'], 'SIGTERM')).toBe(143);
    expect(await stopped(['busybox', 'sh', '-c', 'trap "exit 7" TERM; echo ready; while :; do sleep 0.1; done'], 'SIGTERM')).toBe(7);
    for (const [signal, status] of [['SIGINT', 8], ['SIGHUP', 9], ['SIGQUIT', 10], ['SIGUSR1', 11], ['SIGUSR2', 12]] as const) {
      const name = signal.slice(3);
      expect(await stopped(['busybox', 'sh', '-c', `trap "exit ${status}" ${name}; echo ready; while :; do sleep 0.1; done`], signal)).toBe(status);
    }
  }, 60_000);

  it('leaves the container alone with --sig-proxy=false: a signal ends tsbuild only, the container goes on under its monitor, as under docker\'s daemon', async () => {
    const script = 'trap "echo got-term" TERM; echo ready; i=0; while [ $i -lt 15 ]; do sleep 0.1; i=$((i+1)); done; echo done; exit 5';
    const started = (args: string[]): { child: ReturnType<typeof spawn>; ready: Promise<void> } => {
      const child = spawn(process.execPath, [bin, 'run', ...args, 'busybox', 'sh', '-c', script], { env: { ...process.env, TSBUILD_ROOT: root }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
      return { child, ready: (async () => { while (!out.includes('ready')) await sleep(50); })() };
    };
    const { child, ready } = started(['--sig-proxy=false', '--name', 'unproxied']);
    await ready;
    child.kill('SIGTERM');
    expect(await new Promise((resolve) => child.on('exit', (_code, signal) => resolve(signal)))).toBe('SIGTERM');
    expect(tsbuild(['inspect', '--format', '{{.State.Status}}', 'unproxied']).stdout).toBe('running\n');
    expect(tsbuild(['wait', 'unproxied']).stdout).toBe('5\n');
    expect(tsbuild(['logs', 'unproxied']).stdout).toBe('ready\ndone\n');
    expect(tsbuild(['rm', 'unproxied']).status).toBe(0);
    // With --rm too (which the quick path would have taken): removed once it ended.
    const removed = started(['--rm', '--sig-proxy=false']);
    await removed.ready;
    removed.child.kill('SIGTERM');
    await new Promise((resolve) => removed.child.on('exit', resolve));
    expect(tsbuild(['ps', '-q']).stdout).not.toBe('');
    for (let waited = 0; tsbuild(['ps', '-aq']).stdout !== '' && waited < 10_000; waited += 100) await sleep(100);
    expect(tsbuild(['ps', '-aq']).stdout).toBe('');
    expect(tsbuild(['run', '--rm', '--sig-proxy=maybe', 'busybox', 'true'])).toMatchObject({ status: 125, stderr: expect.stringContaining('invalid argument "maybe" for "--sig-proxy" flag') });
  }, 60_000);

  it('leaves the container running, monitored, when tsbuild is killed (SIGKILL), as docker\'s container outlives its CLI', async () => {
    const child = spawn(process.execPath, [bin, 'run', '--name', 'orphan', 'busybox', 'sh', '-c', 'echo ready; sleep 3; echo done; exit 3'], { env: { ...process.env, TSBUILD_ROOT: root }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    while (!out.includes('ready')) await sleep(50);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.on('exit', resolve));
    expect(tsbuild(['ps', '--format', '{{.Names}} {{.State}}']).stdout).toBe('orphan running\n');
    // Its monitor keeps its output and its status.
    expect(tsbuild(['wait', 'orphan']).stdout).toBe('3\n');
    expect(tsbuild(['logs', 'orphan']).stdout).toBe('ready\ndone\n');
    expect(tsbuild(['inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', 'orphan']).stdout).toBe('exited 3\n');
    expect(tsbuild(['rm', 'orphan']).status).toBe(0);
  }, 60_000);

  it('ends the container of a plain run --rm (no monitor of its own) when tsbuild is killed (SIGKILL), rather than leave it unwatched', async () => {
    const marker = String(4000 + Math.floor(Math.random() * 999));
    const child = spawn(process.execPath, [bin, 'run', '--rm', 'busybox', 'sh', '-c', `echo ready; exec sleep ${marker}`], { env: { ...process.env, TSBUILD_ROOT: root }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    while (!out.includes('ready')) await sleep(50);
    const running = (): boolean => spawnSync('pgrep', ['-f', `^sleep ${marker}$`]).status === 0;
    expect(running()).toBe(true);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.on('exit', resolve));
    for (let waited = 0; running() && waited < 5000; waited += 50) await sleep(50);
    expect(running()).toBe(false);
    // What it left is the next run's to remove (afterEach finds nothing).
    expect(tsbuild(['run', '--rm', 'busybox', 'true']).status).toBe(0);
  }, 60_000);

  it.runIf(toolExists('script'))('detaches from run -it with the detach keys (ctrl-p,ctrl-q or --detach-keys), silently, the container running on; refuses keys docker refuses', () => {
    const session = (args: string, input: string): string => {
      const command = `TSBUILD_ROOT=${root} ${process.execPath} ${bin} run -it ${args} busybox sh; echo run-exit=$?`;
      return spawnSync('sh', ['-c', `(${input}) | script -qfec '${command}' /dev/null`], { encoding: 'utf8', timeout: 30_000 }).stdout.replace(/\r/g, '');
    };
    const first = session('--name detached1', `sleep 1.5; printf 'echo in-$((6*7))\\r'; sleep 0.5; printf '\\020\\021'; sleep 1`);
    expect(first).toContain('in-42\n');
    expect(first).toMatch(/# (\x1b\[6n)?run-exit=0\n$/);
    expect(tsbuild(['inspect', '--format', '{{.State.Status}}', 'detached1']).stdout).toBe('running\n');
    // Other keys: ctrl-p,ctrl-q goes to the shell then, and ctrl-x detaches.
    const second = session('--rm --name detached2 --detach-keys=ctrl-x', `sleep 1.5; printf '\\020\\021echo two\\r'; sleep 0.5; printf '\\030'; sleep 1`);
    expect(second).toContain('two\n');
    expect(second).toContain('run-exit=0');
    expect(tsbuild(['inspect', '--format', '{{.State.Status}}', 'detached2']).stdout).toBe('running\n');
    expect(tsbuild(['rm', '-f', 'detached1', 'detached2']).status).toBe(0);
    const before = tsbuild(['ps', '-aq']).stdout;
    expect(tsbuild(['run', '--rm', '-i', '--detach-keys', 'ctrl-pp', 'busybox', 'true'])).toMatchObject({ status: 1, stderr: 'Invalid detach keys (ctrl-pp) provided\n' });
    expect(tsbuild(['ps', '-aq']).stdout).toBe(before);
  }, 60_000);

  it('gives --network none loopback only, and --network host the host\'s name', () => {
    const devices = run('--network', 'none', 'busybox', 'cat', '/proc/net/dev')
      .stdout.split('\n')
      .slice(2)
      .filter((line) => line.trim() !== '')
      .map((line) => line.split(':')[0]?.trim());
    expect(devices).toEqual(['lo']);
    // The host's network is the host's name too, as docker gives it.
    expect(run('--network', 'host', 'busybox', 'hostname').stdout).toBe(`${hostname()}\n`);
    expect(run('--network', 'bogus', 'busybox', 'true')).toMatchObject({ status: 125, stderr: expect.stringContaining('network bogus not found') });
  });

  it.runIf(toolExists('crun'))('removes what a killed run left behind on the next run, once its runtime is gone', async () => {
    // The container waits for a file the test writes through its root, so it outlives tsbuild:
    // through crun, which does not die with its caller as the shim's containers do (the test below).
    const child = spawn(process.execPath, [bin, 'run', '--rm', '--runtime', 'crun', 'busybox', 'sh', '-c', 'echo ready; while [ ! -e /go ]; do sleep 0.1; done'], {
      env: { ...process.env, TSBUILD_ROOT: root },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    while (!out.includes('ready')) await sleep(50);
    // Killed once its record says it runs (the container may print before tsbuild records that):
    // a run killed earlier leaves a record of a container that never ran, removed at once.
    const running = async (): Promise<boolean> => {
      for (const id of await containersLeft()) {
        const record = await readFile(join(root, 'containers', id, 'container.json'), 'utf8').catch(() => '{}');
        if ((JSON.parse(record) as { state?: { status?: string } }).state?.status === 'running') return true;
      }
      return false;
    };
    for (let waited = 0; waited < 10_000 && !(await running()); waited += 20) await sleep(20);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.on('exit', resolve));
    const [left] = await containersLeft();
    expect(left).toMatch(/^[0-9a-f]{64}$/);
    // Its root's overlay (its network namespace's mount is under networks/).
    expect((await mountsUnder(root)).filter((point) => point.startsWith(join(root, 'containers')))).toHaveLength(1);
    // Its runtime still runs the container: the next run leaves it alone.
    expect(run('busybox', 'true').status).toBe(0);
    expect(await containersLeft()).toEqual([left]);
    await writeFile(join(root, 'containers', left ?? '', 'rootfs', 'go'), '');
    // Once it ended, the next run removes it.
    for (let attempt = 0; attempt < 50 && (await containersLeft()).length > 0; attempt++) {
      await sleep(100);
      expect(run('busybox', 'true').status).toBe(0);
    }
  }, 60_000);

  it('fails with the reference named and nothing left when the image is nowhere', async () => {
    const port = await freePort();
    const result = run(`127.0.0.1:${port}/nosuch:1`, 'true');
    expect(result.status).toBe(125);
    expect(result.stderr).toContain(`Unable to find image '127.0.0.1:${port}/nosuch:1' locally`);
    // Then the pull's own error, as docker's: the registry that could not be reached.
    expect(result.stderr).toMatch(new RegExp(`\\ntsbuild: Error response from daemon: .*127\\.0\\.0\\.1:${port}`));
  });

  it.runIf(toolExists('crun'))('runs through crun with --runtime crun', () => {
    expect(run('--runtime', 'crun', 'busybox', 'sh', '-c', 'echo via crun; exit 3')).toMatchObject({ status: 3, stdout: 'via crun\n' });
    expect(run('--runtime', 'crun', 'busybox', 'nosuch').status).toBe(127);
    const terminal = spawnSync('script', ['-qec', `stty rows 20 cols 90; ${process.execPath} ${bin} run --rm -t --runtime crun busybox sh -c 'stty size; exit 9'`, '/dev/null'], {
      encoding: 'utf8',
      env: { ...process.env, TSBUILD_ROOT: root },
      timeout: 60_000,
    });
    expect(terminal.status).toBe(9);
    expect(terminal.stdout).toMatch(/20 90\r+\n/);
    expect(run('--runtime', 'crun', '-u', 'app', 'cmdonly', 'id').stdout).toBe('uid=1000(app) gid=1000(app) groups=50(staff),1000(app)\n');
  });

  it('runs through a runtime given as a path, with limits (the container record keeps the path whole)', async () => {
    const wrapper = join(dir, 'wrapped-runtime.sh');
    await writeFile(wrapper, `#!/bin/sh\necho wrapper-used >&2\nexec ${shimBinary} "$@"\n`, { mode: 0o755 });
    // Limits and a name keep a record, which the container's monitor starts the runtime from.
    const result = run('--runtime', wrapper, '--memory', '64m', '--pids-limit', '50', 'busybox', 'echo', 'through the wrapper');
    expect(result).toMatchObject({ status: 0, stdout: 'through the wrapper\n' });
    expect(result.stderr).toContain('wrapper-used');
  });

  it('says why a run --rm with limits could not start its runtime, and exits 125', () => {
    const result = run('--runtime', join(dir, 'no-such-runtime'), '--memory', '64m', 'busybox', 'true');
    expect(result.status).toBe(125);
    expect(result.stderr).toContain(`tsbuild: Error response from daemon: run container `);
    expect(result.stderr).toContain(`spawn ${join(dir, 'no-such-runtime')} ENOENT`);
  });
});

describe.runIf(isRoot && toolExists('runc'))('tsbuild run --rm --runtime runc', () => {
  it('runs through runc, a terminal included (runc copies it itself in the foreground)', () => {
    expect(run('--runtime', 'runc', 'busybox', 'sh', '-c', 'echo via runc; exit 3')).toMatchObject({ status: 3, stdout: 'via runc\n' });
    expect(run('--runtime', 'runc', 'busybox', 'nosuch').status).toBe(127);
    const terminal = spawnSync('script', ['-qec', `stty rows 20 cols 90; ${process.execPath} ${bin} run --rm -t --runtime runc busybox sh -c 'stty size; exit 9'`, '/dev/null'], {
      encoding: 'utf8',
      env: { ...process.env, TSBUILD_ROOT: root },
      timeout: 60_000,
    });
    expect(terminal.status).toBe(9);
    expect(terminal.stdout).toMatch(/20 90\r+\n/);
  });
});

describe.runIf(isRoot && toolExists('newuidmap'))('tsbuild run --rm as an unprivileged user', () => {
  let user: ReturnType<typeof ensureRootlessUser>;
  let userRoot: string;

  beforeAll(async () => {
    user = ensureRootlessUser();
    userRoot = join(dir, 'rootless');
    await busyboxImage(await openStore({ root: userRoot }));
    chownTree(userRoot, user);
  }, 60_000);

  const runAs = (...args: string[]): Run => {
    const result = spawnSync(asRootless(user)[0] ?? 'setpriv', [...asRootless(user).slice(1), `TSBUILD_ROOT=${userRoot}`, process.execPath, bin, 'run', '--rm', ...args], { encoding: 'utf8', timeout: 60_000 });
    return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
  };

  it('runs the container in a user namespace, its overlay mounted by the runtime inside it', async () => {
    expect(runAs('busybox', 'sh', '-c', 'id; echo written > /etc/new; cat /etc/new')).toMatchObject({ status: 0, stdout: 'uid=0(root) gid=0(root) groups=0(root)\nwritten\n' });
    // Files made by another user of the container, in a directory of theirs, are removed too.
    expect(runAs('-u', 'nobody', '-w', '/srv/work', 'busybox', 'sh', '-c', 'id; pwd; mkdir /tmp/theirs; touch /tmp/theirs/file; exit 3')).toMatchObject({
      status: 3,
      stdout: 'uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n/srv/work\n',
    });
    expect(runAs('busybox', 'nosuch').status).toBe(127);
    expect(runAs('--runtime', 'crun', 'busybox', 'true')).toMatchObject({ status: 125, stderr: expect.stringContaining('default runtime') });
    expect(await readdir(join(userRoot, 'containers'))).toEqual([]);
    // The image's layers were not written.
    expect(runAs('busybox', 'cat', '/etc/new').status).toBe(1);
  });
  it('leaves the container alone with --sig-proxy=false: a signal ends tsbuild, the container goes on', async () => {
    const [command = 'setpriv', ...rest] = asRootless(user);
    const child = spawn(command, [...rest, `TSBUILD_ROOT=${userRoot}`, process.execPath, bin, 'run', '--sig-proxy=false', '--name', 'unproxied', 'busybox', 'sh', '-c', 'trap "echo got-term" TERM; echo ready; sleep 1; echo done'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    while (!out.includes('ready')) await sleep(50);
    // setpriv and env exec: the signal reaches tsbuild, which passes it on to its process in the user namespace.
    child.kill('SIGTERM');
    expect(await new Promise((resolve) => child.on('exit', (code) => resolve(code)))).toBe(143);
    const userCli = (...args: string[]): Run => {
      const result = spawnSync(command, [...rest, `TSBUILD_ROOT=${userRoot}`, process.execPath, bin, ...args], { encoding: 'utf8', timeout: 60_000 });
      return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
    };
    expect(userCli('wait', 'unproxied').stdout).toBe('0\n');
    expect(userCli('logs', 'unproxied').stdout).toBe('ready\ndone\n');
    expect(userCli('rm', 'unproxied').status).toBe(0);
  }, 60_000);
});

describe.runIf(isRoot && haveRegistry())('tsbuild run of an image not in the store', () => {
  it('pulls it first, as docker run does', async () => {
    const registry = await startRegistry();
    try {
      const target = `${registry.host}/tools/busybox:1`;
      expect(tsbuild(['push', 'busybox', target]).status).toBe(0);
      const fresh = join(dir, 'fresh');
      await mkdir(fresh);
      const result = tsbuild(['run', '--rm', '--root', fresh, target, 'echo', 'pulled']);
      expect(result.status).toBe(0);
      expect(result.stdout).toBe('pulled\n');
      expect(result.stderr).toContain(`Unable to find image '${target}' locally`);
      expect(result.stderr).toContain(`Status: Downloaded newer image for ${target}`);
      expect(await readdir(join(fresh, 'containers'))).toEqual([]);
      // --pull always asks the registry even for an image the store has; never, not even for a missing one.
      const always = tsbuild(['run', '--rm', '--root', fresh, '--pull', 'always', target, 'echo', 'again']);
      expect(always.status).toBe(0);
      expect(always.stderr).not.toContain('Unable to find image');
      expect(always.stderr).toContain(`1: Pulling from tools/busybox`);
      expect(always.stderr).toContain(`Status: Image is up to date for ${target}`);
      const other = join(dir, 'other');
      await mkdir(other);
      const never = tsbuild(['run', '--rm', '--root', other, '--pull', 'never', target, 'true']);
      expect(never.status).toBe(125);
      expect(never.stderr).toContain(`unable to find image '${target}' locally`);
      expect(never.stderr).not.toContain('Pulling from');
      const detached = tsbuild(['create', '--root', other, '--pull', 'always', target, 'true']);
      expect(detached.status).toBe(0);
      expect(detached.stderr).toContain('Downloaded newer image');
      // -q: the pull says nothing, the container's output is all there is.
      const quietRoot = join(dir, 'quiet');
      await mkdir(quietRoot);
      expect(tsbuild(['run', '--rm', '-q', '--root', quietRoot, target, 'echo', 'quiet'])).toMatchObject({ status: 0, stdout: 'quiet\n', stderr: '' });
      const wrong = tsbuild(['run', '--rm', '--root', other, '--pull', 'sometimes', target, 'true']);
      expect([wrong.status, wrong.stderr.includes('invalid pull option')]).toEqual([125, true]);
    } finally {
      await registry.stop();
    }
  }, 60_000);
});
