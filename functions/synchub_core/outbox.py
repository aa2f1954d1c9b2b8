"""Transactional outbox.

Every state change writes its event as an ``OUTBOX#<event_id>`` item *in the same DynamoDB
transaction* as the state itself. Two independent paths publish it to EventBridge:

* the table's stream feeds the publisher Lambda within about a second (fast path);
* the sweeper (an EventBridge schedule, and ``synchub replay`` for the stream's DLQ) queries the
  sparse ``outbox-pending`` index for anything the stream path did not mark as published.

An outbox item leaves the pending index only after EventBridge accepted the entry, so an event
can be published more than once but never lost; consumers are idempotent per entity state.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from .aws import client
from .ddb import get, put, query_all, values
from .envelope import EventEnvelope, iso, utcnow

OUTBOX_ITEM_TYPE = "OUTBOX"
PENDING_INDEX = "outbox-pending"
PENDING_PARTITION = "PENDING"
PUBLISHED_RETENTION = timedelta(days=7)
PUT_EVENTS_MAX = 10


def outbox_put(table: str, event: EventEnvelope, source: str) -> dict[str, Any]:
    """The TransactWriteItems entry that records ``event`` for publication."""
    return put(
        table,
        {
            "pk": f"OUTBOX#{event.event_id}",
            "sk": "OUTBOX",
            "item_type": OUTBOX_ITEM_TYPE,
            "event_id": event.event_id,
            "source": source,
            "detail_type": event.event_type,
            "detail": json.dumps(event.to_detail(), separators=(",", ":")),
            "created_at": iso(utcnow()),
            "outbox_status": PENDING_PARTITION,
        },
        condition="attribute_not_exists(pk)",
    )


def _entry(item: dict[str, Any], bus: str) -> dict[str, Any]:
    return {
        "Source": item["source"],
        "DetailType": item["detail_type"],
        "Detail": item["detail"],
        "EventBusName": bus,
    }


def publish(items: Iterable[dict[str, Any]], table: str, bus: str) -> list[tuple[dict[str, Any], str]]:
    """Publish outbox items to EventBridge and mark the accepted ones as published.

    Returns ``(item, error)`` for every item EventBridge did not accept.
    """
    events = client("events")
    ddb = client("dynamodb")
    pending = list(items)
    failed: list[tuple[dict[str, Any], str]] = []
    for start in range(0, len(pending), PUT_EVENTS_MAX):
        chunk = pending[start : start + PUT_EVENTS_MAX]
        resp = events.put_events(Entries=[_entry(i, bus) for i in chunk])
        for item, result in zip(chunk, resp["Entries"], strict=True):  # one result per entry, in order
            if result.get("ErrorCode"):
                failed.append((item, f"{result['ErrorCode']}: {result.get('ErrorMessage', '')}"))
                continue
            now = utcnow()
            try:
                ddb.update_item(
                    TableName=table,
                    Key={"pk": {"S": item["pk"]}, "sk": {"S": "OUTBOX"}},
                    UpdateExpression="SET published_at = if_not_exists(published_at, :now), "
                    "eventbridge_id = if_not_exists(eventbridge_id, :eb), expires_at = :exp "
                    "REMOVE outbox_status",
                    ConditionExpression="attribute_exists(pk)",
                    ExpressionAttributeValues=values(
                        now=iso(now), eb=result.get("EventId", ""), exp=int((now + PUBLISHED_RETENTION).timestamp())
                    ),
                )
            except ddb.exceptions.ConditionalCheckFailedException:
                pass  # already expired / deleted: nothing left to mark
    return failed


def pending_items(table: str, older_than: timedelta = timedelta(0), max_items: int = 500) -> list[dict[str, Any]]:
    """Outbox items still pending after ``older_than``, oldest first, at most ``max_items`` (a
    sweep stays well inside its Lambda timeout; the next run takes the rest)."""
    keys = query_all(
        TableName=table,
        IndexName=PENDING_INDEX,
        KeyConditionExpression="outbox_status = :p AND created_at <= :c",
        ExpressionAttributeValues=values(p=PENDING_PARTITION, c=iso(utcnow() - older_than)),
    )[:max_items]
    # the index projects keys only and is eventually consistent: read each item strongly
    # consistent so a just-published item is skipped instead of published again
    items = (get(table, {"pk": key["pk"], "sk": key["sk"]}) for key in keys)
    return [item for item in items if item and item.get("outbox_status") == PENDING_PARTITION]


__all__ = ["OUTBOX_ITEM_TYPE", "PENDING_INDEX", "outbox_put", "pending_items", "publish"]
