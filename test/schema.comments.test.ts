// Every table, view, column and function of app_public and app_private has a COMMENT ON: it is the
// API documentation (GraphQL's, for app_public), so a migration that adds one without fails here.
import { expect, test } from 'vitest';
import { useTestDatabase } from './helpers.ts';

const db = useTestDatabase();

const UNCOMMENTED = `
select kind, name from (
  select case c.relkind when 'v' then 'view' when 'm' then 'materialized view' else 'table' end as kind,
    format('%I.%I', n.nspname, c.relname) as name
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
  where n.nspname in ('app_public', 'app_private') and c.relkind in ('r', 'p', 'v', 'm', 'f')
    and obj_description(c.oid, 'pg_class') is null
  union all
  select 'column', format('%I.%I.%I', n.nspname, c.relname, a.attname)
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
  join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
  where n.nspname in ('app_public', 'app_private') and c.relkind in ('r', 'p', 'v', 'm', 'f')
    and col_description(c.oid, a.attnum) is null
  union all
  select 'function', format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid))
  from pg_proc p join pg_namespace n on n.oid = p.pronamespace
  where n.nspname in ('app_public', 'app_private') and obj_description(p.oid, 'pg_proc') is null
) uncommented
order by kind, name`;

test('every table, view, column and function of app_public and app_private has a comment', async () => {
  const { rows } = await db.pool.query<{ kind: string; name: string }>(UNCOMMENTED);
  expect(rows.map((row) => `${row.kind} ${row.name}`)).toEqual([]);
});
