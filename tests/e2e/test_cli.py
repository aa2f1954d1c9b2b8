"""The commands the README tells a newcomer to run, run as a newcomer runs them."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from helpers import ROOT


def synchub(*args: str, **kwargs) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.Popen(
        [sys.executable, "-m", "synchub.cli", *args],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        **kwargs,
    )


def test_local_up_with_demo_drives_an_order_to_one_invoice(cdk_out: Path, tmp_path: Path) -> None:
    proc = synchub(
        "local",
        "up",
        "--demo",
        "--exit",
        "--port",
        "0",
        "--emulator-port",
        "0",
        "--no-synth",
        "--state-dir",
        str(tmp_path),
    )
    out, _ = proc.communicate(timeout=360)
    assert proc.returncode == 0, out
    assert "synchub local hub is up (moto, embedded)" in out
    assert "history: SUBMITTED -> ACCEPTED -> RESERVED -> RELEASED -> SHIPPED -> INVOICED" in out
    assert re.search(r"invoices on the order: 2 \(INV-SH01-\d{4}-(\d{6}), INV-SH01-\d{4}-\d{6}\)", out), out
    assert re.search(r"credit memo CM-SH01-\d{4}-\d{6}: 1 x FLOUR-T55-25KG of invoice INV-SH01-", out), out
    assert "credit memos on the order: 1" in out
    assert "hub applied products: " in out and "rejected -> to-erp/reports/PRODUCTS-" in out
    assert re.search(r"ack ACCEPTED SO-\d{7}", out) and re.search(r"POSTED as FIN-\d{8}", out), out
    assert "breaker OPEN after 5 failures" in out and ", 0 on its DLQ, 0 posted" in out
    assert "12 invoices POSTED, 12 of 12 exactly once in finance; breaker CLOSED" in out
    assert "0 missing, 0 mismatched, 0 extra: invoice match rate 100.00%" in out
    assert "through a finance outage -> reconciled: OK" in out
    assert not (tmp_path / "local.json").exists()  # cleaned up on exit


def test_demo_and_replay_commands_against_a_running_hub(cdk_out: Path, tmp_path: Path) -> None:
    hub = synchub("local", "up", "--port", "0", "--emulator-port", "0", "--no-synth", "--state-dir", str(tmp_path))
    try:
        state_file = tmp_path / "local.json"
        deadline = time.monotonic() + 120
        while not state_file.exists():
            assert hub.poll() is None, hub.stdout.read()
            assert time.monotonic() < deadline, "hub did not come up"
            time.sleep(0.2)
        state = json.loads(state_file.read_text())
        assert state["api_url"].startswith("http://127.0.0.1:")
        demo = subprocess.run(
            [sys.executable, "-m", "synchub.cli", "demo", "--state-dir", str(tmp_path)],
            cwd=ROOT,
            text=True,
            capture_output=True,
            timeout=300,
        )
        assert demo.returncode == 0, demo.stdout + demo.stderr
        assert "invoices on the order: 2" in demo.stdout and "credit memos on the order: 1" in demo.stdout
        listing = subprocess.run(
            [sys.executable, "-m", "synchub.cli", "replay", "--list", "--state-dir", str(tmp_path)],
            cwd=ROOT,
            text=True,
            capture_output=True,
            timeout=60,
        )
        assert listing.returncode == 0, listing.stderr
        lines = dict(line.split(None, 1) for line in listing.stdout.splitlines())
        assert set(lines) == {
            "OutboxStreamDeadLetterQueue",
            "OutboxSweepDeadLetterQueue",
            "WorkersInventoryWorkerDeadLetterQueue",
            "WorkersReservationWorkerDeadLetterQueue",
            "WorkersInvoicingWorkerDeadLetterQueue",
            "WorkersInvoicingReturnsWorkerDeadLetterQueue",
            "WorkersReservationStockAvailableWorkerDeadLetterQueue",
            "WorkersFulfilmentReleaseWorkerDeadLetterQueue",
            "WorkersFulfilmentWarehouseWorkerDeadLetterQueue",
            "WarehousesUtrechtOutboundDeadLetterQueue",
            "WarehousesTilburgOutboundDeadLetterQueue",
            "WorkersBackorderDeadLetterQueue",
            "ConnectorsFinancePostingWorkerDeadLetterQueue",
            "ConnectorsErpOrdersWorkerDeadLetterQueue",
            "ConnectorsErpAcksDeadLetterQueue",
            "ConnectorsMasterDataDeadLetterQueue",
            "ConnectorsErpWatchdogDeadLetterQueue",
            "ConnectorsReconcilerDeadLetterQueue",
        }
        assert all(v.strip() == "0 message(s)" for v in lines.values())
        replayed = subprocess.run(
            [
                sys.executable,
                "-m",
                "synchub.cli",
                "replay",
                "WorkersInvoicingWorkerDeadLetterQueue",
                "--state-dir",
                str(tmp_path),
            ],
            cwd=ROOT,
            text=True,
            capture_output=True,
            timeout=60,
        )
        assert replayed.returncode == 0, replayed.stderr
        assert "0 message(s) moved back to Synchub-WorkersInvoicingWorkerQueue" in replayed.stdout
    finally:
        hub.send_signal(signal.SIGTERM)
        out, _ = hub.communicate(timeout=60)
    assert hub.returncode == 0, out
    assert not (tmp_path / "local.json").exists()


def test_ctrl_c_stops_the_hub_and_its_workers_cleanly(cdk_out: Path, tmp_path: Path) -> None:
    hub = synchub(
        "local",
        "up",
        "--port",
        "0",
        "--emulator-port",
        "0",
        "--no-synth",
        "--state-dir",
        str(tmp_path),
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not (tmp_path / "local.json").exists():
        assert hub.poll() is None, hub.stdout.read()
        assert time.monotonic() < deadline, "hub did not come up"
        time.sleep(0.2)
    os.killpg(hub.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole process group
    out, _ = hub.communicate(timeout=60)
    assert hub.returncode == 0, out
    assert "Traceback" not in out
    for log in (tmp_path / "logs").glob("*.log"):
        assert "KeyboardInterrupt" not in log.read_text(), log.name
    deadline = time.monotonic() + 10  # multiprocessing's resource tracker exits just after its parent
    while subprocess.run(["pgrep", "-g", str(hub.pid)], capture_output=True).stdout.strip():
        assert time.monotonic() < deadline, "processes of the hub outlived it"
        time.sleep(0.2)
