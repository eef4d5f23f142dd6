// The `notify` and `sinks` sections: channels and outputs checked against each other's needs
// (a webhook is signed, an email channel has a server, a syslog output an address), every
// problem named with the channel's index and name, secrets kept as paths.

import { EVENT_CATALOGUE } from '../core/events.js';
import type { NotifyChannelSettings, NotifySettings, SinkSettings, SinksSettings } from '../core/settings.js';
import { exhaustive } from './infer.js';
import type { Ctx, RawConfig } from './normalize.js';

/** What a channel sends when its types are not given: what people must hear of at once. */
export const NOTIFY_DEFAULT_TYPES = [
  'respond.notify',
  'respond.breaker',
  'health.changed',
  'detect.rules_load_failed',
  'respond.playbooks_load_failed',
  'detect.telemetry',
  'notify.delivery_failed',
  'incident.opened',
  'incident.acknowledged',
  'incident.resolved',
  'drill.scenario_failed',
] as const;

export function notifyConfig(raw: RawConfig['notify'], c: Ctx): NotifySettings {
  const { channels, retry, queue, ...rest } = raw;
  exhaustive(rest);
  const names = new Set<string>();
  const out = channels.map((ch, i): NotifyChannelSettings => {
    const { name, type, url, url_file, secret_file, min_severity, types, tags, phases, smtp, ...more } = ch;
    exhaustive(more);
    const at = ['notify', 'channels', i];
    const bad = (key: string, message: string): void =>
      c.problem([...at, key], `notify.channels[${i}] (${name}): ${message}`);
    if (names.has(name)) bad('name', `a second channel named ${name}`);
    names.add(name);
    if (type === 'email') {
      if (!smtp) bad('smtp', 'an email channel needs smtp: {host, from, to}');
      if (url || url_file) bad('url', 'an email channel has no url');
    } else {
      if (smtp) bad('smtp', `smtp is for email channels, not ${type}`);
      if (url && url_file) bad('url_file', 'give url or url_file, not both');
      if (!url && !url_file && type !== 'pagerduty') bad('url', `a ${type} channel needs url or url_file`);
    }
    if ((type === 'webhook' || type === 'pagerduty') && !secret_file)
      bad(
        'secret_file',
        type === 'webhook'
          ? 'a webhook is signed: give secret_file (the HMAC key)'
          : 'give secret_file (the routing key)',
      );
    if (smtp?.password_file && !smtp.user) bad('smtp', 'smtp.password_file needs smtp.user');
    for (const t of types ?? [])
      if (!Object.hasOwn(EVENT_CATALOGUE, t)) bad('types', `"${t}" is not an event type (docs/events.md)`);
    return {
      name,
      type,
      url: type === 'pagerduty' && !url && !url_file ? 'https://events.pagerduty.com/v2/enqueue' : url,
      urlFile: url_file === undefined ? undefined : c.abs(url_file),
      secretFile: secret_file === undefined ? undefined : c.abs(secret_file),
      minSeverity: min_severity,
      types: types ?? [...NOTIFY_DEFAULT_TYPES],
      tags: tags ?? [],
      phases: phases ?? [],
      smtp: smtp && {
        host: smtp.host,
        port: smtp.port,
        tls: smtp.tls,
        user: smtp.user,
        passwordFile: smtp.password_file === undefined ? undefined : c.abs(smtp.password_file),
        from: smtp.from,
        to: smtp.to,
      },
    };
  });
  const { attempts, backoff, timeout, ...more } = retry;
  exhaustive(more);
  return {
    channels: out,
    retry: {
      attempts,
      backoffMs: c.ms(['notify', 'retry', 'backoff'], backoff, 1),
      timeoutMs: c.ms(['notify', 'retry', 'timeout'], timeout, 100),
    },
    queue,
  };
}

export function sinksConfig(raw: RawConfig['sinks'], c: Ctx): SinksSettings {
  const { outputs, max_lag, ...rest } = raw;
  exhaustive(rest);
  const names = new Set<string>();
  return {
    maxLag: max_lag,
    outputs: outputs.map((o, i): SinkSettings => {
      const { name, type, address, tls, url, token_file, index, batch, ...more } = o;
      exhaustive(more);
      const bad = (key: string, message: string): void =>
        c.problem(['sinks', 'outputs', i, key], `sinks.outputs[${i}] (${name}): ${message}`);
      if (names.has(name)) bad('name', `a second output named ${name}`);
      names.add(name);
      if (type === 'syslog') {
        if (!address) bad('address', 'a syslog output needs address: host:port');
        if (url) bad('url', 'a syslog output has an address, not a url');
      } else {
        if (!url) bad('url', `a ${type} output needs url`);
        if (address || tls) bad(address ? 'address' : 'tls', `address and tls are for syslog, not ${type}`);
        if (type === 'splunk' && !token_file) bad('token_file', 'a Splunk HEC output needs token_file');
      }
      const at = address?.lastIndexOf(':') ?? -1;
      return {
        name,
        type,
        host: address ? address.slice(0, at).replace(/^\[|\]$/g, '') : '',
        port: address ? Number(address.slice(at + 1)) : 0,
        tls: tls && {
          caFile: tls.ca_file === undefined ? undefined : c.abs(tls.ca_file),
          serverName: tls.server_name,
        },
        url: (url ?? '').replace(/\/+$/, ''),
        tokenFile: token_file === undefined ? undefined : c.abs(token_file),
        index,
        batch,
      };
    }),
  };
}
