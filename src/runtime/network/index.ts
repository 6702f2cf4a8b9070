/** Networks of containers: see README.md in src/runtime. */
export { exposedPortSpecs, hostNetworkPortsWarning, parseMacAddress, parsePortSpec, portsToPublish, parseSubnet, formatSubnet, type PortSpec, type Protocol, type Subnet } from './address.js';
export {
  attachContainer,
  builtinNetworks,
  canManageNetworks,
  connectContainer,
  createNetwork,
  detachContainer,
  disconnectContainer,
  joinAnotherNetwork,
  networks,
  pruneNetworks,
  releaseAbandonedEndpoints,
  removeNetwork,
  type AttachOptions,
  type CreateNetworkOptions,
  type NetworkAttachment,
} from './attach.js';
export { connectContainerNetwork, disconnectContainerNetwork } from './container-networks.js';
export { removeLinkHostsEntry } from './container-hooks.js';
export { containerTag, networkTag, rulesTagged } from './host.js';
export { rootlessUserNamespace, startRootlessNamespaceFromHost, stopUnusedRootlessNamespace } from './rootless-netns.js';
export { publishPorts, type PortProxies, type PublishedPort } from './ports.js';
export { defaultNetworkName, findNetwork, getNetwork, namespacePath, networksDirectory, type Endpoint, type NetworkRecord } from './state.js';
