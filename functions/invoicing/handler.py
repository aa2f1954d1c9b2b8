"""Invoicing worker: EventBridge ``ShipmentConfirmed`` -> SQS -> this Lambda."""
from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from synchub_core.envelope import from_message_body

from . import logic
from .models import SHIPMENT_CONFIRMED

logger = Logger(service="invoicing")
tracer = Tracer(service="invoicing")
metrics = Metrics(namespace="synchub", service="invoicing")
processor = BatchProcessor(event_type=EventType.SQS)


def _record_handler(record: SQSRecord) -> None:
    envelope = from_message_body(record.body)
    if envelope.event_type != SHIPMENT_CONFIRMED:
        raise ValueError(f"invoicing queue does not take {envelope.event_type}")
    outcome = logic.issue(envelope)
    metrics.add_metric(name="InvoiceIssued" if outcome.created else "InvoiceDuplicateIgnored",
                       unit=MetricUnit.Count, value=1)
    logger.info("invoicing", extra={"shipment_id": outcome.shipment_id, "invoice_id": outcome.invoice_id,
                                    "new_invoice": outcome.created})


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: Any) -> dict:
    return process_partial_response(event=event, record_handler=_record_handler,
                                    processor=processor, context=context)
