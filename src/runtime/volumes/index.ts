/**
 * Volumes and a container's mounts: the volumes kept in the store (`volume create|ls|inspect|rm|prune`),
 * `-v`, `--mount` and `--tmpfs` read into mount requests, and those requests made ready for a
 * container (`prepareMounts`: the OCI mounts, and what to release when it ends; `mountVolumes`:
 * the devices of volumes made with `-o type=… -o device=…`, mounted while a container runs).
 */
export { parseMountFlag, parseTmpfsFlag, parseVolumeFlag, type BindMountRequest, type MountRequest, type Propagation, type TmpfsMountRequest, type VolumeMountRequest } from './mount-flags.js';
export { registerVolumeHooks } from './container-hooks.js';
export { prepareMounts, type PreparedMounts, type PrepareMountsOptions } from './prepare.js';
export {
  anonymousVolumeLabel,
  checkVolumeName,
  createVolume,
  inspectVolume,
  isValidVolumeName,
  listVolumes,
  mountVolumes,
  pruneVolumes,
  releaseContainerVolumes,
  releaseVolumes,
  removeVolume,
  unmountVolumes,
  volumeMountpoint,
  volumesDirectory,
  volumesUsedBy,
  type CreateVolumeOptions,
  type PruneVolumesOptions,
  type VolumeInfo,
  type VolumeSummary,
} from './volume-store.js';
