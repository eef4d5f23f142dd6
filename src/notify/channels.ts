// The channels: one sender per configured channel, which delivers one event or throws. Secrets
// (a Slack webhook URL, an HMAC key, a routing key, an SMTP password) are read from their files
// once, when the component starts, and never appear in a log line, a record or an error: an
// error names the channel and the HTTP status, never the URL it posted to.

import { createTransport, type Transporter } from 'nodemailer';
import type { StreamEvent } from '../core/events.js';
import { postTo } from '../core/post.js';
import type { NotifyChannelSettings } from '../core/settings.js';
import { emailMessage, pagerDutyBody, signature, slackBody, webhookBody } from './format.js';

export interface Sender {
  send(se: StreamEvent, timeoutMs: number): Promise<void>;
  close(): void;
}

/** Reads a secret file (the control plane's mode-checked reader). */
export type ReadSecret = (path: string, purpose: string) => string;

const post = async (
  channel: string,
  url: string,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<void> =>
  void (await postTo(
    `channel ${channel}`,
    url,
    body,
    { 'content-type': 'application/json', ...headers },
    timeoutMs,
  ));

export function senderFor(ch: NotifyChannelSettings, readSecret: ReadSecret): Sender {
  const secret = ch.secretFile ? readSecret(ch.secretFile, `notify.channels ${ch.name} secret_file`) : '';
  const url = ch.urlFile ? readSecret(ch.urlFile, `notify.channels ${ch.name} url_file`) : (ch.url ?? '');
  switch (ch.type) {
    case 'webhook':
      return {
        send: (se, timeoutMs) => {
          const body = webhookBody(se);
          return post(
            ch.name,
            url,
            body,
            {
              'x-rampart-signature': signature(secret, body, Math.floor(Date.now() / 1000)),
              'x-rampart-event': se.event.type,
              'x-rampart-delivery': String(se.seq),
            },
            timeoutMs,
          );
        },
        close: () => undefined,
      };
    case 'slack':
      return {
        send: (se, timeoutMs) => post(ch.name, url, slackBody(se), {}, timeoutMs),
        close: () => undefined,
      };
    case 'pagerduty':
      return {
        send: (se, timeoutMs) => post(ch.name, url, pagerDutyBody(se, secret), {}, timeoutMs),
        close: () => undefined,
      };
    case 'email': {
      const smtp = ch.smtp!;
      const password = smtp.passwordFile
        ? readSecret(smtp.passwordFile, `notify.channels ${ch.name} smtp.password_file`)
        : undefined;
      const transport: Transporter = createTransport({
        host: smtp.host,
        port: smtp.port,
        secure: smtp.tls === 'tls',
        requireTLS: smtp.tls === 'starttls',
        ignoreTLS: smtp.tls === 'none',
        ...(smtp.user ? { auth: { user: smtp.user, ...(password ? { pass: password } : {}) } } : {}),
        connectionTimeout: 5_000,
        greetingTimeout: 5_000,
        socketTimeout: 10_000,
      });
      return {
        send: async (se, timeoutMs) => {
          const m = emailMessage(se);
          let timer: NodeJS.Timeout | undefined;
          try {
            await Promise.race([
              transport.sendMail({ from: smtp.from, to: [...smtp.to], subject: m.subject, text: m.text }),
              new Promise((_, reject) => {
                timer = setTimeout(() => reject(new Error('timed out')), timeoutMs);
              }),
            ]);
          } catch (e) {
            throw new Error(`channel ${ch.name}: ${(e as { code?: string }).code ?? (e as Error).message}`, {
              cause: e,
            });
          } finally {
            clearTimeout(timer);
          }
        },
        close: () => transport.close(),
      };
    }
  }
}
