// The control plane: the one place that composes components. It opens the store, the audit log
// and the event bus, builds each component with exactly the interfaces it needs, registers their
// routes and health checks, and owns the start-up and shutdown order.

import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type pino from 'pino';
import { startAdmission } from '../admission/component.js';
import { startAudit, type AuditComponent } from '../audit/component.js';
import type { AuditLog } from '../audit/log.js';
import type { Config } from '../config/load.js';
import { systemClock, type Clock } from '../core/clock.js';
import type { Component } from '../core/component.js';
import { RampartError, messageOf } from '../core/errors.js';
import { loadOrCreateInstallationKey } from '../core/installation.js';
import { ensureProvisionKey } from '../core/provenance.js';
import { startSecrets } from '../secrets/component.js';
import { packageRoot } from '../core/paths.js';
import { readSecretFile, readSecretText, writeFileAtomic } from '../core/secretfile.js';
import { startDetect, type DetectComponent } from '../detect/component.js';
import { DETECTION_FIELDS } from '../detect/engine.js';
import { startNotify } from '../notify/component.js';
import type { BreakglassComponent } from '../breakglass/component.js';
import { startDrill } from '../drill/component.js';
import { startPeople } from './people.js';
import { startEgressFor, type EgressBindings } from './egress.js';
import { startGitgateFor } from './gitgate.js';
import type { Shared } from './shared.js';
import { startSinks } from '../sinks/component.js';
import { EVENTS_CHANNEL } from '../events/stream.js';
import { startRespond, type RespondComponent } from '../respond/component.js';
import type { EgressComponent } from '../egress/component.js';
import type { EventBus } from '../events/bus.js';
import { startEvents } from '../events/component.js';
import { startIdentity } from '../identity/component.js';
import { startConsole } from '../console/component.js';
import { fileURLToPath } from 'node:url';
import type { IdentityService } from '../identity/service.js';
import { createLogger, type Logger } from '../log/logger.js';
import { startPolicy } from '../policy/component.js';
import type { PolicyService } from '../policy/service.js';
import { Redactor } from '../redact/engine.js';
import { redactValue } from '../redact/object.js';
import { startSandbox } from '../sandbox/component.js';
import type { SandboxService } from '../sandbox/service.js';
import { openStore } from '../store/open.js';
import type { Store } from '../store/types.js';
import { Authenticator, adminTokenPath, loadOrCreateAdminToken } from './auth.js';
import { claimStore, prepareDataDir, readCert } from './datadir.js';
import { mount } from './compose.js';
import { discoveryPath } from './discovery.js';
import { HealthRegistry, storeHealth } from './health.js';
import { createHttpApp } from './http.js';
import { createMetrics } from './metrics.js';
import { auditedRefusals } from './refusals.js';
import { registerCoreRoutes } from './routes/core.js';

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
  // Planted decoys are looked for in what passes redaction (log lines, audit records) and in what
  // egress requests say: the secrets component, which knows them, is bound here once it starts,
  // with its secret.use for injected credentials and, later, the git gate's route.
  const bound: EgressBindings = {};
  const logger = createLogger({
    level: config.logging.level,
    redactLine: (line) => {
      bound.lookForDecoys?.(line, 'a log line');
      return redactor.redact(line).text;
    },
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
    // The root of trust: keys published in the store count only with its certificate.
    const certifier = loadOrCreateInstallationKey(config.dataDir);
    await claimStore(store, certifier, config.dataDir);
    const role = opts.role ?? 'full';

    // Components start in dependency order and stop in reverse: the audit log flushes and signs
    // its final checkpoint after everything that writes to it has stopped.
    const components: Component[] = [];
    const started = <C extends Component>(c: C): C => {
      components.push(c);
      cleanups.push(() => c.stop());
      return c;
    };
    const audit: AuditComponent = started(
      await startAudit({
        store,
        clock,
        dataDir: config.dataDir,
        certifier,
        settings: config.audit,
        sanitize: (details) => {
          bound.lookForDecoys?.(JSON.stringify(details), 'an audit record');
          return redactValue(redactor, details) as Record<string, unknown>;
        },
      }),
    );
    // Events: recorded by the bus, delivered by the stream from the log, in its order, from
    // every replica sharing the store (events/stream.ts).
    const events = started(
      await startEvents({
        audit: store.audit,
        meta: store.meta,
        notifications: store.notifications,
        auditor: audit.log,
        log: logger,
      }),
    );
    const { bus, stream } = events;
    // Break-glass starts late (it records through the bus and keeps state in the store); policy
    // asks it about overrides from its first decision, and finds none until it has started.
    let breakglassLater: BreakglassComponent | undefined;
    const policy = started(
      await startPolicy({
        dir: config.policy.dir ?? join(packageRoot(), 'policies', 'default'),
        watch: config.policy.watch,
        cacheSize: config.policy.cacheSize,
        decisionLog: config.policy.decisionLog,
        store,
        auditor: audit.log,
        events: bus,
        log: logger,
        clock,
        installation: audit.installation,
        version: VERSION,
        // Break-glass starts later; until it has, there is no override (a deny stays a deny).
        override: (input) =>
          input.principal.type === 'agent'
            ? breakglassLater?.override(input.principal.id, input.action)
            : undefined,
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
      }),
    );
    const agentNamespace = (agent: string): string | undefined => policy.agentNamespace(agent);
    // Blocks are the response engine's; it starts last, before anything is served.
    const late: { respond?: RespondComponent } = {};
    // Drills: an agent of the drills' namespace (drill:ID:NAME) runs only while its drill is
    // active, and is refused like a blocked agent otherwise (the drill component says why).
    const drill = started(await startDrill({ meta: store.meta, bus }));
    const agentBlocked = (agent: string): string | undefined =>
      late.respond?.blocked(agent) ?? drill.refusal(agent);

    const identity = started(
      await startIdentity({
        store,
        dataDir: config.dataDir,
        certifier,
        clock,
        events: bus,
        log: logger,
        auditor: audit.log,
        agentNamespace,
        blocked: agentBlocked,
        ...config.identity,
      }),
    );
    // The egress proxy: built (rules compiled, config errors raised) before anything listens.
    let detect: DetectComponent | undefined;
    const shared: Shared = {
      config,
      bus,
      log: logger,
      identity: identity.service,
      policy: policy.service,
      redactor,
    };
    const egressStarted = await startEgressFor({ ...shared, late: bound });
    const egress: EgressComponent | undefined = egressStarted && started(egressStarted);
    const sandbox = started(
      await startSandbox({
        settings: config.sandbox,
        runs: store.runs,
        events: bus,
        auditor: audit.log,
        log: logger,
        tokens: identity.service,
        agentNamespace,
        ...(egress ? { egress } : {}),
        reconcile: role === 'full',
        agentBlocked,
        // Detection starts later (it reads the sandbox's runs); asked when a run registers.
        telemetryDown: () => {
          if (!detect) return 'detection is not running on this control plane';
          return detect.telemetry ? detect.telemetry.notWatching() : 'detect.telemetry is off';
        },
      }),
    );
    // Admission: the same checks as `rampart check`, served to Kubernetes and Docker.
    started(
      await startAdmission({
        settings: config.admission,
        auditor: audit.log,
        clock,
        secretValue: (v) => redactor.redact(v).matches[0]?.label,
        onRecordFailure: (error) =>
          logger.error({ error }, 'admission records cannot be written; answers now wait for them'),
        dockerPlugin: role === 'full',
        // The key `rampart run` signs its containers and services with (core/provenance.ts).
        provisionKey: ensureProvisionKey(config.dataDir),
      }),
    );

    // Secrets: sealed in the store with the data directory's KEK; policy decides every agent read.
    const secrets = started(
      await startSecrets({
        dataDir: config.dataDir,
        settings: config.secrets,
        store: store.secrets,
        leases: store.leases,
        honeytokens: store.honeytokens,
        meta: store.meta,
        auditor: audit.log,
        bus,
        clock,
        onError: (what, e) => logger.error({ err: messageOf(e) }, `secrets: ${what} failed`),
        decide: async (agent, vault, name, context, action) => {
          const d = await policy.service.decide(
            {
              principal: { type: 'agent', id: agent },
              action,
              resource: { type: 'secret', id: name, vault },
              context,
            },
            { actor: `agent:${agent}`, path: 'secrets' },
          );
          return { allow: d.allow, reason: d.reasons.join('; ') };
        },
      }),
    );
    bound.lookForDecoys = (text, where, by) => secrets.scan(text, where, by);
    bound.credential = async (caller, secret, context) => {
      const value = await secrets.use(secret.vault, secret.name, {
        agent: caller.agent,
        run: caller.run,
        purpose: 'egress',
        context,
      });
      return { value, fingerprint: audit.log.fingerprint(value) };
    };

    // Detection: rules over every recorded event, from where this replica's cursor stopped.
    if (role === 'full' && config.detect.enabled)
      detect = started(
        await startDetect({
          dirs: [
            ...(config.detect.includeShipped ? [join(packageRoot(), 'rules', 'default')] : []),
            ...config.detect.rules,
          ],
          watch: config.detect.watch,
          dedupMs: config.detect.dedupMs,
          bus,
          log: logger,
          auditor: audit.log,
          agentFacts: (agent) => policy.agentFacts(agent),
          ...(config.detect.baselines.enabled
            ? {
                baselineStore: store.meta,
                learningRuns: config.detect.baselines.learningRuns,
                learningDays: config.detect.baselines.learningDays,
                baselineBy: config.detect.baselines.by,
              }
            : {}),
          blocklistFiles: config.detect.blocklist,
          ...(config.detect.telemetry === 'auto'
            ? {
                telemetry: {
                  binary: join(packageRoot(), 'dist', 'rampart-telemetry'),
                  target: sandbox.service.telemetryTarget(),
                  runOf: (id: string) => sandbox.service.runByCgroupId(id),
                },
              }
            : {}),
        }),
      );
    cleanups.push(() => {
      bound.lookForDecoys = undefined;
      return Promise.resolve();
    });

    // Response: every replica applies the shared containment to its proxy and carries out orders
    // for its runs; the replica that detects runs the playbooks.
    late.respond = started(
      await startRespond({
        settings: { ...config.respond, enabled: config.respond.enabled && detect !== undefined },
        dirs: [
          ...(config.respond.includeShipped ? [join(packageRoot(), 'playbooks', 'default')] : []),
          ...config.respond.playbooks,
        ],
        meta: store.meta,
        notifications: store.notifications,
        bus,
        auditor: audit.log,
        log: logger,
        actuators: {
          runs: sandbox.control,
          revokeTokens: (kind, id, why, by) =>
            identity.service.revoke(kind, id, why, by, { severity: 'high' }),
          secrets: {
            revoke: (selector, reason, by) => secrets.leases.revoke(selector, reason, by),
            rotate: (vault, name, by) => secrets.rotate(vault, name, by),
          },
        },
        ...(egress
          ? {
              egress: {
                sever: (on: boolean) => void egress.proxy.setKillSwitch(on),
                ban: (target: string) => {
                  egress.guard.ban(target);
                  egress.proxy.enforceGuard();
                },
                unban: (target: string) => void egress.guard.unban(target),
              },
            }
          : {}),
        // Playbooks are checked against the rules this replica serves (none checked without).
        load: () => ({
          ...(detect ? { rules: detect.ruleNames() } : {}),
          fields: DETECTION_FIELDS,
        }),
      }),
    );

    // The git gate: agents' pushes checked, then forwarded with a credential only Rampart holds.
    if (role === 'full') {
      const gate = await startGitgateFor({ ...shared, secrets, started });
      if (gate) bound.gitRoute = { ...gate.address, name: 'git gate' };
    }

    // Incidents: where people take over (every replica may group: changes are compare-and-set).
    // Break-glass: the loud way past a credential's scopes, checked on every request.
    if (role === 'full')
      breakglassLater = (
        await startPeople({
          config,
          store,
          audit: audit.log,
          bus,
          log: logger,
          ruleNames: detect?.ruleNames(),
          started,
        })
      ).breakglass;

    // The log off the host: every record to the SIEM's collectors, checkpoints to a witness.
    if (role === 'full')
      started(
        await startSinks({
          settings: config.sinks,
          audit: store.audit,
          meta: store.meta,
          wake: (fn) => store.notifications.subscribe(EVENTS_CHANNEL, fn),
          installation: audit.installation,
          readSecret: (path, purpose) => readSecretText(path, { purpose }),
          log: logger,
        }),
      );

    // Notifications: what people must act on, to the channels in the configuration.
    started(
      startNotify({
        settings: config.notify,
        bus,
        log: logger,
        readSecret: (path, purpose) => readSecretText(path, { purpose }),
      }),
    );

    const breakglass = breakglassLater;
    const auth = new Authenticator(
      loadOrCreateAdminToken(config.dataDir),
      config.auth.clients,
      (t) => identity.service.verify(t),
      breakglass && ((d) => breakglass.authenticate(d)),
    );
    const metrics = createMetrics();
    const health = new HealthRegistry();
    health.register('store', () => storeHealth(store, config.identity.clockSkewMs));

    const tls = config.server.tls && {
      key: readSecretFile(config.server.tls.keyFile, { purpose: 'server.tls.key_file' }),
      cert: readCert(config.server.tls.certFile),
    };
    // The console: its page and assets, and the sessions that authenticate a browser by cookie.
    // Off, there are no sessions: a cookie authenticates nothing.
    const consoleC = config.console.enabled
      ? started(
          startConsole({
            settings: config.console,
            meta: store.meta,
            bus,
            // Beside the bundle (dist/console), or the repository's dist from a tsc build.
            assetDirs: [
              fileURLToPath(new URL('console', import.meta.url)),
              fileURLToPath(new URL('../../../dist/console', import.meta.url)),
            ],
            tls: Boolean(tls),
          }),
        )
      : undefined;
    // Refused requests: the first per source and reason in a window on record at once, the rest
    // counted into one record at the window's end (a flood of bad tokens cannot fill the disk).
    const refusals = auditedRefusals(config.auth, bus, (e) =>
      logger.error({ err: messageOf(e) }, 'could not audit refused requests'),
    );
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
      fingerprint: (credential) => audit.log.fingerprint(credential),
      rateLimit: (cls, claims) => identity.service.rateLimit(cls, claims),
      https: tls,
      breakglassUsed: breakglass && ((p, method, route) => breakglass.used(p, method, route)),
      cookieAuth: consoleC && ((req) => consoleC.authenticate(req)),
    });
    registerCoreRoutes(app, { health, metrics, metricsAuth: config.server.metricsAuth });
    for (const c of components) {
      const unmount = await mount({ app, health, metrics, stream }, c);
      cleanups.push(async () => unmount());
    }

    if (role === 'full')
      try {
        await app.listen({ host: config.server.listen.host, port: config.server.listen.port });
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        const where = `${config.server.listen.host}:${config.server.listen.port}`;
        throw new RampartError(
          'RAMPART_E_LISTEN',
          `server.listen: ${
            code === 'EADDRINUSE'
              ? `${where} is already in use (is another control plane running?)`
              : code === 'EACCES'
                ? `no permission to listen on ${where}`
                : code === 'EADDRNOTAVAIL'
                  ? `${where} is not an address of this machine`
                  : `cannot listen on ${where}: ${messageOf(e)}`
          }`,
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

    const stopWatching = health.watch(bus, 1000);

    await bus.publish({
      type: 'controlplane.lifecycle',
      severity: 'info',
      source: 'server',
      data: { phase: 'start', pid: process.pid, version: VERSION, role },
    });

    let closing: Promise<void> | undefined;
    const close = (): Promise<void> =>
      (closing ??= (async () => {
        stopWatching();
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
      audit: audit.log,
      bus,
      health,
      logger,
      policy: policy.service,
      identity: identity.service,
      sandbox: sandbox.service,
      adminTokenFile: adminTokenPath(config.dataDir),
      close,
    };
  } catch (e) {
    await unwind().catch(() => undefined);
    throw e;
  }
}
