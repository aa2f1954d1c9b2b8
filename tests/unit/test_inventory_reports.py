"""inventory: what a WMS position report may say, and how the hub's own shipments the WMS has not
counted yet change the on_hand it reports. Applying reports to the table is tested through moto
in tests/component/test_inventory.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from inventory.logic import reported_on_hand, still_pending
from inventory.models import PendingShipment, PositionReport


def report(**overrides: object) -> PositionReport:
    fields: dict[str, object] = {
        "sku": "FLOUR-T55-25KG",
        "location_id": "UTR-A01",
        "on_hand": 120,
        "quality_hold": 5,
        "in_transit": 0,
        "as_of": "2026-11-23T07:45:00Z",
    } | overrides
    return PositionReport.model_validate(fields)


SHIPPED_BEFORE = PendingShipment("SHP-1", "2026-11-23T07:00:00.000Z", 2)
SHIPPED_AT = PendingShipment("SHP-2", "2026-11-23T07:45:00.000Z", 3)
SHIPPED_AFTER = PendingShipment("SHP-3", "2026-11-23T08:30:00.000Z", 4)


def test_shipments_after_the_report_stay_pending_those_at_or_before_it_are_counted() -> None:
    pending = [SHIPPED_BEFORE, SHIPPED_AT, SHIPPED_AFTER]
    assert still_pending(pending, "2026-11-23T07:45:00.000Z") == [SHIPPED_AFTER]
    assert still_pending(pending, "2026-11-23T06:00:00.000Z") == pending
    assert still_pending(pending, "2026-11-24T00:00:00.000Z") == []
    assert still_pending([], "2026-11-23T07:45:00.000Z") == []


def test_reported_on_hand_lacks_what_the_hub_shipped_since_the_report() -> None:
    assert reported_on_hand(report(on_hand=120), []) == 120
    assert reported_on_hand(report(on_hand=120), [SHIPPED_AFTER]) == 116
    assert reported_on_hand(report(on_hand=120), [SHIPPED_AT, SHIPPED_AFTER]) == 113


def test_a_report_holds_absolute_quantities_of_one_sku_at_one_location() -> None:
    parsed = report(as_of="2026-11-23T08:45:00+01:00")
    assert (parsed.on_hand, parsed.quality_hold, parsed.in_transit) == (120, 5, 0)
    assert parsed.as_of == datetime(2026, 11, 23, 7, 45, tzinfo=UTC)
    assert report(quality_hold=120).quality_hold == 120  # everything on hold is fine


@pytest.mark.parametrize(
    "overrides, complaint",
    [
        ({"quality_hold": 121}, "quality_hold cannot exceed on_hand"),
        ({"on_hand": -1}, "greater than or equal to 0"),
        ({"in_transit": -1}, "greater than or equal to 0"),
        ({"reserved": 3}, "Extra inputs are not permitted"),  # reserved belongs to the hub
        ({"sku": "flour"}, "should match pattern"),
        ({"location_id": "UTR A01"}, "should match pattern"),
        ({"as_of": "yesterday"}, "datetime"),
    ],
)
def test_reports_the_hub_cannot_trust_are_refused(overrides: dict[str, object], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        report(**overrides)
