// sql/schema.sql: the schema the migrations produce, as pg_dump prints it, so that a reader finds
// the current definition of anything in one file and every schema change shows up as a diff.
// `npm run schema:sql` runs this file to rewrite it; test/schema.dump.test.ts fails when it is stale.
//
// pg_dump prints what the server's version deparses (and refuses a newer server), so the file is
// one major version's: the header names it, and it is compared only on a server of that version
// with a pg_dump of that version (PostgreSQL 15 in .ci/run, the oldest finishline supports).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { createLog } from '../server/log.ts';
import { migrate } from '../server/db/migrate.ts';
import { databaseUrl } from './database_url.ts';

const run = promisify(execFile);

export const schemaSqlPath = fileURLToPath(new URL('../sql/schema.sql', import.meta.url));

/** The schemas finishline owns; graphile_worker is Graphile Worker's and changes with its version. */
const SCHEMAS = ['app_public', 'app_private'];

function header(major: number): string {
  return [
    `-- finishline's database schema on PostgreSQL ${major}: pg_dump --schema-only --no-owner of ${SCHEMAS.join(' and ')}`,
    '-- after every migration, without the lines that differ between two dumps of the same schema.',
    '-- Written by `npm run schema:sql` (TEST_DATABASE_URL or DATABASE_URL naming a server of that',
    '-- version); test/schema.dump.test.ts fails when it is stale. Read it, never edit it: the',
    '-- migrations are the source.',
    '',
    '',
  ].join('\n');
}

/** The PostgreSQL major version sql/schema.sql was dumped from, as its header says. */
export function committedSchemaMajor(): number | undefined {
  if (!fs.existsSync(schemaSqlPath)) return undefined;
  const match = /^-- finishline's database schema on PostgreSQL (\d+):/.exec(fs.readFileSync(schemaSqlPath, 'utf8'));
  return match ? Number(match[1]) : undefined;
}

/** The major version of the server a pool or client is connected to. */
export async function serverMajor(db: Pick<pg.Pool, 'query'>): Promise<number> {
  const { rows } = await db.query<{ v: string }>(`select current_setting('server_version_num') as v`);
  return Math.floor(Number(rows[0].v) / 10000);
}

/**
 * A pg_dump of this major version: $PG_DUMP, Debian's /usr/lib/postgresql/<major>/bin/pg_dump, or
 * the one on PATH, whichever is of that version first; undefined when none is.
 */
export async function findPgDump(major: number): Promise<string | undefined> {
  const candidates = [process.env.PG_DUMP, `/usr/lib/postgresql/${major}/bin/pg_dump`, 'pg_dump'].filter((c): c is string => !!c);
  for (const candidate of candidates) {
    try {
      const { stdout } = await run(candidate, ['--version']);
      // "pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)"
      if (Number(/\(PostgreSQL\) (\d+)/.exec(stdout)?.[1]) === major) return candidate;
    } catch {
      // Not there: try the next.
    }
  }
  return undefined;
}

/**
 * Drops what differs between two dumps of one schema: the `\restrict` / `\unrestrict` lines with a
 * random key (pg_dump 13.22, 14.19, 15.14, 16.10, 17.6 and later) and the exact server and pg_dump
 * versions (minor releases differ between machines). Owners are left out by --no-owner, and the
 * database's name is not in a dump of schemas.
 */
export function normaliseSchemaDump(dump: string): string {
  return dump
    .split('\n')
    .filter((line) => !/^\\(restrict|unrestrict) /.test(line) && !/^-- Dumped (from database|by pg_dump) version /.test(line))
    .join('\n');
}

/** sql/schema.sql's text for the database at `url`, dumped with `pgDump` (of the server's version). */
export async function schemaSql(url: string, pgDump: string, major: number): Promise<string> {
  const { stdout } = await run(pgDump, ['--schema-only', '--no-owner', ...SCHEMAS.flatMap((s) => ['--schema', s]), '--dbname', url], {
    maxBuffer: 64 * 1024 * 1024,
  });
  return header(major) + normaliseSchemaDump(stdout);
}

/** Migrates a scratch database on the server of `serverUrl`, writes sql/schema.sql from it, drops it. */
async function writeSchemaSql(serverUrl: string): Promise<void> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  const scratch = `finishline_schema_sql_${process.pid}`;
  try {
    const major = await serverMajor(admin);
    const pgDump = await findPgDump(major);
    if (!pgDump) throw new Error(`no pg_dump of PostgreSQL ${major} found (set PG_DUMP to one)`);
    await admin.query(`drop database if exists ${scratch}`);
    await admin.query(`create database ${scratch}`);
    const url = databaseUrl(serverUrl, scratch);
    await migrate(url, { ...createLog(), info: () => {}, debug: () => {} });
    fs.writeFileSync(schemaSqlPath, await schemaSql(url, pgDump, major));
    console.log(`wrote ${schemaSqlPath} (PostgreSQL ${major}, ${pgDump})`);
  } finally {
    await admin.query(`drop database if exists ${scratch} with (force)`);
    await admin.end();
  }
}

if (import.meta.main) {
  const serverUrl = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;
  if (!serverUrl) {
    console.error('npm run schema:sql needs TEST_DATABASE_URL (or DATABASE_URL): a database on a PostgreSQL 15 server where it may create a scratch database, e.g. postgres://postgres@127.0.0.1:5432/postgres');
    process.exit(2);
  }
  await writeSchemaSql(serverUrl);
}
