/**
 * `update` of a container's resources, as docker's daemon does it (daemon/update.go and the
 * container's UpdateContainer): the asked values are checked as `run` checks them, merged into
 * the container's HostConfig, kept for its later starts (the record and spec.json, which the
 * monitor reads at every start), and, while it runs, written into the cgroups the runtime
 * placed it in (`tsbuild/ID` or `--cgroup-parent`/ID of each hierarchy, runtime-shim/src/cgroup.c) in the order runc
 * writes them, so that the kernel never sees a memory limit above the memory-and-swap one.
 */
import { readdirSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TsbuildError, messageOf } from '../common/index.js';
import type { Store } from '../store/index.js';
import { containerDirectory, type ContainerRecord, type HostConfig } from './container.js';
import { findContainer, updateContainer } from './container-store.js';
import { cgroupWritable, checkRealtime, cpuLimits, cpusetOf } from './containers.js';
import { containerCgroupPath } from './freezer.js';
import type { ContainerSpec } from './spec.js';

/** A container's resources as `create` and `update` take them; absent: unchanged (update) or none (create). */
export interface ResourceUpdate {
  /** Bytes (at least 6 MB). */
  readonly memory?: number;
  /** Memory and swap together, bytes; -1 unlimited swap. */
  readonly memorySwap?: number;
  readonly memoryReservation?: number;
  /** Billionths of a CPU (`--cpus`). */
  readonly nanoCpus?: number;
  readonly cpuShares?: number;
  readonly cpuPeriod?: number;
  /** Microseconds. */
  readonly cpuQuota?: number;
  /** CPU and memory node lists, as `0-3,5`. */
  readonly cpusetCpus?: string;
  readonly cpusetMems?: string;
  /** 0 or less: unlimited (docker's API takes either for an update). */
  readonly pidsLimit?: number;
  /** Microseconds: the cpu cgroup's cpu.rt_period_us and cpu.rt_runtime_us. */
  readonly cpuRealtimePeriod?: number;
  readonly cpuRealtimeRuntime?: number;
}

type ResourceFields = Pick<HostConfig, 'memory' | 'memorySwap' | 'memoryReservation' | 'nanoCpus' | 'cpuShares' | 'cpuPeriod' | 'cpuQuota' | 'cpusetCpus' | 'cpusetMems' | 'pidsLimit' | 'cpuRealtimePeriod' | 'cpuRealtimeRuntime'>;

const megabytes6 = 6 * 1024 * 1024;

/** The checks docker's daemon makes of an update's own values (verifyPlatformContainerResources with update set). */
function checkRequest(update: ResourceUpdate): void {
  const memory = update.memory ?? 0;
  const swap = update.memorySwap ?? 0;
  const reservation = update.memoryReservation ?? 0;
  if (memory > 0 && memory < megabytes6) throw new TsbuildError('INVALID_ARGUMENT', 'Minimum memory limit allowed is 6MB');
  if (memory > 0 && swap > 0 && swap < memory) throw new TsbuildError('INVALID_ARGUMENT', 'Minimum memoryswap limit should be larger than memory limit, see usage');
  if (reservation > 0 && reservation < megabytes6) throw new TsbuildError('INVALID_ARGUMENT', 'Minimum memory reservation allowed is 6MB');
  if (memory > 0 && reservation > 0 && memory < reservation) throw new TsbuildError('INVALID_ARGUMENT', 'Minimum memory limit can not be less than memory reservation limit, see usage');
  if ((update.nanoCpus ?? 0) > 0 && ((update.cpuPeriod ?? 0) > 0 || (update.cpuQuota ?? 0) > 0)) {
    throw new TsbuildError('INVALID_ARGUMENT', 'Conflicting options: Nano CPUs and CPU Period cannot both be set');
  }
  checkRealtime(update);
}

/** The update merged into the current values, refused where docker's UpdateContainer refuses it. */
function merged(current: HostConfig, update: ResourceUpdate, id: string): ResourceFields {
  const refuse = (message: string): never => {
    throw new TsbuildError('INVALID_ARGUMENT', `Cannot update container ${id}: ${message}`);
  };
  // --cpus stands for a period and a quota: one kind set, the other cannot be added.
  if ((update.nanoCpus ?? 0) > 0 && (current.cpuPeriod ?? 0) > 0) refuse('Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set');
  if ((update.nanoCpus ?? 0) > 0 && (current.cpuQuota ?? 0) > 0) refuse('Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set');
  if ((update.cpuPeriod ?? 0) > 0 && (current.nanoCpus ?? 0) > 0) refuse('Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set');
  if ((update.cpuQuota ?? 0) > 0 && (current.nanoCpus ?? 0) > 0) refuse('Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set');
  const memory = update.memory ?? 0;
  if (memory !== 0 && memory > (current.memorySwap ?? 0) && (update.memorySwap ?? 0) === 0) {
    refuse('Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time');
  }
  const pick = <K extends keyof ResourceFields>(key: K, value: ResourceFields[K] | undefined, changed: boolean): Partial<ResourceFields> => (changed ? { [key]: value } : current[key] === undefined ? {} : { [key]: current[key] });
  return {
    memory: memory !== 0 ? memory : current.memory,
    pidsLimit: update.pidsLimit === undefined ? current.pidsLimit : Math.max(0, update.pidsLimit),
    ...pick('memorySwap', update.memorySwap, (update.memorySwap ?? 0) !== 0),
    ...pick('memoryReservation', update.memoryReservation, (update.memoryReservation ?? 0) !== 0),
    ...pick('nanoCpus', update.nanoCpus, (update.nanoCpus ?? 0) !== 0),
    ...pick('cpuShares', update.cpuShares, (update.cpuShares ?? 0) !== 0),
    ...pick('cpuPeriod', update.cpuPeriod, (update.cpuPeriod ?? 0) !== 0),
    ...pick('cpuQuota', update.cpuQuota, (update.cpuQuota ?? 0) !== 0),
    ...pick('cpusetCpus', update.cpusetCpus, (update.cpusetCpus ?? '') !== ''),
    ...pick('cpusetMems', update.cpusetMems, (update.cpusetMems ?? '') !== ''),
    ...pick('cpuRealtimePeriod', update.cpuRealtimePeriod, (update.cpuRealtimePeriod ?? 0) !== 0),
    ...pick('cpuRealtimeRuntime', update.cpuRealtimeRuntime, (update.cpuRealtimeRuntime ?? 0) !== 0),
  } as ResourceFields;
}

/** The runtime's limits (the spec's fields) for a HostConfig's resources. */
function specLimits(resources: ResourceFields): Pick<ContainerSpec, 'memoryLimit' | 'memorySwap' | 'memoryReservation' | 'pidsLimit' | 'cpu'> {
  const cpu = {
    ...cpuLimits(resources),
    ...(resources.cpusetCpus === undefined ? {} : { cpus: resources.cpusetCpus }),
    ...(resources.cpusetMems === undefined ? {} : { mems: resources.cpusetMems }),
  };
  return {
    ...(resources.memory > 0 ? { memoryLimit: resources.memory } : {}),
    ...(resources.memory > 0 && (resources.memorySwap ?? 0) !== 0 ? { memorySwap: resources.memorySwap } : {}),
    ...((resources.memoryReservation ?? 0) > 0 ? { memoryReservation: resources.memoryReservation } : {}),
    ...(resources.pidsLimit > 0 ? { pidsLimit: resources.pidsLimit } : {}),
    ...(Object.keys(cpu).length === 0 ? {} : { cpu }),
  };
}

/** The container's own group (GROUP: `tsbuild/ID`, or PARENT/ID) of the v1 hierarchy holding CONTROLLER, or of the unified one. */
function groupOf(group: string, controller: string): string | undefined {
  try {
    if (readdirSync('/sys/fs/cgroup').includes('cgroup.controllers')) return join('/sys/fs/cgroup', group);
    const hierarchy = readdirSync('/sys/fs/cgroup', { withFileTypes: true }).find((entry) => entry.isDirectory() && entry.name.split(',').includes(controller));
    return hierarchy === undefined ? undefined : join('/sys/fs/cgroup', hierarchy.name, group);
  } catch {
    return undefined;
  }
}

async function write(group: string | undefined, file: string, value: string): Promise<void> {
  if (group === undefined) throw new TsbuildError('RUNTIME', `no cgroup of the container holds ${file}`);
  await writeFile(join(group, file), value).catch((error: unknown) => {
    throw new TsbuildError('RUNTIME', `${join(group, file)}: ${messageOf(error)}`);
  });
}

/** Writes the changed limits into the running container's cgroups, as runc's `update` does. */
async function applyToCgroups(id: string, update: ResourceUpdate, resources: ResourceFields, parent: string | undefined): Promise<void> {
  const group = containerCgroupPath(id, parent);
  const unified = readdirSync('/sys/fs/cgroup').includes('cgroup.controllers');
  const limits = specLimits(resources);
  const memoryGroup = groupOf(group, 'memory');
  if ((update.memory ?? 0) > 0 || (update.memorySwap ?? 0) !== 0) {
    const memory = resources.memory > 0 ? String(resources.memory) : unified ? 'max' : '-1';
    const swap = resources.memorySwap ?? 0;
    if (unified) {
      if ((update.memory ?? 0) > 0) await write(memoryGroup, 'memory.max', memory);
      if (swap !== 0) await write(memoryGroup, 'memory.swap.max', swap === -1 ? 'max' : String(Math.max(0, swap - resources.memory)));
    } else {
      // The kernel keeps memory at or below memory and swap together: raising both writes the
      // total first, lowering them the memory first (runc's setMemoryAndSwap).
      const current = Number((await readFile(join(memoryGroup ?? '', 'memory.limit_in_bytes'), 'utf8').catch(() => '0')).trim());
      const swapFirst = swap === -1 || (swap > 0 && current < swap);
      const hasSwapAccounting = await readFile(join(memoryGroup ?? '', 'memory.memsw.limit_in_bytes'), 'utf8').then(
        () => true,
        () => false,
      );
      const writeSwap = async (): Promise<void> => {
        if (swap !== 0 && hasSwapAccounting) await write(memoryGroup, 'memory.memsw.limit_in_bytes', String(swap));
      };
      const writeMemory = async (): Promise<void> => {
        if ((update.memory ?? 0) > 0) await write(memoryGroup, 'memory.limit_in_bytes', memory);
      };
      if (swapFirst) {
        await writeSwap();
        await writeMemory();
      } else {
        await writeMemory();
        await writeSwap();
      }
    }
  }
  if ((update.memoryReservation ?? 0) > 0) await write(memoryGroup, unified ? 'memory.low' : 'memory.soft_limit_in_bytes', String(update.memoryReservation));
  if (update.pidsLimit !== undefined) await write(groupOf(group, 'pids'), 'pids.max', update.pidsLimit > 0 ? String(update.pidsLimit) : 'max');
  const cpuGroup = groupOf(group, 'cpu');
  const cpu = limits.cpu;
  if ((update.nanoCpus ?? 0) > 0 || (update.cpuPeriod ?? 0) > 0 || (update.cpuQuota ?? 0) > 0) {
    const period = cpu?.period ?? 100_000;
    if (unified) await write(cpuGroup, 'cpu.max', `${cpu?.quota === undefined ? 'max' : cpu.quota} ${period}`);
    else {
      await write(cpuGroup, 'cpu.cfs_period_us', String(period));
      await write(cpuGroup, 'cpu.cfs_quota_us', String(cpu?.quota ?? -1));
    }
  }
  if ((update.cpuShares ?? 0) > 0) {
    const shares = update.cpuShares ?? 0;
    // runc's conversion of v1 shares (2-262144) to the unified hierarchy's weight (1-10000).
    await write(cpuGroup, unified ? 'cpu.weight' : 'cpu.shares', unified ? String(1 + Math.floor(((shares - 2) * 9999) / 262142)) : String(shares));
  }
  // The period first, as runc writes them: a runtime above the current period is refused.
  if ((update.cpuRealtimePeriod ?? 0) > 0) await write(cpuGroup, 'cpu.rt_period_us', String(update.cpuRealtimePeriod));
  if ((update.cpuRealtimeRuntime ?? 0) !== 0) await write(cpuGroup, 'cpu.rt_runtime_us', String(update.cpuRealtimeRuntime));
  const cpusetGroup = groupOf(group, 'cpuset');
  if ((update.cpusetCpus ?? '') !== '') await write(cpusetGroup, 'cpuset.cpus', update.cpusetCpus ?? '');
  if ((update.cpusetMems ?? '') !== '') await write(cpusetGroup, 'cpuset.mems', update.cpusetMems ?? '');
}

/**
 * Changes a container's resources: checked, kept for its later starts and, while it runs,
 * applied at once. Returns docker's warnings for limits this host cannot apply (discarded, as
 * `run` discards them).
 */
export async function updateContainerResources(store: Store, nameOrId: string, asked: ResourceUpdate): Promise<{ record: ContainerRecord; warnings: string[] }> {
  checkRequest(asked);
  const warnings: string[] = [];
  // Checked as run checks them (lists it can read, CPUs and nodes the machine has); kept as given.
  await cpusetOf(asked);
  let update: ResourceUpdate = { ...asked };
  const discard = (keys: readonly (keyof ResourceUpdate)[], warning: string): void => {
    if (!keys.some((key) => update[key] !== undefined)) return;
    warnings.push(warning);
    update = Object.fromEntries(Object.entries(update).filter(([key]) => !(keys as readonly string[]).includes(key))) as ResourceUpdate;
  };
  if (!(await cgroupWritable('memory'))) discard(['memory', 'memorySwap', 'memoryReservation'], 'Your kernel does not support memory limit capabilities or the cgroup is not mounted (or not writable here). Limitation discarded.');
  if (!(await cgroupWritable('pids'))) discard(['pidsLimit'], 'Your kernel does not support pids limit capabilities or the cgroup is not mounted (or not writable here). PIDs limit discarded.');
  if (!(await cgroupWritable('cpu'))) discard(['nanoCpus', 'cpuShares', 'cpuPeriod', 'cpuQuota', 'cpuRealtimePeriod', 'cpuRealtimeRuntime'], 'Your kernel does not support CPU CFS scheduler or the cgroup is not mounted (or not writable here). CPU limits discarded.');
  if (!(await cgroupWritable('cpuset'))) discard(['cpusetCpus', 'cpusetMems'], 'Your kernel does not support cpuset or the cgroup is not mounted (or not writable here). Cpuset discarded.');
  const found = await findContainer(store, nameOrId);
  const record = await updateContainer(store, found.id, async (current) => {
    if (current.hostConfig === undefined) throw new TsbuildError('INVALID_ARGUMENT', `container ${current.id} has no resources to change (a foreground run --rm)`);
    const resources = merged(current.hostConfig, update, current.id);
    // Applied first: what the kernel refuses changes nothing kept.
    if (current.state.status === 'running' || current.state.status === 'paused') {
      await applyToCgroups(current.id, update, resources, current.hostConfig.cgroupParent).catch((error: unknown) => {
        throw new TsbuildError('RUNTIME', `Cannot update container ${current.id}: ${messageOf(error)}`);
      });
    }
    const specFile = join(containerDirectory(store, current.id), 'spec.json');
    const spec = JSON.parse(await readFile(specFile, 'utf8')) as ContainerSpec;
    const { memoryLimit: _memory, memorySwap: _swap, memoryReservation: _reservation, pidsLimit: _pids, cpu: _cpu, ...unlimited } = spec;
    // The monitor reads spec.json at each start: a whole file or the one before, never half.
    await writeFile(`${specFile}.update`, `${JSON.stringify({ ...unlimited, ...specLimits(resources) }, null, 2)}\n`, { mode: 0o600 });
    await rename(`${specFile}.update`, specFile);
    return { ...current, hostConfig: { ...current.hostConfig, ...resources } };
  });
  return { record, warnings };
}
