// The Docker Engine API's request types (moby api/types), as gojson.ts needs them to decode a body
// the way the Engine does: every field of the structs a check reads, its JSON name, its kind, and
// whether it is a pointer. Fields no check reads are typed `any`, which decodes a value whole.
// Written from moby's api/types (container/config.go, container/host_config.go, mount/mount.go,
// swarm/service.go, swarm/task.go, swarm/container.go, types/configs.go).

import { struct, type GoType } from './gojson.js';

const any: GoType = { k: 'any' };
const bool: GoType = { k: 'bool' };
const boolPtr: GoType = { k: 'bool', ptr: true };
const str: GoType = { k: 'string' };
const int: GoType = { k: 'int' };
const intPtr: GoType = { k: 'int', ptr: true };
const uint: GoType = { k: 'uint' };
const uintPtr: GoType = { k: 'uint', ptr: true };
const strings: GoType = { k: 'slice', elem: str };
const strslice: GoType = { k: 'strslice' };
const stringMap: GoType = { k: 'map', elem: str };
const sliceOf = (elem: GoType): GoType => ({ k: 'slice', elem });
const mapOf = (elem: GoType): GoType => ({ k: 'map', elem });

const HealthConfig = struct(
  { Test: strings, Interval: int, Timeout: int, StartPeriod: int, StartInterval: int, Retries: int },
  true,
);

/** mount.Mount, in HostConfig.Mounts and ContainerSpec.Mounts. */
const Mount = struct({
  Type: str,
  Source: str,
  Target: str,
  ReadOnly: bool,
  Consistency: str,
  BindOptions: struct(
    {
      Propagation: str,
      NonRecursive: bool,
      CreateMountpoint: bool,
      ReadOnlyNonRecursive: bool,
      ReadOnlyForceRecursive: bool,
    },
    true,
  ),
  VolumeOptions: struct({ NoCopy: bool, Labels: stringMap, Subpath: str, DriverConfig: any }, true),
  TmpfsOptions: struct({ SizeBytes: int, Mode: uint, Options: any }, true),
  ClusterOptions: any,
});

/** container.Resources: embedded in HostConfig (its fields are HostConfig's) and in UpdateConfig. */
const RESOURCES: Readonly<Record<string, GoType>> = {
  CpuShares: int,
  Memory: int,
  NanoCpus: int,
  CgroupParent: str,
  BlkioWeight: uint,
  BlkioWeightDevice: any,
  BlkioDeviceReadBps: any,
  BlkioDeviceWriteBps: any,
  BlkioDeviceReadIOps: any,
  BlkioDeviceWriteIOps: any,
  CpuPeriod: int,
  CpuQuota: int,
  CpuRealtimePeriod: int,
  CpuRealtimeRuntime: int,
  CpusetCpus: str,
  CpusetMems: str,
  Devices: sliceOf(struct({ PathOnHost: str, PathInContainer: str, CgroupPermissions: str })),
  DeviceCgroupRules: strings,
  DeviceCgroupPermissions: any,
  DeviceRequests: sliceOf(
    struct({
      Driver: str,
      Count: int,
      DeviceIDs: strings,
      Capabilities: sliceOf(strings),
      Options: stringMap,
    }),
  ),
  KernelMemory: int,
  KernelMemoryTCP: int,
  MemoryReservation: int,
  MemorySwap: int,
  MemorySwappiness: intPtr,
  OomKillDisable: boolPtr,
  PidsLimit: intPtr,
  Ulimits: any,
  CpuCount: int,
  CpuPercent: int,
  IOMaximumIOps: uint,
  IOMaximumBandwidth: uint,
};

const RestartPolicy = struct({ Name: str, MaximumRetryCount: int });

const HostConfig = struct(
  {
    Binds: strings,
    ContainerIDFile: str,
    LogConfig: struct({ Type: str, Config: stringMap }),
    NetworkMode: str,
    PortBindings: mapOf(sliceOf(struct({ HostIp: str, HostPort: str }))),
    RestartPolicy,
    AutoRemove: bool,
    VolumeDriver: str,
    VolumesFrom: strings,
    CapAdd: strslice,
    CapDrop: strslice,
    CgroupnsMode: str,
    Dns: strings,
    DnsOptions: strings,
    DnsSearch: strings,
    ExtraHosts: strings,
    GroupAdd: strings,
    IpcMode: str,
    Cgroup: str,
    Links: strings,
    OomScoreAdj: int,
    PidMode: str,
    Privileged: bool,
    PublishAllPorts: bool,
    ReadonlyRootfs: bool,
    SecurityOpt: strings,
    StorageOpt: stringMap,
    Tmpfs: stringMap,
    UTSMode: str,
    UsernsMode: str,
    ShmSize: int,
    Sysctls: stringMap,
    Runtime: str,
    ConsoleSize: sliceOf(uint),
    Isolation: str,
    ...RESOURCES,
    Mounts: sliceOf(Mount),
    MaskedPaths: strings,
    ReadonlyPaths: strings,
    Init: boolPtr,
    Annotations: stringMap,
  },
  true,
);

/** POST /containers/create: container.Config with HostConfig and NetworkingConfig beside it. */
export const CONTAINER_CREATE = struct({
  Hostname: str,
  Domainname: str,
  User: str,
  AttachStdin: bool,
  AttachStdout: bool,
  AttachStderr: bool,
  ExposedPorts: mapOf(any),
  Tty: bool,
  OpenStdin: bool,
  StdinOnce: bool,
  Env: strings,
  Cmd: strslice,
  Healthcheck: HealthConfig,
  ArgsEscaped: bool,
  Image: str,
  Volumes: mapOf(any),
  WorkingDir: str,
  Entrypoint: strslice,
  NetworkDisabled: bool,
  MacAddress: str,
  OnBuild: strings,
  Labels: stringMap,
  StopSignal: str,
  StopTimeout: intPtr,
  Shell: strslice,
  HostConfig,
  NetworkingConfig: struct({ EndpointsConfig: mapOf(any) }, true),
});

/** POST /containers/{id}/update: container.UpdateConfig. */
export const CONTAINER_UPDATE = struct({ ...RESOURCES, RestartPolicy });

/** What the engine sends its authorization plugins: authorization.Request. */
export const AUTHZ_REQUEST = struct({
  User: str,
  UserAuthNMethod: str,
  RequestMethod: str,
  RequestUri: str,
  RequestBody: str,
  RequestHeaders: stringMap,
  RequestPeerCertificates: any,
});

/** POST /containers/{id}/exec: types.ExecConfig. */
export const EXEC_CONFIG = struct({
  User: str,
  Privileged: bool,
  Tty: bool,
  ConsoleSize: any,
  AttachStdin: bool,
  AttachStderr: bool,
  AttachStdout: bool,
  Detach: bool,
  DetachKeys: str,
  Env: strings,
  WorkingDir: str,
  Cmd: strslice,
});

const ContainerSpec = struct(
  {
    Image: str,
    Labels: stringMap,
    Command: strings,
    Args: strings,
    Hostname: str,
    Env: strings,
    Dir: str,
    User: str,
    Groups: strings,
    Privileges: struct(
      {
        CredentialSpec: any,
        SELinuxContext: struct({ Disable: bool, User: str, Role: str, Type: str, Level: str }, true),
        Seccomp: struct({ Mode: str, Profile: any }, true),
        AppArmor: struct({ Mode: str }, true),
        NoNewPrivileges: bool,
      },
      true,
    ),
    Init: boolPtr,
    StopSignal: str,
    TTY: bool,
    OpenStdin: bool,
    ReadOnly: bool,
    Mounts: sliceOf(Mount),
    StopGracePeriod: intPtr,
    Healthcheck: HealthConfig,
    Hosts: strings,
    DNSConfig: any,
    Secrets: sliceOf(
      struct(
        {
          File: struct({ Name: str, UID: str, GID: str, Mode: uint }, true),
          SecretID: str,
          SecretName: str,
        },
        true,
      ),
    ),
    Configs: any,
    Isolation: str,
    Sysctls: stringMap,
    CapabilityAdd: strings,
    CapabilityDrop: strings,
    Ulimits: any,
    OomScoreAdj: int,
  },
  true,
);

/** POST /services/create and /services/{id}/update: swarm.ServiceSpec. */
export const SERVICE_SPEC = struct({
  Name: str,
  Labels: stringMap,
  TaskTemplate: struct({
    ContainerSpec,
    PluginSpec: any,
    NetworkAttachmentSpec: any,
    Resources: struct(
      {
        Limits: struct({ NanoCPUs: int, MemoryBytes: int, Pids: int }, true),
        Reservations: any,
      },
      true,
    ),
    RestartPolicy: struct({ Condition: str, Delay: intPtr, MaxAttempts: uintPtr, Window: intPtr }, true),
    Placement: any,
    Networks: sliceOf(struct({ Target: str, Aliases: strings, DriverOpts: stringMap })),
    LogDriver: any,
    ForceUpdate: uint,
    Runtime: str,
  }),
  Mode: any,
  UpdateConfig: any,
  RollbackConfig: any,
  Networks: sliceOf(struct({ Target: str, Aliases: strings, DriverOpts: stringMap })),
  EndpointSpec: struct(
    {
      Mode: str,
      Ports: sliceOf(
        struct({ Name: str, Protocol: str, TargetPort: uint, PublishedPort: uint, PublishMode: str }),
      ),
    },
    true,
  ),
});
