"""``python -m benchmarks.soak``: the local hub under a day's volume, driven over HTTP like a channel.

It starts ``synchub local up`` as its own process (fresh state dir), stocks the sample SKUs over
the WMS inventory queue, and then measures, all in the same run:

1. **Ceiling**: the emulator's raw rate for the very TransactWriteItems an order's intake makes
   (captured from the orders code, sent straight to the hub's emulator endpoint with fresh keys),
   with 1, 8 and 32 client threads.
2. **Throughput**: orders/s to ``202`` and to ``RESERVED`` through ``POST /orders`` (API Gateway
   emulation -> orders Lambda -> transaction -> stream -> outbox -> EventBridge -> SQS ->
   reservation Lambda) with 1, 8 and 32 client threads, as a ratio of the ceiling.
3. **Soak**: ``SOAK_ORDERS`` (10,000) orders with ``SOAK_THREADS`` (8) client threads; at every
   1,000 orders the RSS of the hub process and of its function workers, and the p50/p95 latency
   of those 1,000 POSTs. Memory growth per 1,000 orders is the slope after the first 2,000
   (warm-up: caches, worker heaps, allocator arenas).

Environment: ``SOAK_ORDERS``, ``SOAK_THREADS``, ``SOAK_PHASE_ORDERS`` (orders per throughput
phase, 500), ``SOAK_CEILING_TXNS`` (transactions per ceiling phase, 500).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "functions"), str(ROOT)]

ORDERS = int(os.environ.get("SOAK_ORDERS", "10000"))
THREADS = int(os.environ.get("SOAK_THREADS", "8"))
PHASE_ORDERS = int(os.environ.get("SOAK_PHASE_ORDERS", "500"))
CEILING_TXNS = int(os.environ.get("SOAK_CEILING_TXNS", "500"))
STEP = 1000
BODY = json.loads((ROOT / "events/samples/api-post-order.json").read_text())


# -- the hub under test ------------------------------------------------------------------------
class HubProcess:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="synchub-soak-"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.console = (self.dir / "console.log").open("wb")  # a pipe nobody reads would block the hub
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "synchub.cli",
                "local",
                "up",
                "--no-synth",
                "--fresh",
                "--port",
                "0",
                "--emulator-port",
                "0",
                "--state-dir",
                str(self.dir),
            ],
            cwd=ROOT,
            env=env,
            stdout=self.console,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 180
        state_file = self.dir / "local.json"
        while not state_file.exists():
            if self.proc.poll() is not None:
                raise SystemExit(f"the hub did not start: {(self.dir / 'console.log').read_text()}")
            if time.monotonic() > deadline:
                raise SystemExit("the hub did not start within 180 s")
            time.sleep(0.2)
        from synchub import environment

        self.env = environment.local(state_file)
        if not self.env.api_url:
            raise SystemExit(f"the hub wrote no API URL to {state_file}")
        self.api_url: str = self.env.api_url
        # the sample order's channel, as an operator registers it, with limits above what the soak sends
        # (the point is the hub's throughput, not the default plan's 50 req/s)
        from synchub import channels
        from synchub.client import ChannelClient

        creds = channels.add_channel(self.env, BODY["channel"], rate=100_000, burst=20_000, quota=100_000_000)
        self.token, _ = ChannelClient(self.api_url, creds.client_id, creds.client_secret).fetch_token()

    def rss_mb(self) -> tuple[float, float]:
        """(hub process, hub + its function workers) resident set size in MB."""
        hub = _rss_kb(self.proc.pid)
        workers = sum(_rss_kb(pid) for pid in _children(self.proc.pid))
        return hub / 1024, (hub + workers) / 1024

    def stop(self) -> float:
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
        return time.monotonic() - started


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


# -- clients -----------------------------------------------------------------------------------
class Channel(threading.local):
    """One keep-alive HTTP connection per client thread, as a channel's integration would hold."""

    def __init__(self, api_url: str, token: str) -> None:
        self.auth = {"Authorization": f"Bearer {token}"}  # valid an hour: longer than the soak
        url = urlsplit(api_url)
        if not url.hostname:
            raise ValueError(f"not an http URL: {api_url!r}")
        self.host, self.port = url.hostname, url.port
        self.conn: http.client.HTTPConnection | None = None

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            try:
                self.conn.request(method, path, body=body, headers={**self.auth, **(headers or {})})
                resp = self.conn.getresponse()
                return resp.status, resp.read()
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


def post_order(channel: Channel, n: int) -> tuple[float, str]:
    body = json.dumps({**BODY, "channel_order_ref": f"SOAK-{n}-{uuid.uuid4().hex[:8]}"}).encode()
    started = time.perf_counter()
    status, payload = channel.request(
        "POST", "/orders", body, {"Content-Type": "application/json", "Idempotency-Key": f"soak-{uuid.uuid4().hex}"}
    )
    elapsed = time.perf_counter() - started
    if status != 202:
        raise RuntimeError(f"POST /orders answered {status}: {payload[:300]!r}")
    return elapsed, json.loads(payload)["order_id"]


def wait_reserved(
    channel_for: Callable[[], Channel], order_ids: list[str], pool: ThreadPoolExecutor, timeout: float = 600
) -> None:
    pending = list(order_ids)
    states: dict[str, str] = {}
    deadline = time.monotonic() + timeout

    def state(order_id: str) -> tuple[str, str]:
        status, payload = channel_for().request("GET", f"/orders/{order_id}")
        return order_id, json.loads(payload).get("state", "") if status == 200 else ""

    while pending:
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{len(pending)} order(s) not RESERVED after {timeout:.0f} s: {sorted(set(states.values()))}"
            )
        states = dict(pool.map(state, pending))
        # RESERVED, and RELEASED right after it (fulfilment releases every reserved order)
        bad = {s for s in states.values() if s not in ("ACCEPTED", "RESERVED", "RELEASED", "")}
        if bad:
            raise RuntimeError(f"orders ended in {bad}, not RESERVED: is the stock gone?")
        pending = [o for o in pending if states[o] not in ("RESERVED", "RELEASED")]
        if pending:
            time.sleep(0.2)


def stock(hub: HubProcess) -> None:
    """The WMS reports plenty of every SKU the sample order needs (over the inventory queue)."""
    sqs = hub.env.clients()("sqs")
    report = json.loads((ROOT / "events/samples/sqs-inventory-position-reported.json").read_text())
    inv = hub.env.clients()("dynamodb")
    for line in BODY["lines"]:
        msg = json.loads(json.dumps(report))
        msg.update(
            event_id=str(uuid.uuid4()),
            sequence=int(time.time() * 1000),
            entity_id=f"{line['sku']}@{report['data']['location_id']}",
        )
        msg["data"].update(sku=line["sku"], on_hand=10**9, quality_hold=0)
        sqs.send_message(QueueUrl=hub.env.queues["WorkersInventoryWorkerQueue"], MessageBody=json.dumps(msg))
    for line in BODY["lines"]:
        key = {"pk": {"S": f"SKU#{line['sku']}"}, "sk": {"S": f"LOC#{report['data']['location_id']}"}}
        deadline = time.monotonic() + 60
        while "Item" not in inv.get_item(TableName=hub.env.tables["DataInventoryTable"], Key=key):
            if time.monotonic() > deadline:
                raise RuntimeError("the stock report was not applied")
            time.sleep(0.2)


# -- the emulator's ceiling ----------------------------------------------------------------------
def order_transaction() -> list[dict[str, Any]]:
    """The TransactWriteItems the orders code makes for the sample order, captured in-process."""
    import boto3
    from moto import mock_aws

    saved = dict(os.environ)
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="eu-west-1",
        AWS_REGION="eu-west-1",
        POWERTOOLS_TRACE_DISABLED="true",
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    captured: list[list[dict[str, Any]]] = []  # the TransactItems of each call
    try:
        with mock_aws():
            from synchub.local.provision import provision
            from synchub.local.template import Template

            dep = provision(Template.load(ROOT / "cdk.out", "Synchub", "eu-west-1"), lambda s: boto3.client(s), "moto")
            os.environ.update(
                ORDERS_TABLE=dep.tables["DataOrdersTable"],
                INVENTORY_TABLE=dep.tables["DataInventoryTable"],
                EVENT_BUS_NAME=dep.bus_name,
            )
            from orders.logic import accept
            from orders.models import OrderIn
            from synchub_core import aws
            from synchub_core.config import reset_settings

            aws.reset_clients()
            reset_settings()

            def capture(params: dict[str, Any], model: Any, **_: Any) -> None:
                if model.name == "TransactWriteItems":
                    captured.append(json.loads(json.dumps(params["TransactItems"])))

            aws.client("dynamodb").meta.events.register("provide-client-params.dynamodb.*", capture)
            accept(OrderIn.model_validate(BODY), "ceiling-capture", "bench")
            aws.reset_clients()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return captured[0]


def fresh_transaction(items: list[dict[str, Any]], token: str) -> list[dict[str, Any]]:
    out = json.loads(json.dumps(items))
    for entry in out:
        op = next(iter(entry.values()))
        key = op.get("Item") or op["Key"]
        key["pk"]["S"] += f"#ceiling-{token}"
        item = op.get("Item", {})
        if item.get("item_type", {}).get("S") == "OUTBOX":  # same size, but neither stream nor sweeper publish it
            item["item_type"]["S"] = "OUTBOX-CEILING"
            item["outbox_status_ceiling"] = item.pop("outbox_status")
    return out


def rate(threads: int, count: int, work: Callable[[int], Any]) -> tuple[float, list[Any]]:
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(work, range(count)))
    return count / (time.perf_counter() - started), results


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# -- the run -----------------------------------------------------------------------------------
def main() -> dict[str, Any]:
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    txn = order_transaction()
    hub = HubProcess()
    report: dict[str, Any] = {"ceiling": {}, "throughput": {}, "soak": []}
    try:
        stock(hub)
        channel = Channel(hub.api_url, hub.token)
        ddb_local = threading.local()

        def ddb() -> Any:
            if not hasattr(ddb_local, "client"):
                import boto3
                from botocore.config import Config

                ddb_local.client = boto3.client(
                    "dynamodb",
                    endpoint_url=hub.env.endpoint,
                    region_name=hub.env.region,
                    aws_access_key_id="testing",
                    aws_secret_access_key="testing",
                    config=Config(max_pool_connections=64, retries={"mode": "standard"}),
                )
            return ddb_local.client

        print(
            f"synchub soak: {ORDERS} orders at {THREADS} client threads, after throughput phases of "
            f"{PHASE_ORDERS} orders at 1/8/32 threads ({len(txn)}-item order transaction)",
            flush=True,
        )
        serial = iter(range(10**9))
        for threads in (1, 8, 32):
            ceiling, _ = rate(
                threads,
                CEILING_TXNS,
                lambda n: ddb().transact_write_items(TransactItems=fresh_transaction(txn, f"{n}-{uuid.uuid4().hex}")),
            )
            started = time.perf_counter()
            with ThreadPoolExecutor(threads) as pool:
                results = list(pool.map(lambda _: post_order(channel, next(serial)), range(PHASE_ORDERS)))
                accepted = time.perf_counter() - started
                wait_reserved(lambda: channel, [oid for _, oid in results], pool)
            reserved = time.perf_counter() - started
            report["ceiling"][threads] = ceiling
            report["throughput"][threads] = {"to_202": PHASE_ORDERS / accepted, "to_reserved": PHASE_ORDERS / reserved}
            print(
                f"  {threads:2d} thread(s): ceiling {ceiling:7.1f} txn/s | 202 {PHASE_ORDERS / accepted:7.1f}/s "
                f"({PHASE_ORDERS / accepted / ceiling:4.2f}x ceiling) | RESERVED {PHASE_ORDERS / reserved:7.1f}/s",
                flush=True,
            )

        done = 0
        with ThreadPoolExecutor(THREADS) as pool:
            while done < ORDERS:
                batch = min(STEP, ORDERS - done)
                started = time.perf_counter()
                results = list(pool.map(lambda _: post_order(channel, next(serial)), range(batch)))
                elapsed = time.perf_counter() - started
                done += batch
                latencies = [lat for lat, _ in results]
                wait_reserved(lambda: channel, [oid for _, oid in results], pool)
                hub_mb, total_mb = hub.rss_mb()
                row = {
                    "orders": done,
                    "hub_rss_mb": hub_mb,
                    "total_rss_mb": total_mb,
                    "p50_ms": statistics.median(latencies) * 1000,
                    "p95_ms": percentile(latencies, 95) * 1000,
                    "orders_per_s": batch / elapsed,
                }
                report["soak"].append(row)
                print(
                    f"  {done:6d} orders RESERVED: hub RSS {hub_mb:7.1f} MB, with workers {total_mb:7.1f} MB, "
                    f"POST p50 {row['p50_ms']:6.1f} ms p95 {row['p95_ms']:6.1f} ms, {row['orders_per_s']:6.1f}/s",
                    flush=True,
                )
    finally:
        report["stop_s"] = hub.stop()
    summarize(report)
    return report


def slope(xs: list[float], ys: list[float]) -> float:
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


def summarize(report: dict[str, Any]) -> None:
    soak = report["soak"]
    print(f"  stop after the soak took {report['stop_s']:.1f} s")
    if len(soak) >= 3:
        steady = [r for r in soak if r["orders"] >= 2 * STEP]  # after warm-up; at least two points
        xs = [r["orders"] / STEP for r in steady]
        hub_growth = slope(xs, [r["hub_rss_mb"] for r in steady])
        total_growth = slope(xs, [r["total_rss_mb"] for r in steady])
        print(
            f"  memory growth after warm-up: hub {hub_growth:+.1f} MB per 1,000 orders, "
            f"with workers {total_growth:+.1f} MB per 1,000 orders"
        )
        print(
            f"  p95 latency: first 1,000 {soak[0]['p95_ms']:.1f} ms, last 1,000 {soak[-1]['p95_ms']:.1f} ms "
            f"({soak[-1]['p95_ms'] / soak[0]['p95_ms']:.2f}x)"
        )
        report["growth_mb_per_1000"] = {"hub": hub_growth, "total": total_growth}


if __name__ == "__main__":
    main()
