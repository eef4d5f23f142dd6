// Required (NODE_OPTIONS=--require) into every Node program in a sandbox that has an egress
// channel. Node 20's fetch() ignores HTTP_PROXY/HTTPS_PROXY and would try to connect directly,
// which fails in a sandbox with no route out; this points it at the run's proxy, the way curl,
// pip and git already follow those variables. Bundled with undici into one file
// (dist/egress-preload.cjs) so that it needs nothing from the sandbox's filesystem.
//
// Lazy: Node's fetch reads its dispatcher from this global symbol on every call, so undici is
// loaded on the first fetch() and programs that never fetch pay almost nothing for it. A program
// that installs its own dispatcher (undici's setGlobalDispatcher) still can.
//
// The `http` and `https` modules are not changed: their agents are the program's own choice, and
// without the proxy they simply cannot connect.

import type { Dispatcher, ProxyAgent as ProxyAgentClass } from 'undici';

const GLOBAL_DISPATCHER = Symbol.for('undici.globalDispatcher.1');
const proxy = process.env['HTTPS_PROXY'] ?? process.env['HTTP_PROXY'];

if (proxy) {
  let dispatcher: Dispatcher | undefined;
  // Only the ProxyAgent module is loaded: undici's index would install a direct Agent of its own.
  // Should anything read this property while it loads, it is told "none yet".
  let loading = false;
  Object.defineProperty(globalThis, GLOBAL_DISPATCHER, {
    configurable: true,
    enumerable: false,
    get(): Dispatcher | undefined {
      if (!dispatcher && !loading) {
        loading = true;
        try {
          /* eslint-disable @typescript-eslint/no-require-imports */
          const Dispatcher = require('undici/lib/dispatcher/dispatcher.js') as { prototype: object };
          // What undici's index does, minus the global dispatcher: request(), connect() and the
          // rest are mixed into every dispatcher (ProxyAgent tunnels with connect()).
          Object.assign(Dispatcher.prototype, require('undici/lib/api/index.js'));
          const ProxyAgent = require('undici/lib/dispatcher/proxy-agent.js') as typeof ProxyAgentClass;
          /* eslint-enable @typescript-eslint/no-require-imports */
          dispatcher = new ProxyAgent(proxy);
        } finally {
          loading = false;
        }
      }
      return dispatcher;
    },
    set(d: Dispatcher) {
      if (!loading) dispatcher = d;
    },
  });
}
