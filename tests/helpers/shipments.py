"""WMS shipment confirmations put on the provisioned bus, and the invoicing worker that takes
them, for the component tests of invoicing and of anything downstream of a shipment. They need
the ``hub`` fixture's moto."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable
from typing import Any

from helpers import Hub, sample
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
