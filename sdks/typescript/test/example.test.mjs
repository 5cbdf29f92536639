// The product's TypeScript example compiles with tsc against the package
// (imported as '@sockt/client') and runs unchanged against the live server,
// with only SOCKT_API_URL and SOCKT_API_KEY in its environment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { apiKey, apiUrl } from './live.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const examples = join(root, 'examples');

test('the documented example runs unchanged', () => {
  const scope = join(examples, 'node_modules', '@sockt');
  rmSync(scope, { recursive: true, force: true });
  mkdirSync(scope, { recursive: true });
  symlinkSync(root, join(scope, 'client'), 'dir');
  execFileSync('tsc', ['-p', examples], { stdio: 'inherit' });
  const output = execFileSync(process.execPath, [join(examples, 'dist', 'quickstart.js')], {
    env: { PATH: process.env.PATH, SOCKT_API_URL: apiUrl(), SOCKT_API_KEY: apiKey() },
    encoding: 'utf8',
    timeout: 120_000,
  });
  const result = JSON.parse(output.trim().split('\n').at(-1));
  // The example runs eval.py before writing it: python answers exit 2.
  assert.equal(result.exitCode, 2, output);
  assert.match(result.stderr, /can't open file .*eval\.py/);
});
