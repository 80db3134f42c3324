// Structured logs: one JSON object per line on stdout, from the server and the worker alike.
import { format, inspect } from 'node:util';
import { Logger, type LogFunctionFactory } from 'graphile-worker';
import { logLevel, type LogLevel } from './config.ts';
import { isDatabaseUnavailable } from './db/errors.ts';

type Level = LogLevel;
type Fields = Record<string, unknown>;

const levels: Record<Level, number> = { debug: 10, info: 20, warning: 30, error: 40 };
/** LOG_LEVEL's; a bad value leaves info, and is refused with the rest of the configuration (loadConfig) in a line of its own. */
const minimum = levels[(() => {
  try {
    return logLevel();
  } catch {
    return 'info';
  }
})()];

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
 * What Graphile Worker and PostGraphile's LISTEN client log while they reconnect to a database
 * that went away (restarted, failed over, a connection killed), said by their message.
 */
const RECONNECTING = /^(Error with notify listener \(trying again|Error occurred attempting to UNLISTEN|Error on listening client|Error with listening client during getClient)/;

/**
 * A library's error line is a warning when it tells of the database being away, by its message
 * or by an error it carries: finishline rides that out (retrying, reconnecting, replacing a pool),
 * as its own "connection lost" warnings say, and `error` stays for what needs someone. /health
 * says whether the database is reachable.
 */
function levelOfLibraryError(message: string, carried: unknown[]): Level {
  return RECONNECTING.test(message) || carried.some(isDatabaseUnavailable) ? 'warning' : 'error';
}

/**
 * Libraries that print to the console (PostGraphile's pool and LISTEN client, grafserv) write
 * multi-line stack traces; in a finishline process each such message, and each of Node's process
 * warnings, becomes one JSON line too.
 */
export function routeConsoleToLog(): void {
  const library = createLog({ component: 'library' });
  const line = (level: 'info' | 'warn') => (...args: unknown[]) => library[level](format(...args));
  console.log = line('info');
  console.info = line('info');
  console.warn = line('warn');
  const error = (prefix: string) => (...args: unknown[]) => {
    const text = prefix + format(...args);
    library[levelOfLibraryError(text, args) === 'warning' ? 'warn' : 'error'](text);
  };
  console.error = error('');
  // Graphile Worker traces an error that ended one of its pool's workers, then logs it too.
  console.trace = error('Trace: ');
  console.dir = (value: unknown) => library.info(inspect(value, { depth: 2, breakLength: Infinity }));
  // Node prints a process warning (a library's deprecation, say) through console.error: it is a
  // warning, written once as one line in place of Node's own printing.
  process.removeAllListeners('warning');
  process.on('warning', (warning: Error & { code?: string }) => library.warn(warning.message, { warning: warning.name, code: warning.code }));
}

/** Graphile Worker's logger, writing the same JSON lines (job and task ids become fields). */
const workerLogFactory: LogFunctionFactory = (scope) => (level, message, meta) => {
  const { job, ...fields } = (meta ?? {}) as Fields & { job?: { id?: string } };
  // One line per finished job is noise at info level: a batch of a million items makes thousands.
  const quiet = message.startsWith('Completed task');
  const written = level === 'error' ? levelOfLibraryError(message, Object.values(fields)) : level === 'warning' ? 'warning' : (level as Level);
  write(quiet ? 'debug' : written, message, {
    component: 'worker',
    worker_id: scope.workerId,
    task: scope.taskIdentifier,
    job_id: scope.jobId ?? job?.id,
    ...fields,
  });
};

export const workerLogger = new Logger(workerLogFactory);
