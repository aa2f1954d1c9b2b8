"""reservation.logic.plan: which locations each order line is allocated from, or why it is short.

The reservation worker's component tests (tests/component/test_reservation.py) run the same
decisions through moto; here the rule itself is checked case by case and as a property.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from reservation.logic import plan
from reservation.models import MAX_LOCATIONS_PER_LINE


def line(sku: str, quantity: int) -> dict[str, Any]:
    return {"line_id": sku, "sku": sku, "quantity": quantity}


def test_a_line_is_taken_from_the_location_with_most_available() -> None:
    allocations, shortages = plan([line("FLOUR", 8)], {"FLOUR": {"A": 5, "B": 10, "C": 9}})
    assert shortages == []
    assert allocations == [{"sku": "FLOUR", "location_id": "B", "quantity": 8}]


def test_a_line_too_big_for_one_location_is_split_over_the_two_largest() -> None:
    allocations, shortages = plan([line("FLOUR", 12)], {"FLOUR": {"A": 5, "B": 10, "C": 1}})
    assert shortages == []
    assert allocations == [
        {"sku": "FLOUR", "location_id": "B", "quantity": 10},
        {"sku": "FLOUR", "location_id": "A", "quantity": 2},
    ]


def test_ties_are_broken_by_location_id() -> None:
    allocations, _ = plan([line("FLOUR", 7)], {"FLOUR": {"C": 5, "A": 5, "B": 5}})
    assert allocations == [
        {"sku": "FLOUR", "location_id": "A", "quantity": 5},
        {"sku": "FLOUR", "location_id": "B", "quantity": 2},
    ]


def test_at_most_max_locations_per_line_even_when_more_stock_exists() -> None:
    assert MAX_LOCATIONS_PER_LINE == 2
    stock = {"FLOUR": {"A": 4, "B": 4, "C": 4}}
    allocations, shortages = plan([line("FLOUR", 10)], stock)
    # 12 units exist, but the rule may use two locations: the line is short by what it could get
    assert shortages == [{"sku": "FLOUR", "requested": 10, "available": 8}]
    assert allocations == []
    allocations, shortages = plan([line("FLOUR", 8)], stock)
    assert shortages == []
    assert [a["location_id"] for a in allocations] == ["A", "B"]


def test_a_shortage_on_one_line_is_reported_per_line_and_the_short_line_gets_nothing() -> None:
    allocations, shortages = plan(
        [line("FLOUR", 4), line("YEAST", 10)],
        {"FLOUR": {"A": 100}, "YEAST": {"A": 3, "B": 2}},
    )
    assert shortages == [{"sku": "YEAST", "requested": 10, "available": 5}]
    assert not [a for a in allocations if a["sku"] == "YEAST"]


def test_unknown_skus_are_short_with_nothing_available() -> None:
    allocations, shortages = plan([line("GHOST", 1)], {"FLOUR": {"A": 5}})
    assert (allocations, shortages) == ([], [{"sku": "GHOST", "requested": 1, "available": 0}])


def test_zero_and_negative_availability_is_ignored() -> None:
    allocations, shortages = plan([line("FLOUR", 3)], {"FLOUR": {"A": 0, "B": -4, "C": 2, "D": 1}})
    assert shortages == []
    assert allocations == [
        {"sku": "FLOUR", "location_id": "C", "quantity": 2},
        {"sku": "FLOUR", "location_id": "D", "quantity": 1},
    ]
    # a position driven below zero (reservations over a lower WMS count) never counts as stock
    _, shortages = plan([line("FLOUR", 1)], {"FLOUR": {"A": -2, "B": 0}})
    assert shortages == [{"sku": "FLOUR", "requested": 1, "available": 0}]


def test_allocations_follow_the_order_lines_and_inputs_are_not_changed() -> None:
    lines = [line("YEAST", 2), line("FLOUR", 1)]
    stock = {"FLOUR": {"A": 1}, "YEAST": {"B": 2}}
    before = (repr(lines), repr(stock))
    allocations, _ = plan(lines, stock)
    assert [a["sku"] for a in allocations] == ["YEAST", "FLOUR"]
    assert (repr(lines), repr(stock)) == before


SKUS = ["FLOUR", "YEAST", "SALT", "SUGAR"]
LOCATIONS = ["A01", "A02", "B01", "B02"]


@st.composite
def orders_and_stock(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, dict[str, int]]]:
    skus = draw(st.lists(st.sampled_from(SKUS), min_size=1, max_size=len(SKUS), unique=True))
    lines = [line(sku, draw(st.integers(1, 60))) for sku in skus]
    stock = draw(
        st.dictionaries(
            st.sampled_from(SKUS),
            st.dictionaries(st.sampled_from(LOCATIONS), st.integers(-5, 40), max_size=len(LOCATIONS)),
        )
    )
    return lines, stock


@given(orders_and_stock())
def test_every_line_is_either_allocated_in_full_within_stock_or_short(
    case: tuple[list[dict[str, Any]], dict[str, dict[str, int]]],
) -> None:
    lines, stock = case
    allocations, shortages = plan(lines, stock)

    by_sku: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for a in allocations:
        by_sku[a["sku"]].append(a)
    short = {s["sku"]: s for s in shortages}
    for ln in lines:
        sku, need = ln["sku"], ln["quantity"]
        # what the rule can reach: the MAX_LOCATIONS_PER_LINE largest positive positions
        reachable = sorted((q for q in stock.get(sku, {}).values() if q > 0), reverse=True)[:MAX_LOCATIONS_PER_LINE]
        if sku in short:
            assert short[sku] == {"sku": sku, "requested": need, "available": sum(reachable)}
            assert sum(reachable) < need
            assert sku not in by_sku
            continue
        taken = by_sku[sku]
        assert sum(a["quantity"] for a in taken) == need  # conservation
        assert 1 <= len(taken) <= MAX_LOCATIONS_PER_LINE
        assert len({a["location_id"] for a in taken}) == len(taken)
        for a in taken:
            assert 0 < a["quantity"] <= stock[sku][a["location_id"]]  # never more than a location has
    assert set(short) | set(by_sku) == {ln["sku"] for ln in lines}
    assert not set(short) & set(by_sku)


# -- lots: first-expiring-first-out and the channel's minimum shelf life ----------------------------


def lot(location: str, name: str, best_before: str) -> tuple[str, str, date]:
    return (location, name, date.fromisoformat(best_before))


def test_lots_are_allocated_first_expiring_first_out_before_positions_without_a_lot() -> None:
    stock = {
        "MILK": {
            "UTR-A01": 100,  # no lot: after every lot, however much it has
            lot("UTR-A02", "L-LATE", "2027-03-01"): 50,
            lot("UTR-A03", "L-SOON", "2027-01-10"): 2,
        }
    }
    allocations, shortages = plan([{"sku": "MILK", "quantity": 5}], stock)
    assert shortages == []
    assert allocations == [
        {"sku": "MILK", "location_id": "UTR-A03", "quantity": 2, "lot": "L-SOON", "best_before": "2027-01-10"},
        {"sku": "MILK", "location_id": "UTR-A02", "quantity": 3, "lot": "L-LATE", "best_before": "2027-03-01"},
    ]


def test_a_lot_expiring_before_the_minimum_shelf_life_is_never_allocated() -> None:
    stock = {"MILK": {lot("UTR-A03", "L-SOON", "2027-01-10"): 10, lot("UTR-A02", "L-LATE", "2027-03-01"): 3}}
    allocations, shortages = plan([{"sku": "MILK", "quantity": 3}], stock, not_before=date(2027, 2, 1))
    assert shortages == []
    assert [(a["lot"], a["quantity"]) for a in allocations] == [("L-LATE", 3)]
    # the short-dated lot does not count towards what is available either
    allocations, shortages = plan([{"sku": "MILK", "quantity": 4}], stock, not_before=date(2027, 2, 1))
    assert allocations == [] and shortages == [{"sku": "MILK", "requested": 4, "available": 3}]


def test_a_lot_expiring_on_the_minimum_date_is_still_allowed() -> None:
    stock = {"MILK": {lot("UTR-A03", "L-EDGE", "2027-02-01"): 1}}
    allocations, _ = plan([{"sku": "MILK", "quantity": 1}], stock, not_before=date(2027, 2, 1))
    assert [a["lot"] for a in allocations] == ["L-EDGE"]


def test_lots_expiring_the_same_day_go_by_most_available_then_location() -> None:
    stock = {
        "MILK": {
            lot("UTR-A02", "L-B", "2027-01-10"): 4,
            lot("UTR-A01", "L-A", "2027-01-10"): 4,
            lot("UTR-A03", "L-C", "2027-01-10"): 6,
        }
    }
    allocations, _ = plan([{"sku": "MILK", "quantity": 8}], stock)
    assert [(a["location_id"], a["quantity"]) for a in allocations] == [("UTR-A03", 6), ("UTR-A01", 2)]


def test_not_before_ignores_positions_without_a_lot() -> None:
    allocations, shortages = plan(
        [{"sku": "SALT", "quantity": 2}], {"SALT": {"UTR-A01": 2}}, not_before=date(2099, 1, 1)
    )
    assert shortages == [] and [a["location_id"] for a in allocations] == ["UTR-A01"]
    assert "lot" not in allocations[0]
