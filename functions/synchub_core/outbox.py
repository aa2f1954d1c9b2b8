"""Transactional outbox: the item every domain writes with its state change
(docs/decisions/0001-transactional-outbox.md).

Every state change writes its event as an ``OUTBOX#<event_id>`` item *in the same DynamoDB
transaction* as the state itself. The ``outbox`` domain publishes it to EventBridge by two
independent paths:

* the table's stream feeds the publisher Lambda within about a second (fast path);
* the sweeper (an EventBridge schedule, and ``synchub replay`` for the stream's DLQ) queries the
  sparse ``outbox-pending`` index for anything the stream path did not mark as published.

An outbox item leaves the pending index only after EventBridge accepted the entry, so an event
can be published more than once but never lost; consumers are idempotent per entity state. An
event EventBridge would never take (larger than one entry) is refused here, before the state
change is written, instead of staying pending for ever.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .basics import Refused, now_iso
from .ddb import put

if TYPE_CHECKING:  # the outbox publisher reads outbox items without pydantic
    from .envelope import EventEnvelope

OUTBOX_ITEM_TYPE = "OUTBOX"
PENDING_INDEX = "outbox-pending"
PENDING_PARTITION = "PENDING"
# what EventBridge takes in one PutEvents entry (source + detail-type + detail, UTF-8: less than 256 KB),
# less 1 KB for the envelope an SQS target gets it in (SQS takes 256 KB a message)
EVENT_ENTRY_MAX_BYTES = 255 * 1024
ENTRY_FIELDS = ("source", "detail_type", "detail")  # what EventBridge counts of an outbox item's entry


class EventTooLarge(Refused):
    """An event larger than one EventBridge entry: it could never be published, so the change that
    writes it is refused with the reason (nothing written; a worker dead-letters its message)."""

    def __init__(self, event_type: str, size: int) -> None:
        self.measure = (
            f"its {event_type} would be {size:,} bytes, more than the {EVENT_ENTRY_MAX_BYTES:,} "
            "EventBridge takes in one event"
        )
        super().__init__(f"{self.measure}; nothing was written")


def entry_size(item: Mapping[str, Any]) -> int:
    """What EventBridge counts of an outbox item's entry: its source, detail type and detail, in UTF-8."""
    return sum(len(str(item.get(k) or "").encode()) for k in ENTRY_FIELDS)


def outbox_key(event_id: str) -> dict[str, str]:
    return {"pk": f"OUTBOX#{event_id}", "sk": "OUTBOX"}


def outbox_put(table: str, event: EventEnvelope, source: str) -> dict[str, Any]:
    """The TransactWriteItems entry that records ``event`` for publication. Raises
    :class:`EventTooLarge` for an event larger than ``EVENT_ENTRY_MAX_BYTES``."""
    item = {
        **outbox_key(event.event_id),
        "item_type": OUTBOX_ITEM_TYPE,
        "event_id": event.event_id,
        "source": source,
        "detail_type": event.event_type,
        "detail": json.dumps(event.to_detail(), separators=(",", ":")),
        "created_at": now_iso(),
        "outbox_status": PENDING_PARTITION,
    }
    size = entry_size(item)
    if size > EVENT_ENTRY_MAX_BYTES:
        raise EventTooLarge(event.event_type, size)
    return put(table, item, condition="attribute_not_exists(pk)")


__all__ = [
    "EVENT_ENTRY_MAX_BYTES",
    "OUTBOX_ITEM_TYPE",
    "PENDING_INDEX",
    "PENDING_PARTITION",
    "EventTooLarge",
    "entry_size",
    "outbox_key",
    "outbox_put",
]
