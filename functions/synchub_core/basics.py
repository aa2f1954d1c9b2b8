"""What every function needs without pydantic: the hub's clock and its refusal verdict.

Kept apart from :mod:`synchub_core.envelope` (which re-exports them) so that a function that
never validates an envelope, the outbox publisher and the channel authorizer, does not import
pydantic on its cold start (benchmarks/coldstart.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import TypeVar

T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_iso() -> str:
    """The current time as the hub stores it (UTC, milliseconds, ``Z``)."""
    return iso(utcnow())


class Refused(Exception):
    """A message the hub will not take, whatever it is retried: the worker dead-letters it at once
    with ``reason`` (a readable sentence naming ids, never personal data) instead of retrying it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def batches(items: Iterable[T], size_of: Callable[[T], int], max_count: int, max_bytes: int) -> Iterator[list[T]]:
    """``items`` in order, in batches of at most ``max_count`` items and ``max_bytes`` by
    ``size_of`` (an item larger than ``max_bytes`` goes alone): the limits of AWS batch calls
    (PutEvents, SendMessageBatch: 10 entries, 256 KB a call)."""
    batch: list[T] = []
    size = 0
    for item in items:
        n = size_of(item)
        if batch and (len(batch) == max_count or size + n > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += n
    if batch:
        yield batch


__all__ = ["Refused", "batches", "iso", "now_iso", "utcnow"]
