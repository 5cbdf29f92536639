// A Lightning sandbox with no account, paid from an agent's own wallet in
// the test LNbits: pay the invoice, run, top up, reach it again with only
// its token, terminate with the refund paid to the agent's Lightning Address.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ComputeClient, InsufficientBalanceError } from '../dist/index.js';
import { agentWallet, apiUrl, eventually } from './live.mjs';

test('pay, run, top up and get refunded over Lightning', async () => {
  const wallet = await agentWallet(1_000);
  const anonymous = new ComputeClient({ baseUrl: apiUrl(), apiKey: null });
  const sandbox = await anonymous.createSandbox({ tier: 'nano', billingMethod: 'lightning', prepaidSats: 100 });
  assert.equal(sandbox.info.status, 'awaiting_payment');
  assert.match(sandbox.token, /^sbx_/);
  const invoice = sandbox.info.pendingInvoice;
  assert.equal(invoice.amountMsats, 100_000);
  assert.match(invoice.bolt11, /^lnbc/);
  assert.equal(invoice.paymentHash.length, 64);
  await assert.rejects(sandbox.exec('true'), InsufficientBalanceError);

  await wallet.pay(invoice.bolt11);
  await sandbox.waitUntilRunning({ timeoutMs: 60_000 });
  assert.equal((await sandbox.exec('echo sats')).stdout, 'sats\n');

  const extended = await sandbox.extendBalance({ sats: 20 });
  const topUp = extended.pendingInvoice;
  assert.equal(topUp.amountMsats, 20_000);
  assert.deepEqual(await sandbox.pendingInvoice(), topUp);
  await wallet.pay(topUp.bolt11);
  await eventually(async () => (await sandbox.status()).paidInMsats === 120_000, 'the top-up credited');

  // Another process holding only the token reaches the same sandbox.
  const byToken = new ComputeClient({ baseUrl: apiUrl(), apiKey: null, sandboxToken: sandbox.token });
  const same = await byToken.getSandbox(sandbox.id);
  assert.equal(same.info.billingMethod, 'lightning');
  const before = await wallet.balanceMsats();
  const ended = await same.terminate({ lightningAddress: wallet.address });
  assert.equal(ended.status.status, 'terminated');
  assert.equal(ended.refund.destination, 'lightning_address');
  assert.equal(ended.refund.status, 'paid', JSON.stringify(ended.refund.raw));
  assert.ok(ended.refund.amountMsats > 100_000, `refund ${ended.refund.amountMsats}`);
  await eventually(async () => (await wallet.balanceMsats()) === before + ended.refund.amountMsats, 'the refund in the wallet');
  const totals = (await same.ledger()).totals;
  assert.equal(totals.paid_in_msats, totals.charged_msats + totals.refunded_msats + totals.balance_msats);
});
