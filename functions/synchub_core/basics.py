"""What every function needs without pydantic: the hub's clock and its refusal verdict.

Kept apart from :mod:`synchub_core.envelope` (which re-exports them) so that a function that
never validates an envelope, the outbox publisher and the channel authorizer, does not import
pydantic on its cold start (benchmarks/coldstart.py)."""

from __future__ import annotations

from datetime import UTC, datetime


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


__all__ = ["Refused", "iso", "now_iso", "utcnow"]
