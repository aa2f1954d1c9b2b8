"""Availability-to-promise against real positions in moto: positions written by WMS reports, the
hub's reservations and returns, read by ``inventory.api.availability`` / ``query`` with one Query
per SKU (counted on the DynamoDB client the functions use) and never a scan."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from helpers import Hub

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TODAY = NOW.date()
SITES = {
    "wms.utrecht": {"warehouse_id": "UTR", "location_prefix": "UTR-"},
    "wms.tilburg": {"warehouse_id": "TLB", "location_prefix": "TLB-"},
}


@pytest.fixture
def calls(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """DynamoDB operations the code under test makes (botocore's hook on the shared client)."""
    from synchub_core import aws

    monkeypatch.setenv("WAREHOUSES", json.dumps(SITES))
    monkeypatch.delenv("AVAILABILITY_STALE_AFTER_SECONDS", raising=False)
    counted: Counter[str] = Counter()

    def hook(model: Any, **_: Any) -> None:
        counted[model.name] += 1

    events = aws.client("dynamodb").meta.events
    events.register("provide-client-params.dynamodb.*", hook)
    yield counted
    events.unregister("provide-client-params.dynamodb.*", hook)


def report(sku: str, location_id: str, sequence: int = 1, **data: Any) -> None:
    from inventory.logic import apply_report
    from inventory.models import PositionReport

    fields = {"sku": sku, "location_id": location_id, "as_of": "2026-11-23T11:30:00Z"} | data
    assert apply_report(PositionReport.model_validate(fields), sequence, f"e-{sku}-{location_id}-{sequence}")


def seed() -> None:
    from inventory.api import reserve_op, return_op
    from synchub_core import ddb

    report("MILK-UHT-1L", "UTR-C01", lot="L1", on_hand=30, best_before=TODAY + timedelta(days=5))
    report("MILK-UHT-1L", "UTR-C01", lot="L2", on_hand=40, best_before=TODAY + timedelta(days=40), quality_hold=2)
    report(
        "MILK-UHT-1L",
        "TLB-A01",
        lot="L3",
        on_hand=10,
        best_before=TODAY + timedelta(days=60),
        in_transit=25,
        in_transit_expected_at=TODAY + timedelta(days=2),
        as_of="2026-11-23T09:00:00Z",  # 3 hours old: stale
    )
    report("FLOUR-T55-25KG", "UTR-A01", on_hand=100, in_transit=50, in_transit_expected_at=TODAY + timedelta(days=9))
    report("FLOUR-T55-25KG", "AMS-A01", on_hand=5)  # a location of no registered site
    ddb.transact([reserve_op("MILK-UHT-1L", "UTR-C01", 8, lot="L2"), reserve_op("FLOUR-T55-25KG", "UTR-A01", 30)])
    ddb.transact(
        [return_op("FLOUR-T55-25KG", "UTR-A01", 2, damaged=True, received_at="2026-11-23T11:45:00.000Z", ref="R")]
    )


def test_availability_per_location_lot_and_in_total(hub: Hub, calls: Counter[str]) -> None:
    from inventory.api import availability

    seed()
    calls.clear()
    milk, flour, unknown = availability(
        ["MILK-UHT-1L", "FLOUR-T55-25KG", "NOT-STOCKED"], by=TODAY + timedelta(days=3), min_shelf_life_days=7, now=NOW
    )
    assert calls == Counter(Query=3)  # one Query per SKU, nothing else

    assert [(loc.location_id, loc.lot, loc.warehouse_id) for loc in milk.locations] == [
        ("TLB-A01", "L3", "TLB"),
        ("UTR-C01", "L1", "UTR"),
        ("UTR-C01", "L2", "UTR"),
    ]
    tlb, l1, l2 = milk.locations
    assert (l1.sellable, l1.available, l1.on_hand) == (False, 0, 30)  # 5 days left, the channel wants 7
    assert (l2.sellable, l2.available, l2.reserved, l2.quality_hold) == (True, 30, 8, 2)
    assert (tlb.available, tlb.available_by, str(tlb.in_transit_expected_at), tlb.stale) == (10, 35, "2026-11-25", True)
    assert milk.total.model_dump() == {
        "on_hand": 80,
        "reserved": 8,
        "quality_hold": 2,
        "in_transit": 25,
        "available": 40,
        "available_by": 65,
    }
    assert (milk.as_of, milk.stale) == ("2026-11-23T09:00:00.000Z", True)

    utr, ams = sorted(flour.locations, key=lambda loc: loc.location_id, reverse=True)
    assert (utr.on_hand, utr.quality_hold, utr.available, utr.available_by) == (102, 2, 70, 70)  # in transit too late
    assert (ams.warehouse_id, ams.available) == (None, 5)
    assert (flour.total.available, flour.stale) == (75, False)
    assert (unknown.sku, unknown.total.available, unknown.locations, unknown.as_of) == ("NOT-STOCKED", 0, [], None)

    everything = availability(["MILK-UHT-1L"], by=None, min_shelf_life_days=0, now=NOW)[0]
    assert everything.total.available == 70 and everything.total.available_by is None  # L1 sells without a minimum


def test_a_basket_is_answered_with_one_query_per_distinct_sku(hub: Hub, calls: Counter[str]) -> None:
    from inventory.api import AvailabilityQuery, answer

    seed()
    calls.clear()
    body = {
        "lines": [
            {"sku": "MILK-UHT-1L", "quantity": 40},
            {"sku": "FLOUR-T55-25KG", "quantity": 80},
            {"sku": "MILK-UHT-1L", "quantity": 20},
        ],
        "by": str(TODAY + timedelta(days=3)),
    }
    got = answer(AvailabilityQuery.model_validate(body), min_shelf_life_days=7, now=NOW)
    assert calls == Counter(Query=2)
    assert [
        (a.sku, a.quantity, a.available, a.available_by, a.promise_now, a.promise_by, a.stale) for a in got.lines
    ] == [
        ("MILK-UHT-1L", 40, 40, 65, False, True, True),  # 60 of milk in the basket: 40 now, 65 by then
        ("FLOUR-T55-25KG", 80, 75, 75, False, False, False),
        ("MILK-UHT-1L", 20, 40, 65, False, True, True),
    ]
    assert got.by == date(2026, 11, 26)
    assert json.loads(got.model_dump_json())["lines"][1]["promise_by"] is False


def test_without_a_site_registry_the_warehouse_is_unknown(
    hub: Hub, calls: Counter[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from inventory.api import availability

    report("FLOUR-T55-25KG", "UTR-A01", on_hand=3)
    monkeypatch.delenv("WAREHOUSES")
    (flour,) = availability(["FLOUR-T55-25KG"], by=None, min_shelf_life_days=0, now=NOW)
    assert flour.locations[0].warehouse_id is None and flour.total.available == 3
