"""Reservation workers: EventBridge ``OrderAccepted`` -> SQS -> ``lambda_handler`` reserves (or
backorders) an order; ``StockAvailable`` -> SQS -> ``stock_available_handler`` retries the
backorders waiting for the SKUs that became available, oldest first; a schedule runs
``backorder_handler``, the safety net that pages through every open backorder."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

import synchub_core
from orders.api import ORDER_ACCEPTED
from synchub_core.lambda_support import Delivery, Feed, Powertools

from . import logic
from .models import ORDER_ACCEPTED_SOURCES, STOCK_AVAILABLE, STOCK_AVAILABLE_SOURCES

pt = Powertools.for_service("reservation")


def _handle(delivery: Delivery) -> None:
    outcome = logic.reserve(delivery.envelope)
    pt.metrics.add_metric(name=f"Reservation{outcome.result.title()}", unit=MetricUnit.Count, value=1)
    pt.logger.info("reservation", extra={"order_id": outcome.order_id, "result": outcome.result})


# only whole EventBridge events from the orders domain: a bare envelope sent to the queue is refused
lambda_handler = pt.envelope_batch_handler(
    ORDER_ACCEPTED, "reservation", _handle, feed=Feed.BUS, sources=ORDER_ACCEPTED_SOURCES
)


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


def _serve(delivery: Delivery) -> None:
    envelope = delivery.envelope
    skus = [str(sku) for sku in envelope.data.get("skus", [])]
    counts = logic.serve_waiting(skus, causation_id=envelope.event_id, observe=_log_backorder)
    if counts["reserved"]:
        pt.metrics.add_metric(name="BackorderReserved", unit=MetricUnit.Count, value=counts["reserved"])
    pt.logger.info("backorders served", extra={"skus": skus[:20], **counts})


# StockAvailable from whichever domain released or received stock: a report (inventory), a
# cancellation (orders), a short close or a return (invoicing)
stock_available_handler = pt.envelope_batch_handler(
    STOCK_AVAILABLE, "stock-available", _serve, feed=Feed.BUS, sources=STOCK_AVAILABLE_SOURCES
)

synchub_core.init_done()  # the end of this function's init: see synchub_core/__init__.py
