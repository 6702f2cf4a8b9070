/**
 * The holder of a store's rootless network namespace, run as a process of its own:
 * `node rootless-holder.js API_SOCKET [--allow-host-loopback]`. It makes the namespace (a child, `unshare --net sh`, that
 * stays in it and is its handle: /proc/KEEPER/ns/net), gives it outbound access through
 * slirp4netns (tap0, 10.0.2.100, the host at 10.0.2.2 and its resolvers at 10.0.2.3; forwards
 * added through API_SOCKET), prints `ready KEEPER_PID` and waits. On SIGTERM it ends both. Both
 * end with it whatever ends it: slirp4netns watches its exit pipe, the keeper reads its stdin
 * until this process is gone.
 *
 * Only Node's own modules here: it starts without the CLI's bundle.
 */
import { spawn, type ChildProcess } from 'node:child_process';

const searchPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function fail(message: string): void {
  process.stderr.write(`${message}\n`);
  process.exitCode = 1;
}

/** Resolves with the first output of STREAM_INDEX, or rejects with the child's stderr when it exits first. */
function firstOutput(child: ChildProcess, streamIndex: number, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let errors = '';
    child.stderr?.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    child.stdio[streamIndex]?.on('data', (chunk: Buffer) => resolve(chunk.toString()));
    child.on('error', (error) => reject(new Error(`${what}: ${error.message}`)));
    child.on('exit', (code) => reject(new Error(`${what}: ${errors.trim() || `exited with status ${code ?? 'unknown'}`}`)));
  });
}

async function hold(apiSocket: string, allowHostLoopback: boolean): Promise<void> {
  const env = { ...process.env, PATH: `${process.env.PATH ?? ''}:${searchPath}` };
  // The keeper: its stdin is this process's pipe, so it ends (and the namespace with it, once
  // nothing else is in it) when this process does.
  const keeper = spawn('unshare', ['--net', '--', 'sh', '-c', 'ip link set lo up && echo 1 > /proc/sys/net/ipv4/ip_forward && echo ready && read -r _; exit 0'], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env,
  });
  await firstOutput(keeper, 1, 'make network namespace');
  const keeperPid = keeper.pid;
  if (keeperPid === undefined) throw new Error('make network namespace: no process');
  // The host's loopback (10.0.2.2) is out of the containers' reach unless the store's config asks
  // for it (podman's allow_host_loopback): services listening there trust their callers.
  const loopback = allowHostLoopback ? [] : ['--disable-host-loopback'];
  const slirp = spawn('slirp4netns', ['--configure', '--mtu=65520', ...loopback, `--api-socket=${apiSocket}`, '--ready-fd=3', '--exit-fd=4', String(keeperPid), 'tap0'], {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
    env,
  });
  try {
    await firstOutput(slirp, 3, 'start slirp4netns');
  } catch (error) {
    keeper.kill('SIGTERM');
    throw error;
  }
  for (const stream of [keeper.stdout, keeper.stderr, slirp.stderr, slirp.stdio[3]]) (stream as { destroy?: () => void } | null)?.destroy?.();
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    slirp.kill('SIGTERM');
    keeper.stdin?.end();
    keeper.kill('SIGTERM');
  };
  // Either one gone by itself leaves the namespace useless: the other goes too. With both gone,
  // nothing keeps this process.
  const ended = (): void => stop();
  keeper.removeAllListeners('exit');
  slirp.removeAllListeners('exit');
  keeper.on('exit', ended);
  slirp.on('exit', ended);
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, stop);
  process.stdout.write(`ready ${keeperPid}\n`);
}

const [apiSocket, option] = process.argv.slice(2);
if (apiSocket === undefined || (option !== undefined && option !== '--allow-host-loopback')) fail('usage: rootless-holder.js API_SOCKET [--allow-host-loopback]');
else hold(apiSocket, option === '--allow-host-loopback').catch((error: unknown) => fail(error instanceof Error ? error.message : String(error)));
