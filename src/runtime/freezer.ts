/**
 * `pause` and `unpause`: a container's processes stopped and resumed through the cgroup freezer,
 * as runc and crun do it (cgroup v1's freezer controller, or `cgroup.freeze` on the unified
 * hierarchy). The processes are those of the container's pid namespace: they are moved into a
 * cgroup of their own, then frozen; one forked meanwhile is moved in by the next round, and a
 * process moved into a frozen cgroup is frozen on arrival. Where the hierarchy is not writable
 * (an ordinary user without a delegated cgroup) pausing is refused with the reason.
 */
import { existsSync, readdirSync, rmdirSync } from 'node:fs';
import { access, constants, mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TsbuildError, messageOf } from '../common/index.js';
import { namespaceProcesses } from './container.js';

interface Freezer {
  readonly directory: string;
  readonly stateFile: string;
  readonly frozen: string;
  readonly thawed: string;
  /** Whether the kernel reports the cgroup as frozen. */
  isFrozen(): Promise<boolean>;
}

const unified = (): boolean => existsSync('/sys/fs/cgroup/cgroup.controllers');

function freezerOf(id: string, parent: string | undefined): Freezer {
  if (unified()) {
    // The container's own group where the runtime made one (its limits stay with it), else one for freezing alone.
    const own = join('/sys/fs/cgroup', containerCgroupPath(id, parent));
    const directory = existsSync(own) ? own : join('/sys/fs/cgroup', 'tsbuild-freezer', id);
    return {
      directory,
      stateFile: 'cgroup.freeze',
      frozen: '1',
      thawed: '0',
      isFrozen: async () => /^frozen 1$/m.test(await readFile(join(directory, 'cgroup.events'), 'utf8')),
    };
  }
  const directory = join('/sys/fs/cgroup/freezer', containerCgroupPath(id, parent));
  return { directory, stateFile: 'freezer.state', frozen: 'FROZEN', thawed: 'THAWED', isFrozen: async () => (await readFile(join(directory, 'freezer.state'), 'utf8')).trim() === 'FROZEN' };
}

async function members(freezer: Freezer): Promise<Set<number>> {
  const text = await readFile(join(freezer.directory, 'cgroup.procs'), 'utf8').catch(() => '');
  return new Set(text.split('\n').filter((line) => line !== '').map(Number));
}

async function waitFor(condition: () => Promise<boolean>, what: string): Promise<void> {
  const until = Date.now() + 5_000;
  while (!(await condition())) {
    if (Date.now() > until) throw new TsbuildError('RUNTIME', `${what}: the freezer did not settle within 5 s`);
    await sleep(5);
  }
}

/** Freezes every process of the container whose first process is PID. */
export async function freezeContainer(id: string, pid: number, cgroupParent?: string): Promise<void> {
  const freezer = freezerOf(id, cgroupParent);
  const parent = join(freezer.directory, '..');
  try {
    await mkdir(parent, { recursive: true });
    await access(parent, constants.W_OK);
    await mkdir(freezer.directory, { recursive: true });
  } catch (error) {
    throw new TsbuildError('RUNTIME', `pause container ${id}: the cgroup freezer is not writable here (${messageOf(error)}); an ordinary user needs a delegated cgroup v2 hierarchy`, { cause: error });
  }
  try {
    for (let round = 0; round < 20; round++) {
      const inside = await members(freezer);
      const processes = await namespaceProcesses(pid);
      if (processes === undefined) throw new TsbuildError('INVALID_ARGUMENT', `container ${id} is not running`);
      const outside = processes.filter((process) => !inside.has(process));
      if (round > 0 && outside.length === 0) return;
      for (const process of outside) {
        // A process that ended meanwhile cannot be moved, and needs no freezing.
        await writeFile(join(freezer.directory, 'cgroup.procs'), `${process}\n`).catch(() => undefined);
      }
      await writeFile(join(freezer.directory, freezer.stateFile), freezer.frozen);
      await waitFor(() => freezer.isFrozen(), `pause container ${id}`);
    }
    throw new TsbuildError('RUNTIME', `pause container ${id}: its processes kept forking faster than they could be frozen`);
  } catch (error) {
    // A pause that failed leaves nothing frozen: the record does not say paused, so no later
    // stop, kill or rm -f would thaw what it froze, and their signals would wait on it.
    await writeFile(join(freezer.directory, freezer.stateFile), freezer.thawed).catch(() => undefined);
    throw error;
  }
}

/** Resumes the container's frozen processes. */
export async function thawContainer(id: string, cgroupParent?: string): Promise<void> {
  const freezer = freezerOf(id, cgroupParent);
  if (!existsSync(freezer.directory)) return;
  await writeFile(join(freezer.directory, freezer.stateFile), freezer.thawed);
  await waitFor(async () => !(await freezer.isFrozen()), `unpause container ${id}`);
}

/**
 * Removes the container's cgroups once its processes are gone: its freezer, and the groups the
 * runtime placed it in (`tsbuild/ID` of each hierarchy, runtime-shim/src/cgroup.c), which the
 * runtime removes itself unless it was killed first. Nothing where there are none; a group
 * that still holds a process stays (the kernel refuses to remove it).
 */
export async function releaseContainerCgroups(id: string, parent?: string): Promise<void> {
  await rmdir(freezerOf(id, parent).directory).catch(() => undefined);
  const hierarchies = unified() ? [''] : readdirSync('/sys/fs/cgroup', { withFileTypes: true }).filter((entry) => entry.isDirectory()).map((entry) => entry.name);
  for (const hierarchy of hierarchies) {
    try {
      rmdirSync(join('/sys/fs/cgroup', hierarchy, containerCgroupPath(id, parent)));
    } catch {
      // None made there (rootless, or no such hierarchy), or removed already.
    }
  }
}

/**
 * Where the runtime places container ID in each hierarchy: `tsbuild/ID`, or PARENT/ID with
 * `--cgroup-parent`. A relative PARENT is taken from the hierarchy's root as an absolute one:
 * docker puts it under the cgroup of the process that starts runc, the root on hosts where the
 * daemon runs there (`8:pids:/myparent/ID`); tsbuild's monitor may run anywhere.
 */
export function containerCgroupPath(id: string, parent?: string): string {
  // Cleaned as runc's CleanPath: `..` never climbs above the hierarchy's root.
  const cleaned = posix.resolve('/', parent ?? '').slice(1);
  return `${cleaned === '' ? 'tsbuild' : cleaned}/${id}`;
}
