"""The connectors' small pure pieces: rate windows, parking delays and attributes, exception ids,
the HTTP client's result, the CircuitStateChanged model."""

from __future__ import annotations

import hashlib

import pytest

from connectors import logic
from connectors.buffer import kept_attributes, parked_count, receive_count
from connectors.http import HttpResult, TargetUnavailable
from connectors.models import CircuitStateChangedData


def test_windows_are_fixed_and_the_wait_is_to_the_next_one() -> None:
    assert logic.window(100.25, 1) == (100, 1)
    assert logic.window(119.0, 60) == (60, 1)
    assert logic.window(61.0, 60) == (60, 59)
    assert logic.window(120.0, 60) == (120, 60)


def test_park_delays_are_whole_seconds_within_what_sqs_takes() -> None:
    assert [logic.park_delay(d) for d in (-3, 0, 0.2, 1, 14.1, 900, 3600)] == [1, 1, 1, 1, 15, 900, 900]


def test_an_exception_id_is_derived_from_target_and_entity() -> None:
    expected = "exc_" + hashlib.sha256(b"finance:invoice:inv_1").hexdigest()[:20]
    assert logic.exception_id("finance", "invoice", "inv_1") == expected
    assert logic.exception_id("erp", "order", "inv_1") != expected


def test_parking_keeps_attributes_and_counts() -> None:
    record = {
        "body": "{}",
        "attributes": {"ApproximateReceiveCount": "4"},
        "messageAttributes": {
            "synchub-parked": {"stringValue": "2", "dataType": "Number"},
            "synchub-parked-reason": {"stringValue": "old", "dataType": "String"},
            "synchub-resubmit-of": {"stringValue": "exc_1", "dataType": "String"},
            "blob": {"binaryValue": "aGk=", "dataType": "Binary"},
        },
    }
    assert parked_count(record) == 2 and receive_count(record) == 4
    assert kept_attributes(record) == {
        "blob": {"DataType": "Binary", "BinaryValue": b"hi"},
        "synchub-resubmit-of": {"DataType": "String", "StringValue": "exc_1"},
    }
    assert parked_count({"body": "{}"}) == 0 and receive_count({"body": "{}"}) == 1


def test_http_results_and_failures() -> None:
    assert HttpResult(201, {}, {"id": "FIN-1"}).json() == {"id": "FIN-1"} and HttpResult(201).ok
    assert HttpResult(502, {}, "<html>").json() == {} and not HttpResult(502).ok
    failure = TargetUnavailable("timeout after send", after_send=True)
    assert failure.after_send and failure.reason == "timeout after send"


def test_circuit_state_changed_is_strict() -> None:
    data = {
        "target": "finance",
        "previous": "CLOSED",
        "state": "OPEN",
        "reason": "timeout",
        "failures": 5,
        "open_until": "2026-11-24T14:00:15.000Z",
        "changed_at": "2026-11-24T14:00:00.000Z",
    }
    assert CircuitStateChangedData.model_validate(data).state == "OPEN"
    with pytest.raises(ValueError):
        CircuitStateChangedData.model_validate({**data, "state": "AJAR"})
