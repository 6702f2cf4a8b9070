/**
 * Rootless builds and runs: an ordinary user's tsbuild re-executes itself inside a user and
 * mount namespace of its own (util-linux `unshare`), where it is root over the user's id and,
 * when /etc/subuid and /etc/subgid grant a range and newuidmap/newgidmap exist, that whole range
 * (`--map-users`), as buildah and podman do. Inside, overlayfs mounts, ownership and the sandbox
 * work as they do for root; the mounts vanish with the namespace, whatever ends the process.
 * While the store's rootless network namespace runs (runtime/network/rootless-netns.ts), the user
 * namespace is its own, entered, and only the mount namespace is new.
 */
import { spawn } from 'node:child_process';
import { resolve as absolutePath } from 'node:path';
import { exitStatus } from '../common/index.js';
import { defaultRoot, openStore } from '../store/index.js';
import { findContainer, observeState, rootlessUnshareOptions, rootlessUserNamespace, startRootlessNamespaceFromHost, stopUnusedRootlessNamespace } from '../runtime/index.js';

/** Set in the re-executed process: it is the inner one. */
const marker = 'TSBUILD_USER_NAMESPACE';

/**
 * When this process is an ordinary user's, runs the same command line inside a user namespace
 * and returns its exit status; undefined when this process is root (or already the inner one).
 * With USER_NETWORK (the command puts a container on a user network), the store's rootless
 * network namespace is started first when it is not running, so that tsbuilds started at once
 * enter the same user namespace; it is stopped again after the command when no container came to
 * use it.
 */
export async function runInUserNamespace(root: string | undefined, options: { readonly userNetwork?: boolean } = {}): Promise<number | undefined> {
  if ((process.getuid?.() ?? 0) === 0 || process.env[marker] === '1') return undefined;
  const script = process.argv[1];
  if (script === undefined) return undefined;
  // The store stays where it is for this user: inside, tsbuild is root and would pick root's.
  const storeRoot = root ?? process.env.TSBUILD_ROOT ?? defaultRoot();
  const command = [process.execPath, ...process.execArgv, script, ...process.argv.slice(2)];
  // While the store's rootless network namespace runs, its user namespace is entered instead of a
  // new one: only from there can containers join its networks (the same mappings either way).
  const mapping = rootlessUnshareOptions();
  const shared = options.userNetwork === true ? await startRootlessNamespaceFromHost(absolutePath(storeRoot), mapping) : await rootlessUserNamespace(absolutePath(storeRoot));
  const argv = shared === undefined
    ? ['unshare', ...mapping, '--mount', '--propagation', 'private', '--', ...command]
    : ['nsenter', `--user=${shared}`, '--preserve-credentials', '--', 'unshare', '--mount', '--propagation', 'private', '--', ...command];
  const status = await runReexecuted(argv, storeRoot);
  // The command's own status matters more than a holder left running (the next run on a user network reuses it).
  if (options.userNetwork === true) await stopUnusedRootlessNamespace(absolutePath(storeRoot)).catch(() => undefined);
  return status;
}

/**
 * When this process is an ordinary user's and CONTAINER runs, runs the same command line in the
 * user and mount namespaces of its monitor, where its root filesystem is mounted (`cp` reaches a
 * running container's files there), and returns its exit status; undefined otherwise.
 */
export async function runInMonitorNamespaces(root: string | undefined, container: string): Promise<number | undefined> {
  if ((process.getuid?.() ?? 0) === 0 || process.env[marker] === '1') return undefined;
  const script = process.argv[1];
  if (script === undefined) return undefined;
  const storeRoot = root ?? process.env.TSBUILD_ROOT ?? defaultRoot();
  const record = await findContainer(await openStore({ root: storeRoot }), container).catch(() => undefined);
  const monitor = record?.state.monitor;
  if (record === undefined || monitor === undefined || !(await observeState(record)).running) return undefined;
  const command = [process.execPath, ...process.execArgv, script, ...process.argv.slice(2)];
  return runReexecuted(['nsenter', `--user=/proc/${monitor.pid}/ns/user`, `--mount=/proc/${monitor.pid}/ns/mnt`, '--preserve-credentials', '--', ...command], storeRoot);
}

/**
 * Runs ARGV (this command line re-executed inside namespaces) with the caller's stdio and signals;
 * its exit status. The inner process dies with this one (util-linux setpriv's parent-death
 * signal, which unshare and nsenter keep as they exec): a build whose outer process is killed
 * outright does not run on, unseen, with its steps.
 */
async function runReexecuted(argv: readonly string[], storeRoot: string): Promise<number> {
  const env = { ...process.env, [marker]: '1', TSBUILD_ROOT: storeRoot };
  return new Promise<number>((resolve, reject) => {
    const child = spawn('setpriv', ['--pdeathsig', 'KILL', ...argv], { stdio: 'inherit', env });
    const forward = (signal: NodeJS.Signals): void => {
      child.kill(signal);
    };
    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];
    for (const signal of signals) process.on(signal, forward);
    child.on('error', (error) => reject(error));
    child.on('close', (code, signal) => {
      for (const s of signals) process.off(s, forward);
      resolve(exitStatus(code, signal));
    });
  });
}

/**
 * Whether one of CONTAINERS (names or IDs) is on a user network, for `start` and `restart` of an
 * ordinary user: read from the store before the user namespace is entered. False for root.
 */
export async function containersOnUserNetwork(root: string | undefined, containers: readonly string[]): Promise<boolean> {
  if ((process.getuid?.() ?? 0) === 0 || process.env[marker] === '1') return false;
  const store = await openStore(root === undefined ? {} : { root });
  for (const reference of containers) {
    const record = await findContainer(store, reference).catch(() => undefined);
    if (isUserNetwork(record?.config.network)) return true;
  }
  return false;
}

/** Whether `--network NETWORK` is a user network's name or ID (not one that needs no bridge, nor the default). */
export function isUserNetwork(network: string | undefined): boolean {
  return network !== undefined && !['none', 'host', 'bridge', 'default'].includes(network) && !network.startsWith('container:');
}
