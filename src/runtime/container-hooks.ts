/**
 * Where networks and volumes plug into a container's life without the container code knowing
 * them: each start asks the hooks for extra mounts and a network namespace to join, each end
 * lets them release what they set up, and removal lets them drop what belonged to the container
 * (its anonymous volumes with `rm -v`). Hooks register themselves when their module loads.
 */
import type { ContainerRecord } from './container.js';
import type { MountSpec } from './spec.js';

export interface ContainerStartAdditions {
  readonly mounts?: readonly MountSpec[];
  /** A network namespace path the container joins (`/proc/PID/ns/net`, `/run/netns/NAME`). */
  readonly networkNamespace?: string;
  /** A namespace of its own with loopback alone (a container `network disconnect` took off every network). */
  readonly loopbackOnly?: boolean;
}

export interface ContainerHooks {
  readonly name: string;
  /** Before each start of the container's process, in its monitor. */
  prepare?(record: ContainerRecord): Promise<ContainerStartAdditions | undefined>;
  /** After each end of the container's process (before a restart too), in its monitor. */
  release?(record: ContainerRecord): Promise<void>;
  /** When the container is removed, under its lock. */
  remove?(record: ContainerRecord, options: { readonly volumes: boolean }): Promise<void>;
}

const registered: ContainerHooks[] = [];

export function registerContainerHooks(hooks: ContainerHooks): void {
  if (!registered.some((existing) => existing.name === hooks.name)) registered.push(hooks);
}

export function containerHooks(): readonly ContainerHooks[] {
  return registered;
}
