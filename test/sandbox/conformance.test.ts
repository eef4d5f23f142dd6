// One conformance suite (test/support/conformance.ts), run here against bwrap and docker; the
// swarm runtime runs it in test/sandbox/swarm.test.ts (one swarm engine at a time on a host).

import { conformance, type Runtime } from '../support/conformance.js';
import { dockerSkip, importBusybox, startDockerd, type Dockerd } from '../support/docker.js';
import { sandboxHarness, sandboxSkip } from '../support/sandbox.js';

const RUNTIMES: Runtime[] = [
  {
    name: 'bwrap',
    skip: sandboxSkip(),
    setup: () => Promise.resolve({ harness: sandboxHarness(), stop: () => Promise.resolve() }),
  },
  {
    name: 'docker',
    skip: sandboxSkip() || dockerSkip(),
    async setup() {
      const d: Dockerd = await startDockerd();
      try {
        const image = await importBusybox(d);
        return { harness: sandboxHarness({ socket: d.socket, image }), stop: () => d.stop() };
      } catch (e) {
        await d.stop();
        throw e;
      }
    },
  },
];

for (const rt of RUNTIMES) conformance(rt);
