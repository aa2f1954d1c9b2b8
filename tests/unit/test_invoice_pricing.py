"""invoicing.logic's pure decisions: pricing a shipment in the currency's minor units, which
allocations a shipment consumes (exactly those it names), short closes, completeness, crediting a
return against invoice lines, and the deterministic invoice identity. The invoicing worker is tested through moto in
tests/component/test_invoicing.py."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from invoicing.logic import ShipmentRejected, credit_lines, invoice_id_for, pick, price, stock_changes
from invoicing.models import ReturnedLine, ReturnReceived, ReturnRejected, ShipmentConfirmed, ShippedLine
from orders.api import StoredOrder
from synchub_core.vocabulary import OrderState

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
    {"sku": "FLOUR", "location_id": "UTR-A", "quantity": 3},
    {"sku": "FLOUR", "location_id": "UTR-B", "quantity": 1},
    {"sku": "YEAST", "location_id": "UTR-A", "quantity": 10},
]
LINES = [
    {"line_id": "1", "sku": "FLOUR", "quantity": 4, "unit_price": "18.40", "tax_rate": "0.09"},
    {"line_id": "2", "sku": "YEAST", "quantity": 10, "unit_price": "3.95", "tax_rate": "0.09"},
]


def picked(*lines: dict[str, Any]) -> ShipmentConfirmed:
    return ShipmentConfirmed(
        shipment_id="SHP-1",
        order_id="ord_1",
        warehouse_id="UTR",
        shipped_at=datetime(2026, 11, 24, 13, 58, tzinfo=UTC),
        lines=[ShippedLine(**line) for line in lines],
    )


def stored(allocations: list[dict[str, Any]] | None = None, **extra: Any) -> StoredOrder:
    return StoredOrder(
        order_id="ord_1",
        state=OrderState.RELEASED,
        version=3,
        doc={"lines": LINES, "currency": "EUR", "channel": "webshop-nl"},
        allocations=[dict(a) for a in (ALLOCATIONS if allocations is None else allocations)],
        **extra,
    )


def test_a_shipment_consumes_exactly_the_allocations_at_the_locations_it_names() -> None:
    taken, unreserved = pick(
        "ord_1", ALLOCATIONS, picked({"sku": "FLOUR", "quantity": 1, "location_id": "UTR-B"}), "UTR-"
    )
    assert taken == {1: 1} and unreserved == []  # UTR-B, not the first FLOUR allocation in the list


def test_partial_shipments_in_either_order_consume_their_own_locations() -> None:
    first = picked({"sku": "FLOUR", "quantity": 3, "location_id": "UTR-A"})
    second = picked({"sku": "FLOUR", "quantity": 1, "location_id": "UTR-B"})
    for one, other in ((first, second), (second, first)):
        order = stored()
        changes, remaining, _, _ = stock_changes(order, one, "UTR-")
        order.allocations = remaining
        changes2, remaining2, _, _ = stock_changes(order, other, "UTR-")
        consumed = {c["location_id"]: c["consume"] for c in changes + changes2 if c["sku"] == "FLOUR"}
        assert consumed == {"UTR-A": 3, "UTR-B": 1}
        assert [a["sku"] for a in remaining2] == ["YEAST"]


def test_a_line_without_location_needs_one_allocation_of_the_sku_at_the_site() -> None:
    assert pick("ord_1", ALLOCATIONS, picked({"sku": "YEAST", "quantity": 4}), "UTR-") == ({2: 4}, [])
    with pytest.raises(ShipmentRejected, match="name the location_id"):
        pick("ord_1", ALLOCATIONS, picked({"sku": "FLOUR", "quantity": 1}), "UTR-")


def test_shipping_more_than_reserved_there_or_where_nothing_is_reserved_is_refused() -> None:
    with pytest.raises(ShipmentRejected, match="has 1 reserved there"):
        pick("ord_1", ALLOCATIONS, picked({"sku": "FLOUR", "quantity": 2, "location_id": "UTR-B"}), "UTR-")
    with pytest.raises(ShipmentRejected, match="no reservation of it"):
        pick("ord_1", ALLOCATIONS, picked({"sku": "FLOUR", "quantity": 1, "location_id": "UTR-Z"}), "UTR-")
    with pytest.raises(ShipmentRejected, match="reserved: nowhere"):
        pick("ord_1", [], picked({"sku": "FLOUR", "quantity": 1, "location_id": "UTR-A"}), "UTR-")


def test_lots_are_matched_by_the_lot_the_warehouse_names() -> None:
    lots = [
        {"sku": "MILK", "location_id": "UTR-A", "quantity": 2, "lot": "L1", "best_before": "2026-12-10"},
        {"sku": "MILK", "location_id": "UTR-A", "quantity": 2, "lot": "L2", "best_before": "2026-12-20"},
    ]
    assert pick("ord_1", lots, picked({"sku": "MILK", "quantity": 2, "location_id": "UTR-A", "lot": "L2"}), "") == (
        {1: 2},
        [],
    )
    with pytest.raises(ShipmentRejected, match="several reservations"):
        pick("ord_1", lots, picked({"sku": "MILK", "quantity": 1, "location_id": "UTR-A"}), "")


def test_a_short_shipment_without_close_keeps_the_rest_reserved() -> None:
    order = stored()
    changes, remaining, closed, _ = stock_changes(
        order, picked({"sku": "YEAST", "quantity": 6, "location_id": "UTR-A"}), ""
    )
    assert changes == [
        {"sku": "YEAST", "location_id": "UTR-A", "lot": None, "consume": 6, "release": 0, "unreserved": 0}
    ]
    assert {"sku": "YEAST", "location_id": "UTR-A", "quantity": 4} in remaining
    assert closed == {}


def test_close_short_releases_the_rest_of_the_line_everywhere_and_closes_it() -> None:
    order = stored()
    line = {"sku": "FLOUR", "quantity": 2, "location_id": "UTR-A", "close_short": True}
    changes, remaining, closed, _ = stock_changes(order, picked(line), "")
    assert changes == [
        {"sku": "FLOUR", "location_id": "UTR-A", "lot": None, "consume": 2, "release": 1, "unreserved": 0},
        {"sku": "FLOUR", "location_id": "UTR-B", "lot": None, "consume": 0, "release": 1, "unreserved": 0},
    ]
    assert [a["sku"] for a in remaining] == ["YEAST"]
    assert closed == {"FLOUR": 2}


def test_an_order_is_complete_when_every_line_is_shipped_or_closed() -> None:
    assert not stored().complete()
    assert not stored(shipped={"FLOUR": 4}).complete()
    assert not stored(shipped={"FLOUR": 4, "YEAST": 9}).complete()
    assert stored(shipped={"FLOUR": 4, "YEAST": 10}).complete()
    assert stored(shipped={"FLOUR": 2, "YEAST": 10}, closed={"FLOUR": 2}).complete()


def test_invoice_ids_are_deterministic_per_shipment() -> None:
    first = invoice_id_for("SHP-2026-000871")
    assert first == invoice_id_for("SHP-2026-000871")
    assert first != invoice_id_for("SHP-2026-000872")
    assert re.fullmatch(r"inv_[0-9a-f]{24}", first)


@pytest.mark.parametrize(
    ("currency", "unit", "quantity", "net"),
    [
        ("JPY", "1234.5", 1, "1235"),
        ("BHD", "1.2345", 3, "3.704"),
        ("EUR", "0.125", 1, "0.13"),
        ("KWD", "2", 2, "4.000"),
    ],
)
def test_amounts_use_the_currency_minor_units(currency: str, unit: str, quantity: int, net: str) -> None:
    priced = price("ord_1", [order_line("1", "A", 5, unit, "0")], {}, shipment(("A", quantity)), currency)
    assert priced["lines"][0]["net_amount"] == net
    assert priced["net_total"] == net


INVOICE = {
    "invoice_id": "inv_1",
    "invoice_number": "INV-SH01-2026-000001",
    "lines": [
        {
            "line_id": "1",
            "sku": "A",
            "quantity": 3,
            "unit_price": "0.125",
            "tax_rate": "0.21",
            "net_amount": "0.38",
            "tax_amount": "0.08",
            "gross_amount": "0.46",
        }
    ],
}


def receipt(quantity: int, rma: str = "RMA-1") -> ReturnReceived:
    return ReturnReceived(
        order_id="ord_1",
        rma_id=rma,
        warehouse_id="UTR",
        received_at=datetime(2026, 12, 1, tzinfo=UTC),
        lines=[ReturnedLine(sku="A", quantity=quantity, condition="RESALEABLE", location_id="UTR-R")],
    )


def test_credits_add_up_to_the_invoiced_amounts_never_more() -> None:
    order = StoredOrder(order_id="ord_1", state=OrderState.INVOICED, version=5, doc={"currency": "EUR", "lines": []})
    nets, taxes = [], []
    for n in range(3):  # three returns of one unit each: 0.13 + 0.13 would leave 0.12
        lines, order.credited = credit_lines(order, [INVOICE], receipt(1, f"RMA-{n}"))
        nets.append(Decimal(lines[0]["net_amount"]))
        taxes.append(Decimal(lines[0]["tax_amount"]))
    assert sum(nets) == Decimal("0.38") and sum(taxes) == Decimal("0.08")
    with pytest.raises(ReturnRejected, match="more than were invoiced"):
        credit_lines(order, [INVOICE], receipt(1, "RMA-9"))


def test_an_order_takes_at_most_max_shipments(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each shipment is kept on the order item: the 51st is refused with the reason, nothing read further."""
    from invoicing import logic
    from invoicing.models import MAX_SHIPMENTS_PER_ORDER
    from synchub_core.envelope import new_event

    order = stored(shipments=[{"shipment_id": f"S{n}"} for n in range(MAX_SHIPMENTS_PER_ORDER)])
    monkeypatch.setattr(logic.repository, "load_order", lambda _: order)
    monkeypatch.setattr(logic.repository, "invoice_exists", lambda _: False)
    shipment = picked({"sku": "FLOUR", "quantity": 1, "location_id": "UTR-A"})
    envelope = new_event(
        "ShipmentConfirmed", "SHP-1", 1, shipment.model_dump(mode="json"), correlation_id="c", causation_id=None
    )
    with pytest.raises(ShipmentRejected, match=f"has {MAX_SHIPMENTS_PER_ORDER} shipments already"):
        logic.issue(envelope)


def test_a_shipment_delivered_after_a_later_one_closed_its_line_takes_its_units_back() -> None:
    """Shipped 2 (at 10:00), then 1 with close_short (at 11:00): delivered the other way round, the
    close released the 2 units still reserved; the first shipment then takes them back from the
    closed units, unreserved, and nothing is refused or lost."""
    order = stored([{"sku": "FLOUR", "location_id": "UTR-A", "quantity": 4}])
    late = ShipmentConfirmed(
        shipment_id="SHP-2",
        order_id="ord_1",
        warehouse_id="UTR",
        shipped_at=datetime(2026, 11, 24, 11, 0, tzinfo=UTC),
        lines=[ShippedLine(sku="FLOUR", quantity=1, location_id="UTR-A", close_short=True)],
    )
    changes, remaining, closed, reopened = stock_changes(order, late, "")
    assert closed == {"FLOUR": 3} and remaining == [] and reopened == {}
    order.allocations, order.shipped, order.closed = remaining, {"FLOUR": 1}, closed
    order.closed_at = {"FLOUR": "2026-11-24T11:00:00.000Z"}
    early = ShipmentConfirmed(
        shipment_id="SHP-1",
        order_id="ord_1",
        warehouse_id="UTR",
        shipped_at=datetime(2026, 11, 24, 10, 0, tzinfo=UTC),
        lines=[ShippedLine(sku="FLOUR", quantity=2, location_id="UTR-A")],
    )
    changes, remaining, closed, reopened = stock_changes(order, early, "")
    assert reopened == {"FLOUR": 2} and closed == {}
    assert changes == [
        {"sku": "FLOUR", "location_id": "UTR-A", "lot": None, "consume": 0, "release": 0, "unreserved": 2}
    ]
    # shipped after the close: that is no late delivery but more than the order has left
    after = early.model_copy(update={"shipped_at": datetime(2026, 11, 24, 12, 0, tzinfo=UTC)})
    with pytest.raises(ShipmentRejected, match="no reservation of it"):
        stock_changes(order, after, "")
