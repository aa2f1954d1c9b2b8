"""inventory.availability, the pure part: available and available-by per position and in total,
sellable by the caller's minimum shelf life, stale reports, the warehouse of a location, basket
answers and the inquiries the hub refuses. Against real positions: tests/component/test_availability.py."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from inventory.api import AvailabilityLine, AvailabilityRequestInvalid, Position, availability, query
from inventory.availability import (
    answer_lines,
    checked_skus,
    is_stale,
    location_availability,
    sellable,
    sku_availability,
    stale_after,
    warehouse_of,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
PREFIXES = {"UTR-": "UTRECHT", "TLB-": "TILBURG"}


def position(**changes: object) -> Position:
    fields: dict[str, object] = {
        "sku": "MILK-UHT-1L",
        "location_id": "UTR-A01",
        "on_hand": 20,
        "reserved": 5,
        "quality_hold": 2,
        "in_transit": 0,
        "available": 13,
        "as_of": "2026-11-23T11:30:00.000Z",
        "wms_sequence": 1,
    } | changes
    return Position.model_validate(fields)


def at(p: Position, by: date | None = None, shelf: int = 0) -> object:
    return location_availability(p, by=by, min_shelf_life_days=shelf, now=NOW, threshold=HOUR, prefixes=PREFIXES)


def test_available_is_on_hand_less_reserved_and_held_never_below_zero() -> None:
    loc = at(position())
    assert (loc.available, loc.available_by, loc.sellable, loc.stale) == (13, None, True, False)
    assert loc.warehouse_id == "UTRECHT" and loc.as_of == "2026-11-23T11:30:00.000Z"
    assert at(position(on_hand=3, reserved=5, quality_hold=0)).available == 0  # oversold: not negative


def test_available_by_adds_what_is_in_transit_and_expected_by_then() -> None:
    p = position(in_transit=40, in_transit_expected_at="2026-11-25")
    assert at(p, by=date(2026, 11, 24)).available_by == 13
    assert at(p, by=date(2026, 11, 25)).available_by == 53  # on the day counts
    assert at(position(in_transit=40), by=date(2027, 1, 1)).available_by == 13  # no expected date: not promised
    assert at(p).available_by is None  # no date asked


def test_a_lot_is_sellable_while_it_has_the_channels_minimum_shelf_life() -> None:
    today = NOW.date()
    assert sellable(None, today, 365)
    assert sellable(today + timedelta(days=10), today, 10)
    assert not sellable(today + timedelta(days=9), today, 10)
    assert not sellable(today - timedelta(days=1), today, 0)  # past its date
    short = position(lot="L1", best_before=today + timedelta(days=5), in_transit=7, in_transit_expected_at=today)
    loc = at(short, by=today, shelf=14)
    assert (loc.sellable, loc.available, loc.available_by, loc.on_hand) == (False, 0, 0, 20)
    assert at(short, by=today, shelf=5).available_by == 20


def test_a_report_older_than_the_threshold_is_stale() -> None:
    assert not is_stale("2026-11-23T11:00:00.000Z", NOW, HOUR)  # exactly the threshold
    assert is_stale("2026-11-23T10:59:59.999Z", NOW, HOUR)
    assert is_stale("", NOW, HOUR)  # never reported (a position a return created)
    assert at(position(as_of="")).as_of is None


def test_the_warehouse_is_the_site_whose_prefix_the_location_has() -> None:
    assert warehouse_of("TLB-A01", PREFIXES) == "TILBURG"
    assert warehouse_of("AMS-A01", PREFIXES) is None
    assert warehouse_of("UTR-A01", {}) is None


def test_stale_after_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AVAILABILITY_STALE_AFTER_SECONDS", raising=False)
    assert stale_after() == HOUR
    monkeypatch.setenv("AVAILABILITY_STALE_AFTER_SECONDS", "900")
    assert stale_after() == timedelta(minutes=15)
    monkeypatch.setenv("AVAILABILITY_STALE_AFTER_SECONDS", "soon")
    with pytest.raises(RuntimeError, match="AVAILABILITY_STALE_AFTER_SECONDS='soon' is not a whole number"):
        stale_after()


def test_a_sku_in_total_over_locations_and_lots() -> None:
    today = NOW.date()
    positions = [
        position(location_id="TLB-A01", as_of="2026-11-23T10:00:00.000Z", in_transit=10, in_transit_expected_at=today),
        position(lot="L2", best_before=today + timedelta(days=30), reserved=0, quality_hold=0),
        position(lot="L1", best_before=today + timedelta(days=3), reserved=0, quality_hold=0),
    ]
    sku = sku_availability(
        "MILK-UHT-1L", positions, by=today, min_shelf_life_days=7, now=NOW, threshold=HOUR, prefixes=PREFIXES
    )
    assert [(loc.location_id, loc.lot) for loc in sku.locations] == [
        ("TLB-A01", None),
        ("UTR-A01", "L1"),
        ("UTR-A01", "L2"),
    ]
    assert sku.total.model_dump() == {
        "on_hand": 60,
        "reserved": 5,
        "quality_hold": 2,
        "in_transit": 10,
        "available": 13 + 0 + 20,  # L1 has too little shelf life left for this channel
        "available_by": 23 + 0 + 20,
    }
    assert (sku.as_of, sku.stale) == ("2026-11-23T10:00:00.000Z", True)  # the oldest report, 2 hours old

    unknown = sku_availability("NOPE", [], by=None, min_shelf_life_days=0, now=NOW, threshold=HOUR, prefixes={})
    assert unknown.total.available == 0 and unknown.locations == []
    assert (unknown.as_of, unknown.stale, unknown.total.available_by) == (None, False, None)


def test_a_basket_promises_each_skus_total_across_its_lines() -> None:
    stock = [position(in_transit=10, in_transit_expected_at="2026-11-24")]
    by = date(2026, 11, 24)
    sku = sku_availability("A", stock, by=by, min_shelf_life_days=0, now=NOW, threshold=HOUR, prefixes={})
    lines = [AvailabilityLine(sku="A", quantity=8), AvailabilityLine(sku="A", quantity=8)]
    answer = answer_lines(lines, by, {"A": sku})
    assert [(a.available, a.available_by, a.promise_now, a.promise_by) for a in answer.lines] == [
        (13, 23, False, True),  # 16 of A: not now, but by the 24th
        (13, 23, False, True),
    ]
    now_only = sku_availability("A", stock, by=None, min_shelf_life_days=0, now=NOW, threshold=HOUR, prefixes={})
    (line,) = answer_lines(lines[:1], None, {"A": now_only}).lines
    assert (line.promise_now, line.promise_by, line.available_by) == (True, None, None)


def test_inquiries_the_hub_does_not_answer_say_why() -> None:
    assert checked_skus(["B", "A", "B"]) == ["B", "A"]
    with pytest.raises(AvailabilityRequestInvalid, match="Name at least one SKU"):
        checked_skus([])
    with pytest.raises(AvailabilityRequestInvalid, match="51 SKUs asked for; at most 50 per request") as many:
        checked_skus(f"S{n}" for n in range(51))
    assert many.value.errors == []
    with pytest.raises(AvailabilityRequestInvalid, match="1 of the SKUs asked for are not SKUs") as bad:
        checked_skus(["OK-1", "not a sku"])
    assert bad.value.errors == [{"pointer": "/sku/1", "detail": "'not a sku' is not a SKU"}]
    with pytest.raises(AvailabilityRequestInvalid, match="cannot be negative"):
        availability(["A"], by=None, min_shelf_life_days=-1, now=NOW)


@pytest.mark.parametrize(
    "lines, message, pointer",
    [
        ([], "The basket is not valid", "/lines"),
        ([{"sku": f"S{n}", "quantity": 1} for n in range(101)], "101 lines; at most 100 per query", "/lines"),
        ([{"sku": "A", "quantity": 0}], "The basket is not valid", "/lines/0/quantity"),
        ([{"sku": "A"}], "The basket is not valid", "/lines/0/quantity"),
        ([{"sku": "a b", "quantity": 1}], "The basket is not valid", "/lines/0/sku"),
        ([{"sku": "A", "quantity": 1, "price": 3}], "The basket is not valid", "/lines/0/price"),
    ],
)
def test_a_basket_the_hub_does_not_answer_points_at_the_problem(
    lines: list[dict[str, object]], message: str, pointer: str
) -> None:
    with pytest.raises(AvailabilityRequestInvalid, match=message) as err:
        query(lines, by=None, min_shelf_life_days=0, now=NOW)
    assert err.value.errors[0]["pointer"] == pointer
