#!/usr/bin/env node
// finishline's command line: which command does what (the usage below), and nothing else.
import '../env.ts';
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.ts';
import { EMBEDDED_DATABASE_NAME, openDatabase } from '../db/database.ts';
import { runningEmbeddedUrl } from '../db/embedded_postgres.ts';
import { migrate } from '../db/migrate.ts';
import { requireDirectConnection } from '../db/pooler.ts';
import { createLog, log } from '../log.ts';
import { runBatchCommand } from './batches.ts';
import { MIGRATIONS_NEED, runLongLived } from './processes.ts';
import { printDemo, printSellers, printTenant } from './tenants.ts';
import { printSignInLink, printToken } from './tokens.ts';

/** For commands whose stdout is their answer (token, tenant): only warnings and errors. */
const quietLog = { ...createLog(), info: () => {}, debug: () => {} };

const usage = `usage: finishline <command> [options]

commands:
  start     migrate, then run the worker (with its crontab) and the HTTP server (dashboard,
            GraphQL) in one process; uses an embedded PostgreSQL under ./.finishline/ when
            DATABASE_URL is unset, and then prints a one-time link that signs the dashboard in
            as the demo tenant's operator (with DATABASE_URL only when asked: --sign-in-link)
  worker    run a worker only (start as many as you like against one DATABASE_URL)
  serve     run the HTTP server only
  schema    write schema.graphql (the GraphQL schema as SDL)
  migrate   apply the database migrations and exit
  import    upload catalog files and import them as one batch: import <files...>
  scrape    scrape the pages listed in a file (one URL per line): scrape <file-of-urls>
  status    print a batch's state (and its summary when finished): status <batch-id> [--watch]
            (as a tenant, directly against the database: --tenant <uuid> or --tenant-name
            <name>; or through a running server: --server <url> --token <jwt of an app_user>,
            also from FINISHLINE_SERVER and FINISHLINE_TOKEN; --watch follows the batch with a
            progress bar; with --watch or status, the exit code is 1 when the batch has failed
            items)
  database-url
            print the database's URL (DATABASE_URL, or the embedded server's while \`start\` runs)
  tenant    print the id of the tenant of that name, created if new: tenant <name>
            [--max-running-chunks <n> | --no-limit] (the most of its chunks running at once)
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

/** What asks for the usage, as the command or among its options (before a `--`). */
const HELP = new Set(['help', '--help', '-h']);

async function main(): Promise<void> {
  const [command, ...args] = process.argv.slice(2);
  const options = args.includes('--') ? args.slice(0, args.indexOf('--')) : args;
  // Before the configuration is read: help is for someone whose setup may not work yet.
  if (command === undefined || HELP.has(command) || options.some((arg) => HELP.has(arg) && arg !== 'help')) {
    process.stdout.write(usage);
    return;
  }
  const config = loadConfig();
  switch (command) {
    case 'start':
    case 'worker':
    case 'serve': {
      const { values } = parseArgs({ args, options: { 'sign-in-link': { type: 'boolean', default: false } } });
      return runLongLived(command, config, { signInLink: values['sign-in-link'] });
    }
    case 'migrate': {
      const database = await openDatabase(config, log);
      try {
        await requireDirectConnection(database, MIGRATIONS_NEED, log);
        await migrate(database.directConnectionString, log);
      } finally {
        await database.stop();
      }
      return;
    }
    case 'schema': {
      // Written from the database, migrated first: printed from an unmigrated one, the file would
      // hold PostGraphile's error schema instead.
      const database = await openDatabase(config, quietLog);
      try {
        await requireDirectConnection(database, MIGRATIONS_NEED, quietLog);
        await migrate(database.directConnectionString, quietLog);
        const { createPostGraphile, printSchemaSDL, schemaPath } = await import('../http/graphql.ts');
        // On the direct connection too: its prepared statements need no pooler check.
        const graphql = createPostGraphile({ connectionString: database.directConnectionString, listenConnectionString: null, poolSize: 2, jwtSecret: 'unused-for-printing-the-schema', statementTimeoutMs: config.graphqlStatementTimeoutMs, log: quietLog });
        fs.writeFileSync(schemaPath, await printSchemaSDL(graphql));
        await graphql.release();
      } finally {
        await database.stop();
      }
      return;
    }
    case 'import':
    case 'scrape':
    case 'status':
      process.exit(await runBatchCommand(command, config, quietLog, args));
    case 'database-url': {
      // For psql and other tools; without DATABASE_URL, only while `npm start` runs the server.
      const url = config.databaseUrl ?? runningEmbeddedUrl(config.dataDir, EMBEDDED_DATABASE_NAME);
      if (!url) throw new Error(`DATABASE_URL is not set and no embedded PostgreSQL runs under ${config.dataDir}: start one with \`npm start\``);
      process.stdout.write(`${url}\n`);
      return;
    }
    case 'tenant':
      return printTenant(config, quietLog, args);
    case 'sellers':
      return printSellers(config, quietLog, args);
    case 'demo':
      return printDemo(config, quietLog, args);
    case 'token':
      return printToken(config, quietLog, args);
    case 'sign-in-link':
      return printSignInLink(config, quietLog, args);
    default:
      process.stderr.write(`finishline: unknown command "${command}"\n${usage}`);
      process.exit(2);
  }
}

// Output read by something that stops reading (`finishline status … | head -1`): stop quietly,
// as other command-line tools do, instead of crashing on the unhandled EPIPE.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(0);
});

main().catch((error: unknown) => {
  // An option misspelt or missing its value (node:util's parseArgs): a usage error, as with an
  // unknown command.
  const usageError = (error as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS_');
  const message = error instanceof Error ? error.message.replace(/\. To specify a positional argument .*$/s, '') : String(error);
  log.error('finishline failed', { error: usageError ? `${message} (the options: finishline --help)` : message });
  process.exit(usageError ? 2 : 1);
});
