"""Outbox publishers.

* ``stream_handler``: DynamoDB Streams (filtered to new OUTBOX items) -> EventBridge, reporting
  partial batch failures so only the failed record and its successors are retried.
* ``sweep_handler``: scheduled safety net; publishes outbox items still pending after a grace
  period (the stream path failed, was disabled, or exhausted its retries into the DLQ).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import EventType
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

import synchub_core
from synchub_core.lambda_support import Powertools

from . import logic
from .models import SWEEP_GRACE, PublishFailed

pt = Powertools.for_service("outbox")
logger, metrics = pt.logger, pt.metrics


def _record_handler(record: DynamoDBRecord) -> None:
    image = record.dynamodb.new_image if record.dynamodb else None
    outcome = logic.publish_stream_image(image)
    if outcome == "published":
        metrics.add_metric(name="OutboxPublished", unit=MetricUnit.Count, value=1)
    elif outcome == "already-published" and image:
        metrics.add_metric(name="OutboxAlreadyPublished", unit=MetricUnit.Count, value=1)
        # the envelope's correlation id is read only for this (rare) line, not for every event
        with pt.correlated(logic.correlation_of(image)):
            logger.info("outbox event already published", extra={"event_id": image.get("event_id")})


stream_handler = pt.batch_handler(EventType.DynamoDBStreams, _record_handler)


def sweep(grace: timedelta = SWEEP_GRACE) -> dict[str, int]:
    """One sweep with its log line and metric (what the schedule and ``synchub replay`` run).

    Raises :class:`PublishFailed` if any event stayed unpublished (the run fails into its DLQ)."""
    outcome = logic.sweep(grace)
    result = outcome.as_dict()
    for event_id, correlation_id, detail_type in outcome.published_events:
        with pt.correlated(correlation_id):
            logger.info("outbox event published by the sweep", extra={"event_id": event_id, "detail_type": detail_type})
    if outcome.found:
        logger.warning("outbox sweep published events the stream path had not", extra=result)
        metrics.add_metric(name="OutboxSwept", unit=MetricUnit.Count, value=outcome.published)
    if outcome.failed:
        raise PublishFailed(f"{outcome.failed} outbox events still unpublished: {outcome.first_error}")
    return result


def _sweep_handler(event: dict, context: Any) -> dict:
    grace = (
        timedelta(seconds=int(event.get("grace_seconds", SWEEP_GRACE.total_seconds())))
        if isinstance(event, dict)
        else SWEEP_GRACE
    )
    return sweep(grace)


sweep_handler = pt.handler(_sweep_handler)

synchub_core.init_done()  # the end of this function's init: see synchub_core/__init__.py
