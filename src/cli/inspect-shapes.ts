/**
 * The Go structs docker's CLI decodes `inspect` documents into (API 1.45, docker 26), as far as
 * a template tells them apart from maps: a field the struct has not fails, and docker then runs
 * the template on the raw JSON with `missingkey=error`; a field the JSON leaves out
 * (`omitempty`) is there with Go's zero value; `ID` answers as `Id` does. Members left without a
 * shape (NetworkSettings, an image's own fields) are taken as maps: a missing one prints
 * `<no value>`.
 */
import { GoNilPointer, nilMap, nilSlice, type GoShape } from './go-template.js';

/** container.Config: a container's Config, and an image's. */
export const containerConfigShape: GoShape = {
  typeName: 'container.Config',
  zeros: {
    ExposedPorts: nilMap,
    Healthcheck: new GoNilPointer('*container.HealthConfig'),
    ArgsEscaped: false,
    NetworkDisabled: false,
    MacAddress: '',
    StopSignal: '',
    StopTimeout: new GoNilPointer('*int'),
    Shell: nilSlice,
    Env: nilSlice,
    Cmd: nilSlice,
    Entrypoint: nilSlice,
    OnBuild: nilSlice,
    Volumes: nilMap,
    Labels: nilMap,
  },
  stringMaps: ['Labels'],
};

/** container.HostConfig, with its embedded Resources. */
const hostConfigShape: GoShape = {
  typeName: 'container.HostConfig',
  zeros: {
    Annotations: nilMap,
    StorageOpt: nilMap,
    Tmpfs: nilMap,
    Sysctls: nilMap,
    Runtime: '',
    KernelMemory: 0,
    KernelMemoryTCP: 0,
    Mounts: nilSlice,
    Init: new GoNilPointer('*bool'),
    MemorySwappiness: new GoNilPointer('*int64'),
    PidsLimit: new GoNilPointer('*int64'),
    OomKillDisable: new GoNilPointer('*bool'),
    Binds: nilSlice,
    VolumesFrom: nilSlice,
    Links: nilSlice,
    CapAdd: nilSlice,
    CapDrop: nilSlice,
    ExtraHosts: nilSlice,
    GroupAdd: nilSlice,
    SecurityOpt: nilSlice,
    Devices: nilSlice,
    DeviceCgroupRules: nilSlice,
    DeviceRequests: nilSlice,
    Ulimits: nilSlice,
    MaskedPaths: nilSlice,
    ReadonlyPaths: nilSlice,
    BlkioWeightDevice: nilSlice,
    BlkioDeviceReadBps: nilSlice,
    BlkioDeviceWriteBps: nilSlice,
    BlkioDeviceReadIOps: nilSlice,
    BlkioDeviceWriteIOps: nilSlice,
    PortBindings: nilMap,
  },
  goNames: {
    DNS: 'Dns',
    DNSOptions: 'DnsOptions',
    DNSSearch: 'DnsSearch',
    CPUShares: 'CpuShares',
    NanoCPUs: 'NanoCpus',
    CPUPeriod: 'CpuPeriod',
    CPUQuota: 'CpuQuota',
    CPURealtimePeriod: 'CpuRealtimePeriod',
    CPURealtimeRuntime: 'CpuRealtimeRuntime',
    CPUCount: 'CpuCount',
    CPUPercent: 'CpuPercent',
  },
  fields: { RestartPolicy: { typeName: 'container.RestartPolicy' }, LogConfig: { typeName: 'container.LogConfig', stringMaps: ['Config'] } },
  stringMaps: ['Sysctls', 'Tmpfs', 'Annotations', 'StorageOpt'],
};

/** types.ContainerJSON. */
export const containerShape: GoShape = {
  typeName: 'types.ContainerJSON',
  zeros: { Node: new GoNilPointer('*types.ContainerNode'), SizeRw: new GoNilPointer('*int64'), SizeRootFs: 0, Args: nilSlice, ExecIDs: nilSlice },
  goNames: { ID: 'Id' },
  fields: {
    State: { typeName: '*types.ContainerState', zeros: { Health: new GoNilPointer('*types.Health') }, fields: { Health: { typeName: '*types.Health' } } },
    HostConfig: hostConfigShape,
    GraphDriver: { typeName: 'types.GraphDriverData', stringMaps: ['Data'] },
    Config: containerConfigShape,
  },
};

/**
 * types.ImageInspect, of which tsbuild's document has not every field (GraphDriver, Metadata)
 * and more (the manifest, the image as stored): a map above its Config.
 */
export const imageShape: GoShape = { fields: { Config: containerConfigShape } };

/** network.Inspect. */
export const networkShape: GoShape = {
  typeName: 'network.Inspect',
  zeros: { Peers: nilSlice, Services: nilMap, Containers: nilMap, Options: nilMap, Labels: nilMap },
  goNames: { ID: 'Id' },
  fields: { IPAM: { typeName: 'network.IPAM', zeros: { Options: nilMap, Config: nilSlice }, stringMaps: ['Options'] }, ConfigFrom: { typeName: 'network.ConfigReference' } },
  stringMaps: ['Options', 'Labels'],
};

/** volume.Volume. */
export const volumeShape: GoShape = {
  typeName: 'volume.Volume',
  zeros: { ClusterVolume: new GoNilPointer('*volume.ClusterVolume'), CreatedAt: '', Status: nilMap, UsageData: new GoNilPointer('*volume.UsageData'), Labels: nilMap, Options: nilMap },
  stringMaps: ['Labels', 'Options'],
};
