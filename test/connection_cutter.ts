// A TCP hop between a process and PostgreSQL that breaks one connection at the worst moment: after
// a statement whose answer carries a marker has committed, before the client hears that it did.
// It reads the server's side of the protocol (a type byte and a length per message) and, once
// armed, closes both sides instead of passing on the ReadyForQuery that follows the marked row.
import { startTcpHop } from './tcp_hop.ts';

export interface ConnectionCutter {
  /** A URL like `databaseUrl`, through this hop. */
  url: string;
  /** Breaks the next connection whose answer contains `marker`, once. */
  arm(marker: string): void;
  /** How many connections it broke. */
  cuts(): number;
  close(): Promise<void>;
}

export async function startConnectionCutter(databaseUrl: string): Promise<ConnectionCutter> {
  let marker: Buffer | null = null;
  let cuts = 0;
  const hop = await startTcpHop(databaseUrl, (client, upstream) => {
    client.pipe(upstream);
    let pending = Buffer.alloc(0);
    let markedRowSeen = false;
    upstream.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      let whole = 0;
      while (pending.length - whole >= 5) {
        const length = pending.readInt32BE(whole + 1);
        if (pending.length - whole < 1 + length) break;
        const type = String.fromCharCode(pending[whole]);
        const message = pending.subarray(whole, whole + 1 + length);
        if (marker && type === 'D' && message.includes(marker)) markedRowSeen = true;
        if (markedRowSeen && type === 'Z') {
          client.write(pending.subarray(0, whole));
          marker = null;
          cuts++;
          client.destroy();
          upstream.destroy();
          return;
        }
        whole += 1 + length;
      }
      client.write(pending.subarray(0, whole));
      pending = pending.subarray(whole);
    });
  });
  return {
    ...hop,
    arm(text) {
      marker = Buffer.from(text);
    },
    cuts: () => cuts,
  };
}
