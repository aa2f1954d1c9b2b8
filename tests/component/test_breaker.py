"""The shared circuit breaker, the buffer (parking) and the rate limiter against the provisioned
ConnectorsTable and queues in moto: state shared through DynamoDB by separate instances (one per
function container), conditional writes deciding races between threads, every state change one
transaction with its CircuitStateChanged outbox event."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from helpers import Hub

TARGET = "finance"


class Clock:
    def __init__(self, at: float = 1_800_000_000.0) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def breaker(clock: Clock, **overrides: Any) -> Any:
    """A breaker instance (think: one function container) with the spec's settings, on ``clock``."""
    from connectors.api import Breaker

    settings = {"failure_threshold": 3, "open_seconds": 10, "max_open_seconds": 35, "probe_seconds": 30, **overrides}
    return Breaker(TARGET, now=clock, **settings)


def circuit_events(hub: Hub) -> list[dict[str, Any]]:
    from synchub_core.ddb import from_ddb

    items = [from_ddb(i) for i in hub.ddb.scan(TableName=hub.orders_table, ConsistentRead=True)["Items"]]
    events = [json.loads(i["detail"]) for i in items if i.get("detail_type") == "CircuitStateChanged"]
    for i in items:
        if i.get("detail_type") == "CircuitStateChanged":
            assert i["source"] == "synchub.connectors" and i["outbox_status"] == "PENDING"
    return sorted(events, key=lambda e: e["sequence"])


def together(n: int, call: Callable[[int], Any]) -> list[Any]:
    """``call(i)`` for i in range(n) on n threads released at the same moment."""
    gate = threading.Barrier(n)

    def run(i: int) -> Any:
        gate.wait()
        return call(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def test_opens_at_the_threshold_half_opens_once_closes_and_backs_off_on_a_failed_probe(hub: Hub, clock: Clock) -> None:
    from connectors.models import CircuitStateChangedData

    one = breaker(clock)
    assert one.admit().allowed
    assert one.failure("finance answered 503") is None
    assert one.failure("finance answered 503") is None
    assert one.state()["state"] == "CLOSED" and one.state()["failures"] == 2
    opened = one.failure("connect timeout")
    assert opened is not None and (opened.previous, opened.state, opened.metric) == ("CLOSED", "OPEN", "CircuitOpened")

    # open: nobody calls; the work parks until open_until
    other = breaker(clock)
    denied = other.admit()
    assert (denied.allowed, denied.retry_after) == (False, 10)
    clock.advance(7.5)
    assert other.admit().retry_after == 3  # rounded up, never 0

    # past open_until: eight containers ask at once, exactly one becomes the probe
    clock.advance(2.5)
    instances = [breaker(clock) for _ in range(8)]
    admissions = together(8, lambda i: instances[i].admit())
    probes = [a for a in admissions if a.allowed]
    assert len(probes) == 1 and probes[0].probe
    assert probes[0].change.metric == "CircuitHalfOpened"
    assert all(a.retry_after == 5 for a in admissions if not a.allowed)
    prober = instances[admissions.index(probes[0])]
    assert breaker(clock).admit().allowed is False  # the lease is live: still one probe

    # the probe fails: open again for twice as long
    reopened = prober.failure("finance answered 502")
    assert reopened is not None and (reopened.previous, reopened.state) == ("HALF_OPEN", "OPEN")
    state = breaker(clock).state()
    assert state["open_seconds"] == 20 and state["open_until"] == int(clock.at) + 20
    clock.advance(19)
    assert breaker(clock).admit().allowed is False
    clock.advance(1)
    second = breaker(clock)
    assert second.admit().probe
    assert second.failure("still down") is not None
    assert breaker(clock).state()["open_seconds"] == 35  # doubled up to max_open_seconds

    # the next probe succeeds: closed, failures and backoff reset, calls flow again
    clock.advance(35)
    third = breaker(clock)
    assert third.admit().probe
    closed = third.success()
    assert closed is not None and (closed.previous, closed.state, closed.metric) == (
        "HALF_OPEN",
        "CLOSED",
        "CircuitClosed",
    )
    state = breaker(clock).state()
    assert (state["state"], state["failures"], state["open_seconds"]) == ("CLOSED", 0, 10)
    assert all(breaker(clock).admit().allowed for _ in range(3))

    # every change is one CircuitStateChanged event, in order, ids derived from the version
    events = circuit_events(hub)
    assert [(e["data"]["previous"], e["data"]["state"]) for e in events] == [
        ("CLOSED", "OPEN"),
        ("OPEN", "HALF_OPEN"),
        ("HALF_OPEN", "OPEN"),
        ("OPEN", "HALF_OPEN"),
        ("HALF_OPEN", "OPEN"),
        ("OPEN", "HALF_OPEN"),
        ("HALF_OPEN", "CLOSED"),
    ]
    from synchub_core.envelope import deterministic_event_id

    assert [e["event_id"] for e in events] == [deterministic_event_id("circuit", TARGET, str(v)) for v in range(1, 8)]
    for e in events:
        CircuitStateChangedData.model_validate(e["data"])
        assert e["event_type"] == "CircuitStateChanged" and e["entity_id"] == TARGET
    assert events[0]["data"]["reason"] == "connect timeout" and events[0]["data"]["failures"] == 3
    assert events[0]["data"]["open_until"] is not None and events[-1]["data"]["open_until"] is None


def test_concurrent_failures_open_it_once(hub: Hub, clock: Clock) -> None:
    instances = [breaker(clock) for _ in range(10)]
    for b in instances:
        b.admit()
    changes = together(10, lambda i: instances[i].failure(f"timeout {i}"))
    assert len([c for c in changes if c is not None]) == 1
    assert breaker(clock).state()["state"] == "OPEN"
    assert len(circuit_events(hub)) == 1


def test_an_abandoned_probe_lease_is_taken_over_by_one_caller(hub: Hub, clock: Clock) -> None:
    first = breaker(clock, probe_seconds=30)
    for _ in range(3):
        first.failure("down")
    clock.advance(10)
    assert first.admit().probe  # ... and then its container dies without an answer
    clock.advance(29)
    assert not breaker(clock).admit().allowed
    clock.advance(1)
    instances = [breaker(clock) for _ in range(5)]
    admissions = together(5, lambda i: instances[i].admit())
    winners = [a for a in admissions if a.allowed]
    assert len(winners) == 1 and winners[0].probe and winners[0].change is None  # a new lease, no state change
    assert len(circuit_events(hub)) == 2  # OPEN, HALF_OPEN


def test_a_success_forgets_failures_and_costs_no_write_when_there_are_none(hub: Hub, clock: Clock) -> None:
    one = breaker(clock)
    one.admit()
    one.failure("blip")
    one.failure("blip")
    assert one.success() is None
    assert breaker(clock).state()["failures"] == 0
    one.failure("blip")  # consecutive failures count from 0 again
    assert breaker(clock).state()["state"] == "CLOSED"
    one.success()
    calls: list[str] = []
    from synchub_core.aws import client

    client("dynamodb").meta.events.register("before-call.*.*", lambda event_name, **_: calls.append(event_name))
    fresh = breaker(clock)
    fresh.admit()
    fresh.success()
    fresh.admit()  # the CLOSED read is reused within its second
    assert calls == ["before-call.dynamodb.GetItem"]


def test_from_env_reads_the_breaker_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from connectors.api import Breaker

    monkeypatch.setenv("BREAKER_FAILURE_THRESHOLD", "7")
    monkeypatch.setenv("BREAKER_OPEN_SECONDS", "4")
    monkeypatch.delenv("BREAKER_MAX_OPEN_SECONDS", raising=False)
    b = Breaker.from_env("erp")
    assert (b.config.failure_threshold, b.config.open_seconds, b.config.max_open_seconds, b.config.probe_seconds) == (
        7,
        4,
        300,
        30,
    )


# -- the rate limiter --------------------------------------------------------------------------------


def test_the_rate_limiter_grants_at_most_n_per_window_across_threads(hub: Hub, clock: Clock) -> None:
    from connectors.api import RateLimiter

    clock.at = 1_800_000_000.25
    limiters = [RateLimiter("finance", per_second=7, now=clock) for _ in range(20)]
    waits = together(20, lambda i: limiters[i].try_acquire())
    assert waits.count(0) == 7
    assert all(w == 1 for w in waits if w)
    clock.advance(1)  # the next window
    assert [limiters[0].try_acquire() for _ in range(8)] == [0] * 7 + [1]

    per_minute = [RateLimiter("erp", per_minute=30, now=clock) for _ in range(12)]
    clock.at = 1_800_000_030.0  # half way through a minute
    grants = together(12, lambda i: sum(1 for _ in range(4) if per_minute[i].try_acquire() == 0))
    assert sum(grants) == 30
    assert per_minute[0].try_acquire() == 30  # seconds to the next minute
    assert per_minute[0].try_acquire(0) == 0 or True  # acquiring nothing is harmless


def test_the_rate_windows_expire(hub: Hub, clock: Clock) -> None:
    from connectors.api import RateLimiter
    from synchub_core.ddb import get

    RateLimiter("finance", per_second=5, now=clock).try_acquire(2)
    item = get(hub.dep.tables["DataConnectorsTable"], {"pk": f"RATE#finance#{int(clock.at)}", "sk": "RATE"})
    assert item is not None and item["count"] == 2 and item["expires_at"] > clock.at
    with pytest.raises(ValueError):
        RateLimiter("finance", per_second=5).try_acquire(6)
    with pytest.raises(ValueError):
        RateLimiter("finance")


# -- the buffer ----------------------------------------------------------------------------------------


def test_park_sends_the_body_back_delayed_with_its_attributes_and_a_count(hub: Hub) -> None:
    from connectors.api import park

    queue = hub.queue("ConnectorsFinancePostingWorkerQueue")
    record = {
        "messageId": "m-1",
        "body": '{"detail": {"entity_id": "inv_1"}}',
        "attributes": {"ApproximateReceiveCount": "3"},
        "messageAttributes": {
            "synchub-resubmit-of": {"stringValue": "exc_1", "dataType": "String"},
            "synchub-parked": {"stringValue": "2", "dataType": "Number"},
        },
    }
    park(record, queue, 0, "finance circuit open")  # at least 1 s
    park(record, queue, 5000, "finance circuit open")  # at most SQS's 900 s
    assert hub.sqs.receive_message(QueueUrl=queue, VisibilityTimeout=0).get("Messages", []) == []
    attrs = hub.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
    assert attrs["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "2"
    import time

    time.sleep(1.2)
    (message,) = hub.sqs.receive_message(
        QueueUrl=queue, MessageAttributeNames=["All"], AttributeNames=["All"], VisibilityTimeout=0
    )["Messages"]
    assert message["Body"] == record["body"]
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"  # a new message: no retry spent
    assert message["MessageAttributes"] == {
        "synchub-resubmit-of": {"StringValue": "exc_1", "DataType": "String"},
        "synchub-parked": {"StringValue": "3", "DataType": "Number"},
        "synchub-parked-reason": {"StringValue": "finance circuit open", "DataType": "String"},
    }
