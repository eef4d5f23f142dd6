// A TLS origin in a process of its own for bench/egress/inspect.ts's upload: the bench's client
// and this origin each do one side of the TLS, so neither competes with the other on one thread.
// Answers a POST with the number of body bytes it got. Prints its port once listening.
//
//   node origin-child.js KEY_FILE CERT_FILE

import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';

const [key, cert] = process.argv.slice(2) as [string, string];
const origin = createServer(
  { key: readFileSync(key), cert: readFileSync(cert), keepAliveTimeout: 60_000 },
  (req, res) => {
    let n = 0;
    req.on('data', (d: Buffer) => (n += d.length));
    req.on('end', () => res.end(String(n)));
  },
);
origin.listen(0, '127.0.0.2', () => process.stdout.write(`${(origin.address() as { port: number }).port}\n`));
process.on('SIGTERM', () => process.exit(0));
