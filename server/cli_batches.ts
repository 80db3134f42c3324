// The CLI's batch commands: `import`, `scrape` and `status`, working directly against the
// database as a tenant (role app_user with the tenant's claim, as a GraphQL request would), and
// `--watch`, which follows a batch to its summary with a progress bar.
import fs from 'node:fs';
import pg from 'pg';
import { uploadCatalogFile } from './catalog/upload.ts';

export interface BatchCommandOptions {
  connectionString: string;
  tenant?: string;
  tenantName?: string;
  watch: boolean;
  out?: NodeJS.WriteStream;
}

interface StatusRow {
  batch_id: string;
  kind: string;
  status: string;
  total_items: number;
  pending_items: number;
  processing_items: number;
  succeeded_items: number;
  failed_items: number;
  cancelled_items: number;
  finished_at: Date | null;
  has_summary: boolean;
  stuck_reason: string | null;
}

async function resolveTenant(client: pg.Client, options: BatchCommandOptions): Promise<string> {
  if (options.tenant) return options.tenant;
  if (!options.tenantName) throw new Error('say which tenant: --tenant <uuid> or --tenant-name <name>');
  const { rows } = await client.query<{ id: string }>('select id from app_public.tenants where name = $1', [options.tenantName]);
  if (!rows[0]) throw new Error(`no tenant named "${options.tenantName}"`);
  return rows[0].id;
}

async function submitAsTenant(client: pg.Client, tenantId: string, kind: string, items: object[]): Promise<string> {
  await client.query('begin');
  try {
    await client.query('set local role app_user');
    await client.query(`select set_config('jwt.claims.tenant_id', $1, true)`, [tenantId]);
    const { rows } = await client.query<{ id: string }>('select id from app_public.submit_batch($1, $2::jsonb)', [kind, JSON.stringify(items)]);
    await client.query('commit');
    return rows[0].id;
  } catch (error) {
    await client.query('rollback');
    throw error;
  }
}

async function withClient<T>(connectionString: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Uploads the files (streaming) and submits one import_catalog batch with an item per file. */
export async function importFiles(files: string[], options: BatchCommandOptions): Promise<number> {
  if (files.length === 0) throw new Error('usage: finishline import <files...>');
  const out = options.out ?? process.stdout;
  const batchId = await withClient(options.connectionString, async (client) => {
    const tenantId = await resolveTenant(client, options);
    const items: Array<{ file_id: string }> = [];
    for (const file of files) {
      const uploaded = await uploadCatalogFile(client, tenantId, file);
      out.write(`${uploaded.reused ? 'already uploaded' : 'uploaded'} ${uploaded.filename} (${uploaded.sizeBytes} bytes, sha256 ${uploaded.sha256.slice(0, 12)}…)\n`);
      items.push({ file_id: uploaded.id });
    }
    return submitAsTenant(client, tenantId, 'import_catalog', items);
  });
  out.write(`batch ${batchId}\n`);
  return options.watch ? watchBatch(batchId, options) : 0;
}

/** Submits one scrape_pages batch with an item per URL of the file (one per line; # comments). */
export async function scrapeUrls(file: string | undefined, options: BatchCommandOptions): Promise<number> {
  if (!file) throw new Error('usage: finishline scrape <file-of-urls>');
  const urls = fs.readFileSync(file, 'utf8').split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));
  const out = options.out ?? process.stdout;
  const batchId = await withClient(options.connectionString, async (client) =>
    submitAsTenant(client, await resolveTenant(client, options), 'scrape_pages', urls.map((url) => ({ url }))),
  );
  out.write(`batch ${batchId} (${urls.length} pages)\n`);
  return options.watch ? watchBatch(batchId, options) : 0;
}

export async function printStatus(batchId: string | undefined, options: BatchCommandOptions): Promise<number> {
  if (!batchId) throw new Error('usage: finishline status <batch-id>');
  const out = options.out ?? process.stdout;
  return withClient(options.connectionString, async (client) => {
    const status = await readStatus(client, batchId);
    out.write(`${describe(status)}\n`);
    if (status.has_summary) out.write(await summaryText(client, batchId));
    return exitCodeOf(status);
  });
}

async function readStatus(client: pg.Client, batchId: string): Promise<StatusRow> {
  const { rows } = await client.query<StatusRow>('select * from app_public.batch_status_summary where batch_id = $1', [batchId]);
  if (!rows[0]) throw new Error(`batch ${batchId} not found`);
  return rows[0];
}

function describe(status: StatusRow): string {
  const parts = [
    `batch ${status.batch_id} (${status.kind}): ${status.status}`,
    `${status.succeeded_items} succeeded, ${status.failed_items} failed, ${status.cancelled_items} cancelled, ` +
      `${status.processing_items} running, ${status.pending_items} pending of ${status.total_items}`,
  ];
  if (status.stuck_reason) parts.push(`not moving: ${status.stuck_reason}`);
  return parts.join('\n  ');
}

async function summaryText(client: pg.Client, batchId: string): Promise<string> {
  const { rows } = await client.query('select status, duration_seconds, errors, stats from app_public.run_summaries where batch_id = $1', [batchId]);
  if (!rows[0]) return '';
  return `summary: ${JSON.stringify(rows[0], null, 2)}\n`;
}

function exitCodeOf(status: StatusRow): number {
  return status.failed_items > 0 || status.status === 'cancelled' ? 1 : 0;
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** Follows a batch until its summary is written; draws a progress bar on a terminal. */
export async function watchBatch(batchId: string, options: BatchCommandOptions): Promise<number> {
  const out = options.out ?? process.stdout;
  const tty = Boolean(out.isTTY);
  return withClient(options.connectionString, async (client) => {
    const started = Date.now();
    let lastLine = 0;
    for (;;) {
      const status = await readStatus(client, batchId);
      const done = status.succeeded_items + status.failed_items + status.cancelled_items;
      const elapsed = (Date.now() - started) / 1000;
      const rate = elapsed > 0 ? done / elapsed : 0;
      const width = 30;
      const filled = status.total_items === 0 ? width : Math.round((done / status.total_items) * width);
      const line =
        `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${status.total_items} done, ${status.failed_items} failed, ` +
        `${rate.toFixed(1)} items/s, ETA ${duration(rate > 0 ? (status.total_items - done) / rate : Infinity)}` +
        (status.stuck_reason ? ` (not moving: ${status.stuck_reason})` : '');
      if (tty) out.write(`\r${line}\u001b[K`);
      else if (Date.now() - lastLine > 2000 || status.finished_at) {
        out.write(`${line}\n`);
        lastLine = Date.now();
      }
      if (status.finished_at && status.has_summary) {
        if (tty) out.write('\n');
        out.write(`${describe(status)}\n`);
        out.write(await summaryText(client, batchId));
        return exitCodeOf(status);
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  });
}
