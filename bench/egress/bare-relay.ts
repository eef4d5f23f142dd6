// A bare CONNECT relay in Node, for bench/egress: no identity, no rules, no address guard, no
// records, no timeouts, no backpressure on the way up; the origin read into one reused buffer. It is not a proxy anyone
// should run; it is the floor of what a proxy written on Node's sockets costs per tunnel on the
// machine the benchmark runs on, measured beside Rampart, squid and tinyproxy. Prints its port.

import { connect, createServer, type Socket } from 'node:net';

const ESTABLISHED = Buffer.from('HTTP/1.1 200 Connection Established\r\n\r\n');
/** Every origin read lands here; a write that had to queue keeps it, and the next gets a new one. */
let buffer = Buffer.allocUnsafeSlow(256 * 1024);
const relayRead = (client: Socket, n: number, buf: Buffer): boolean => {
  const more = client.write(buf.subarray(0, n));
  if (client.writableLength > 0) buffer = Buffer.allocUnsafeSlow(256 * 1024);
  return more;
};

const server = createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
  client.on('error', () => client.destroy());
  client.once('data', (d: Buffer) => {
    client.pause();
    const line = d.toString('latin1', 0, d.indexOf('\r\n'));
    const target = line.split(' ')[1] ?? '';
    const colon = target.lastIndexOf(':');
    const origin = connect({
      host: target.slice(0, colon),
      port: Number(target.slice(colon + 1)),
      allowHalfOpen: true,
      onread: { buffer: () => buffer, callback: (n, buf) => relayRead(client, n, buf as Buffer) },
    });
    origin.on('error', () => client.destroy());
    origin.once('connect', () => {
      client.write(ESTABLISHED);
      client.on('data', (c: Buffer) => origin.write(c));
      client.on('end', () => origin.end());
      origin.on('end', () => client.end());
      client.on('drain', () => origin.resume());
      client.resume();
    });
    client.on('close', () => origin.destroy());
    origin.on('close', () => client.destroy());
  });
});
process.on('SIGTERM', () => process.exit(0));
server.listen(0, '127.0.0.1', () => {
  const a = server.address();
  process.stdout.write(`${typeof a === 'object' && a ? a.port : 0}\n`);
});
