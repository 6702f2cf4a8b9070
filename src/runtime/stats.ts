/**
 * What `stats` shows of a running container, read from the processes of its pid namespace and
 * its network namespace: CPU time, memory, block I/O, tasks, and the bytes through its
 * interfaces. docker reads the same figures from the container's cgroups. The memory is read as
 * docker reads it, from the container's own memory cgroup (its usage without the inactive page
 * cache), where the runtime made one (rootful: every container, runtime-shim/src/cgroup.c);
 * otherwise (an ordinary user has no cgroup delegated on these hosts) the resident memory of its
 * processes stands for it. The rest is summed over the processes, which works rootful and
 * rootless alike: the I/O is what the processes alive now did (and their reaped children, for
 * CPU time).
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
  /** Its memory cgroup's usage without the inactive file cache, else its processes' resident bytes. */
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

/**
 * The memory of the cgroup PID is in, as docker's CLI computes it: usage less the inactive file
 * cache (cgroup v1's total_inactive_file, v2's inactive_file); undefined when PID is in no memory
 * cgroup of its own (the host's root, or the caller's, with no limit of the container's).
 */
async function cgroupMemory(pid: number, id: string): Promise<number | undefined> {
  const lines = ((await readOr(`/proc/${pid}/cgroup`)) ?? '').split('\n');
  const v1 = lines.find((line) => line.split(':')[1]?.split(',').includes('memory'));
  const path = (v1 ?? lines.find((line) => line.startsWith('0::')))?.split(':').slice(2).join(':');
  if (path === undefined || !path.endsWith(`/tsbuild/${id}`)) return undefined;
  const directory = v1 === undefined ? `/sys/fs/cgroup${path}` : `/sys/fs/cgroup/memory${path}`;
  const [usage, stat] = await Promise.all([readOr(`${directory}/${v1 === undefined ? 'memory.current' : 'memory.usage_in_bytes'}`), readOr(`${directory}/memory.stat`)]);
  if (usage === undefined) return undefined;
  const total = Number(usage.trim());
  const inactive = Number(new RegExp(`^${v1 === undefined ? 'inactive_file' : 'total_inactive_file'} (\\d+)$`, 'm').exec(stat ?? '')?.[1] ?? 0);
  return inactive < total ? total - inactive : total;
}

/** A sample of the running container RECORD; undefined when it has no process any more. */
export async function sampleContainer(record: ContainerRecord): Promise<ContainerSample | undefined> {
  const pid = record.state.pid;
  if (pid === undefined) return undefined;
  const processes = await namespaceProcesses(pid);
  if (processes === undefined || processes.length === 0) return undefined;
  const [system, network, ownMemory] = await Promise.all([systemCpu(), networkBytes(pid), cgroupMemory(pid, record.id)]);
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
    memory: ownMemory ?? memory,
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
