"""Publishing outbox items to EventBridge: from the table's stream (fast path) and from the
scheduled sweep (safety net). At least once, never lost (docs/decisions/0001-transactional-outbox.md)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from synchub_core.basics import batches, utcnow
from synchub_core.outbox import OUTBOX_ITEM_TYPE, entry_size

from . import repository
from .models import PUT_EVENTS_MAX, PUT_EVENTS_MAX_BYTES, SWEEP_GRACE, SWEEP_MAX_ITEMS, PublishFailed

__all__ = ["SWEEP_GRACE", "PublishFailed", "SweepResult", "publish", "publish_stream_image", "sweep"]


def publish(items: Iterable[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
    """Publish outbox items to EventBridge and mark the accepted ones as published.

    Returns ``(item, error)`` for every item EventBridge did not accept (it stays pending).
    """
    failed: list[tuple[dict[str, Any], str]] = []
    for chunk in chunks(items):
        for item, result in zip(chunk, repository.put_events(chunk), strict=True):
            if result.get("ErrorCode"):
                failed.append((item, f"{result['ErrorCode']}: {result.get('ErrorMessage', '')}"))
                continue
            repository.mark_published(item, result.get("EventId", ""), utcnow())
    return failed


def chunks(items: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """``items`` in PutEvents calls: at most 10 entries and 256 KB of entries a call (ten events of a
    large order would pass the size limit together; one always fits, see orders' event size check)."""
    return batches(items, entry_size, PUT_EVENTS_MAX, PUT_EVENTS_MAX_BYTES)


def correlation_of(item: dict[str, Any]) -> str | None:
    """The correlation id of the envelope an outbox item carries (for the log lines about it)."""
    try:
        detail = json.loads(item.get("detail") or "{}")
    except ValueError:
        return None
    return detail.get("correlation_id") if isinstance(detail, dict) else None


def publish_stream_image(image: dict[str, Any] | None) -> str:
    """A stream record's new image: publish it if it is an outbox item that is still pending.

    Returns ``"published"``, ``"already-published"`` or ``"not-outbox"``; raises
    :class:`PublishFailed` when EventBridge refuses the entry (the batch is retried).
    """
    if not image or image.get("item_type") != OUTBOX_ITEM_TYPE:
        return "not-outbox"  # filtered out in AWS already; tolerate unfiltered local or replayed streams
    if not repository.is_pending(image):
        return "not-outbox"
    # the stream image is how the item was written; a retried batch or a record arriving after
    # the sweeper already published it would publish again. One consistent read avoids that.
    item = repository.current(image["event_id"])
    if item is None or not repository.is_pending(item):
        return "already-published"
    failed = publish([item])
    if failed:
        raise PublishFailed(failed[0][1])
    return "published"


@dataclass(frozen=True)
class SweepResult:
    found: int
    published: int
    failed: int
    first_error: str | None = None
    # (event_id, correlation_id, detail_type) of every event this sweep published
    published_events: list[tuple[str, str | None, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {"found": self.found, "published": self.published, "failed": self.failed}


def sweep(grace: timedelta = SWEEP_GRACE) -> SweepResult:
    """Publish every item still pending after ``grace`` (oldest first, bounded per run)."""
    items = repository.pending_items(older_than=grace, max_items=SWEEP_MAX_ITEMS)
    failed = publish(items)
    refused = {item["event_id"] for item, _ in failed}
    return SweepResult(
        found=len(items),
        published=len(items) - len(failed),
        failed=len(failed),
        first_error=failed[0][1] if failed else None,
        published_events=[
            (i["event_id"], correlation_of(i), i["detail_type"]) for i in items if i["event_id"] not in refused
        ],
    )
