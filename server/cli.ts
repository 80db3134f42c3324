#!/usr/bin/env node
// finishline's command line: `start` (everything in one process), `worker`, `migrate`.
import { parseArgs } from 'node:util';
import { loadConfig } from './config.ts';
import { openDatabase, type Database } from './database.ts';
import { log } from './log.ts';
import { migrate, pendingMigrations } from './migrate.ts';
import { startWorker, type Worker } from './worker.ts';

const usage = `usage: finishline <command>

commands:
  start     migrate, then run the worker (with its crontab) in one process;
            uses an embedded PostgreSQL under ./.finishline/ when DATABASE_URL is unset
  worker    run a worker only (start as many as you like against one DATABASE_URL)
  migrate   apply the database migrations and exit
`;

/** Runs until SIGINT/SIGTERM, then stops the worker before the database. */
async function runUntilSignalled(database: Database, worker: Worker): Promise<void> {
  let signalled = false;
  const shutdown = async (signal: string) => {
    if (signalled) {
      log.warn('second signal: exiting at once', { signal });
      process.exit(1);
    }
    signalled = true;
    log.info('shutting down', { signal });
    await worker.stop();
    await database.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  try {
    await worker.done;
  } catch (error) {
    log.error('worker crashed', { error });
    await database.stop();
    process.exit(1);
  }
}

async function main(): Promise<void> {
  const { positionals } = parseArgs({ allowPositionals: true, strict: true });
  const [command] = positionals;
  const config = loadConfig();
  switch (command) {
    case 'start': {
      const database = await openDatabase(config, log);
      await migrate(database.connectionString, log);
      const worker = await startWorker({ connectionString: database.connectionString, concurrency: config.workerConcurrency, log });
      await runUntilSignalled(database, worker);
      return;
    }
    case 'worker': {
      const database = await openDatabase(config, log);
      const pending = await pendingMigrations(database.connectionString);
      if (pending.length > 0) {
        throw new Error(`the database is missing migrations (${pending.join(', ')}): run \`npm run migrate\` first`);
      }
      const worker = await startWorker({ connectionString: database.connectionString, concurrency: config.workerConcurrency, log });
      await runUntilSignalled(database, worker);
      return;
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
    default:
      process.stderr.write(usage);
      process.exit(command ? 2 : 0);
  }
}

main().catch((error: unknown) => {
  log.error('finishline failed', { error: error instanceof Error ? error.message : String(error) });
  process.exit(1);
});
