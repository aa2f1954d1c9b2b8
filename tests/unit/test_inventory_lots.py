"""inventory: lots and best-before dates on WMS reports, returns pending against later reports,
whether a report makes stock available, and the ``StockAvailable`` event. Applying them to the
table is tested through moto in tests/component/test_inventory_lots.py."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from inventory.api import STOCK_AVAILABLE, stock_available_event
from inventory.logic import reported_on_hand, reported_quality_hold, still_pending, stock_event_id, stock_rises
from inventory.models import PendingShipment, PositionReport, ReportState, StockAvailableData
from inventory.repository import position_key


def report(**overrides: object) -> PositionReport:
    fields: dict[str, object] = {
        "sku": "MILK-UHT-1L",
        "location_id": "UTR-C01",
        "on_hand": 50,
        "as_of": "2026-11-23T07:45:00Z",
    } | overrides
    return PositionReport.model_validate(fields)


def test_a_lot_and_its_best_before_date_are_part_of_the_report() -> None:
    parsed = report(lot="L2026-11.A_1", best_before="2027-01-31", in_transit=12, in_transit_expected_at="2026-11-25")
    assert (parsed.lot, parsed.best_before, parsed.in_transit_expected_at) == (
        "L2026-11.A_1",
        date(2027, 1, 31),
        date(2026, 11, 25),
    )
    plain = report()
    assert (plain.lot, plain.best_before, plain.in_transit_expected_at) == (None, None, None)
    assert report(lot="L1").best_before is None  # a lot without a best-before date is fine


@pytest.mark.parametrize(
    "overrides, complaint",
    [
        ({"best_before": "2027-01-31"}, "best_before is given only with a lot"),
        ({"lot": ""}, "lot\n  String should match pattern"),
        ({"lot": "L" * 33}, "String should match pattern"),
        ({"lot": "lot 7"}, "String should match pattern"),
        ({"lot": "L1", "best_before": "31-01-2027"}, "best_before\n  Input should be a valid date"),
        ({"in_transit_expected_at": "soon"}, "in_transit_expected_at\n  Input should be a valid date"),
    ],
)
def test_invalid_lot_fields_are_refused_with_a_clear_message(overrides: dict[str, object], complaint: str) -> None:
    with pytest.raises(ValidationError) as err:
        report(**overrides)
    assert complaint in str(err.value)


def test_a_lot_is_a_position_of_its_own() -> None:
    assert position_key("MILK-UHT-1L", "UTR-C01") == {"pk": "SKU#MILK-UHT-1L", "sk": "LOC#UTR-C01"}
    assert position_key("MILK-UHT-1L", "UTR-C01", "L7") == {"pk": "SKU#MILK-UHT-1L", "sk": "LOC#UTR-C01#LOT#L7"}


RETURNED = PendingShipment("RMA-1", "2026-11-23T08:00:00.000Z", -3)
RETURNED_DAMAGED = PendingShipment("RMA-2", "2026-11-23T08:10:00.000Z", -2, -2)
SHIPPED = PendingShipment("SHP-1", "2026-11-23T08:20:00.000Z", 4)


def test_returns_after_the_report_are_added_to_it_those_before_are_in_it() -> None:
    pending = [RETURNED, RETURNED_DAMAGED, SHIPPED]
    before = report(on_hand=50, quality_hold=1, as_of="2026-11-23T07:00:00Z")
    kept = still_pending(pending, "2026-11-23T07:00:00.000Z")
    assert kept == pending
    assert reported_on_hand(before, kept) == 50 + 3 + 2 - 4
    assert reported_quality_hold(before, kept) == 1 + 2
    between = still_pending(pending, "2026-11-23T08:05:00.000Z")  # counts the first return, not the rest
    assert between == [RETURNED_DAMAGED, SHIPPED]
    assert reported_on_hand(before, between) == 50 + 2 - 4 and reported_quality_hold(before, between) == 3
    assert still_pending(pending, "2026-11-23T09:00:00.000Z") == []


def test_a_pending_entry_stores_hold_only_for_damaged_returns() -> None:
    assert SHIPPED.to_item() == {"shipment_id": "SHP-1", "shipped_at": "2026-11-23T08:20:00.000Z", "quantity": 4}
    assert RETURNED_DAMAGED.to_item()["hold"] == -2
    assert "hold" not in RETURNED.to_item()


@pytest.mark.parametrize(
    "seen, free, rises",
    [
        (None, 10, True),  # a new position with stock
        (None, 0, False),
        (ReportState(1, available=5, reserved=0), 8, True),
        (ReportState(1, available=5, reserved=0), 5, False),  # unchanged
        (ReportState(1, available=5, reserved=0), 3, False),  # falls
        (ReportState(1, available=2, reserved=3), 6, True),  # 6 - 3 = 3 > 2
        (ReportState(1, available=-10, reserved=10), 5, False),  # rises, but nothing to sell yet
        (ReportState(1, available=-10, reserved=10), 11, True),
    ],
)
def test_a_report_makes_stock_available_when_available_rises_above_zero(
    seen: ReportState | None, free: int, rises: bool
) -> None:
    assert stock_rises(seen, free) is rises


def test_stock_available_event_is_sorted_unique_and_deterministic() -> None:
    at = datetime(2026, 11, 23, 9, tzinfo=UTC)
    event = stock_available_event(["B-2", "A-1", "B-2"], "cancellation", "corr-1", "cause-1", "evt-1", at=at)
    assert event.event_type == STOCK_AVAILABLE == "StockAvailable"
    assert event.source_system == "synchub.inventory"
    assert (event.event_id, event.correlation_id, event.causation_id) == ("evt-1", "corr-1", "cause-1")
    assert event.data == {"skus": ["A-1", "B-2"], "cause": "cancellation", "at": "2026-11-23T09:00:00Z"}
    assert StockAvailableData.model_validate(event.data).skus == ["A-1", "B-2"]
    one = report(lot="L1")
    assert stock_event_id(one, 7) == stock_event_id(report(lot="L1", on_hand=3), 7)
    assert stock_event_id(one, 7) != stock_event_id(report(), 7) != stock_event_id(one, 8)


@pytest.mark.parametrize(
    "data, complaint",
    [
        ({"skus": [], "cause": "report"}, "at least 1 item"),
        ({"skus": [f"S{n:03d}" for n in range(101)], "cause": "report"}, "at most 100 items"),
        ({"skus": ["B", "A"], "cause": "report"}, "unique and sorted"),
        ({"skus": ["A"], "cause": "restock"}, "Input should be 'report'"),
    ],
)
def test_stock_available_data_is_checked(data: dict[str, object], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        StockAvailableData.model_validate({**data, "at": "2026-11-23T09:00:00Z"})
