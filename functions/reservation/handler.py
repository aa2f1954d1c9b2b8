"""Reservation worker: EventBridge ``OrderAccepted`` -> SQS -> ``lambda_handler``; a schedule runs
``backorder_handler`` to reserve backorders once stock allows."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from orders.api import ORDER_ACCEPTED
from synchub_core.lambda_support import Powertools, envelope_of

from . import logic

pt = Powertools.for_service("reservation")


def _record_handler(record: SQSRecord) -> None:
    outcome = logic.reserve(envelope_of(record, ORDER_ACCEPTED, "reservation"))
    pt.metrics.add_metric(name=f"Reservation{outcome.result.title()}", unit=MetricUnit.Count, value=1)
    pt.logger.info("reservation", extra={"order_id": outcome.order_id, "result": outcome.result})


lambda_handler = pt.batch_handler(EventType.SQS, _record_handler)


def _backorder_sweep(event: dict, context: object) -> dict:
    counts = logic.sweep_backorders(causation_id=f"schedule:{event.get('id', 'manual')}")
    if counts["reserved"]:
        pt.metrics.add_metric(name="BackorderReserved", unit=MetricUnit.Count, value=counts["reserved"])
    pt.logger.info("backorder sweep", extra=counts)
    return counts


backorder_handler = pt.handler(_backorder_sweep)
