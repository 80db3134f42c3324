// What the benchmarks share: a fresh, migrated database of their own (on DATABASE_URL's server,
// or an embedded one in a temporary directory), one clean-up registry that runs however they end
// (and stops every finishline process they started), and the time limits of their phases.
// Processes are started, and conditions polled, with test/processes.ts, as the tests do.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import pg from 'pg';
import { startEmbeddedPostgres } from '../server/db/embedded_postgres.ts';
import { createLog } from '../server/log.ts';
import { migrate } from '../server/db/migrate.ts';
import { killAll, type FinishlineProcess } from '../test/processes.ts';

export interface BenchDatabase {
  /** A scratch directory, removed at the end. */
  dir: string;
  url: string;
  /** Connected to `url`. */
  client: pg.Client;
  serverVersion: string;
  /** Registers more clean-up (the benchmark's one registry): see `onCleanup`. */
  onCleanup(step: () => Promise<void>): void;
  /** See `cleanUp`. */
  cleanUp(): Promise<void>;
}

const silent = { ...createLog(), info: () => {}, debug: () => {} };

// ---------------------------------------------------------------------------------------------
// The one clean-up registry of a benchmark process.

const steps: Array<() => Promise<void>> = [];
let cleaning: Promise<void> = Promise.resolve();
/** What the processes a benchmark started said, printed should it fail. */
const outputs = new Map<string, { output(): string }>();

/** Registers a clean-up step: `cleanUp` runs the steps in reverse order of registration. */
export function onCleanup(step: () => Promise<void>): void {
  steps.push(step);
}

/**
 * Runs the steps registered so far in reverse order, each once, and kills any finishline process
 * still running (openBenchDatabase has them killed before their database goes away, after the
 * benchmark's own steps). Calls made meanwhile wait for it.
 */
export function cleanUp(): Promise<void> {
  cleaning = cleaning.then(async () => {
    for (const step of steps.splice(0).reverse()) {
      await step().catch((error: unknown) => process.stderr.write(`clean-up step failed: ${describe(error)}\n`));
    }
    await killAll();
  });
  return cleaning;
}

/** Keeps `child`'s output under `name`, for the report of a benchmark that fails. */
export function keepOutput(name: string, child: { output(): string }): void {
  outputs.set(name, child);
}

function describe(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : inspect(error);
}

/**
 * Runs a benchmark: its figures become the last line on stdout (one JSON object) once everything
 * is cleaned up. A failure, SIGINT, SIGTERM or `timeoutMs` passing cleans up too, after printing
 * on stderr what went wrong and what its processes said; the exit status says which.
 */
export function runBench(name: string, main: () => Promise<Record<string, unknown>>, { timeoutMs }: { timeoutMs?: number } = {}): void {
  let ending: Promise<never> | undefined;
  // The first way to end wins: after a signal, main's failure is only its echo.
  const fail = (why: string, code: number) =>
    (ending ??= (async () => {
      process.stderr.write(`${name}: ${why}\n`);
      for (const [label, child] of outputs) process.stderr.write(`--- ${label} output ---\n${child.output().slice(-20_000)}\n--- end of ${label} output ---\n`);
      await cleanUp();
      process.exit(code);
    })());
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(signal, () => void fail(`${signal}, cleaning up`, code));
  }
  const timer = timeoutMs === undefined ? undefined : setTimeout(() => void fail(`gave up after ${timeoutMs / 1000} s`, 1), timeoutMs);
  main().then(
    async (figures) => {
      if (ending) return;
      clearTimeout(timer);
      await cleanUp();
      process.stdout.write(`${JSON.stringify(figures)}\n`);
      process.exit(0);
    },
    (error: unknown) => void fail(`failed: ${describe(error)}`, 1),
  );
}

/** A `stillRunning` for waitFor: fails once `child` has exited, since what it waits for never comes. */
export function stillRunning(child: FinishlineProcess, name = 'finishline worker'): () => void {
  return () => {
    if (child.exitCode() !== null) throw new Error(`${name} exited (${child.exitCode()}):\n${child.output().slice(-5000)}`);
  };
}

/** A `ready` for a worker: its heartbeat is in app_private.workers (only one worker runs at a time). */
export function workerRegistered(client: pg.Client): () => Promise<boolean> {
  return async () => ((await client.query('select 1 from app_private.workers')).rowCount ?? 0) > 0;
}

/** `url` (a server's, as it logs it: localhost) on the loopback address itself, as the load goes. */
export function onLoopback(url: string): string {
  const loopback = new URL(url);
  loopback.hostname = '127.0.0.1';
  return loopback.origin;
}

// ---------------------------------------------------------------------------------------------

/** A benchmark setting from the environment: a positive integer, or the fallback when unset. */
export function positiveIntegerFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, not "${raw}"`);
  return value;
}

/** How long one phase of a benchmark may take before it fails (and cleans up). */
export const PHASE_TIMEOUT_MS = 10 * 60_000;

/** `promise`'s value, or a failure naming `what` once it has taken longer than a phase may. */
export async function within<T>(what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${PHASE_TIMEOUT_MS / 1000} s`)), PHASE_TIMEOUT_MS);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Peak resident set size (VmHWM) of a running process, in MB. */
export function peakRssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

/** The `value` column of a query's first row. */
export async function scalar<T>(db: pg.Client, sql: string, params: unknown[] = []): Promise<T> {
  const { rows } = await db.query<{ value: T }>(sql, params);
  return rows[0].value;
}

/**
 * Inserts `batches` `noop` batches of `items` items each (sleeping `sleepMs`, if above 0) in one
 * transaction, as plain SQL by the owner: a complete submission. Returns their ids.
 */
export async function insertNoopBatches(db: pg.Client, tenantId: string, { items, batches = 1, sleepMs = 0 }: { items: number; batches?: number; sleepMs?: number }): Promise<string[]> {
  await db.query('begin');
  try {
    const { rows } = await db.query<{ id: string }>(
      `insert into app_public.batches (tenant_id, kind) select $1, 'noop' from generate_series(1, $2::integer) returning id`, [tenantId, batches]);
    const ids = rows.map((row) => row.id);
    await db.query(
      `insert into app_public.batch_items (batch_id, tenant_id, payload)
       select b.id, $2, case when $4::integer > 0 then jsonb_build_object('sleep_ms', $4::integer) else '{}'::jsonb end
       from unnest($1::uuid[]) as b(id), generate_series(1, $3::integer)`,
      [ids, tenantId, items, sleepMs]);
    await db.query('commit');
    return ids;
  } catch (error) {
    await db.query('rollback').catch(() => {});
    throw error;
  }
}

/** Runs one statement on a connection of its own. */
async function onServer(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * A fresh, migrated database named after the benchmark, on `serverUrl` (by default DATABASE_URL's
 * server, or an embedded one when that is unset); `cleanUp` drops it (and the embedded server).
 */
export async function openBenchDatabase(name: string, { serverUrl = process.env.DATABASE_URL }: { serverUrl?: string } = {}): Promise<BenchDatabase> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `finishline-bench-${name}-`));
  // The embedded server runs as the postgres user, who must be able to reach its data directory.
  fs.chmodSync(dir, 0o755);
  onCleanup(async () => fs.rmSync(dir, { recursive: true, force: true }));
  if (!serverUrl) {
    const server = await startEmbeddedPostgres(path.join(dir, 'pg'));
    onCleanup(() => server.stop());
    serverUrl = server.adminUrl;
  }
  const database = `finishline_bench${name}_${process.pid}`;
  await onServer(serverUrl, `create database ${database}`);
  // A connection of its own at the end: one held all along would not outlive a server restart.
  onCleanup(() => onServer(serverUrl, `drop database if exists ${database} with (force)`));
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  await migrate(url.toString(), silent);
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  onCleanup(() => client.end());
  // The benchmark's processes go before its database, and after what it registers from now on
  // (a client of a server closes before the server).
  onCleanup(killAll);
  const { rows: [{ server_version }] } = await client.query<{ server_version: string }>('show server_version');
  return { dir, url: url.toString(), client, serverVersion: server_version, onCleanup, cleanUp };
}
