// Kubernetes manifests: multi-document; Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job,
// CronJob and List; init and ephemeral containers, with pod settings under container ones.

import type { At, Container, EnvVar, Workload } from '../model.js';
import { bool, get, InputError, items, num, str, type LNode } from '../tree.js';
import { at, expectMap, opt, strings } from './common.js';

export const POD_SPEC_PATH: Readonly<Record<string, readonly string[]>> = {
  Pod: ['spec'],
  Deployment: ['spec', 'template', 'spec'],
  StatefulSet: ['spec', 'template', 'spec'],
  DaemonSet: ['spec', 'template', 'spec'],
  ReplicaSet: ['spec', 'template', 'spec'],
  ReplicationController: ['spec', 'template', 'spec'],
  Job: ['spec', 'template', 'spec'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
};

function profileOf(n: LNode | undefined): At<string> | undefined {
  // seccompProfile / appArmorProfile: {type: RuntimeDefault|Localhost|Unconfined, localhostProfile}
  const type = str(get(n, 'type'));
  if (!n || type === undefined) return undefined;
  const v =
    type === 'Unconfined'
      ? 'unconfined'
      : type === 'RuntimeDefault'
        ? 'runtime/default'
        : `localhost/${str(get(n, 'localhostProfile')) ?? ''}`;
  return at(v, n.loc);
}

function k8sContainer(
  c: LNode,
  role: Container['role'],
  pod: LNode | undefined,
  annotations: LNode | undefined,
): Container {
  const m = expectMap(c, 'a container');
  if (!m) throw new InputError('a container must be a mapping', c.loc);
  const name = str(get(m, 'name')) ?? '?';
  const sc = get(m, 'securityContext');
  const psc = get(pod, 'securityContext');
  // Container settings override the pod's.
  const pick = <T>(read: (n: LNode | undefined) => T | undefined, key: string): At<T> | undefined => {
    for (const scope of [sc, psc]) {
      const n = get(scope, key);
      const v = read(n);
      if (v !== undefined) return at(v, n!.loc);
    }
    return undefined;
  };
  const allowEsc = get(sc, 'allowPrivilegeEscalation');
  const seccomp = profileOf(get(sc, 'seccompProfile')) ?? profileOf(get(psc, 'seccompProfile'));
  const annotation = str(get(annotations, `container.apparmor.security.beta.kubernetes.io/${name}`));
  const apparmor =
    profileOf(get(sc, 'appArmorProfile')) ??
    profileOf(get(psc, 'appArmorProfile')) ??
    (annotation !== undefined ? at(annotation, annotations!.loc) : undefined);
  const limits = get(m, 'resources', 'limits');
  const image = str(get(m, 'image'));
  const selinux = pick((n) => str(get(n, 'type')), 'seLinuxOptions');
  const hostProcess = pick((n) => bool(get(n, 'hostProcess')), 'windowsOptions');
  const privileged = bool(get(sc, 'privileged'));
  const ro = bool(get(sc, 'readOnlyRootFilesystem'));
  const procMount = str(get(sc, 'procMount'));
  const mem = str(get(limits, 'memory'));
  const cpu = str(get(limits, 'cpu'));
  const env: EnvVar[] = items(get(m, 'env')).map((e) => {
    const value = str(get(e, 'value'));
    return { name: str(get(e, 'name')) ?? '?', ...(value !== undefined ? { value } : {}), loc: e.loc };
  });
  return {
    name,
    role,
    loc: m.loc,
    ...(image !== undefined ? { image: at(image, get(m, 'image')!.loc) } : {}),
    ...(privileged !== undefined ? { privileged: at(privileged, get(sc, 'privileged')!.loc) } : {}),
    capAdd: strings(get(sc, 'capabilities', 'add'), 'capabilities.add'),
    capDrop: strings(get(sc, 'capabilities', 'drop'), 'capabilities.drop'),
    ...(ro !== undefined ? { readOnlyRootfs: at(ro, get(sc, 'readOnlyRootFilesystem')!.loc) } : {}),
    ...opt('runAsUser', pick(num, 'runAsUser')),
    ...opt('runAsGroup', pick(num, 'runAsGroup')),
    ...opt('runAsNonRoot', pick(bool, 'runAsNonRoot')),
    ...(bool(allowEsc) !== undefined ? { noNewPrivileges: at(bool(allowEsc) === false, allowEsc!.loc) } : {}),
    ...opt('seccomp', seccomp),
    ...opt('apparmor', apparmor),
    ...opt('selinuxType', selinux),
    ...opt('hostProcess', hostProcess),
    ...(procMount !== undefined ? { procMount: at(procMount, get(sc, 'procMount')!.loc) } : {}),
    mounts: items(get(m, 'volumeMounts')).map((v) => {
      const propagation = str(get(v, 'mountPropagation'));
      const source = str(get(v, 'name'));
      const target = str(get(v, 'mountPath'));
      return {
        type: 'other' as const,
        ...(source !== undefined ? { source } : {}),
        ...(target !== undefined ? { target } : {}),
        readOnly: bool(get(v, 'readOnly')) === true,
        ...(propagation ? { propagation } : {}),
        loc: v.loc,
      };
    }),
    devices: [],
    deviceCgroupRules: [],
    ports: items(get(m, 'ports')).map((p) => {
      const hp = num(get(p, 'hostPort'));
      const hostIp = str(get(p, 'hostIP'));
      return {
        ...(hp !== undefined && hp > 0 ? { published: hp } : {}),
        ...(hostIp ? { hostIp } : {}),
        target: num(get(p, 'containerPort'))!,
        loc: p.loc,
      };
    }),
    env,
    envFiles: [],
    ...(mem !== undefined ? { memory: at(mem, get(limits, 'memory')!.loc) } : {}),
    ...(cpu !== undefined ? { cpus: at(cpu, get(limits, 'cpu')!.loc) } : {}),
    ...(get(m, 'livenessProbe') || get(m, 'readinessProbe')
      ? { healthcheck: at(true, (get(m, 'livenessProbe') ?? get(m, 'readinessProbe'))!.loc) }
      : {}),
    node: m,
  };
}

export function fromKubernetes(doc: LNode, file: string): Workload[] {
  const m = expectMap(doc, 'a Kubernetes document');
  if (!m) return [];
  const kind = str(get(m, 'kind'));
  if (kind === undefined) throw new InputError('a Kubernetes document needs a kind', m.loc);
  if (kind === 'List' || kind.endsWith('List'))
    return items(get(m, 'items')).flatMap((i) => fromKubernetes(i, file));
  const path = POD_SPEC_PATH[kind];
  if (!path) return [];
  const spec = get(m, ...path);
  const pod = expectMap(spec, `${kind} ${path.join('.')}`);
  if (!pod) throw new InputError(`${kind} has no ${path.join('.')}`, m.loc);
  const tmplMeta = kind === 'Pod' ? get(m, 'metadata') : get(m, ...path.slice(0, -1), 'metadata');
  const annotations = get(tmplMeta, 'annotations') ?? get(m, 'metadata', 'annotations');
  const containers = [
    ...items(get(pod, 'containers')).map((c) => k8sContainer(c, 'main', pod, annotations)),
    ...items(get(pod, 'initContainers')).map((c) => k8sContainer(c, 'init', pod, annotations)),
    ...items(get(pod, 'ephemeralContainers')).map((c) => k8sContainer(c, 'ephemeral', pod, annotations)),
  ];
  if (items(get(pod, 'containers')).length === 0) throw new InputError(`${kind} has no containers`, pod.loc);
  const flag = (k: string): At<boolean> | undefined => {
    const v = get(pod, k);
    const b = bool(v);
    return b === undefined ? undefined : at(b, v!.loc);
  };
  const hostUsers = get(pod, 'hostUsers');
  const namespace = str(get(m, 'metadata', 'namespace'));
  return [
    {
      platform: 'kubernetes',
      kind,
      name: str(get(m, 'metadata', 'name')) ?? '?',
      ...(namespace !== undefined ? { namespace } : {}),
      file,
      loc: m.loc,
      containers,
      ...opt('hostNetwork', flag('hostNetwork')),
      ...opt('hostPid', flag('hostPID')),
      ...opt('hostIpc', flag('hostIPC')),
      ...(hostUsers ? { hostUserns: at(bool(hostUsers) !== false, hostUsers.loc) } : {}),
      sharedNamespaces: [],
      sysctls: items(get(pod, 'securityContext', 'sysctls')).map((s) => at(str(get(s, 'name')) ?? '', s.loc)),
      volumes: items(get(pod, 'volumes')).map((v) => {
        const type = [...(v.kind === 'map' ? v.entries.keys() : [])].find((k) => k !== 'name') ?? 'unknown';
        const path = str(get(v, 'hostPath', 'path'));
        return {
          name: str(get(v, 'name')) ?? '?',
          type,
          ...(path !== undefined ? { path } : {}),
          loc: v.loc,
        };
      }),
      secrets: [],
      networks: [],
      ignored: [],
      interpolated: [],
      node: m,
    },
  ];
}
