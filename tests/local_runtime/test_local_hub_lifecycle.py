"""The local hub as a user runs it from a script: data survives restarts and kill -9, stop is fast
and leaves nothing behind, and start-up problems get one line, not a traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from helpers import ROOT, sample
from synchub import demo, environment


def _start(state_dir: Path, *args: str) -> subprocess.Popen:
    """`synchub local up` as a script's background job: SIGINT ignored, as a non-interactive shell does."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.Popen(
        [sys.executable, "-m", "synchub.cli", "local", "up", "--no-synth", "--state-dir", str(state_dir), *args],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )


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


def _post(env: environment.HubEnvironment, body: dict[str, Any], key: str) -> tuple[int, dict, Any]:
    return demo.http("POST", env.api_url + "/orders", body, {"Idempotency-Key": key})


def _group_alive(pgid: int, grace: float = 3.0) -> bool:
    """Whether any process of the group is still there after ``grace`` seconds (multiprocessing's
    resource tracker, and orphaned workers, exit just after their parent)."""
    deadline = time.monotonic() + grace
    while subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True).stdout.strip():
        if time.monotonic() > deadline:
            return True
        time.sleep(0.1)
    return False


def _dlq_bodies(env: environment.HubEnvironment, name: str) -> list[str]:
    sqs = env.clients()("sqs")
    got = sqs.receive_message(QueueUrl=env.queues[name], MaxNumberOfMessages=10, VisibilityTimeout=0)
    return [m["Body"] for m in got.get("Messages", [])]


def test_data_survives_kill_9_and_a_clean_restart_and_stop_is_fast(cdk_out: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    hub = _start(state, "--port", "0", "--emulator-port", "0")
    env = _wait_up(hub, state)
    body = sample("api-post-order.json")
    status, _, accepted = _post(env, body, "restart-key-0001")
    assert status == 202, accepted
    dlq = "WorkersInvoicingWorkerDeadLetterQueue"
    env.clients()("sqs").send_message(QueueUrl=env.queues[dlq], MessageBody="poison: not json")

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

    hub = _start(state, "--port", "0", "--emulator-port", "0")
    env = _wait_up(hub, state)
    status, headers, again = _post(env, body, "restart-key-0001")
    assert status == 202 and again["order_id"] == accepted["order_id"]
    assert headers.get("Idempotent-Replayed") == "true"
    assert demo.http("GET", f"{env.api_url}/orders/{accepted['order_id']}")[0] == 200
    assert _dlq_bodies(env, dlq) == ["poison: not json"]
    started = time.monotonic()
    os.kill(hub.pid, signal.SIGINT)  # ignored by inheritance, as for a background job: the hub takes it back
    out, _ = hub.communicate(timeout=30)
    assert time.monotonic() - started < 5, out
    assert hub.returncode == 0, out
    assert "recovered      the previous hub" in out and "Traceback" not in out
    assert not _group_alive(hub.pid)

    hub = _start(state, "--port", "0", "--emulator-port", "0")
    env = _wait_up(hub, state)
    assert demo.http("GET", f"{env.api_url}/orders/{accepted['order_id']}")[0] == 200
    assert _dlq_bodies(env, dlq) == ["poison: not json"]
    started = time.monotonic()
    os.kill(hub.pid, signal.SIGTERM)
    out, _ = hub.communicate(timeout=30)
    assert time.monotonic() - started < 5 and hub.returncode == 0, out
    assert "recovered" not in out  # the previous stop was clean

    fresh = _start(state, "--port", "0", "--emulator-port", "0", "--fresh")
    env = _wait_up(fresh, state)
    assert demo.http("GET", f"{env.api_url}/orders/{accepted['order_id']}")[0] == 404
    fresh.send_signal(signal.SIGTERM)
    fresh.communicate(timeout=30)
    assert fresh.returncode == 0
