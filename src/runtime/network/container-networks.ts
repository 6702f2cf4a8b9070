/**
 * `network connect` and `network disconnect` as docker's daemon takes them: a running
 * container is joined to (or taken off) the network at once, and in every state the change is
 * kept in its record (`config.networks`), which its next start follows. A container that does
 * not run is only recorded, as docker 26 does: the network is looked for, and its settings
 * checked, when it starts.
 */
import { TsbuildError } from '../../common/index.js';
import type { Store } from '../../store/index.js';
import { containerNetworks, type ContainerNetwork, type ContainerRecord } from '../container.js';
import { findContainer, observeState, updateContainer } from '../container-store.js';
import { connectContainer, disconnectContainer } from './attach.js';
import { defaultNetworkName, findNetwork } from './state.js';

/** The name a reference to a network is kept under: the network's own when it exists (an ID or prefix resolved), else as given. */
async function networkName(store: Store, reference: string): Promise<string> {
  if (reference === defaultNetworkName || reference === 'default') return defaultNetworkName;
  return (await findNetwork(store, reference))?.name ?? reference;
}

async function recordNetworks(store: Store, id: string, change: (networks: readonly ContainerNetwork[]) => readonly ContainerNetwork[]): Promise<void> {
  await updateContainer(store, id, (current: ContainerRecord) => ({ ...current, config: { ...current.config, networks: change(containerNetworks(current)) } }));
}

/** `network connect [--alias A] [--ip IP] NETWORK CONTAINER`. */
export async function connectContainerNetwork(store: Store, reference: string, container: string, options: { readonly aliases?: readonly string[]; readonly ip?: string } = {}): Promise<void> {
  const record = await findContainer(store, container);
  const name = await networkName(store, reference);
  const aliases = options.aliases ?? [];
  if ((await observeState(record)).running) {
    // Taken off every network, it runs in a namespace of its own that no endpoint leads to.
    const alone = containerNetworks(record).length === 0 && record.state.pid !== undefined ? { id: record.id, path: `/proc/${record.state.pid}/ns/net`, ...(record.name === undefined ? {} : { name: record.name }) } : undefined;
    await connectContainer(store, reference, record.id, aliases, options.ip, alone);
  }
  // Connected again while stopped: docker takes the new settings.
  await recordNetworks(store, record.id, (networks) => [...networks.filter((network) => network.name !== name), { name, aliases, ...(options.ip === undefined ? {} : { ip: options.ip }) }]);
}

/** `network disconnect NETWORK CONTAINER`. */
export async function disconnectContainerNetwork(store: Store, reference: string, container: string): Promise<void> {
  const record = await findContainer(store, container);
  const name = await networkName(store, reference);
  if ((await observeState(record)).running) {
    await disconnectContainer(store, reference, record.id);
  } else if (!containerNetworks(record).some((network) => network.name === name)) {
    // docker names the container by its whole ID when it is not on the network.
    throw new TsbuildError('NOT_FOUND', `container ${record.id} is not connected to the network ${name}`);
  }
  await recordNetworks(store, record.id, (networks) => networks.filter((network) => network.name !== name));
}
