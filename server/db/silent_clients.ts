// A worker whose machine dies (its power, its network) leaves its connections open on the
// database's side, with their sessions' advisory locks and open transactions: PostgreSQL would
// notice only after the operating system's TCP keepalive, two hours and more. On a worker's
// connections it probes a client silent for 5 s, each second, and drops it after three
// unanswered probes. (On a Unix socket these settings do nothing.)
export const PROBE_SILENT_CLIENTS = 'set tcp_keepalives_idle = 5; set tcp_keepalives_interval = 1; set tcp_keepalives_count = 3';
