// Each refusal arrives as its own error class: 401, 402, 404, 429 (with
// retryAfter), and a client with retries rides out a 429 by itself.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AuthenticationError,
  ComputeClient,
  InsufficientBalanceError,
  InvalidRequestError,
  NotFoundError,
  RateLimitError,
  SocktError,
} from '../dist/index.js';
import { apiKey, apiUrl, newAccount } from './live.mjs';

describe('errors', () => {
  test('a bad key is an AuthenticationError', async () => {
    const client = new ComputeClient({ apiKey: 'sockt_live_not_a_key', baseUrl: apiUrl() });
    const error = await client.listSandboxes().then(() => null, (e) => e);
    assert.ok(error instanceof AuthenticationError, String(error));
    assert.ok(error instanceof SocktError);
    assert.equal(error.status, 401);
    assert.doesNotMatch(error.message, /not_a_key/, 'the key is never echoed');
  });

  test('an unknown sandbox is a NotFoundError', async () => {
    const client = new ComputeClient({ apiKey: apiKey(), baseUrl: apiUrl() });
    const error = await client.getSandbox('sbx-does-not-exist').then(() => null, (e) => e);
    assert.ok(error instanceof NotFoundError, String(error));
    assert.equal(error.status, 404);
    assert.equal(error.code, 'sandbox_not_found');
  });

  test('an account without credits gets an InsufficientBalanceError', async () => {
    const client = new ComputeClient({ apiKey: await newAccount('ts-broke', 0), baseUrl: apiUrl() });
    const error = await client
      .createSandbox({ tier: 'micro', billingMethod: 'credits', initialCreditsCents: 5 })
      .then(() => null, (e) => e);
    assert.ok(error instanceof InsufficientBalanceError, String(error));
    assert.equal(error.status, 402);
  });

  test('a bad request is an InvalidRequestError', async () => {
    const client = new ComputeClient({ apiKey: apiKey(), baseUrl: apiUrl() });
    await assert.rejects(client.createSandbox({ tier: 'no-such-tier' }), InvalidRequestError);
  });

  test('over the rate limit: RateLimitError with retryAfter, and retries ride it out', async () => {
    const key = await newAccount('ts-rate', 0);
    const impatient = new ComputeClient({ apiKey: key, baseUrl: apiUrl(), maxRetries: 0 });
    const answers = await Promise.all(
      Array.from({ length: 330 }, () => impatient.account().then(() => null, (e) => e)),
    );
    const limited = answers.filter((e) => e instanceof RateLimitError);
    assert.ok(limited.length > 0, `no 429 in ${answers.length} requests: ${answers.find((e) => e)}`);
    assert.ok(limited[0].retryAfter >= 1, `retryAfter ${limited[0].retryAfter}`);
    assert.equal(limited[0].status, 429);
    const patient = new ComputeClient({ apiKey: key, baseUrl: apiUrl(), maxRetries: 5 });
    const account = await patient.account();
    assert.ok(account, 'the retried request succeeded');
  });
});
