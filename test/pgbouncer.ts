// A PgBouncer of a test's own, in transaction mode, in front of the server the suite runs on:
// Debian's `pgbouncer`, run as the `postgres` user when the tests run as root (it refuses root),
// its files in a temporary directory, on a free port (it cannot listen on port 0 and say which).
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort, waitFor } from './processes.ts';

/** The pgbouncer binary, or null when it is not installed (`apt-get install pgbouncer`). */
export const PGBOUNCER_PATH = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer', '/usr/local/bin/pgbouncer'].find((file) => fs.existsSync(file)) ?? null;

export interface PgBouncer {
  port: number;
  /** The URL of a database through the pooler. */
  url(database: string): string;
  /** Runs a statement on PgBouncer's admin console (`show clients`, `show servers`, ...). */
  admin<T extends pg.QueryResultRow>(statement: string): Promise<T[]>;
  /** Everything PgBouncer logged so far. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts PgBouncer in front of the server of `serverUrl` (any database of it; its user, and its
 * password if any, are the ones PgBouncer logs in with). Clients are trusted; every client of one
 * database and user shares `poolSize` server connections, handed out per transaction (or, in
 * statement mode, per statement: transactions are refused).
 */
export async function startPgBouncer(serverUrl: string, { poolSize = 1, poolMode = 'transaction' }: { poolSize?: number; poolMode?: 'transaction' | 'statement' } = {}): Promise<PgBouncer> {
  if (!PGBOUNCER_PATH) throw new Error('pgbouncer is not installed (apt-get install pgbouncer)');
  const server = new URL(serverUrl);
  const user = decodeURIComponent(server.username || 'postgres');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'finishline-pgbouncer-'));
  fs.chmodSync(dir, 0o755);
  const port = await freePort();
  const quote = (value: string) => `"${value.replace(/"/g, '""')}"`;
  // PgBouncer logs in to the server with the auth file's password (plain text: it may need SCRAM).
  fs.writeFileSync(path.join(dir, 'users.txt'), `${quote(user)} ${quote(decodeURIComponent(server.password))}\n`);
  fs.writeFileSync(path.join(dir, 'pgbouncer.ini'), [
    '[databases]',
    `* = host=${server.hostname} port=${server.port || 5432}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'unix_socket_dir =',
    'auth_type = trust',
    `auth_file = ${path.join(dir, 'users.txt')}`,
    `admin_users = ${user}`,
    `pool_mode = ${poolMode}`,
    `default_pool_size = ${poolSize}`,
    'reserve_pool_size = 0',
    'max_client_conn = 500',
    // Clients wait for the shared connection rather than fail: the tests queue many at once.
    'query_wait_timeout = 60',
    '',
  ].join('\n'));
  const asPostgres: { uid?: number; gid?: number } = {};
  if (process.getuid?.() === 0) {
    Object.assign(asPostgres, { uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' })), gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' })) });
    fs.chownSync(path.join(dir, 'users.txt'), asPostgres.uid!, asPostgres.gid!);
    fs.chmodSync(path.join(dir, 'users.txt'), 0o600);
  }
  const child: ChildProcess = spawn(PGBOUNCER_PATH, [path.join(dir, 'pgbouncer.ini')], { ...asPostgres, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = (database: string) => `postgres://${encodeURIComponent(user)}@127.0.0.1:${port}/${database}`;
  const admin = async <T extends pg.QueryResultRow>(statement: string) => {
    const client = new pg.Client({ connectionString: url('pgbouncer') });
    await client.connect();
    try {
      return (await client.query<T>(statement)).rows;
    } finally {
      await client.end();
    }
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(() => admin('show version').then(() => true, () => false), {
      timeoutMs: 10_000,
      what: 'PgBouncer to listen',
      stillRunning: () => {
        if (child.exitCode !== null) throw new Error(`pgbouncer exited early:\n${output}`);
      },
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return { port, url, admin, output: () => output, stop };
}
