/**
 * What `stats` shows of a running container, read from the processes of its pid namespace and
 * its network namespace: CPU time, resident memory, block I/O, tasks, and the bytes through its
 * interfaces. docker reads the same figures from the container's cgroups; tsbuild makes a cgroup
 * only for a container with limits (and an ordinary user has none delegated on these hosts), so
 * the processes themselves are summed, which works rootful and rootless alike: resident memory
 * stands for docker's cgroup usage without the page cache, and the I/O is what the processes
 * alive now did (and their reaped children, for CPU time).
 */
import { readFile, readlink } from 'node:fs/promises';
import { totalmem } from 'node:os';
import type { ContainerRecord } from './container.js';
import { namespaceProcesses } from './container.js';

export interface ContainerSample {
  /** When the sample was taken (ms, monotonic enough for a rate). */
  readonly at: number;
  /** CPU time of the container's processes and their reaped children, in clock ticks. */
  readonly cpuTicks: number;
  /** The machine's CPU time over all CPUs (/proc/stat), in clock ticks. */
  readonly systemTicks: number;
  readonly onlineCpus: number;
  /** Resident bytes of its processes. */
  readonly memory: number;
  /** The container's memory limit, else the machine's memory. */
  readonly memoryLimit: number;
  readonly netRx: number;
  readonly netTx: number;
  readonly blockRead: number;
  readonly blockWrite: number;
  /** Tasks (threads), as the pids cgroup counts them. */
  readonly pids: number;
}

async function readOr(path: string): Promise<string | undefined> {
  return readFile(path, 'utf8').catch(() => undefined);
}

/** utime + stime + cutime + cstime of /proc/PID/stat (the fields after the command's closing parenthesis). */
function cpuOfStat(text: string): number {
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // After ")": state is field 3 of stat(5), utime field 14: index 11 here.
  return [11, 12, 13, 14].reduce((sum, index) => sum + Number(fields[index] ?? 0), 0);
}

/** The machine's CPU time (the `cpu` line of /proc/stat) and the number of CPUs it lists. */
async function systemCpu(): Promise<{ ticks: number; cpus: number }> {
  const text = (await readOr('/proc/stat')) ?? '';
  const lines = text.split('\n');
  const total = (lines.find((line) => line.startsWith('cpu ')) ?? '')
    .split(/\s+/)
    .slice(1)
    .reduce((sum, field) => sum + (Number(field) || 0), 0);
  const cpus = lines.filter((line) => /^cpu\d+ /.test(line)).length;
  return { ticks: total, cpus: Math.max(1, cpus) };
}

/** Bytes received and sent through every interface but loopback, of the namespace of PID. */
async function networkBytes(pid: number): Promise<{ rx: number; tx: number }> {
  const [own, theirs] = await Promise.all([readlink('/proc/self/ns/net').catch(() => ''), readlink(`/proc/${pid}/ns/net`).catch(() => '')]);
  // The host's network (`--network host`): docker counts nothing for it.
  if (theirs === '' || theirs === own) return { rx: 0, tx: 0 };
  let rx = 0;
  let tx = 0;
  for (const line of ((await readOr(`/proc/${pid}/net/dev`)) ?? '').split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0 || line.slice(0, colon).trim() === 'lo') continue;
    const fields = line.slice(colon + 1).trim().split(/\s+/);
    rx += Number(fields[0] ?? 0);
    tx += Number(fields[8] ?? 0);
  }
  return { rx, tx };
}

/** A sample of the running container RECORD; undefined when it has no process any more. */
export async function sampleContainer(record: ContainerRecord): Promise<ContainerSample | undefined> {
  const pid = record.state.pid;
  if (pid === undefined) return undefined;
  const processes = await namespaceProcesses(pid);
  if (processes === undefined || processes.length === 0) return undefined;
  const [system, network] = await Promise.all([systemCpu(), networkBytes(pid)]);
  let cpuTicks = 0;
  let memory = 0;
  let blockRead = 0;
  let blockWrite = 0;
  let pids = 0;
  await Promise.all(
    processes.map(async (process) => {
      const [stat, status, io] = await Promise.all([readOr(`/proc/${process}/stat`), readOr(`/proc/${process}/status`), readOr(`/proc/${process}/io`)]);
      // A process that ended between the listing and these reads counts for nothing.
      if (stat === undefined) return;
      cpuTicks += cpuOfStat(stat);
      memory += Number(/^VmRSS:\s+(\d+) kB$/m.exec(status ?? '')?.[1] ?? 0) * 1024;
      blockRead += Number(/^read_bytes: (\d+)$/m.exec(io ?? '')?.[1] ?? 0);
      blockWrite += Number(/^write_bytes: (\d+)$/m.exec(io ?? '')?.[1] ?? 0);
      pids += Number(/^Threads:\s+(\d+)$/m.exec(status ?? '')?.[1] ?? 1);
    }),
  );
  const limit = record.hostConfig?.memory ?? 0;
  return {
    at: Date.now(),
    cpuTicks,
    systemTicks: system.ticks,
    onlineCpus: system.cpus,
    memory,
    memoryLimit: limit > 0 ? Math.min(limit, totalmem()) : totalmem(),
    netRx: network.rx,
    netTx: network.tx,
    blockRead,
    blockWrite,
    pids,
  };
}

/**
 * docker's CPU %: the container's share of the machine's CPU time between two samples, times
 * the CPUs (so one busy thread on a machine of two shows 100 %), as its calculateCPUPercentUnix.
 */
export function cpuPercent(previous: ContainerSample | undefined, current: ContainerSample): number {
  if (previous === undefined) return 0;
  const container = current.cpuTicks - previous.cpuTicks;
  const system = current.systemTicks - previous.systemTicks;
  if (container <= 0 || system <= 0) return 0;
  return (container / system) * current.onlineCpus * 100;
}
