// Routing by tag and incident phase, delivered to a real local receiver through the notify
// component's own subscription: a team's channel hears only its tags, an on-call channel only
// the phases it asked for, and break-glass reaches every channel whatever it is set to hear.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { StreamEvent } from '../../src/core/events.js';
import type { NotifyChannelSettings } from '../../src/core/settings.js';
import { startNotify } from '../../src/notify/component.js';
import { startReceiver } from '../support/http.js';
import { tempDir } from '../support/tmp.js';
import { eventually } from '../support/wait.js';

const log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

describe('notification routing', () => {
  const dir = tempDir();
  after(() => dir.cleanup());

  it('by tag and phase; break-glass to every channel', async () => {
    const receiver = await startReceiver();
    writeFileSync(join(dir.dir, 'k'), 'whsec-0123456789abcdef0123456789abcdef\n', { mode: 0o600 });
    const channel = (name: string, extra: Partial<NotifyChannelSettings>): NotifyChannelSettings => ({
      name,
      type: 'webhook',
      url: `${receiver.url}/${name}`,
      urlFile: undefined,
      secretFile: join(dir.dir, 'k'),
      minSeverity: 'low',
      types: ['detect.detection', 'incident.opened', 'incident.changed'],
      tags: [],
      phases: [],
      smtp: undefined,
      ...extra,
    });
    const c = startNotify({
      settings: {
        channels: [
          channel('exfil-team', { tags: ['exfiltration'] }),
          channel('oncall', { phases: ['detection', 'containment'] }),
          channel('quiet', { types: ['respond.breaker'], minSeverity: 'critical' }),
        ],
        retry: { attempts: 2, backoffMs: 10, timeoutMs: 1000 },
        queue: 100,
      },
      bus: { publish: async () => ({ seq: 0, time: '' }) },
      log,
      readSecret: (p) => (p.endsWith('/k') ? 'whsec-0123456789abcdef0123456789abcdef' : ''),
    });
    const sub = c.subscriptions[0]!;
    // The subscription takes break-glass even though no channel lists it.
    assert.ok(sub.types === '*' || sub.types.includes('breakglass.requested'));
    let seq = 1;
    const send = async (type: string, severity: string, data: Record<string, unknown>): Promise<void> => {
      await sub.handle({
        seq: seq++,
        time: new Date().toISOString(),
        event: { type, severity, source: 't', data },
      } as unknown as StreamEvent);
    };
    await send('detect.detection', 'high', {
      rule: 'exfiltration-random-hostname',
      output: 'dns',
      tags: ['exfiltration'],
    });
    await send('detect.detection', 'high', {
      rule: 'shadow-file-read',
      output: 'shadow',
      tags: ['credential_access'],
    });
    await send('incident.opened', 'high', {
      id: 'INC-1',
      title: 't',
      phase: 'detection',
      tags: ['credential_access'],
    });
    await send('incident.changed', 'high', {
      id: 'INC-1',
      title: 't',
      change: 'phase',
      phase: 'eradication',
      tags: [],
    });
    await send('breakglass.requested', 'critical', { id: 'BG-1', requester: 'client:a', reason: 'x' });
    // Each channel delivers in order: once every one has the last event, it has all it will get.
    const seen = await eventually(
      async () =>
        ['exfil-team', 'oncall', 'quiet'].every((n) =>
          receiver.got.some((g) => g.path === `/${n}` && g.body.includes('breakglass.requested')),
        )
          ? receiver.got
          : undefined,
      'the break-glass event on every channel',
    );
    const by = (name: string): string[] =>
      seen
        .filter((g) => g.path === `/${name}`)
        .map((g) => {
          const b = JSON.parse(g.body) as { type: string; data: { rule?: string; phase?: string } };
          return `${b.type}:${b.data.rule ?? b.data.phase ?? ''}`;
        });
    assert.deepEqual(by('exfil-team'), [
      'detect.detection:exfiltration-random-hostname',
      'breakglass.requested:',
    ]);
    assert.deepEqual(by('oncall'), [
      'detect.detection:exfiltration-random-hostname',
      'detect.detection:shadow-file-read',
      'incident.opened:detection',
      'breakglass.requested:',
    ]);
    assert.deepEqual(by('quiet'), ['breakglass.requested:']);
    await c.stop();
    await receiver.close();
  });
});
