// The long-running commands: `start` (migrations, a worker and the HTTP server in one process),
// `worker` and `serve`. Each runs until SIGINT or SIGTERM, then stops its parts in order, the
// database last; an error nothing caught ends it non-zero, for its supervisor to restart it.
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { resolveJwtSecret } from '../auth.ts';
import type { Config } from '../config.ts';
import { ignoreConnectionError, openDatabase, type Database } from '../db/database.ts';
import { dropUnanswered, PROBE_SILENT_SERVER } from '../db/dead_peers.ts';
import { applySessionSettings } from '../db/session.ts';
import { whileUnavailable } from '../db/errors.ts';
import { migrate, pendingMigrations } from '../db/migrate.ts';
import { connectionPooler, requireDirectConnection, shownUrl, transactionsRefused } from '../db/pooler.ts';
// (The HTTP server and the sign-in links are imported where they are used: PostGraphile adds
// ~60 MB to a process, `finishline worker` never serves, and a server must see whether it is
// behind a pooler before PostGraphile's pg adaptor loads.)
import type { HttpServer } from '../http/server.ts';
import { log, routeConsoleToLog } from '../log.ts';
import { isListenConnectionReleasedTwice, startWorker } from '../worker/worker.ts';
import { loadDemoOnFirstStart } from './tenants.ts';

/** What the refusal to run through a connection pooler says each needs a session for. */
const WORKER_NEEDS = 'the worker needs a direct connection for its LISTEN and advisory locks';
export const MIGRATIONS_NEED = 'migrations need a direct connection for their advisory locks';

/** The task list and crontab the worker runs: one file a task, named after its identifier. */
const TASK_DIRECTORY = fileURLToPath(new URL('../../tasks', import.meta.url));
const CRONTAB_FILE = fileURLToPath(new URL('../../tasks/crontab', import.meta.url));

interface Stoppable {
  stop(): Promise<void>;
}

/**
 * An error nothing caught means a state nobody planned for: the process says why and exits
 * non-zero, for its supervisor to start it again, rather than run on half-alive.
 */
function exitOnUnexpectedErrors(): void {
  const unexpected = (error: unknown) => {
    log.error('unexpected error: exiting', { error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    process.exit(1);
  };
  process.on('uncaughtException', unexpected);
  process.on('unhandledRejection', (error) => {
    if (isListenConnectionReleasedTwice(error)) log.warn('the worker gave its LISTEN connection back twice: the second time was ignored');
    else unexpected(error);
  });
}

/** Stops the parts in order, the database last; a step that fails is logged, and the rest go on. */
async function stopParts(parts: Stoppable[]): Promise<void> {
  for (const part of parts) await part.stop().catch((error: unknown) => log.error('shutdown step failed', { error: String(error) }));
}

/** Runs until SIGINT, SIGTERM or SIGHUP (or a crash), then stops the parts in order, the database last. */
async function runUntilSignalled(parts: Stoppable[], crashed: Promise<void>): Promise<never> {
  let stopping = false;
  const shutdown = async (reason: string, code: number) => {
    if (stopping) {
      log.warn('second signal: exiting at once', { reason });
      process.exit(1);
    }
    stopping = true;
    log.info('shutting down', { reason });
    await stopParts(parts);
    process.exit(code);
  };
  process.on('SIGINT', () => void shutdown('SIGINT', 0));
  process.on('SIGTERM', () => void shutdown('SIGTERM', 0));
  // Its terminal closed: a stop like any other (by default the process would die on the spot).
  process.on('SIGHUP', () => void shutdown('SIGHUP', 0));
  await crashed.catch((error: unknown) => shutdown(`crash: ${error instanceof Error ? error.message : String(error)}`, 1));
  return new Promise<never>(() => {});
}

/**
 * Where the server's LISTEN connects, or null (subscriptions off) when that too is a pooler. A
 * DATABASE_URL through a pooler turns PostGraphile's prepared statements off: a transaction pooler
 * hands the next transaction another server, which never saw them. Runs before PostGraphile is
 * loaded, as @dataplan/pg reads its setting once, when it is.
 */
async function adaptToPoolers(database: Database): Promise<{ listenConnectionString: string | null }> {
  if (database.embedded) return { listenConnectionString: database.directConnectionString };
  const requestsPooler = await connectionPooler(database.connectionString, log);
  if (requestsPooler) {
    const refused = await transactionsRefused(database.connectionString, log);
    if (refused) {
      throw new Error(`DATABASE_URL (${shownUrl(database.connectionString)}) goes through a connection pooler that refuses transactions (${JSON.stringify(refused)}), and every GraphQL request runs in one: set its pool_mode to transaction`);
    }
    process.env.DATAPLAN_PG_PREPARED_STATEMENT_CACHE_SIZE = '0';
    log.info('DATABASE_URL goes through a connection pooler: GraphQL queries are sent unprepared', { pooler: requestsPooler });
  }
  const listenPooler = database.directConnectionString === database.connectionString
    ? requestsPooler
    : await connectionPooler(database.directConnectionString, log);
  if (!listenPooler) return { listenConnectionString: database.directConnectionString };
  log.error(`${database.directVariable} goes through a connection pooler, where LISTEN does not work: subscriptions (batchProgress) are off; set DIRECT_DATABASE_URL to the database itself`, { pooler: listenPooler });
  return { listenConnectionString: null };
}

async function serveHttp(config: Config, database: Database, jwtSecret: string): Promise<{ server: HttpServer; stop(): Promise<void> }> {
  const { listenConnectionString } = await adaptToPoolers(database);
  // Uploads, /health and /metrics share these; a request waits at most 5 s for one (then fails).
  const pool = new pg.Pool({ connectionString: database.connectionString, max: config.serverPoolSize, connectionTimeoutMillis: 5_000, application_name: 'finishline server', ...PROBE_SILENT_SERVER, onConnect: applySessionSettings });
  pool.on('error', (error) => log.warn('idle database connection lost', { error: error.message }));
  // Their statements (an upload's chunks, /health, /metrics, a sign-in) each take well under this.
  dropUnanswered(pool, 60_000);
  const [{ createPostGraphile }, { startHttpServer }] = await Promise.all([import('../http/graphql.ts'), import('../http/server.ts')]);
  const graphql = createPostGraphile({
    connectionString: database.connectionString,
    listenConnectionString,
    poolSize: config.graphqlPoolSize,
    jwtSecret,
    statementTimeoutMs: config.graphqlStatementTimeoutMs,
    log,
  });
  const server = await startHttpServer({ port: config.port, pgl: graphql.pgl, pool, jwtSecret, maxWebSockets: config.maxWebSockets, log });
  return {
    server,
    async stop() {
      await server.close();
      await graphql.release();
      await pool.end();
    },
  };
}

function runWorker(config: Config, connectionString: string) {
  return startWorker({
    connectionString,
    concurrency: config.workerConcurrency,
    taskDirectory: TASK_DIRECTORY,
    crontab: { file: CRONTAB_FILE, reviewScoringSchedule: config.reviewScoringCron },
    log,
    retrain: { debounceSeconds: config.retrainDebounceSeconds, maxWaitSeconds: config.retrainMaxWaitSeconds },
    retention: { itemDays: config.itemRetentionDays, batchDays: config.batchRetentionDays },
  });
}

/** A process started while its database is still coming up waits for it; one missing migrations is refused. */
async function requireCurrentSchema(connectionString: string): Promise<void> {
  const pool = new pg.Pool({ connectionString, max: 1, application_name: 'finishline schema check' });
  pool.on('error', () => {});
  try {
    const pending = await whileUnavailable(() => pendingMigrations(pool), { log, what: 'checking the migrations' });
    if (pending.length > 0) throw new Error(`the database is missing migrations (${pending.join(', ')}): run \`npm run migrate\` first`);
  } finally {
    await pool.end();
  }
}

/**
 * `npm start` on the embedded database (or with --sign-in-link): a link that signs the dashboard
 * in as the demo tenant's operator, as Jupyter prints one. Never by default on a shared server,
 * whose log others may read.
 */
async function logDemoSignInLink(client: pg.Client, port: number): Promise<void> {
  const { rows } = await client.query<{ id: string }>("select id from app_public.tenants where name = 'demo'");
  if (!rows[0]) {
    log.info('no tenant named "demo": for a sign-in link, run finishline sign-in-link --tenant-name <name>');
    return;
  }
  const { createSignInCode, signInUrl } = await import('../http/sign_in.ts');
  const code = await createSignInCode(client, { role: 'app_user', tenantId: rows[0].id });
  log.info('dashboard: open this link to sign in as the demo tenant\'s operator (it works once, within an hour)', { sign_in_url: signInUrl(`http://localhost:${port}`, code) });
}

/** Runs `fn` with a client of the database, for the start's one-off steps. */
async function withClient<T>(database: Database, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: database.connectionString });
  client.on('error', ignoreConnectionError);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function runLongLived(command: 'start' | 'worker' | 'serve', config: Config, flags: { signInLink: boolean }): Promise<never> {
  routeConsoleToLog();
  exitOnUnexpectedErrors();
  // Settled before the database is touched: a server without its secret is refused, not migrated first.
  const jwtSecret = command === 'worker' ? '' : resolveJwtSecret({ configured: config.jwtSecret, dataDir: config.dataDir, embedded: !config.databaseUrl });
  const database = await openDatabase(config, log);
  if (command === 'start') {
    await requireDirectConnection(database, 'the worker and migrations need a direct connection for their LISTEN and advisory locks', log);
    await migrate(database.directConnectionString, log);
    // The start's one-off steps wait while the database is away, as the rest of the start does.
    if (database.embedded) await whileUnavailable(() => withClient(database, loadDemoOnFirstStart), { log, what: 'loading the demo' });
    const worker = await runWorker(config, database.directConnectionString);
    let http: Awaited<ReturnType<typeof serveHttp>>;
    try {
      http = await serveHttp(config, database, jwtSecret);
    } catch (error) {
      // (Its port taken, a pooler that refuses transactions.) The worker stops as on SIGTERM, its
      // row and jobs given back at once, rather than be left for the sweeper to find dead.
      log.info('shutting down', { reason: `the HTTP server did not start: ${error instanceof Error ? error.message : String(error)}` });
      await stopParts([worker, database]);
      throw error;
    }
    if (database.embedded || flags.signInLink) {
      await whileUnavailable(() => withClient(database, (client) => logDemoSignInLink(client, http.server.port)), { log, what: 'making the sign-in link' });
    }
    return runUntilSignalled([http, worker, database], worker.done);
  }
  if (command === 'worker') {
    await requireDirectConnection(database, WORKER_NEEDS, log);
    await requireCurrentSchema(database.directConnectionString);
    const worker = await runWorker(config, database.directConnectionString);
    return runUntilSignalled([worker, database], worker.done);
  }
  await requireCurrentSchema(database.connectionString);
  const http = await serveHttp(config, database, jwtSecret);
  return runUntilSignalled([http, database], new Promise(() => {}));
}
