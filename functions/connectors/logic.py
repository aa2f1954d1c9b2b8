"""The connectors' pure decisions: the circuit breaker's state machine, fixed rate windows, parking
delays and business exception ids. No I/O here (the repository and the modules around it do it)."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal

from synchub_core.envelope import iso

from .models import CLOSED, HALF_OPEN, MAX_DELAY_SECONDS, OPEN, BreakerConfig, BreakerState

PROBE_RETRY_SECONDS = 5  # how long to park work while another caller probes the target


def iso_at(epoch: float) -> str:
    return iso(datetime.fromtimestamp(epoch, UTC))


@dataclass(frozen=True)
class AdmitDecision:
    """What ``admit`` does with the breaker as read: ``allow`` (closed), ``deny`` (park for
    ``retry_after``), ``take-probe`` (store ``new`` conditionally; the winner probes).
    ``state_change`` says whether storing ``new`` is a state change (with its event) or only a lease."""

    action: Literal["allow", "deny", "take-probe"]
    retry_after: int = 0
    new: BreakerState | None = None
    state_change: bool = False


def admit(current: BreakerState, now: float, cfg: BreakerConfig) -> AdmitDecision:
    if current.state == CLOSED:
        return AdmitDecision("allow")
    probe_wait = max(1, min(PROBE_RETRY_SECONDS, cfg.probe_seconds))
    if current.state == OPEN:
        if now < current.open_until:
            return AdmitDecision("deny", retry_after=max(1, math.ceil(current.open_until - now)))
        return AdmitDecision("take-probe", retry_after=probe_wait, new=half_open(current, now, cfg), state_change=True)
    # HALF_OPEN
    if now < current.probe_until:
        return AdmitDecision("deny", retry_after=probe_wait)
    # the probe's lease ran out (its caller died or hung): anyone may take it over
    lease = replace(current, probe_until=math.ceil(now + cfg.probe_seconds), version=current.version + 1)
    return AdmitDecision("take-probe", retry_after=probe_wait, new=lease, state_change=False)


def half_open(current: BreakerState, now: float, cfg: BreakerConfig) -> BreakerState:
    return replace(
        current,
        state=HALF_OPEN,
        probe_until=math.ceil(now + cfg.probe_seconds),
        version=current.version + 1,
        changed_at=iso_at(now),
    )


def opened(current: BreakerState, now: float, open_seconds: int, reason: str, failures: int) -> BreakerState:
    return BreakerState(
        state=OPEN,
        failures=failures,
        opened_at=iso_at(now),
        open_until=math.ceil(now + open_seconds),
        open_seconds=open_seconds,
        probe_until=0,
        version=current.version + 1,
        last_reason=reason,
        changed_at=iso_at(now),
    )


def closed(current: BreakerState, now: float, cfg: BreakerConfig) -> BreakerState:
    return BreakerState(
        state=CLOSED,
        failures=0,
        opened_at=None,
        open_until=0,
        open_seconds=cfg.open_seconds,
        probe_until=0,
        version=current.version + 1,
        last_reason=current.last_reason,
        changed_at=iso_at(now),
    )


def after_failure(current: BreakerState, now: float, cfg: BreakerConfig, reason: str) -> BreakerState | None:
    """The state a failure moves the breaker to (``current`` already counts it in ``failures`` when
    CLOSED), or None when it stays where it is."""
    if current.state == CLOSED:
        if current.failures >= cfg.failure_threshold:
            return opened(current, now, cfg.open_seconds, reason, current.failures)
        return None
    if current.state == HALF_OPEN:  # the probe failed: open again, backing off twice as long
        backoff = min(max(current.open_seconds, cfg.open_seconds) * 2, cfg.max_open_seconds)
        return opened(current, now, backoff, reason, current.failures + 1)
    return None  # OPEN: a straggler admitted before it opened; nothing changes


def after_success(current: BreakerState, now: float, cfg: BreakerConfig) -> BreakerState | None:
    """The state a success moves the breaker to: CLOSED from OPEN / HALF_OPEN, None when closed."""
    if current.state == CLOSED:
        return None
    return closed(current, now, cfg)


def open_until_iso(state: BreakerState) -> str | None:
    return iso_at(state.open_until) if state.state == OPEN and state.open_until else None


# -- pacing --------------------------------------------------------------------------------------


def window(now: float, seconds: int) -> tuple[int, int]:
    """The fixed window ``now`` falls in: ``(start, seconds until the next one, at least 1)``."""
    start = int(now // seconds) * seconds
    return start, max(1, math.ceil(start + seconds - now))


# -- parking -------------------------------------------------------------------------------------


def park_delay(delay_seconds: float) -> int:
    """SQS DelaySeconds for parking: whole seconds, 1 to 900."""
    return min(max(math.ceil(delay_seconds), 1), MAX_DELAY_SECONDS)


# -- business exceptions -------------------------------------------------------------------------


def exception_id(target: str, entity_type: str, entity_id: str) -> str:
    """One exception per target and entity: raising it again re-opens the same record."""
    return "exc_" + hashlib.sha256(f"{target}:{entity_type}:{entity_id}".encode()).hexdigest()[:20]
