"""The canonical event envelope carried in EventBridge ``detail`` and in SQS bodies."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

EVENT_SOURCE_PREFIX = "synchub."


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_iso() -> str:
    """The current time as the hub stores it (UTC, milliseconds, ``Z``)."""
    return iso(utcnow())


class EventEnvelope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str = Field(min_length=1, max_length=128)
    event_type: str = Field(pattern=r"^[A-Z][A-Za-z]+$", max_length=64)
    event_version: str = Field(pattern=r"^\d+(\.\d+)?$")
    occurred_at: datetime
    correlation_id: str = Field(min_length=1, max_length=128)
    causation_id: str | None = Field(default=None, max_length=128)
    source_system: str = Field(min_length=1, max_length=64)
    entity_id: str = Field(min_length=1, max_length=256)
    sequence: int = Field(ge=0)
    data: dict[str, Any]

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("occurred_at must carry a timezone offset")
        return v

    def to_detail(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def new_event(
    event_type: str,
    entity_id: str,
    sequence: int,
    data: dict[str, Any],
    *,
    correlation_id: str,
    causation_id: str | None,
    source_system: str = "synchub",
    event_version: str = "1",
    event_id: str | None = None,
    occurred_at: datetime | None = None,
) -> EventEnvelope:
    return EventEnvelope(
        event_id=event_id or str(uuid.uuid4()),
        event_type=event_type,
        event_version=event_version,
        occurred_at=occurred_at or utcnow(),
        correlation_id=correlation_id,
        causation_id=causation_id,
        source_system=source_system,
        entity_id=entity_id,
        sequence=sequence,
        data=data,
    )


def deterministic_event_id(*parts: str) -> str:
    """An event id derived from what caused it, so a retried handler emits the *same* id."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "synchub:" + ":".join(parts)))


def from_message_body(body: str) -> EventEnvelope:
    """The envelope in an SQS message body: either a whole EventBridge event delivered by a
    rule target (envelope in ``detail``) or a bare envelope sent straight to the queue."""
    raw = json.loads(body)
    if isinstance(raw, dict) and "detail" in raw and "detail-type" in raw:
        raw = raw["detail"]
    return EventEnvelope.model_validate(raw)
