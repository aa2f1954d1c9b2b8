"""``python -m benchmarks.connectors``: the finance connector posting a backlog after an outage.

What it measures, against the finance stand-in (its own process, ``synchub.standins.finance``) and
the stack provisioned into moto in-process (the same template as ``make run``):

* **baseline**: the same invoice documents POSTed straight to the finance API by a plain HTTP
  client (one token, one request per invoice, nothing recorded): the least posting can cost;
* **steady**: the finance poster (``finance.handler.lambda_handler``) on SQS batches of 10 while
  finance is up;
* **outage**: finance answers 503: the breaker opens after its threshold and the rest of the batch
  is parked on the queue (the buffer), none on the DLQ;
* **drain**: finance recovers; the backlog is drained by one consumer (the deployed stack runs up to
  five, ``MaximumConcurrency``): throughput in invoices per second, as a ratio of the baseline.

Cost is counted from the calls actually made (botocore event hooks on every client the functions
use): AWS requests per posted invoice by service and operation, DynamoDB request units, and HTTP
requests to finance, next to the floor the guarantees need. The most memory one invocation
allocates (tracemalloc, above what was held before it: the emulator in the same process keeps
every item written) is printed for two backlog sizes: it must stay flat.

``BENCH_INVOICES`` (default 1000) sets the backlog size.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "functions"), str(ROOT)]

from synchub.local.pollers import sqs_event_record  # noqa: E402  (after the functions' path)

INVOICES = int(os.environ.get("BENCH_INVOICES", "1000"))
CLIENT_ID, CLIENT_SECRET = "synchub", uuid.uuid4().hex


class Counting:
    """AWS requests by ``service:operation`` and DynamoDB request units, from botocore's hooks."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.wru = 0.0
        self.rru = 0.0

    def hook(self, params: dict[str, Any], model: Any, context: Any = None, **_: Any) -> None:
        service = model.service_model.service_name
        op = model.name
        self.calls[f"{service}:{op}"] += 1

        def kb(item: Any) -> int:
            return max(1, math.ceil(len(json.dumps(item, default=str)) / 1024))

        if op == "TransactWriteItems":
            for entry in params["TransactItems"]:
                body = next(iter(entry.values()))
                self.wru += 2 * kb(body.get("Item") or body.get("Key"))
        elif op in ("PutItem", "UpdateItem", "DeleteItem"):
            self.wru += kb(params.get("Item") or params.get("Key"))
        elif op in ("GetItem", "Query"):
            self.rru += 1 if params.get("ConsistentRead") else 0.5
        elif op == "BatchGetItem":
            self.rru += sum(len(v.get("Keys", [])) for v in params["RequestItems"].values())

    def snapshot(self) -> tuple[Counter[str], float, float]:
        return Counter(self.calls), self.wru, self.rru


class Consumer:
    """What Lambda's SQS event source does: receive up to 10, invoke, delete the successes."""

    def __init__(self, sqs: Any, url: str, arn: str, handler: Any, context: Any) -> None:
        self.sqs, self.url, self.arn, self.handler, self.context = sqs, url, arn, handler, context
        self.invocations = 0
        self.peak = 0  # the most memory one invocation allocated above what was held before it (tracemalloc on)

    def once(self) -> int:
        resp = self.sqs.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            VisibilityTimeout=30,
        )
        messages = resp.get("Messages", [])
        if not messages:
            return 0
        self.invocations += 1
        tracing = tracemalloc.is_tracing()
        if tracing:
            held = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
        out = self.handler({"Records": [sqs_event_record(m, self.arn, "eu-west-1") for m in messages]}, self.context)
        if tracing:
            self.peak = max(self.peak, tracemalloc.get_traced_memory()[1] - held)
        failed = {f["itemIdentifier"] for f in (out or {}).get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self.sqs.delete_message_batch(
                QueueUrl=self.url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        for m in messages:
            if m["MessageId"] in failed:  # retried at once here (the stack waits the visibility timeout)
                self.sqs.change_message_visibility(
                    QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
                )
        return len(messages)


def main() -> None:
    from benchmarks.harness import provisioned
    from synchub.standins.control import FinanceAdmin, start_finance

    work = Path(tempfile.mkdtemp(prefix="synchub-bench-finance-"))
    finance = start_finance(work / "finance", client_id=CLIENT_ID, client_secret=CLIENT_SECRET, rate_limit=100000)
    admin = FinanceAdmin(finance.admin_url)
    try:
        with provisioned() as (dep, template):
            _run(dep, template, finance.url or finance.admin_url, admin)
    finally:
        finance.stop()


def _function_env(template: Any, logical_prefix: str) -> dict[str, str]:
    for lid, res in template.resources.items():
        if res["Type"] == "AWS::Lambda::Function" and lid.startswith(logical_prefix):
            return {k: str(v) for k, v in template.resolve(res["Properties"]["Environment"]["Variables"]).items()}
    raise SystemExit(f"no function {logical_prefix}* in the template: run `make synth`")


def _run(dep: Any, template: Any, finance_url: str, admin: Any) -> None:
    import boto3

    env = _function_env(template, "ConnectorsFinancePostingWorkerFunction")
    env.update(BREAKER_OPEN_SECONDS="2", BREAKER_PROBE_SECONDS="5", TARGET_RATE_PER_SECOND="100000")
    os.environ.update(env)
    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"  # a log line per invoice would be measured too
    from synchub_core.config import reset_settings

    reset_settings()  # the settings of the function measured here, not of an earlier section
    ssm, secrets, sqs = boto3.client("ssm"), boto3.client("secretsmanager"), boto3.client("sqs")
    ssm.put_parameter(Name=env["FINANCE_BASE_URL_PARAMETER"], Value=finance_url, Type="String", Overwrite=True)
    secrets.put_secret_value(
        SecretId=env["FINANCE_CREDENTIALS_SECRET_ARN"],
        SecretString=json.dumps({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}),
    )
    from finance import client as finance_client
    from finance import handler as finance_handler
    from finance.api import invoice_document, repost_message
    from synchub_core import aws

    counting = Counting()
    for service in ("dynamodb", "sqs", "ssm", "secretsmanager", "s3", "events"):
        aws.client(service).meta.events.register("provide-client-params.*.*", counting.hook)
    queue_url = env["BUFFER_QUEUE_URL"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    dlq_url = env["DEAD_LETTER_QUEUE_URL"]
    context = _Context()
    consumer = Consumer(aws.client("sqs"), queue_url, queue_arn, finance_handler.lambda_handler, context)

    print(f"finance connector ({INVOICES:,} invoices per phase; moto in-process, finance stand-in on {finance_url})")
    started = time.perf_counter()
    steady = _invoices(INVOICES)
    backlog = _invoices(INVOICES)
    small = _invoices(max(100, INVOICES // 4))
    print(f"  {len(steady) + len(backlog) + len(small):,} invoices set up in {time.perf_counter() - started:.1f} s")

    # -- baseline: straight to the finance API, no hub ------------------------------------------
    http = finance_client._http(finance_url, 2, 5)
    token = http.request(
        "POST",
        "/oauth2/token",
        form={"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
    ).body["access_token"]
    baseline_docs = [{**invoice_document(inv), "external_reference": "base-" + inv["invoice_id"]} for inv in steady]
    t0 = time.perf_counter()
    for doc in baseline_docs:
        r = http.request(
            "POST",
            "/api/v1/invoices",
            json=doc,
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": doc["external_reference"]},
        )
        assert r.status in (200, 201), r
    baseline_s = time.perf_counter() - t0
    baseline_rate = len(baseline_docs) / baseline_s

    def send_all(invoices: list[dict[str, Any]]) -> None:
        for i in range(0, len(invoices), 10):
            sqs.send_message_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(j), "MessageBody": repost_message(inv)} for j, inv in enumerate(invoices[i : i + 10])
                ],
            )

    def drain(expected: set[str], limit_s: float = 600) -> float:
        t = time.perf_counter()
        while time.perf_counter() - t < limit_s:
            if consumer.once() == 0:
                if _posted(admin, expected) == len(expected):
                    break
                time.sleep(0.2)
        return time.perf_counter() - t

    # -- steady state ------------------------------------------------------------------------------
    send_all(steady)
    before = counting.snapshot()
    docs_before = admin.status()["requests"]
    steady_s = drain({inv["invoice_id"] for inv in steady})
    steady_cost = _delta(before, counting.snapshot(), len(steady))
    steady_http = (admin.status()["requests"] - docs_before) / len(steady)

    # -- outage: finance down, the backlog is issued and buffered ----------------------------------
    admin.fault("down")
    send_all(backlog)
    before = counting.snapshot()
    t = time.perf_counter()
    parked_rounds = 0
    while time.perf_counter() - t < 5:  # every message is seen once: some fail, the rest are parked
        if consumer.once() == 0:
            parked_rounds += 1
            if parked_rounds > 3:
                break
            time.sleep(0.3)
    outage_cost = _delta(before, counting.snapshot(), len(backlog))
    depth = _depth(sqs, queue_url)
    dlq_depth = _depth(sqs, dlq_url)
    breaker = _breaker(env["CONNECTORS_TABLE"])

    # -- drain after recovery ------------------------------------------------------------------------
    admin.fault("recover")
    time.sleep(2.1)  # the breaker's open time (BREAKER_OPEN_SECONDS=2 here): the next batch probes
    before = counting.snapshot()
    requests_before = admin.status()["requests"]
    tracemalloc.start()
    consumer.peak = 0
    drain_s = drain({inv["invoice_id"] for inv in backlog})
    drain_peak = consumer.peak
    tracemalloc.stop()
    drain_cost = _delta(before, counting.snapshot(), len(backlog))
    drain_http = (admin.status()["requests"] - requests_before) / len(backlog)
    duplicates = _duplicates(admin, [inv["invoice_id"] for inv in steady + backlog])

    # memory with a quarter of the backlog: flat means the same peak per 1,000 invoices or less
    send_all(small)
    tracemalloc.start()
    consumer.peak = 0
    drain({inv["invoice_id"] for inv in small})
    small_peak = consumer.peak
    tracemalloc.stop()

    print(
        f"  {'phase':34s} {'inv/s':>8s} {'x base':>7s} {'AWS req/inv':>12s} {'WRU/inv':>8s} "
        f"{'RRU/inv':>8s} {'HTTP/inv':>9s}"
    )
    print(
        f"  {'baseline: POST straight to finance':34s} {baseline_rate:8.1f} {1:7.2f} {0:12.2f} {0:8.2f} "
        f"{0:8.2f} {1:9.2f}"
    )
    for name, seconds, cost, http_per in (
        ("steady posting (finance up)", steady_s, steady_cost, steady_http),
        ("drain after the outage", drain_s, drain_cost, drain_http),
    ):
        rate = len(steady) / seconds
        print(
            f"  {name:34s} {rate:8.1f} {rate / baseline_rate:7.2f} {cost['requests']:12.2f} {cost['wru']:8.2f} "
            f"{cost['rru']:8.2f} {http_per:9.2f}"
        )
    print(
        f"  outage ({len(backlog):,} invoices while finance answers 503): breaker {breaker.get('state')}, "
        f"{depth:,} buffered on the queue, {dlq_depth} on the DLQ, {outage_cost['requests']:.2f} AWS requests/invoice"
    )
    print(f"  duplicates in finance after both phases: {duplicates} (every invoice posted exactly once)")
    print("  AWS requests per posted invoice while draining, by operation:")
    for op, n in sorted(drain_cost["by_op"].items(), key=lambda kv: -kv[1]):
        print(f"    {op:40s} {n:6.2f}")
    floor = 1 / 10 + 1 / 10 + 1  # receive and delete per batch of 10, one transaction (ledger + invoice + outbox)
    print(
        f"  floor for the guarantees: {floor:.2f} requests/invoice (batch receive + batch delete per 10, one "
        f"TransactWriteItems); steady is {steady_cost['requests'] / floor:.1f}x the floor"
    )
    print(
        f"  memory one invocation (a batch of 10) allocates, at most: {drain_peak / 1e6:.2f} MB draining "
        f"{len(backlog):,} invoices, {small_peak / 1e6:.2f} MB draining {len(small):,} "
        f"(ratio {drain_peak / small_peak:.2f}: flat)"
    )
    print(f"  ({consumer.invocations} handler invocations in all; the stack runs up to 5 consumers at once)")


class _Context:
    function_name = "bench-finance-poster"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:bench-finance-poster"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def _invoices(n: int) -> list[dict[str, Any]]:
    """``n`` invoices in the orders table: one issued the way the hub issues them (order accepted,
    reserved, shipped, invoiced), then copied under fresh ids (what is measured is the posting, not
    the issuing, which ``python -m benchmarks`` measures)."""
    from inventory.logic import apply_report
    from inventory.models import PositionReport
    from invoicing.logic import invoice_id_for, issue
    from invoicing.numbering import format_number
    from invoicing.repository import invoice_key, load_invoice
    from orders.logic import accept
    from orders.models import OrderIn
    from reservation.logic import reserve
    from synchub_core import aws, ddb
    from synchub_core.config import settings
    from synchub_core.envelope import EventEnvelope, new_event

    body = json.loads((ROOT / "events/samples/api-post-order.json").read_text())
    shipment = json.loads((ROOT / "events/samples/eventbridge-shipment-confirmed.json").read_text())["detail"]
    for line in body["lines"]:
        apply_report(
            PositionReport.model_validate(
                {"sku": line["sku"], "location_id": "UTR-A01", "on_hand": 10**9, "as_of": "2026-01-01T00:00:00Z"}
            ),
            time.time_ns(),
            str(uuid.uuid4()),
        )
    order = OrderIn.model_validate({**body, "channel_order_ref": uuid.uuid4().hex})
    order_id = accept(order, uuid.uuid4().hex, "bench").order_id
    reserve(new_event("OrderAccepted", order_id, 1, {"order_id": order_id}, correlation_id="b", causation_id=None))
    first = uuid.uuid4().hex
    issue(
        EventEnvelope.model_validate(
            {
                **shipment,
                "data": {
                    **shipment["data"],
                    "order_id": order_id,
                    "shipment_id": first,
                    # everything was reserved at UTR-A01: one allocation per SKU, so no location needed
                    "lines": [{"sku": line["sku"], "quantity": line["quantity"]} for line in body["lines"]],
                },
            }
        )
    )
    template = ddb.get(settings().orders_table, invoice_key(first))
    assert template is not None
    table, client = settings().orders_table, aws.client("dynamodb")
    out = [load_invoice(first)]
    for n_copy in range(n - 1):
        shipment_id = uuid.uuid4().hex
        invoice_id = invoice_id_for(shipment_id)
        doc = json.loads(template["doc"])
        # copies, not issued: numbered in a sequence of their own (a legal entity no real invoice uses)
        number = format_number("INV", "BENCH", datetime.now(UTC).year, n_copy + 1)
        doc["invoice_id"], doc["invoice_number"] = invoice_id, number
        doc["references"]["shipment_id"] = shipment_id
        item = {
            **template,
            **invoice_key(shipment_id),
            "doc": json.dumps(doc, separators=(",", ":"), sort_keys=True),
            "day_key": template["day_key"],
            "day_at": f"{doc['issued_at']}#{invoice_id}",
        }
        client.put_item(TableName=table, Item=ddb.to_ddb(item))
        out.append(doc)
    return [inv for inv in out if inv is not None]


def _delta(before: Any, after: Any, n: int) -> dict[str, Any]:
    calls = after[0] - before[0]
    return {
        "requests": sum(calls.values()) / n,
        "wru": (after[1] - before[1]) / n,
        "rru": (after[2] - before[2]) / n,
        "by_op": {op: c / n for op, c in calls.items()},
    }


def _posted(admin: Any, ids: set[str]) -> int:
    from synchub_core import ddb
    from synchub_core.config import settings

    keys = [{"pk": f"POSTING#{i}", "sk": "POSTING"} for i in ids]
    posted = 0
    client = __import__("boto3").client("dynamodb")
    for i in range(0, len(keys), 100):
        resp = client.batch_get_item(
            RequestItems={settings().connectors_table: {"Keys": [ddb.to_ddb(k) for k in keys[i : i + 100]]}}
        )
        posted += sum(
            1 for item in resp["Responses"][settings().connectors_table] if item.get("status", {}).get("S") == "POSTED"
        )
    return posted


def _duplicates(admin: Any, ids: list[str]) -> int:
    """Finance documents beyond one per invoice (by external reference)."""
    seen = Counter(doc["external_reference"] for doc in admin.invoices(limit=1_000_000))
    return sum(max(0, seen[i] - 1) for i in ids) + sum(1 for i in ids if seen[i] == 0)


def _depth(sqs: Any, url: str) -> int:
    attrs = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesDelayed",
            "ApproximateNumberOfMessagesNotVisible",
        ],
    )["Attributes"]
    return sum(int(v) for v in attrs.values())


def _breaker(table: str) -> dict[str, Any]:
    from synchub_core import ddb

    return ddb.get(table, {"pk": "BREAKER#finance", "sk": "BREAKER"}) or {}


if __name__ == "__main__":
    main()
