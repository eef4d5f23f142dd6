// The response engine's decisions, over a real SQLite store (containment state) and the real
// playbook loader, with the actuators recorded at their interface: the circuit breaker under a
// storm, escalation levels, failure modes (fail closed, escalate), dry runs, targets already
// gone, and orders for runs another replica keeps. What the actuators do to real runs is
// contain.test.ts's.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { BusEvent, EventPublisher, StreamEvent } from '../../src/core/events.js';
import { DETECTION_FIELDS } from '../../src/detect/engine.js';
import type { Order, RunActions } from '../../src/respond/engine.js';
import { RespondService } from '../../src/respond/service.js';
import { ContainmentState } from '../../src/respond/state.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/types.js';
import { tempDir } from '../support/tmp.js';
import { until } from '../support/wait.js';

const log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

interface Harness {
  svc: RespondService;
  state: ContainmentState;
  events: BusEvent[];
  calls: string[];
  orders: Order[];
  detect(seq: number, rule: string, run: string, agent?: string): Promise<void>;
  settle(): Promise<void>;
  stop(): Promise<void>;
}

describe('the response engine', () => {
  const cleanups: (() => void | Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  async function harness(
    playbooks: string,
    opts: {
      breaker?: Partial<{ windowMs: number; perPlaybook: number; perAction: number; perAgent: number }>;
      dryRun?: boolean;
      fail?: Set<string>;
      elsewhere?: Set<string>;
      /** Event types the audit log refuses to record. */
      unrecorded?: Set<string>;
    } = {},
  ): Promise<Harness> {
    const t = tempDir();
    writeFileSync(join(t.dir, 'p.yaml'), playbooks);
    const store: Store = openSqliteStore({ file: join(t.dir, 'r.db') });
    const events: BusEvent[] = [];
    const calls: string[] = [];
    const orders: Order[] = [];
    const bus: EventPublisher = {
      publish: async (e) => {
        if (opts.unrecorded?.has(e.type)) throw new Error('the audit log refused the record');
        events.push(e);
      },
    };
    const act = (what: string, run: string): 'done' | 'gone' => {
      calls.push(`${what} ${run}`);
      if (opts.fail?.has(what)) throw new Error(`${what} refused`);
      return run.startsWith('gone') ? 'gone' : 'done';
    };
    const runs: RunActions = {
      hosts: (run) => !opts.elsewhere?.has(run),
      where: async (run) => (opts.elsewhere?.has(run) ? 'elsewhere' : 'here'),
      freeze: async (run) => act('freeze', run),
      thaw: (run) => act('thaw', run),
      kill: (run) => ({ outcome: act('kill', run), recorded: Promise.resolve() }),
      quarantine: async (run) => ({ outcome: act('quarantine', run), recorded: Promise.resolve() }),
      cutEgress: (run) => act('cut_egress', run),
      destroyAll: () => {
        calls.push('destroy_all');
        return { ids: ['r1', 'r2'], recorded: Promise.resolve() };
      },
    };
    const state = await ContainmentState.open({
      meta: store.meta,
      notifications: store.notifications,
      apply: () => undefined,
      onError: () => undefined,
      now: Date.now,
    });
    const svc = await RespondService.start({
      dirs: [t.dir],
      watch: false,
      dryRun: opts.dryRun ?? false,
      breaker: { windowMs: 60_000, perPlaybook: 1000, perAction: 1000, perAgent: 1000, ...opts.breaker },
      load: () => ({ fields: DETECTION_FIELDS }),
      actuators: {
        runs,
        revokeTokens: async (kind, id) => void calls.push(`revoke_tokens ${kind}:${id}`),
        order: async (o) => void orders.push(o),
        secrets: {
          revoke: async (selector) => {
            calls.push(`revoke_secrets ${JSON.stringify(selector)}`);
            return { revoked: 2, failed: 0 };
          },
          rotate: async (vault, name) => {
            calls.push(`rotate ${vault}/${name}`);
            if (name === 'no-rotator') throw new Error(`no rotator for ${vault}/${name}`);
          },
        },
      },
      state,
      bus,
      log,
    });
    const h: Harness = {
      svc,
      state,
      events,
      calls,
      orders,
      detect: (seq, rule, run, agent = 'a1') => {
        const se: StreamEvent = {
          seq,
          time: new Date().toISOString(),
          event: {
            type: 'detect.detection',
            severity: 'high',
            source: 'detect',
            data: {
              rule,
              priority: 'high',
              output: `${rule} on ${run}`,
              tags: ['t'],
              run,
              agent,
              namespace: '',
              events: [seq - 1],
              count: 1,
              fields: { 'net.address': '203.0.113.5' },
            },
          },
        };
        return svc.handle(se);
      },
      settle: async () => {
        await svc.stop();
      },
      stop: async () => {
        state.stop();
        await svc.stop();
        await store.close();
        t.cleanup();
      },
    };
    cleanups.push(() => h.stop());
    return h;
  }

  const actionsOf = (h: Harness) =>
    h.events.filter((e) => e.type === 'respond.action').map((e) => e.data as Record<string, unknown>);

  it('holds under a storm: 1,000 detections on 100 runs take no more actions than the limits allow, one critical event', async () => {
    const h = await harness('- playbook: kill-it\n  match: {rules: [r]}\n  actions: [kill]\n', {
      breaker: { perPlaybook: 20 },
    });
    for (let i = 0; i < 1000; i++) await h.detect(i + 1, 'r', `run-${i % 100}`, `agent-${i % 100}`);
    await h.settle();
    const kills = h.calls.filter((c) => c.startsWith('kill'));
    const freezes = h.calls.filter((c) => c.startsWith('freeze'));
    assert.equal(kills.length, 20, 'kills stop at the limit');
    assert.equal(freezes.length, 80, 'the other runs are frozen instead, once each');
    assert.equal(new Set(freezes).size, 80);
    const trips = h.events.filter((e) => e.type === 'respond.breaker');
    assert.equal(trips.length, 1);
    assert.equal(trips[0]!.severity, 'critical');
    assert.equal((trips[0]!.data as { scope: string }).scope, 'playbook:kill-it');
    // The trip is kept in the store (a restart does not reset it) and health says so.
    assert.deepEqual([...h.state.state.trips.keys()], ['playbook:kill-it']);
    assert.match(h.svc.health().detail ?? '', /breaker tripped for playbook:kill-it/);
    // A person resets it; kills resume.
    assert.deepEqual(await h.svc.resetBreaker(undefined, 'alice', 'false positives cleared'), [
      'playbook:kill-it',
    ]);
    assert.equal(h.state.state.trips.size, 0);
  });

  it('a tripped breaker never switches containment off: freezes, token revocations and cuts go on', async () => {
    const h = await harness(
      '- playbook: p\n  match: {rules: [r]}\n  actions: [freeze, revoke_tokens, cut_egress, notify]\n',
      { breaker: { perAgent: 2 } },
    );
    for (let i = 0; i < 10; i++) await h.detect(i + 1, 'r', `run-${i}`, 'one-agent');
    await h.settle();
    assert.equal(h.calls.filter((c) => c.startsWith('freeze')).length, 10);
    assert.equal(h.calls.filter((c) => c.startsWith('cut_egress')).length, 10);
    assert.equal(h.calls.filter((c) => c.startsWith('revoke_tokens')).length, 10);
    // notify is not containment: two, then the agent's scope trips.
    assert.equal(h.events.filter((e) => e.type === 'respond.notify').length, 2);
    // It carries the detection's tags, for channels that route on them.
    assert.deepEqual((h.events.find((e) => e.type === 'respond.notify')!.data as { tags?: string[] }).tags, [
      't',
    ]);
    assert.equal(h.svc.stats.suppressed, 8);
  });

  it('escalates: first notify, then freeze, by run within the window', async () => {
    const h = await harness(
      [
        '- playbook: esc',
        '  match: {rules: [r]}',
        '  actions: [notify]',
        '  escalation:',
        '    by: run',
        '    window: 10m',
        '    levels:',
        '      - after: 3',
        '        actions: [freeze]',
      ].join('\n'),
    );
    for (let i = 0; i < 4; i++) await h.detect(i + 1, 'r', 'run-e');
    await h.detect(9, 'r', 'run-other');
    await h.settle();
    assert.equal(
      h.events.filter((e) => e.type === 'respond.notify').length,
      3,
      'detections 1, 2 and the other run',
    );
    assert.deepEqual(h.calls, ['freeze run-e'], 'the third and fourth freeze once');
  });

  it('fails closed (a freeze that fails becomes a kill), escalates to people, and records both', async () => {
    const h = await harness(
      [
        '- playbook: p',
        '  match: {rules: [r]}',
        '  actions:',
        '    - freeze',
        '    - action: cut_egress',
        '      on_failure: escalate',
        '    - action: revoke_tokens',
        '      on_failure: next',
      ].join('\n'),
      { fail: new Set(['freeze', 'cut_egress']) },
    );
    await h.detect(1, 'r', 'run-f');
    await until(() => actionsOf(h).length >= 4, 'the actions on record');
    await h.settle();
    assert.deepEqual(h.calls, ['freeze run-f', 'kill run-f', 'cut_egress run-f', 'revoke_tokens run:run-f']);
    const recorded = actionsOf(h).map((a) => [a.action, a.outcome, a.fallback ?? '']);
    assert.deepEqual(recorded, [
      ['freeze', 'failed', 'kill'],
      ['kill', 'done', ''],
      ['cut_egress', 'failed', ''],
      ['revoke_tokens', 'done', ''],
    ]);
    const escalated = h.events.find((e) => e.type === 'respond.notify');
    assert.equal(escalated?.severity, 'critical');
    assert.match(
      (escalated?.data as { message: string }).message,
      /cut_egress on run:run-f failed, handed to people: cut_egress refused/,
    );
  });

  it('dry run records what it would do and does nothing; a gone target is recorded as such, once', async () => {
    const dry = await harness('- playbook: p\n  match: {rules: [r]}\n  actions: [freeze, block_agent]\n', {
      dryRun: true,
    });
    await dry.detect(1, 'r', 'run-d');
    await dry.settle();
    assert.deepEqual(dry.calls, []);
    assert.deepEqual(
      actionsOf(dry).map((a) => a.outcome),
      ['dry_run', 'dry_run'],
    );
    assert.equal(dry.state.state.blocked.size, 0);

    const gone = await harness(
      '- playbook: p\n  match: {rules: [r]}\n  actions: [freeze, block_agent, ban_destination]\n',
    );
    await gone.detect(1, 'r', 'gone-1');
    await gone.detect(2, 'r', 'gone-1');
    await until(() => actionsOf(gone).length >= 3, 'the actions on record');
    await gone.settle();
    assert.deepEqual(
      actionsOf(gone).map((a) => [a.action, a.outcome]),
      [
        ['freeze', 'gone'],
        ['block_agent', 'done'],
        ['ban_destination', 'done'],
      ],
    );
    assert.ok(gone.state.blocked('a1')?.includes('by playbook:p'));
    assert.ok(gone.state.state.bans.has('203.0.113.5'));
  });

  it('sends an action on a run another replica keeps there as an order; the keeper carries it out', async () => {
    const h = await harness('- playbook: p\n  match: {rules: [r]}\n  actions: [freeze, revoke_tokens]\n', {
      elsewhere: new Set(['run-far']),
    });
    await h.detect(1, 'r', 'run-far');
    await h.settle();
    assert.deepEqual(
      h.orders.map((o) => [o.action, o.run, o.playbook]),
      [['freeze', 'run-far', 'p']],
    );
    assert.deepEqual(h.calls, ['revoke_tokens run:run-far'], 'tokens are revoked where it was decided');
    // An order for a run this replica does not keep is left to the one that does.
    await h.svc.order(h.orders[0]!);
    assert.deepEqual(h.calls, ['revoke_tokens run:run-far']);
  });

  it('revokes and rotates secrets through the broker, and says which rotation failed; destroy_all ends every run', async () => {
    const h = await harness(
      [
        '- playbook: leak',
        '  match: {rules: [r]}',
        '  actions:',
        '    - action: revoke_secrets',
        '      parameters: {scope: agent}',
        '    - action: rotate_secrets',
        '      parameters: {secrets: [ci/npm, ci/no-rotator]}',
        '    - destroy_all',
      ].join('\n'),
    );
    await h.detect(1, 'r', 'run-s', 'leaky');
    await until(() => actionsOf(h).length >= 3, 'the actions on record');
    await h.settle();
    assert.deepEqual(h.calls, [
      'revoke_secrets {"agent":"leaky"}',
      'rotate ci/npm',
      'rotate ci/no-rotator',
      'destroy_all',
    ]);
    const recorded = actionsOf(h);
    assert.deepEqual(
      recorded.map((a) => [a.action, a.outcome]),
      [
        ['revoke_secrets', 'done'],
        ['rotate_secrets', 'failed'],
        ['destroy_all', 'done'],
      ],
    );
    assert.match(String(recorded[1]!.error), /ci\/no-rotator: no rotator for ci\/no-rotator/);
  });

  it('contains when the audit log refuses the action records, and says so loudly', async () => {
    const h = await harness('- playbook: p\n  match: {rules: [r]}\n  actions: [freeze, cut_egress]\n', {
      unrecorded: new Set(['respond.action']),
    });
    await h.detect(1, 'r', 'run-l');
    await until(() => h.svc.stats.recordFailures >= 2, 'the lost records counted');
    await h.settle();
    assert.deepEqual(h.calls, ['freeze run-l', 'cut_egress run-l']);
    const health = h.svc.health();
    assert.equal(health.status, 'degraded');
    assert.match(health.detail ?? '', /ACTIONS TAKEN WITHOUT A RECORD: 2/);
  });
});
