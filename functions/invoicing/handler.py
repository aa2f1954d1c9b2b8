"""Invoicing worker: EventBridge ``ShipmentConfirmed`` -> SQS -> this Lambda."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from synchub_core.envelope import EventEnvelope
from synchub_core.lambda_support import Powertools

from . import logic
from .models import SHIPMENT_CONFIRMED

pt = Powertools.for_service("invoicing")


def _handle(envelope: EventEnvelope) -> None:
    outcome = logic.issue(envelope)
    pt.metrics.add_metric(
        name="InvoiceIssued" if outcome.created else "InvoiceDuplicateIgnored", unit=MetricUnit.Count, value=1
    )
    pt.logger.info(
        "invoicing",
        extra={"shipment_id": outcome.shipment_id, "invoice_id": outcome.invoice_id, "new_invoice": outcome.created},
    )


lambda_handler = pt.envelope_batch_handler(SHIPMENT_CONFIRMED, "invoicing", _handle)
