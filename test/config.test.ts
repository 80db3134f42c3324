// The README's table of environment variables is the operator's whole list: it names every
// variable finishline reads, and nothing else; and a bad value is refused with the variable's name.
import fs from 'node:fs';
import { expect, test } from 'vitest';
import { loadConfig, loadScrapeConfig, logLevel } from '../server/config.ts';

/** The names the configuration reads, recorded through a proxy of an empty environment. */
function variablesRead(): string[] {
  const read = new Set<string>();
  const env = new Proxy({} as NodeJS.ProcessEnv, {
    get(target, name) {
      if (typeof name === 'string') read.add(name);
      return undefined;
    },
  });
  loadConfig(env);
  loadScrapeConfig(env);
  logLevel(env);
  return [...read].sort();
}

function readmeTable(): Map<string, string> {
  const readme = fs.readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf('| variable | default | meaning |');
  expect(start).toBeGreaterThan(-1);
  const rows = readme.slice(start).split('\n').slice(2);
  const table = new Map<string, string>();
  for (const row of rows) {
    if (!row.startsWith('|')) break;
    const [name, fallback] = row.split('|').slice(1).map((cell) => cell.trim());
    table.set(name.replace(/`/g, ''), fallback);
  }
  return table;
}

test("the README's table names exactly the variables finishline reads", () => {
  expect([...readmeTable().keys()].sort()).toEqual(variablesRead());
});

test('a bad value is refused with the name of its variable, whatever the variable', () => {
  const secrets = new Set(['JWT_SECRET']);
  const free = new Set(['FINISHLINE_DATA_DIR', 'FINISHLINE_TOKEN', 'SCRAPE_USER_AGENT']);
  for (const name of variablesRead().filter((variable) => !free.has(variable))) {
    const env = { [name]: secrets.has(name) ? 'short' : 'not-a-valid-value' };
    expect(() => {
      loadConfig(env);
      loadScrapeConfig(env);
    }, name).toThrow(new RegExp(`^${name} must be`));
  }
});

test('the defaults the README gives are the defaults', () => {
  const table = readmeTable();
  const config = loadConfig({});
  const scrape = loadScrapeConfig({});
  const numbers: Record<string, number> = {
    PORT: config.port,
    WORKER_CONCURRENCY: config.workerConcurrency,
    GRAPHQL_STATEMENT_TIMEOUT_MS: config.graphqlStatementTimeoutMs,
    GRAPHQL_POOL_SIZE: config.graphqlPoolSize,
    SERVER_POOL_SIZE: config.serverPoolSize,
    RETRAIN_DEBOUNCE_SECONDS: config.retrainDebounceSeconds,
    RETRAIN_MAX_WAIT_SECONDS: config.retrainMaxWaitSeconds,
    ITEM_RETENTION_DAYS: config.itemRetentionDays,
    BATCH_RETENTION_DAYS: config.batchRetentionDays,
    SCRAPE_MAX_PER_HOST: scrape.maxPerHost,
    SCRAPE_TIMEOUT_MS: scrape.timeoutMs,
    SCRAPE_CONNECT_TIMEOUT_MS: scrape.connectTimeoutMs,
    SCRAPE_MAX_BYTES: scrape.maxBytes,
    SCRAPE_MAX_REDIRECTS: scrape.maxRedirects,
    SCRAPE_MAX_RETRY_AFTER_WAIT_MS: scrape.maxRetryAfterWaitMs,
    SCRAPE_MAX_RETRY_AFTER_MS: scrape.maxRetryAfterMs,
    SCRAPE_HOST_WAIT_MS: scrape.hostWaitMs,
  };
  for (const [name, value] of Object.entries(numbers)) {
    expect(Number(table.get(name)?.replace(/[,_]/g, '')), name).toBe(value);
  }
  expect(table.get('LOG_LEVEL')).toBe(config.logLevel);
  expect(table.get('GRAPHILE_ENV')).toBe(config.graphileEnv);
});
