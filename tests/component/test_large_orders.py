"""Large orders at DynamoDB's and EventBridge's limits (issue 10, part 5).

The largest order the API takes (``MAX_LINES`` lines, every field at its longest, each line
reserved at two positions: two locations, a lot each) goes through its whole life through the
real handlers, logic and repositories against moto, and every TransactWriteItems it makes is
recorded (a botocore hook on the functions' DynamoDB client): its items are counted, the size of
every item it writes is measured as DynamoDB counts it, and so is every event entry it queues.

What the bounds give (items per transaction; A allocations <= 80, P stock positions a shipment
touches, R return receipt lines <= 40; a change's history is one item, whatever transitions it
records):

* intake 5; reservation A + 3 (83); release 3; acknowledgement 2; cancel now A + 4 (84); a
  warehouse's confirmation A + 4 (84); a shipment 3 + P + 3 (+1) (86 for all 80 positions at
  once, 87 closing short); a return authorization 3; its receipt 3 + R + 4 (47).

What must fail does so cleanly: one line more is a 400 that names the limit and writes nothing; a
shipment that would take more than 100 items, or an order whose item would grow past
``ORDER_ITEM_MAX_BYTES``, is refused to the DLQ with the reason (never a crash loop); a return
that would not fit is a 409 and writes nothing; goods that came back always find the room kept for
their credit memo.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from helpers import ROOT, Hub, api_event
from helpers.lifecycle import (
    REFUSAL_REASON,
    authorize,
    documents,
    outbox_events,
    receive,
    return_envelope,
    scan,
    shipment_envelope,
    utrecht,
)
from helpers.reservation import (
    WAREHOUSE_QUEUE,
    drain,
    order,
    position,
    quantities,
    settle,
    stock,
    warehouse_worker,
)
from helpers.shipments import DLQ, put_shipment, shipment_detail, warehouse_event
from helpers.shipments import run as run_invoicing

ASTRAL = "\U0001f600"  # 1 character, 4 UTF-8 bytes, 12 as JSON text (\ud83d\ude00): the longest a character gets
PER_LOT = 50  # units at each of a line's two positions
QUANTITY = 2 * PER_LOT  # a line needs both positions


def _pad(head: str, fill: str, length: int) -> str:
    return head + fill * (length - len(head))


def sku(n: int) -> str:
    return _pad(f"LARGE-{n:02d}-", "X", 64)  # the longest SKU


def loc(k: int) -> str:
    return _pad(f"UTR-{k}-", "L", 32)  # the longest location id (Utrecht's prefix)


def lot(n: int, k: int) -> str:
    return _pad(f"LOT-{n:02d}-{k}-", "9", 32)  # the longest lot


def line_id(n: int) -> str:
    return _pad(f"{n:02d}-", "I", 32)


def largest_body(lines: int | None = None) -> dict[str, Any]:
    """An order of ``MAX_LINES`` lines (or ``lines``) with every field at its longest, in the
    characters that take most bytes."""
    from orders.models import MAX_LINES

    return {
        "channel": "webshop-nl",
        "channel_order_ref": _pad(uuid.uuid4().hex, ASTRAL, 64),
        "currency": "EUR",
        "customer": {
            "customer_id": ASTRAL * 64,
            "name": ASTRAL * 120,
            "email": f"{ASTRAL * 120}@{ASTRAL * 60}.{ASTRAL * 72}",
        },
        "ship_to": {
            "name": ASTRAL * 120,
            "line1": ASTRAL * 120,
            "line2": ASTRAL * 120,
            "city": ASTRAL * 80,
            "postal_code": ASTRAL * 20,
            "country": "NL",
        },
        "requested_delivery_date": "2026-12-24",
        "lines": [
            {
                "line_id": line_id(n),
                "sku": sku(n),
                "quantity": QUANTITY,
                "unit_price": "999999999.9999",
                "tax_rate": "0.9999",
            }
            for n in range(MAX_LINES if lines is None else lines)
        ],
    }


def seed_two_positions_per_line(lines: int) -> None:
    """Each line's SKU at two locations, a lot each: the earlier-expiring one first (FEFO), neither
    enough alone, so every line is split over both."""
    for n in range(lines):
        for k in range(2):
            stock(sku(n), loc(k), PER_LOT, lot=lot(n, k), best_before=f"2027-0{k + 1}-01")


def accept_largest() -> str:
    from orders.logic import accept
    from orders.models import OrderIn

    body = largest_body()
    result = accept(OrderIn.model_validate(body), f"idem-large-{uuid.uuid4().hex}", "corr-large")
    assert result.created
    return result.order_id


@pytest.fixture
def transactions(hub: Hub) -> list[list[dict[str, Any]]]:
    """Every TransactWriteItems the functions make during the test (their ``TransactItems``)."""
    from synchub_core import aws

    made: list[list[dict[str, Any]]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        made.append(list(params["TransactItems"]))

    aws.client("dynamodb").meta.events.register("provide-client-params.dynamodb.TransactWriteItems", record)
    return made


def kind(items: list[dict[str, Any]]) -> str:
    """A transaction named by the events it queues (``+``-joined), or by the item types it writes."""
    events = [
        op["Put"]["Item"]["detail_type"]["S"]
        for op in items
        if "Put" in op and op["Put"]["Item"]["pk"]["S"].startswith("OUTBOX#")
    ]
    if events:
        return "+".join(events)
    return "+".join(sorted({op["Put"]["Item"]["item_type"]["S"] for op in items if "Put" in op}))


def sizes(made: list[list[dict[str, Any]]]) -> Iterator[tuple[str, int, int]]:
    """``(kind, items, largest item in bytes)`` of each transaction."""
    from orders.repository import item_size
    from synchub_core.ddb import from_ddb

    for items in made:
        largest = max((item_size(from_ddb(op["Put"]["Item"])) for op in items if "Put" in op), default=0)
        yield kind(items), len(items), largest


def within_limits(made: list[list[dict[str, Any]]]) -> dict[str, int]:
    """Every transaction holds at most 100 items, every item it puts at most ORDER_ITEM_MAX_BYTES
    and every event at most EVENT_ENTRY_MAX_BYTES; the most items a transaction of each kind held."""
    from orders.models import ORDER_ITEM_MAX_BYTES
    from synchub_core.ddb import from_ddb
    from synchub_core.outbox import EVENT_ENTRY_MAX_BYTES, entry_size

    most: dict[str, int] = {}
    for name, count, largest in sizes(made):
        assert count <= 100, (name, count)
        assert largest <= ORDER_ITEM_MAX_BYTES, (name, largest)
        most[name] = max(most.get(name, 0), count)
    for items in made:
        for op in items:
            if "Put" in op and op["Put"]["Item"]["pk"]["S"].startswith("OUTBOX#"):
                assert entry_size(from_ddb(op["Put"]["Item"])) <= EVENT_ENTRY_MAX_BYTES
    return most


def order_item_size(hub: Hub, order_id: str) -> int:
    from orders.repository import item_size, order_key
    from synchub_core.ddb import from_ddb, to_ddb

    raw = hub.ddb.get_item(TableName=hub.orders_table, Key=to_ddb(order_key(order_id)), ConsistentRead=True)
    return item_size(from_ddb(raw["Item"]))


def event_entry_sizes(hub: Hub) -> dict[str, int]:
    """The largest PutEvents entry (source + detail-type + detail) of each event type in the outbox."""
    from synchub_core.outbox import entry_size

    largest: dict[str, int] = {}
    for item in scan(hub):
        if item["pk"].startswith("OUTBOX#"):
            size = entry_size(item)
            largest[item["detail_type"]] = max(largest.get(item["detail_type"], 0), size)
    return largest


def issue(order_id: str, lines: list[dict[str, Any]], shipment_id: str, shipped_at: str | None = None) -> Any:
    """``invoicing.logic.issue`` of a shipment from Utrecht (at ``shipped_at`` if given)."""
    from invoicing.logic import issue as issue_invoice
    from synchub_core.envelope import EventEnvelope

    envelope = shipment_envelope(order_id, lines, shipment_id)
    if shipped_at is not None:
        envelope["data"]["shipped_at"] = shipped_at
    return issue_invoice(EventEnvelope.model_validate(envelope), utrecht())


def picks(n: int, k: int, quantity: int, **more: Any) -> dict[str, Any]:
    return {"sku": sku(n), "quantity": quantity, "location_id": loc(k), "lot": lot(n, k), **more}


def everything(hub: Hub) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    key = lambda i: (i["pk"], i["sk"])  # noqa: E731
    return sorted(scan(hub), key=key), sorted(scan(hub, hub.inventory_table), key=key)


@pytest.fixture
def released(hub: Hub, lambda_context: Any, transactions: list[list[dict[str, Any]]]) -> str:
    """The largest order, reserved at 80 positions and released by the real workers."""
    from orders.models import MAX_LINES

    seed_two_positions_per_line(MAX_LINES)
    order_id = accept_largest()
    settle(hub, lambda_context)
    stored = order(order_id)
    assert stored.state.value == "RELEASED"
    assert len(stored.allocations) == 2 * MAX_LINES == 80
    return order_id


# -- the API: the limit documented and enforced -------------------------------------------------


def post_order(ctx: Any, body: dict[str, Any], key: str) -> tuple[int, Any]:
    from orders.handler import lambda_handler

    resp = lambda_handler(api_event("POST", "/orders", body, {"Idempotency-Key": key}), ctx)
    return resp["statusCode"], json.loads(resp["body"])


def test_the_largest_order_is_accepted_and_one_line_more_is_a_400_naming_the_limit(
    hub: Hub, lambda_context: Any, transactions: list[list[dict[str, Any]]]
) -> None:
    from orders.models import MAX_LINES

    too_many = largest_body(MAX_LINES + 1)
    assert len(json.dumps(too_many).encode()) < 64 * 1024  # within the body limit: the line limit refuses it
    status, problem = post_order(lambda_context, too_many, "idem-too-many-lines")
    assert status == 400
    assert problem["type"].endswith("/validation-error")
    assert problem["errors"] == [
        {"pointer": "/lines", "detail": f"List should have at most {MAX_LINES} items after validation, not 41"}
    ]
    assert scan(hub) == [] and transactions == []  # nothing written

    status, receipt = post_order(lambda_context, largest_body(), "idem-largest-order")
    assert status == 202 and receipt["state"] == "ACCEPTED"
    assert within_limits(transactions) == {"OrderAccepted": 5}
    assert order_item_size(hub, receipt["order_id"]) < 25_000  # the whole order as accepted: 6 % of an item

    # the contract says so: at most MAX_LINES lines (and as many return lines)
    document = json.loads((ROOT / "openapi" / "synchub.json").read_text())
    schemas = document["components"]["schemas"]
    assert schemas["OrderIn"]["properties"]["lines"]["maxItems"] == MAX_LINES
    assert schemas["ReturnIn"]["properties"]["lines"]["maxItems"] == MAX_LINES


# -- the largest order's life -------------------------------------------------------------------


def test_the_largest_order_is_reserved_released_shipped_at_once_and_invoiced_once(
    hub: Hub, lambda_context: Any, released: str, transactions: list[list[dict[str, Any]]]
) -> None:
    from orders.models import MAX_LINES
    from synchub_core.outbox import EVENT_ENTRY_MAX_BYTES

    every_pick = [picks(n, k, PER_LOT) for n in range(MAX_LINES) for k in range(2)]
    assert len(every_pick) == 80  # the most lines a ShipmentConfirmed takes
    put_shipment(hub, shipment_detail(released, "SHP-LARGE-ALL", every_pick))
    result = run_invoicing(hub, lambda_context)
    assert result["delivered"] == 1 and result["batchItemFailures"] == []

    stored = order(released)
    assert stored.state.value == "INVOICED" and stored.allocations == []
    (invoice,) = documents(hub, "INVOICE")
    assert len(invoice["lines"]) == MAX_LINES  # one invoice line per order line, wherever it was picked
    assert all(line["quantity"] == QUANTITY for line in invoice["lines"])
    for n in range(MAX_LINES):
        for k in range(2):
            assert quantities(sku(n), loc(k), lot(n, k)) == {"on_hand": 0, "reserved": 0, "available": 0}

    most = within_limits(transactions)
    assert most["OrderReserved"] == 80 + 3  # 80 position updates, the order, its history, OrderReserved
    assert most["OrderReleased"] == 3
    # the invoice, its pointer and number; 80 positions; the order, its history (SHIPPED, INVOICED), InvoiceIssued
    assert most["InvoiceIssued"] == 3 + 80 + 1 + 1 + 1
    entries = event_entry_sizes(hub)
    assert set(entries) >= {"OrderAccepted", "OrderReserved", "OrderReleased", "InvoiceIssued"}
    assert max(entries.values()) < EVENT_ENTRY_MAX_BYTES // 5, entries  # each well within one PutEvents entry
    assert order_item_size(hub, released) < 80_000


def test_the_largest_order_ships_in_two_closing_short_and_a_return_of_every_line_gets_one_credit_memo(
    hub: Hub, lambda_context: Any, released: str, transactions: list[list[dict[str, Any]]]
) -> None:
    from orders.models import MAX_LINES
    from synchub_core.outbox import EVENT_ENTRY_MAX_BYTES

    first = issue(released, [picks(n, 0, 1) for n in range(MAX_LINES)], "SHP-LARGE-1")
    assert order(released).state.value == "SHIPPED"
    # the second ships one more unit of each line from its other position and closes every line: each line's
    # remaining reservations, at both positions, go back in the same transaction
    second = issue(released, [picks(n, 1, 1, close_short=True) for n in range(MAX_LINES)], "SHP-LARGE-2")
    stored = order(released)
    assert stored.state.value == "INVOICED" and stored.allocations == []
    assert stored.shipped == {sku(n): 2 for n in range(MAX_LINES)}
    assert stored.closed == {sku(n): QUANTITY - 2 for n in range(MAX_LINES)}
    for n in range(MAX_LINES):
        assert quantities(sku(n), loc(0), lot(n, 0)) == {
            "on_hand": PER_LOT - 1,
            "reserved": 0,
            "available": PER_LOT - 1,
        }
        assert quantities(sku(n), loc(1), lot(n, 1)) == {
            "on_hand": PER_LOT - 1,
            "reserved": 0,
            "available": PER_LOT - 1,
        }
    (short_close,) = [e for e in outbox_events(hub, "StockAvailable") if e["data"]["cause"] == "short-close"]
    assert short_close["data"]["skus"] == sorted(sku(n) for n in range(MAX_LINES))

    # a return of every line: one credit memo crediting both invoices of each line
    authorized = authorize(released, "RMA-LARGE-ALL", [(line_id(n), 2) for n in range(MAX_LINES)])
    assert authorized is not None and authorized[1]  # created
    receive(return_envelope(released, "RMA-LARGE-ALL", [(sku(n), 2, "RESALEABLE", loc(0)) for n in range(MAX_LINES)]))
    (memo,) = documents(hub, "CREDIT_MEMO")
    assert len(memo["lines"]) == 2 * MAX_LINES
    assert {line["invoice_id"] for line in memo["lines"]} == {first.invoice_id, second.invoice_id}
    assert order(released).returns[0].status == "RECEIVED"

    most = within_limits(transactions)
    # 80 positions (each line consumes at one, releases at both), the order, its history, the two events
    assert most["InvoiceIssued+StockAvailable"] == 3 + 80 + 1 + 1 + 1 + 1
    assert most["ReturnAuthorized"] == 3
    assert most["CreditMemoIssued+StockAvailable"] == 3 + MAX_LINES + 1 + 1 + 1 + 1
    assert max(event_entry_sizes(hub).values()) < EVENT_ENTRY_MAX_BYTES // 5


@pytest.mark.parametrize("when", ["reserved", "released"])
def test_the_largest_order_is_cancelled_releasing_every_allocation(
    hub: Hub, lambda_context: Any, transactions: list[list[dict[str, Any]]], when: str
) -> None:
    from helpers.lifecycle import reserve
    from orders.logic import cancel
    from orders.models import MAX_LINES, CancelIn

    seed_two_positions_per_line(MAX_LINES)
    order_id = accept_largest()
    if when == "reserved":
        assert reserve(hub, order_id) == "RESERVED"
    else:
        settle(hub, lambda_context)
    assert len(order(order_id).allocations) == 80
    cancelled = cancel(order_id, "webshop-nl", CancelIn(reason=ASTRAL * 200), "corr-cancel", "idempotency-key:c-1")
    assert cancelled is not None
    if when == "released":  # asked of the warehouse, which confirms: then every allocation goes back
        assert cancelled.cancellation["status"] == "REQUESTED"
        warehouse_event(
            hub,
            "OrderCancellationAnswered",
            {
                "order_id": order_id,
                "warehouse_id": "UTR",
                "outcome": "CONFIRMED",
                "reason": ASTRAL * 300,
                "answered_at": "2026-11-24T10:00:00Z",
            },
        )
        assert drain(hub, WAREHOUSE_QUEUE, warehouse_worker(hub), lambda_context) == 1
    stored = order(order_id)
    assert stored.state.value == "CANCELLED" and stored.allocations == []
    assert stored.closed == {sku(n): QUANTITY for n in range(MAX_LINES)}
    for n in range(MAX_LINES):
        for k in range(2):
            assert quantities(sku(n), loc(k), lot(n, k)) == {"on_hand": PER_LOT, "reserved": 0, "available": PER_LOT}
    (event,) = [e for e in outbox_events(hub, "OrderCancelled") if e["entity_id"] == order_id]
    assert len(event["data"]["released"]) == 80
    assert within_limits(transactions)["OrderCancelled+StockAvailable"] == 80 + 4


def test_lines_that_need_three_positions_each_are_backordered_never_a_transaction_over_100(
    hub: Hub, lambda_context: Any, transactions: list[list[dict[str, Any]]]
) -> None:
    """A reservation takes at most two positions per line (FEFO: the two that expire first). An order
    whose 40 lines each need three lots is backordered whole (it waits until two positions hold
    enough), in one small transaction: never 120 position updates."""
    from orders.models import MAX_LINES

    for n in range(MAX_LINES):
        for k in range(3):
            stock(sku(n), loc(k % 2), 40, lot=f"THREE-{n:02d}-{k}", best_before=f"2027-0{k + 1}-01")
    order_id = accept_largest()  # 100 of each: three lots of 40 hold it, two do not
    settle(hub, lambda_context)
    stored = order(order_id)
    assert stored.state.value == "BACKORDERED" and stored.allocations == []
    (backordered,) = outbox_events(hub, "OrderBackordered")
    assert backordered["data"]["shortages"] == [
        {"sku": sku(n), "requested": QUANTITY, "available": 80} for n in range(MAX_LINES)
    ]
    assert within_limits(transactions)["OrderBackordered"] == 3
    assert all(position(sku(n), loc(0), f"THREE-{n:02d}-0")["reserved"] == 0 for n in range(MAX_LINES))


# -- refused cleanly ----------------------------------------------------------------------------


def dead_lettered(hub: Hub) -> list[str]:
    return [m["MessageAttributes"][REFUSAL_REASON]["StringValue"] for m in hub.receive(DLQ)]


def test_a_shipment_of_more_lines_than_a_shipment_takes_is_dead_lettered_with_the_reason(
    hub: Hub, lambda_context: Any, released: str
) -> None:
    from orders.models import MAX_LINES

    lines = [picks(n, k, 1) for n in range(MAX_LINES) for k in range(2)]
    lines.append({"sku": sku(0), "quantity": 1, "location_id": "UTR-EXTRA"})
    before = everything(hub)
    put_shipment(hub, shipment_detail(released, "SHP-LARGE-81", lines))
    result = run_invoicing(hub, lambda_context)
    assert result["batchItemFailures"] == []  # not retried: refused at once
    (reason,) = dead_lettered(hub)
    assert "lines" in reason and "at most 80 items" in reason, reason
    assert everything(hub) == before


def test_a_shipment_that_would_take_more_than_100_items_in_one_transaction_is_dead_lettered_with_the_reason(
    hub: Hub, lambda_context: Any, released: str
) -> None:
    """The one way a shipment of at most 80 lines touches more than 93 positions: a line closed short
    by a later shipment, then an earlier shipment of it delivered late, which names positions the
    order no longer has reservations at (the close released them). Here 39 lines close short at
    both their positions (78) and the late line names 41 positions: 119 position updates. It was a
    ValueError in ``ddb.transact``, retried until the DLQ without a reason."""
    from orders.models import MAX_LINES

    late = MAX_LINES - 1
    for extra in range(39):  # 41 positions of the late line's SKU in all
        stock(sku(late), loc(0), 5, lot=f"EXTRA-{extra:02d}")
    issue(released, [picks(late, 0, 1, close_short=True)], "SHP-LATER-CLOSE", shipped_at="2026-11-24T18:00:00Z")
    positions_of_late = [(loc(0), lot(late, 0)), (loc(1), lot(late, 1))] + [
        (loc(0), f"EXTRA-{extra:02d}") for extra in range(39)
    ]
    lines = [picks(n, 0, 1, close_short=True) for n in range(late)] + [
        {"sku": sku(late), "quantity": 1, "location_id": where, "lot": which} for where, which in positions_of_late
    ]
    assert len(lines) == 80
    detail = shipment_detail(released, "SHP-EARLIER-WIDE", lines)
    detail["data"]["shipped_at"] = "2026-11-24T09:00:00Z"  # before the close: it takes units back from it
    before = everything(hub)
    put_shipment(hub, detail)
    result = run_invoicing(hub, lambda_context)
    assert result["batchItemFailures"] == []
    (reason,) = dead_lettered(hub)
    assert "touches 119 stock positions" in reason and "more than the 100 DynamoDB takes" in reason, reason
    assert "at most 93 positions" in reason, reason
    assert everything(hub) == before


def test_an_order_whose_record_is_full_refuses_returns_with_409_and_shipments_to_the_dlq_but_never_a_receipt(
    hub: Hub, lambda_context: Any, released: str, transactions: list[list[dict[str, Any]]]
) -> None:
    """The order's item accumulates its shipments, returns, credit memos and answers: with every field
    at its longest its bounds (50 shipments of 80 lines, 50 returns of 40) would take it well past
    DynamoDB's 400 KB. Growth that would not fit is refused before DynamoDB sees it: a return with 409
    (nothing written), a shipment to the DLQ with the reason. A receipt of an authorized return never
    is: every authorization keeps room in the item for its receipt."""
    from orders.models import MAX_LINES, ORDER_ITEM_MAX_BYTES

    # most of it ships (48 of 50 at every position): two units per position stay reserved
    issue(released, [picks(n, k, PER_LOT - 2) for n in range(MAX_LINES) for k in range(2)], "SHP-FULL-1")
    authorized: list[str] = []
    for attempt in range(60):  # a return of every line, one unit each, with the longest reason
        rma_id = _pad(f"RMA-FULL-{attempt:02d}-", "R", 64)
        body = {
            "rma_id": rma_id,
            "reason": ASTRAL * 200,
            "lines": [{"line_id": line_id(n), "quantity": 1} for n in range(MAX_LINES)],
        }
        before = everything(hub)
        status, answer = post_return(lambda_context, released, body, f"idem-{rma_id}")
        if status != 201:
            break
        authorized.append(rma_id)
    else:  # pragma: no cover
        pytest.fail("the order took every return")
    assert status == 409 and answer["type"].endswith("/order-not-returnable"), answer
    assert answer["state"] == "SHIPPED", answer
    assert "its record has no room left for this return: " in answer["detail"] and "400,000" in answer["detail"], answer
    assert everything(hub) == before  # the refused return wrote nothing
    assert 10 < len(authorized) < 50  # the item, not MAX_RETURNS, decided
    assert order_item_size(hub, released) <= ORDER_ITEM_MAX_BYTES

    # one more unit of every position ships: the order cannot record the shipment, it is refused with the reason
    before = everything(hub)
    put_shipment(
        hub, shipment_detail(released, "SHP-FULL-2", [picks(n, k, 1) for n in range(MAX_LINES) for k in range(2)])
    )
    result = run_invoicing(hub, lambda_context)
    assert result["batchItemFailures"] == []
    (reason,) = dead_lettered(hub)
    assert reason.startswith("shipment SHP-FULL-2 cannot be invoiced: order ") and "400 KB" in reason, reason
    assert everything(hub) == before

    # every authorized return that comes back gets its credit memo: the room was kept, and a receipt
    # takes no more of it than was kept for it
    from orders.models import CREDITED_ENTRY_BYTES, RECEIPT_BYTES

    for rma_id in authorized[:3] + authorized[-2:]:
        size_before = order_item_size(hub, released)
        receive(return_envelope(released, rma_id, [(sku(n), 1, "DAMAGED", loc(0)) for n in range(MAX_LINES)]))
        assert order_item_size(hub, released) - size_before <= RECEIPT_BYTES + MAX_LINES * CREDITED_ENTRY_BYTES
    assert len(documents(hub, "CREDIT_MEMO")) == 5
    assert order_item_size(hub, released) <= ORDER_ITEM_MAX_BYTES
    within_limits(transactions)


def post_return(ctx: Any, order_id: str, body: dict[str, Any], key: str) -> tuple[int, Any]:
    from orders.handler import lambda_handler

    event = api_event(
        "POST",
        f"/orders/{order_id}/returns",
        body,
        {"Idempotency-Key": key},
        resource="/orders/{order_id}/returns",
        path_params={"order_id": order_id},
    )
    resp = lambda_handler(event, ctx)
    return resp["statusCode"], json.loads(resp["body"])


def test_a_return_that_could_credit_more_than_200_invoice_lines_is_a_409_and_200_make_one_credit_memo(
    hub: Hub, lambda_context: Any, released: str, transactions: list[list[dict[str, Any]]]
) -> None:
    """A return line is credited against every invoice of its SKU (oldest first, one credit line per
    invoice line): shipped in 6 parts, 6 units of each of 40 lines could make a credit memo of 240
    lines. One return may credit at most MAX_RETURN_CREDIT_LINES (200): the largest credit memo and its
    CreditMemoIssued stay far within one item and one event."""
    from orders.models import MAX_LINES, MAX_RETURN_CREDIT_LINES
    from synchub_core.outbox import EVENT_ENTRY_MAX_BYTES

    for part in range(6):
        issue(released, [picks(n, 0, 1) for n in range(MAX_LINES)], f"SHP-PART-{part}")
    before = everything(hub)
    body = {
        "rma_id": "RMA-WIDE",
        "reason": "x",
        "lines": [{"line_id": line_id(n), "quantity": 6} for n in range(MAX_LINES)],
    }
    status, answer = post_return(lambda_context, released, body, "idem-rma-wide")
    assert status == 409 and answer["type"].endswith("/order-not-returnable")
    assert answer["state"] == "SHIPPED", answer
    assert "240 invoice lines" in answer["detail"] and f"than the {MAX_RETURN_CREDIT_LINES}" in answer["detail"], answer
    assert everything(hub) == before

    body = {
        "rma_id": "RMA-200",
        "reason": ASTRAL * 200,
        "lines": [{"line_id": line_id(n), "quantity": 5} for n in range(MAX_LINES)],
    }
    status, _ = post_return(lambda_context, released, body, "idem-rma-200")
    assert status == 201
    receive(return_envelope(released, "RMA-200", [(sku(n), 5, "RESALEABLE", loc(0)) for n in range(MAX_LINES)]))
    (memo,) = documents(hub, "CREDIT_MEMO")
    assert len(memo["lines"]) == MAX_RETURN_CREDIT_LINES
    largest = event_entry_sizes(hub)["CreditMemoIssued"]
    assert largest < EVENT_ENTRY_MAX_BYTES // 2, largest
    assert within_limits(transactions)["CreditMemoIssued+StockAvailable"] == 3 + MAX_LINES + 4


def test_an_event_too_large_for_one_eventbridge_entry_is_refused_before_anything_is_written(hub: Hub) -> None:
    """What the bounds keep far away (the largest event of the largest order is under 60 KB), the
    last line of defence refuses: an event EventBridge would not take is never queued, where it
    would stay pending for ever."""
    from orders.models import OrderTooLarge
    from orders.repository import load, transition_ops
    from synchub_core.envelope import Refused, new_event
    from synchub_core.outbox import EVENT_ENTRY_MAX_BYTES

    seed_two_positions_per_line(1)
    order_id = accept_largest()
    stored = load(order_id)
    assert stored is not None
    event = new_event(
        "InvoiceIssued",
        entity_id=order_id,
        sequence=1,
        data={"lines": ["x" * 1000] * (EVENT_ENTRY_MAX_BYTES // 1000)},
        correlation_id="corr-large",
        causation_id=None,
        source_system="synchub.invoicing",
    )
    with pytest.raises(OrderTooLarge, match="InvoiceIssued would be") as refused:
        transition_ops(stored, stored.version, [], event)
    assert isinstance(refused.value, Refused)  # a worker dead-letters it with this reason


# -- the worst case, computed -------------------------------------------------------------------


def test_worst_case_sizes(hub: Hub) -> None:
    """The largest order item before anything ships (intake, reservation, release, cancellation with
    every warehouse's longest answer: what can never be refused for size) is far below the limit;
    with its bounds alone (50 shipments of 80 lines, 50 returns of 40) it would not be: that growth
    is what ``ORDER_ITEM_MAX_BYTES`` refuses."""
    from orders.models import MAX_LINES, MAX_RETURNS, ORDER_ITEM_MAX_BYTES, OrderIn, StoredOrder
    from orders.repository import item_size, to_item
    from synchub_core.vocabulary import OrderState

    doc = OrderIn.model_validate(largest_body()).model_dump(mode="json")
    for line in doc["lines"]:
        line["price_source"] = "channel"
    now = datetime.now(UTC).isoformat()
    warehouses = [_pad(f"W{w:02d}", "W", 32) for w in range(8)]
    order_ = StoredOrder(
        order_id="ord_" + "f" * 32,
        state=OrderState.CANCELLED,
        version=10**6,
        doc=doc,
        created_at=now,
        updated_at=now,
        correlation_id="c" * 128,
        min_shelf_life_days=3650,
        allocations=[
            {"sku": sku(n), "location_id": loc(k), "quantity": QUANTITY, "lot": lot(n, k), "best_before": "2027-01-01"}
            for n in range(MAX_LINES)
            for k in range(2)
        ],
        closed={sku(n): QUANTITY for n in range(MAX_LINES)},
        releases={
            w: {
                "status": "ACKNOWLEDGED",
                "released_at": now,
                "acknowledged_at": now,
                "warehouse_order_ref": ASTRAL * 64,
            }
            for w in warehouses
        },
        cancellation={
            "status": "CANCELLED",
            "reason": ASTRAL * 200,
            "requested_at": now,
            "answers": {w: {"outcome": "CONFIRMED", "reason": ASTRAL * 300, "answered_at": now} for w in warehouses},
        },
    )
    before_shipping = item_size(to_item(order_))
    assert before_shipping < ORDER_ITEM_MAX_BYTES // 4, before_shipping

    shipment = {
        "shipment_id": "S" * 64,
        "invoice_id": "inv_" + "0" * 24,
        "warehouse_id": warehouses[0],
        "shipped_at": now,
        "lines": [
            {"sku": sku(n), "quantity": 100_000, "location_id": loc(k), "lot": lot(n, k), "close_short": True}
            for n in range(MAX_LINES)
            for k in range(2)
        ],
    }
    a_return = {
        "rma_id": "R" * 64,
        "reason": ASTRAL * 200,
        "status": "RECEIVED",
        "lines": [{"line_id": line_id(n), "sku": sku(n), "quantity": 100_000} for n in range(MAX_LINES)],
        "authorized_at": now,
        "received_at": now,
        "credit_memo_id": "cm_" + "0" * 24,
        "request_hash": "0" * 64,
    }
    order_.state = OrderState.INVOICED
    order_.shipments = [shipment] * 50
    order_.returns = [a_return] * MAX_RETURNS
    at_the_bounds = item_size(to_item(order_))
    assert at_the_bounds > 3 * ORDER_ITEM_MAX_BYTES, at_the_bounds  # why the growth is refused, not assumed
