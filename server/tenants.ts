// Tenants by name, for the command line: found (import, scrape, token) or created (tenant, demo).
import type pg from 'pg';

/** The id of the tenant of that name; a clear error, saying how to create it, when there is none. */
export async function tenantIdByName(client: pg.ClientBase, name: string): Promise<string> {
  const { rows } = await client.query<{ id: string }>('select id from app_public.tenants where name = $1', [name]);
  if (!rows[0]) throw new Error(`no tenant named ${JSON.stringify(name)} (create it with: finishline tenant ${JSON.stringify(name)})`);
  return rows[0].id;
}

/** The id of the tenant of that name, created if new. */
export async function ensureTenant(client: pg.ClientBase, name: string): Promise<string> {
  const { rows: [tenant] } = await client.query<{ id: string }>(
    `insert into app_public.tenants (name) values ($1) on conflict (name) do update set name = excluded.name returning id`,
    [name],
  );
  return tenant.id;
}
