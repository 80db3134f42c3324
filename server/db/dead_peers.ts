// Connections whose other end vanished: a machine lost its power or its network, or the database
// failed over to another machine. Neither side hears a thing: each waits, for the operating
// system's TCP keepalive (two hours and more), or for ever.

/**
 * For a worker's connections, on the database's side: PostgreSQL probes a client silent for 5 s,
 * each second, and drops it after three unanswered probes, with its session's advisory locks and
 * open transaction. (On a Unix socket these settings do nothing.)
 */
export const PROBE_SILENT_CLIENTS = 'set tcp_keepalives_idle = 5; set tcp_keepalives_interval = 1; set tcp_keepalives_count = 3';

/**
 * For every connection, on this side: Node probes a database silent for 5 s, and the connection
 * fails after ten unanswered probes, a second apart. It also keeps a middlebox from forgetting an
 * idle connection. (Data sent and never acknowledged is not probed: see the heartbeat's watchdog.)
 */
export const PROBE_SILENT_SERVER = { keepAlive: true, keepAliveInitialDelayMillis: 5000 } as const;
