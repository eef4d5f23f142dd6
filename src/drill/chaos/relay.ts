// Latency between the control plane and its store without tc netem (kernels built without
// CONFIG_NET_SCH_NETEM have no qdisc to add it with): the control plane reaches PostgreSQL through
// this relay, which holds every chunk from the store for `delayMs` (in order) before passing it.

import { connect, createServer, type Server, type Socket } from 'node:net';

export class DelayRelay {
  delayMs = 0;
  private readonly sockets = new Set<Socket>();
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(listenHost: string, targetHost: string, targetPort: number): Promise<DelayRelay> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, listenHost, () => resolve());
    });
    const relay = new DelayRelay(server, (server.address() as { port: number }).port);
    server.on('connection', (client) => relay.join(client, connect(targetPort, targetHost)));
    return relay;
  }

  private join(client: Socket, store: Socket): void {
    for (const s of [client, store]) {
      this.sockets.add(s);
      s.on('error', () => undefined);
      s.once('close', () => {
        this.sockets.delete(s);
        client.destroy();
        store.destroy();
      });
    }
    client.pipe(store);
    store.on('data', (chunk: Buffer) => {
      if (this.delayMs === 0) client.write(chunk);
      else setTimeout(() => client.write(chunk), this.delayMs);
    });
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }
}
