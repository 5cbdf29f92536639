// A credits sandbox driven end to end through @sockt/client against the
// live server: create → wait → files (text, binary, listing) → exec (output,
// exit code, streamed callbacks, timeout, abort, stdin, background stream)
// → killProcesses → pause/resume → terminate with the refund to the account.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ComputeClient, ConflictError, GoneError, NotFoundError } from '../dist/index.js';
import { apiKey, apiUrl } from './live.mjs';

describe('a credits sandbox', () => {
  let client;
  let sandbox;

  before(async () => {
    client = new ComputeClient({ apiKey: apiKey(), baseUrl: apiUrl() });
    sandbox = await client.createSandbox({ tier: 'micro', billingMethod: 'credits', initialCreditsCents: 20, label: 'ts-sdk' });
    assert.match(sandbox.id, /\S/);
    assert.equal(sandbox.info.billingMethod, 'credits');
    const status = await sandbox.waitUntilRunning({ timeoutMs: 120_000 });
    assert.equal(status.status, 'running');
    assert.equal(status.tier, 'micro');
  });

  after(async () => {
    if (sandbox && sandbox.info.status !== 'terminated') await sandbox.terminate().catch(() => undefined);
  });

  test('a create with waitMs answers once the sandbox runs, in one round trip', async () => {
    const ready = await client.createSandbox({ tier: 'nano', initialCreditsCents: 5, waitMs: 60_000 });
    try {
      assert.equal(ready.info.status, 'running');
      assert.equal((await ready.exec('echo ready')).stdout, 'ready\n');
    } finally {
      await ready.terminate();
    }
  });

  test('text and binary files round-trip, and the listing shows them', async () => {
    await sandbox.writeFile('notes/hello.txt', 'héllo wörld\n');
    assert.equal(await sandbox.readFile('notes/hello.txt'), 'héllo wörld\n');
    assert.equal(await sandbox.readFile('notes/hello.txt', { maxBytes: 5 }), 'héll');
    const blob = new Uint8Array(1024).map((_, i) => i % 256);
    await sandbox.writeFile('blob.bin', blob);
    assert.deepEqual(await sandbox.readFileBytes('blob.bin'), blob);
    const home = await sandbox.listFiles();
    const names = home.map((e) => e.name);
    assert.ok(names.includes('blob.bin') && names.includes('notes'), names.join(','));
    assert.equal(home.find((e) => e.name === 'blob.bin').size, 1024);
    assert.equal(home.find((e) => e.name === 'notes').isDir, true);
    const deep = await sandbox.listFiles('notes', { recursive: true });
    assert.ok(deep.some((e) => e.name.endsWith('hello.txt')), JSON.stringify(deep.map((e) => e.raw)));
    await assert.rejects(sandbox.readFile('no/such/file'), NotFoundError);
  });

  test('exec returns stdout, stderr and the exit code', async () => {
    const result = await sandbox.exec('echo out; echo err >&2; exit 3');
    assert.equal(result.stdout, 'out\n');
    assert.equal(result.stderr, 'err\n');
    assert.equal(result.exitCode, 3);
    assert.equal(result.status, 'completed');
    const env = await sandbox.exec('echo "$GREETING" from $(pwd)', { env: { GREETING: 'hi' }, workingDir: 'notes' });
    assert.equal(env.stdout, 'hi from /home/sandbox/notes\n');
  });

  test('output reaches the callbacks while the command runs', async () => {
    const seen = [];
    const started = Date.now();
    let firstAt = null;
    const result = await sandbox.exec('for i in 1 2 3; do echo $i; sleep 0.4; done; echo done >&2', {
      onStdout: (chunk) => {
        firstAt ??= Date.now();
        seen.push(['out', chunk]);
      },
      onStderr: (chunk) => seen.push(['err', chunk]),
    });
    const finishedAt = Date.now();
    assert.equal(result.stdout, '1\n2\n3\n');
    assert.equal(seen.filter(([s]) => s === 'out').map(([, c]) => c).join(''), '1\n2\n3\n');
    assert.deepEqual(seen.filter(([s]) => s === 'err'), [['err', 'done\n']]);
    // The first line arrived long before the command ended (1.2 s of sleeps).
    assert.ok(firstAt !== null && finishedAt - firstAt >= 700, `first output ${firstAt - started} ms, end ${finishedAt - started} ms`);
  });

  test('a command over its timeout is killed and says so', async () => {
    const started = Date.now();
    const result = await sandbox.exec('sleep 20', { timeoutMs: 700 });
    assert.equal(result.status, 'failed');
    assert.match(result.error, /timed out/);
    assert.ok(Date.now() - started < 10_000);
  });

  test('aborting an exec cancels the command', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 500);
    await assert.rejects(
      sandbox.exec('sleep 30; echo never', { signal: controller.signal, onStdout: () => undefined }),
      (error) => error.name === 'AbortError',
    );
    const running = await sandbox.exec('pgrep -fc "slee[p] 30" || true');
    assert.equal(running.stdout.trim(), '0');
  });

  test('stdin reaches the command', async () => {
    const result = await sandbox.exec('tr a-z A-Z', { stdin: 'shout\n' });
    assert.equal(result.stdout, 'SHOUT\n');
    const binary = await sandbox.exec('wc -c', { stdin: new Uint8Array([0, 1, 2, 255]) });
    assert.equal(binary.stdout.trim(), '4');
  });

  test('a background command streams its output, and the stream resumes from an offset', async () => {
    const execution = await sandbox.startExec('for i in 1 2 3 4; do echo line$i; sleep 0.2; done', { background: true });
    const events = [];
    for await (const event of execution.stream()) events.push(event);
    const lines = events.filter((e) => e.type === 'stdout').map((e) => e.data).join('');
    assert.equal(lines, 'line1\nline2\nline3\nline4\n');
    const end = events.at(-1);
    assert.equal(end.type, 'end');
    assert.equal(end.exitCode, 0);
    // From the second chunk's offset on: everything after it, once.
    const second = events.filter((e) => e.type === 'stdout')[1];
    const again = [];
    for await (const event of execution.stream({ offset: second.offset })) again.push(event);
    const rest = again.filter((e) => e.type === 'stdout').map((e) => e.data).join('');
    assert.equal(rest, lines.slice(lines.indexOf(second.data)));
    const result = await execution.wait();
    assert.equal(result.stdout, lines);
  });

  test('the shell runs what is typed into it', async () => {
    let screen = '';
    const shell = await sandbox.shell({ cols: 100, rows: 30, onData: (data) => (screen += data) });
    shell.write('echo ts-shell-$((6*7))\n');
    const deadline = Date.now() + 15_000;
    while (!screen.includes('ts-shell-42') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await shell.close();
    assert.match(screen, /ts-shell-42/);
  });

  test('killProcesses stops running and background commands, and the sandbox runs on', async () => {
    await sandbox.exec('sleep 600 >/dev/null 2>&1 & echo started');
    const running = await sandbox.startExec('sleep 601', { background: true });
    const stopped = await sandbox.killProcesses();
    assert.equal(stopped.sandboxId, sandbox.id);
    assert.deepEqual(stopped.cancelledExecutions, [running.id]);
    assert.ok(stopped.killed >= 1, JSON.stringify(stopped.raw));
    assert.equal((await running.wait()).status, 'cancelled');
    const left = await sandbox.exec('pgrep -c sleep || true');
    assert.equal(left.stdout.trim(), '0');
  });

  test('pause stops commands and resume brings the files back', async () => {
    const paused = await sandbox.pause();
    assert.equal(paused.status, 'paused');
    await assert.rejects(sandbox.exec('true'), ConflictError);
    await assert.rejects(sandbox.killProcesses(), ConflictError);
    const resumed = await sandbox.resume();
    assert.equal(resumed.status, 'running');
    assert.equal(await sandbox.readFile('notes/hello.txt'), 'héllo wörld\n');
  });

  test('terminate refunds the unused credits to the account', async () => {
    const result = await sandbox.terminate();
    assert.equal(result.status.status, 'terminated');
    assert.equal(result.refund.destination, 'account');
    assert.ok(result.refund.amountMsats > 0, JSON.stringify(result.refund.raw));
    const ledger = await sandbox.ledger();
    const t = ledger.totals;
    assert.equal(t.paid_in_msats, t.charged_msats + t.refunded_msats + t.balance_msats);
    await assert.rejects(sandbox.exec('true'), GoneError);
  });
});
