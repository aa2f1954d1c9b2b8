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
    """Drive an order to an invoice in moto and validate every event the hub emitted."""
    from inventory.logic import apply_report
    from inventory.models import PositionReport
    from invoicing.logic import issue
    from orders.logic import accept
    from orders.models import OrderIn
    from reservation.logic import reserve
    from synchub_core.envelope import EventEnvelope

    order = OrderIn.model_validate(order_body)
    for line in order.lines:
        apply_report(
            PositionReport(sku=line.sku, location_id="UTR-A01", on_hand=100, as_of="2026-11-23T07:00:00Z"),
            1,
            str(uuid.uuid4()),
        )
    created = accept(order, "contract-key-0001", "corr-1")

    def outbox() -> list[dict]:
        items = hub.ddb.scan(TableName=hub.orders_table)["Items"]
        return [json.loads(i["detail"]["S"]) for i in items if i["pk"]["S"].startswith("OUTBOX#")]

    accepted = next(e for e in outbox() if e["event_type"] == "OrderAccepted")
    reserve(EventEnvelope.model_validate(accepted))
    shipment = json.loads((SAMPLES / "eventbridge-shipment-confirmed.json").read_text())["detail"]
    shipment["data"]["order_id"] = created.order_id
    issue(EventEnvelope.model_validate(shipment))
    events = outbox()
    assert sorted(e["event_type"] for e in events) == ["InvoiceIssued", "OrderAccepted", "OrderReserved"]
    for event in events:
        name = contracts._kebab(event["event_type"]) + ".schema.json"
        jsonschema.Draft202012Validator(schema(name)).validate(event)
