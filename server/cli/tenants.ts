// Tenants and their marketplace, from the command line: `tenant` (created by name if new),
// `sellers` (a tenant's sellers, for seller tokens), `demo` (a generated marketplace), and the
// lookups by name that the other commands share.
import { parseArgs } from 'node:util';
import type pg from 'pg';
import type { Config } from '../config.ts';
import { withDatabaseClient } from '../db/database.ts';
import { generateMarketplace } from '../demo/generate.ts';
import { log, type Log } from '../log.ts';

/** The id of the tenant of that name; a clear error, saying how to create it, when there is none. */
export async function tenantIdByName(client: pg.ClientBase, name: string): Promise<string> {
  const { rows } = await client.query<{ id: string }>('select id from app_public.tenants where name = $1', [name]);
  if (!rows[0]) throw new Error(`no tenant named ${JSON.stringify(name)} (create it with: finishline tenant ${JSON.stringify(name)})`);
  return rows[0].id;
}

/** The id of the tenant of that name, created if new. */
export async function ensureTenant(client: pg.ClientBase, name: string): Promise<string> {
  try {
    const { rows: [tenant] } = await client.query<{ id: string }>(
      `insert into app_public.tenants (name) values ($1) on conflict (name) do update set name = excluded.name returning id`,
      [name],
    );
    return tenant.id;
  } catch (error) {
    // The rule is the table's; the words are for whoever typed the name.
    if ((error as { constraint?: string }).constraint === 'tenants_name_check') throw new Error("a tenant's name is 1 to 200 characters, not only spaces");
    throw error;
  }
}

/**
 * `tenant <name> [--max-running-chunks <n> | --no-limit]`: its id on stdout, for --tenant and for
 * scripts; with a limit, the most of its chunks that run at once from now on.
 */
export async function printTenant(config: Config, quiet: Log, args: string[]): Promise<void> {
  const { values, positionals: [name, ...rest] } = parseArgs({
    args, allowPositionals: true, options: { 'max-running-chunks': { type: 'string' }, 'no-limit': { type: 'boolean' } },
  });
  const limit = values['max-running-chunks'];
  if (name === undefined || rest.length > 0 || (limit !== undefined && !/^[1-9]\d*$/.test(limit)) || (limit !== undefined && values['no-limit'])) {
    throw new Error('usage: finishline tenant <name> [--max-running-chunks <n ≥ 1> | --no-limit]');
  }
  await withDatabaseClient(config, quiet, async (client) => {
    const tenantId = await ensureTenant(client, name);
    if (limit !== undefined || values['no-limit']) {
      await client.query('update app_public.tenants set max_running_chunks = $2 where id = $1', [tenantId, limit === undefined ? null : Number(limit)]);
    }
    process.stdout.write(`${tenantId}\n`);
  });
}

/** `sellers --tenant-name <name>`: one line a seller, its name, a tab, its id. */
export async function printSellers(config: Config, quiet: Log, args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { tenant: { type: 'string' }, 'tenant-name': { type: 'string' } } });
  await withDatabaseClient(config, quiet, async (client) => {
    const tenantId = values.tenant ?? (values['tenant-name'] !== undefined ? await tenantIdByName(client, values['tenant-name']) : undefined);
    if (!tenantId) throw new Error('say which tenant: sellers --tenant-name <name> (or --tenant <uuid>)');
    const { rows } = await client.query<{ name: string; id: string }>('select name, id from app_public.sellers where tenant_id = $1 order by name', [tenantId]);
    for (const row of rows) process.stdout.write(`${row.name}\t${row.id}\n`);
  });
}

interface DemoOptions {
  tenantName: string;
  sellers: number;
  products: number;
  reviews: number;
  seed: number;
}

/** Generates a demo marketplace in one transaction, then asks for it to be scored. */
async function loadDemo(client: pg.Client, options: DemoOptions) {
  await client.query('begin');
  try {
    const tenantId = await ensureTenant(client, options.tenantName);
    const result = await generateMarketplace(client, { tenantId, ...options });
    await client.query(`select graphile_worker.add_job('start_review_scoring', '{}', job_key => 'demo_scoring')`);
    await client.query('commit');
    return { tenant: options.tenantName, tenant_id: tenantId, ...result };
  } catch (error) {
    await client.query('rollback');
    throw error;
  }
}

/** `demo [--tenant-name demo] [--sellers 50] …`: the counts it generated, as JSON. */
export async function printDemo(config: Config, quiet: Log, args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      'tenant-name': { type: 'string', default: 'demo' },
      sellers: { type: 'string', default: '50' },
      products: { type: 'string', default: '500' },
      reviews: { type: 'string', default: '5000' },
      seed: { type: 'string', default: '1' },
    },
  });
  const result = await withDatabaseClient(config, quiet, (client) => loadDemo(client, {
    tenantName: values['tenant-name'],
    sellers: Number(values.sellers),
    products: Number(values.products),
    reviews: Number(values.reviews),
    seed: Number(values.seed),
  }));
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/** A new user's first `npm start` (embedded, empty database) gets a small marketplace to look at. */
export async function loadDemoOnFirstStart(client: pg.Client): Promise<void> {
  const { rows: [{ empty }] } = await client.query<{ empty: boolean }>('select not exists (select 1 from app_public.tenants) as empty');
  if (!empty) return;
  const result = await loadDemo(client, { tenantName: 'demo', sellers: 30, products: 300, reviews: 3000, seed: 1 });
  log.info('loaded a demo marketplace (first start); its reviews are being scored', result);
  log.info('try: npm run token -- --role app_user --tenant-name demo');
}
