"""Event contracts, as emitted: every event the hub writes for an order driven to an invoice
conforms to its committed JSON Schema (the schemas themselves are checked in
tests/unit/test_contracts.py)."""

from __future__ import annotations

import json
import uuid

import jsonschema

from helpers import SAMPLES
from synchub import contracts


def schema(name: str) -> dict:
    return json.loads((contracts.SCHEMAS / name).read_text())


def test_emitted_events_conform_to_their_schemas(hub, lambda_context, order_body) -> None:
    """Drive an order through its lifecycle in moto (reserved, released, shipped from the sample's
    three locations, a return received and credited; a second order cancelled) and validate every
    event the hub emitted."""
    from fulfilment.logic import release
    from inventory.logic import apply_report
    from inventory.models import PositionReport
    from invoicing.logic import credit, issue
    from orders.logic import accept, authorize_return, cancel
    from orders.models import CancelIn, OrderIn, ReturnIn
    from reservation.logic import reserve
    from synchub_core.config import WarehouseSite
    from synchub_core.envelope import EventEnvelope

    site = WarehouseSite(source="wms.utrecht", warehouse_id="UTR", location_prefix="UTR-")
    order = OrderIn.model_validate(order_body)
    # where the sample shipment picks: FLOUR 3 at UTR-A01 and 1 at UTR-A02, YEAST at UTR-B01
    for sku, location, on_hand in [
        ("FLOUR-T55-25KG", "UTR-A01", 3),
        ("FLOUR-T55-25KG", "UTR-A02", 1),
        ("YEAST-DRY-500G", "UTR-B01", 100),
    ]:
        apply_report(
            PositionReport(sku=sku, location_id=location, on_hand=on_hand, as_of="2026-11-23T07:00:00Z"),
            1,
            str(uuid.uuid4()),
        )
    created = accept(order, "contract-key-0001", "corr-1")

    def outbox() -> list[dict]:
        items = hub.ddb.scan(TableName=hub.orders_table)["Items"]
        return [json.loads(i["detail"]["S"]) for i in items if i["pk"]["S"].startswith("OUTBOX#")]

    def last(event_type: str) -> EventEnvelope:
        return EventEnvelope.model_validate(next(e for e in outbox() if e["event_type"] == event_type))

    reserve(last("OrderAccepted"))
    assert release(last("OrderReserved"), {site.source: site}) == "RELEASED"
    shipment = json.loads((SAMPLES / "eventbridge-shipment-confirmed.json").read_text())["detail"]
    shipment["data"]["order_id"] = created.order_id
    assert issue(EventEnvelope.model_validate(shipment), site).created
    rma = ReturnIn.model_validate({"rma_id": "RMA-1", "reason": "damaged", "lines": [{"line_id": "1", "quantity": 1}]})
    assert authorize_return(created.order_id, "webshop-nl", rma, "corr-1", "idempotency-key:contract-key-0002")
    received = json.loads((SAMPLES / "eventbridge-return-received.json").read_text())["detail"]
    received["data"].update(order_id=created.order_id, rma_id="RMA-1")
    received["data"]["lines"] = received["data"]["lines"][:1]  # FLOUR x1 resaleable at UTR-A01
    assert credit(EventEnvelope.model_validate(received)).created

    second = OrderIn.model_validate({**order_body, "channel_order_ref": order_body["channel_order_ref"] + "-2"})
    other = accept(second, "contract-key-0003", "corr-2")
    reserve(
        next(
            EventEnvelope.model_validate(e)
            for e in outbox()
            if e["event_type"] == "OrderAccepted" and e["entity_id"] == other.order_id
        )
    )
    assert cancel(other.order_id, "webshop-nl", CancelIn(), "corr-2", "idempotency-key:contract-key-0004")

    events = outbox()
    assert {e["event_type"] for e in events} == {
        "CreditMemoIssued",
        "InvoiceIssued",
        "OrderAccepted",
        "OrderBackordered",
        "OrderCancelled",
        "OrderReleased",
        "OrderReserved",
        "ReturnAuthorized",
        "StockAvailable",
    }
    for event in events:
        name = contracts._kebab(event["event_type"]) + ".schema.json"
        jsonschema.Draft202012Validator(schema(name)).validate(event)
