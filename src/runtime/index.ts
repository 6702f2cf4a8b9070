/**
 * Running containers: the OCI runtimes (runtime-shim by default, crun, runc or a path), the
 * config they are given, and `doctor`'s checks of what rootless mode needs.
 */
export { CommandRuntime, ShimRuntime, runtimeError, selectRuntime, shimPath, type ContainerState, type CreateOptions, type OciRuntime, type RunOptions, type RunResult } from './oci-runtime.js';
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
