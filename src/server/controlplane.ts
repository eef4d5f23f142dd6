// The control plane: the one place that composes components. It opens the store, the audit log
// and the event bus, builds each component with exactly the interfaces it needs, registers their
// routes and health checks, and owns the start-up and shutdown order.

import { accessSync, constants, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  loadOrCreateAuditKey,
  loadTrustedVerifiers,
  publishSigner,
  witnessPath,
} from '../audit/checkpoint.js';
import { loadOrCreateInstallationKey, type Certifier } from '../core/installation.js';
import { AuditLog, installationId, loadOrCreateHmacKey } from '../audit/log.js';
import type { Config } from '../config/load.js';
import { systemClock, type Clock } from '../core/clock.js';
import { RampartError, messageOf } from '../core/errors.js';
import { readSecretFile, writeFileAtomic } from '../core/secretfile.js';
import { EventBus } from '../events/bus.js';
import { createLogger, type Logger } from '../log/logger.js';
import { Redactor } from '../redact/engine.js';
import { redactValue } from '../redact/object.js';
import { openStore } from '../store/open.js';
import type { Store } from '../store/types.js';
import { Authenticator, adminTokenPath, loadOrCreateAdminToken } from './auth.js';
import { HealthRegistry } from './health.js';
import { createHttpApp } from './http.js';
import { RefusalLog } from './refusals.js';
import { RunLife } from './runlife.js';
import { createMetrics } from './metrics.js';
import { discoveryPath } from './discovery.js';
import { registerAuditRoutes } from './routes/audit.js';
import { registerCoreRoutes } from './routes/core.js';
import { registerPolicyRoutes } from './routes/policy.js';
import { PolicyService } from '../policy/service.js';
import { IdentityService } from '../identity/service.js';
import { registerIdentityRoutes } from './routes/identity.js';
import { registerRunRoutes, type RunChannels } from './routes/runs.js';
import { EGRESS_SOCKET } from '../sandbox/runner.js';
import { registerEgressRoutes } from './routes/egress.js';
import { registerAdmissionRoutes } from './routes/admission.js';
import { startDockerPlugin } from './dockerplugin.js';
import { AdmissionService } from '../admission/service.js';
import { EMPTY_POLICY, loadAdmissionPolicy } from '../admission/engine.js';
import { startEgress, type Egress } from './egress.js';
import { SandboxService } from '../sandbox/service.js';
import { packageRoot } from '../core/paths.js';
import { readSecretText } from '../core/secretfile.js';
import type pino from 'pino';

export { VERSION } from '../core/version.js';
import { VERSION } from '../core/version.js';

export interface ControlPlaneOptions {
  readonly config: Config;
  readonly clock?: Clock;
  /** Where logs go (tests capture them); stdout by default. */
  readonly logDestination?: pino.DestinationStream;
  /**
   * `proxy`: a replica that serves only the egress proxy (`rampart proxy`): no HTTP API, and it
   * does not claim the data directory's discovery file, so `rampart up` can run beside it.
   */
  readonly role?: 'full' | 'proxy';
}

export interface ControlPlane {
  /** The API's URL ('' for a proxy-only replica). */
  readonly url: string;
  /** The egress proxy's URL, when it runs. */
  readonly egress?: string;
  readonly config: Config;
  readonly store: Store;
  readonly audit: AuditLog;
  readonly bus: EventBus;
  readonly health: HealthRegistry;
  readonly logger: Logger;
  readonly adminTokenFile: string;
  readonly policy: PolicyService;
  readonly identity: IdentityService;
  readonly sandbox: SandboxService;
  close(): Promise<void>;
}

export async function startControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  const { config } = opts;
  const clock = opts.clock ?? systemClock;
  prepareDataDir(config.dataDir);
  // One redaction engine for everything that leaves the process: every log line, every audit record.
  const redactor = new Redactor();
  const logger = createLogger({
    level: config.logging.level,
    redactLine: (line) => redactor.redact(line).text,
    ...(opts.logDestination ? { destination: opts.logDestination } : {}),
  });

  const cleanups: (() => Promise<void>)[] = [];
  /** Runs every cleanup, newest first, even when one fails; then reports the first failure. */
  const unwind = async (): Promise<void> => {
    let first: unknown;
    for (const c of cleanups.splice(0).reverse()) {
      try {
        await c();
      } catch (e) {
        first ??= e;
      }
    }
    if (first !== undefined)
      throw first instanceof Error ? first : new Error('cleanup failed', { cause: first });
  };
  try {
    const store = await openStore(config.store);
    cleanups.push(() => store.close());

    const signer = loadOrCreateAuditKey(config.dataDir);
    const install = await installationId(store);
    // The root of trust: keys published in the store count only with its certificate.
    const certifier = loadOrCreateInstallationKey(config.dataDir);
    await claimStore(store, certifier, config.dataDir);
    await publishSigner(store, signer, certifier);
    const audit = AuditLog.open({
      store,
      clock,
      signer,
      installation: certifier,
      verifiers: loadTrustedVerifiers(config.dataDir, config.audit.trustedKeys),
      hmacKey: loadOrCreateHmacKey(config.dataDir),
      origin: `rampart.audit/${install}`,
      maxBatch: config.audit.maxBatch,
      checkpointEvery: config.audit.checkpointEvery,
      checkpointIntervalMs: config.audit.checkpointIntervalMs,
      sanitize: (details) => redactValue(redactor, details) as Record<string, unknown>,
      witnessFile: witnessPath(config.dataDir),
    });
    cleanups.push(() => audit.close());
    // Records a crash left unsigned are signed now, before new ones: an unsigned stretch longer
    // than checkpoint_every then always means deleted checkpoints (audit verify relies on it).
    await audit.signPending();

    const bus = new EventBus({
      auditor: audit,
      onHandlerError: (type, e) => logger.error({ type, err: messageOf(e) }, 'event handler failed'),
    });
    const policy = await PolicyService.start({
      dir: config.policy.dir ?? join(packageRoot(), 'policies', 'default'),
      watch: config.policy.watch,
      cacheSize: config.policy.cacheSize,
      decisionLog: config.policy.decisionLog,
      store,
      auditor: audit,
      events: bus,
      log: logger,
      clock,
      installation: install,
      version: VERSION,
      opa: config.policy.opa && {
        url: config.policy.opa.url,
        path: config.policy.opa.path,
        timeoutMs: config.policy.opa.timeoutMs,
        retryMs: config.policy.opa.retryMs,
        token:
          config.policy.opa.tokenFile === undefined
            ? undefined
            : readSecretText(config.policy.opa.tokenFile, { purpose: 'policy.opa.token_file' }),
      },
    });
    cleanups.push(() => policy.stop());

    const identity = await IdentityService.start({
      store,
      dataDir: config.dataDir,
      certifier,
      clock,
      events: bus,
      log: logger,
      ...config.identity,
    });
    cleanups.push(async () => identity.stop());

    const sandbox = SandboxService.create(config.sandbox);
    cleanups.push(() => sandbox.drain());

    const auth = new Authenticator(loadOrCreateAdminToken(config.dataDir), config.auth.clients, (t) =>
      identity.verify(t),
    );
    const metrics = createMetrics();
    const role = opts.role ?? 'full';
    const health = new HealthRegistry();
    health.register('store', async () => {
      await store.ping();
      return { status: 'ok', detail: store.driver };
    });
    health.register('audit', () => audit.health());
    health.register('policy', () => policy.health());
    health.register('identity', () => identity.health());
    health.register('sandbox', () => sandbox.health());
    metrics.counter(
      'rampart_audit_records_total',
      'Audit records durably appended.',
      () => audit.stats.appended,
    );
    metrics.counter('rampart_audit_commits_total', 'Audit group commits.', () => audit.stats.commits);
    metrics.counter(
      'rampart_audit_write_failures_total',
      'Audit commits that failed (their actions were refused).',
      () => audit.stats.failures,
    );
    metrics.counter(
      'rampart_audit_checkpoints_total',
      'Signed checkpoints written.',
      () => audit.stats.checkpoints,
    );
    metrics.counter('rampart_events_total', 'Security events published.', () => bus.stats.published);
    metrics.counter(
      'rampart_policy_decisions_total',
      'Policy decisions by outcome.',
      () => ({
        allow: policy.engine.stats.allowed,
        deny: policy.engine.stats.denied,
        error: policy.engine.stats.errors,
      }),
      'outcome',
    );
    metrics.counter(
      'rampart_policy_cache_hits_total',
      'Decisions answered from the decision cache.',
      () => policy.engine.stats.cacheHits,
    );
    metrics.gauge(
      'rampart_policy_entities',
      'Entities known to the policy engine.',
      () => policy.engine.entities.size,
    );
    metrics.gauge(
      'rampart_policy_rules',
      'Rules in the active policy set.',
      () => policy.policySet?.rules.length ?? 0,
    );

    metrics.counter(
      'rampart_tokens_verified_total',
      'Workload tokens accepted.',
      () => identity.stats.verified,
    );
    metrics.counter(
      'rampart_tokens_verify_cache_hits_total',
      'Workload tokens accepted from the verification cache.',
      () => identity.stats.cacheHits,
    );
    metrics.counter(
      'rampart_tokens_rejected_total',
      'Workload tokens refused, by reason.',
      () => Object.fromEntries(identity.stats.rejected),
      'reason',
    );
    metrics.counter(
      'rampart_rate_limited_total',
      'Agent requests refused by a rate limit.',
      () => identity.stats.rateLimited,
    );

    const tls = config.server.tls && {
      key: readSecretFile(config.server.tls.keyFile, { purpose: 'server.tls.key_file' }),
      cert: readCert(config.server.tls.certFile),
    };
    // Refused requests: the first per source and reason in a window on record at once, the rest
    // counted into one record at the window's end (a flood of bad tokens cannot fill the disk).
    const refusals = new RefusalLog({
      windowMs: config.auth.refusalWindowMs,
      perSource: config.auth.refusalsPerSource,
      onSummary: (s) =>
        void bus
          .publish({
            type: 'auth.rejected',
            severity: 'medium',
            outcome: 'denied',
            source: 'server',
            data: {
              route: '*',
              method: '*',
              reason: `${s.count} more refused request(s) in ${s.windowMs} ms${s.overflow ? ' from sources past the bound of distinct sources' : ''}${s.throttled > 0 ? `, ${s.throttled} of them throttled (429)` : ''}`,
              remote: s.source,
              kind: s.reason,
              count: s.count,
              throttled: s.throttled,
              windowMs: s.windowMs,
            },
          })
          .catch((e: unknown) => logger.error({ err: messageOf(e) }, 'could not audit refused requests')),
    });
    cleanups.push(async () => refusals.stop());
    metrics.counter(
      'rampart_auth_refused_total',
      'Requests refused for their credential.',
      () => refusals.stats.refused,
    );
    metrics.counter(
      'rampart_auth_throttled_total',
      'Requests answered 429 unauthenticated: their source had too many refusals in the window.',
      () => refusals.stats.throttled,
    );
    const app = createHttpApp({
      config,
      logger,
      auth,
      metrics,
      bus,
      refusals,
      fingerprint: (credential) => audit.fingerprint(credential),
      rateLimit: (cls, claims) => identity.rateLimit(cls, claims),
      https: tls,
    });
    registerCoreRoutes(app, { health, metrics, metricsAuth: config.server.metricsAuth });
    registerAuditRoutes(app, { audit, bus, vkey: signer.vkey });
    registerPolicyRoutes(app, { policy, auditor: audit, bus });
    const agentNamespace = (agent: string): string | undefined => {
      const e = policy.getEntity('agent', agent);
      if (!e) return undefined;
      const ns = e.attributes['namespace'];
      if (typeof ns === 'string' && ns !== '') return ns;
      return e.parents.find((p) => p.startsWith('namespace:'))?.slice('namespace:'.length);
    };
    registerIdentityRoutes(app, { identity, auditor: audit, agentNamespace });
    // The egress proxy: built (rules compiled, config errors raised) before anything listens.
    const egress: Egress | undefined = config.egress.enabled
      ? startEgress({ config: config.egress, identity, policy, bus, logger, metrics })
      : undefined;
    // A run's channel is the proxy's socket in a directory the sandbox binds in; the two
    // components meet only here.
    const channels: RunChannels | undefined = egress && {
      // The socket belongs to the run's own uid, mode 0600: no other run's processes can use it.
      open: (run, agent, uid) =>
        egress.openChannel(join(sandbox.channelDir(run), EGRESS_SOCKET), { run, agent }, { uid, gid: uid }),
      close: (run) => {
        egress.proxy.closeChannel(run);
        sandbox.removeChannelDir(run);
      },
    };
    // Runs are kept in the store with their runner, watched, and reconciled at start-up.
    const life = new RunLife({
      sandbox,
      runs: store.runs,
      bus,
      logger,
      revoke: (run, why, by) => identity.revoke('run', run, why, by),
      ...(channels ? { channels } : {}),
    });
    cleanups.push(async () => life.stop());
    if (role === 'full') await life.reconcile();
    registerRunRoutes(app, {
      sandbox,
      life,
      identity,
      bus,
      auditor: audit,
      agentNamespace,
      ...(channels ? { channels } : {}),
    });
    // Admission: the same checks as `rampart check`, served to Kubernetes and Docker.
    const admission = new AdmissionService({
      profile: config.admission.profile,
      policy:
        config.admission.policyFile === undefined
          ? EMPTY_POLICY
          : loadAdmissionPolicy(config.admission.policyFile),
      denyOn: config.admission.denyOn,
      decisionLog: config.admission.decisionLog,
      auditor: audit,
      clock,
      secretValue: (v) => redactor.redact(v).matches[0]?.label,
      onRecordFailure: (error) =>
        logger.error({ error }, 'admission records cannot be written; answers now wait for them'),
    });
    health.register('admission', () => admission.health());
    registerAdmissionRoutes(app, { admission });
    if (config.admission.dockerPluginSocket !== undefined && role === 'full') {
      const plugin = await startDockerPlugin(config.admission.dockerPluginSocket, admission);
      cleanups.push(() => plugin.close());
    }
    if (egress) {
      cleanups.push(() => egress.proxy.close());
      health.register('egress', () => egress.health());
      registerEgressRoutes(app, {
        proxy: egress.proxy,
        guard: egress.guard,
        bus,
        listen: `${config.egress.listen.host}:${config.egress.listen.port}`,
      });
    }

    if (role === 'full')
      try {
        await app.listen({ host: config.server.listen.host, port: config.server.listen.port });
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        const where = `${config.server.listen.host}:${config.server.listen.port}`;
        throw new RampartError(
          'RAMPART_E_LISTEN',
          code === 'EADDRINUSE'
            ? `${where} is already in use (is another control plane running?)`
            : code === 'EACCES'
              ? `no permission to listen on ${where}`
              : code === 'EADDRNOTAVAIL'
                ? `${where} is not an address of this machine`
                : `cannot listen on ${where}: ${messageOf(e)}`,
          { cause: e },
        );
      }
    const addr = app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : config.server.listen.port;
    const host = config.server.listen.host.includes(':')
      ? `[${config.server.listen.host}]`
      : config.server.listen.host;
    const url = role === 'full' ? `${tls ? 'https' : 'http'}://${host}:${port}` : '';
    const egressUrl = egress ? await egress.listen() : undefined;
    if (role === 'full')
      writeFileAtomic(
        discoveryPath(config.dataDir),
        JSON.stringify({
          url,
          pid: process.pid,
          version: VERSION,
          ...(egressUrl ? { egress: egressUrl } : {}),
        }) + '\n',
        0o644,
      );

    const healthTimer = setInterval(() => {
      void health.report().then((r) => {
        for (const c of health.changes(r)) {
          bus
            .publish({
              type: 'health.changed',
              severity: c.to === 'ok' ? 'info' : 'high',
              source: 'server',
              data: c,
            })
            .catch(() => undefined);
        }
      });
    }, 5000);
    healthTimer.unref();

    await bus.publish({
      type: 'controlplane.lifecycle',
      severity: 'info',
      source: 'server',
      data: { phase: 'start', pid: process.pid, version: VERSION, role },
    });

    let closing: Promise<void> | undefined;
    const close = (): Promise<void> =>
      (closing ??= (async () => {
        clearInterval(healthTimer);
        // Stop accepting; give in-flight requests the grace period, then cut what is left.
        const force = setTimeout(() => app.server.closeAllConnections(), config.server.shutdownGraceMs);
        force.unref();
        await app.close();
        clearTimeout(force);
        // The last window's refusals are on record before the control plane says it stopped.
        refusals.stop();
        await bus
          .publish({
            type: 'controlplane.lifecycle',
            severity: 'info',
            source: 'server',
            data: { phase: 'stop', pid: process.pid, version: VERSION },
          })
          .catch((e: unknown) => logger.error({ err: messageOf(e) }, 'could not audit shutdown'));
        // Components stop in reverse order of start: the audit log flushes and signs its final
        // checkpoint after everything that writes to it has stopped, and the store closes last.
        await unwind();
        if (role === 'full') rmSync(discoveryPath(config.dataDir), { force: true });
        logger.flush();
      })());

    return {
      url,
      ...(egressUrl ? { egress: egressUrl } : {}),
      config,
      store,
      audit,
      bus,
      health,
      logger,
      policy,
      identity,
      sandbox,
      adminTokenFile: adminTokenPath(config.dataDir),
      close,
    };
  } catch (e) {
    await unwind().catch(() => undefined);
    throw e;
  }
}

/**
 * Binds the store to the installation key: the first replica records its key's fingerprint; a
 * replica with another key (a new data directory given a fresh key) is refused with what to do,
 * rather than starting with keys no other replica will trust.
 */
async function claimStore(store: Store, certifier: Certifier, dataDir: string): Promise<void> {
  const owner = await store.meta.setIfAbsent('installation_key', certifier.fingerprint);
  if (owner !== certifier.fingerprint)
    throw new RampartError(
      'RAMPART_E_INSTALLATION_KEY',
      `this store belongs to installation key ${owner}, but ${dataDir}/keys/installation.key is ${certifier.fingerprint}: ` +
        'a new replica needs a copy of keys/installation.key from a replica of that installation',
    );
}

function prepareDataDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    accessSync(dir, constants.W_OK | constants.R_OK | constants.X_OK);
    const probe = join(dir, `.write-probe-${process.pid}`);
    writeFileSync(probe, '');
    rmSync(probe);
    if (!statSync(dir).isDirectory()) throw new Error('not a directory');
  } catch (e) {
    throw new RampartError('RAMPART_E_DATA_DIR', `data directory ${dir} is not usable: ${messageOfFs(e)}`, {
      cause: e,
    });
  }
}

function messageOfFs(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EROFS') return 'read-only file system';
  if (code === 'ENOTDIR' || code === 'EEXIST') return 'a file is in the way';
  return messageOf(e);
}

function readCert(file: string): Buffer {
  // A certificate chain is public: no mode check, only a clear error when it cannot be read.
  try {
    return readFileSync(file);
  } catch (e) {
    throw new RampartError(
      'RAMPART_E_CONFIG_INVALID',
      `server.tls.cert_file ${file} cannot be read: ${messageOfFs(e)}`,
    );
  }
}
