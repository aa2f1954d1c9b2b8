"""Invoicing worker: EventBridge ``ShipmentConfirmed`` -> SQS -> this Lambda.

Only whole EventBridge events are taken (a bare envelope sent to the queue is refused), and only
from a registered warehouse site about its own warehouse; refusals are dead-lettered with their
reason (synchub_core.lambda_support)."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from synchub_core.config import warehouse_sites
from synchub_core.lambda_support import Delivery, Feed, Powertools

from . import logic
from .models import SHIPMENT_CONFIRMED

pt = Powertools.for_service("invoicing")


def _admit(delivery: Delivery) -> None:
    logic.admit(delivery.envelope, delivery.source, warehouse_sites())


def _handle(delivery: Delivery) -> None:
    outcome = logic.issue(delivery.envelope)
    pt.metrics.add_metric(
        name="InvoiceIssued" if outcome.created else "InvoiceDuplicateIgnored", unit=MetricUnit.Count, value=1
    )
    pt.logger.info(
        "invoicing",
        extra={"shipment_id": outcome.shipment_id, "invoice_id": outcome.invoice_id, "new_invoice": outcome.created},
    )


lambda_handler = pt.envelope_batch_handler(SHIPMENT_CONFIRMED, "invoicing", _handle, feed=Feed.BUS, admit=_admit)
