"""The outbox publisher's settings and failures."""

from __future__ import annotations

from datetime import timedelta

SWEEP_GRACE = timedelta(seconds=60)  # younger pending items are left to the stream path
SWEEP_MAX_ITEMS = 500  # a sweep stays well inside its Lambda timeout; the next run takes the rest
PUBLISHED_RETENTION = timedelta(days=7)  # a published item expires (TTL) after this
PUT_EVENTS_MAX = 10  # EventBridge PutEvents entries per call
PUT_EVENTS_MAX_BYTES = 256 * 1024  # and the size of the call's entries together (source, type, detail)


class PublishFailed(Exception):
    """EventBridge did not accept an entry; the item stays pending (retried, swept, replayed)."""
