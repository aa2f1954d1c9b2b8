"""Steps of the order-to-cash lifecycle for the component tests of returns, cancellations and the
lifecycle API: an order accepted and reserved (tests/helpers/reservation.py), shipped through
``invoicing.logic.issue`` as the Utrecht site, a return authorized through ``orders.logic`` and
received by the returns worker (a whole EventBridge event, as the rule delivers it) or by
``invoicing.logic.credit``. They need the ``hub`` fixture's moto."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from helpers import Hub
from helpers.reservation import deployed

CHANNEL = "webshop-nl"  # the sample order's channel
RETURNS_QUEUE = "WorkersInvoicingReturnsWorkerQueue"
RETURNS_DLQ = "WorkersInvoicingReturnsWorkerDeadLetterQueue"
REFUSAL_REASON = "synchub-refusal-reason"
SHIPPED_AT = "2026-11-24T13:58:00Z"


def utrecht() -> Any:
    from synchub_core.config import WarehouseSite

    return WarehouseSite(source="wms.utrecht", warehouse_id="UTR", location_prefix="UTR-")


def reserve(hub: Hub, order_id: str) -> str:
    """The order's OrderAccepted (from the outbox) handed to ``reservation.logic.reserve``."""
    from helpers.reservation import accepted_event
    from reservation.logic import reserve as reserve_order
    from synchub_core.envelope import EventEnvelope

    return reserve_order(EventEnvelope.model_validate(accepted_event(hub, order_id))).result


def shipment_envelope(
    order_id: str, lines: list[dict[str, Any]], shipment_id: str | None = None, event_id: str | None = None
) -> dict[str, Any]:
    shipment_id = shipment_id or f"SHP-{uuid.uuid4().hex[:12].upper()}"
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "event_type": "ShipmentConfirmed",
        "event_version": "1",
        "occurred_at": "2026-11-24T14:02:10.884Z",
        "correlation_id": "corr-lifecycle",
        "causation_id": None,
        "source_system": "wms.utrecht",
        "entity_id": shipment_id,
        "sequence": 1,
        "data": {
            "shipment_id": shipment_id,
            "order_id": order_id,
            "warehouse_id": "UTR",
            "shipped_at": SHIPPED_AT,
            "lines": lines,
        },
    }


def ship(order_id: str, lines: list[dict[str, Any]], shipment_id: str | None = None) -> Any:
    """A shipment of ``lines`` (``{sku, quantity, location_id?, close_short?}``) from Utrecht,
    invoiced by ``invoicing.logic.issue``; returns its Outcome (``invoice_id``)."""
    from invoicing.logic import issue
    from synchub_core.envelope import EventEnvelope

    return issue(EventEnvelope.model_validate(shipment_envelope(order_id, lines, shipment_id)), utrecht())


def authorize(
    order_id: str, rma_id: str, lines: list[tuple[str, int]], reason: str = "not needed", channel: str = CHANNEL
) -> tuple[Any, bool] | None:
    """``orders.logic.authorize_return`` of ``lines`` (``(line_id, quantity)``)."""
    from orders.logic import authorize_return
    from orders.models import ReturnIn

    request = ReturnIn.model_validate(
        {"rma_id": rma_id, "reason": reason, "lines": [{"line_id": lid, "quantity": q} for lid, q in lines]}
    )
    return authorize_return(order_id, channel, request, "corr-return", f"idempotency-key:idem-{rma_id}")


def return_envelope(
    order_id: str,
    rma_id: str,
    lines: list[tuple[str, int, str, str]],
    *,
    received_at: str = "2026-11-27T09:41:00Z",
    event_id: str | None = None,
    warehouse_id: str = "UTR",
) -> dict[str, Any]:
    """ReturnReceived of ``lines`` (``(sku, quantity, condition, location_id)``)."""
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "event_type": "ReturnReceived",
        "event_version": "1",
        "occurred_at": received_at,
        "correlation_id": "corr-return",
        "causation_id": None,
        "source_system": "wms.utrecht",
        "entity_id": rma_id,
        "sequence": 1,
        "data": {
            "order_id": order_id,
            "rma_id": rma_id,
            "warehouse_id": warehouse_id,
            "received_at": received_at,
            "lines": [
                {"sku": sku, "quantity": q, "condition": condition, "location_id": loc}
                for sku, q, condition, loc in lines
            ],
        },
    }


def receive(envelope: dict[str, Any]) -> Any:
    """``invoicing.logic.credit`` of a ReturnReceived envelope; returns its Outcome."""
    from invoicing.logic import credit
    from synchub_core.envelope import EventEnvelope

    return credit(EventEnvelope.model_validate(envelope))


def put_return(hub: Hub, envelope: dict[str, Any], source: str = "wms.utrecht") -> None:
    """Put the ReturnReceived on the bus as the warehouse does (the template's rule routes it)."""
    resp = hub.events.put_events(
        Entries=[
            {
                "Source": source,
                "DetailType": "ReturnReceived",
                "Detail": json.dumps(envelope),
                "EventBusName": hub.dep.bus_name or "synchub-bus",
            }
        ]
    )
    assert resp["FailedEntryCount"] == 0


def returns_worker(hub: Hub) -> Callable[[dict, Any], Any]:
    from invoicing.handler import returns_handler

    return deployed(hub, RETURNS_QUEUE, returns_handler)


def drain_returns(hub: Hub, ctx: Any) -> list[dict[str, Any]]:
    """Run the returns worker until its queue is empty; the batch item failures it reported."""
    worker, failures = returns_worker(hub), []
    for _ in range(10):
        if not hub.depth(RETURNS_QUEUE):
            break
        failures += hub.run_worker(RETURNS_QUEUE, worker, ctx)["batchItemFailures"]
    return failures


def dead_letters(hub: Hub, name: str = RETURNS_DLQ) -> list[dict[str, Any]]:
    return hub.receive(name)


def scan(hub: Hub, table: str | None = None) -> list[dict[str, Any]]:
    from synchub_core.ddb import from_ddb

    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table or hub.orders_table, "ConsistentRead": True}
    while True:
        resp = hub.ddb.scan(**kwargs)
        items.extend(from_ddb(i) for i in resp["Items"])
        if "LastEvaluatedKey" not in resp:
            return items
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def documents(hub: Hub, item_type: str) -> list[dict[str, Any]]:
    """Stored INVOICE or CREDIT_MEMO documents (parsed ``doc``)."""
    return [json.loads(i["doc"]) for i in scan(hub) if i.get("item_type") == item_type]


def outbox_events(hub: Hub, event_type: str) -> list[dict[str, Any]]:
    return [
        json.loads(i["detail"]) for i in scan(hub) if i["pk"].startswith("OUTBOX#") and i["detail_type"] == event_type
    ]


def counts(hub: Hub) -> tuple[int, int]:
    """Item counts of the orders and the inventory table (what a refused request must not change)."""
    return len(scan(hub)), len(scan(hub, hub.inventory_table))
