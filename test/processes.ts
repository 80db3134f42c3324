// Real finishline processes for the tests and the benchmarks, started one way: `finishline
// <command>` with the environment given, its output kept (JSON lines), ready once it says so, and
// stopped by whoever started it or, at the latest, when the test file or benchmark ends (one
// registry). Also the one polling helper both use, and a free port to listen on.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

export const CLI_PATH = fileURLToPath(new URL('../server/cli/main.ts', import.meta.url));

export interface FinishlineProcess {
  pid: number;
  /** The HTTP server's base URL (serve and start), once listening. */
  url: string;
  /** Everything it logged so far. */
  output(): string;
  /** Its exit code once it has exited (-1 for a signal); null while it runs. */
  exitCode(): number | null;
  /** Sends SIGTERM (or the signal given) and waits for the exit; resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** SIGKILL: a crash, with no chance to clean up. */
  kill(): Promise<number | null>;
}

const running = new Set<FinishlineProcess>();

/** How long a process may take to exit once signalled (a worker's graceful stop takes seconds). */
const STOP_TIMEOUT_MS = 45_000;

/** Stops (SIGKILL) every process still running: the end of a test file or a benchmark. */
export async function killAll(): Promise<void> {
  await Promise.all([...running].map((child) => child.kill()));
}

/**
 * Starts `finishline <command>` and resolves once it is ready: a worker once it logged "worker
 * started" (and `ready`, if given, says so too), a server once it listens. Fails at once if it
 * exits meanwhile, with what it logged.
 */
export async function startFinishline(
  command: 'worker' | 'serve' | 'start',
  env: NodeJS.ProcessEnv,
  { ready, timeoutMs = 60_000 }: { ready?: () => Promise<boolean>; timeoutMs?: number } = {},
): Promise<FinishlineProcess> {
  const child: ChildProcess = spawn(process.execPath, [CLI_PATH, command], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const started: FinishlineProcess = {
    pid: child.pid!,
    url: '',
    output: () => output,
    exitCode: () => child.exitCode ?? (child.signalCode ? -1 : null),
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      const stuck = new Promise<'stuck'>((resolve) => (timer = setTimeout(() => resolve('stuck'), STOP_TIMEOUT_MS)));
      const code = await Promise.race([exited, stuck]).finally(() => clearTimeout(timer));
      if (code === 'stuck') {
        // A process whose only thread is stuck never handles the signal: left running, it would
        // take a core from every test after it.
        child.kill('SIGKILL');
        await exited;
        running.delete(started);
        throw new Error(`finishline ${command} did not exit within ${STOP_TIMEOUT_MS / 1000} s of ${signal}: killed\n${output.slice(-2000)}`);
      }
      running.delete(started);
      return code;
    },
    kill: () => started.stop('SIGKILL'),
  };
  running.add(started);
  const stillRunning = () => {
    if (child.exitCode !== null) throw new Error(`finishline ${command} exited early:\n${output}`);
  };
  try {
    // Readiness is read from the log's info lines: LOG_LEVEL must be info or debug.
    if (command === 'worker') {
      await waitFor(async () => output.includes('"msg":"worker started"') && (!ready || (await ready())), { timeoutMs, stillRunning, what: 'the worker to start' });
    } else {
      started.url = await waitFor(() => /"url":"(http:\/\/localhost:\d+)\/graphql"/.exec(output)?.[1], { timeoutMs, stillRunning, what: `finishline ${command} to listen` });
    }
  } catch (error) {
    await started.kill();
    throw new Error(`${(error as Error).message}\nfinishline ${command} logged:\n${output.slice(-5000)}`);
  }
  return started;
}

/**
 * Polls `check` until it returns a truthy value, and returns it. Fails after `timeoutMs`, or at
 * once when `stillRunning` throws (say, because the process it waits for has exited).
 */
export async function waitFor<T>(
  check: () => Promise<T | false | null | undefined> | T | false | null | undefined,
  { timeoutMs = 30_000, intervalMs = 50, what = 'a condition', stillRunning = () => {} }:
    { timeoutMs?: number; intervalMs?: number; what?: string; stillRunning?: () => void } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    stillRunning();
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** A TCP port on 127.0.0.1 that nothing listens on (at the moment of asking). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
