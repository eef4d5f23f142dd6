// A TLS origin in a process of its own for bench/egress/inspect.ts's upload: the bench's client
// and this origin each do one side of the TLS, so neither competes with the other on one thread.
// Answers a POST with the number of body bytes it got, and `GET /download/N` with N MB of text
// lines (written as the client takes them). Prints its port once listening.
//
//   node origin-child.js KEY_FILE CERT_FILE

import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';

const [key, cert] = process.argv.slice(2) as [string, string];
const line = Buffer.from(
  `${'{"delta": "a line of a model\'s streamed answer, or of a file fetched"}'.padEnd(99)}\n`,
);
const piece = Buffer.alloc(line.length * 655); // about 64 KB of whole lines
for (let at = 0; at < piece.length; at += line.length) line.copy(piece, at);
const origin = createServer(
  { key: readFileSync(key), cert: readFileSync(cert), keepAliveTimeout: 60_000 },
  (req, res) => {
    const mb = /^\/download\/(\d+)$/.exec(req.url ?? '');
    if (mb) {
      let left = Number(mb[1]) * 1024 * 1024;
      res.writeHead(200, { 'content-length': left });
      const more = (): void => {
        while (left > 0) {
          const n = Math.min(left, piece.length);
          left -= n;
          if (!res.write(piece.subarray(0, n))) return void res.once('drain', more);
        }
        res.end();
      };
      return more();
    }
    let n = 0;
    req.on('data', (d: Buffer) => (n += d.length));
    req.on('end', () => res.end(String(n)));
  },
);
origin.listen(0, '127.0.0.2', () => process.stdout.write(`${(origin.address() as { port: number }).port}\n`));
process.on('SIGTERM', () => process.exit(0));
