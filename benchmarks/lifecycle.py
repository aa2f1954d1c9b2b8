"""``python -m benchmarks.lifecycle``: what the order lifecycle's operations cost, and backorders
served at volume.

The stack is provisioned into moto in-process (the same template as ``make run``). Two sections:

1. **Operations**, each as a ratio of the same baseline as ``make bench``'s first table (one
   conditional ``PutItem`` of an order, measured in this run): release to the warehouse, cancel of
   a reserved order, a partial shipment (half of each line, two invoices in all), the rest of it,
   and a return with its credit memo. Median time and DynamoDB write/read request units counted
   from the calls actually made.
2. **Backorders at volume**: ``BENCH_BACKORDERS`` (default 1,000) orders wait for SKU X, then one
   younger order for SKU Y; the same again with a tenth of the backlog. When Y arrives, the young
   order is served at once whatever waits before it: time and requests must not grow with the
   backlog (ratio large/small ~1). When 10 units of X arrive, the 10 oldest are served and the
   walk stops. The safety-net sweep pages through every open backorder: requests per backorder and
   peak Python memory (tracemalloc) for the large backlog against the small one (flat: ~1).

``BENCH_LIFECYCLE=0`` skips it in ``make bench``.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import tracemalloc
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "functions"), str(ROOT)]

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "60"))
BACKLOG = int(os.environ.get("BENCH_BACKORDERS", "1000"))
SITES = {"wms.utrecht": {"warehouse_id": "UTR", "location_prefix": "UTR-"}}


class Calls:
    """DynamoDB calls and request units, from botocore's ``provide-client-params`` hook (the same
    counting as ``benchmarks.Meter``: write 1 per KB per item, 2 in a transaction; read 1 strongly
    consistent, 0.5 eventually)."""

    def __init__(self) -> None:
        from benchmarks.__main__ import Meter

        self.meter = Meter()
        self.calls: Counter[str] = Counter()

    def hook(self, params: dict[str, Any], model: Any, **kwargs: Any) -> None:
        self.calls[model.name] += 1
        self.meter.hook(params=params, model=model, **kwargs)

    def requests(self) -> int:
        return sum(self.calls.values())


def main() -> None:
    from benchmarks.harness import provisioned

    with provisioned(WAREHOUSES=json.dumps(SITES)) as (dep, _):
        from synchub_core import aws

        counter = Calls()
        aws.client("dynamodb").meta.events.register("provide-client-params.dynamodb.*", counter.hook)
        _operations(dep.tables["DataOrdersTable"], counter)
        print()
        _backorders(counter)


# -- helpers ------------------------------------------------------------------------------------
def _report(sku: str, location: str, on_hand: int, as_of: str = "2026-01-01T00:00:00Z") -> None:
    from inventory.logic import apply_report
    from inventory.models import PositionReport

    report = PositionReport.model_validate({"sku": sku, "location_id": location, "on_hand": on_hand, "as_of": as_of})
    apply_report(report, time.time_ns(), str(uuid.uuid4()))


def _order(lines: list[tuple[str, int]]) -> str:
    from orders.logic import accept
    from orders.models import OrderIn

    body = json.loads((ROOT / "events/samples/api-post-order.json").read_text())
    body["channel_order_ref"] = uuid.uuid4().hex
    body["lines"] = [
        {"line_id": str(n), "sku": sku, "quantity": quantity, "unit_price": "3.35", "tax_rate": "0.09"}
        for n, (sku, quantity) in enumerate(lines, start=1)
    ]
    return accept(OrderIn.model_validate(body), uuid.uuid4().hex, "bench").order_id


def _event(event_type: str, data: dict[str, Any], source: str = "bench") -> Any:
    from synchub_core.envelope import new_event

    return new_event(
        event_type,
        str(data.get("order_id", "x")),
        1,
        data,
        correlation_id="bench",
        causation_id=None,
        source_system=source,
    )


def _reserve(order_id: str) -> None:
    from reservation.logic import reserve

    reserve(_event("OrderAccepted", {"order_id": order_id}))


def _ship(order_id: str, lines: list[dict[str, Any]]) -> None:
    from invoicing.logic import issue
    from synchub_core.config import warehouse_sites

    shipment = {
        "shipment_id": uuid.uuid4().hex,
        "order_id": order_id,
        "warehouse_id": "UTR",
        "shipped_at": "2026-01-02T00:00:00Z",
        "lines": lines,
    }
    issue(_event("ShipmentConfirmed", shipment, "wms.utrecht"), warehouse_sites()["wms.utrecht"])


def _measure(name: str, setup: Callable[[], Any], op: Callable[[Any], Any], counter: Calls) -> dict[str, Any]:
    times, wru, rru, requests = [], [], [], []
    for _ in range(ROUNDS):
        arg = setup()
        before = (counter.meter.wru, counter.meter.rru, counter.requests())
        started = time.perf_counter()
        op(arg)
        times.append(time.perf_counter() - started)
        wru.append(counter.meter.wru - before[0])
        rru.append(counter.meter.rru - before[1])
        requests.append(counter.requests() - before[2])
    return {
        "name": name,
        "ms": statistics.median(times) * 1000,
        "wru": statistics.median(wru),
        "rru": statistics.median(rru),
        "requests": statistics.median(requests),
    }


# -- 1. operations ------------------------------------------------------------------------------
def _operations(table: str, counter: Calls) -> None:
    from fulfilment.logic import release
    from invoicing.logic import credit
    from orders.logic import authorize_return, cancel
    from orders.models import CancelIn, ReturnIn
    from synchub_core import aws
    from synchub_core.config import warehouse_sites
    from synchub_core.ddb import to_ddb

    a, b = "LIFE-A", "LIFE-B"
    _report(a, "UTR-A01", 10**9)
    _report(b, "UTR-A01", 10**9)
    lines = [(a, 4), (b, 10)]
    ddb = aws.client("dynamodb")
    item = to_ddb({"pk": "x", "sk": "ORDER", "doc": json.dumps({"lines": lines} | {"pad": "x" * 700})})

    def reserved() -> str:
        # the WMS reports between shipments, as it does: its count includes the units shipped before,
        # so the positions' pending shipments stay short (without reports they grow by one per shipment)
        _report(a, "UTR-A01", 10**9, as_of="2026-01-02T12:00:00Z")
        _report(b, "UTR-A01", 10**9, as_of="2026-01-02T12:00:00Z")
        order_id = _order(lines)
        _reserve(order_id)
        return order_id

    def released() -> str:
        order_id = reserved()
        release(_event("OrderReserved", {"order_id": order_id}), warehouse_sites())
        return order_id

    def half_shipped() -> str:
        order_id = released()
        _ship(order_id, [{"sku": a, "quantity": 2, "location_id": "UTR-A01"}, {"sku": b, "quantity": 5}])
        return order_id

    def shipped() -> str:
        order_id = half_shipped()
        _ship(order_id, [{"sku": a, "quantity": 2}, {"sku": b, "quantity": 5}])
        rma = ReturnIn(rma_id="RMA-1", reason="bench", lines=[{"line_id": "1", "quantity": 1}])  # type: ignore[list-item]
        authorize_return(order_id, "webshop-nl", rma, "bench", "bench")
        return order_id

    def receipt(order_id: str) -> Any:
        return _event(
            "ReturnReceived",
            {
                "order_id": order_id,
                "rma_id": "RMA-1",
                "warehouse_id": "UTR",
                "received_at": "2026-01-03T00:00:00Z",
                "lines": [{"sku": a, "quantity": 1, "condition": "RESALEABLE", "location_id": "UTR-A01"}],
            },
            "wms.utrecht",
        )

    rows = [
        _measure(
            "baseline: conditional PutItem of the order",
            lambda: uuid.uuid4().hex,
            lambda k: ddb.put_item(
                TableName=table, Item={**item, "pk": {"S": k}}, ConditionExpression="attribute_not_exists(pk)"
            ),
            counter,
        ),
        _measure(
            "release to the warehouse (OrderReserved)",
            reserved,
            lambda o: release(_event("OrderReserved", {"order_id": o}), warehouse_sites()),
            counter,
        ),
        _measure(
            "cancel of a reserved 2-line order",
            reserved,
            lambda o: cancel(o, "webshop-nl", CancelIn(), "bench", "bench"),
            counter,
        ),
        _measure(
            "partial shipment: half of each line",
            released,
            lambda o: _ship(o, [{"sku": a, "quantity": 2, "location_id": "UTR-A01"}, {"sku": b, "quantity": 5}]),
            counter,
        ),
        _measure(
            "the rest: second invoice, order INVOICED",
            half_shipped,
            lambda o: _ship(o, [{"sku": a, "quantity": 2}, {"sku": b, "quantity": 5}]),
            counter,
        ),
        _measure("return received: one credit memo", shipped, lambda o: credit(receipt(o)), counter),
    ]
    base = rows[0]
    print(f"order lifecycle ({ROUNDS} rounds each, moto in-process; ratios vs the baseline row)")
    print(f"{'operation':48s} {'time x':>8s} {'WRU':>6s} {'WRU x':>7s} {'RRU':>5s} {'requests':>9s}")
    for r in rows:
        print(
            f"{r['name']:48s} {r['ms'] / base['ms']:8.2f} {r['wru']:6.1f} {r['wru'] / base['wru']:7.1f} "
            f"{r['rru']:5.1f} {r['requests']:9.0f}"
        )
    print(f"(baseline median {base['ms']:.2f} ms, {base['wru']:.0f} WRU)")


# -- 2. backorders at volume --------------------------------------------------------------------
def _backlog(tag: str, waiting: int) -> tuple[str, str, str]:
    """``waiting`` backorders of one unit of X, then one younger backorder of Y: ``(x, y, young)``."""
    x, y = f"BO-{tag}-X", f"BO-{tag}-Y"
    _report(x, "UTR-A01", 0)
    _report(y, "UTR-A01", 0)
    for _ in range(waiting):
        _reserve(_order([(x, 1)]))
    young = _order([(y, 1)])
    _reserve(young)
    return x, y, young


def _serve(counter: Calls, skus: list[str]) -> tuple[dict[str, int], float, int]:
    from reservation.logic import serve_waiting

    before = counter.requests()
    started = time.perf_counter()
    counts = serve_waiting(skus, causation_id="bench")
    return counts, (time.perf_counter() - started) * 1000, counter.requests() - before


def _sweep(counter: Calls, limit: int) -> tuple[dict[str, int], int, float]:
    from reservation.logic import sweep_backorders

    before = counter.requests()
    tracemalloc.start()
    counts = sweep_backorders(causation_id="bench", limit=limit)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return counts, counter.requests() - before, peak / 1e6


def _backorders(counter: Calls) -> None:
    from orders.api import load

    small = max(10, BACKLOG // 10)
    started = time.perf_counter()
    _, sy, s_young = _backlog("S", small)
    lx, ly, l_young = _backlog("L", BACKLOG)
    built = time.perf_counter() - started
    # Y arrives: the young order is served whatever waits before it
    _report(sy, "UTR-A01", 1)
    _report(ly, "UTR-A01", 1)
    s_counts, s_ms, s_requests = _serve(counter, [sy])
    l_counts, l_ms, l_requests = _serve(counter, [ly])
    young = [load(o).state.value for o in (s_young, l_young)]  # type: ignore[union-attr]
    # 10 units of X: the 10 oldest are served, the walk stops there
    _report(lx, "UTR-A01", 10)
    x_counts, x_ms, x_requests = _serve(counter, [lx])
    # the sweep pages through everything that still waits (the small backlog, then the large)
    sweep_small, requests_small, peak_small = _sweep(counter, small)
    sweep_large, requests_large, peak_large = _sweep(counter, BACKLOG)
    print(
        f"backorders at volume ({small:,} and {BACKLOG:,} waiting for X, one younger for Y; "
        f"built in {built:.0f} s; ratios large/small)"
    )
    print(
        f"  Y arrives ({small:,} older waiting): young order {young[0]}, tried {s_counts['tried']}, "
        f"{s_requests} requests, {s_ms:.1f} ms"
    )
    print(
        f"  Y arrives ({BACKLOG:,} older waiting): young order {young[1]}, tried {l_counts['tried']}, "
        f"{l_requests} requests, {l_ms:.1f} ms  -> requests x{l_requests / max(s_requests, 1):.2f}, "
        f"time x{l_ms / s_ms:.2f}"
    )
    print(
        f"  10 units of X for {BACKLOG:,} waiting: reserved {x_counts['reserved']} (oldest first), tried "
        f"{x_counts['tried']}, {x_requests} requests, {x_ms:.1f} ms"
    )
    print(
        f"  sweep of {sweep_small['tried']:,}: {requests_small / max(sweep_small['tried'], 1):.1f} requests/backorder, "
        f"peak {peak_small:.2f} MB; of {sweep_large['tried']:,}: "
        f"{requests_large / max(sweep_large['tried'], 1):.1f} requests/backorder, peak {peak_large:.2f} MB "
        f"(memory x{peak_large / peak_small:.2f})"
    )


if __name__ == "__main__":
    main()
