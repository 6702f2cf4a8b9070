/**
 * Running containers: the OCI runtimes (runtime-shim by default, crun, runc or a path), the
 * config they are given, and `doctor`'s checks of what rootless mode needs.
 */
export { CommandRuntime, ShimRuntime, runtimeError, selectRuntime, shimPath, type AttachedStreams, type ContainerState, type CreateOptions, type OciRuntime, type RunOptions, type RunResult, type ShimError } from './oci-runtime.js';
export {
  defaultCapabilities,
  heldCapabilities,
  capabilityNames,
  defaultMaskedPaths,
  defaultReadonlyPaths,
  generateConfig,
  hardLimit,
  rootlessMappings,
  rootlessUnshareOptions,
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
  containerConfigEnv,
  containerEnvironment,
  overrideEnvironment,
  lookupEnv,
  parseEnvFile,
  runContainer,
  runFailureStatus,
  type RunContainerOptions,
  type RunContainerResult,
  type RunningContainer,
} from './run.js';
export {
  containerDirectory,
  containerNetworks,
  containersDirectory,
  ownerAlive,
  sharesNamespace,
  readContainerRecord,
  removeAbandonedContainers,
  writableLayerSize,
  type ContainerNetwork,
  type ContainerOwner,
  type AttachConfig,
  type ContainerRecord,
  type ContainerStatus,
  type DeviceRequest,
  type HealthcheckConfig,
  type HealthState,
  type HostConfig,
  type NetworkMode,
  type RestartPolicy,
} from './container.js';
export { findContainer, listContainerRecords, observeState, updateContainer, type ObservedState } from './container-store.js';
export { updateContainerResources, type ResourceUpdate } from './container-update.js';
export { copyFromContainer, copyToContainer, copyPlacement, type ContainerCopyOptions, type CopyResult, type CopySource, type CopyTarget } from './container-copy.js';
export { registerContainerHooks, type ContainerHooks, type ContainerStartAdditions } from './container-hooks.js';
export { parseLogConfig, readLog, type LogConfig, type LogEntry, type ReadLogOptions } from './container-log.js';
export {
  createContainer,
  killContainer,
  normalizeSignal,
  pruneContainers,
  removeContainer,
  removeContainerLink,
  renameContainer,
  specForStart,
  startContainer,
  stopContainer,
  pauseContainer,
  unpauseContainer,
  waitContainer,
  type CreateContainerOptions,
  type CreatedContainer,
  type StartContainerOptions,
} from './containers.js';
export { commitContainer, containerChanges, containerImage, exportContainer, mergeCommitConfig, type CommitOptions, type CommittedImage, type ContainerChange } from './container-changes.js';
export { superviseContainer, type SuperviseOptions } from './monitor.js';
export { execEnvironment, execInContainer, topOfContainer, waitDetachedExec, type ExecOptions, type ExecResult } from './exec.js';
export { lookupUser, resolvePathInRoot, resolveUser, type ContainerUser, type ContainerUserEntry } from './user.js';
export { rawTerminalOutput, type TerminalSize } from './terminal.js';
export { mountOverlay, mountReadOnlyOverlay, unmount } from './native.js';
export {
  createVolume,
  inspectVolume,
  isValidVolumeName,
  listVolumes,
  parseMountFlag,
  parseTmpfsFlag,
  parseVolumeFlag,
  prepareMounts,
  pruneVolumes,
  releaseContainerVolumes,
  releaseVolumes,
  removeVolume,
  volumesDirectory,
  volumesUsedBy,
  type MountRequest,
  type PreparedMounts,
  type VolumeInfo,
  type VolumeSummary,
} from './volumes/index.js';
export {
  attachContainer,
  connectContainer,
  connectContainerNetwork,
  createNetwork,
  detachContainer,
  disconnectContainer,
  disconnectContainerNetwork,
  exposedPortSpecs,
  hostNetworkPortsWarning,
  findNetwork,
  getNetwork,
  networks,
  parseMacAddress,
  parsePortSpec,
  pruneNetworks,
  publishPorts,
  removeNetwork,
  rootlessUserNamespace,
  startRootlessNamespaceFromHost,
  stopUnusedRootlessNamespace,
  type AttachOptions,
  type NetworkAttachment,
  type NetworkRecord,
  type PortProxies,
  type PortSpec,
  type PublishedPort,
} from './network/index.js';
export { addHostLine, containerCapabilities, parseUlimit, rlimitsOf, ulimitRlimits, type SecurityOptions, type Ulimit } from './security-options.js';
export { cpuPercent, sampleContainer, type ContainerSample } from './stats.js';
export { AttachServer, DetachKeyMatcher, connectAttach, parseDetachKeys, type AttachedClient, type AttachStreams } from './attach.js';
export { ociBlockIO, parseThrottleBpsDevice, parseThrottleIOpsDevice, parseWeightDevice, supportedBlockIODevices, type BlockIODevices, type OciBlockIO, type ThrottleDevice, type WeightDevice } from './blkio.js';
export { recordContainerEvent } from './events.js';
