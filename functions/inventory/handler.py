"""WMS inventory events from SQS, with partial batch failure reporting."""
from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from synchub_core.envelope import EventEnvelope

from . import repository
from .models import POSITION_REPORTED, PositionReport

logger = Logger(service="inventory")
tracer = Tracer(service="inventory")
metrics = Metrics(namespace="synchub", service="inventory")
processor = BatchProcessor(event_type=EventType.SQS)


class UnsupportedEvent(ValueError):
    pass


def handle(envelope: EventEnvelope) -> bool:
    if envelope.event_type != POSITION_REPORTED:
        raise UnsupportedEvent(f"inventory queue does not take {envelope.event_type}")
    report = PositionReport.model_validate(envelope.data)
    applied = repository.apply_report(report, envelope.sequence, envelope.event_id)
    metrics.add_metric(name="PositionApplied" if applied else "PositionStaleIgnored",
                       unit=MetricUnit.Count, value=1)
    if not applied:
        logger.info("stale or duplicate inventory report ignored",
                    extra={"sku": report.sku, "location_id": report.location_id,
                           "sequence": envelope.sequence, "event_id": envelope.event_id})
    return applied


def _record_handler(record: SQSRecord) -> None:
    handle(EventEnvelope.model_validate_json(record.body))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: Any) -> dict:
    return process_partial_response(event=event, record_handler=_record_handler,
                                    processor=processor, context=context)
