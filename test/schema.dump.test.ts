// sql/schema.sql is the schema the migrations produce, as pg_dump prints it: a stale copy fails
// the suite, so that every schema change shows up as a readable diff. pg_dump must be of the
// server's version and the file is one version's dump, so elsewhere the test is skipped, saying why.
import fs from 'node:fs';
import { expect, test } from 'vitest';
import { useTestDatabase } from './helpers.ts';
import { committedSchemaMajor, findPgDump, schemaSql, schemaSqlPath, serverMajor } from './schema_sql.ts';

const db = useTestDatabase();

test('sql/schema.sql matches the schema the migrations produce', async (context) => {
  const major = await serverMajor(db.pool);
  const committed = committedSchemaMajor();
  if (committed !== undefined && committed !== major) {
    context.skip(`sql/schema.sql is PostgreSQL ${committed}'s dump and this server is PostgreSQL ${major}: run the tests against a PostgreSQL ${committed} server (TEST_DATABASE_URL) to check it`);
  }
  const pgDump = await findPgDump(major);
  if (!pgDump) context.skip(`no pg_dump of PostgreSQL ${major} here (pg_dump refuses a newer server; set PG_DUMP to one)`);
  const dumped = await schemaSql(db.url, pgDump!, major);
  const stored = fs.existsSync(schemaSqlPath) ? fs.readFileSync(schemaSqlPath, 'utf8') : '';
  expect(dumped, 'sql/schema.sql is stale: run `TEST_DATABASE_URL=<a PostgreSQL 15 server> npm run schema:sql` and commit it').toBe(stored);
});
