"""synchub_core: configuration, envelope parsing, transaction limits."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from helpers import sample
from synchub_core import ddb
from synchub_core.config import Settings
from synchub_core.envelope import EventEnvelope, deterministic_event_id, from_message_body


def test_settings_fail_loudly_when_the_stack_did_not_configure_the_function(monkeypatch) -> None:
    for key in ("ORDERS_TABLE", "INVENTORY_TABLE", "EVENT_BUS_NAME"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("ORDERS_TABLE", "orders")
    with pytest.raises(RuntimeError, match="INVENTORY_TABLE, EVENT_BUS_NAME not set"):
        Settings.from_env()
    monkeypatch.setenv("INVENTORY_TABLE", "inv")
    monkeypatch.setenv("EVENT_BUS_NAME", "bus")
    assert Settings.from_env() == Settings("orders", "inv", "bus")


def test_message_bodies_carry_the_envelope_bare_or_inside_an_eventbridge_event() -> None:
    eb = sample("eventbridge-shipment-confirmed.json")
    bare = sample("sqs-inventory-position-reported.json")
    assert from_message_body(json.dumps(eb)).entity_id == eb["detail"]["entity_id"]
    assert from_message_body(json.dumps(bare)).sequence == bare["sequence"]
    with pytest.raises(ValidationError):
        from_message_body(json.dumps({**bare, "occurred_at": "2026-11-23T07:45:12"}))  # no offset
    with pytest.raises(ValidationError):
        from_message_body(json.dumps({**bare, "sequence": -1}))
    with pytest.raises(json.JSONDecodeError):
        from_message_body("{truncated")


def test_envelope_round_trips_and_event_ids_are_deterministic() -> None:
    env = EventEnvelope.model_validate(sample("sqs-inventory-position-reported.json"))
    assert EventEnvelope.model_validate(env.to_detail()) == env
    assert deterministic_event_id("invoice", "SHP-1") == deterministic_event_id("invoice", "SHP-1")
    assert deterministic_event_id("invoice", "SHP-1") != deterministic_event_id("invoice", "SHP-2")


def test_transactions_over_dynamodbs_limit_are_refused_before_any_call() -> None:
    with pytest.raises(ValueError, match="at most 100 items"):
        ddb.transact([{"Put": {}}] * 101)


def test_serializer_refuses_floats() -> None:
    with pytest.raises(TypeError):
        ddb.to_ddb({"price": 1.1})
