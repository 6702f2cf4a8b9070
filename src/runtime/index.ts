/**
 * Running containers: the OCI runtimes (runtime-shim by default, crun, runc or a path), the
 * config they are given, and `doctor`'s checks of what rootless mode needs.
 */
export { CommandRuntime, ShimRuntime, runtimeError, selectRuntime, shimPath, type AttachedStreams, type ContainerState, type CreateOptions, type OciRuntime, type RunOptions, type RunResult, type ShimError } from './oci-runtime.js';
export {
  defaultCapabilities,
  defaultMaskedPaths,
  defaultReadonlyPaths,
  generateConfig,
  hardLimit,
  rootlessMappings,
  subordinateRange,
  userNamespaceSize,
  type ContainerSpec,
  type IdMapping,
  type MountSpec,
  type NamespaceType,
} from './spec.js';
export { runDoctor, type DoctorCheck, type DoctorOptions } from './doctor.js';
export {
  containerCommand,
  containerEnvironment,
  lookupEnv,
  parseEnvFile,
  runContainer,
  runFailureStatus,
  type RunContainerOptions,
  type RunContainerResult,
  type RunningContainer,
} from './run.js';
export { containerDirectory, containersDirectory, readContainerRecord, removeAbandonedContainers, type ContainerRecord, type ContainerStatus, type NetworkMode } from './container.js';
export { lookupUser, resolvePathInRoot, resolveUser, type ContainerUser, type ContainerUserEntry } from './user.js';
export { rawTerminalOutput, type TerminalSize } from './terminal.js';
export { mountOverlay, unmount } from './native.js';
export {
  attachContainer,
  connectContainer,
  createNetwork,
  detachContainer,
  disconnectContainer,
  exposedPortSpecs,
  findNetwork,
  getNetwork,
  networks,
  parsePortSpec,
  pruneNetworks,
  publishPorts,
  removeNetwork,
  type AttachOptions,
  type NetworkAttachment,
  type NetworkRecord,
  type PortProxies,
  type PortSpec,
  type PublishedPort,
} from './network/index.js';
