"""``python -m benchmarks``: per-operation latency and request-unit cost, relative to a baseline.

Baseline: one conditional PutItem of an order-sized item — the least an idempotent order write
can cost. Every row is measured in the same process against the same emulator (moto, in-process,
provisioned from the synthesized template), so the ratios are comparable between runs and
machines even though absolute emulator times are not AWS times.

A second section times one order's intake transaction with 100, 10,000 and 100,000 items already
in the table (flat: the emulator's transactions cost what their items cost), and the last runs the
soak benchmark (``benchmarks/soak.py``; ``BENCH_SOAK=0`` skips it), after the finance connector's
outage-and-drain benchmark (``benchmarks/connectors.py``; ``BENCH_CONNECTORS=0`` skips it) and the
availability-to-promise benchmark (``benchmarks/availability.py``; ``BENCH_AVAILABILITY=0`` skips it)
and the order lifecycle's (``benchmarks/lifecycle.py``: release, cancel, partial shipments, credit
memos, backorders served at volume; ``BENCH_LIFECYCLE=0`` skips it), then every function's cold start
against ``import boto3`` (``benchmarks/coldstart.py``, ``BENCH_COLD=0``), the orders function's warm
overhead against a hand-written boto3 handler (``benchmarks/warm.py``, ``BENCH_WARM=0``) and one
order's AWS bill, counted by service and operation, now and at the design's floor
(``benchmarks/bill.py``, ``BENCH_BILL=0``).

Cost is counted from the calls actually made (botocore event hooks), in DynamoDB request units
(write: 1 per KB per item, 2 in a transaction; read: 1 per 4 KB strongly consistent) and
EventBridge PutEvents entries (64 KB chunks).
"""

from __future__ import annotations

import importlib
import json
import math
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "functions"), str(ROOT)]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "60"))
# the sections after the operations table, in order: (skip switch, module of benchmarks/ with a main())
SECTIONS = (
    ("BENCH_CONNECTORS", "connectors"),
    ("BENCH_AVAILABILITY", "availability"),
    ("BENCH_LIFECYCLE", "lifecycle"),
    ("BENCH_COLD", "coldstart"),  # issue 10: cold start, warm overhead, and what an order costs in AWS
    ("BENCH_WARM", "warm"),
    ("BENCH_BILL", "bill"),
    ("BENCH_SOAK", "soak"),
)


class Meter:
    def __init__(self) -> None:
        self.wru = 0.0
        self.rru = 0.0
        self.events = 0

    def hook(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        op = model.name
        size = lambda item: max(1, math.ceil(len(json.dumps(item)) / 1024))  # noqa: E731
        if op == "TransactWriteItems":
            for entry in params["TransactItems"]:
                body = next(iter(entry.values()))
                self.wru += 2 * size(body.get("Item") or body.get("Key"))
        elif op in ("PutItem", "UpdateItem", "DeleteItem"):
            self.wru += size(params.get("Item") or params.get("Key"))
        elif op in ("GetItem", "Query"):
            self.rru += 1 if params.get("ConsistentRead") else 0.5
        elif op == "PutEvents":
            self.events += sum(max(1, math.ceil(len(e.get("Detail", "")) / 65536)) for e in params["Entries"])


def measure(name: str, setup: Callable[[], Any], op: Callable[[Any], Any], meter: Meter) -> dict[str, Any]:
    times, wru, rru, events = [], [], [], []
    for _ in range(ROUNDS):
        arg = setup()
        before = (meter.wru, meter.rru, meter.events)
        start = time.perf_counter()
        op(arg)
        times.append(time.perf_counter() - start)
        wru.append(meter.wru - before[0])
        rru.append(meter.rru - before[1])
        events.append(meter.events - before[2])
    return {
        "name": name,
        "median_ms": statistics.median(times) * 1000,
        "wru": statistics.median(wru),
        "rru": statistics.median(rru),
        "events": statistics.median(events),
    }


def main() -> None:
    import boto3
    from moto import mock_aws

    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="eu-west-1",
        AWS_REGION="eu-west-1",
        POWERTOOLS_TRACE_DISABLED="true",
    )
    from synchub.local.moto_isolation import install
    from synchub.local.provision import provision
    from synchub.local.template import Template

    install()
    with mock_aws():
        dep = provision(Template.load(ROOT / "cdk.out", "Synchub", "eu-west-1"), lambda s: boto3.client(s), "moto")
        os.environ.update(
            ORDERS_TABLE=dep.tables["DataOrdersTable"],
            INVENTORY_TABLE=dep.tables["DataInventoryTable"],
            EVENT_BUS_NAME=dep.bus_name,
            MASTERDATA_TABLE=dep.tables["DataMasterDataTable"],
        )
        from inventory.logic import apply_report
        from inventory.models import PositionReport
        from invoicing.logic import issue
        from orders.logic import accept
        from orders.models import OrderIn
        from outbox.handler import sweep
        from reservation.logic import reserve
        from synchub_core import aws
        from synchub_core.ddb import to_ddb
        from synchub_core.envelope import EventEnvelope, new_event

        meter = Meter()
        for service in ("dynamodb", "events"):
            aws.client(service).meta.events.register("provide-client-params.*.*", meter.hook)
        body = json.loads((ROOT / "events/samples/api-post-order.json").read_text())
        shipment = json.loads((ROOT / "events/samples/eventbridge-shipment-confirmed.json").read_text())["detail"]
        shipped_lines = [{"sku": line["sku"], "quantity": line["quantity"]} for line in body["lines"]]

        def fresh_order() -> OrderIn:
            return OrderIn.model_validate({**body, "channel_order_ref": uuid.uuid4().hex})

        def stock() -> None:
            for line in body["lines"]:
                apply_report(
                    PositionReport.model_validate(
                        {
                            "sku": line["sku"],
                            "location_id": "UTR-A01",
                            "on_hand": 10**9,
                            "as_of": "2026-01-01T00:00:00Z",
                        }
                    ),
                    time.time_ns(),
                    str(uuid.uuid4()),
                )

        stock()
        table = dep.tables["DataOrdersTable"]
        ddb = aws.client("dynamodb")
        order_item = to_ddb({"pk": "x", "sk": "ORDER", "doc": json.dumps(body)})

        def accepted(order_id: str) -> EventEnvelope:
            return new_event(
                "OrderAccepted", order_id, 1, {"order_id": order_id}, correlation_id="b", causation_id=None
            )

        def reserved_order() -> str:
            oid = accept(fresh_order(), uuid.uuid4().hex, "bench").order_id
            reserve(accepted(oid))
            return oid

        rows = [
            measure(
                "baseline: conditional PutItem of the order",
                lambda: uuid.uuid4().hex,
                lambda k: ddb.put_item(
                    TableName=table, Item={**order_item, "pk": {"S": k}}, ConditionExpression="attribute_not_exists(pk)"
                ),
                meter,
            ),
            measure(
                "POST /orders: new order (logic.accept)",
                lambda: (fresh_order(), uuid.uuid4().hex),
                lambda a: accept(a[0], a[1], "bench"),
                meter,
            ),
        ]
        replay_order = fresh_order()
        accept(replay_order, "bench-replay-key", "bench")
        rows.append(
            measure(
                "POST /orders: idempotent replay",
                lambda: None,
                lambda _: accept(replay_order, "bench-replay-key", "bench"),
                meter,
            )
        )
        rows.append(
            measure(
                "inventory report applied",
                lambda: time.time_ns(),
                lambda seq: apply_report(
                    PositionReport.model_validate(
                        {"sku": "BENCH-1", "location_id": "UTR-A01", "on_hand": 5, "as_of": "2026-01-01T00:00:00Z"}
                    ),
                    seq,
                    "e",
                ),
                meter,
            )
        )
        rows.append(
            measure(
                "inventory report stale (ignored)",
                lambda: None,
                lambda _: apply_report(
                    PositionReport.model_validate(
                        {"sku": "BENCH-1", "location_id": "UTR-A01", "on_hand": 5, "as_of": "2026-01-01T00:00:00Z"}
                    ),
                    1,
                    "e",
                ),
                meter,
            )
        )
        rows.append(
            measure(
                "reservation of a 2-line order",
                lambda: accept(fresh_order(), uuid.uuid4().hex, "bench").order_id,
                lambda oid: reserve(accepted(oid)),
                meter,
            )
        )
        rows.append(
            measure(
                "invoice for a full shipment",
                reserved_order,
                lambda oid: issue(
                    EventEnvelope.model_validate(
                        {
                            **shipment,
                            "data": {
                                **shipment["data"],
                                "order_id": oid,
                                "shipment_id": uuid.uuid4().hex,
                                "lines": shipped_lines,  # one reservation per SKU: no location needed
                            },
                        }
                    )
                ),
                meter,
            )
        )
        rows.append(
            measure(
                "outbox publish of one event",
                lambda: accept(fresh_order(), uuid.uuid4().hex, "b"),
                lambda _: sweep(__import__("datetime").timedelta(0)),
                meter,
            )
        )
        flat = transaction_at_volume(table, fresh_order, accept)
        base = rows[0]
        print(f"synchub benchmarks ({ROUNDS} rounds each, moto in-process; ratios vs the baseline row)")
        print(f"{'operation':48s} {'time x':>8s} {'WRU':>6s} {'WRU x':>7s} {'RRU':>5s} {'events':>6s}")
        for r in rows:
            print(
                f"{r['name']:48s} {r['median_ms'] / base['median_ms']:8.2f} {r['wru']:6.1f} "
                f"{r['wru'] / base['wru']:7.1f} {r['rru']:5.1f} {r['events']:6.0f}"
            )
        print(f"(baseline median {base['median_ms']:.2f} ms, {base['wru']:.0f} WRU)")
        print("\none order's intake transaction (logic.accept) as the orders table grows (ratio vs 100 items)")
        for items, median_ms in flat:
            print(f"  {items:>7,d} existing items: {median_ms / flat[0][1]:5.2f}x  ({median_ms:.2f} ms)")
    for switch, section in SECTIONS:  # each skipped by its switch set to 0
        if os.environ.get(switch, "1") != "0":
            print()
            importlib.import_module(f"benchmarks.{section}").main()


def transaction_at_volume(
    table: str,
    fresh_order: Callable[[], Any],
    accept: Callable[..., Any],
    sizes: tuple[int, ...] = (100, 10_000, 100_000),
) -> list[tuple[int, float]]:
    """Median time of one order transaction with 100, 10,000 and 100,000 items already in the table.

    The items go straight into the emulator's table (the point is its size, not how it got there);
    the isolation patch must make a transaction cost what its items cost, whatever the table holds."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID]["eu-west-1"]
    target = backend.tables[table]
    filler = {"item_type": {"S": "BENCH"}, "doc": {"S": "x" * 1500}}
    out = []
    loaded = 0
    for size in sizes:
        while loaded < size:
            h, r = DynamoType({"S": f"BENCH#{loaded}"}), DynamoType({"S": "ORDER"})
            target.items[h][r] = Item(h, r, {"pk": {"S": f"BENCH#{loaded}"}, "sk": {"S": "ORDER"}, **filler})
            loaded += 1
        times = []
        for _ in range(max(15, ROUNDS // 2)):
            order = fresh_order()
            started = time.perf_counter()
            accept(order, uuid.uuid4().hex, "bench")
            times.append(time.perf_counter() - started)
        out.append((size, statistics.median(times) * 1000))
    return out


if __name__ == "__main__":
    main()
