"""Invoicing workers, fed by EventBridge rules through SQS:

* ``lambda_handler``: ``ShipmentConfirmed`` -> one invoice per shipment. A shipment for an order
  the hub has not reserved yet is *held*: parked back on its own queue (60 s, doubling to 15 min)
  until the reservation exists, for at most ``SHIPMENT_HOLD_MAX_HOURS``; then it is dead-lettered
  with the reason (replay it once the order is reserved).
* ``returns_handler``: ``ReturnReceived`` -> one credit memo per return.

Only whole EventBridge events are taken (a bare envelope sent to the queue is refused), and only
from a registered warehouse site about its own warehouse and locations; refusals are dead-lettered
with their reason (synchub_core.lambda_support)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from aws_lambda_powertools.metrics import MetricUnit

import synchub_core
from connectors import api as connectors
from synchub_core.config import warehouse_sites
from synchub_core.envelope import Refused, iso, utcnow
from synchub_core.lambda_support import Delivery, Feed, Powertools

from . import logic
from .models import RETURN_RECEIVED, SHIPMENT_CONFIRMED, ReturnRejected, ShipmentHeld, ShipmentRejected

pt = Powertools.for_service("invoicing")

WORK_QUEUE_ENV = "WORK_QUEUE_URL"  # the worker's own queue: held shipments are parked on it
HOLD_MAX_HOURS_ENV = "SHIPMENT_HOLD_MAX_HOURS"
HELD_SINCE = "synchub-held-since"  # when a held shipment was first parked (kept by later parks)
FIRST_HOLD_SECONDS, MAX_HOLD_DELAY_SECONDS = 60, 900


def _admit(delivery: Delivery) -> None:
    logic.admit(delivery.envelope, delivery.source, warehouse_sites())


def hold_delay(parked_before: int) -> int:
    """Seconds a held shipment waits before its next try: 60, 120, 240, ... up to 900."""
    return min(FIRST_HOLD_SECONDS * 2 ** min(parked_before, 10), MAX_HOLD_DELAY_SECONDS)


def _held_since(delivery: Delivery) -> str | None:
    record = delivery.record
    if record is None:
        return None
    value = ((record.raw_event.get("messageAttributes") or {}).get(HELD_SINCE) or {}).get("stringValue")
    return value if isinstance(value, str) and value else None


def _hold(delivery: Delivery, held: ShipmentHeld) -> None:
    """Park the held shipment, or dead-letter it once it has waited ``SHIPMENT_HOLD_MAX_HOURS``."""
    since = _held_since(delivery) or iso(utcnow())
    max_hours = float(os.environ.get(HOLD_MAX_HOURS_ENV) or 48)
    if utcnow() - datetime.fromisoformat(since) > timedelta(hours=max_hours):
        raise Refused(f"{held} (held since {since}, longer than {max_hours:g} h): replay it once the order is reserved")
    record = delivery.record
    if record is None:  # pragma: no cover - every SQS delivery has its record
        raise held
    delay = hold_delay(connectors.parked_count(record))
    connectors.park(
        record, os.environ.get(WORK_QUEUE_ENV, ""), delay, str(held), metrics=pt.metrics, marks={HELD_SINCE: since}
    )
    pt.metrics.add_metric(name="ShipmentHeld", unit=MetricUnit.Count, value=1)
    pt.logger.info("shipment held", extra={"reason": str(held), "retry_in_seconds": delay, "held_since": since})


def _handle(delivery: Delivery) -> None:
    site = warehouse_sites().get(delivery.source or "")
    try:
        outcome = logic.issue(delivery.envelope, site)
    except ShipmentHeld as held:
        _hold(delivery, held)
        return
    except ShipmentRejected as rejected:
        raise Refused(str(rejected)) from rejected
    pt.metrics.add_metric(
        name="InvoiceIssued" if outcome.created else "InvoiceDuplicateIgnored", unit=MetricUnit.Count, value=1
    )
    pt.logger.info(
        "invoicing",
        extra={"shipment_id": outcome.shipment_id, "invoice_id": outcome.invoice_id, "new_invoice": outcome.created},
    )


lambda_handler = pt.envelope_batch_handler(SHIPMENT_CONFIRMED, "invoicing", _handle, feed=Feed.BUS, admit=_admit)


def _admit_return(delivery: Delivery) -> None:
    logic.admit_return(delivery.envelope, delivery.source, warehouse_sites())


def _handle_return(delivery: Delivery) -> None:
    try:
        outcome = logic.credit(delivery.envelope)
    except ReturnRejected as rejected:
        raise Refused(str(rejected)) from rejected
    pt.metrics.add_metric(
        name="CreditMemoIssued" if outcome.created else "CreditMemoDuplicateIgnored", unit=MetricUnit.Count, value=1
    )
    pt.logger.info(
        "credit memo",
        extra={"rma_id": outcome.shipment_id, "credit_memo_id": outcome.invoice_id, "new_credit_memo": outcome.created},
    )


returns_handler = pt.envelope_batch_handler(
    RETURN_RECEIVED, "returns", _handle_return, feed=Feed.BUS, admit=_admit_return
)

synchub_core.init_done()  # the end of this function's init: see synchub_core/__init__.py
