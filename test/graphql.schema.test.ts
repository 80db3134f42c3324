// schema.graphql is the GraphQL schema as designed documentation: a stale copy fails the suite,
// so that every schema change shows up as a readable diff.
import '../server/env.ts';
import fs from 'node:fs';
import { expect, test } from 'vitest';
import { createPostGraphile, printSchemaSDL, schemaPath } from '../server/http/graphql.ts';
import { createLog } from '../server/log.ts';
import { useTestDatabase } from './helpers.ts';

const db = useTestDatabase();

test('schema.graphql matches the schema the migrations produce', async () => {
  const graphql = createPostGraphile({ connectionString: db.url, listenConnectionString: null, poolSize: 2, jwtSecret: 'only-printing-the-schema-here', statementTimeoutMs: 5000, log: createLog() });
  try {
    const printed = await printSchemaSDL(graphql);
    expect(printed, 'schema.graphql is stale: run `npm run schema` and commit it').toBe(fs.readFileSync(schemaPath, 'utf8'));
  } finally {
    await graphql.release();
  }
});
