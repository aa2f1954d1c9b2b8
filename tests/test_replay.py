"""`synchub replay`: DLQ redrive for worker queues and for the outbox DLQs (moto in-process)."""
from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import Hub, sample
from synchub import replay
from synchub.environment import HubEnvironment


@pytest.fixture
def env(hub: Hub) -> HubEnvironment:
    return HubEnvironment(endpoint=None, region="eu-west-1",
                          queues={k: v["url"] for k, v in hub.dep.queues.items()},
                          tables=hub.dep.tables, event_bus=hub.dep.bus_name)


def test_redrive_moves_every_message_back_with_its_attributes(hub: Hub, env: HubEnvironment) -> None:
    dlq = hub.queue("WorkersReservationWorkerDeadLetterQueue")
    bodies = [json.dumps({"n": n}) for n in range(23)]
    for body in bodies:
        hub.sqs.send_message(QueueUrl=dlq, MessageBody=body,
                             MessageAttributes={"origin": {"DataType": "String", "StringValue": "test"}})
    report = replay.replay(env, "WorkersReservationWorkerDeadLetterQueue")
    assert report.moved == 23
    assert hub.depth("WorkersReservationWorkerDeadLetterQueue") == 0
    moved = hub.receive("WorkersReservationWorkerQueue", max_messages=50)
    assert sorted(m["Body"] for m in moved) == sorted(bodies)
    attrs = moved[0]["MessageAttributes"]
    assert attrs["origin"]["StringValue"] == "test"
    assert attrs[replay.REPLAY_ATTRIBUTE]["StringValue"] == "1"


def test_replaying_twice_moves_nothing_more(hub: Hub, env: HubEnvironment) -> None:
    hub.sqs.send_message(QueueUrl=hub.queue("WorkersInvoicingWorkerDeadLetterQueue"), MessageBody="{}")
    assert replay.replay(env, "WorkersInvoicingWorkerDeadLetterQueue").moved == 1
    assert replay.replay(env, "WorkersInvoicingWorkerDeadLetterQueue").moved == 0
    assert hub.depth("WorkersInvoicingWorkerQueue") == 1


def test_dry_run_changes_nothing(hub: Hub, env: HubEnvironment) -> None:
    hub.sqs.send_message(QueueUrl=hub.queue("WorkersInventoryWorkerDeadLetterQueue"), MessageBody='{"a": 1}')
    report = replay.replay(env, "WorkersInventoryWorkerDeadLetterQueue", dry_run=True)
    assert report.messages == ['{"a": 1}']
    assert hub.depth("WorkersInventoryWorkerQueue") == 0


def test_queue_names_resolve_by_friendly_physical_and_url(hub: Hub, env: HubEnvironment) -> None:
    q = hub.dep.queues["WorkersInventoryWorkerDeadLetterQueue"]
    for name in ("WorkersInventoryWorkerDeadLetterQueue", q["name"], q["url"]):
        assert replay.resolve_queue(env, name) == ("WorkersInventoryWorkerDeadLetterQueue", q["url"])
    with pytest.raises(SystemExit, match="unknown queue"):
        replay.resolve_queue(env, "nope")


def _pending_outbox(hub: Hub) -> list[dict[str, Any]]:
    return [i for i in hub.ddb.scan(TableName=hub.orders_table)["Items"]
            if i["pk"]["S"].startswith("OUTBOX#") and "outbox_status" in i]


def test_outbox_dlq_replay_publishes_pending_events_once(hub: Hub, env: HubEnvironment, order_body: dict) -> None:
    """The stream path gave up (on-failure record in the DLQ): replay publishes from the outbox."""
    from orders.logic import accept
    from orders.models import OrderIn

    created = accept(OrderIn.model_validate(order_body), "replay-key-0001", "corr")
    assert len(_pending_outbox(hub)) == 1
    hub.sqs.send_message(QueueUrl=hub.queue("OutboxStreamDeadLetterQueue"), MessageBody=json.dumps({
        "requestContext": {"condition": "RetryAttemptsExhausted"},
        "DDBStreamBatchInfo": {"shardId": "shardId-1", "startSequenceNumber": "1", "endSequenceNumber": "1",
                               "batchSize": 1, "streamArn": "arn:aws:dynamodb:eu-west-1:123456789012:table/x/stream/1"}}))
    report = replay.replay(env, "OutboxStreamDeadLetterQueue")
    assert (report.moved, report.swept) == (1, 1)
    assert _pending_outbox(hub) == []
    delivered = hub.receive("WorkersReservationWorkerQueue")
    assert [json.loads(m["Body"])["detail"]["entity_id"] for m in delivered] == [created.order_id]
    again = replay.replay(env, "OutboxStreamDeadLetterQueue")
    assert (again.moved, again.swept) == (0, 0)
    assert hub.depth("WorkersReservationWorkerQueue") == 1  # still only the one delivery (not yet deleted)


def test_outbox_replay_keeps_dlq_records_when_publishing_fails(hub: Hub, env: HubEnvironment,
                                                               order_body: dict, monkeypatch) -> None:
    from orders.logic import accept
    from orders.models import OrderIn
    from synchub_core import aws

    accept(OrderIn.model_validate(order_body), "replay-key-0002", "corr")
    hub.sqs.send_message(QueueUrl=hub.queue("OutboxSweepDeadLetterQueue"), MessageBody=json.dumps(
        sample("eventbridge-shipment-confirmed.json") | {"detail-type": "Scheduled Event", "detail": {}}))
    real = aws.client

    class FailingEvents:
        def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
            return {"FailedEntryCount": len(Entries),
                    "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "boom"} for _ in Entries]}

    import synchub_core.outbox as outbox_mod

    monkeypatch.setattr(outbox_mod, "client", lambda s: FailingEvents() if s == "events" else real(s))
    with pytest.raises(Exception, match="still unpublished"):
        replay.replay(env, "OutboxSweepDeadLetterQueue")
    assert hub.depth("OutboxSweepDeadLetterQueue") == 1  # nothing acknowledged, nothing lost
    assert len(_pending_outbox(hub)) == 1
    monkeypatch.setattr(outbox_mod, "client", real)
    assert replay.replay(env, "OutboxSweepDeadLetterQueue").swept == 1
    assert _pending_outbox(hub) == []
    assert hub.depth("OutboxSweepDeadLetterQueue") == 0
