// A TCP hop between a process and PostgreSQL, for tests that do something to what crosses it:
// each connection to it opens one to the database, and `relay` decides what passes between them.
import net from 'node:net';

export interface TcpHop {
  /** A URL like the database's, through this hop. */
  url: string;
  close(): Promise<void>;
}

/**
 * Listens on a free port of 127.0.0.1. `relay` gets each connection's two sockets, errors ignored
 * and each closed when the other closes, and must pass their data on itself.
 */
export async function startTcpHop(databaseUrl: string, relay: (client: net.Socket, upstream: net.Socket) => void): Promise<TcpHop> {
  const target = new URL(databaseUrl);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    relay(client, upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(databaseUrl);
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as net.AddressInfo).port);
  return {
    url: url.toString(),
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
