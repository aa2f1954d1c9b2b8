"""Fulfilment's pure decisions: which site a location belongs to, and an order's allocations as
pick lines per warehouse."""

from __future__ import annotations

import pytest

from fulfilment.logic import pick_lists, site_of
from fulfilment.models import NoSiteForLocation
from synchub_core.config import WarehouseSite

SITES = {
    "wms.utrecht": WarehouseSite(source="wms.utrecht", warehouse_id="UTR", location_prefix="UTR-"),
    "wms.utrecht-cold": WarehouseSite(source="wms.utrecht-cold", warehouse_id="UTC", location_prefix="UTR-C"),
    "wms.tilburg": WarehouseSite(source="wms.tilburg", warehouse_id="TLB", location_prefix="TLB-"),
}
LINES = [{"line_id": "1", "sku": "FLOUR"}, {"line_id": "2", "sku": "MILK"}]


def test_the_longest_matching_prefix_names_the_site() -> None:
    assert site_of("UTR-A01", SITES).warehouse_id == "UTR"
    assert site_of("UTR-C01", SITES).warehouse_id == "UTC"
    assert site_of("AMS-A01", SITES) is None


def test_pick_lines_are_grouped_per_warehouse_with_lots() -> None:
    allocations = [
        {"sku": "MILK", "location_id": "UTR-C01", "quantity": 2, "lot": "L1", "best_before": "2027-01-10"},
        {"sku": "FLOUR", "location_id": "UTR-A02", "quantity": 1},
        {"sku": "FLOUR", "location_id": "TLB-A01", "quantity": 3},
        {"sku": "FLOUR", "location_id": "UTR-A01", "quantity": 3},
    ]
    assert pick_lists("ord_1", LINES, allocations, SITES) == [
        {
            "warehouse_id": "TLB",
            "pick_lines": [{"line_id": "1", "sku": "FLOUR", "location_id": "TLB-A01", "quantity": 3}],
        },
        {
            "warehouse_id": "UTC",
            "pick_lines": [
                {
                    "line_id": "2",
                    "sku": "MILK",
                    "location_id": "UTR-C01",
                    "quantity": 2,
                    "lot": "L1",
                    "best_before": "2027-01-10",
                }
            ],
        },
        {
            "warehouse_id": "UTR",
            "pick_lines": [
                {"line_id": "1", "sku": "FLOUR", "location_id": "UTR-A01", "quantity": 3},
                {"line_id": "1", "sku": "FLOUR", "location_id": "UTR-A02", "quantity": 1},
            ],
        },
    ]


def test_an_allocation_no_site_owns_is_an_error_naming_it() -> None:
    with pytest.raises(NoSiteForLocation, match="AMS-A01"):
        pick_lists("ord_1", LINES, [{"sku": "FLOUR", "location_id": "AMS-A01", "quantity": 1}], SITES)
