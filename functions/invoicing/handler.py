"""Invoicing worker: EventBridge ``ShipmentConfirmed`` -> SQS -> this Lambda."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from synchub_core.lambda_support import Powertools, envelope_of

from . import logic
from .models import SHIPMENT_CONFIRMED

pt = Powertools.for_service("invoicing")


def _record_handler(record: SQSRecord) -> None:
    outcome = logic.issue(envelope_of(record, SHIPMENT_CONFIRMED, "invoicing"))
    pt.metrics.add_metric(
        name="InvoiceIssued" if outcome.created else "InvoiceDuplicateIgnored", unit=MetricUnit.Count, value=1
    )
    pt.logger.info(
        "invoicing",
        extra={"shipment_id": outcome.shipment_id, "invoice_id": outcome.invoice_id, "new_invoice": outcome.created},
    )


lambda_handler = pt.batch_handler(EventType.SQS, _record_handler)
