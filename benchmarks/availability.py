"""``python -m benchmarks.availability``: availability-to-promise latency and request cost.

The stack is provisioned into moto in-process (the same template as ``make run``) and loaded with
``BENCH_AVAILABILITY_SKUS`` SKUs (default 2000) at two locations, one SKU in four kept by two lots
at the first: a few thousand positions. Then, each as a ratio of a baseline measured in the same
run against the same table:

* ``inventory.api.availability`` for one SKU, against a plain boto3 Query of that SKU's partition
  (the least the answer can cost);
* ``inventory.api.query`` for a 20-line basket (20 SKUs), against 20 plain Queries of the same
  partitions.

Median and p95 latency over ``BENCH_ROUNDS`` inquiries (default 60), and DynamoDB requests per
inquiry, counted from the calls actually made (botocore event hooks on both clients): the
inquiry must stay at one Query per SKU, like its baseline. ``BENCH_AVAILABILITY=0`` skips it in
``make bench``.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "functions"), str(ROOT)]

SKUS = int(os.environ.get("BENCH_AVAILABILITY_SKUS", "2000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "60"))
BASKET = 20
SITES = {
    "wms.utrecht": {"warehouse_id": "UTR", "location_prefix": "UTR-"},
    "wms.tilburg": {"warehouse_id": "TLB", "location_prefix": "TLB-"},
}
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class Requests:
    """DynamoDB requests by operation, from botocore's ``provide-client-params`` hook."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def hook(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    def total(self) -> int:
        return sum(self.calls.values())


def sku(n: int) -> str:
    return f"BENCH-{n:06d}"


def position_items(n: int) -> list[dict[str, Any]]:
    """The positions of SKU ``n`` as the inventory repository stores them after a report."""
    from inventory.repository import position_key

    as_of = "2026-11-23T11:30:00.000Z"
    best = (NOW.date() + timedelta(days=n % 90)).isoformat()
    reserved = n % 3
    base: dict[str, Any] = {
        "sku": sku(n),
        "reserved": reserved,
        "quality_hold": 0,
        "in_transit": 0,
        "as_of": as_of,
        "wms_sequence": 1,
    }
    places: list[tuple[str, str | None]] = [("UTR-A01", None), ("TLB-A01", None)]
    if n % 4 == 0:
        places = [("UTR-A01", "L1"), ("UTR-A01", "L2"), ("TLB-A01", None)]
    items = []
    for location, lot in places:
        on_hand = 10 + n % 50
        item = base | position_key(sku(n), location, lot) | {"location_id": location, "on_hand": on_hand}
        item |= {"available": on_hand - reserved, "reported_on_hand": on_hand, "pending_shipments": []}
        if lot:
            item |= {"lot": lot, "best_before": best}
        if n % 5 == 0:
            item |= {"in_transit": 12, "in_transit_expected_at": (NOW.date() + timedelta(days=3)).isoformat()}
        items.append(item)
    return items


def load(table: str, ddb: Any) -> int:
    from synchub_core.ddb import to_ddb

    batch: list[dict[str, Any]] = []
    count = 0
    for n in range(SKUS):
        for item in position_items(n):
            batch.append({"PutRequest": {"Item": to_ddb(item)}})
            count += 1
            if len(batch) == 25:
                ddb.batch_write_item(RequestItems={table: batch})
                batch = []
    if batch:
        ddb.batch_write_item(RequestItems={table: batch})
    return count


def measure(name: str, op: Callable[[list[str]], Any], counter: Requests, size: int) -> dict[str, Any]:
    rng = random.Random(name)
    times, requests = [], []
    for _ in range(ROUNDS):
        skus = [sku(rng.randrange(SKUS)) for _ in range(size)]
        while len(set(skus)) < size:  # distinct SKUs: one partition each
            skus = [sku(rng.randrange(SKUS)) for _ in range(size)]
        before = counter.total()
        start = time.perf_counter()
        op(skus)
        times.append(time.perf_counter() - start)
        requests.append(counter.total() - before)
    ordered = sorted(times)
    return {
        "name": name,
        "median_ms": statistics.median(times) * 1000,
        "p95_ms": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] * 1000,
        "requests": statistics.median(requests),
    }


def main() -> None:
    from benchmarks.harness import provisioned

    with provisioned(WAREHOUSES=json.dumps(SITES)) as (dep, _):
        _run(dep.tables["DataInventoryTable"])


def _run(table: str) -> None:
    import boto3

    from inventory.api import AvailabilityLine, availability, query
    from synchub_core import aws
    from synchub_core.config import reset_settings

    reset_settings()
    plain = boto3.client("dynamodb")
    loaded = load(table, plain)
    counter = Requests()
    for ddb in (plain, aws.client("dynamodb")):
        ddb.meta.events.register("provide-client-params.dynamodb.*", counter.hook)

    def baseline(skus: list[str]) -> None:
        for s in skus:
            plain.query(
                TableName=table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"SKU#{s}"}},
                ConsistentRead=False,
            )

    by = NOW.date() + timedelta(days=7)
    rows = [
        measure("baseline: plain Query of 1 SKU's partition", baseline, counter, 1),
        measure(
            "GET /availability: 1 SKU (availability)",
            lambda skus: availability(skus, by=by, min_shelf_life_days=14, now=NOW),
            counter,
            1,
        ),
        measure(f"baseline: {BASKET} plain Queries ({BASKET} partitions)", baseline, counter, BASKET),
        measure(
            f"POST /availability/query: {BASKET} lines (query)",
            lambda skus: query(
                [AvailabilityLine(sku=s, quantity=5) for s in skus], by=by, min_shelf_life_days=14, now=NOW
            ),
            counter,
            BASKET,
        ),
    ]
    assert counter.calls.keys() <= {"Query", "BatchWriteItem"}, counter.calls  # never a scan
    print(
        f"availability-to-promise ({ROUNDS} inquiries each, {SKUS:,d} SKUs, {loaded:,d} positions, moto in-process; "
        "ratios vs the baseline above each)"
    )
    print(
        f"{'operation':48s} {'median ms':>9s} {'p95 ms':>8s} {'time x':>7s} {'p95 x':>6s} "
        f"{'requests':>8s} {'req x':>6s}"
    )
    for base, row in ((rows[0], rows[0]), (rows[0], rows[1]), (rows[2], rows[2]), (rows[2], rows[3])):
        time_x, p95_x = row["median_ms"] / base["median_ms"], row["p95_ms"] / base["p95_ms"]
        print(
            f"{row['name']:48s} {row['median_ms']:9.2f} {row['p95_ms']:8.2f} {time_x:7.2f} {p95_x:6.2f} "
            f"{row['requests']:8.0f} {row['requests'] / base['requests']:6.2f}"
        )


if __name__ == "__main__":
    main()
