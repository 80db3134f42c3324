// Once per test run: a PostgreSQL (TEST_DATABASE_URL's server, or an embedded one) and a template
// database with every migration applied, which each test file clones.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../server/db/embedded_postgres.ts';
import { createLog } from '../server/log.ts';
import { migrate } from '../server/db/migrate.ts';
import { databaseUrl } from './database_url.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    adminUrl: string;
    templateDatabase: string;
    /** The embedded server's data directory, when the tests run on one (no TEST_DATABASE_URL). */
    embeddedDataDir: string | undefined;
  }
}

const silent = { ...createLog(), info: () => {}, debug: () => {} };

export default async function setup(project: TestProject) {
  let adminUrl = process.env.TEST_DATABASE_URL;
  let stopServer = async () => {};
  let dataDir: string | undefined;
  if (!adminUrl) {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'finishline-test-'));
    const server = await startEmbeddedPostgres(dataDir);
    adminUrl = server.adminUrl;
    stopServer = () => server.stop();
  }
  const templateDatabase = `finishline_template_${process.pid}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`drop database if exists ${templateDatabase}`);
  await admin.query(`create database ${templateDatabase}`);
  await migrate(databaseUrl(adminUrl, templateDatabase), silent);
  project.provide('adminUrl', adminUrl);
  project.provide('templateDatabase', templateDatabase);
  project.provide('embeddedDataDir', dataDir);

  return async () => {
    await admin.query(`drop database if exists ${templateDatabase} with (force)`);
    await admin.end();
    await stopServer();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  };
}
