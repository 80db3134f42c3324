// The command line's `database-url`: how psql and other tools reach the database finishline uses.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, inject, test } from 'vitest';
import { lastLogLine, runCli } from './helpers.ts';

/** Runs the CLI with these variables instead of DATABASE_URL and FINISHLINE_DATA_DIR. */
function finishline(args: string[], env: Record<string, string>) {
  const { DATABASE_URL: _url, FINISHLINE_DATA_DIR: _dir, ...rest } = process.env;
  return runCli(args, { ...rest, ...env });
}

describe('finishline database-url', () => {
  test('prints DATABASE_URL when it is set', async () => {
    const url = 'postgres://someone@db.example.com:6543/shop';
    expect(await finishline(['database-url'], { DATABASE_URL: url })).toMatchObject({ code: 0, stdout: `${url}\n` });
  });

  test('without DATABASE_URL and no embedded server running, says how to start one', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'finishline-cli-'));
    try {
      const run = await finishline(['database-url'], { FINISHLINE_DATA_DIR: dataDir });
      expect(run.code).toBe(1);
      expect(lastLogLine(run)).toMatchObject({
        error: `DATABASE_URL is not set and no embedded PostgreSQL runs under ${dataDir}: start one with \`npm start\``,
      });
      // It started none.
      expect(fs.readdirSync(dataDir)).toEqual([]);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  // Only when the tests themselves run on an embedded server (no TEST_DATABASE_URL).
  test.skipIf(!inject('embeddedDataDir'))('without DATABASE_URL, the URL of the embedded server that runs, to connect with', async () => {
    const dataDir = inject('embeddedDataDir')!;
    const admin = new pg.Client({ connectionString: inject('adminUrl') });
    await admin.connect();
    try {
      // (`npm start` creates it; the tests' server has only their own databases.)
      const { rowCount } = await admin.query(`select from pg_database where datname = 'finishline'`);
      if (!rowCount) await admin.query('create database finishline');
    } finally {
      await admin.end();
    }
    const { code, stdout } = await finishline(['database-url'], { FINISHLINE_DATA_DIR: dataDir });
    expect(code).toBe(0);
    const client = new pg.Client({ connectionString: stdout.trim() });
    await client.connect();
    try {
      expect((await client.query('select current_database() as name')).rows).toEqual([{ name: 'finishline' }]);
    } finally {
      await client.end();
    }
  });
});
