"""The MCP server at /v1/mcp driven by the official Python MCP client SDK
(PyPI `mcp`) over Streamable HTTP: a whole agent session with credits, one
with sats and no account, and bad input. SOCKT_API_URL, SOCKT_API_KEY and the
test LNbits (SOCKT_TEST_LNBITS_URL/TOKEN) come from scripts/test.sh."""

import asyncio
import base64
import json
import os
import time

import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client
from mcp.shared.exceptions import McpError

URL = os.environ["SOCKT_API_URL"].rstrip("/") + "/v1/mcp"
KEY = os.environ["SOCKT_API_KEY"]
LNBITS = os.environ["SOCKT_TEST_LNBITS_URL"]
TOOLS = {
    "sandbox_create", "sandbox_exec", "sandbox_write_file", "sandbox_read_file", "sandbox_list_files",
    "sandbox_status", "sandbox_pause", "sandbox_resume", "sandbox_terminate", "sandbox_extend_balance",
    "sandbox_kill_processes",
}


def run(scenario, headers=None):
    async def main():
        async with streamablehttp_client(URL, headers=headers or {}) as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return await scenario(session)

    return asyncio.run(main())


async def call(session, tool, **arguments):
    """A successful tool call's JSON answer."""
    result = await session.call_tool(tool, arguments)
    text = result.content[0].text
    assert not result.isError, f"{tool} failed: {text}"
    return json.loads(text)


async def fails(session, tool, **arguments):
    """A tool error's text."""
    result = await session.call_tool(tool, arguments)
    assert result.isError, f"{tool} should have failed: {result.content[0].text}"
    return result.content[0].text


def test_the_eleven_tools_are_listed_with_schemas():
    async def scenario(session):
        tools = (await session.list_tools()).tools
        assert {t.name for t in tools} == TOOLS
        by_name = {t.name: t for t in tools}
        assert by_name["sandbox_exec"].inputSchema["required"] == ["command", "sandbox_id"] or set(by_name["sandbox_exec"].inputSchema["required"]) == {"command", "sandbox_id"}
        assert "tier" in by_name["sandbox_create"].inputSchema["properties"]
        for tool in tools:
            assert len(tool.description) > 40, tool.name

    run(scenario)


def test_an_agent_session_with_credits():
    async def scenario(session):
        created = await call(session, "sandbox_create", tier="small", billing_method="credits", initial_credits_cents=30, label="mcp")
        assert created["status"] == "running", created
        sid = created["sandbox_id"]
        assert created["proxy_url"].endswith(f"/v1/sandboxes/{sid}/proxy/")
        program = "import json\nopen('out.json', 'w').write(json.dumps({'sum': sum(range(101))}))\nprint('done')\n"
        await call(session, "sandbox_write_file", sandbox_id=sid, path="work/calc.py", content=program)
        ran = await call(session, "sandbox_exec", sandbox_id=sid, command="python3 calc.py", working_dir="work")
        assert ran["exit_code"] == 0 and ran["stdout"] == "done\n" and ran["status"] == "completed", ran
        out = await call(session, "sandbox_read_file", sandbox_id=sid, path="work/out.json")
        assert json.loads(out["content"]) == {"sum": 5050}
        blob = bytes(range(256))
        await call(session, "sandbox_write_file", sandbox_id=sid, path="b.bin", content=base64.b64encode(blob).decode(), encoding="base64")
        back = await call(session, "sandbox_read_file", sandbox_id=sid, path="b.bin", encoding="base64")
        assert base64.b64decode(back["content_b64"]) == blob
        binary_as_text = await fails(session, "sandbox_read_file", sandbox_id=sid, path="b.bin")
        assert "base64" in binary_as_text
        listed = await call(session, "sandbox_list_files", sandbox_id=sid, path="work", recursive=True)
        assert {e["name"] for e in listed["entries"]} == {"calc.py", "out.json"}
        big = await call(session, "sandbox_exec", sandbox_id=sid, command="seq 1 100000")
        assert "bytes omitted" in big["stdout"] and big["stdout"].startswith("1\n2\n") and big["stdout"].rstrip().endswith("100000")
        assert "note" in big
        # The server's own bound keeps the real end too (head and tail).
        huge = await call(session, "sandbox_exec", sandbox_id=sid, command="seq 1 2000000", timeout_ms=120000)
        assert huge["stdout"].startswith("1\n2\n") and huge["stdout"].rstrip().endswith("\n2000000"), huge["stdout"][-200:]
        assert "bytes omitted" in huge["stdout"] and "between the head and the tail" in huge["note"], huge.get("note")
        failing = await call(session, "sandbox_exec", sandbox_id=sid, command="echo oops >&2; exit 4")
        assert failing["exit_code"] == 4 and failing["stderr"] == "oops\n"
        await call(session, "sandbox_exec", sandbox_id=sid, command="sleep 600 >/dev/null 2>&1 & echo started")
        stopped = await call(session, "sandbox_kill_processes", sandbox_id=sid)
        assert stopped["killed"] >= 1 and stopped["cancelled_executions"] == [], stopped
        left = await call(session, "sandbox_exec", sandbox_id=sid, command="pgrep -c sleep || true")
        assert left["stdout"] == "0\n", left
        paused = await call(session, "sandbox_pause", sandbox_id=sid)
        assert paused["status"] == "paused"
        refused = await fails(session, "sandbox_exec", sandbox_id=sid, command="true")
        assert "sandbox_resume" in refused
        refused = await fails(session, "sandbox_kill_processes", sandbox_id=sid)
        assert "sandbox_resume" in refused
        resumed = await call(session, "sandbox_resume", sandbox_id=sid)
        assert resumed["status"] == "running"
        extended = await call(session, "sandbox_extend_balance", sandbox_id=sid, credits_cents=5)
        assert extended["paid_in_msats"] == 350_000
        ended = await call(session, "sandbox_terminate", sandbox_id=sid)
        assert ended["terminated"] and ended["refund"]["destination"] == "account"
        gone = await fails(session, "sandbox_exec", sandbox_id=sid, command="true")
        assert "sandbox_create" in gone
        return sid

    run(scenario, {"Authorization": f"Bearer {KEY}"})


def lnbits_wallet(sats):
    account = httpx.post(f"{LNBITS}/api/v1/account", json={"name": "mcp-agent"}).json()
    funded = httpx.put(
        f"{LNBITS}/users/api/v1/balance",
        headers={"Authorization": f"Bearer {os.environ['SOCKT_TEST_LNBITS_TOKEN']}"},
        json={"id": account["id"], "amount": sats},
    ).json()
    assert funded["success"]
    return account


def test_an_agent_session_paying_in_sats_without_an_account():
    wallet = lnbits_wallet(1000)
    host = LNBITS.removeprefix("http://").rstrip("/")
    address = f"{wallet['lightning_address']}@{host}"

    async def scenario(session):
        created = await call(session, "sandbox_create", tier="nano", prepaid_sats=200)
        assert created["status"] == "awaiting_payment", created
        sid = created["sandbox_id"]
        bolt11 = created["pending_invoice"]["bolt11"]
        early = await fails(session, "sandbox_exec", sandbox_id=sid, command="true")
        assert bolt11 in early and "sandbox_status" in early
        # The agent's wallet (a wallet MCP server in real life) pays.
        paid = httpx.post(f"{LNBITS}/api/v1/payments", headers={"X-Api-Key": wallet["adminkey"]}, json={"out": True, "bolt11": bolt11}).json()
        assert paid["status"] == "success"
        deadline = time.monotonic() + 60
        while (status := await call(session, "sandbox_status", sandbox_id=sid))["status"] != "running":
            assert time.monotonic() < deadline, status
            await asyncio.sleep(0.3)
        assert status["billing"]["billing_method"] == "lightning"
        assert status["billing"]["balance_msats"] <= 200_000
        ran = await call(session, "sandbox_exec", sandbox_id=sid, command="echo hi")
        assert ran["stdout"] == "hi\n" and ran["billing"]["seconds_remaining"] > 0
        ended = await call(session, "sandbox_terminate", sandbox_id=sid, lightning_address=address)
        assert ended["refund"]["status"] == "paid", ended
        return sid, created["sandbox_token"]

    sid, token = run(scenario)

    # Another session reaches it only with the explicit token.
    async def other_session(session):
        hidden = await fails(session, "sandbox_status", sandbox_id=sid)
        assert "sandbox_not_found" in hidden
        seen = await call(session, "sandbox_status", sandbox_id=sid, sandbox_token=token)
        assert seen["status"] == "terminated"

    run(other_session)


def test_bad_input_is_a_clear_error_and_the_server_keeps_serving():
    async def scenario(session):
        with pytest.raises(McpError) as unknown:
            await session.call_tool("sandbox_teleport", {})
        assert "sandbox_teleport" in str(unknown.value) or "not found" in str(unknown.value).lower()
        for arguments in ({}, {"sandbox_id": 5, "command": "true"}):
            try:
                result = await session.call_tool("sandbox_exec", arguments)
                assert result.isError, result
            except McpError as error:
                assert "sandbox_id" in str(error) or "invalid" in str(error).lower()
        foreign = await fails(session, "sandbox_status", sandbox_id="00000000-0000-0000-0000-000000000000")
        assert "sandbox_not_found" in foreign
        bad_tier = await fails(session, "sandbox_create", tier="huge", billing_method="credits")
        assert "invalid_tier" in bad_tier
        created = await call(session, "sandbox_create", tier="nano", billing_method="credits", initial_credits_cents=1)
        assert created["status"] == "running"
        await call(session, "sandbox_terminate", sandbox_id=created["sandbox_id"])

    run(scenario, {"Authorization": f"Bearer {KEY}"})

    # Someone else's sandbox is invisible.
    async def make(session):
        return (await call(session, "sandbox_create", tier="nano", billing_method="credits", initial_credits_cents=1))["sandbox_id"]

    sid = run(make, {"Authorization": f"Bearer {KEY}"})
    other_key = httpx.post(
        os.environ["SOCKT_API_URL"].rstrip("/") + "/v1/admin/accounts",
        headers={"Authorization": f"Bearer {os.environ['SOCKT_ADMIN_TOKEN']}"},
        json={"credits_cents": 5},
    ).json()["api_key"]

    async def snoop(session):
        text = await fails(session, "sandbox_exec", sandbox_id=sid, command="id")
        assert "sandbox_not_found" in text

    run(snoop, {"Authorization": f"Bearer {other_key}"})

    async def clean_up(session):
        await call(session, "sandbox_terminate", sandbox_id=sid)

    run(clean_up, {"Authorization": f"Bearer {KEY}"})
