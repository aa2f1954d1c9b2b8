"""invoicing.logic's pure decisions: pricing a shipment, consuming allocations, completeness and
the deterministic invoice identity. The invoicing worker is tested through moto in
tests/component/test_invoicing.py."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from invoicing.logic import (
    ShipmentRejected,
    consume_allocations,
    invoice_id_for,
    invoice_number,
    is_complete,
    price,
)
from invoicing.models import ShipmentConfirmed, ShippedLine

ORDER_LINES = [
    {"line_id": "1", "sku": "FLOUR-T55-25KG", "quantity": 4, "unit_price": "18.40", "tax_rate": "0.09"},
    {"line_id": "2", "sku": "YEAST-DRY-500G", "quantity": 10, "unit_price": "3.95", "tax_rate": "0.09"},
]


def shipment(*lines: tuple[str, int], shipment_id: str = "SHP-1") -> ShipmentConfirmed:
    return ShipmentConfirmed(
        shipment_id=shipment_id,
        order_id="ord_1",
        warehouse_id="UTR",
        shipped_at=datetime(2026, 11, 24, 13, 58, tzinfo=UTC),
        lines=[ShippedLine(sku=sku, quantity=qty) for sku, qty in lines],
    )


def order_line(line_id: str, sku: str, quantity: int, unit_price: str, tax_rate: str | None) -> dict[str, Any]:
    found = {"line_id": line_id, "sku": sku, "quantity": quantity, "unit_price": unit_price}
    if tax_rate is not None:
        found["tax_rate"] = tax_rate
    return found


def test_a_full_shipment_is_priced_per_line_with_tax_on_the_rounded_net() -> None:
    priced = price("ord_1", ORDER_LINES, {}, shipment(("FLOUR-T55-25KG", 4), ("YEAST-DRY-500G", 10)))
    assert priced == {
        "lines": [
            {
                "line_id": "1",
                "sku": "FLOUR-T55-25KG",
                "quantity": 4,
                "unit_price": "18.40",
                "tax_rate": "0.09",
                "net_amount": "73.60",
                "tax_amount": "6.62",  # 6.624
                "gross_amount": "80.22",
            },
            {
                "line_id": "2",
                "sku": "YEAST-DRY-500G",
                "quantity": 10,
                "unit_price": "3.95",
                "tax_rate": "0.09",
                "net_amount": "39.50",
                "tax_amount": "3.56",  # 3.555, half up
                "gross_amount": "43.06",
            },
        ],
        "net_total": "113.10",
        "tax_total": "10.18",
        "gross_total": "123.28",
    }


def test_each_line_is_rounded_half_up_before_the_totals_are_summed() -> None:
    lines = [
        order_line("1", "A", 1, "0.005", "0"),
        order_line("2", "B", 1, "0.005", "0"),
        order_line("3", "C", 1, "0.125", "0"),  # half-even would give 0.12
    ]
    priced = price("ord_1", lines, {}, shipment(("A", 1), ("B", 1), ("C", 1)))
    assert [ln["net_amount"] for ln in priced["lines"]] == ["0.01", "0.01", "0.13"]
    # rounding the unrounded sum (0.135) instead would give 0.14
    assert priced["net_total"] == "0.15"


def test_tax_is_computed_on_the_rounded_net_amount() -> None:
    # net 3 x 3.335 = 10.005 -> 10.01; 50 % of 10.01 = 5.005 -> 5.01 (of 10.005 it would be 5.00)
    priced = price("ord_1", [order_line("1", "A", 3, "3.335", "0.5")], {}, shipment(("A", 3)))
    (ln,) = priced["lines"]
    assert (ln["net_amount"], ln["tax_amount"], ln["gross_amount"]) == ("10.01", "5.01", "15.02")


def test_totals_are_the_sums_of_the_lines() -> None:
    lines = [order_line(str(n), f"SKU-{n}", n, f"{n}.333", "0.21") for n in range(1, 8)]
    priced = price("ord_1", lines, {}, shipment(*((f"SKU-{n}", n) for n in range(1, 8))))
    for total, field in (("net_total", "net_amount"), ("tax_total", "tax_amount"), ("gross_total", "gross_amount")):
        assert sum(Decimal(ln[field]) for ln in priced["lines"]) == Decimal(priced[total])
    for ln in priced["lines"]:
        assert Decimal(ln["net_amount"]) + Decimal(ln["tax_amount"]) == Decimal(ln["gross_amount"])
        assert Decimal(ln["gross_amount"]).as_tuple().exponent == -2


def test_a_line_without_a_tax_rate_is_untaxed() -> None:
    priced = price("ord_1", [order_line("1", "A", 2, "1.50", None)], {}, shipment(("A", 2)))
    assert priced["lines"][0]["tax_rate"] == "0"
    assert (priced["net_total"], priced["tax_total"], priced["gross_total"]) == ("3.00", "0.00", "3.00")


def test_a_partial_shipment_prices_only_what_it_ships() -> None:
    priced = price("ord_1", ORDER_LINES, {}, shipment(("YEAST-DRY-500G", 4)))
    assert [(ln["sku"], ln["quantity"], ln["net_amount"]) for ln in priced["lines"]] == [("YEAST-DRY-500G", 4, "15.80")]


def test_a_sku_not_on_the_order_is_rejected() -> None:
    with pytest.raises(ShipmentRejected, match="ships SALT, which is not on order ord_1"):
        price("ord_1", ORDER_LINES, {}, shipment(("FLOUR-T55-25KG", 1), ("SALT", 1)))


def test_over_shipment_is_rejected_counting_earlier_shipments() -> None:
    with pytest.raises(ShipmentRejected, match="order ord_1 has 4 of which 0 already shipped"):
        price("ord_1", ORDER_LINES, {}, shipment(("FLOUR-T55-25KG", 5)))
    with pytest.raises(ShipmentRejected, match="order ord_1 has 4 of which 3 already shipped"):
        price("ord_1", ORDER_LINES, {"FLOUR-T55-25KG": 3}, shipment(("FLOUR-T55-25KG", 2)))
    # exactly what is left is fine
    priced = price("ord_1", ORDER_LINES, {"FLOUR-T55-25KG": 3}, shipment(("FLOUR-T55-25KG", 1)))
    assert priced["net_total"] == "18.40"


ALLOCATIONS = [
    {"sku": "FLOUR", "location_id": "A", "quantity": 3},
    {"sku": "FLOUR", "location_id": "B", "quantity": 1},
    {"sku": "YEAST", "location_id": "A", "quantity": 10},
]


def test_a_shipment_consumes_allocations_in_allocation_order() -> None:
    before = [dict(a) for a in ALLOCATIONS]
    consumed, remaining = consume_allocations(
        ALLOCATIONS, [ShippedLine(sku="FLOUR", quantity=4), ShippedLine(sku="YEAST", quantity=4)]
    )
    assert consumed == [
        {"sku": "FLOUR", "location_id": "A", "quantity": 3},
        {"sku": "FLOUR", "location_id": "B", "quantity": 1},
        {"sku": "YEAST", "location_id": "A", "quantity": 4},
    ]
    assert remaining == [{"sku": "YEAST", "location_id": "A", "quantity": 6}]
    assert before == ALLOCATIONS  # inputs untouched


def test_a_partial_shipment_leaves_the_rest_allocated() -> None:
    consumed, remaining = consume_allocations(ALLOCATIONS, [ShippedLine(sku="FLOUR", quantity=2)])
    assert consumed == [{"sku": "FLOUR", "location_id": "A", "quantity": 2}]
    assert remaining == [
        {"sku": "FLOUR", "location_id": "A", "quantity": 1},
        {"sku": "FLOUR", "location_id": "B", "quantity": 1},
        {"sku": "YEAST", "location_id": "A", "quantity": 10},
    ]


def test_shipping_what_was_never_allocated_consumes_nothing() -> None:
    # a shipment confirmed before the order was reserved (or for units beyond the allocation)
    consumed, remaining = consume_allocations([], [ShippedLine(sku="FLOUR", quantity=4)])
    assert (consumed, remaining) == ([], [])
    consumed, remaining = consume_allocations(ALLOCATIONS[2:], [ShippedLine(sku="YEAST", quantity=12)])
    assert consumed == [{"sku": "YEAST", "location_id": "A", "quantity": 10}]
    assert remaining == []


def test_an_order_is_complete_when_every_line_shipped_in_full() -> None:
    assert not is_complete(ORDER_LINES, {})
    assert not is_complete(ORDER_LINES, {"FLOUR-T55-25KG": 4})
    assert not is_complete(ORDER_LINES, {"FLOUR-T55-25KG": 4, "YEAST-DRY-500G": 9})
    assert is_complete(ORDER_LINES, {"FLOUR-T55-25KG": 4, "YEAST-DRY-500G": 10})


def test_invoice_ids_and_numbers_are_deterministic_per_shipment() -> None:
    first = invoice_id_for("SHP-2026-000871")
    assert first == invoice_id_for("SHP-2026-000871")
    assert first != invoice_id_for("SHP-2026-000872")
    assert re.fullmatch(r"inv_[0-9a-f]{24}", first)
    number = invoice_number(datetime(2026, 11, 24, 13, 58, tzinfo=UTC), first)
    assert number == f"SH-202611-{first[4:14].upper()}"
    assert re.fullmatch(r"SH-202611-[0-9A-F]{10}", number)
