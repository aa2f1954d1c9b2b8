"""A rate limit per target shared by every function instance: a fixed-window counter item
``RATE#<target>#<window start>`` in the connectors table, added to atomically on the condition that
the window has room (one UpdateItem per acquisition); the items expire (TTL) after two windows."""

from __future__ import annotations

import time
from collections.abc import Callable

from . import logic, repository


class RateLimiter:
    def __init__(
        self,
        target: str,
        per_second: int | None = None,
        per_minute: int | None = None,
        *,
        now: Callable[[], float] = time.time,
    ) -> None:
        if (per_second is None) == (per_minute is None):
            raise ValueError("a RateLimiter takes per_second or per_minute, exactly one")
        limit = per_second if per_second is not None else per_minute
        assert limit is not None
        if limit < 1:
            raise ValueError("a rate limit is at least 1")
        self.target = target
        self.limit = limit
        self.window_seconds = 1 if per_second is not None else 60
        self._now = now

    def try_acquire(self, n: int = 1) -> int:
        """0 when ``n`` calls may go now, else the seconds until the next window (at least 1)."""
        if n > self.limit:
            raise ValueError(f"cannot acquire {n} at once under a limit of {self.limit}")
        now = self._now()
        start, wait = logic.window(now, self.window_seconds)
        expires = start + 2 * self.window_seconds + 60  # TTL deletion is lazy anyway
        if repository.take_from_window(self.target, start, n, self.limit, expires):
            return 0
        return wait
