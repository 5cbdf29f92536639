// The transport without a server (a fake fetch): which answers are retried
// and how long it waits, the credential's place, and aborting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ComputeClient, InternalServerError, RateLimitError, ServiceUnavailableError } from '../dist/index.js';

function fakeFetch(answers) {
  const calls = [];
  const fetch = async (url, init) => {
    calls.push({ url: String(url), init, at: Date.now() });
    const [status, body, headers] = answers[Math.min(calls.length - 1, answers.length - 1)];
    return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
  };
  return { fetch, calls };
}

const tiers = { tiers: [{ tier: 'nano', name: 'nano', msats_per_second: 500 }] };

test('429 and 503 are retried (Retry-After honoured); the answer then arrives', async () => {
  const { fetch, calls } = fakeFetch([
    [429, { code: 'rate_limited', message: 'slow down' }, { 'retry-after': '1' }],
    [503, { code: 'pod_starting', message: 'starting' }, {}],
    [200, tiers, {}],
  ]);
  const client = new ComputeClient({ baseUrl: 'http://sockt.test', apiKey: 'sockt_live_k', fetch });
  const listed = await client.listTiers();
  assert.equal(listed[0].msatsPerSecond, 500);
  assert.equal(calls.length, 3);
  assert.ok(calls[1].at - calls[0].at >= 950, 'Retry-After: 1 was not waited');
  assert.equal(calls[0].init.headers.authorization, 'Bearer sockt_live_k');
  assert.ok(!calls[0].url.includes('sockt_live_k'), 'the key is never in the URL');
});

test('other errors are not retried, and retries stop at maxRetries', async () => {
  const failing = fakeFetch([[500, { code: 'internal', message: 'boom' }, {}]]);
  const client = new ComputeClient({ baseUrl: 'http://sockt.test', apiKey: 'k', fetch: failing.fetch });
  await assert.rejects(client.listTiers(), InternalServerError);
  assert.equal(failing.calls.length, 1);

  const full = fakeFetch([[503, { code: 'no_capacity', message: 'full' }, { 'retry-after': '0' }]]);
  const limited = new ComputeClient({ baseUrl: 'http://sockt.test', apiKey: 'k', fetch: full.fetch, maxRetries: 2 });
  const error = await limited.listTiers().then(() => null, (e) => e);
  assert.ok(error instanceof ServiceUnavailableError && error.code === 'no_capacity', String(error));
  assert.equal(full.calls.length, 3);

  const busy = fakeFetch([[429, { code: 'rate_limited', message: 'later' }, { 'retry-after': '7' }]]);
  const impatient = new ComputeClient({ baseUrl: 'http://sockt.test', apiKey: 'k', fetch: busy.fetch, maxRetries: 0 });
  const rate = await impatient.listTiers().then(() => null, (e) => e);
  assert.ok(rate instanceof RateLimitError);
  assert.equal(rate.retryAfter, 7);
});

test('an abort during a backoff rejects with the signal reason at once', async () => {
  const { fetch } = fakeFetch([[429, { code: 'rate_limited', message: 'later' }, { 'retry-after': '30' }]]);
  const client = new ComputeClient({ baseUrl: 'http://sockt.test', apiKey: 'k', fetch });
  const started = Date.now();
  await assert.rejects(client.listTiers(AbortSignal.timeout(200)), (e) => e.name === 'TimeoutError');
  assert.ok(Date.now() - started < 2_000);
});

test('options left out come from the environment; null means none', async () => {
  const { fetch, calls } = fakeFetch([[200, tiers, {}]]);
  process.env.SOCKT_API_KEY_SAVED = process.env.SOCKT_API_KEY ?? '';
  process.env.SOCKT_API_KEY = 'sockt_live_from_env';
  try {
    await new ComputeClient({ baseUrl: 'http://sockt.test', fetch }).listTiers();
    await new ComputeClient({ baseUrl: 'http://sockt.test', fetch, apiKey: null }).listTiers();
  } finally {
    process.env.SOCKT_API_KEY = process.env.SOCKT_API_KEY_SAVED;
    delete process.env.SOCKT_API_KEY_SAVED;
  }
  assert.equal(calls[0].init.headers.authorization, 'Bearer sockt_live_from_env');
  assert.equal(calls[1].init.headers.authorization, undefined);
});
