// What a long-lived finishline process writes for what its libraries say on the console and for
// Node's own process warnings: one JSON line each, at the level an operator should page on.
import { execFile } from 'node:child_process';
import { expect, test } from 'vitest';

/** Runs `script` in a process whose console is routed to the log, as `finishline start` does; its stdout and stderr lines. */
function linesOf(script: string): Promise<{ stdout: string[]; stderr: string }> {
  const program = `import { routeConsoleToLog } from ${JSON.stringify(new URL('../server/log.ts', import.meta.url).href)};
routeConsoleToLog();
${script}`;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', program], (error, stdout, stderr) =>
      error ? reject(error) : resolve({ stdout: stdout.split('\n').filter(Boolean), stderr }));
  });
}

// pg warns once when a library queues a query on a busy client, which Graphile Worker's LISTEN
// client can do while it reconnects: not a reason to page anyone.
test("a library's deprecation warning is one JSON line at level warning, with its name and code", async () => {
  const { stdout, stderr } = await linesOf(`process.emitWarning('Calling client.query() when the client is already executing a query is deprecated', { type: 'DeprecationWarning', code: 'DEP_PG_QUEUE' });`);
  expect(stderr).toBe('');
  expect(stdout.map((line) => JSON.parse(line))).toEqual([
    expect.objectContaining({ level: 'warning', msg: 'Calling client.query() when the client is already executing a query is deprecated', warning: 'DeprecationWarning', code: 'DEP_PG_QUEUE', component: 'library' }),
  ]);
});

test("a library's console.error is an error, unless it says the database is away", async () => {
  const { stdout } = await linesOf(`console.error('Something broke:', new Error('boom'));
console.error('Error with notify listener (trying again in 1000ms)', new Error('Connection terminated unexpectedly'));`);
  expect(stdout.map((line) => JSON.parse(line).level)).toEqual(['error', 'warning']);
});
