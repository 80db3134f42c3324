// A TCP hop between a process and PostgreSQL that passes on what the process sends only after a
// delay: a slow network under one connection, so that a statement reaches the database late.
import { startTcpHop, type TcpHop } from './tcp_hop.ts';

export function startSlowHop(databaseUrl: string, delayMs: number): Promise<TcpHop> {
  return startTcpHop(databaseUrl, (client, upstream) => {
    client.on('data', (chunk) => void setTimeout(() => upstream.write(chunk), delayMs));
    upstream.pipe(client);
  });
}
