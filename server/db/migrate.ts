// Schema migrations: Graphile Worker's own first (our triggers call graphile_worker.add_job, and
// plpgsql would accept them before that schema exists), then ours from migrations/.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runMigrations } from 'graphile-worker';
import { runner } from 'node-pg-migrate';
import pg from 'pg';
import { workerLogger, type Log } from '../log.ts';

export const migrationsDir = fileURLToPath(new URL('../../migrations', import.meta.url));

export async function migrate(connectionString: string, log: Log): Promise<void> {
  // Graphile Worker's migrations need one connection at a time; named, they can be told apart.
  const workerPool = new pg.Pool({ connectionString, max: 1, application_name: 'finishline migrate' });
  const lost = (error: Error) => log.warn('migration database connection lost', { error: error.message });
  workerPool.on('error', lost);
  workerPool.on('connect', (client) => client.on('error', lost));
  try {
    await runMigrations({ pgPool: workerPool, logger: workerLogger });
  } finally {
    await workerPool.end();
  }
  const client = new pg.Client({ connectionString, application_name: 'finishline migrate' });
  client.on('error', lost);
  await client.connect();
  // What a migration tells the operator (RAISE WARNING: a grant it could not make) is logged.
  client.on('notice', (notice) => {
    if (notice.severity === 'WARNING') log.warn(notice.message ?? 'warning', notice.hint ? { hint: notice.hint } : undefined);
  });
  let applied;
  try {
    applied = await runner({
      dbClient: client,
      dir: migrationsDir,
      direction: 'up',
      migrationsTable: 'migrations',
      migrationsSchema: 'app_private',
      createMigrationsSchema: true,
      checkOrder: true,
      // Replicas started together migrate together: the others wait for the first, then find
      // nothing left to apply (the default fails them).
      advisoryLockMode: 'wait',
      log: () => {},
    });
  } finally {
    await client.end();
  }
  for (const migration of applied) log.info('applied migration', { migration: path.basename(migration.path) });
  log.info('database schema is current', { migrations_applied: applied.length });
}

/** Names of migrations in migrations/ that the database has not applied (empty when current). */
export async function pendingMigrations(db: Pick<pg.Pool, 'query'>): Promise<string[]> {
  const files = fs
    .readdirSync(migrationsDir)
    .filter((file) => file.endsWith('.sql'))
    .map((file) => file.replace(/\.sql$/, ''));
  let applied: string[] = [];
  try {
    applied = (await db.query<{ name: string }>('select name from app_private.migrations')).rows.map((row) => row.name);
  } catch (error) {
    // No migrations table (or schema) yet: nothing is applied. Anything else is a real failure.
    const code = (error as { code?: string }).code;
    if (code !== '42P01' && code !== '3F000') throw error;
  }
  return files.filter((file) => !applied.includes(file)).sort();
}
