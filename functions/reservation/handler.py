"""Reservation worker: EventBridge ``OrderAccepted`` -> SQS -> this Lambda."""
from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from synchub_core.envelope import from_message_body

from . import logic

logger = Logger(service="reservation")
tracer = Tracer(service="reservation")
metrics = Metrics(namespace="synchub", service="reservation")
processor = BatchProcessor(event_type=EventType.SQS)


def _record_handler(record: SQSRecord) -> None:
    envelope = from_message_body(record.body)
    if envelope.event_type != "OrderAccepted":
        raise ValueError(f"reservation queue does not take {envelope.event_type}")
    outcome = logic.reserve(envelope)
    metrics.add_metric(name=f"Reservation{outcome.result.title()}", unit=MetricUnit.Count, value=1)
    logger.info("reservation", extra={"order_id": outcome.order_id, "result": outcome.result})


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: Any) -> dict:
    return process_partial_response(event=event, record_handler=_record_handler,
                                    processor=processor, context=context)
