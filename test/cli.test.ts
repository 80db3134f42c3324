// The command line: `database-url` (how psql and other tools reach the database finishline uses), and
// what `start` refuses before it touches a database.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, inject, test } from 'vitest';
import { lastLogLine, runCli } from './helpers.ts';
import { freePort } from './processes.ts';

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

/** Runs `fn` with the URL of a new, empty database of the tests' server, dropped afterwards. */
async function withEmptyDatabase(name: string, fn: (url: string) => Promise<void>): Promise<void> {
  const admin = new pg.Client({ connectionString: inject('adminUrl') });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
    const url = new URL(inject('adminUrl'));
    url.pathname = `/${name}`;
    await fn(url.toString());
  } finally {
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
}

describe('finishline start', () => {
  test('with DATABASE_URL but no JWT_SECRET, is refused before it touches the database', () =>
    withEmptyDatabase(`finishline_cli_nosecret_${process.pid}`, async (url) => {
      const run = await finishline(['start'], { DATABASE_URL: url, JWT_SECRET: '', PORT: '0' });
      expect(run.code).toBe(1);
      expect(lastLogLine(run)).toMatchObject({ error: 'JWT_SECRET is not set (it is generated only for the embedded database)' });
      // Not migrated, and no worker ran.
      const database = new pg.Client({ connectionString: url });
      await database.connect();
      try {
        expect((await database.query(`select nspname from pg_namespace where nspname in ('app_public', 'graphile_worker')`)).rows).toEqual([]);
      } finally {
        await database.end();
      }
    }));
});

describe('finishline start whose HTTP server cannot start', () => {
  // Its worker had started: it stops too, as on SIGTERM (its row goes, its jobs go back), rather
  // than be left for the sweeper to find dead, holding whatever it had fetched.
  test('(its port taken) exits 1 and leaves no worker behind', () =>
    withEmptyDatabase(`finishline_cli_portless_${process.pid}`, async (url) => {
      const taken = net.createServer();
      await new Promise<void>((resolve) => taken.listen(0, resolve));
      try {
        const port = (taken.address() as net.AddressInfo).port;
        const run = await finishline(['start'], { DATABASE_URL: url, JWT_SECRET: 'x'.repeat(32), PORT: String(port) });
        expect(run.code).toBe(1);
        expect(lastLogLine(run)).toMatchObject({ error: `port ${port} is in use (another finishline, or another program): stop it, or set PORT to a free port` });
        expect(run.stdout).toContain('"msg":"worker stopped"');
        const database = new pg.Client({ connectionString: url });
        await database.connect();
        try {
          expect((await database.query('select id from app_private.workers')).rows).toEqual([]);
        } finally {
          await database.end();
        }
      } finally {
        taken.close();
      }
    }));
});

describe('finishline migrate', () => {
  // Replicas deployed together each migrate as they start: the later ones wait for the first,
  // then find the schema current, instead of failing.
  test('three at once on a new database all succeed, and the schema is current', () =>
    withEmptyDatabase(`finishline_cli_migrate_${process.pid}`, async (url) => {
      const runs = await Promise.all([1, 2, 3].map(() => finishline(['migrate'], { DATABASE_URL: url, JWT_SECRET: 'x'.repeat(32) })));
      expect(runs.map((run) => [run.code, lastLogLine(run).msg])).toEqual(Array(3).fill([0, 'database schema is current']));
      const applied = runs.map((run) => lastLogLine(run).migrations_applied as number);
      expect(applied.sort((a, b) => a - b).slice(0, 2)).toEqual([0, 0]);
      expect(applied[2]).toBe(fs.readdirSync(new URL('../migrations', import.meta.url)).length);
    }));
});

describe('finishline token', () => {
  const env = { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', JWT_SECRET: 'x'.repeat(32) };
  const tenant = '00000000-0000-4000-8000-000000000001';

  test('prints a token that expires after --expires-in', async () => {
    const run = await finishline(['token', '--tenant', tenant, '--expires-in', '8h'], env);
    expect(run.code).toBe(0);
    const claims = JSON.parse(Buffer.from(run.stdout.trim().split('.')[1], 'base64url').toString());
    expect(claims).toMatchObject({ role: 'app_user', tenant_id: tenant, aud: 'finishline' });
    expect(claims.exp - claims.iat).toBe(8 * 3600);
  });

  // A token that is expired when printed would only be refused later, by the server, as expired.
  test.each(['0', '-1h', 'soon'])('--expires-in %s is refused, saying what a duration is', async (expiresIn) => {
    const run = await finishline(['token', '--tenant', tenant, `--expires-in=${expiresIn}`], env);
    expect(run.code).toBe(1);
    expect(run.stdout.split('\n').filter((line) => line.startsWith('ey'))).toEqual([]);
    expect(lastLogLine(run)).toMatchObject({ error: `--expires-in must be a time to come, like 1h, 8h or 7d, not "${expiresIn}"` });
  });
});

describe('finishline status --server', () => {
  const batch = '00000000-0000-4000-8000-000000000001';
  const env = { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', JWT_SECRET: 'x'.repeat(32) };

  test('a server that is no http(s) URL is refused, saying what it should be', async () => {
    const run = await finishline(['status', batch, '--server', 'localhost:5678', '--token', 't'], env);
    expect(run.code).toBe(1);
    expect(lastLogLine(run)).toMatchObject({ error: '--server must be the server\'s URL, like http://localhost:5678, not "localhost:5678"' });
  });

  test('a server that does not answer is named, with why', async () => {
    const port = await freePort();
    const run = await finishline(['status', batch, '--server', `http://127.0.0.1:${port}`, '--token', 't'], env);
    expect(run.code).toBe(1);
    expect(lastLogLine(run)).toMatchObject({ error: `could not reach http://127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}` });
  });
});

describe('a bad setting', () => {
  // Each refused the way every setting is: one JSON line naming the variable, before any database
  // is reached (the URL names none that answers).
  test.each([
    ['LOG_LEVEL', 'verbose', 'LOG_LEVEL must be one of debug, info, warning, error, not "verbose"'],
    ['PORT', '99999', 'PORT must be an integer from 0 to 65535, not "99999"'],
    ['REVIEW_SCORING_CRON', '61 * * * *', `REVIEW_SCORING_CRON must be a crontab schedule (too large value '61' in minutes range: expected values in the range 0-59), not "61 * * * *"`],
  ])('%s=%s is refused with its name, as a log line', async (name, value, error) => {
    const run = await finishline(['start'], { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', JWT_SECRET: 'x'.repeat(32), [name]: value });
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('');
    expect(run.stdout.trim().split('\n').map((line) => JSON.parse(line))).toEqual([expect.objectContaining({ level: 'error', msg: 'finishline failed', error })]);
  });
});

describe('asking for help', () => {
  // What someone new types first, with or without a command: the usage on stdout, exit code 0,
  // whatever the environment (a bad setting too: help touches no configuration).
  test.each(['--help', '-h', 'help', 'token --help', 'status 1 -h', 'start --help'])('finishline %s prints the usage', async (line) => {
    const run = await finishline(line.split(' '), { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', LOG_LEVEL: 'verbose' });
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(/^usage: finishline <command> \[options\]\n/);
    expect(run.stdout).toContain('  token     print a JWT');
  });

  test('an unknown command is named, with the usage, and exit code 2', async () => {
    const run = await finishline(['tokne'], {});
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^finishline: unknown command "tokne"\nusage: finishline <command>/);
  });

  test('an unknown option is named, with where the options are listed, and exit code 2', async () => {
    const run = await finishline(['token', '--rol', 'app_user'], { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', JWT_SECRET: 'x'.repeat(32) });
    expect(run.code).toBe(2);
    expect(lastLogLine(run)).toMatchObject({ error: "Unknown option '--rol' (the options: finishline --help)" });
  });
});
