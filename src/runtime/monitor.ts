/**
 * The monitor of a container that outlives its run: a process of its own per container (the
 * foreground `run` attaches to it), which mounts the container's root, runs it through
 * the OCI runtime, keeps its output in the json-file log, records its state (start and finish
 * times, exit code, health), applies its restart policy and runs its HEALTHCHECK, and ends when
 * the container ends for good. Other commands reach it through requests in the record and
 * SIGUSR2 (see containers.ts).
 */
import { readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { TsbuildError, messageOf } from '../common/index.js';
import type { Store } from '../store/index.js';
import {
  containerDirectory,
  currentOwner,
  mountsUnder,
  ownerAlive,
  readContainerRecord,
  removeContainerDirectory,
  type ContainerRecord,
  type HealthResult,
  type HealthState,
  type MonitorRequest,
} from './container.js';
import { containerHooks, type ContainerStartAdditions } from './container-hooks.js';
import { registerVolumeHooks, releaseContainerVolumes } from './volumes/index.js';
import { registerNetworkHooks } from './network/container-hooks.js';
import { LogWriter, rotationOf } from './container-log.js';
import { releaseContainerCgroups } from './freezer.js';
import { failedStartPath, removeContainerLock, updateContainer } from './container-store.js';
import { specForStart } from './containers.js';
import { execInContainer } from './exec.js';
import { overlayOptions, runtimeAddon, unmount } from './native.js';
import { selectRuntime } from './oci-runtime.js';
import { runFailureStatus } from './run.js';
import { userNamespaceSize, type ContainerSpec } from './spec.js';
import { AttachServer } from './attach.js';
import { ociBlockIO } from './blkio.js';
import { ConsoleSocket, TerminalCopy } from './terminal.js';

export interface SuperviseOptions {
  /**
   * `run` in the foreground: the container's first start waits up to this long (ms) for a
   * client of its attach socket, the `run` itself, so that none of its output is missed.
   */
  readonly waitForClient?: number;
}

/** docker's health-check defaults, in nanoseconds. */
const defaultInterval = 30e9;
const defaultTimeout = 30e9;
const defaultRetries = 3;
/** docker 25's default time between checks during the start period, in nanoseconds. */
const defaultStartInterval = 5e9;
const healthLogLength = 5;
const healthOutputLimit = 4096;

function signalValue(signal: string): NodeJS.Signals | number {
  return /^\d+$/.test(signal) ? Number(signal) : (signal as NodeJS.Signals);
}

/** Whether PID still runs the runtime rather than the container's program (not exec'ed yet). */
async function stillRuntime(pid: number): Promise<boolean> {
  const exe = await readlink(`/proc/${pid}/exe`).catch(() => '');
  return exe === '' || exe.includes('memfd:') || /(^|\/)(tsbuild-runtime|crun|runc)( \(deleted\))?$/.test(exe);
}

/**
 * Watches the container until it ends for good; resolves to its last exit code. The record's
 * monitor must be this process (startContainer or claimContainer made it so).
 */
export async function superviseContainer(store: Store, id: string, options: SuperviseOptions = {}): Promise<number> {
  const directory = containerDirectory(store, id);
  registerNetworkHooks(store);
  registerVolumeHooks(store);
  const self = await currentOwner();
  let record = await updateContainer(store, id, (current) => {
    if (current.state.monitor?.pid !== self.pid) throw new TsbuildError('LOCKED', `monitor container ${id}: another process watches it`);
    return { ...current, owner: self };
  });
  const runtime = selectRuntime(record.config.runtime);
  // `--log-driver none` keeps nothing; json-file rotates at `max-size` when asked.
  const logConfig = record.hostConfig?.logConfig;
  const log = logConfig?.type === 'none' ? undefined : new LogWriter(join(directory, 'container.log'), rotationOf(logConfig));
  // Its streams reach whoever attaches (`attach`, `start -a -i`, the foreground `run`); without
  // a client it keeps running.
  const attachServer = await AttachServer.open(directory, { stdinOnce: record.config.attach?.stdinOnce === true && !record.config.tty }).catch((error: unknown) => {
    process.stderr.write(`monitor: container ${id} cannot be attached to: ${messageOf(error)}\n`);
    return undefined;
  });
  const streamTo = (stream: 'stdout' | 'stderr'): NodeJS.WritableStream =>
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        log?.write(stream, chunk);
        // A client that fell behind holds the next chunk back (and so the container's writes).
        const sent = attachServer?.broadcast(stream, chunk);
        if (sent === undefined) done();
        else void sent.then(() => done());
      },
    });

  let containerPid: number | undefined;
  let runtimePid: number | undefined;
  let running = false;
  let stopping = false;
  let killTimer: NodeJS.Timeout | undefined;
  const send = (signal: string): void => {
    const target = containerPid ?? runtimePid;
    if (target === undefined || !running) return;
    try {
      process.kill(target, signalValue(signal));
    } catch {
      // Ended meanwhile: its exit is on its way.
    }
  };
  const take = (request: MonitorRequest): void => {
    if (request.kind === 'kill') {
      if (request.signal === 'SIGKILL') stopping = true;
      send(request.signal);
      return;
    }
    stopping = true;
    send(request.signal);
    if (request.timeoutSeconds >= 0 && killTimer === undefined) {
      killTimer = setTimeout(() => send('SIGKILL'), request.timeoutSeconds * 1000);
      killTimer.unref();
    }
  };
  let handling = Promise.resolve();
  const onRequest = (): void => {
    handling = handling.then(async () => {
      let taken: readonly MonitorRequest[] = [];
      const after = await updateContainer(store, id, (current) => {
        taken = current.state.requests ?? [];
        if (taken.length === 0) return undefined;
        const { requests: _requests, ...state } = current.state;
        return { ...current, state };
      }).catch(() => undefined);
      if (after?.state.stoppedByUser === true) stopping = true;
      for (const request of taken) take(request);
    });
  };
  // A detached monitor's own end asked for by SIGTERM is a stop with the container's timeout.
  const onTerminate = (): void => take({ id: 'terminate', kind: 'stop', signal: record.config.stopSignal ?? 'SIGTERM', timeoutSeconds: record.config.stopTimeout ?? 10 });
  process.on('SIGUSR2', onRequest);
  process.on('SIGTERM', onTerminate);
  process.on('SIGHUP', () => undefined);
  process.on('SIGINT', () => undefined);
  // Requests made before the handler was installed.
  onRequest();

  let exitCode = 0;
  let failures = 0;
  // As docker's: a container whose process never started stays created, its exit code and error recorded.
  let hasRun = record.state.startedAt !== undefined;
  const endUnstarted = (status: number, error: string): Promise<ContainerRecord> =>
    updateContainer(store, id, (current) => {
      const { pid: _pid, runtimePid: _runtimePid, paused: _paused, pausedBy: _pausedBy, startedAt: _startedAt, ...state } = current.state;
      return { ...current, state: hasRun ? { ...state, status: 'exited', exitCode: status, error, finishedAt: new Date().toISOString(), ...(current.state.startedAt === undefined ? {} : { startedAt: current.state.startedAt }) } : { ...state, status: 'created', exitCode: status, error } };
    });
  try {
    for (;;) {
      let extra: ContainerStartAdditions = {};
      let spec: ContainerSpec;
      try {
        await mountRoot(directory, record);
        for (const hook of containerHooks()) {
          const added = await hook.prepare?.(record);
          if (added !== undefined) {
            const networkNamespace = added.networkNamespace ?? extra.networkNamespace;
            const loopbackOnly = added.loopbackOnly ?? extra.loopbackOnly;
            extra = { mounts: [...(extra.mounts ?? []), ...(added.mounts ?? [])], ...(networkNamespace === undefined ? {} : { networkNamespace }), ...(loopbackOnly === undefined ? {} : { loopbackOnly }) };
          }
        }
        // Read at each start: `update` may have changed its limits since the last.
        spec = JSON.parse(await readFile(join(directory, 'spec.json'), 'utf8')) as ContainerSpec;
        // Its devices' numbers, as docker's daemon finds them at each start.
        const blockIO = await ociBlockIO(record.hostConfig?.blockIODevices);
        await runtime.prepare(directory, { ...specForStart(spec, record, extra), ...(blockIO === undefined ? {} : { blockIO }) });
      } catch (failure) {
        // What the container needed could not be set up (a published port taken, a network
        // gone): docker's exit code 128 and its error, which the waiting `start` reports.
        for (const hook of containerHooks()) await hook.release?.(record).catch(() => undefined);
        exitCode = 128;
        record = await endUnstarted(exitCode, messageOf(failure));
        break;
      }
      const pidFile = join(directory, 'pid');
      await rm(pidFile, { force: true });
      const consoleSocket = record.config.tty ? ConsoleSocket.open() : undefined;
      let terminal: TerminalCopy | undefined;
      let exited = false;
      const startedAt = new Date().toISOString();
      const stdout = streamTo('stdout');
      const stderr = streamTo('stderr');
      // As docker's -i: the container's stdin stays open for whoever attaches (a terminal's input too).
      const stdin = attachServer !== undefined && record.config.openStdin ? attachServer.input : undefined;
      if (options.waitForClient !== undefined && !hasRun) await attachServer?.firstClient(options.waitForClient);
      containerPid = undefined;
      runtimePid = undefined;
      const run = runtime.run(directory, id, {
        stdio: consoleSocket !== undefined ? { stderr } : { ...(stdin === undefined ? {} : { stdin }), stdout, stderr },
        ...(consoleSocket === undefined ? {} : { consoleSocket: consoleSocket.path }),
        ownSession: true,
        pidFile,
        logFile: join(directory, 'runtime.log'),
        onSpawn: (pid) => {
          runtimePid = pid;
        },
      });
      running = true;
      const finished = run.finally(() => {
        exited = true;
      });
      finished.catch(() => undefined);
      // The container runs once its first process exec'ed its program (a command that cannot
      // be executed ends the runtime first, with its error).
      const announce = (async () => {
        const deadline = Date.now() + 5000;
        while (!exited) {
          const text = await readFile(pidFile, 'utf8').catch(() => '');
          const pid = Number.parseInt(text.trim(), 10);
          if (Number.isSafeInteger(pid) && pid > 0) {
            containerPid = pid;
            if (record.hostConfig?.init === true || !(await stillRuntime(pid)) || Date.now() > deadline) break;
          }
          await sleep(5);
        }
        if (exited) return;
        record = await updateContainer(store, id, (current) => {
          const { exitCode: _exit, error: _error, finishedAt: _finished, ...state } = current.state;
          const health: HealthState | undefined = current.config.healthcheck !== undefined && current.config.healthcheck.test[0] !== 'NONE' ? { status: 'starting', failingStreak: 0, log: current.state.health?.log ?? [] } : undefined;
          return { ...current, state: { ...state, status: 'running', ...(containerPid === undefined ? {} : { pid: containerPid }), ...(runtimePid === undefined ? {} : { runtimePid }), startedAt, exitCode: 0, ...(health === undefined ? {} : { health }) } };
        });
      })();
      announce.catch(() => undefined);
      if (consoleSocket !== undefined) {
        const master = await consoleSocket.receive(() => exited);
        if (master !== undefined) {
          const copy = new TerminalCopy(master, stdin, stdout);
          terminal = copy;
          attachServer?.onResize((size) => copy.resize(size));
        }
      }
      const health = superviseHealth(store, id, () => running && !exited, () => record);
      let error: string | undefined;
      try {
        exitCode = (await finished).status;
      } catch (failure) {
        exitCode = runFailureStatus(failure);
        error = messageOf(failure);
      }
      running = false;
      attachServer?.onResize(undefined);
      attachServer?.ended(error === undefined ? exitCode : undefined);
      await announce.catch(() => undefined);
      await health.stop();
      if (terminal !== undefined) {
        const copied = terminal;
        await Promise.race([copied.done, sleep(2000)]);
        terminal.close();
      }
      consoleSocket?.close();
      log?.flush();
      if (killTimer !== undefined) clearTimeout(killTimer);
      killTimer = undefined;
      for (const hook of containerHooks()) await hook.release?.(record).catch(() => undefined);
      await handling;
      // What the record says now: a stop asked for while the process ended counts.
      const now = await readContainerRecord(store, id);
      if (now?.state.stoppedByUser === true) stopping = true;
      // What the record says now: `update --restart` may have changed it while the container ran.
      const policy = now?.hostConfig?.restartPolicy ?? record.hostConfig?.restartPolicy ?? { name: 'no', maximumRetryCount: 0 };
      const count = now?.restartCount ?? record.restartCount ?? 0;
      const ranLong = Date.now() - Date.parse(startedAt) > 10_000;
      failures = ranLong ? 0 : failures + 1;
      // A process that could not start is not restarted, whatever the policy: docker's daemon
      // reports the failed start and leaves the container stopped.
      if (error !== undefined) {
        record = await endUnstarted(exitCode, error);
        await releaseContainerCgroups(id, record.hostConfig?.cgroupParent);
        break;
      }
      hasRun = true;
      const restart =
        !stopping &&
        (policy.name === 'always' || policy.name === 'unless-stopped' || (policy.name === 'on-failure' && exitCode !== 0 && (policy.maximumRetryCount === 0 || count < policy.maximumRetryCount)));
      record = await updateContainer(store, id, (current) => {
        const { pid: _pid, runtimePid: _runtimePid, paused: _paused, pausedBy: _pausedBy, ...state } = current.state;
        return {
          ...current,
          ...(restart ? { restartCount: (current.restartCount ?? 0) + 1 } : {}),
          // startedAt too: a process that ended before it was seen running did start.
          state: { ...state, status: restart ? 'restarting' : 'exited', exitCode, startedAt, finishedAt: new Date().toISOString() },
        };
      });
      // A container stopped while paused leaves an empty freezer cgroup behind, and a runtime
      // killed before its own cleanup the groups it placed the container in.
      await releaseContainerCgroups(id, record.hostConfig?.cgroupParent);
      if (!restart) break;
      // docker's back-off: 100 ms, doubled after each quick failure, at most a minute.
      const delay = Math.min(100 * 2 ** Math.max(0, failures - 1), 60_000);
      const until = Date.now() + delay;
      while (Date.now() < until && !stopping) await sleep(Math.min(20, until - Date.now()));
      await handling;
      if (stopping) {
        record = await updateContainer(store, id, (current) => ({ ...current, state: { ...current.state, status: 'exited' } }));
        break;
      }
    }
  } finally {
    process.off('SIGUSR2', onRequest);
    process.off('SIGTERM', onTerminate);
    await attachServer?.close().catch(() => undefined);
    log?.close();
    await finish(store, id, directory, record).catch((error: unknown) => {
      process.stderr.write(`monitor: finish container ${id}: ${messageOf(error)}\n`);
    });
  }
  return exitCode;
}

/** The container's writable root mounted on rootfs/ (once: a restart keeps it; `cp` of a stopped container mounts it too). */
export async function mountRoot(directory: string, record: ContainerRecord): Promise<void> {
  const rootfs = join(directory, 'rootfs');
  if ((await mountsUnder(rootfs)).includes(rootfs)) return;
  const table = runtimeAddon();
  const lower = record.lower ?? join(directory, 'empty');
  // In a user namespace (a rootless tsbuild's) overlay keeps its attributes as user.overlay.*.
  const extra = [...(record.autoRemove ? ['volatile'] : []), ...(userNamespaceSize() !== undefined ? ['userxattr'] : [])];
  try {
    table.mount('overlay', rootfs, 'overlay', 0, overlayOptions(lower, join(directory, 'upper'), join(directory, 'work'), extra));
  } catch (error) {
    throw new TsbuildError('RUNTIME', `mount container root ${rootfs}: ${messageOf(error)}`, { cause: error });
  }
}

/** The container ended for good: its root unmounted, the monitor gone from its record, or (--rm) the container removed. */
async function finish(store: Store, id: string, directory: string, record: ContainerRecord): Promise<void> {
  if (record.autoRemove) {
    // A --rm container that could not run is removed at once: its error stays for the `start`
    // (or `run -d`) waiting for it, which takes it.
    if (record.state.error !== undefined && record.state.error !== '') {
      await writeFile(failedStartPath(store, id), JSON.stringify({ error: record.state.error, exitCode: record.state.exitCode ?? 125 }), { mode: 0o600 }).catch(() => undefined);
    }
    await updateContainer(store, id, async (current) => {
      for (const hook of containerHooks()) await hook.remove?.(current, { volumes: true });
      await releaseContainerVolumes(store, id, { removeAnonymous: true });
      await removeContainerDirectory(directory);
      return undefined;
    });
    await removeContainerLock(store, id);
    return;
  }
  for (const point of await mountsUnder(directory)) {
    try {
      unmount(point);
    } catch {
      // Busy or gone: rm unmounts what is left.
    }
  }
  await updateContainer(store, id, (current) => {
    const { monitor: _monitor, requests: _requests, ...state } = current.state;
    return { ...current, state };
  });
}

interface HealthRun {
  stop(): Promise<void>;
}

/** Runs the HEALTHCHECK on its interval while ACTIVE, recording each result in the record. */
function superviseHealth(store: Store, id: string, active: () => boolean, current: () => ContainerRecord): HealthRun {
  const config = current().config.healthcheck;
  if (config === undefined || config.test.length === 0 || config.test[0] === 'NONE') return { stop: () => Promise.resolve() };
  const [kind, ...rest] = config.test;
  const args = kind === 'CMD-SHELL' ? ['/bin/sh', '-c', rest.join(' ')] : kind === 'CMD' ? rest : config.test;
  const intervalMs = (config.interval !== undefined && config.interval > 0 ? config.interval : defaultInterval) / 1e6;
  const timeoutMs = (config.timeout !== undefined && config.timeout > 0 ? config.timeout : defaultTimeout) / 1e6;
  const retries = config.retries !== undefined && config.retries > 0 ? config.retries : defaultRetries;
  const startPeriodMs = (config.startPeriod ?? 0) / 1e6;
  const startIntervalMs = (config.startInterval !== undefined && config.startInterval > 0 ? config.startInterval : defaultStartInterval) / 1e6;
  const began = Date.now();
  let stopped = false;
  // docker 25's: within the start period, while still starting, checks come every start interval.
  const nextInterval = async (): Promise<number> => {
    if (Date.now() - began >= startPeriodMs) return intervalMs;
    const status = (await readContainerRecord(store, id))?.state.health?.status ?? 'starting';
    return status === 'starting' ? startIntervalMs : intervalMs;
  };
  const loop = (async () => {
    for (;;) {
      const until = Date.now() + (await nextInterval());
      while (!stopped && Date.now() < until) await sleep(Math.min(50, until - Date.now()));
      if (stopped || !active()) return;
      // A paused container's check would hang in its frozen namespaces; docker skips it too.
      if ((await readContainerRecord(store, id))?.state.paused === true) continue;
      const record = current();
      if (record.state.pid === undefined) continue;
      const start = new Date().toISOString();
      let result: HealthResult;
      try {
        const ran = await execInContainer(record, { args, stdio: 'pipe', timeoutMs, eventsRoot: store.root, bundleParent: containerDirectory(store, id) });
        result = { start, end: new Date().toISOString(), exitCode: ran.status === -1 ? -1 : ran.status === 0 ? 0 : 1, output: ran.status === -1 ? `Health check exceeded timeout (${timeoutMs / 1000}s)` : ran.output.slice(0, healthOutputLimit) };
      } catch (error) {
        result = { start, end: new Date().toISOString(), exitCode: -1, output: messageOf(error) };
      }
      if (stopped || !active()) return;
      // A paused container's check would hang in its frozen namespaces; docker skips it too.
      if ((await readContainerRecord(store, id))?.state.paused === true) continue;
      await updateContainer(store, id, (latest) => {
        const health = latest.state.health ?? { status: 'starting', failingStreak: 0, log: [] };
        const log = [...health.log, result].slice(-healthLogLength);
        const inStartPeriod = Date.now() - began < startPeriodMs;
        let next: HealthState;
        if (result.exitCode === 0) next = { status: 'healthy', failingStreak: 0, log };
        else if (inStartPeriod && health.status === 'starting') next = { ...health, log };
        else {
          const failingStreak = health.failingStreak + 1;
          next = { status: failingStreak >= retries ? 'unhealthy' : health.status, failingStreak, log };
        }
        return { ...latest, state: { ...latest.state, health: next } };
      }).catch(() => undefined);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop.catch(() => undefined);
    },
  };
}

/** Whether the record's monitor still lives (a helper for callers that only have the record). */
export async function monitorAlive(record: ContainerRecord): Promise<boolean> {
  return record.state.monitor !== undefined && (await ownerAlive(record.state.monitor));
}
