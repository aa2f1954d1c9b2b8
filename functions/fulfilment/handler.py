"""Fulfilment workers, fed by EventBridge rules through SQS:

* ``release_handler``: ``OrderReserved`` (from reservation) -> the order RELEASED to its
  warehouse(s) with OrderReleased;
* ``warehouse_handler``: ``ReleaseAcknowledged`` and ``OrderCancellationAnswered`` from a
  registered warehouse site (``wms.<site>``) about its own warehouse.

Refusals are dead-lettered with their reason (synchub_core.lambda_support)."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

import synchub_core
from synchub_core.config import warehouse_sites
from synchub_core.lambda_support import Delivery, Feed, Powertools

from . import logic
from .models import ORDER_RESERVED, ORDER_RESERVED_SOURCES, WAREHOUSE_ANSWERS

pt = Powertools.for_service("fulfilment")


def _release(delivery: Delivery) -> None:
    result = logic.release(delivery.envelope, warehouse_sites())
    pt.metrics.add_metric(name=f"Release{result.title()}", unit=MetricUnit.Count, value=1)
    pt.logger.info("release", extra={"order_id": delivery.envelope.entity_id, "result": result})


release_handler = pt.envelope_batch_handler(
    ORDER_RESERVED, "release", _release, feed=Feed.BUS, sources=ORDER_RESERVED_SOURCES
)


def _admit(delivery: Delivery) -> None:
    logic.admit(delivery.envelope, delivery.source, warehouse_sites())


def _answer(delivery: Delivery) -> None:
    envelope = delivery.envelope
    result = logic.answer(envelope, warehouse_sites())
    pt.metrics.add_metric(name=f"WarehouseAnswer{result.title()}", unit=MetricUnit.Count, value=1)
    pt.logger.info(
        "warehouse answer",
        extra={"event_type": envelope.event_type, "order_id": envelope.data.get("order_id"), "result": result},
    )


warehouse_handler = pt.envelope_batch_handler(
    WAREHOUSE_ANSWERS, "warehouse-answers", _answer, feed=Feed.BUS, admit=_admit
)

synchub_core.init_done()  # the end of this function's init: see synchub_core/__init__.py
