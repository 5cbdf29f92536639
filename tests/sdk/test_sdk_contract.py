"""Contract test: the official `sockt` Python SDK 0.2.0 (from PyPI), unchanged,
drives a Sockt server. SOCKT_API_URL and SOCKT_API_KEY say which server and
which account (scripts/test.sh provides both)."""

import base64
import os

import pytest
import sockt
from sockt import ComputeClient


@pytest.fixture(scope="module")
def client():
    with ComputeClient(api_key=os.environ["SOCKT_API_KEY"], base_url=os.environ["SOCKT_API_URL"]) as c:
        yield c


@pytest.fixture(scope="module")
def sandbox(client):
    sb = client.create_sandbox(tier="micro", billing_method="credits", initial_credits_cents=20, label="sdk-contract")
    assert sb.status in ("creating", "starting", "running")
    sb.wait_until_running(timeout=120, poll_interval=0.2)
    yield sb
    try:
        sb.terminate()
    except sockt.SocktError:
        pass


def test_tiers(client):
    tiers = {t.name: t for t in client.list_tiers()}
    assert tiers["nano"].msats_per_second == 500
    assert tiers["large"].sats_per_second == 10
    assert tiers["micro"].cost_per_hour_sats == 3600


def test_status(sandbox):
    status = sandbox.refresh_status()
    assert status.status == "running"
    assert status.tier == "micro"
    assert status.billing_method == "credits"
    assert status.runtime == "docker"
    assert status.raw["label"] == "sdk-contract"
    assert status.prepaid_balance_msats > 0
    assert status.seconds_remaining > 0
    assert status.warning_level is None


def test_text_and_binary_files(sandbox):
    sandbox.write_file("notes/hello.txt", "héllo wörld\n")
    assert sandbox.read_file("notes/hello.txt") == "héllo wörld\n"
    blob = bytes(range(256)) * 4
    sandbox.write_file("blob.bin", base64.b64encode(blob).decode(), encoding="base64")
    assert base64.b64decode(sandbox.read_file("blob.bin", encoding="base64")) == blob
    assert sandbox.read_file("notes/hello.txt", max_bytes=5) == "héll"


def test_list_files(sandbox):
    sandbox.write_file("tree/a/b.txt", "b")
    entries = {e.name: e for e in sandbox.list_files("tree", recursive=True)}
    assert entries["a"].is_dir
    assert entries["a/b.txt"].size == 1 and not entries["a/b.txt"].is_dir
    assert entries["a/b.txt"].mod_ts > 1_600_000_000
    top = [e.name for e in sandbox.list_files("tree")]
    assert top == ["a"]


def test_exec_sync(sandbox):
    result = sandbox.exec_sync("echo to-out; echo to-err >&2", poll_interval=0.1)
    assert result.status == "completed"
    assert result.exit_code == 0
    assert result.stdout == "to-out\n"
    assert result.stderr == "to-err\n"
    failing = sandbox.exec_sync("exit 3", poll_interval=0.1)
    assert failing.exit_code == 3
    in_dir = sandbox.exec_sync("pwd", working_dir="tree/a", poll_interval=0.1)
    assert in_dir.stdout == "/home/sandbox/tree/a\n"
    timed_out = sandbox.exec_sync("sleep 10", timeout_ms=500, poll_interval=0.1)
    assert timed_out.status == "failed"
    assert timed_out.exit_code == 124


def test_exec_cancel(sandbox):
    execution = sandbox.exec("sleep 30")
    sandbox.exec_cancel(execution.execution_id)
    result = sandbox.exec_result(execution.execution_id)
    assert result.status == "cancelled"


def test_pause_and_resume(sandbox):
    sandbox.pause()
    assert sandbox.refresh_status().status == "paused"
    with pytest.raises(sockt.APIError) as refused:
        sandbox.exec("true")
    assert refused.value.status_code == 409
    sandbox.resume()
    assert sandbox.refresh_status().status == "running"
    assert sandbox.exec_sync("cat notes/hello.txt", poll_interval=0.1).stdout == "héllo wörld\n"


def test_sandbox_token_opens_its_sandbox(sandbox):
    with ComputeClient(sandbox_token=sandbox._token, base_url=os.environ["SOCKT_API_URL"]) as by_token:
        same = by_token.get_sandbox(sandbox.id)
        assert same.status == "running"


def test_errors_are_typed(client):
    with pytest.raises(sockt.APIError) as missing:
        client.get_sandbox("no-such-sandbox")
    assert missing.value.status_code == 404
    assert missing.value.slug == "sandbox_not_found"
    with ComputeClient(api_key="sockt_live_wrong", base_url=os.environ["SOCKT_API_URL"]) as wrong:
        with pytest.raises(sockt.AuthenticationError):
            wrong.create_sandbox(tier="nano")


def test_terminate_last(client):
    sb = client.create_sandbox(tier="nano", initial_credits_cents=5)
    sb.wait_until_running(timeout=120, poll_interval=0.2)
    answer = sb.terminate()
    assert "terminated" in str(answer)
    assert sb.refresh_status().status == "terminated"
    with pytest.raises(sockt.APIError) as gone:
        sb.exec("true")
    assert gone.value.status_code == 410


def test_shell_sends_a_line_and_receives_its_output(sandbox):
    """sandbox.shell() gets shell-url and connects without any header."""
    with sandbox.shell() as shell:
        shell.resize(100, 30)
        shell.send_line("echo shell-$((40+2)) && stty size")
        seen = ""
        while "shell-42" not in seen or "30 100" not in seen:
            frame = shell.recv(timeout=20)
            assert frame["type"] == "stdout", frame
            seen += frame["data"]
        assert "shell-42" in seen and "30 100" in seen
