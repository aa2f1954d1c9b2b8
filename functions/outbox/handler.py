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

from synchub_core import ddb, outbox
from synchub_core.config import settings
from synchub_core.lambda_support import Powertools

pt = Powertools.for_service("outbox")
logger, metrics = pt.logger, pt.metrics

SWEEP_GRACE = timedelta(seconds=60)


class PublishFailed(Exception):
    pass


def _record_handler(record: DynamoDBRecord) -> None:
    image = record.dynamodb.new_image if record.dynamodb else None
    if not image or image.get("item_type") != outbox.OUTBOX_ITEM_TYPE:
        return  # filtered out in AWS already; tolerate unfiltered local or replayed streams
    if image.get("outbox_status") != outbox.PENDING_PARTITION:
        return
    cfg = settings()
    # the stream image is how the item was written; a retried batch or a record arriving after
    # the sweeper already published it would publish again. One consistent read avoids that.
    current = ddb.get(cfg.orders_table, {"pk": image["pk"], "sk": image["sk"]})
    if current is None or current.get("outbox_status") != outbox.PENDING_PARTITION:
        metrics.add_metric(name="OutboxAlreadyPublished", unit=MetricUnit.Count, value=1)
        return
    failed = outbox.publish([current], cfg.orders_table, cfg.event_bus_name)
    if failed:
        raise PublishFailed(failed[0][1])
    metrics.add_metric(name="OutboxPublished", unit=MetricUnit.Count, value=1)


stream_handler = pt.batch_handler(EventType.DynamoDBStreams, _record_handler)


def sweep(grace: timedelta = SWEEP_GRACE) -> dict[str, int]:
    cfg = settings()
    items = outbox.pending_items(cfg.orders_table, older_than=grace)
    failed = outbox.publish(items, cfg.orders_table, cfg.event_bus_name)
    result = {"found": len(items), "published": len(items) - len(failed), "failed": len(failed)}
    if items:
        logger.warning("outbox sweep published events the stream path had not", extra=result)
        metrics.add_metric(name="OutboxSwept", unit=MetricUnit.Count, value=result["published"])
    if failed:
        raise PublishFailed(f"{len(failed)} outbox events still unpublished: {failed[0][1]}")
    return result


def _sweep_handler(event: dict, context: Any) -> dict:
    grace = (
        timedelta(seconds=int(event.get("grace_seconds", SWEEP_GRACE.total_seconds())))
        if isinstance(event, dict)
        else SWEEP_GRACE
    )
    return sweep(grace)


sweep_handler = pt.handler(_sweep_handler)
