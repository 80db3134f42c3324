// The project type-checks (Node runs the .ts files by stripping types, so nothing else checks them),
// and so does the dashboard's browser code in web/ (JavaScript with JSDoc types, its own tsconfig).
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { expect, test } from 'vitest';

test.each(['.', 'web'])('tsc --noEmit -p %s reports no errors', (project) => {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  let output = '';
  try {
    execFileSync(process.execPath, [tsc, '--noEmit', '-p', project], { encoding: 'utf8', stdio: 'pipe' });
  } catch (error) {
    output = String((error as { stdout?: string }).stdout ?? error);
  }
  expect(output).toBe('');
}, 120_000);
