"""The canonical event envelope carried in EventBridge ``detail`` and in SQS bodies."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .basics import Refused as Refused
from .basics import iso as iso
from .basics import now_iso as now_iso
from .basics import utcnow as utcnow

EVENT_SOURCE_PREFIX = "synchub."


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


# what every EventBridge event has. ``account`` is left out: EventBridge always sends it, but moto's
# SQS target (the emulator under the component tests and the local hub) drops it, and no check
# relies on it; when present it must be a string like the others.
EVENTBRIDGE_MEMBERS = ("version", "id", "detail-type", "source", "time", "region", "detail")


class BusEvent(BaseModel):
    """A whole EventBridge event, as a rule's SQS target delivers it (the envelope in ``detail``).
    Members EventBridge may add (``resources``, ``replay-name``) are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    version: str
    id: str = Field(min_length=1)
    detail_type: str = Field(alias="detail-type", min_length=1)
    source: str = Field(min_length=1)
    account: str | None = None
    time: datetime
    region: str
    detail: EventEnvelope


def _describe(raw: dict[str, Any]) -> str:
    """Which message this is, in words that carry no payload: its type and id, where it has them."""
    kind = raw.get("event_type") if isinstance(raw.get("event_type"), str) else "message"
    event_id = raw.get("event_id")
    return f"{kind} {event_id}" if isinstance(event_id, str) else str(kind)


def from_bus_message(body: str) -> BusEvent:
    """The EventBridge event in an SQS message body of a bus-fed queue (one only a rule feeds).

    Raises :class:`Refused` for anything but a whole EventBridge event whose ``detail-type`` is the
    envelope's ``event_type`` (a bare envelope was sent straight to the queue, bypassing the bus and
    its source checks), json's or pydantic's ``ValueError`` for a body that is no event at all.
    """
    raw = json.loads(body)
    if not isinstance(raw, dict):
        raise Refused(f"not an EventBridge event: the body is a JSON {type(raw).__name__}, not an object")
    missing = [m for m in EVENTBRIDGE_MEMBERS if m not in raw]
    if missing:
        if "detail" not in raw and "event_type" in raw:
            raise Refused(
                f"bare message on a bus-fed queue: {_describe(raw)} was sent straight to the queue; "
                "it takes only whole EventBridge events delivered by its rule"
            )
        raise Refused(f"not an EventBridge event: {', '.join(missing)} missing")
    event = BusEvent.model_validate(raw)
    if event.detail_type != event.detail.event_type:
        raise Refused(
            f"detail-type {event.detail_type} does not match the envelope's event_type "
            f"{event.detail.event_type} (event {event.detail.event_id})"
        )
    return event


def from_producer_message(body: str) -> EventEnvelope:
    """The bare envelope in an SQS message body of a queue producers send to directly.

    A whole EventBridge event is refused: no rule feeds such a queue, so its ``source`` would be
    whatever the sender wrote."""
    raw = json.loads(body)
    if isinstance(raw, dict) and "detail" in raw and "detail-type" in raw:
        raise Refused(
            "EventBridge event on a directly fed queue: producers send the bare envelope here, "
            f"not a whole event ({_describe(raw['detail']) if isinstance(raw['detail'], dict) else 'no envelope'})"
        )
    return EventEnvelope.model_validate(raw)
