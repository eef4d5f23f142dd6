// Admission served by a real control plane: the Kubernetes validating and mutating webhooks over
// HTTP (the mutating patch applied with fast-json-patch, an independent RFC 6902 implementation,
// must produce a pod the validating webhook admits), and the Docker authorization plugin on its
// unix socket, spoken to with curl as the engine would. Every decision is in the audit log.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { provisionKeyPath, readProvisionKey, signBody } from '../../src/core/provenance.js';
import { serviceSpec } from '../../src/sandbox/swarm/spec.js';
import fastJsonPatch from 'fast-json-patch';
import { startServer, type Server } from '../support/cli.js';
import { adminToken, api, type Api, type Json } from '../support/http.js';
import { tempDir, type TempDir } from '../support/tmp.js';
import { until } from '../support/wait.js';

const run = promisify(execFile);
const DIGEST = 'sha256:0f3d7a1c2b4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8';

const review = (object: unknown, uid = 'b7d1c2e0-0000-4000-8000-000000000001'): Json => ({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: {
    uid,
    kind: { group: '', version: 'v1', kind: 'Pod' },
    operation: 'CREATE',
    namespace: 'agents',
    name: 'agent',
    object,
  },
});

const pod = (container: Record<string, unknown>): Json => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'agent', namespace: 'agents' },
  spec: { containers: [{ name: 'main', image: `ghcr.io/acme/agent@${DIGEST}`, ...container }] },
});

describe('admission served: Kubernetes webhooks and the Docker authorization plugin', () => {
  let dir: TempDir;
  let server: Server;
  let admin: Api;
  let socket: string;

  const plugin = async (path: string, body: unknown): Promise<Json> => {
    const { stdout } = await run('curl', [
      '-s',
      '--unix-socket',
      socket,
      '-X',
      'POST',
      '-H',
      'content-type: application/vnd.docker.plugins.v1.2+json',
      '--data-binary',
      typeof body === 'string' ? body : JSON.stringify(body),
      `http://docker${path}`,
    ]);
    return JSON.parse(stdout);
  };
  const authz = (method: string, uri: string, body?: unknown): Promise<Json> =>
    plugin('/AuthZPlugin.AuthZReq', {
      User: 'alice',
      UserAuthNMethod: 'TLS',
      RequestMethod: method,
      RequestURI: uri,
      RequestHeaders: { 'Content-Type': 'application/json' },
      ...(body === undefined ? {} : { RequestBody: Buffer.from(JSON.stringify(body)).toString('base64') }),
    });

  before(async () => {
    dir = tempDir();
    socket = join(dir.dir, 'plugins', 'rampart.sock');
    writeFileSync(
      join(dir.dir, 'admission.yaml'),
      [
        'checks:',
        '  - id: no-latest-tag',
        '    severity: high',
        '    message: uses a :latest image',
        '    when: container.image.endsWith(":latest")',
        'exceptions:',
        '  - check: image-digest',
        '    target: "*"',
        '    justification: tags are pinned by the registry mirror',
        '    approver: secops',
        '    expires: "2999-01-01"',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(dir.dir, 'rampart.yaml'),
      `admission:\n  policy_file: admission.yaml\n  docker_plugin:\n    socket: ${socket}\n`,
    );
    server = await startServer(['--listen', '127.0.0.1:0'], { cwd: dir.dir });
    admin = api(server.url, adminToken(dir.dir));
  });
  after(async () => {
    await server?.stop();
    dir.cleanup();
  });

  it('denies a privileged pod, echoing the uid, with the findings in status.message', async () => {
    const r = await admin(
      'POST',
      '/v1/admission/kubernetes/validate',
      review(pod({ securityContext: { privileged: true } })),
    );
    assert.equal(r.status, 200);
    assert.equal(r.json.apiVersion, 'admission.k8s.io/v1');
    assert.equal(r.json.kind, 'AdmissionReview');
    assert.equal(r.json.response.uid, 'b7d1c2e0-0000-4000-8000-000000000001');
    assert.equal(r.json.response.allowed, false);
    assert.equal(r.json.response.status.code, 403);
    assert.match(r.json.response.status.message, /no-privileged \(critical\): agent\/main is privileged/);
  });

  it('mutates a bare pod into one the validating webhook admits (patch applied by fast-json-patch)', async () => {
    const bare = pod({});
    const m = await admin('POST', '/v1/admission/kubernetes/mutate', review(bare));
    assert.equal(m.status, 200);
    assert.equal(m.json.response.allowed, true);
    assert.equal(m.json.response.patchType, 'JSONPatch');
    const ops = JSON.parse(Buffer.from(m.json.response.patch, 'base64').toString('utf8'));
    const patched = fastJsonPatch.applyPatch(structuredClone(bare), ops, true, false).newDocument;
    const sc = patched.spec.containers[0].securityContext;
    assert.deepEqual(sc.capabilities.drop, ['ALL']);
    assert.equal(sc.allowPrivilegeEscalation, false);
    assert.equal(sc.readOnlyRootFilesystem, true);
    assert.equal(sc.runAsNonRoot, true);
    assert.equal(sc.seccompProfile.type, 'RuntimeDefault');
    const v = await admin('POST', '/v1/admission/kubernetes/validate', review(patched));
    assert.equal(v.json.response.allowed, true, JSON.stringify(v.json.response));
    // Below deny_on (high): answered as warnings, not denials.
    assert.ok(v.json.response.warnings.some((w: string) => w.startsWith('healthcheck (info)')));
    // The mutated pod needs nothing more.
    const again = await admin('POST', '/v1/admission/kubernetes/mutate', review(patched));
    assert.equal(again.json.response.patch, undefined);
  });

  it('applies custom CEL checks and exceptions from the admission policy file', async () => {
    const latest = await admin(
      'POST',
      '/v1/admission/kubernetes/validate',
      review(pod({ image: 'ghcr.io/acme/agent:latest' })),
    );
    assert.equal(latest.json.response.allowed, false);
    assert.match(
      latest.json.response.status.message,
      /no-latest-tag \(high\): agent\/main: uses a :latest image/,
    );
    // image-digest is excepted: not among the warnings.
    assert.ok(!JSON.stringify(latest.json.response).includes('image-digest'));
  });

  it('denies what it cannot read, and lets DELETE through', async () => {
    const bad = await admin('POST', '/v1/admission/kubernetes/validate', { request: { object: {} } });
    assert.equal(bad.status, 200);
    assert.equal(bad.json.response.allowed, false);
    assert.match(bad.json.response.status.message, /request\.uid is missing/);
    const notPod = await admin(
      'POST',
      '/v1/admission/kubernetes/validate',
      review({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' }, spec: { containers: 'nope' } }),
    );
    assert.equal(notPod.json.response.allowed, false);
    const del = await admin('POST', '/v1/admission/kubernetes/validate', {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid: 'u-del',
        kind: { group: '', version: 'v1', kind: 'Pod' },
        operation: 'DELETE',
        object: null,
      },
    });
    assert.equal(del.json.response.allowed, true);
  });

  it('denies malformed reviews: no object on CREATE or UPDATE, a kind that disagrees, an unknown operation', async () => {
    const privileged = pod({ securityContext: { privileged: true } }) as Record<string, unknown>;
    const withRequest = (over: Record<string, unknown>): Json => {
      const r = review(privileged) as { request: Record<string, unknown> };
      return { ...r, request: { ...r.request, ...over } };
    };
    const cases: [string, Json, RegExp][] = [
      ['CREATE without an object', withRequest({ object: undefined }), /request\.object is missing/],
      ['CREATE with a null object', withRequest({ object: null }), /request\.object is missing/],
      [
        'UPDATE without an object',
        withRequest({ operation: 'UPDATE', object: undefined }),
        /request\.object/,
      ],
      [
        "an object whose kind is not the request's",
        withRequest({ kind: { group: 'batch', version: 'v1', kind: 'Job' } }),
        /object kind v1\/Pod does not match the request's batch\/v1\/Job/,
      ],
      [
        'an object with no kind',
        withRequest({ object: { ...privileged, kind: undefined } }),
        /object kind .* does not match/,
      ],
      ['an unknown operation', withRequest({ operation: 'PATCH' }), /operation "PATCH" is not/],
      ['no operation', withRequest({ operation: undefined }), /operation "" is not/],
      ['a review of another kind', { ...(withRequest({}) as object), kind: 'Pod' }, /not an AdmissionReview/],
    ];
    for (const mode of ['validate', 'mutate']) {
      for (const [name, body, why] of cases) {
        const r = await admin('POST', `/v1/admission/kubernetes/${mode}`, body);
        assert.equal(r.json.response.allowed, false, `${mode}: ${name} was allowed`);
        assert.equal(r.json.response.status.code, 400, `${mode}: ${name}`);
        assert.match(r.json.response.status.message, why, `${mode}: ${name}`);
      }
    }
  });

  it('refuses callers without a credential', async () => {
    const r = await fetch(`${server.url}/v1/admission/kubernetes/validate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(review(pod({}))),
    });
    assert.equal(r.status, 401);
  });

  it('serves the Docker plugin on a 0600 socket that activates as authz', async () => {
    assert.equal(statSync(socket).mode & 0o777, 0o600);
    assert.deepEqual(await plugin('/Plugin.Activate', ''), { Implements: ['authz'] });
  });

  it('denies a container create without a body (CVE-2024-41110) and a privileged one', async () => {
    const none = await authz('POST', '/v1.45/containers/create?name=agent');
    assert.equal(none.Allow, false);
    assert.match(none.Msg, /without a body/);
    const priv = await authz('POST', '/v1.45/containers/create?name=agent', {
      Image: 'alpine',
      HostConfig: { Privileged: true, Binds: ['/var/run/docker.sock:/var/run/docker.sock'] },
    });
    assert.equal(priv.Allow, false);
    assert.match(priv.Msg, /no-privileged \(critical\): agent is privileged/);
    assert.match(priv.Msg, /no-runtime-socket/);
  });

  it('allows a hardened create, reads, and responses', async () => {
    const body = JSON.parse(
      readFileSync(
        join(import.meta.dirname, '..', '..', '..', 'test', 'admission', 'fixtures', 'docker-good.json'),
        'utf8',
      ),
    );
    assert.deepEqual(await authz('POST', '/v1.45/containers/create?name=agent', body), { Allow: true });
    assert.deepEqual(await authz('GET', '/v1.45/containers/json'), { Allow: true });
    assert.deepEqual(
      await plugin('/AuthZPlugin.AuthZRes', { RequestMethod: 'GET', ResponseStatusCode: 200 }),
      {
        Allow: true,
      },
    );
  });

  it('checks Swarm services: a VNC port on the routing mesh is denied; a privileged exec is denied', async () => {
    const svc = await authz('POST', '/v1.45/services/create', {
      Name: 'vm-runner',
      TaskTemplate: {
        ContainerSpec: {
          Image: `ghcr.io/acme/runner@${DIGEST}`,
          User: '1000:1000',
          ReadOnly: true,
          CapabilityDrop: ['ALL'],
          Privileges: { NoNewPrivileges: true },
        },
        Resources: { Limits: { NanoCPUs: 1e9, MemoryBytes: 1073741824, Pids: 256 } },
      },
      EndpointSpec: {
        Ports: [{ Protocol: 'tcp', TargetPort: 5900, PublishedPort: 5900, PublishMode: 'ingress' }],
      },
    });
    assert.equal(svc.Allow, false);
    assert.match(svc.Msg, /swarm-console-host-mode/);
    const exec = await authz('POST', '/v1.45/containers/abc/exec', { Cmd: ['sh'], Privileged: true });
    assert.equal(exec.Allow, false);
  });

  it('classifies the path the engine routes: encoded, doubled and dotted spellings are still a create', async () => {
    const priv = { Image: 'alpine', HostConfig: { Privileged: true } };
    for (const uri of [
      '/v1.45/containers%2Fcreate',
      '/v1.45/containers%2fcreate?name=x',
      '/v1.45//containers/create',
      '/v1.45/containers/./create',
      '/v1.45/x/../containers/create',
      '/containers/create/',
      '/%63ontainers/create',
    ]) {
      const r = await authz('POST', uri, priv);
      assert.equal(r.Allow, false, uri);
      assert.match(r.Msg, /no-privileged/, uri);
    }
    const bad = await authz('POST', '/v1.45/containers%E0%A4%A/create', priv);
    assert.equal(bad.Allow, false);
    assert.match(bad.Msg, /not a valid URI path/);
  });

  it("admits a Swarm service Rampart signed, and no other that claims to be a run's", async () => {
    const key = readProvisionKey(provisionKeyPath(join(dir.dir, '.rampart')));
    const spec = {
      id: 'run_svc1',
      agent: 'a',
      command: ['/bin/true'],
      workspace: '/srv/ws/run_svc1',
      uid: 2_100_000_001,
      limits: { memory: 256 << 20, pids: 64, cpus: 1 },
      timeoutMs: 60_000,
      devices: [],
      readOnly: [],
      secrets: new Map(),
      env: {},
      stdio: 'pipe' as const,
    };
    const body = serviceSpec(spec, {
      image: 'sha256:' + 'a'.repeat(64),
      installation: 'rampart',
      node: 'n1',
      network: 'net1',
      secrets: [],
      files: { gate: '/dev/shm/rampart-run_svc1/gate', bridge: '/opt/rampart/dist/rampart-bridge' },
      deviceGroups: [],
    });
    const send = (bytes: Buffer): Promise<Json> =>
      plugin('/AuthZPlugin.AuthZReq', {
        RequestMethod: 'POST',
        RequestURI: '/v1.41/services/create',
        RequestBody: bytes.toString('base64'),
      });
    const signed = signBody(body, body['Labels'] as Record<string, string>, key, Date.now());
    assert.equal((await send(signed)).Allow, true);
    // The task's ContainerSpec alone claiming the run is a claim too, and unsigned.
    const { Labels: _, ...unlabelled } = body;
    const claim = await send(Buffer.from(JSON.stringify(unlabelled)));
    assert.equal(claim.Allow, false);
    assert.match(claim.Msg, /without a Rampart signature/);
    const altered = await send(Buffer.from(signed.toString().replace('"ReadOnly":true', '"ReadOnly":false')));
    assert.equal(altered.Allow, false);
    assert.match(altered.Msg, /does not match/);
  });

  it('denies a body that is not JSON', async () => {
    const r = await plugin('/AuthZPlugin.AuthZReq', {
      RequestMethod: 'POST',
      RequestURI: '/v1.45/containers/create',
      RequestBody: Buffer.from('{not json').toString('base64'),
    });
    assert.equal(r.Allow, false);
    const garbage = await plugin('/AuthZPlugin.AuthZReq', 'this is not json');
    assert.equal(garbage.Allow, false);
  });

  it('counts decisions by verdict and their latency in /metrics', async () => {
    const text = (await admin('GET', '/metrics')).json as string;
    const value = (re: RegExp): number => Number(re.exec(text)?.[1] ?? NaN);
    assert.ok(value(/^rampart_admission_decisions_total\{verdict="allow"\} (\d+)$/m) >= 1, text);
    assert.ok(value(/^rampart_admission_decisions_total\{verdict="deny"\} (\d+)$/m) >= 1);
    assert.ok(value(/^rampart_admission_decision_seconds_count (\d+)$/m) >= 2);
  });

  it('audits every decision with its outcome', async () => {
    let records: Json[] = [];
    await until(async () => {
      const r = await admin('GET', '/v1/audit/records?limit=1000');
      records = r.json.records.filter((x: Json) => String(x.action).startsWith('admission.'));
      return records.length >= 12;
    }, 'twelve admission records');
    const k8s = records.filter((x) => x.action === 'admission.kubernetes.validate');
    assert.ok(k8s.some((x) => x.outcome === 'denied' && x.target === 'kubernetes:agents/Pod/agent'));
    assert.ok(k8s.some((x) => x.outcome === 'success'));
    assert.ok(k8s.some((x) => x.outcome === 'error'));
    const docker = records.filter((x) => x.action === 'admission.docker');
    assert.ok(docker.some((x) => x.outcome === 'denied' && x.actor === 'docker:alice'));
    assert.ok(docker.some((x) => x.outcome === 'success' && x.target === 'docker:POST /containers/create'));
    assert.ok(records.some((x) => x.action === 'admission.kubernetes.mutate' && x.details.patched > 0));
    const health = await admin('GET', '/v1/health');
    assert.equal(health.json.components.admission.status, 'ok');
  });
});
