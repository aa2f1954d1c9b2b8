"""WMS inventory events from SQS, with partial batch failure reporting."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from synchub_core.lambda_support import Powertools, envelope_of

from . import logic
from .models import POSITION_REPORTED

pt = Powertools.for_service("inventory")


def _record_handler(record: SQSRecord) -> None:
    envelope = envelope_of(record, POSITION_REPORTED, "inventory")
    report, applied = logic.apply(envelope)
    pt.metrics.add_metric(name="PositionApplied" if applied else "PositionStaleIgnored", unit=MetricUnit.Count, value=1)
    if not applied:
        pt.logger.info(
            "stale or duplicate inventory report ignored",
            extra={
                "sku": report.sku,
                "location_id": report.location_id,
                "sequence": envelope.sequence,
                "event_id": envelope.event_id,
            },
        )


lambda_handler = pt.batch_handler(EventType.SQS, _record_handler)
