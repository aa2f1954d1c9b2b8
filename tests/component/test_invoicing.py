"""ShipmentConfirmed -> exactly one invoice per shipment.

The WMS puts ShipmentConfirmed on the bus; the rule from the synthesized template routes it to the
invoicing worker's queue and ``helpers.shipments.run`` plays the Lambda SQS poller. Orders are created
with the real intake code, stock is seeded with WMS position reports, reserved by the reservation
worker and released by the fulfilment worker (through the outbox, the bus and their queues), so every
test runs the whole chain. A shipment line names the location it was picked at; a shipment that
contradicts the order is refused (dead-lettered at once with the reason); one for an order the hub
has not reserved yet is held (parked on the invoicing queue) until it is.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from helpers import Hub, sample
from helpers.finance import depth as queued  # counts delayed (parked) messages too
from helpers.reservation import RELEASE_QUEUE, drain, release_worker
from helpers.reservation import handler as reservation_worker
from helpers.shipments import DLQ as INVOICING_DLQ
from helpers.shipments import delays, lambda_event, line, put_shipment, shipment_detail, undelay
from helpers.shipments import handler as invoicing_worker
from helpers.shipments import run as run_invoicing
from invoicing.logic import OrderNotFound, ShipmentRejected

INVOICING_QUEUE = "WorkersInvoicingWorkerQueue"
RESERVATION_QUEUE = "WorkersReservationWorkerQueue"
FLOUR, YEAST = "FLOUR-T55-25KG", "YEAST-DRY-500G"


# --------------------------------------------------------------------------------------------- helpers


def order_body(lines: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body = sample("api-post-order.json")
    body["channel_order_ref"] = f"{body['channel_order_ref']}-{uuid.uuid4().hex[:8]}"
    if lines is not None:
        body["lines"] = lines
    return body


def accept_order(body: dict[str, Any] | None = None) -> str:
    from orders.logic import accept
    from orders.models import OrderIn

    result = accept(
        OrderIn.model_validate(body or order_body()),
        f"idem-{uuid.uuid4().hex}",
        correlation_id="corr-" + uuid.uuid4().hex[:8],
    )
    assert result.created
    return result.order_id


def seed_stock(sku: str, location_id: str, on_hand: int, sequence: int = 1) -> None:
    from helpers.reservation import stock

    stock(sku, location_id, on_hand, sequence=sequence)  # its StockAvailable published at once


def seed_sample_stock() -> None:
    # FLOUR is split over two positions so that reservation and release touch both of them
    seed_stock(FLOUR, "UTR-A01", 3)
    seed_stock(FLOUR, "UTR-A02", 2)
    seed_stock(YEAST, "UTR-B01", 50)


def reserve_through_queue(hub: Hub, ctx: Any) -> dict[str, Any]:
    """Publish the outbox (OrderAccepted -> bus -> reservation queue) and run the reservation worker,
    then the fulfilment release worker (OrderReserved -> RELEASED)."""
    hub.publish_outbox()
    result = hub.run_worker(RESERVATION_QUEUE, reservation_worker(hub), ctx)
    assert result["batchItemFailures"] == []
    hub.publish_outbox()
    drain(hub, RELEASE_QUEUE, release_worker(hub), ctx)
    return result


def run_invoicing_batch(hub: Hub, ctx: Any, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """Hand already received messages to the worker and delete the ones it did not report failed."""
    result = invoicing_worker(hub)(lambda_event(hub, INVOICING_QUEUE, messages), ctx)
    failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
    for m in messages:
        if m["MessageId"] not in failed:
            hub.sqs.delete_message(QueueUrl=hub.queue(INVOICING_QUEUE), ReceiptHandle=m["ReceiptHandle"])
    return result


def scan(hub: Hub, table: str) -> list[dict[str, Any]]:
    from synchub_core.ddb import from_ddb

    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        resp = hub.ddb.scan(**kwargs)
        items.extend(from_ddb(i) for i in resp["Items"])
        if "LastEvaluatedKey" not in resp:
            return sorted(items, key=lambda i: (i["pk"], i["sk"]))
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def snapshot(hub: Hub) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return scan(hub, hub.orders_table), scan(hub, hub.inventory_table)


def invoice_items(hub: Hub) -> list[dict[str, Any]]:
    return [i for i in scan(hub, hub.orders_table) if i["pk"].startswith("INVOICE#")]


def outbox_events(hub: Hub, detail_type: str) -> list[dict[str, Any]]:
    return [i for i in scan(hub, hub.orders_table) if i["pk"].startswith("OUTBOX#") and i["detail_type"] == detail_type]


def position(hub: Hub, sku: str, location_id: str) -> dict[str, int]:
    from synchub_core.ddb import get

    item = get(hub.inventory_table, {"pk": f"SKU#{sku}", "sk": f"LOC#{location_id}"})
    assert item is not None
    return {k: int(item[k]) for k in ("on_hand", "reserved", "available")}


def read_order(order_id: str) -> Any:
    from orders.repository import read

    order = read(order_id)
    assert order is not None
    return order


def invoice_event_id(shipment_id: str) -> str:
    from synchub_core.envelope import deterministic_event_id

    return deterministic_event_id("invoice", shipment_id)


@pytest.fixture
def reserved_order(hub: Hub, lambda_context: Any) -> str:
    """The sample order (4 x FLOUR @ 18.40, 10 x YEAST @ 3.95, 9% tax), reserved through the queue."""
    seed_sample_stock()
    order_id = accept_order()
    reserve_through_queue(hub, lambda_context)
    order = read_order(order_id)
    assert order.state.value == "RELEASED" and order.version == 3
    assert position(hub, FLOUR, "UTR-A01")["reserved"] == 3
    assert position(hub, FLOUR, "UTR-A02")["reserved"] == 1
    assert position(hub, YEAST, "UTR-B01")["reserved"] == 10
    return order_id


# --------------------------------------------------------------------------------------------- tests


def test_full_shipment_issues_one_priced_invoice_and_closes_the_order(
    hub: Hub, lambda_context: Any, reserved_order: str
) -> None:
    order_id, shipment_id = reserved_order, "SHP-FULL-0001"
    detail = shipment_detail(order_id, shipment_id)
    put_shipment(hub, detail)
    assert hub.depth(INVOICING_QUEUE) == 1  # the template's rule routed it

    result = run_invoicing(hub, lambda_context)
    assert result["delivered"] == 1 and result["batchItemFailures"] == []
    assert hub.depth(INVOICING_QUEUE) == 0

    # exactly one invoice item, keyed by the shipment
    items = invoice_items(hub)
    assert [(i["pk"], i["sk"]) for i in items] == [(f"INVOICE#{shipment_id}", "INVOICE")]
    stored = items[0]
    invoice = json.loads(stored["doc"])
    from invoicing.logic import invoice_id_for, load_invoice

    assert stored["order_id"] == order_id
    assert stored["invoice_id"] == invoice["invoice_id"] == invoice_id_for(shipment_id)
    assert load_invoice(shipment_id) == invoice

    # prices: per line net = qty x unit rounded half up, tax = net x rate rounded half up
    lines = {line["sku"]: line for line in invoice["lines"]}
    assert lines[FLOUR] == {
        "line_id": "1",
        "sku": FLOUR,
        "quantity": 4,
        "unit_price": "18.40",
        "tax_rate": "0.09",
        "net_amount": "73.60",
        "tax_amount": "6.62",
        "gross_amount": "80.22",
    }
    assert lines[YEAST] == {
        "line_id": "2",
        "sku": YEAST,
        "quantity": 10,
        "unit_price": "3.95",
        "tax_rate": "0.09",
        "net_amount": "39.50",
        "tax_amount": "3.56",  # 3.555 -> 3.56
        "gross_amount": "43.06",
    }
    assert (invoice["net_total"], invoice["tax_total"], invoice["gross_total"]) == ("113.10", "10.18", "123.28")
    assert invoice["currency"] == "EUR"
    body = sample("api-post-order.json")
    assert invoice["customer"]["customer_id"] == body["customer"]["customer_id"]
    assert invoice["bill_to"]["postal_code"] == body["ship_to"]["postal_code"]
    # gap-free per legal entity and year: the first invoice of SH01 this year
    year = invoice["issued_at"][:4]
    assert invoice["invoice_number"] == f"INV-SH01-{year}-000001"
    assert (invoice["legal_entity"], invoice["fiscal_year"], invoice["sequence"]) == ("SH01", int(year), 1)

    # what finance needs to reconcile
    order = read_order(order_id)
    assert invoice["references"] == {
        "order_id": order_id,
        "shipment_id": shipment_id,
        "channel": "webshop-nl",
        "channel_order_ref": order.channel_order_ref,
        "warehouse_id": "UTR",
        "shipped_at": "2026-11-24T13:58:00.000Z",
    }

    # the order is closed
    assert order.state.value == "INVOICED"
    assert order.version == 4  # accepted (1) -> reserved (2) -> released (3) -> invoiced (4)
    assert order.shipped == {FLOUR: 4, YEAST: 10}
    assert [s.invoice_id for s in order.shipments] == [invoice["invoice_id"]]
    assert order.allocations == []
    assert [h.state.value for h in order.history] == [
        "SUBMITTED",
        "ACCEPTED",
        "RESERVED",
        "RELEASED",
        "SHIPPED",
        "INVOICED",
    ]
    assert [(s.shipment_id, s.warehouse_id) for s in order.shipments] == [(shipment_id, "UTR")]
    assert [(line["sku"], line["quantity"], line["location_id"]) for line in order.shipments[0].lines] == [
        (FLOUR, 3, "UTR-A01"),
        (FLOUR, 1, "UTR-A02"),
        (YEAST, 10, "UTR-B01"),
    ]
    assert order.history[-1].event_id == order.history[-2].event_id == invoice_event_id(shipment_id)
    assert shipment_id in order.history[-2].reason

    # the reserved stock was consumed on every position it was reserved on
    # the shipped units left the shelves (the WMS has not reported since): on_hand drops with
    # reserved, so available stays what it was and they are never offered again
    assert position(hub, FLOUR, "UTR-A01") == {"on_hand": 0, "reserved": 0, "available": 0}
    assert position(hub, FLOUR, "UTR-A02") == {"on_hand": 1, "reserved": 0, "available": 1}
    assert position(hub, YEAST, "UTR-B01") == {"on_hand": 40, "reserved": 0, "available": 40}

    # one InvoiceIssued in the outbox, with an id derived from the shipment
    issued = outbox_events(hub, "InvoiceIssued")
    assert len(issued) == 1
    assert issued[0]["pk"] == f"OUTBOX#{invoice_event_id(shipment_id)}"
    assert issued[0]["source"] == "synchub.invoicing"
    assert issued[0]["outbox_status"] == "PENDING"
    envelope = json.loads(issued[0]["detail"])
    assert envelope["event_id"] == invoice_event_id(shipment_id)
    assert envelope["event_type"] == "InvoiceIssued"
    assert envelope["entity_id"] == invoice["invoice_id"]
    assert envelope["causation_id"] == detail["event_id"]
    assert envelope["correlation_id"] == detail["correlation_id"]
    assert envelope["data"] == invoice


def test_rounding_is_decimal_half_up_per_line(hub: Hub, lambda_context: Any) -> None:
    seed_stock("ROUND-A", "UTR-C01", 10)
    seed_stock("ROUND-B", "UTR-C02", 10)
    order_id = accept_order(
        order_body(
            [
                {"line_id": "a", "sku": "ROUND-A", "quantity": 3, "unit_price": "0.335", "tax_rate": "0.21"},
                {"line_id": "b", "sku": "ROUND-B", "quantity": 1, "unit_price": "2.50", "tax_rate": "0.21"},
            ]
        )
    )
    reserve_through_queue(hub, lambda_context)
    put_shipment(
        hub,
        shipment_detail(order_id, "SHP-ROUND-01", [line("ROUND-A", 3, "UTR-C01"), line("ROUND-B", 1, "UTR-C02")]),
    )
    assert run_invoicing(hub, lambda_context)["batchItemFailures"] == []

    from invoicing.logic import load_invoice

    invoice = load_invoice("SHP-ROUND-01")
    lines = {line["sku"]: line for line in invoice["lines"]}
    # 3 x 0.335 = 1.005 exactly -> 1.01 (round(1.005, 2) on a float gives 1.0); 1.01 x 21% = 0.2121 -> 0.21
    assert (lines["ROUND-A"]["net_amount"], lines["ROUND-A"]["tax_amount"], lines["ROUND-A"]["gross_amount"]) == (
        "1.01",
        "0.21",
        "1.22",
    )
    # 2.50 x 21% = 0.525 -> 0.53 (half up, not banker's 0.52)
    assert (lines["ROUND-B"]["net_amount"], lines["ROUND-B"]["tax_amount"], lines["ROUND-B"]["gross_amount"]) == (
        "2.50",
        "0.53",
        "3.03",
    )
    assert (invoice["net_total"], invoice["tax_total"], invoice["gross_total"]) == ("3.51", "0.74", "4.25")

    # totals are the sums of the rounded lines, and gross = net + tax on every line
    cent = Decimal("0.01")
    for li in invoice["lines"]:
        net = (Decimal(li["unit_price"]) * li["quantity"]).quantize(cent, ROUND_HALF_UP)
        assert Decimal(li["net_amount"]) == net
        assert Decimal(li["tax_amount"]) == (net * Decimal(li["tax_rate"])).quantize(cent, ROUND_HALF_UP)
        assert Decimal(li["gross_amount"]) == Decimal(li["net_amount"]) + Decimal(li["tax_amount"])
    assert Decimal(invoice["net_total"]) == sum(Decimal(line["net_amount"]) for line in invoice["lines"])
    assert Decimal(invoice["tax_total"]) == sum(Decimal(line["tax_amount"]) for line in invoice["lines"])
    assert Decimal(invoice["gross_total"]) == Decimal(invoice["net_total"]) + Decimal(invoice["tax_total"])


def _assert_single_invoice(hub: Hub, order_id: str, shipment_id: str) -> None:
    items = invoice_items(hub)
    assert [i["pk"] for i in items] == [f"INVOICE#{shipment_id}"]
    issued = outbox_events(hub, "InvoiceIssued")
    assert [i["event_id"] for i in issued] == [invoice_event_id(shipment_id)]
    order = read_order(order_id)
    assert order.state.value == "INVOICED"
    assert order.version == 4  # invoiced once, not once per delivery
    assert order.shipped == {FLOUR: 4, YEAST: 10}
    assert len(order.shipments) == 1
    assert [h.state.value for h in order.history].count("INVOICED") == 1
    # stock was released exactly once (a second release would have failed or gone negative)
    # the shipped units left the shelves (the WMS has not reported since): on_hand drops with
    # reserved, so available stays what it was and they are never offered again
    assert position(hub, FLOUR, "UTR-A01") == {"on_hand": 0, "reserved": 0, "available": 0}
    assert position(hub, FLOUR, "UTR-A02") == {"on_hand": 1, "reserved": 0, "available": 1}
    assert position(hub, YEAST, "UTR-B01") == {"on_hand": 40, "reserved": 0, "available": 40}


def test_same_shipment_delivered_twice_is_invoiced_once(hub: Hub, lambda_context: Any, reserved_order: str) -> None:
    detail = shipment_detail(reserved_order, "SHP-TWICE-01")
    put_shipment(hub, detail)
    first = run_invoicing(hub, lambda_context)
    assert first["delivered"] == 1 and first["batchItemFailures"] == []
    after_first = snapshot(hub)

    put_shipment(hub, detail)  # the same event again (EventBridge / SQS at-least-once)
    second = run_invoicing(hub, lambda_context)
    assert second["delivered"] == 1 and second["batchItemFailures"] == []  # acknowledged, not retried
    assert hub.depth(INVOICING_QUEUE) == 0
    assert snapshot(hub) == after_first  # the duplicate wrote nothing at all
    _assert_single_invoice(hub, reserved_order, "SHP-TWICE-01")


def test_same_shipment_delivered_five_times_in_one_batch_and_resent_by_wms(
    hub: Hub, lambda_context: Any, reserved_order: str
) -> None:
    detail = shipment_detail(reserved_order, "SHP-FIVE-01")
    put_shipment(hub, detail, times=5)
    assert hub.depth(INVOICING_QUEUE) == 5
    result = run_invoicing(hub, lambda_context)
    assert result["delivered"] == 5 and result["batchItemFailures"] == []
    # the WMS re-sends the confirmation as a new event (new event_id, same shipment)
    put_shipment(hub, shipment_detail(reserved_order, "SHP-FIVE-01"))
    assert run_invoicing(hub, lambda_context)["batchItemFailures"] == []
    assert hub.depth(INVOICING_QUEUE) == 0
    _assert_single_invoice(hub, reserved_order, "SHP-FIVE-01")


def test_concurrent_deliveries_of_one_shipment_create_one_invoice(
    hub: Hub, lambda_context: Any, reserved_order: str
) -> None:
    from invoicing import logic
    from synchub_core.envelope import EventEnvelope

    envelope = EventEnvelope.model_validate(shipment_detail(reserved_order, "SHP-RACE-01"))
    workers = 8
    barrier = threading.Barrier(workers)
    outcomes: list[Any] = []
    errors: list[BaseException] = []

    def deliver() -> None:  # one Lambda instance each, all holding the same SQS message
        barrier.wait()
        try:
            outcomes.append(logic.issue(envelope))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(outcomes) == workers
    assert sum(o.created for o in outcomes) == 1
    assert {o.invoice_id for o in outcomes} == {logic.invoice_id_for("SHP-RACE-01")}
    _assert_single_invoice(hub, reserved_order, "SHP-RACE-01")


def test_two_partial_shipments_give_two_invoices(hub: Hub, lambda_context: Any, reserved_order: str) -> None:
    from invoicing.logic import invoice_id_for, load_invoice

    put_shipment(
        hub,
        shipment_detail(reserved_order, "SHP-PART-01", [line(FLOUR, 1, "UTR-A01"), line(YEAST, 10, "UTR-B01")]),
    )
    assert run_invoicing(hub, lambda_context)["batchItemFailures"] == []
    order = read_order(reserved_order)
    assert order.state.value == "SHIPPED"
    assert order.shipped == {FLOUR: 1, YEAST: 10}
    assert [s.invoice_id for s in order.shipments] == [invoice_id_for("SHP-PART-01")]
    first = load_invoice("SHP-PART-01")
    assert [(li["sku"], li["quantity"], li["net_amount"]) for li in first["lines"]] == [
        (FLOUR, 1, "18.40"),
        (YEAST, 10, "39.50"),
    ]
    assert (first["net_total"], first["tax_total"], first["gross_total"]) == ("57.90", "5.22", "63.12")
    # 1 of the 4 reserved flour released from the first allocation; yeast released whole
    assert position(hub, FLOUR, "UTR-A01")["reserved"] == 2
    assert position(hub, FLOUR, "UTR-A02")["reserved"] == 1
    assert position(hub, YEAST, "UTR-B01")["reserved"] == 0
    assert [a.model_dump(exclude_none=True) for a in order.allocations] == [
        {"sku": FLOUR, "location_id": "UTR-A01", "quantity": 2},
        {"sku": FLOUR, "location_id": "UTR-A02", "quantity": 1},
    ]

    put_shipment(
        hub, shipment_detail(reserved_order, "SHP-PART-02", [line(FLOUR, 2, "UTR-A01"), line(FLOUR, 1, "UTR-A02")])
    )
    assert run_invoicing(hub, lambda_context)["batchItemFailures"] == []
    order = read_order(reserved_order)
    assert order.state.value == "INVOICED"
    assert order.shipped == {FLOUR: 4, YEAST: 10}
    assert [s.invoice_id for s in order.shipments] == [invoice_id_for("SHP-PART-01"), invoice_id_for("SHP-PART-02")]
    assert order.allocations == []
    second = load_invoice("SHP-PART-02")
    # one invoice line per order line, however many locations it was picked from
    assert [(li["sku"], li["quantity"], li["net_amount"], li["tax_amount"]) for li in second["lines"]] == [
        (FLOUR, 3, "55.20", "4.97")
    ]  # 4.968 -> 4.97
    assert (first["invoice_number"][-6:], second["invoice_number"][-6:]) == ("000001", "000002")
    assert second["gross_total"] == "60.17"
    assert second["invoice_id"] != first["invoice_id"]
    assert [h.state.value for h in order.history][-3:] == ["SHIPPED", "SHIPPED", "INVOICED"]

    assert sorted(i["pk"] for i in invoice_items(hub)) == ["INVOICE#SHP-PART-01", "INVOICE#SHP-PART-02"]
    assert sorted(i["event_id"] for i in outbox_events(hub, "InvoiceIssued")) == sorted(
        [invoice_event_id("SHP-PART-01"), invoice_event_id("SHP-PART-02")]
    )
    for loc, on_hand in (("UTR-A01", 0), ("UTR-A02", 1)):
        assert position(hub, FLOUR, loc) == {"on_hand": on_hand, "reserved": 0, "available": on_hand}


def dead_letters(hub: Hub) -> list[dict[str, Any]]:
    """What the invoicing worker dead-lettered, taken off the DLQ: shipment id and refusal reason."""
    messages = hub.receive(INVOICING_DLQ)
    for m in messages:
        hub.sqs.delete_message(QueueUrl=hub.queue(INVOICING_DLQ), ReceiptHandle=m["ReceiptHandle"])
    return [
        {
            "shipment_id": json.loads(m["Body"])["detail"]["data"]["shipment_id"],
            "reason": m["MessageAttributes"]["synchub-refusal-reason"]["StringValue"],
        }
        for m in messages
    ]


def _assert_refused(hub: Hub, ctx: Any, detail: dict[str, Any], reason: str) -> None:
    """Deliver one shipment that contradicts the order: refused at once, not retried: the worker
    reports the record handled, the message is in the DLQ with the reason (matching ``reason``),
    nothing is written."""
    before = snapshot(hub)
    put_shipment(hub, detail)
    result = run_invoicing(hub, ctx)
    assert result["delivered"] == 1 and result["batchItemFailures"] == []
    assert hub.depth(INVOICING_QUEUE) == 0  # no retries spent on what no retry can fix
    (refused,) = dead_letters(hub)
    assert refused["shipment_id"] == detail["data"]["shipment_id"]
    assert re.search(reason, refused["reason"]), refused["reason"]
    assert snapshot(hub) == before  # nothing written: no invoice, no order change, no stock change


def test_bad_shipment_is_refused_next_to_good_ones_and_an_unknown_order_is_retried(
    hub: Hub, lambda_context: Any, reserved_order: str
) -> None:
    put_shipment(hub, shipment_detail(reserved_order, "SHP-BATCH-BAD", [line(FLOUR, 9, "UTR-A01")]))
    put_shipment(hub, shipment_detail(reserved_order, "SHP-BATCH-OK"))
    put_shipment(hub, shipment_detail("ord_" + uuid.uuid4().hex, "SHP-BATCH-NOORDER"))
    messages = hub.receive(INVOICING_QUEUE)
    assert len(messages) == 3
    by_shipment = {json.loads(m["Body"])["detail"]["data"]["shipment_id"]: m["MessageId"] for m in messages}
    result = run_invoicing_batch(hub, lambda_context, messages)
    # the unknown order may still arrive: retried; the over-shipment never becomes right: refused
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == [by_shipment["SHP-BATCH-NOORDER"]]
    assert hub.depth(INVOICING_QUEUE) == 1
    assert [d["shipment_id"] for d in dead_letters(hub)] == ["SHP-BATCH-BAD"]
    assert [i["pk"] for i in invoice_items(hub)] == ["INVOICE#SHP-BATCH-OK"]
    assert read_order(reserved_order).state.value == "INVOICED"


def test_over_shipment_is_rejected_and_writes_nothing(hub: Hub, lambda_context: Any, reserved_order: str) -> None:
    _assert_refused(
        hub,
        lambda_context,
        shipment_detail(reserved_order, "SHP-OVER-01", [line(FLOUR, 5, "UTR-A01")]),
        "ships 5 x FLOUR-T55-25KG; order .* has 4",
    )
    assert invoice_items(hub) == []
    assert read_order(reserved_order).state.value == "RELEASED"


def test_more_than_reserved_at_the_location_is_refused(hub: Hub, lambda_context: Any, reserved_order: str) -> None:
    # 4 flour ordered, but only 1 reserved at UTR-A02: the warehouse picked what the hub did not reserve there
    _assert_refused(
        hub,
        lambda_context,
        shipment_detail(reserved_order, "SHP-LOC-01", [line(FLOUR, 2, "UTR-A02")]),
        "has 1 reserved there",
    )
    # a location where the order has nothing reserved
    _assert_refused(
        hub,
        lambda_context,
        shipment_detail(reserved_order, "SHP-LOC-02", [line(FLOUR, 1, "UTR-A09")]),
        "no reservation of it",
    )
    # no location, and two reservations of the SKU at the site: the warehouse must say where
    _assert_refused(
        hub,
        lambda_context,
        shipment_detail(reserved_order, "SHP-LOC-03", [line(FLOUR, 1)]),
        "several reservations",
    )
    assert read_order(reserved_order).state.value == "RELEASED"


def test_a_line_without_location_takes_the_one_reservation_at_the_site(
    hub: Hub, lambda_context: Any, reserved_order: str
) -> None:
    put_shipment(hub, shipment_detail(reserved_order, "SHP-NOLOC-01", [line(YEAST, 10)]))
    assert run_invoicing(hub, lambda_context)["batchItemFailures"] == []
    order = read_order(reserved_order)
    assert order.state.value == "SHIPPED" and order.shipped == {YEAST: 10}
    assert position(hub, YEAST, "UTR-B01") == {"on_hand": 40, "reserved": 0, "available": 40}
    assert sorted((a.location_id, a.quantity) for a in order.allocations) == [("UTR-A01", 3), ("UTR-A02", 1)]


def test_over_shipment_counts_earlier_shipments(hub: Hub, lambda_context: Any, reserved_order: str) -> None:
    put_shipment(hub, shipment_detail(reserved_order, "SHP-OVER-02", [line(FLOUR, 3, "UTR-A01")]))
    assert run_invoicing(hub, lambda_context)["batchItemFailures"] == []
    assert read_order(reserved_order).state.value == "SHIPPED"
    # 3 already shipped + 2 more > 4 ordered, although 2 <= 4 on its own
    _assert_refused(
        hub,
        lambda_context,
        shipment_detail(reserved_order, "SHP-OVER-03", [line(FLOUR, 2, "UTR-A02")]),
        "3 already shipped or closed",
    )
    assert [i["pk"] for i in invoice_items(hub)] == ["INVOICE#SHP-OVER-02"]
    assert read_order(reserved_order).shipped == {FLOUR: 3}


def test_sku_not_on_the_order_is_rejected_and_writes_nothing(
    hub: Hub, lambda_context: Any, reserved_order: str
) -> None:
    _assert_refused(
        hub,
        lambda_context,
        shipment_detail(reserved_order, "SHP-SKU-01", [line(FLOUR, 3, "UTR-A01"), line("SUGAR-1KG", 1, "UTR-A05")]),
        "SUGAR-1KG, which is not on order",
    )
    assert invoice_items(hub) == []
    assert outbox_events(hub, "InvoiceIssued") == []


def test_unknown_order_fails_and_is_retried_until_the_order_exists(
    hub: Hub, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    invoicing_handler = invoicing_worker(hub)
    seed_sample_stock()
    order_id = "ord_" + uuid.uuid4().hex
    put_shipment(hub, shipment_detail(order_id, "SHP-EARLY-01"))
    before = snapshot(hub)
    messages = hub.receive(INVOICING_QUEUE)
    assert len(messages) == 1
    with pytest.raises(BatchProcessingError) as failed:
        invoicing_handler(lambda_event(hub, INVOICING_QUEUE, messages), lambda_context)
    assert [type(exc) for _, exc, _ in failed.value.child_exceptions] == [OrderNotFound]
    assert snapshot(hub) == before
    assert hub.depth(INVOICING_QUEUE) == 1  # not deleted: SQS redelivers it

    # the order arrives later (the channel was slower than the WMS) and is reserved and released;
    # then the visibility timeout expires
    import orders.logic

    monkeypatch.setattr(orders.logic, "new_order_id", lambda: order_id)
    assert accept_order() == order_id
    reserve_through_queue(hub, lambda_context)
    hub.sqs.change_message_visibility(
        QueueUrl=hub.queue(INVOICING_QUEUE), ReceiptHandle=messages[0]["ReceiptHandle"], VisibilityTimeout=0
    )
    redelivered = hub.receive(INVOICING_QUEUE)
    assert [m["MessageId"] for m in redelivered] == [messages[0]["MessageId"]]
    assert redelivered[0]["Attributes"]["ApproximateReceiveCount"] == "2"
    result = invoicing_handler(lambda_event(hub, INVOICING_QUEUE, redelivered), lambda_context)
    assert result["batchItemFailures"] == []
    assert [i["pk"] for i in invoice_items(hub)] == ["INVOICE#SHP-EARLY-01"]
    assert read_order(order_id).state.value == "INVOICED"


# -- the hold rule: never invoiced without consuming stock ---------------------------------------


def peek(hub: Hub) -> list[dict[str, Any]]:
    """The invoicing queue's visible messages, with their attributes, left visible."""
    return hub.sqs.receive_message(
        QueueUrl=hub.queue(INVOICING_QUEUE),
        MaxNumberOfMessages=10,
        VisibilityTimeout=0,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    ).get("Messages", [])


def _stock(hub: Hub) -> list[dict[str, Any]]:
    return scan(hub, hub.inventory_table)


def test_shipment_before_the_reservation_is_held_then_invoiced_once_reserved(hub: Hub, lambda_context: Any) -> None:
    from invoicing.handler import HELD_SINCE

    seed_sample_stock()
    stock_before = _stock(hub)
    order_id = accept_order()  # OrderAccepted is still in the outbox: the reservation has not run
    assert read_order(order_id).state.value == "ACCEPTED"

    put_shipment(hub, shipment_detail(order_id, "SHP-HOLD-01"))
    result = run_invoicing(hub, lambda_context)
    assert result["delivered"] == 1 and result["batchItemFailures"] == []  # handled: parked, not failed
    # parked: back on the invoicing queue, delayed (60 s the first time), marked with when it was first held
    assert queued(hub, INVOICING_QUEUE) == 1 and hub.receive(INVOICING_QUEUE, visibility=0) == []
    (delay,) = delays(hub)
    assert 55 <= delay <= 60
    assert hub.depth(INVOICING_DLQ) == 0
    assert invoice_items(hub) == [] and outbox_events(hub, "InvoiceIssued") == []
    assert _stock(hub) == stock_before  # no stock touched
    order = read_order(order_id)
    assert order.state.value == "ACCEPTED" and order.version == 1 and order.shipped == {}

    # parked again while still not reserved: it keeps when it was first held, and waits longer
    assert undelay(hub) == 1
    (parked,) = peek(hub)
    held_since = parked["MessageAttributes"][HELD_SINCE]["StringValue"]
    assert run_invoicing(hub, lambda_context)["batchItemFailures"] == []
    (delay,) = delays(hub)
    assert 115 <= delay <= 120
    assert undelay(hub) == 1
    (parked,) = peek(hub)
    assert parked["MessageAttributes"][HELD_SINCE]["StringValue"] == held_since
    assert parked["MessageAttributes"]["synchub-parked"]["StringValue"] == "2"
    assert invoice_items(hub) == []

    # now OrderAccepted reaches the reservation worker (RESERVED), then fulfilment (RELEASED)
    reserve_through_queue(hub, lambda_context)
    assert read_order(order_id).state.value == "RELEASED"
    assert position(hub, FLOUR, "UTR-A01")["reserved"] == 3

    # the held shipment is delivered again: invoiced, the reserved stock consumed
    result = run_invoicing(hub, lambda_context)
    assert result["delivered"] == 1 and result["batchItemFailures"] == []
    assert queued(hub, INVOICING_QUEUE) == 0 and hub.depth(INVOICING_DLQ) == 0
    order = read_order(order_id)
    assert order.state.value == "INVOICED" and order.version == 4
    assert order.allocations == []
    assert [h.state.value for h in order.history] == [
        "SUBMITTED",
        "ACCEPTED",
        "RESERVED",
        "RELEASED",
        "SHIPPED",
        "INVOICED",
    ]
    assert [i["pk"] for i in invoice_items(hub)] == ["INVOICE#SHP-HOLD-01"]
    assert len(outbox_events(hub, "InvoiceIssued")) == 1
    assert position(hub, FLOUR, "UTR-A01") == {"on_hand": 0, "reserved": 0, "available": 0}
    assert position(hub, FLOUR, "UTR-A02") == {"on_hand": 1, "reserved": 0, "available": 1}
    assert position(hub, YEAST, "UTR-B01") == {"on_hand": 40, "reserved": 0, "available": 40}


def test_shipment_after_the_reservation_is_invoiced_at_once(hub: Hub, lambda_context: Any) -> None:
    """RESERVED (fulfilment has not released it yet) is enough: the stock is the order's."""
    seed_sample_stock()
    order_id = accept_order()
    hub.publish_outbox()
    assert hub.run_worker(RESERVATION_QUEUE, reservation_worker(hub), lambda_context)["batchItemFailures"] == []
    assert read_order(order_id).state.value == "RESERVED"
    put_shipment(hub, shipment_detail(order_id, "SHP-AFTER-01"))
    assert run_invoicing(hub, lambda_context)["batchItemFailures"] == []
    assert hub.depth(INVOICING_QUEUE) == 0
    order = read_order(order_id)
    assert order.state.value == "INVOICED" and order.version == 3
    assert [i["pk"] for i in invoice_items(hub)] == ["INVOICE#SHP-AFTER-01"]
    assert position(hub, YEAST, "UTR-B01") == {"on_hand": 40, "reserved": 0, "available": 40}
    # the late OrderReserved reaches fulfilment: nothing to release, the order has shipped
    hub.publish_outbox()
    drain(hub, RELEASE_QUEUE, release_worker(hub), lambda_context)
    assert read_order(order_id).version == 3 and outbox_events(hub, "OrderReleased") == []


def test_shipment_held_longer_than_the_limit_is_dead_lettered_with_the_reason(hub: Hub, lambda_context: Any) -> None:
    seed_sample_stock()
    stock_before = _stock(hub)
    order_id = accept_order()
    put_shipment(hub, shipment_detail(order_id, "SHP-HOLD-MAX"))
    assert run_invoicing(hub, lambda_context)["batchItemFailures"] == []
    assert undelay(hub) == 1
    (parked,) = peek(hub)
    # as if it was first held 49 hours ago (the limit is 48): on this delivery it gives up
    from invoicing.handler import HELD_SINCE
    from synchub_core.envelope import iso, utcnow

    parked["MessageAttributes"][HELD_SINCE]["StringValue"] = iso(utcnow() - timedelta(hours=49))
    result = invoicing_worker(hub)(lambda_event(hub, INVOICING_QUEUE, [parked]), lambda_context)
    assert result["batchItemFailures"] == []
    hub.sqs.delete_message(QueueUrl=hub.queue(INVOICING_QUEUE), ReceiptHandle=parked["ReceiptHandle"])
    assert queued(hub, INVOICING_QUEUE) == 0  # not parked again
    (refused,) = dead_letters(hub)
    assert refused["shipment_id"] == "SHP-HOLD-MAX"
    assert "which is ACCEPTED" in refused["reason"] and "longer than 48 h" in refused["reason"]
    assert "replay it once the order is reserved" in refused["reason"]
    assert invoice_items(hub) == [] and _stock(hub) == stock_before
    assert read_order(order_id).state.value == "ACCEPTED"


def test_the_hold_uses_the_functions_settings(hub: Hub) -> None:
    from helpers.reservation import worker_environment
    from invoicing.handler import hold_delay

    env = worker_environment(hub, INVOICING_QUEUE)
    assert env["SHIPMENT_HOLD_MAX_HOURS"] == "48"
    assert env["WORK_QUEUE_URL"] == hub.queue(INVOICING_QUEUE)  # parked on its own queue
    assert [hold_delay(n) for n in range(6)] == [60, 120, 240, 480, 900, 900]


def test_cancelled_order_cannot_be_invoiced(hub: Hub, lambda_context: Any, reserved_order: str) -> None:
    from orders import repository
    from orders.models import OrderState
    from synchub_core import ddb
    from synchub_core.envelope import now_iso

    order = repository.load(reserved_order)
    expected = order.version
    order.version += 1
    order.state = OrderState.CANCELLED
    order.updated_at = now_iso()
    ddb.transact(repository.transition_ops(order, expected, [(OrderState.CANCELLED, "cancelled by channel")], None))

    _assert_refused(hub, lambda_context, shipment_detail(reserved_order, "SHP-CANC-01"), "is CANCELLED")
    assert invoice_items(hub) == []
    assert outbox_events(hub, "InvoiceIssued") == []
    stored = read_order(reserved_order)
    assert stored.state.value == "CANCELLED" and stored.version == expected + 1


def test_issue_raises_the_documented_errors(hub: Hub, reserved_order: str) -> None:
    """The worker's failures come from these exceptions (what the DLQ alarm / replay runbook sees)."""
    from invoicing import logic
    from synchub_core.envelope import EventEnvelope

    with pytest.raises(OrderNotFound):
        logic.issue(EventEnvelope.model_validate(shipment_detail("ord_missing", "SHP-ERR-01")))
    with pytest.raises(ShipmentRejected, match="not on order"):
        logic.issue(
            EventEnvelope.model_validate(
                shipment_detail(reserved_order, "SHP-ERR-02", [{"sku": "SUGAR-1KG", "quantity": 1}])
            )
        )
    with pytest.raises(ShipmentRejected, match="already shipped"):
        logic.issue(
            EventEnvelope.model_validate(
                shipment_detail(reserved_order, "SHP-ERR-03", [{"sku": YEAST, "quantity": 11}])
            )
        )
    assert invoice_items(hub) == []


# -- shipped stock versus the WMS's own reports ---------------------------------------------------
def wms_report(sku: str, location_id: str, on_hand: int, sequence: int, as_of: datetime) -> bool:
    from inventory.logic import apply_report
    from inventory.models import PositionReport

    return apply_report(
        PositionReport(sku=sku, location_id=location_id, on_hand=on_hand, as_of=as_of),
        sequence,
        f"wms-{sku}-{location_id}-{sequence}",
    )


SHIPPED_AT = datetime(2026, 11, 24, 13, 58, tzinfo=UTC)  # the sample shipment's shipped_at


def test_wms_report_taken_before_the_shipment_does_not_bring_shipped_units_back(
    hub: Hub, lambda_context: Any, reserved_order: str
) -> None:
    put_shipment(hub, shipment_detail(reserved_order, "SHP-WMS-1"))
    assert run_invoicing(hub, lambda_context)["batchItemFailures"] == []
    assert position(hub, FLOUR, "UTR-A01") == {"on_hand": 0, "reserved": 0, "available": 0}
    # a newer report (sequence 2) whose count was taken before the truck left still has the 3 units
    assert wms_report(FLOUR, "UTR-A01", 3, 2, SHIPPED_AT.replace(hour=9))
    assert position(hub, FLOUR, "UTR-A01") == {"on_hand": 0, "reserved": 0, "available": 0}
    # a count after the shipment includes it: the hub takes the WMS's number and forgets the shipment
    assert wms_report(FLOUR, "UTR-A01", 7, 3, SHIPPED_AT.replace(hour=18))
    assert position(hub, FLOUR, "UTR-A01") == {"on_hand": 7, "reserved": 0, "available": 7}
    from synchub_core.ddb import get

    item = get(hub.inventory_table, {"pk": f"SKU#{FLOUR}", "sk": "LOC#UTR-A01"})
    assert item["pending_shipments"] == [] and item["reported_on_hand"] == 7


def test_shipment_confirmed_after_the_wms_already_counted_it_only_drops_the_reservation(
    hub: Hub, lambda_context: Any, reserved_order: str
) -> None:
    # the WMS reports the emptier shelves (as of after the shipment) before ShipmentConfirmed arrives
    assert wms_report(FLOUR, "UTR-A01", 0, 2, SHIPPED_AT.replace(hour=15))
    assert position(hub, FLOUR, "UTR-A01") == {"on_hand": 0, "reserved": 3, "available": -3}
    put_shipment(hub, shipment_detail(reserved_order, "SHP-WMS-2"))
    assert run_invoicing(hub, lambda_context)["batchItemFailures"] == []
    # the units are not subtracted twice
    assert position(hub, FLOUR, "UTR-A01") == {"on_hand": 0, "reserved": 0, "available": 0}
    assert position(hub, FLOUR, "UTR-A02") == {"on_hand": 1, "reserved": 0, "available": 1}


def test_report_racing_a_shipment_is_retried_not_lost(
    hub: Hub, lambda_context: Any, reserved_order: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shipment lands between the report's read and its write: the report re-reads and still
    subtracts the shipment it did not see."""
    from inventory import repository

    real_get = repository.ddb.get
    calls = {"n": 0}

    def get_then_ship(table: str, key: dict[str, Any], consistent: bool = True) -> Any:
        item = real_get(table, key, consistent)
        if table == hub.inventory_table and key["sk"] == "LOC#UTR-A01" and calls["n"] == 0:
            calls["n"] += 1
            put_shipment(hub, shipment_detail(reserved_order, "SHP-RACE"))
            assert run_invoicing(hub, lambda_context)["batchItemFailures"] == []
        return item

    monkeypatch.setattr(repository.ddb, "get", get_then_ship)
    assert wms_report(FLOUR, "UTR-A01", 3, 2, SHIPPED_AT.replace(hour=9))
    monkeypatch.setattr(repository.ddb, "get", real_get)
    assert position(hub, FLOUR, "UTR-A01") == {"on_hand": 0, "reserved": 0, "available": 0}


def test_shipment_confirmations_from_outside_the_wms_are_not_routed(hub: Hub, reserved_order: str) -> None:
    detail = shipment_detail(reserved_order, "SHP-SPOOF")
    for source in ("synchub.orders", "webshop-nl", "wmsx.utrecht"):
        resp = hub.events.put_events(
            Entries=[
                {
                    "Source": source,
                    "DetailType": "ShipmentConfirmed",
                    "Detail": json.dumps(detail),
                    "EventBusName": hub.dep.bus_name,
                }
            ]
        )
        assert resp["FailedEntryCount"] == 0
    assert hub.depth(INVOICING_QUEUE) == 0
    put_shipment(hub, detail)  # the sample's source, wms.utrecht
    assert hub.depth(INVOICING_QUEUE) == 1
