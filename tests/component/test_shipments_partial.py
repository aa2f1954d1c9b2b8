"""Partial, split and short shipments: an order reserved across two locations ships in several
shipments, each invoiced once whatever order they arrive in; stock is conserved (each shipment
consumes exactly the allocation it names, nothing shipped is offered again); the order is INVOICED
only once every line is shipped or closed short.

Runs the whole chain: WMS reports, intake, reservation and release workers, ShipmentConfirmed on
the bus to the invoicing worker."""

from __future__ import annotations

import json
from typing import Any

import pytest

from helpers import Hub
from helpers.reservation import FLOUR, YEAST, accept, order, outbox, positions, quantities, settle, stock
from helpers.shipments import DLQ, line, put_shipment, shipment_detail
from helpers.shipments import run as run_invoicing

# the order (4 flour, 10 yeast) is reserved 3 flour at A01 (the fuller position first), 1 at A02, 10 yeast at B01
FIRST = [line(FLOUR, 3, "UTR-A01"), line(YEAST, 10, "UTR-B01")]
SECOND = [line(FLOUR, 1, "UTR-A02")]


@pytest.fixture
def split_order(hub: Hub, lambda_context: Any) -> str:
    stock(FLOUR, "UTR-A01", 3)
    stock(FLOUR, "UTR-A02", 2)
    stock(YEAST, "UTR-B01", 50)
    order_id = accept()
    settle(hub, lambda_context)
    stored = order(order_id)
    assert stored.state.value == "RELEASED"
    assert sorted((a.sku, a.location_id, a.quantity) for a in stored.allocations) == [
        (FLOUR, "UTR-A01", 3),
        (FLOUR, "UTR-A02", 1),
        (YEAST, "UTR-B01", 10),
    ]
    return order_id


def scan(hub: Hub) -> tuple[list[Any], list[Any]]:
    def items(table: str) -> list[Any]:
        return sorted(
            hub.ddb.scan(TableName=table, ConsistentRead=True)["Items"], key=lambda i: (i["pk"]["S"], i["sk"]["S"])
        )

    return items(hub.orders_table), items(hub.inventory_table)


def ship(hub: Hub, ctx: Any, order_id: str, shipment_id: str, lines: list[dict[str, Any]]) -> None:
    put_shipment(hub, shipment_detail(order_id, shipment_id, lines))
    result = run_invoicing(hub, ctx)
    assert result["delivered"] == 1 and result["batchItemFailures"] == []


def no_negative_position(hub: Hub) -> None:
    for key, p in positions(hub).items():
        assert min(int(p["on_hand"]), int(p["reserved"]), int(p["available"])) >= 0, (key, p)


def invoices(hub: Hub) -> list[dict[str, Any]]:
    return [i["event"]["data"] for i in outbox(hub, "InvoiceIssued")]


@pytest.mark.parametrize("arrival", ["first-then-second", "second-then-first"])
def test_split_shipments_are_invoiced_once_each_in_either_order(
    hub: Hub, lambda_context: Any, split_order: str, arrival: str
) -> None:
    shipments = [("SHP-SPLIT-1", FIRST), ("SHP-SPLIT-2", SECOND)]
    if arrival == "second-then-first":
        shipments.reverse()
    (first_id, first_lines), (second_id, second_lines) = shipments

    ship(hub, lambda_context, split_order, first_id, first_lines)
    stored = order(split_order)
    assert stored.state.value == "SHIPPED"  # a line is still open
    assert [h.state.value for h in stored.history][-1] == "SHIPPED"
    no_negative_position(hub)
    # the same shipment again (a redelivery, and the WMS re-sending it as a new event): nothing changes
    before = scan(hub)
    ship(hub, lambda_context, split_order, first_id, first_lines)
    assert scan(hub) == before

    ship(hub, lambda_context, split_order, second_id, second_lines)
    stored = order(split_order)
    assert stored.state.value == "INVOICED" and stored.version == 5  # accepted, reserved, released, 2 shipments
    assert stored.shipped == {FLOUR: 4, YEAST: 10} and stored.allocations == []
    assert [h.state.value for h in stored.history][-3:] == ["SHIPPED", "SHIPPED", "INVOICED"]
    assert [s.shipment_id for s in stored.shipments] == [first_id, second_id]
    before = scan(hub)
    ship(hub, lambda_context, split_order, second_id, second_lines)
    assert scan(hub) == before

    # one invoice per shipment, numbered in the order they were issued, for exactly what each shipped
    issued = invoices(hub)
    assert sorted(i["references"]["shipment_id"] for i in issued) == sorted([first_id, second_id])
    by_shipment = {i["references"]["shipment_id"]: i for i in issued}
    assert by_shipment[first_id]["invoice_number"].endswith("-000001")
    assert by_shipment[second_id]["invoice_number"].endswith("-000002")
    units = {sid: {li["sku"]: li["quantity"] for li in inv["lines"]} for sid, inv in by_shipment.items()}
    assert units == {"SHP-SPLIT-1": {FLOUR: 3, YEAST: 10}, "SHP-SPLIT-2": {FLOUR: 1}}

    # stock conserved: each shipment consumed what it picked where it picked it
    assert quantities(FLOUR, "UTR-A01") == {"on_hand": 0, "reserved": 0, "available": 0}
    assert quantities(FLOUR, "UTR-A02") == {"on_hand": 1, "reserved": 0, "available": 1}
    assert quantities(YEAST, "UTR-B01") == {"on_hand": 40, "reserved": 0, "available": 40}
    no_negative_position(hub)

    # a third shipment offering an already-shipped unit again is refused (dead-lettered), changes nothing
    put_shipment(hub, shipment_detail(split_order, "SHP-SPLIT-3", [line(FLOUR, 1, "UTR-A02")]))
    assert run_invoicing(hub, lambda_context)["batchItemFailures"] == []
    (refused,) = hub.receive(DLQ)
    assert json.loads(refused["Body"])["detail"]["data"]["shipment_id"] == "SHP-SPLIT-3"
    assert scan(hub) == before


def test_short_shipment_without_close_short_keeps_the_rest_reserved(
    hub: Hub, lambda_context: Any, split_order: str
) -> None:
    ship(hub, lambda_context, split_order, "SHP-SHORT-1", FIRST)
    stored = order(split_order)
    assert stored.state.value == "SHIPPED"
    assert stored.closed == {}
    assert [(a.sku, a.location_id, a.quantity) for a in stored.allocations] == [(FLOUR, "UTR-A02", 1)]
    # the unit still to ship stays reserved for a later shipment
    assert quantities(FLOUR, "UTR-A02") == {"on_hand": 2, "reserved": 1, "available": 1}
    assert [i for i in outbox(hub, "StockAvailable") if i["event"]["data"]["cause"] == "short-close"] == []
    assert len(invoices(hub)) == 1


def test_close_short_releases_the_rest_and_closes_the_order(hub: Hub, lambda_context: Any, split_order: str) -> None:
    lines = [line(FLOUR, 3, "UTR-A01", close_short=True), line(YEAST, 10, "UTR-B01")]
    ship(hub, lambda_context, split_order, "SHP-CLOSE-1", lines)
    stored = order(split_order)
    assert stored.state.value == "INVOICED"  # every line shipped or closed
    assert stored.shipped == {FLOUR: 3, YEAST: 10} and stored.closed == {FLOUR: 1}
    assert stored.allocations == []
    assert any("closed short" in h.reason and "1 x FLOUR" in h.reason for h in stored.history)
    # the unit reserved at A02 went back to stock, in the same transaction, with StockAvailable
    assert quantities(FLOUR, "UTR-A02") == {"on_hand": 2, "reserved": 0, "available": 2}
    assert quantities(FLOUR, "UTR-A01") == {"on_hand": 0, "reserved": 0, "available": 0}
    (released,) = [i["event"] for i in outbox(hub, "StockAvailable") if i["event"]["data"]["cause"] == "short-close"]
    assert released["data"]["skus"] == [FLOUR]
    (invoice,) = invoices(hub)
    assert {li["sku"]: li["quantity"] for li in invoice["lines"]} == {FLOUR: 3, YEAST: 10}
    no_negative_position(hub)
    # the closed unit can no longer be shipped
    put_shipment(hub, shipment_detail(split_order, "SHP-CLOSE-2", SECOND))
    assert run_invoicing(hub, lambda_context)["batchItemFailures"] == []
    assert len(hub.receive(DLQ)) == 1 and len(invoices(hub)) == 1


def test_a_shipment_delivered_after_a_later_one_closed_its_line_is_invoiced_not_refused(
    hub: Hub, lambda_context: Any, split_order: str
) -> None:
    """The warehouse ships 2 flour at 10:00, then the last flour with close_short at 11:00; the bus
    delivers them the other way round. The close released what was still reserved (2 at A01, 1 at
    A02); the earlier shipment then takes its 2 units back from the closed ones: both invoiced,
    every unit accounted for once, nothing refused."""
    early = shipment_detail(split_order, "SHP-EARLY", [line(FLOUR, 2, "UTR-A01")])
    early["data"]["shipped_at"] = "2026-11-24T10:00:00Z"
    late = shipment_detail(
        split_order, "SHP-LATE", [line(FLOUR, 1, "UTR-A01", close_short=True), line(YEAST, 10, "UTR-B01")]
    )
    late["data"]["shipped_at"] = "2026-11-24T11:00:00Z"
    for detail in (late, early):
        put_shipment(hub, detail)
        result = run_invoicing(hub, lambda_context)
        assert result["delivered"] == 1 and result["batchItemFailures"] == []
    assert hub.receive(DLQ) == []
    stored = order(split_order)
    assert stored.state.value == "INVOICED"
    assert stored.shipped == {FLOUR: 3, YEAST: 10} and stored.closed == {FLOUR: 1} and stored.allocations == []
    assert any("before the line was closed" in h.reason for h in stored.history)
    assert sorted(i["references"]["shipment_id"] for i in invoices(hub)) == ["SHP-EARLY", "SHP-LATE"]
    # 3 flour left A01 (all it had), A02's unit went back to stock when the line was closed
    assert quantities(FLOUR, "UTR-A01") == {"on_hand": 0, "reserved": 0, "available": 0}
    assert quantities(FLOUR, "UTR-A02") == {"on_hand": 2, "reserved": 0, "available": 2}
    no_negative_position(hub)
    # the early shipment again: a duplicate, nothing changes
    before = scan(hub)
    put_shipment(hub, early)
    assert run_invoicing(hub, lambda_context)["batchItemFailures"] == []
    assert scan(hub) == before
