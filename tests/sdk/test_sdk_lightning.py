"""Contract test: the official `sockt` SDK 0.2.0 drives the Lightning flow with
no account — create, pay the invoice from the agent's own wallet (a wallet of
the test LNbits), run, and terminate with a refund to its Lightning Address.
SOCKT_API_URL, SOCKT_TEST_LNBITS_URL and SOCKT_TEST_LNBITS_TOKEN come from
scripts/test.sh."""

import os
import time

import httpx
from sockt import ComputeClient

LNBITS = os.environ["SOCKT_TEST_LNBITS_URL"]


def agent_wallet():
    account = httpx.post(f"{LNBITS}/api/v1/account", json={"name": "sdk-agent"}).json()
    funded = httpx.put(
        f"{LNBITS}/users/api/v1/balance",
        headers={"Authorization": f"Bearer {os.environ['SOCKT_TEST_LNBITS_TOKEN']}"},
        json={"id": account["id"], "amount": 1000},
    ).json()
    assert funded["success"], funded
    host = LNBITS.removeprefix("http://").rstrip("/")
    return account, f"{account['lightning_address']}@{host}"


def pay(account, bolt11):
    paid = httpx.post(f"{LNBITS}/api/v1/payments", headers={"X-Api-Key": account["adminkey"]}, json={"out": True, "bolt11": bolt11}).json()
    assert paid["status"] == "success", paid


def balance(account):
    return httpx.get(f"{LNBITS}/api/v1/wallet", headers={"X-Api-Key": account["inkey"]}).json()["balance"]


def test_lightning_flow_with_the_sdk():
    wallet, address = agent_wallet()
    with ComputeClient(base_url=os.environ["SOCKT_API_URL"]) as anonymous:
        sb = anonymous.create_sandbox(tier="nano", billing_method="lightning", prepaid_sats=100)
        assert sb.status == "awaiting_payment"
        invoice = sb.pending_invoice
        assert invoice is not None and invoice.amount_msats == 100_000
        assert invoice.bolt11.startswith("lnbc") and len(invoice.payment_hash) == 64
        assert sb._token.startswith("sbx_")
        pay(wallet, invoice.bolt11)
        sb.wait_until_running(timeout=60, poll_interval=0.2)
        result = sb.exec_sync("echo sats", poll_interval=0.1)
        assert result.stdout == "sats\n"

    # Another process holding only the token reaches the same sandbox.
    with ComputeClient(sandbox_token=sb._token, base_url=os.environ["SOCKT_API_URL"]) as by_token:
        same = by_token.get_sandbox(sb.id)
        status = same.refresh_status()
        assert status.billing_method == "lightning"
        assert status.prepaid_balance_msats <= 100_000
        before = balance(wallet)
        answer = same.terminate(lightning_address=address)
        assert "terminated" in str(answer)
        assert answer["refund"]["status"] == "paid", answer
        refunded = answer["refund"]["amount_msats"]
        assert refunded > 90_000
        deadline = time.monotonic() + 10
        while balance(wallet) < before + refunded and time.monotonic() < deadline:
            time.sleep(0.2)
        assert balance(wallet) == before + refunded
