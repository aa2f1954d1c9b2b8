"""A circuit breaker per external target whose state every function instance shares (the item
``BREAKER#<target>`` in the connectors table, changed only with conditional writes).

* CLOSED: calls go through; consecutive failures are counted atomically; reaching the threshold
  opens it.
* OPEN: nobody calls the target until ``open_until``; work is parked meanwhile (``buffer.park``).
* HALF_OPEN: past ``open_until`` exactly one caller wins a conditional write and probes the target
  (its lease lasts ``probe_seconds``; an expired lease can be taken over). The probe's success
  closes the breaker; its failure opens it again for twice as long (up to ``max_open_seconds``).

Every state change is one TransactWriteItems: the breaker item (conditional on its version) and
the CircuitStateChanged outbox item. The change is returned so the caller emits its metric
(``BreakerChange.metric``: CircuitOpened / CircuitHalfOpened / CircuitClosed, dimension target).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any

from synchub_core.envelope import deterministic_event_id, new_event

from . import logic, repository
from .models import (
    CIRCUIT_STATE_CHANGED,
    CLOSED,
    CONNECTORS_SOURCE,
    OPEN,
    Admission,
    BreakerChange,
    BreakerConfig,
    BreakerState,
    CircuitStateChangedData,
)

CLOSED_CACHE_SECONDS = 1.0  # a CLOSED breaker read is reused this long by the same instance


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


class Breaker:
    def __init__(
        self,
        target: str,
        *,
        failure_threshold: int = 5,
        open_seconds: int = 15,
        max_open_seconds: int = 300,
        probe_seconds: int = 30,
        now: Callable[[], float] = time.time,
        cache_seconds: float = CLOSED_CACHE_SECONDS,
    ) -> None:
        self.target = target
        self.config = BreakerConfig(failure_threshold, open_seconds, max_open_seconds, probe_seconds)
        self._now = now
        self._cache_seconds = cache_seconds
        self._seen: BreakerState | None = None  # the breaker as this instance last read or wrote it
        self._seen_at = 0.0

    @classmethod
    def from_env(cls, target: str, **kwargs: Any) -> Breaker:
        """A breaker configured by ``BREAKER_FAILURE_THRESHOLD``, ``BREAKER_OPEN_SECONDS``,
        ``BREAKER_MAX_OPEN_SECONDS`` and ``BREAKER_PROBE_SECONDS``."""
        return cls(
            target,
            failure_threshold=_env_int("BREAKER_FAILURE_THRESHOLD", 5),
            open_seconds=_env_int("BREAKER_OPEN_SECONDS", 15),
            max_open_seconds=_env_int("BREAKER_MAX_OPEN_SECONDS", 300),
            probe_seconds=_env_int("BREAKER_PROBE_SECONDS", 30),
            **kwargs,
        )

    # -- reading -----------------------------------------------------------------------------------

    def _remember(self, state: BreakerState) -> BreakerState:
        self._seen, self._seen_at = state, self._now()
        return state

    def _current(self) -> BreakerState:
        seen = self._seen
        if seen is not None and seen.state == CLOSED and self._now() - self._seen_at < self._cache_seconds:
            return seen
        return self._remember(repository.read_breaker(self.target))

    def state(self) -> dict[str, Any]:
        """The breaker as stored now (for the CLI and tests)."""
        current = self._remember(repository.read_breaker(self.target))
        return {"target": self.target, **current.as_dict()}

    def open_for(self) -> int:
        """Seconds the breaker stays OPEN as this instance last saw it (0 when not OPEN): after a
        failure, how long to park the work instead of failing it."""
        seen = self._seen
        if seen is None or seen.state != OPEN:
            return 0
        return max(1, math.ceil(seen.open_until - self._now()))

    # -- the three calls -----------------------------------------------------------------------------

    def admit(self) -> Admission:
        current = self._current()
        now = self._now()
        decision = logic.admit(current, now, self.config)
        if decision.action == "allow":
            return Admission(True)
        if decision.action == "deny":
            return Admission(False, retry_after=decision.retry_after)
        assert decision.new is not None
        change = self._store(current, decision.new, "open period over: probing", event=decision.state_change)
        if change is False:  # another caller took the probe
            self._seen = None
            return Admission(False, retry_after=decision.retry_after)
        return Admission(True, probe=True, change=change if isinstance(change, BreakerChange) else None)

    def success(self) -> BreakerChange | None:
        """The target answered: close the breaker if it is not closed, else forget failures."""
        current = self._seen if self._seen is not None else self._remember(repository.read_breaker(self.target))
        if current.state == CLOSED:
            if current.failures > 0:
                repository.reset_failures(self.target)
                self._remember(BreakerState(**{**current.as_dict(), "failures": 0}))
            return None
        for _ in range(2):
            new = logic.after_success(current, self._now(), self.config)
            if new is None:
                return None
            change = self._store(current, new, "target answered")
            if change is not False:
                return change if isinstance(change, BreakerChange) else None
            current = self._remember(repository.read_breaker(self.target))  # someone moved it: look again
        return None

    def failure(self, reason: str) -> BreakerChange | None:
        """The target failed (unreachable, timed out, 5xx): count it; open at the threshold; a
        failed probe opens again with the backoff doubled."""
        now = self._now()
        _counted, current = repository.add_failure(self.target, reason, logic.iso_at(now))
        self._remember(current)
        new = logic.after_failure(current, now, self.config, reason)
        if new is None:
            return None
        change = self._store(current, new, reason)
        if change is False:
            self._seen = None
            return None
        return change if isinstance(change, BreakerChange) else None

    # -- writing ------------------------------------------------------------------------------------

    def _store(self, current: BreakerState, new: BreakerState, reason: str, event: bool = True) -> BreakerChange | bool:
        """Store ``new`` conditionally on ``current.version``; with its event when ``event``.
        Returns the change (or True for a lease without state change), False when it lost."""
        envelope = None
        if event:
            data = CircuitStateChangedData(
                target=self.target,
                previous=current.state,  # type: ignore[arg-type]
                state=new.state,  # type: ignore[arg-type]
                reason=reason[:500],
                failures=new.failures,
                open_until=logic.open_until_iso(new),
                changed_at=new.changed_at or logic.iso_at(self._now()),
            )
            event_id = deterministic_event_id("circuit", self.target, str(new.version))
            envelope = new_event(
                CIRCUIT_STATE_CHANGED,
                entity_id=self.target,
                sequence=new.version,
                data=data.model_dump(mode="json"),
                correlation_id=event_id,
                causation_id=None,
                source_system=CONNECTORS_SOURCE,
                event_id=event_id,
            )
        if not repository.store_breaker(self.target, current.version, new, envelope):
            return False
        self._remember(new)
        if not event:
            return True
        return BreakerChange(
            target=self.target,
            previous=current.state,
            state=new.state,
            reason=reason,
            failures=new.failures,
            version=new.version,
            open_until=new.open_until,
        )
