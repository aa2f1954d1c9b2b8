"""The connectors' shared words: breaker states, the CircuitStateChanged event, business exceptions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

CONNECTORS_SOURCE = "synchub.connectors"
CIRCUIT_STATE_CHANGED = "CircuitStateChanged"

CLOSED, OPEN, HALF_OPEN = "CLOSED", "OPEN", "HALF_OPEN"
BreakerStateName = Literal["CLOSED", "OPEN", "HALF_OPEN"]

# business exception statuses (``exception_status`` is the GSI key, the same value)
EXC_OPEN, EXC_RESUBMITTED, EXC_RESOLVED, EXC_DISCARDED = "OPEN", "RESUBMITTED", "RESOLVED", "DISCARDED"
EXCEPTION_STATUSES = (EXC_OPEN, EXC_RESUBMITTED, EXC_RESOLVED, EXC_DISCARDED)

# message attributes the connectors put on the messages they move
PARKED = "synchub-parked"  # how often the message was parked (Number)
PARKED_REASON = "synchub-parked-reason"
RESUBMIT_OF = "synchub-resubmit-of"  # the exception a resubmitted message comes from

MAX_DELAY_SECONDS = 900  # SQS's limit for DelaySeconds


class CircuitStateChangedData(BaseModel):
    """``data`` of CircuitStateChanged: a target's breaker moved to another state."""

    model_config = ConfigDict(extra="forbid")
    target: str
    previous: BreakerStateName
    state: BreakerStateName
    reason: str
    failures: int
    open_until: str | None
    changed_at: str


class ExceptionHistoryEntry(BaseModel):
    model_config = ConfigDict(extra="allow")
    at: str
    status: str
    reason: str | None = None
    by: str | None = None


class BusinessException(BaseModel):
    """A permanent rejection by a target, kept until an operator resubmits or discards it."""

    model_config = ConfigDict(extra="ignore")
    exception_id: str
    target: str
    entity_type: str
    entity_id: str
    code: str
    reason: str
    status: str
    raised_at: str
    updated_at: str
    attempts: int
    refs: dict[str, Any] = {}
    payload: str | None = None
    resubmit_queue_url: str | None = None
    history: list[ExceptionHistoryEntry] = []


@dataclass(frozen=True)
class BreakerConfig:
    failure_threshold: int = 5
    open_seconds: int = 15
    max_open_seconds: int = 300
    probe_seconds: int = 30


@dataclass(frozen=True)
class BreakerState:
    """A target's breaker as stored (``BREAKER#<target>``); the defaults are a breaker never written."""

    state: str = CLOSED
    failures: int = 0
    opened_at: str | None = None
    open_until: int = 0  # epoch seconds
    open_seconds: int = 0  # the current backoff (0: not opened yet, the configured one applies)
    probe_until: int = 0  # epoch seconds: the half-open probe's lease
    version: int = 0
    last_reason: str | None = None
    changed_at: str | None = None

    @classmethod
    def from_item(cls, item: dict[str, Any] | None) -> BreakerState:
        if not item:
            return cls()
        return cls(
            state=str(item.get("state") or CLOSED),
            failures=int(item.get("failures", 0)),
            opened_at=item.get("opened_at"),
            open_until=int(item.get("open_until", 0)),
            open_seconds=int(item.get("open_seconds", 0)),
            probe_until=int(item.get("probe_until", 0)),
            version=int(item.get("version", 0)),
            last_reason=item.get("last_reason"),
            changed_at=item.get("changed_at"),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "failures": self.failures,
            "opened_at": self.opened_at,
            "open_until": self.open_until,
            "open_seconds": self.open_seconds,
            "probe_until": self.probe_until,
            "version": self.version,
            "last_reason": self.last_reason,
            "changed_at": self.changed_at,
        }


@dataclass(frozen=True)
class BreakerChange:
    """A state change the breaker stored (with its CircuitStateChanged event): the caller emits the
    metric ``metric`` (CircuitOpened / CircuitHalfOpened / CircuitClosed) with dimension target."""

    target: str
    previous: str
    state: str
    reason: str
    failures: int
    version: int
    open_until: int = 0

    @property
    def metric(self) -> str:
        return {OPEN: "CircuitOpened", HALF_OPEN: "CircuitHalfOpened", CLOSED: "CircuitClosed"}[self.state]


@dataclass(frozen=True)
class Admission:
    """``allowed``: call the target now. ``probe``: this call is the half-open probe. ``retry_after``:
    seconds to park the work when not allowed. ``change``: the state change admitting made, if any."""

    allowed: bool
    probe: bool = False
    retry_after: int = 0
    change: BreakerChange | None = field(default=None)


class ExceptionNotFound(LookupError):
    def __init__(self, exception_id: str) -> None:
        super().__init__(f"no business exception {exception_id}")
        self.exception_id = exception_id


class ExceptionNotOpen(Exception):
    def __init__(self, exception_id: str, status: str) -> None:
        super().__init__(f"business exception {exception_id} is {status}, not OPEN")
        self.exception_id = exception_id
        self.status = status
