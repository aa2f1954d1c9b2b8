"""The circuit breaker's state machine with a fake clock: the pure transitions (``connectors.logic``)
and the Breaker on an in-memory store that keeps DynamoDB's conditional-write semantics (the
component tests run it against the provisioned table, with threads)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from connectors import logic
from connectors.models import CLOSED, HALF_OPEN, OPEN, BreakerConfig, BreakerState

CFG = BreakerConfig(failure_threshold=3, open_seconds=10, max_open_seconds=40, probe_seconds=30)
T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> float:
        return self.at


class FakeStore:
    """The breaker item of the connectors table in memory: version-conditional puts, the CLOSED-only
    failure ADD, and the events the transactions would put in the outbox."""

    def __init__(self) -> None:
        self.item: BreakerState | None = None
        self.events: list[Any] = []
        self.calls: list[str] = []

    def read_breaker(self, target: str) -> BreakerState:
        self.calls.append("GetItem")
        return self.item or BreakerState()

    def store_breaker(self, target: str, expected_version: int, new: BreakerState, event: Any) -> bool:
        self.calls.append("TransactWriteItems" if event else "PutItem")
        if (self.item.version if self.item else 0) != expected_version:
            return False
        self.item = new
        if event is not None:
            self.events.append(event)
        return True

    def add_failure(self, target: str, reason: str, at: str) -> tuple[bool, BreakerState]:
        self.calls.append("UpdateItem")
        current = self.item or BreakerState()
        if current.state != CLOSED:
            return False, current
        self.item = replace(current, failures=current.failures + 1, last_reason=reason)
        return True, self.item

    def reset_failures(self, target: str) -> None:
        self.calls.append("UpdateItem")
        if self.item and self.item.state == CLOSED:
            self.item = replace(self.item, failures=0)


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> FakeStore:
    from connectors import breaker

    fake = FakeStore()
    for name in ("read_breaker", "store_breaker", "add_failure", "reset_failures"):
        monkeypatch.setattr(breaker.repository, name, getattr(fake, name))
    return fake


def make(clock: Clock) -> Any:
    from connectors.breaker import Breaker

    return Breaker("finance", failure_threshold=3, open_seconds=10, max_open_seconds=40, probe_seconds=30, now=clock)


# -- pure transitions ------------------------------------------------------------------------------


def test_closed_admits_and_opens_at_the_threshold() -> None:
    assert logic.admit(BreakerState(), T0, CFG).action == "allow"
    assert logic.after_failure(BreakerState(failures=2), T0, CFG, "x") is None
    opened = logic.after_failure(BreakerState(failures=3, version=4), T0, CFG, "timeout")
    assert opened is not None
    assert (opened.state, opened.open_until, opened.open_seconds, opened.version) == (OPEN, T0 + 10, 10, 5)
    assert logic.open_until_iso(opened) == "2027-01-15T08:00:10.000Z"


def test_open_denies_until_open_until_then_offers_the_probe() -> None:
    state = BreakerState(state=OPEN, open_until=int(T0) + 10, open_seconds=10, version=1)
    assert logic.admit(state, T0 + 0.5, CFG) == logic.AdmitDecision("deny", retry_after=10)
    assert logic.admit(state, T0 + 9.9, CFG).retry_after == 1
    decision = logic.admit(state, T0 + 10, CFG)
    assert decision.action == "take-probe" and decision.state_change
    assert decision.new is not None and (decision.new.state, decision.new.probe_until) == (HALF_OPEN, T0 + 40)


def test_half_open_waits_for_the_probe_and_an_expired_lease_is_taken_over() -> None:
    state = BreakerState(state=HALF_OPEN, probe_until=int(T0) + 30, open_seconds=10, version=2)
    assert logic.admit(state, T0 + 29, CFG) == logic.AdmitDecision("deny", retry_after=5)
    lease = logic.admit(state, T0 + 30, CFG)
    assert lease.action == "take-probe" and not lease.state_change
    assert lease.new is not None and (lease.new.state, lease.new.probe_until, lease.new.version) == (
        HALF_OPEN,
        T0 + 60,
        3,
    )


def test_a_failed_probe_doubles_the_backoff_up_to_the_maximum() -> None:
    seconds = []
    state = BreakerState(state=HALF_OPEN, open_seconds=10, failures=3)
    for _ in range(4):
        opened = logic.after_failure(state, T0, CFG, "probe failed")
        assert opened is not None and opened.state == OPEN
        seconds.append(opened.open_seconds)
        state = replace(opened, state=HALF_OPEN)
    assert seconds == [20, 40, 40, 40]
    assert logic.after_failure(BreakerState(state=OPEN), T0, CFG, "late") is None  # a straggler


def test_success_closes_and_resets() -> None:
    assert logic.after_success(BreakerState(), T0, CFG) is None
    closed = logic.after_success(BreakerState(state=HALF_OPEN, failures=7, open_seconds=40, version=9), T0, CFG)
    assert closed is not None
    assert (closed.state, closed.failures, closed.open_seconds, closed.version) == (CLOSED, 0, 10, 10)


# -- the Breaker on the fake store ------------------------------------------------------------------


def test_the_breaker_walks_its_states_with_one_event_per_change(store: FakeStore) -> None:
    clock = Clock()
    b = make(clock)
    assert b.admit().allowed
    assert [b.failure("503") for _ in range(2)] == [None, None]
    change = b.failure("503")
    assert change is not None and change.metric == "CircuitOpened"
    assert b.open_for() == 10
    assert not b.admit().allowed
    clock.at += 10
    probe = b.admit()
    assert probe.allowed and probe.probe and probe.change is not None and probe.change.metric == "CircuitHalfOpened"
    assert make(clock).admit().retry_after == 5  # another container while the probe runs
    reopened = b.failure("502")
    assert reopened is not None and reopened.state == OPEN and store.item is not None
    assert store.item.open_seconds == 20
    clock.at += 20
    assert b.admit().probe
    closed = b.success()
    assert closed is not None and closed.metric == "CircuitClosed" and b.open_for() == 0
    assert [(e.data["previous"], e.data["state"]) for e in store.events] == [
        ("CLOSED", "OPEN"),
        ("OPEN", "HALF_OPEN"),
        ("HALF_OPEN", "OPEN"),
        ("OPEN", "HALF_OPEN"),
        ("HALF_OPEN", "CLOSED"),
    ]
    assert len({e.event_id for e in store.events}) == 5
    assert all(e.source_system == "synchub.connectors" and e.event_type == "CircuitStateChanged" for e in store.events)


def test_losing_the_probe_race_parks_briefly(store: FakeStore, monkeypatch: pytest.MonkeyPatch) -> None:
    from connectors import breaker

    clock = Clock()
    for _ in range(3):
        make(clock).failure("down")
    clock.at += 10
    winner: list[Any] = []
    raced = [False]

    def read_then_lose(target: str) -> BreakerState:
        state = store.read_breaker(target)
        if not raced[0]:  # another container takes the probe between this read and this write
            raced[0] = True
            winner.append(make(clock).admit())
        return state

    monkeypatch.setattr(breaker.repository, "read_breaker", read_then_lose)
    lost = make(clock).admit()
    assert winner[0].probe and not lost.allowed and lost.retry_after == 5
    assert [e.data["state"] for e in store.events] == ["OPEN", "HALF_OPEN"]


def test_a_closed_breaker_is_read_once_a_second_and_a_clean_success_writes_nothing(store: FakeStore) -> None:
    clock = Clock()
    b = make(clock)
    for _ in range(5):
        assert b.admit().allowed
        assert b.success() is None
    assert store.calls == ["GetItem"]
    clock.at += 1
    b.admit()
    assert store.calls == ["GetItem", "GetItem"]
    b.failure("blip")
    b.success()  # forgets the failure: one cheap update
    assert store.calls[-2:] == ["UpdateItem", "UpdateItem"] and store.item is not None and store.item.failures == 0
