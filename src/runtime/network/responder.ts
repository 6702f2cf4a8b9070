/**
 * Starting and stopping a network's DNS responder (dns-responder.ts). tsbuild has no daemon: the
 * responder is a process of its own per user network, started by whichever tsbuild process
 * attaches the network's first container and stopped by the one detaching its last, both under
 * the store's network lock; its pid and start time are in the network's record.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { TsbuildError } from '../../common/index.js';
import type { Store } from '../../store/index.js';
import { shimPath } from '../oci-runtime.js';
import { processStartTime } from '../container.js';
import { namesPath, type NetworkRecord, type ResponderProcess } from './state.js';

// Found from the shim's place in the package: this module may run from tsc's output or the bundle.
const responderScript = resolve(shimPath(), '../../../dist/runtime/network/dns-responder.js');


export async function responderAlive(responder: ResponderProcess | undefined): Promise<boolean> {
  return responder !== undefined && (await processStartTime(responder.pid)) === responder.startTime;
}

/** The host's resolvers, from /etc/resolv.conf. */
export async function hostNameservers(): Promise<string[]> {
  const text = await readFile('/etc/resolv.conf', 'utf8').catch(() => '');
  return text
    .split('\n')
    .map((line) => /^\s*nameserver\s+(\S+)/.exec(line)?.[1])
    .filter((server): server is string => server !== undefined && /^\d+\.\d+\.\d+\.\d+$/.test(server));
}

/**
 * Starts NETWORK's responder on its gateway's address, in the namespace ENTER leads to (the
 * rootless one: `nsenter` execs the responder, its pid stays the responder's), forwarding other
 * names to UPSTREAMS (none for an internal network); resolves once it listens.
 */
export async function startResponder(store: Store, network: NetworkRecord, where: { enter: readonly string[]; upstreams?: readonly string[] } = { enter: [] }): Promise<ResponderProcess> {
  if (network.gateway === undefined) throw new TsbuildError('INTERNAL', `start DNS responder of ${network.name}: the network has no gateway yet`);
  // An --internal network reaches nothing outside, names included: a query forwarded to the
  // host's resolvers would carry data out of it (moby CVE-2024-29018). Its containers' names
  // still resolve; other names fail.
  const upstreams = network.internal ? [] : (where.upstreams ?? (await hostNameservers()));
  const argv = [...where.enter, process.execPath, responderScript, namesPath(store, network.id), network.gateway, ...upstreams];
  const child = spawn(argv[0] ?? process.execPath, argv.slice(1), {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    // The responder lives on its own: it must not hold a terminal or a parent's session.
    cwd: '/',
  });
  const pid = child.pid;
  const ready = await new Promise<string | undefined>((resolve) => {
    let output = '';
    let errors = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('ready\n')) resolve(undefined);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      errors += chunk.toString();
    });
    child.on('error', (error) => resolve(error.message));
    child.on('exit', (code) => resolve(errors.trim() || `exited with status ${code ?? 'unknown'}`));
  });
  child.stdout.destroy();
  child.stderr.destroy();
  child.unref();
  if (ready !== undefined || pid === undefined) throw new TsbuildError('RUNTIME', `start DNS responder of network ${network.name}: ${ready ?? 'no process'}`);
  return { pid, startTime: (await processStartTime(pid)) ?? '' };
}

export async function stopResponder(responder: ResponderProcess | undefined): Promise<void> {
  if (responder === undefined || !(await responderAlive(responder))) return;
  try {
    process.kill(responder.pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let waited = 0; waited < 2000 && (await responderAlive(responder)); waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
}
