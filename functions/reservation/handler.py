"""Reservation worker: EventBridge ``OrderAccepted`` -> SQS -> this Lambda."""
from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from synchub_core.lambda_support import Powertools, envelope_of

from . import logic

pt = Powertools.for_service("reservation")


def _record_handler(record: SQSRecord) -> None:
    outcome = logic.reserve(envelope_of(record, "OrderAccepted", "reservation"))
    pt.metrics.add_metric(name=f"Reservation{outcome.result.title()}", unit=MetricUnit.Count, value=1)
    pt.logger.info("reservation", extra={"order_id": outcome.order_id, "result": outcome.result})


lambda_handler = pt.batch_handler(EventType.SQS, _record_handler)
