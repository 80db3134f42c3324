// Connections whose other end vanished: a machine lost its power or its network, or the database
// failed over to another machine. Neither side hears a thing: each waits, for the operating
// system's TCP keepalive (two hours and more), or for ever.
import type pg from 'pg';

/**
 * For a worker's connections, on the database's side: PostgreSQL probes a client silent for 5 s,
 * each second, and drops it after three unanswered probes, with its session's advisory locks and
 * open transaction. (On a Unix socket these settings do nothing.)
 */
export const PROBE_SILENT_CLIENTS = 'set tcp_keepalives_idle = 5; set tcp_keepalives_interval = 1; set tcp_keepalives_count = 3';

/**
 * For every connection, on this side: Node probes a database silent for 5 s, and the connection
 * fails after ten unanswered probes, a second apart. It also keeps a middlebox from forgetting an
 * idle connection. (Data sent and never acknowledged is not probed: see the heartbeat's watchdog, and
 * dropUnanswered.)
 */
export const PROBE_SILENT_SERVER = { keepAlive: true, keepAliveInitialDelayMillis: 5000 } as const;

/**
 * Drops a connection as if the database had closed it: its socket is destroyed, and its
 * statements fail as the database being unavailable (to be retried on a new connection).
 */
export function dropConnection(client: pg.Client): void {
  client.connection.stream.destroy();
}

/**
 * Drops a pool's connection whose statement the database leaves unanswered for `afterMs`. Data
 * sent into a connection whose database vanished (a failover) is otherwise retransmitted by the
 * kernel for about 15 minutes before anything fails, and keepalive probes only idle connections.
 * `afterMs` must exceed the longest a statement of the pool may take, lock waits included.
 */
export function dropUnanswered(pool: pg.Pool, afterMs: number): void {
  pool.on('connect', (poolClient) => {
    const client = poolClient as pg.Client;
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    const watch = () => setTimeout(() => dropConnection(client), afterMs);
    client.query = ((...args: unknown[]) => {
      const callback = args.at(-1);
      // pg-pool's pool.query passes a callback; other callers take the promise.
      if (typeof callback === 'function') {
        const timer = watch();
        args[args.length - 1] = (...results: unknown[]) => {
          clearTimeout(timer);
          return callback(...results);
        };
        return query(...args);
      }
      const result = query(...args);
      if (result instanceof Promise) {
        const timer = watch();
        result.then(() => clearTimeout(timer), () => clearTimeout(timer));
      }
      return result;
    }) as typeof client.query;
  });
}
