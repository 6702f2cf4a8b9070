/**
 * Volumes made with a device (`volume create -o type=… -o device=…`) for containers with a
 * record: the monitor mounts them before each start of the container's process and gives them
 * back after each end, so that, as with docker, a missing device fails the start, not the
 * create, and the device stays mounted only while a container uses it.
 */
import type { Store } from '../../store/index.js';
import { registerContainerHooks } from '../container-hooks.js';
import type { ContainerRecord } from '../container.js';
import { mountVolumes, unmountVolumes, volumesUsedBy } from './volume-store.js';

export function registerVolumeHooks(store: Store): void {
  registerContainerHooks({
    name: 'volumes',
    async prepare(record: ContainerRecord) {
      await mountVolumes(store, record.id, await volumesUsedBy(store, record.id));
      return undefined;
    },
    async release(record: ContainerRecord) {
      await unmountVolumes(store, record.id, await volumesUsedBy(store, record.id));
    },
  });
}
