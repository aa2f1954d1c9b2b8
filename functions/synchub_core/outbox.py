"""Transactional outbox: the item every domain writes with its state change
(docs/decisions/0001-transactional-outbox.md).

Every state change writes its event as an ``OUTBOX#<event_id>`` item *in the same DynamoDB
transaction* as the state itself. The ``outbox`` domain publishes it to EventBridge by two
independent paths:

* the table's stream feeds the publisher Lambda within about a second (fast path);
* the sweeper (an EventBridge schedule, and ``synchub replay`` for the stream's DLQ) queries the
  sparse ``outbox-pending`` index for anything the stream path did not mark as published.

An outbox item leaves the pending index only after EventBridge accepted the entry, so an event
can be published more than once but never lost; consumers are idempotent per entity state.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .basics import now_iso
from .ddb import put

if TYPE_CHECKING:  # the outbox publisher reads outbox items without pydantic
    from .envelope import EventEnvelope

OUTBOX_ITEM_TYPE = "OUTBOX"
PENDING_INDEX = "outbox-pending"
PENDING_PARTITION = "PENDING"


def outbox_key(event_id: str) -> dict[str, str]:
    return {"pk": f"OUTBOX#{event_id}", "sk": "OUTBOX"}


def outbox_put(table: str, event: EventEnvelope, source: str) -> dict[str, Any]:
    """The TransactWriteItems entry that records ``event`` for publication."""
    return put(
        table,
        {
            **outbox_key(event.event_id),
            "item_type": OUTBOX_ITEM_TYPE,
            "event_id": event.event_id,
            "source": source,
            "detail_type": event.event_type,
            "detail": json.dumps(event.to_detail(), separators=(",", ":")),
            "created_at": now_iso(),
            "outbox_status": PENDING_PARTITION,
        },
        condition="attribute_not_exists(pk)",
    )


__all__ = ["OUTBOX_ITEM_TYPE", "PENDING_INDEX", "PENDING_PARTITION", "outbox_key", "outbox_put"]
