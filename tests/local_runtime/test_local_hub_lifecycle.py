"""The local hub as a user runs it from a script: data survives restarts and kill -9 (orders, queued
messages, files in the exchange bucket, SSM parameters, and the channel's API key, usage plan and token
signing secret: its credentials and even its token keep working), stop is fast and leaves nothing behind
(the stand-ins included, even after kill -9), and start-up problems get one line, not a traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import ROOT, sample
from synchub import channels, environment
from synchub.client import ChannelClient, Response, http

STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _no_hub_left_behind() -> Iterator[None]:
    """A failing test must not leave its hubs (and their workers) running."""
    yield
    while STARTED:
        proc = STARTED.pop()
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.communicate(timeout=30)


def _start(state_dir: Path, *args: str) -> subprocess.Popen:
    """`synchub local up` as a script's background job: SIGINT ignored, as a non-interactive shell does."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "synchub.cli", "local", "up", "--no-synth", "--state-dir", str(state_dir), *args],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    STARTED.append(proc)
    return proc


def _wait_up(proc: subprocess.Popen, state_dir: Path) -> environment.HubEnvironment:
    deadline = time.monotonic() + 120
    while (
        not (state_dir / "local.json").exists()
        or json.loads((state_dir / "local.json").read_text()).get("pid") != proc.pid
    ):  # not the killed one's
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline, "hub did not come up"
        time.sleep(0.1)
    return environment.local(state_dir / "local.json")


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.run(
        [sys.executable, "-m", "synchub.cli", *args], cwd=ROOT, env=env, text=True, capture_output=True, timeout=120
    )


def _client(env: environment.HubEnvironment, credentials: channels.Credentials) -> ChannelClient:
    assert env.api_url
    return ChannelClient(env.api_url, credentials.client_id, credentials.client_secret, env.token_url)


def _post(client: ChannelClient, body: dict[str, Any], key: str) -> Response:
    return client.post_order(body, key)


def _group_alive(pgid: int, grace: float = 3.0) -> bool:
    """Whether any process of the group is still there after ``grace`` seconds (multiprocessing's
    resource tracker, and orphaned workers, exit just after their parent)."""
    deadline = time.monotonic() + grace
    while subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True).stdout.strip():
        if time.monotonic() > deadline:
            return True
        time.sleep(0.1)
    return False


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def _standins_gone(env: environment.HubEnvironment, grace: float = 10.0) -> bool:
    """Whether the stand-ins of ``env`` have exited within ``grace`` seconds (their own process groups)."""
    deadline = time.monotonic() + grace
    while any(_pid_alive(s["pid"]) for s in env.standins.values()):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _dlq_bodies(env: environment.HubEnvironment, name: str) -> list[str]:
    sqs = env.clients()("sqs")
    got = sqs.receive_message(QueueUrl=env.queues[name], MaxNumberOfMessages=10, VisibilityTimeout=0)
    return [m["Body"] for m in got.get("Messages", [])]


def test_data_survives_kill_9_and_a_clean_restart_and_stop_is_fast(cdk_out: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    hub = _start(state, "--port", "0", "--emulator-port", "0")
    env = _wait_up(hub, state)
    api_id = env.api_id  # the state file names the emulator's RestApi (usage plans name it) and the stage
    assert api_id and env.stage == "v1"
    credentials = channels.add_channel(env, "webshop-nl")
    client = _client(env, credentials)
    body = sample("api-post-order.json")
    resp = _post(client, body, "restart-key-0001")
    accepted = resp.body
    assert resp.status == 202, accepted
    token = client.token()
    dlq = "WorkersInvoicingWorkerDeadLetterQueue"
    env.clients()("sqs").send_message(QueueUrl=env.queues[dlq], MessageBody="poison: not json")
    bucket = env.exchange_bucket  # the ERP exchange (when the stack has the connectors)
    if bucket:
        assert set(env.standins) == {"finance", "erp"}
        env.clients()("s3").put_object(Bucket=bucket, Key="to-erp/reports/kept.report.csv", Body=b"row,key,reason\n")
    env.clients()("ssm").put_parameter(Name="/synchub/test/kept", Value="v1", Type="String")

    # a second hub on the same state dir, and a hub on a port in use: one line each, no traceback
    second = _run("local", "up", "--no-synth", "--port", "0", "--emulator-port", "0", "--state-dir", str(state))
    assert second.returncode == 1
    assert "another synchub hub is running on state dir" in second.stderr and "Traceback" not in second.stderr
    port = env.api_url.rsplit(":", 1)[1]
    taken = _run("local", "up", "--no-synth", "--port", port, "--state-dir", str(tmp_path / "other"))
    assert taken.returncode == 1
    assert f"port {port} on 127.0.0.1 (the API) is already in use" in taken.stderr
    assert "Traceback" not in taken.stderr and len(taken.stderr.strip().splitlines()) == 1
    emulator_port = env.endpoint.rsplit(":", 1)[1]
    taken = _run(
        "local",
        "up",
        "--no-synth",
        "--port",
        "0",
        "--emulator-port",
        emulator_port,
        "--state-dir",
        str(tmp_path / "other"),
    )
    assert taken.returncode == 1 and len(taken.stderr.strip().splitlines()) == 1, taken.stderr
    assert f"port {emulator_port} on 127.0.0.1 (the emulator) is already in use" in taken.stderr

    time.sleep(1.5)  # the journal is flushed every second: kill -9 loses at most the last one
    os.kill(hub.pid, signal.SIGKILL)
    hub.communicate(timeout=30)
    assert not _group_alive(hub.pid, grace=10), "workers outlived a killed hub"  # their pipe closed
    assert _standins_gone(env), "stand-ins outlived a killed hub"  # they watch their parent

    hub = _start(state, "--port", "0", "--emulator-port", "0")
    env = _wait_up(hub, state)
    assert env.api_id == api_id  # the same API: the channel's usage plan still applies to it
    # the token issued before the crash still verifies (same signing secret), and names the same API key
    order_url = f"{env.api_url}/orders/{accepted['order_id']}"
    assert http("GET", order_url, headers={"Authorization": f"Bearer {token}"}).status == 200
    client = _client(env, credentials)
    again = _post(client, body, "restart-key-0001")
    assert again.status == 202 and again.body["order_id"] == accepted["order_id"]
    assert again.header("Idempotent-Replayed") == "true"
    assert client.get_order(accepted["order_id"]).status == 200
    assert http("GET", order_url).status == 401  # and the API still asks for one
    assert _dlq_bodies(env, dlq) == ["poison: not json"]
    if bucket:
        kept = env.clients()("s3").get_object(Bucket=bucket, Key="to-erp/reports/kept.report.csv")
        assert kept["Body"].read() == b"row,key,reason\n"
        finance_url = env.clients()("ssm").get_parameter(Name=env.finance_base_url_parameter)["Parameter"]["Value"]
        assert finance_url == env.standins["finance"]["url"]  # the new stand-in's
    assert env.clients()("ssm").get_parameter(Name="/synchub/test/kept")["Parameter"]["Value"] == "v1"
    started = time.monotonic()
    os.kill(hub.pid, signal.SIGINT)  # ignored by inheritance, as for a background job: the hub takes it back
    out, _ = hub.communicate(timeout=30)
    assert time.monotonic() - started < 5, out
    assert hub.returncode == 0, out
    assert "recovered      the previous hub" in out and "Traceback" not in out
    assert not _group_alive(hub.pid) and _standins_gone(env, grace=0)

    hub = _start(state, "--port", "0", "--emulator-port", "0")
    env = _wait_up(hub, state)
    assert _client(env, credentials).get_order(accepted["order_id"]).status == 200
    assert _dlq_bodies(env, dlq) == ["poison: not json"]
    started = time.monotonic()
    os.kill(hub.pid, signal.SIGTERM)
    out, _ = hub.communicate(timeout=30)
    assert time.monotonic() - started < 5 and hub.returncode == 0, out
    assert "recovered" not in out  # the previous stop was clean

    fresh = _start(state, "--port", "0", "--emulator-port", "0", "--fresh")
    env = _wait_up(fresh, state)
    assert channels.list_channels(env) == []  # --fresh: no channel, no key, no plan
    assert env.clients()("apigateway").get_api_keys()["items"] == []
    fresh_client = _client(env, channels.add_channel(env, "webshop-nl"))
    assert fresh_client.get_order(accepted["order_id"]).status == 404
    fresh.send_signal(signal.SIGTERM)
    fresh.communicate(timeout=30)
    assert fresh.returncode == 0
