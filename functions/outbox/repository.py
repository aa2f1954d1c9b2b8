"""Outbox items in the orders table and the EventBridge bus they are published to. The item's
shape is the shared kernel's (``synchub_core.outbox``); this module reads and retires them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from synchub_core import ddb
from synchub_core.aws import client
from synchub_core.basics import iso, utcnow
from synchub_core.config import settings
from synchub_core.outbox import PENDING_INDEX, PENDING_PARTITION, outbox_key

from .models import PUBLISHED_RETENTION


def is_pending(item: dict[str, Any] | None) -> bool:
    return item is not None and item.get("outbox_status") == PENDING_PARTITION


def current(event_id: str) -> dict[str, Any] | None:
    """The outbox item as it is now (strongly consistent)."""
    return ddb.get(settings().orders_table, outbox_key(event_id))


def pending_items(older_than: timedelta, max_items: int) -> list[dict[str, Any]]:
    """Outbox items still pending after ``older_than``, oldest first, at most ``max_items``."""
    table = settings().orders_table
    keys = ddb.query_all(
        TableName=table,
        IndexName=PENDING_INDEX,
        KeyConditionExpression="outbox_status = :p AND created_at <= :c",
        ExpressionAttributeValues=ddb.values(p=PENDING_PARTITION, c=iso(utcnow() - older_than)),
    )[:max_items]
    # the index projects keys only and is eventually consistent: read each item strongly
    # consistent so a just-published item is skipped instead of published again
    items = (ddb.get(table, {"pk": key["pk"], "sk": key["sk"]}) for key in keys)
    return [item for item in items if item is not None and is_pending(item)]


def put_events(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One PutEvents call for ``items`` (at most 10); one result per item, in order."""
    bus = settings().event_bus_name
    entries = [
        {"Source": i["source"], "DetailType": i["detail_type"], "Detail": i["detail"], "EventBusName": bus}
        for i in items
    ]
    return list(client("events").put_events(Entries=entries)["Entries"])


def mark_published(item: dict[str, Any], eventbridge_id: str, now: datetime) -> None:
    """Take the item out of the pending index and let it expire (TTL) after the retention."""
    ddb_client = client("dynamodb")
    try:
        ddb_client.update_item(
            TableName=settings().orders_table,
            Key=ddb.to_ddb({"pk": item["pk"], "sk": item["sk"]}),
            UpdateExpression="SET published_at = if_not_exists(published_at, :now), "
            "eventbridge_id = if_not_exists(eventbridge_id, :eb), expires_at = :exp "
            "REMOVE outbox_status",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues=ddb.values(
                now=iso(now), eb=eventbridge_id, exp=int((now + PUBLISHED_RETENTION).timestamp())
            ),
        )
    except ddb_client.exceptions.ConditionalCheckFailedException:
        pass  # already expired / deleted: nothing left to mark
