// The configuration's types come from its schema (config/infer.ts). These checks run in the
// compiler: if the inference drifted (a key typed `never` or `any`, a default not making a key
// present, an enum widened to string), the build fails before any test runs.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Infer } from '../../src/config/infer.js';
import type { configSchema } from '../../src/config/schema.js';
import type { Scope } from '../../src/core/scopes.js';

type Raw = Infer<typeof configSchema>;
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const is = <T extends true>(): T => true as T;

it('infers every section of the configuration from the schema', () => {
  // Defaults make keys present; keys without one stay optional.
  is<Equal<Raw['server']['listen'], string>>();
  is<Equal<Raw['server']['tls'], { cert_file: string; key_file: string } | undefined>>();
  is<Equal<Raw['server']['metrics_auth'], boolean>>();
  is<Equal<Raw['store']['driver'], 'sqlite' | 'postgres'>>();
  is<Equal<Raw['store']['postgres']['port'], number>>();
  is<Equal<Raw['store']['postgres']['password_file'], string | undefined>>();
  is<Equal<Raw['auth']['clients'][number]['scopes'], Scope[]>>();
  is<Equal<Raw['policy']['decision_log'], 'async' | 'durable' | 'off'>>();
  is<
    Equal<
      Raw['policy']['opa'],
      { url: string; path: string; timeout: string; retry_interval: string; token_file?: string } | undefined
    >
  >();
  is<Equal<Raw['identity']['rate_limits']['egress']['per_token'], { rate: number; burst: number }>>();
  is<Equal<Raw['sandbox']['profiles'][string]['devices'], ('/dev/kvm' | '/dev/net/tun')[] | undefined>>();
  is<Equal<Raw['egress']['mode'], 'enforce' | 'report'>>();
  is<Equal<Raw['secrets']['postgres'][number]['roles'][number]['ttl'], string>>();
  is<Equal<Raw['detect']['rules'], string[] | undefined>>();
  is<Equal<Raw['gitgate']['upstreams'][number]['credential'], string | undefined>>();
  is<Equal<Raw['gitgate']['rules']['max_files'], number>>();
  is<Equal<Raw['admission']['deny_on'], 'info' | 'low' | 'medium' | 'high' | 'critical'>>();
  is<
    Equal<
      keyof Raw,
      | 'data_dir'
      | 'server'
      | 'auth'
      | 'store'
      | 'audit'
      | 'policy'
      | 'identity'
      | 'sandbox'
      | 'egress'
      | 'admission'
      | 'secrets'
      | 'detect'
      | 'respond'
      | 'incidents'
      | 'breakglass'
      | 'console'
      | 'gitgate'
      | 'notify'
      | 'sinks'
      | 'logging'
    >
  >();
  assert.ok(true, 'checked by the compiler');
});
