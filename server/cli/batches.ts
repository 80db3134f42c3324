// The CLI's batch commands: `import`, `scrape` and `status`, as a tenant, either directly against
// the database (role app_user with the tenant's claim, as a GraphQL request would) or through a
// running server with a token (`--server`, `--token`: files go up by PUT /catalog-files/…, the
// rest through GraphQL); `--watch` follows a batch to its summary with a progress bar.
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { uploadCatalogFile, type UploadedFile } from '../catalog/upload.ts';
import { isHttpUrl, type Config } from '../config.ts';
import { openDatabase } from '../db/database.ts';
import { isDatabaseUnavailable } from '../db/errors.ts';
import { applySessionSettings } from '../db/session.ts';
import type { Log } from '../log.ts';
import { isUuid } from '../uuid.ts';
import { tenantIdByName } from './tenants.ts';

export interface BatchCommandOptions {
  /** Database mode: the database, and the tenant by id or name. */
  connectionString?: string;
  tenant?: string;
  tenantName?: string;
  /** Server mode: the server's base URL and a token of the tenant (app_user). */
  serverUrl?: string;
  token?: string;
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
  finished_at: Date | string | null;
  has_summary: boolean;
  stuck_reason: string | null;
}

interface SummaryRow {
  status: string;
  duration_seconds: string | number;
  errors: unknown;
  stats: unknown;
}

/** What the commands need, by either route. */
interface BatchClient {
  upload(file: string): Promise<UploadedFile>;
  submit(kind: string, items: object[]): Promise<string>;
  status(batchId: string): Promise<StatusRow>;
  summary(batchId: string): Promise<SummaryRow | null>;
  close(): Promise<void>;
}

async function databaseClient(options: BatchCommandOptions): Promise<BatchClient> {
  // A pool of one: a connection that a restart of the database broke is replaced at the next use
  // (a lone client would be done for, and its error event would end the process).
  const pool = new pg.Pool({ connectionString: options.connectionString, max: 1, onConnect: applySessionSettings });
  pool.on('error', () => {});
  const withClient = async <T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> => {
    const client = await pool.connect();
    let broken: Error | undefined;
    // A connection lost while the client is held is also an 'error' event, which the pool stops
    // listening to at checkout (unheard, it would end the process); the query fails with it too.
    const onConnectionError = (error: Error) => {
      broken = error;
    };
    client.on('error', onConnectionError);
    try {
      return await fn(client);
    } catch (error) {
      if (isDatabaseUnavailable(error)) broken = error as Error;
      throw error;
    } finally {
      client.off('error', onConnectionError);
      client.release(broken);
    }
  };
  let tenantId: string | undefined;
  const tenant = async () => {
    if (tenantId) return tenantId;
    if (options.tenant) return (tenantId = options.tenant);
    if (!options.tenantName) throw new Error('say which tenant: --tenant <uuid> or --tenant-name <name> (or --server and --token)');
    return (tenantId = await withClient((client) => tenantIdByName(client, options.tenantName!)));
  };
  /** Runs `fn` as the tenant's operator (role app_user and its claim), as a GraphQL request would. */
  const asTenant = async <T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> => {
    const tenantId = await tenant();
    return withClient(async (client) => {
      await client.query('begin');
      try {
        await client.query(`select set_config('role', 'app_user', true), set_config('jwt.claims.tenant_id', $1, true)`, [tenantId]);
        const result = await fn(client);
        await client.query('commit');
        return result;
      } catch (error) {
        await client.query('rollback').catch(() => {});
        throw error;
      }
    });
  };
  return {
    upload: async (file) => {
      const tenantId = await tenant();
      return withClient((client) => uploadCatalogFile(client, tenantId, file));
    },
    submit: (kind, items) => asTenant(async (client) =>
      (await client.query<{ id: string }>('select id from app_public.submit_batch($1, $2::jsonb)', [kind, JSON.stringify(items)])).rows[0].id),
    // Another tenant's batch is "not found", as it is through the server.
    status: (batchId) => asTenant(async (client) => {
      const { rows } = await client.query<StatusRow>('select * from app_public.batch_status_summary where batch_id = $1', [batchId]);
      if (!rows[0]) throw new Error(`batch ${batchId} not found`);
      return rows[0];
    }),
    summary: (batchId) => asTenant(async (client) =>
      (await client.query<SummaryRow>('select status, duration_seconds, errors, stats from app_public.run_summaries where batch_id = $1', [batchId])).rows[0] ?? null),
    close: () => pool.end(),
  };
}

/** An error the server answered with, carrying the first of its codes (FLDBU: the database is away). */
class ServerError extends Error {
  readonly code: string | undefined;
  constructor(message: string, code: string | undefined) {
    super(message);
    this.code = code;
  }
}

/**
 * The database, or the server in between, is away for now (a restart, a failover): a watch waits
 * for it. Through the server that is its 503 (FLDBU), or no answer at all.
 */
function isAwayForNow(error: unknown): boolean {
  return isDatabaseUnavailable(error) || isDatabaseUnavailable((error as { cause?: unknown } | null)?.cause)
    || (error instanceof ServerError && error.code === 'FLDBU');
}

const STATUS_QUERY = `query ($id: UUID!) {
  batchById(id: $id) {
    statusSummary { batchId kind status totalItems pendingItems processingItems succeededItems failedItems cancelledItems finishedAt hasSummary stuckReason }
    runSummary { status durationSeconds errors stats }
  }
}`;

/** The server's base URL from --server (or FINISHLINE_SERVER), which may name its /graphql too. */
function serverBase(url: string): string {
  if (!isHttpUrl(url)) {
    throw new Error(`--server must be the server's URL, like http://localhost:5678, not "${url}"`);
  }
  return url.replace(/\/+$/, '').replace(/\/graphql$/, '');
}

function serverClient(options: BatchCommandOptions): BatchClient {
  const base = serverBase(options.serverUrl!);
  const headers = { authorization: `Bearer ${options.token}` };
  // fetch says only "fetch failed"; why is in its cause (which a watch reads to wait for the server).
  const fetch = async (url: string, init: RequestInit) => {
    try {
      return await globalThis.fetch(url, init);
    } catch (error) {
      const cause = (error as { cause?: Error }).cause;
      throw new Error(`could not reach ${base}: ${cause?.message ?? (error as Error).message}`, { cause });
    }
  };
  const graphql = async (query: string, variables: object) => {
    const response = await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ query, variables }),
    });
    if (response.status === 413) {
      throw new Error(`${base}/graphql refused the request as too large (HTTP 413): submit fewer items per batch, or submit directly to the database (--tenant)`);
    }
    const body = (await response.json().catch(() => ({}))) as { data?: any; errors?: Array<{ message: string; extensions?: { code?: string } }> };
    if (body.errors?.length) {
      throw new ServerError(body.errors.map((error) => `${error.message}${error.extensions?.code ? ` (${error.extensions.code})` : ''}`).join('; '), body.errors[0].extensions?.code);
    }
    if (!response.ok || !body.data) throw new ServerError(`${base}/graphql answered HTTP ${response.status}`, response.status === 503 ? 'FLDBU' : undefined);
    return body.data;
  };
  const batch = async (batchId: string) => {
    const data = await graphql(STATUS_QUERY, { id: batchId });
    if (!data.batchById?.statusSummary) throw new Error(`batch ${batchId} not found`);
    return data.batchById;
  };
  return {
    async upload(file) {
      const size = fs.statSync(file).size;
      const response = await fetch(`${base}/catalog-files/${encodeURIComponent(path.basename(file))}`, {
        method: 'PUT',
        headers: { ...headers, 'content-type': 'application/octet-stream', 'content-length': String(size) },
        body: Readable.toWeb(fs.createReadStream(file)) as ReadableStream,
        duplex: 'half',
      } as RequestInit);
      const body = (await response.json().catch(() => ({}))) as UploadedFile & { error?: string };
      if (!response.ok) throw new Error(`uploading ${file}: ${body.error ?? `HTTP ${response.status}`}`);
      return body;
    },
    async submit(kind, items) {
      const data = await graphql('mutation ($kind: String!, $items: JSON!) { submitBatch(input: { kind: $kind, items: $items }) { result { id } } }', { kind, items });
      return data.submitBatch.result.id;
    },
    async status(batchId) {
      const s = (await batch(batchId)).statusSummary;
      return {
        batch_id: s.batchId, kind: s.kind, status: s.status, total_items: s.totalItems, pending_items: s.pendingItems,
        processing_items: s.processingItems, succeeded_items: s.succeededItems, failed_items: s.failedItems,
        cancelled_items: s.cancelledItems, finished_at: s.finishedAt, has_summary: s.hasSummary, stuck_reason: s.stuckReason,
      };
    },
    async summary(batchId) {
      const r = (await batch(batchId)).runSummary;
      return r && { status: r.status, duration_seconds: r.durationSeconds, errors: r.errors, stats: r.stats };
    },
    close: async () => {},
  };
}

async function withBatchClient<T>(options: BatchCommandOptions, fn: (client: BatchClient) => Promise<T>): Promise<T> {
  const client = options.serverUrl ? serverClient(options) : await databaseClient(options);
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

/** Why a file given on the command line could not be read, for its error message. */
function whyUnreadable(error: unknown): string {
  return (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : String((error as Error).message ?? error);
}

/** Uploads the files (streaming) and submits one import_catalog batch with an item per file. */
export async function importFiles(files: string[], options: BatchCommandOptions): Promise<number> {
  if (files.length === 0) throw new Error('usage: finishline import <files...>');
  // Every file, before any is uploaded: a mistyped name fails the command at once.
  for (const file of files) {
    const stat = await fs.promises.stat(file).catch((error: unknown) => {
      throw new Error(`cannot import ${file}: ${whyUnreadable(error)}`);
    });
    if (!stat.isFile()) throw new Error(`cannot import ${file}: not a file`);
  }
  const out = options.out ?? process.stdout;
  const batchId = await withBatchClient(options, async (client) => {
    const items: Array<{ file_id: string }> = [];
    for (const file of files) {
      const uploaded = await client.upload(file);
      out.write(`${uploaded.reused ? 'already uploaded' : 'uploaded'} ${uploaded.filename} (${uploaded.sizeBytes} bytes, sha256 ${uploaded.sha256.slice(0, 12)}…)\n`);
      items.push({ file_id: uploaded.id });
    }
    return client.submit('import_catalog', items);
  });
  out.write(`batch ${batchId}\n`);
  return options.watch ? watchBatch(batchId, options) : 0;
}

/** Submits one scrape_pages batch with an item per URL of the file (one per line; # comments). */
export async function scrapeUrls(file: string | undefined, options: BatchCommandOptions): Promise<number> {
  if (!file) throw new Error('usage: finishline scrape <file-of-urls>');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${file}: ${whyUnreadable(error)}`);
  }
  const urls = text.split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));
  if (urls.length === 0) throw new Error(`${file} lists no URLs (one per line; lines starting with # are comments)`);
  const out = options.out ?? process.stdout;
  const batchId = await withBatchClient(options, (client) => client.submit('scrape_pages', urls.map((url) => ({ url }))));
  out.write(`batch ${batchId} (${urls.length} pages)\n`);
  return options.watch ? watchBatch(batchId, options) : 0;
}

export async function printStatus(batchId: string | undefined, options: BatchCommandOptions): Promise<number> {
  if (!batchId) throw new Error('usage: finishline status <batch-id> [--watch]');
  if (!isUuid(batchId)) throw new Error(`${batchId} is not a batch id (a UUID)`);
  if (options.watch) return watchBatch(batchId, options);
  const out = options.out ?? process.stdout;
  return withBatchClient(options, async (client) => {
    const status = await client.status(batchId);
    out.write(`${describe(status)}\n`);
    if (status.has_summary) out.write(summaryText(await client.summary(batchId)));
    return exitCodeOf(status);
  });
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

function summaryText(summary: SummaryRow | null): string {
  return summary ? `summary: ${JSON.stringify(summary, null, 2)}\n` : '';
}

function exitCodeOf(status: StatusRow): number {
  return status.failed_items > 0 || status.status === 'cancelled' ? 1 : 0;
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** How often a watch asks again while the database is away. */
const AWAY_RETRY_MS = 1000;

/** Follows a batch until its summary is written; draws a progress bar on a terminal. */
export async function watchBatch(batchId: string, options: BatchCommandOptions): Promise<number> {
  const out = options.out ?? process.stdout;
  const tty = Boolean(out.isTTY);
  return withBatchClient(options, async (client) => {
    const started = Date.now();
    let lastLine = 0;
    let away = false;
    for (;;) {
      let status: StatusRow;
      try {
        status = await client.status(batchId);
      } catch (error) {
        if (error instanceof ServerError && error.code === 'FLJWT') {
          // (A token lasts an hour unless made for longer: a big import can outlast it.)
          throw new Error(`${error.message}: batch ${batchId} goes on; follow it with a new token: finishline status ${batchId} --watch --server ${options.serverUrl} --token <token>`);
        }
        if (!isAwayForNow(error)) throw error;
        // The batch goes on meanwhile (its worker waits for the database too): keep watching.
        if (!away) out.write(`${tty ? '\n' : ''}the database is unavailable: still watching (${(error as Error).message})\n`);
        away = true;
        await new Promise((resolve) => setTimeout(resolve, AWAY_RETRY_MS));
        continue;
      }
      if (away) out.write('the database is back\n');
      away = false;
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
        out.write(summaryText(await client.summary(batchId)));
        return exitCodeOf(status);
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  });
}

/**
 * `import`, `scrape` and `status`, as a tenant: against the database (--tenant or --tenant-name),
 * or through a running server (--server and --token, or FINISHLINE_SERVER and FINISHLINE_TOKEN).
 * Resolves with the exit code.
 */
export async function runBatchCommand(command: 'import' | 'scrape' | 'status', config: Config, quiet: Log, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      tenant: { type: 'string' },
      'tenant-name': { type: 'string' },
      server: { type: 'string' },
      token: { type: 'string' },
      watch: { type: 'boolean', default: false },
    },
  });
  const run = (options: BatchCommandOptions) =>
    command === 'import' ? importFiles(positionals, options)
    : command === 'scrape' ? scrapeUrls(positionals[0], options)
    : printStatus(positionals[0], options);
  const serverUrl = values.server ?? config.server.url;
  const token = values.token ?? config.server.token;
  if (serverUrl) {
    if (!token) throw new Error('--server needs --token (an app_user token of the tenant: npm run token)');
    return run({ serverUrl, token, watch: values.watch });
  }
  const database = await openDatabase(config, quiet);
  try {
    return await run({ connectionString: database.connectionString, tenant: values.tenant, tenantName: values['tenant-name'], watch: values.watch });
  } finally {
    await database.stop();
  }
}
