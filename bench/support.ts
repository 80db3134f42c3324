// What the benchmarks share: a fresh, migrated database of their own (on DATABASE_URL's server,
// or an embedded one in a temporary directory), clean-up that runs however they end, and the
// time limits and polling of their phases.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../server/db/embedded_postgres.ts';
import { createLog } from '../server/log.ts';
import { migrate } from '../server/db/migrate.ts';

export interface BenchDatabase {
  /** A scratch directory, removed at the end. */
  dir: string;
  url: string;
  /** Connected to `url`. */
  client: pg.Client;
  serverVersion: string;
  /** Registers more clean-up; everything runs in reverse order by `cleanUp`. */
  onCleanup(step: () => Promise<void>): void;
  cleanUp(): Promise<void>;
}

const silent = { ...createLog(), info: () => {}, debug: () => {} };

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

/**
 * Polls `check` every `pollMs` until it returns a value. Fails past PHASE_TIMEOUT_MS, or at once
 * when `stillRunning` throws (say, because the worker process it waits for has exited).
 */
export async function until<T>(
  what: string,
  check: () => Promise<T | undefined>,
  { pollMs = 100, stillRunning = () => {} }: { pollMs?: number; stillRunning?: () => void } = {},
): Promise<T> {
  const deadline = Date.now() + PHASE_TIMEOUT_MS;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    stillRunning();
    if (Date.now() > deadline) throw new Error(`${what} took longer than ${PHASE_TIMEOUT_MS / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** Peak resident set size (VmHWM) of a running process, in MB. */
export function peakRssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

/** A fresh, migrated database named after the benchmark; `cleanUp` drops it (and the embedded server). */
export async function openBenchDatabase(name: string): Promise<BenchDatabase> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `finishline-bench-${name}-`));
  // The embedded server runs as the postgres user, who must be able to reach its data directory.
  fs.chmodSync(dir, 0o755);
  const steps: Array<() => Promise<void>> = [async () => fs.rmSync(dir, { recursive: true, force: true })];
  const cleanUp = async () => {
    for (const step of steps.splice(0).reverse()) await step().catch(() => {});
  };
  try {
    let serverUrl = process.env.DATABASE_URL;
    if (!serverUrl) {
      const server = await startEmbeddedPostgres(path.join(dir, 'pg'));
      steps.push(() => server.stop());
      serverUrl = server.adminUrl;
    }
    const database = `finishline_bench${name}_${process.pid}`;
    const admin = new pg.Client({ connectionString: serverUrl });
    await admin.connect();
    await admin.query(`create database ${database}`);
    steps.push(async () => {
      await admin.query(`drop database if exists ${database} with (force)`);
      await admin.end();
    });
    const url = new URL(serverUrl);
    url.pathname = `/${database}`;
    await migrate(url.toString(), silent);
    const client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    steps.push(() => client.end());
    const { rows: [{ server_version }] } = await client.query<{ server_version: string }>('show server_version');
    return { dir, url: url.toString(), client, serverVersion: server_version, onCleanup: (step) => steps.push(step), cleanUp };
  } catch (error) {
    await cleanUp();
    throw error;
  }
}
