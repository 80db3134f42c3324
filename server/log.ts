// Structured logs: one JSON object per line on stdout, from the server and the worker alike.
import { format, inspect } from 'node:util';
import { Logger, type LogFunctionFactory } from 'graphile-worker';
import { logLevel, type LogLevel } from './config.ts';

type Level = LogLevel;
type Fields = Record<string, unknown>;

const levels: Record<Level, number> = { debug: 10, info: 20, warning: 30, error: 40 };
const minimum = levels[logLevel()];

function write(level: Level, msg: string, fields: Fields): void {
  if (levels[level] < minimum) return;
  const line: Fields = { time: new Date().toISOString(), level, msg };
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) line[key] = value instanceof Error ? value.message : value;
  }
  process.stdout.write(JSON.stringify(line) + '\n');
}

export interface Log {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  child(fields: Fields): Log;
}

export function createLog(base: Fields = {}): Log {
  return {
    debug: (msg, fields) => write('debug', msg, { ...base, ...fields }),
    info: (msg, fields) => write('info', msg, { ...base, ...fields }),
    warn: (msg, fields) => write('warning', msg, { ...base, ...fields }),
    error: (msg, fields) => write('error', msg, { ...base, ...fields }),
    child: (fields) => createLog({ ...base, ...fields }),
  };
}

export const log = createLog();

/**
 * Libraries that print to the console (PostGraphile's pool and LISTEN client, grafserv) write
 * multi-line stack traces; in a finishline process each such message becomes one JSON line too.
 */
export function routeConsoleToLog(): void {
  const library = createLog({ component: 'library' });
  const line = (level: 'info' | 'warn' | 'error') => (...args: unknown[]) => library[level](format(...args));
  console.log = line('info');
  console.info = line('info');
  console.warn = line('warn');
  console.error = line('error');
  console.dir = (value: unknown) => library.info(inspect(value, { depth: 2, breakLength: Infinity }));
}

/** Graphile Worker's logger, writing the same JSON lines (job and task ids become fields). */
const workerLogFactory: LogFunctionFactory = (scope) => (level, message, meta) => {
  const { job, ...fields } = (meta ?? {}) as Fields & { job?: { id?: string } };
  // One line per finished job is noise at info level: a batch of a million items makes thousands.
  const quiet = message.startsWith('Completed task');
  write(quiet ? 'debug' : level === 'warning' ? 'warning' : (level as Level), message, {
    component: 'worker',
    worker_id: scope.workerId,
    task: scope.taskIdentifier,
    job_id: scope.jobId ?? job?.id,
    ...fields,
  });
};

export const workerLogger = new Logger(workerLogFactory);
