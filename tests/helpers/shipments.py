"""WMS shipment confirmations put on the provisioned bus, and the invoicing worker that takes
them, for the component tests of invoicing and of anything downstream of a shipment. They need
the ``hub`` fixture's moto."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable
from typing import Any

from helpers import REGION, Hub, sample
from helpers.reservation import deployed

QUEUE = "WorkersInvoicingWorkerQueue"
DLQ = "WorkersInvoicingWorkerDeadLetterQueue"


def handler(hub: Hub) -> Callable[[dict, Any], Any]:
    """The invoicing worker's Lambda handler, with its function's environment (DLQ, sites)."""
    from invoicing.handler import lambda_handler

    return deployed(hub, QUEUE, lambda_handler)


def shipment_detail(
    order_id: str, shipment_id: str, lines: list[dict[str, Any]] | None = None, event_id: str | None = None
) -> dict[str, Any]:
    """The envelope of the real sample event, for another order / shipment."""
    detail = copy.deepcopy(sample("eventbridge-shipment-confirmed.json")["detail"])
    detail["event_id"] = event_id or str(uuid.uuid4())
    detail["entity_id"] = shipment_id
    detail["data"]["order_id"] = order_id
    detail["data"]["shipment_id"] = shipment_id
    if lines is not None:
        detail["data"]["lines"] = lines
    return detail


def put_shipment(hub: Hub, detail: dict[str, Any], times: int = 1, source: str | None = None) -> None:
    """Put ``detail`` on the bus ``times`` times, as the WMS does (detail-type of the sample; its
    source, wms.utrecht, unless another site's ``source`` is given)."""
    event = sample("eventbridge-shipment-confirmed.json")
    for _ in range(times):
        resp = hub.events.put_events(
            Entries=[
                {
                    "Source": source or event["source"],
                    "DetailType": event["detail-type"],
                    "Detail": json.dumps(detail),
                    "EventBusName": hub.dep.bus_name or "synchub-bus",
                }
            ]
        )
        assert resp["FailedEntryCount"] == 0


def line(sku: str, quantity: int, location_id: str | None = None, **more: Any) -> dict[str, Any]:
    """A shipment line: ``quantity`` x ``sku`` picked at ``location_id`` (``lot=``, ``close_short=``)."""
    out: dict[str, Any] = {"sku": sku, "quantity": quantity, **more}
    if location_id is not None:
        out["location_id"] = location_id
    return out


def run(hub: Hub, ctx: Any) -> dict[str, Any]:
    """One poll of the invoicing queue by the worker (message attributes as Lambda passes them)."""
    messages = hub.receive(QUEUE)
    if not messages:
        return {"batchItemFailures": [], "delivered": 0}
    result = handler(hub)(lambda_event(hub, QUEUE, messages), ctx)
    failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
    for m in messages:
        if m["MessageId"] not in failed:
            hub.sqs.delete_message(QueueUrl=hub.queue(QUEUE), ReceiptHandle=m["ReceiptHandle"])
    return {**result, "delivered": len(messages)}


def lambda_event(hub: Hub, queue_name: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """``hub.sqs_event`` with each record's message attributes as Lambda spells them (a parked
    message carries its park count and when it was first held in them)."""
    event = hub.sqs_event(queue_name, messages)
    for record, message in zip(event["Records"], messages, strict=True):
        record["messageAttributes"] = {
            name: {
                "stringValue": value.get("StringValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value["DataType"],
            }
            for name, value in (message.get("MessageAttributes") or {}).items()
        }
    return event


def delays(hub: Hub, queue_name: str = QUEUE) -> list[float]:
    """Seconds each delayed message on the queue still waits (moto's own record of DelaySeconds)."""
    import time

    now = time.time() * 1000
    return [(m.delayed_until - now) / 1000 for m in _moto_messages(hub, queue_name) if m.delayed_until > now]


def undelay(hub: Hub, queue_name: str = QUEUE) -> int:
    """Let the delayed messages of the queue be received now (the test does not wait out a park's
    60 s); returns how many were delayed."""
    import time

    now = time.time() * 1000
    delayed = [m for m in _moto_messages(hub, queue_name) if m.delayed_until > now]
    for m in delayed:
        m.delayed_until = 0.0
    return len(delayed)


def _moto_messages(hub: Hub, queue_name: str) -> list[Any]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sqs.models import sqs_backends

    name = hub.queue(queue_name).rsplit("/", 1)[-1]
    return list(sqs_backends[DEFAULT_ACCOUNT_ID][REGION].queues[name]._messages)


def warehouse_event(
    hub: Hub, detail_type: str, data: dict[str, Any], *, source: str = "wms.utrecht", entity_id: str | None = None
) -> dict[str, Any]:
    """Put a warehouse's event (``detail_type`` with ``data``) on the bus from ``source``; returns
    its envelope."""
    from synchub_core.envelope import now_iso

    envelope = {
        "event_id": str(uuid.uuid4()),
        "event_type": detail_type,
        "event_version": "1",
        "occurred_at": now_iso(),
        "correlation_id": "corr-wms",
        "causation_id": None,
        "source_system": source,
        "entity_id": entity_id or str(data.get("order_id") or data.get("shipment_id")),
        "sequence": 1,
        "data": data,
    }
    resp = hub.events.put_events(
        Entries=[
            {
                "Source": source,
                "DetailType": detail_type,
                "Detail": json.dumps(envelope),
                "EventBusName": hub.dep.bus_name or "synchub-bus",
            }
        ]
    )
    assert resp["FailedEntryCount"] == 0
    return envelope
