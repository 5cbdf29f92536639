// What the tests need from the live services scripts/test.sh starts: the
// server (SOCKT_API_URL, an account's SOCKT_API_KEY, SOCKT_ADMIN_TOKEN) and
// LNbits (SOCKT_TEST_LNBITS_URL/TOKEN). A missing one fails the tests.
import assert from 'node:assert/strict';

export function required(name) {
  const value = process.env[name];
  assert.ok(value, `${name} is not set: run the SDK tests through scripts/test.sh (it starts the server and LNbits)`);
  return value;
}

export const apiUrl = () => required('SOCKT_API_URL');
export const apiKey = () => required('SOCKT_API_KEY');

/** A new account with `creditsCents`, through the admin API; its API key. */
export async function newAccount(name, creditsCents) {
  const response = await fetch(`${apiUrl()}/v1/admin/accounts`, {
    method: 'POST',
    headers: { authorization: `Bearer ${required('SOCKT_ADMIN_TOKEN')}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name, credits_cents: creditsCents }),
  });
  assert.equal(response.status, 201, await response.clone().text());
  return (await response.json()).api_key;
}

/** An agent's own wallet in the test LNbits, funded with `sats`, and its Lightning Address. */
export async function agentWallet(sats) {
  const lnbits = required('SOCKT_TEST_LNBITS_URL').replace(/\/+$/, '');
  const account = await (await fetch(`${lnbits}/api/v1/account`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'ts-agent' }),
  })).json();
  const funded = await (await fetch(`${lnbits}/users/api/v1/balance`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${required('SOCKT_TEST_LNBITS_TOKEN')}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id: account.id, amount: sats }),
  })).json();
  assert.ok(funded.success, JSON.stringify(funded));
  const host = lnbits.replace(/^https?:\/\//, '');
  return {
    address: `${account.lightning_address}@${host}`,
    async pay(bolt11) {
      const paid = await (await fetch(`${lnbits}/api/v1/payments`, {
        method: 'POST',
        headers: { 'x-api-key': account.adminkey, 'content-type': 'application/json' },
        body: JSON.stringify({ out: true, bolt11 }),
      })).json();
      assert.equal(paid.status, 'success', JSON.stringify(paid));
    },
    async balanceMsats() {
      const wallet = await (await fetch(`${lnbits}/api/v1/wallet`, { headers: { 'x-api-key': account.inkey } })).json();
      return wallet.balance;
    },
  };
}

/** Poll `check` until it returns a truthy value (for states the server reaches on its own). */
export async function eventually(check, what, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
