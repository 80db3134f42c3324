#!/usr/bin/env -S node --max-semi-space-size=16
// finishline's command line: `start` (everything in one process), `worker`, `migrate`.
import './env.ts';
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import type jwt from 'jsonwebtoken';
import pg from 'pg';
import { resolveJwtSecret, signToken, type Claims } from './auth.ts';
import { loadConfig, type Config } from './config.ts';
import { EMBEDDED_DATABASE_NAME, openDatabase, type Database } from './database.ts';
import { runningEmbeddedUrl } from './embedded_postgres.ts';
import { generateMarketplace } from './demo/generate.ts';
import { importFiles, printStatus, scrapeUrls, type BatchCommandOptions } from './cli_batches.ts';
// (The GraphQL server is imported where it is used: PostGraphile adds ~60 MB to a process, and
// `finishline worker` never serves.)
import type { HttpServer } from './http.ts';
import { createLog, log, routeConsoleToLog } from './log.ts';
import { migrate, pendingMigrations } from './migrate.ts';
import { createSignInCode, signInUrl, SIGN_IN_CODE_VALID_SECONDS } from './sign_in.ts';
import { ensureTenant, tenantIdByName } from './tenants.ts';
import { isLostLocalQueueReturn, startWorker } from './worker.ts';
import { whileUnavailable } from './database_errors.ts';

/** For commands whose stdout is their answer (token): only warnings and errors, on stderr. */
const quietLog = { ...createLog(), info: () => {}, debug: () => {} };

const usage = `usage: finishline <command> [options]

commands:
  start     migrate, then run the worker (with its crontab) and the GraphQL server in one
            process; uses an embedded PostgreSQL under ./.finishline/ when DATABASE_URL is unset,
            and then prints a one-time link that signs the dashboard in as the demo tenant's
            operator (with DATABASE_URL only when asked: --sign-in-link)
  worker    run a worker only (start as many as you like against one DATABASE_URL)
  serve     run the GraphQL server only
  schema    write schema.graphql (the GraphQL schema as SDL)
  migrate   apply the database migrations and exit
  import    upload catalog files and import them as one batch: import <files...>
  scrape    scrape the pages listed in a file (one URL per line): scrape <file-of-urls>
  status    print a batch's state (and its summary when finished): status <batch-id>
            (as a tenant, directly against the database: --tenant <uuid> or --tenant-name
            <name>; or through a running server: --server <url> --token <jwt of an app_user>,
            also from FINISHLINE_SERVER and FINISHLINE_TOKEN; --watch follows the batch with a
            progress bar; with --watch or status, the exit code is 1 when the batch has failed
            items)
  database-url
            print the database's URL (DATABASE_URL, or the embedded server's while \`start\` runs)
  tenant    print the id of the tenant of that name, created if new: tenant <name>
  sellers   list a tenant's sellers, one per line: name, a tab, id (for token --seller-id):
            sellers --tenant-name <name> | --tenant <uuid>
  demo      generate a demo marketplace for a tenant (created if new):
            demo [--tenant-name demo] [--sellers 50] [--products 500] [--reviews 5000] [--seed 1]
  sign-in-link
            print a link that signs the dashboard in, once, within an hour: [--role app_user|
            app_admin] [--tenant <uuid> | --tenant-name <name>] [--url http://localhost:5678];
            an app_admin link without a tenant is the installation's operator
  token     print a JWT: --role app_user|app_admin|app_seller|app_shopper
            [--tenant <uuid> | --tenant-name <name>] [--sub <subject>]
            [--expires-in 1h] (tokens expire after an hour unless told: 8h, 7d, ...)
            app_seller also needs --seller-id <uuid> or --seller-name <name> (of that tenant);
            app_shopper needs --sub, e.g. token --role app_shopper --tenant-name demo --sub alice
`;

/**
 * An error nothing caught means a state nobody planned for: the process says why and exits
 * non-zero, for its supervisor to start it again, rather than run on half-alive. The one known
 * exception is Graphile Worker's local queue failing to return its jobs to a database that went
 * away; the worker recovers from that by itself.
 */
function exitOnUnexpectedErrors(): void {
  const unexpected = (error: unknown) => {
    if (isLostLocalQueueReturn(error)) {
      log.warn('Graphile Worker could not return its locally queued jobs to the database: they are unlocked when the worker recovers', { error: (error as Error).message });
      return;
    }
    log.error('unexpected error: exiting', { error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    process.exit(1);
  };
  process.on('uncaughtException', unexpected);
  process.on('unhandledRejection', unexpected);
}

interface Stoppable {
  stop(): Promise<void>;
}

/** Runs until SIGINT/SIGTERM (or a crash), then stops the parts in order, the database last. */
async function runUntilSignalled(parts: Stoppable[], crashed: Promise<void>): Promise<never> {
  let stopping = false;
  const shutdown = async (reason: string, code: number) => {
    if (stopping) {
      log.warn('second signal: exiting at once', { reason });
      process.exit(1);
    }
    stopping = true;
    log.info('shutting down', { reason });
    for (const part of parts) await part.stop().catch((error: unknown) => log.error('shutdown step failed', { error: String(error) }));
    process.exit(code);
  };
  process.on('SIGINT', () => void shutdown('SIGINT', 0));
  process.on('SIGTERM', () => void shutdown('SIGTERM', 0));
  await crashed.catch((error: unknown) => shutdown(`crash: ${error instanceof Error ? error.message : String(error)}`, 1));
  return new Promise<never>(() => {});
}

async function serveGraphQL(config: Config, database: Database): Promise<{ server: HttpServer; stop(): Promise<void> }> {
  const jwtSecret = resolveJwtSecret({ dataDir: config.dataDir, embedded: database.embedded });
  // Uploads, /health and /metrics share these; a request waits at most 5 s for one (then fails).
  const pool = new pg.Pool({ connectionString: database.connectionString, max: 4, connectionTimeoutMillis: 5_000 });
  pool.on('error', (error) => log.error('idle database connection failed', { error }));
  const [{ createPostGraphile }, { startHttpServer }] = await Promise.all([import('./graphql.ts'), import('./http.ts')]);
  const graphql = createPostGraphile({ connectionString: database.connectionString, jwtSecret, statementTimeoutMs: config.graphqlStatementTimeoutMs, log });
  const server = await startHttpServer({ port: config.port, pgl: graphql.pgl, pool, jwtSecret, log });
  return {
    server,
    async stop() {
      await server.close();
      await graphql.release();
      await pool.end();
    },
  };
}

/**
 * `npm start` on the embedded database (or with --sign-in-link): a link that signs the dashboard
 * in as the demo tenant's operator, as Jupyter prints one. Never by default on a shared server,
 * whose log others may read.
 */
async function logDemoSignInLink(connectionString: string, port: number): Promise<void> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    const { rows } = await client.query<{ id: string }>("select id from app_public.tenants where name = 'demo'");
    if (!rows[0]) {
      log.info('no tenant named "demo": for a sign-in link, run finishline sign-in-link --tenant-name <name>');
      return;
    }
    const code = await createSignInCode(client, { role: 'app_user', tenantId: rows[0].id });
    log.info('dashboard: open this link to sign in as the demo tenant\'s operator (it works once, within an hour)', { sign_in_url: signInUrl(`http://localhost:${port}`, code) });
  } finally {
    await client.end();
  }
}

async function printSignInLink(config: Config, args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      role: { type: 'string', default: 'app_user' },
      tenant: { type: 'string' },
      'tenant-name': { type: 'string' },
      url: { type: 'string', default: `http://localhost:${config.port}` },
    },
    strict: true,
  });
  if (values.role !== 'app_user' && values.role !== 'app_admin') throw new Error('--role must be app_user or app_admin');
  const database = await openDatabase(config, quietLog);
  const client = new pg.Client({ connectionString: database.connectionString });
  try {
    await client.connect();
    const tenantId = values['tenant-name'] !== undefined ? await tenantIdByName(client, values['tenant-name']) : values.tenant;
    if (values.role === 'app_user' && !tenantId) throw new Error('an app_user link needs its tenant: --tenant <uuid> or --tenant-name <name>');
    const code = await createSignInCode(client, { role: values.role, tenantId, validForSeconds: SIGN_IN_CODE_VALID_SECONDS });
    process.stdout.write(signInUrl(values.url, code) + '\n');
  } finally {
    await client.end();
    await database.stop();
  }
}

async function requireCurrentSchema(database: Database): Promise<void> {
  const pool = new pg.Pool({ connectionString: database.connectionString, max: 1 });
  pool.on('error', () => {});
  try {
    // A process started while its database is still coming up waits for it.
    const pending = await whileUnavailable(() => pendingMigrations(pool), { log, what: 'checking the migrations' });
    if (pending.length > 0) {
      throw new Error(`the database is missing migrations (${pending.join(', ')}): run \`npm run migrate\` first`);
    }
  } finally {
    await pool.end();
  }
}

async function printToken(config: Config, args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      role: { type: 'string', default: 'app_user' },
      tenant: { type: 'string' },
      'tenant-name': { type: 'string' },
      sub: { type: 'string' },
      'seller-id': { type: 'string' },
      'seller-name': { type: 'string' },
      'expires-in': { type: 'string', default: '1h' },
    },
    strict: true,
  });
  // Only a tenant or seller given by name needs the database.
  const byName = values['tenant-name'] !== undefined || values['seller-name'] !== undefined;
  const database = byName ? await openDatabase(config, quietLog) : undefined;
  try {
    let tenantId = values.tenant;
    let sellerId = values['seller-id'];
    if (database) {
      const client = new pg.Client({ connectionString: database.connectionString });
      await client.connect();
      try {
        if (values['tenant-name'] !== undefined) {
          tenantId = await tenantIdByName(client, values['tenant-name']);
        }
        if (values['seller-name'] !== undefined) {
          if (!tenantId) throw new Error('--seller-name needs the tenant (--tenant or --tenant-name)');
          const { rows } = await client.query<{ id: string }>(
            'select id from app_public.sellers where tenant_id = $1 and name = $2', [tenantId, values['seller-name']]);
          if (!rows[0]) throw new Error(`no seller named "${values['seller-name']}" in that tenant`);
          sellerId = rows[0].id;
        }
      } finally {
        await client.end();
      }
    }
    const secret = resolveJwtSecret({ dataDir: config.dataDir, embedded: !config.databaseUrl });
    const claims: Claims = { role: values.role as Claims['role'], tenant_id: tenantId, sub: values.sub, seller_id: sellerId };
    process.stdout.write(signToken(secret, claims, values['expires-in'] as jwt.SignOptions['expiresIn']) + '\n');
  } finally {
    await database?.stop();
  }
}

interface DemoOptions {
  tenantName: string;
  sellers: number;
  products: number;
  reviews: number;
  seed: number;
}

/** Generates a demo marketplace in one transaction, then asks for it to be scored. */
async function loadDemo(connectionString: string, options: DemoOptions) {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query('begin');
    const tenantId = await ensureTenant(client, options.tenantName);
    const result = await generateMarketplace(client, { tenantId, ...options });
    await client.query(`select graphile_worker.add_job('start_review_scoring', '{}', job_key => 'demo_scoring')`);
    await client.query('commit');
    return { tenant: options.tenantName, tenant_id: tenantId, ...result };
  } catch (error) {
    await client.query('rollback');
    throw error;
  } finally {
    await client.end();
  }
}

/** A new user's first `npm start` (embedded, empty database) gets a small marketplace to look at. */
async function loadDemoOnFirstStart(connectionString: string): Promise<void> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  const { rows: [{ empty }] } = await client.query<{ empty: boolean }>('select not exists (select 1 from app_public.tenants) as empty');
  await client.end();
  if (!empty) return;
  const result = await loadDemo(connectionString, { tenantName: 'demo', sellers: 30, products: 300, reviews: 3000, seed: 1 });
  log.info('loaded a demo marketplace (first start); its reviews are being scored', result);
  log.info('try: npm run token -- --role app_user --tenant-name demo');
}

function startConfiguredWorker(config: Config, connectionString: string) {
  return startWorker({
    connectionString,
    concurrency: config.workerConcurrency,
    log,
    retrain: { debounceSeconds: config.retrainDebounceSeconds, maxWaitSeconds: config.retrainMaxWaitSeconds },
  });
}

async function main(): Promise<void> {
  const { positionals, values: flags } = parseArgs({ allowPositionals: true, strict: false });
  const [command] = positionals;
  const config = loadConfig();
  if (command === 'start' || command === 'worker' || command === 'serve') {
    routeConsoleToLog();
    exitOnUnexpectedErrors();
  }
  switch (command) {
    case 'start': {
      const database = await openDatabase(config, log);
      await migrate(database.connectionString, log);
      if (database.embedded) await loadDemoOnFirstStart(database.connectionString);
      const worker = await startConfiguredWorker(config, database.connectionString);
      const graphql = await serveGraphQL(config, database);
      if (database.embedded || flags['sign-in-link']) await logDemoSignInLink(database.connectionString, graphql.server.port);
      return runUntilSignalled([graphql, worker, database], worker.done);
    }
    case 'worker': {
      const database = await openDatabase(config, log);
      await requireCurrentSchema(database);
      const worker = await startConfiguredWorker(config, database.connectionString);
      return runUntilSignalled([worker, database], worker.done);
    }
    case 'serve': {
      const database = await openDatabase(config, log);
      await requireCurrentSchema(database);
      const graphql = await serveGraphQL(config, database);
      return runUntilSignalled([graphql, database], new Promise(() => {}));
    }
    case 'migrate': {
      const database = await openDatabase(config, log);
      try {
        await migrate(database.connectionString, log);
      } finally {
        await database.stop();
      }
      return;
    }
    case 'schema': {
      // Writes schema.graphql from the database, migrated first: printed from an unmigrated one,
      // the file would hold PostGraphile's error schema instead.
      const database = await openDatabase(config, quietLog);
      try {
        await migrate(database.connectionString, quietLog);
        const { createPostGraphile, printSchemaSDL, schemaPath } = await import('./graphql.ts');
        const graphql = createPostGraphile({ connectionString: database.connectionString, jwtSecret: 'unused-for-printing-the-schema', statementTimeoutMs: config.graphqlStatementTimeoutMs, log: quietLog });
        fs.writeFileSync(schemaPath, await printSchemaSDL(graphql));
        await graphql.release();
      } finally {
        await database.stop();
      }
      return;
    }
    case 'import':
    case 'scrape':
    case 'status': {
      const { values, positionals: args } = parseArgs({
        args: process.argv.slice(3),
        allowPositionals: true,
        options: {
          tenant: { type: 'string' },
          'tenant-name': { type: 'string' },
          server: { type: 'string' },
          token: { type: 'string' },
          watch: { type: 'boolean', default: false },
        },
      });
      const run = (options: BatchCommandOptions) =>
        command === 'import' ? importFiles(args, options)
        : command === 'scrape' ? scrapeUrls(args[0], options)
        : printStatus(args[0], options);
      const serverUrl = values.server ?? process.env.FINISHLINE_SERVER;
      const token = values.token ?? process.env.FINISHLINE_TOKEN;
      let code: number;
      if (serverUrl) {
        if (!token) throw new Error('--server needs --token (an app_user token of the tenant: npm run token)');
        code = await run({ serverUrl, token, watch: values.watch });
      } else {
        const database = await openDatabase(config, quietLog);
        try {
          code = await run({ connectionString: database.connectionString, tenant: values.tenant, tenantName: values['tenant-name'], watch: values.watch });
        } finally {
          await database.stop();
        }
      }
      process.exit(code);
    }
    case 'demo': {
      const { values } = parseArgs({
        args: process.argv.slice(3),
        options: {
          'tenant-name': { type: 'string', default: 'demo' },
          sellers: { type: 'string', default: '50' },
          products: { type: 'string', default: '500' },
          reviews: { type: 'string', default: '5000' },
          seed: { type: 'string', default: '1' },
        },
      });
      const database = await openDatabase(config, quietLog);
      try {
        const result = await loadDemo(database.connectionString, {
          tenantName: values['tenant-name'],
          sellers: Number(values.sellers),
          products: Number(values.products),
          reviews: Number(values.reviews),
          seed: Number(values.seed),
        });
        process.stdout.write(`${JSON.stringify(result)}\n`);
      } finally {
        await database.stop();
      }
      return;
    }
    case 'database-url': {
      // For psql and other tools; without DATABASE_URL, only while `npm start` runs the server.
      const url = config.databaseUrl ?? runningEmbeddedUrl(config.dataDir, EMBEDDED_DATABASE_NAME);
      if (!url) throw new Error(`DATABASE_URL is not set and no embedded PostgreSQL runs under ${config.dataDir}: start one with \`npm start\``);
      process.stdout.write(`${url}\n`);
      return;
    }
    case 'tenant': {
      // Its id on stdout, for --tenant and for scripts.
      const { positionals: [name, ...rest] } = parseArgs({ args: process.argv.slice(3), allowPositionals: true });
      if (name === undefined || rest.length > 0) throw new Error('usage: finishline tenant <name>');
      const database = await openDatabase(config, quietLog);
      const client = new pg.Client({ connectionString: database.connectionString });
      try {
        await client.connect();
        process.stdout.write(`${await ensureTenant(client, name)}\n`);
      } finally {
        await client.end();
        await database.stop();
      }
      return;
    }
    case 'sellers': {
      const { values } = parseArgs({ args: process.argv.slice(3), options: { tenant: { type: 'string' }, 'tenant-name': { type: 'string' } } });
      const database = await openDatabase(config, quietLog);
      const client = new pg.Client({ connectionString: database.connectionString });
      try {
        await client.connect();
        const tenantId = values.tenant ?? (values['tenant-name'] !== undefined ? await tenantIdByName(client, values['tenant-name']) : undefined);
        if (!tenantId) throw new Error('say which tenant: sellers --tenant-name <name> (or --tenant <uuid>)');
        const { rows } = await client.query<{ name: string; id: string }>(
          'select name, id from app_public.sellers where tenant_id = $1 order by name', [tenantId]);
        for (const row of rows) process.stdout.write(`${row.name}\t${row.id}\n`);
      } finally {
        await client.end();
        await database.stop();
      }
      return;
    }
    case 'token':
      return printToken(config, process.argv.slice(3));
    case 'sign-in-link':
      return printSignInLink(config, process.argv.slice(3));
    default:
      process.stderr.write(usage);
      process.exit(command ? 2 : 0);
  }
}

// Output read by something that stops reading (`finishline status … | head -1`): stop quietly,
// as other command-line tools do, instead of crashing on the unhandled EPIPE.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(0);
});

main().catch((error: unknown) => {
  log.error('finishline failed', { error: error instanceof Error ? error.message : String(error) });
  process.exit(1);
});
