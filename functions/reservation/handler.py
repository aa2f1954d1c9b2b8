"""Reservation worker: EventBridge ``OrderAccepted`` -> SQS -> ``lambda_handler``; a schedule runs
``backorder_handler`` to reserve backorders once stock allows."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from orders.api import ORDER_ACCEPTED
from synchub_core.envelope import EventEnvelope
from synchub_core.lambda_support import Powertools

from . import logic

pt = Powertools.for_service("reservation")


def _handle(envelope: EventEnvelope) -> None:
    outcome = logic.reserve(envelope)
    pt.metrics.add_metric(name=f"Reservation{outcome.result.title()}", unit=MetricUnit.Count, value=1)
    pt.logger.info("reservation", extra={"order_id": outcome.order_id, "result": outcome.result})


lambda_handler = pt.envelope_batch_handler(ORDER_ACCEPTED, "reservation", _handle)


def _log_backorder(outcome: logic.Outcome) -> None:
    with pt.correlated(outcome.correlation_id):
        pt.logger.info("backorder retried", extra={"order_id": outcome.order_id, "result": outcome.result})


def _backorder_sweep(event: dict, context: object) -> dict:
    counts = logic.sweep_backorders(causation_id=f"schedule:{event.get('id', 'manual')}", observe=_log_backorder)
    if counts["reserved"]:
        pt.metrics.add_metric(name="BackorderReserved", unit=MetricUnit.Count, value=counts["reserved"])
    pt.logger.info("backorder sweep", extra=counts)
    return counts


backorder_handler = pt.handler(_backorder_sweep)
