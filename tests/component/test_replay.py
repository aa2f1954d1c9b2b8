"""`synchub replay`: DLQ redrive for worker queues and for the outbox DLQs (moto in-process)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from helpers import Hub, sample
from synchub import replay
from synchub.environment import HubEnvironment


def test_redrive_moves_every_message_back_with_its_attributes(hub: Hub, env: HubEnvironment) -> None:
    dlq = hub.queue("WorkersReservationWorkerDeadLetterQueue")
    bodies = [json.dumps({"n": n}) for n in range(23)]
    for body in bodies:
        hub.sqs.send_message(
            QueueUrl=dlq, MessageBody=body, MessageAttributes={"origin": {"DataType": "String", "StringValue": "test"}}
        )
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
    return [
        i
        for i in hub.ddb.scan(TableName=hub.orders_table)["Items"]
        if i["pk"]["S"].startswith("OUTBOX#") and "outbox_status" in i
    ]


def test_outbox_dlq_replay_publishes_pending_events_once(hub: Hub, env: HubEnvironment, order_body: dict) -> None:
    """The stream path gave up (on-failure record in the DLQ): replay publishes from the outbox."""
    from orders.logic import accept
    from orders.models import OrderIn

    created = accept(OrderIn.model_validate(order_body), "replay-key-0001", "corr")
    assert len(_pending_outbox(hub)) == 1
    hub.sqs.send_message(
        QueueUrl=hub.queue("OutboxStreamDeadLetterQueue"),
        MessageBody=json.dumps(
            {
                "requestContext": {"condition": "RetryAttemptsExhausted"},
                "DDBStreamBatchInfo": {
                    "shardId": "shardId-1",
                    "startSequenceNumber": "1",
                    "endSequenceNumber": "1",
                    "batchSize": 1,
                    "streamArn": "arn:aws:dynamodb:eu-west-1:123456789012:table/x/stream/1",
                },
            }
        ),
    )
    report = replay.replay(env, "OutboxStreamDeadLetterQueue")
    assert (report.moved, report.swept) == (1, 1)
    assert _pending_outbox(hub) == []
    delivered = hub.receive("WorkersReservationWorkerQueue")
    assert [json.loads(m["Body"])["detail"]["entity_id"] for m in delivered] == [created.order_id]
    again = replay.replay(env, "OutboxStreamDeadLetterQueue")
    assert (again.moved, again.swept) == (0, 0)
    assert hub.depth("WorkersReservationWorkerQueue") == 1  # still only the one delivery (not yet deleted)


def test_outbox_replay_keeps_dlq_records_when_publishing_fails(
    hub: Hub, env: HubEnvironment, order_body: dict, monkeypatch
) -> None:
    from orders.logic import accept
    from orders.models import OrderIn
    from synchub_core import aws

    accept(OrderIn.model_validate(order_body), "replay-key-0002", "corr")
    hub.sqs.send_message(
        QueueUrl=hub.queue("OutboxSweepDeadLetterQueue"),
        MessageBody=json.dumps(
            sample("eventbridge-shipment-confirmed.json") | {"detail-type": "Scheduled Event", "detail": {}}
        ),
    )
    real = aws.client

    class FailingEvents:
        def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
            return {
                "FailedEntryCount": len(Entries),
                "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "boom"} for _ in Entries],
            }

    import outbox.repository as outbox_mod

    monkeypatch.setattr(outbox_mod, "client", lambda s: FailingEvents() if s == "events" else real(s))
    with pytest.raises(Exception, match="still unpublished"):
        replay.replay(env, "OutboxSweepDeadLetterQueue")
    assert hub.depth("OutboxSweepDeadLetterQueue") == 1  # nothing acknowledged, nothing lost
    assert len(_pending_outbox(hub)) == 1
    monkeypatch.setattr(outbox_mod, "client", real)
    assert replay.replay(env, "OutboxSweepDeadLetterQueue").swept == 1
    assert _pending_outbox(hub) == []
    assert hub.depth("OutboxSweepDeadLetterQueue") == 0


# --- at scale: batches, de-duplication, progress, bounded runs, refused entries ---------------------------

DLQ, SOURCE = "WorkersReservationWorkerDeadLetterQueue", "WorkersReservationWorkerQueue"


@pytest.fixture(autouse=True)
def _short_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto answers every receive from the whole queue: the long poll that makes an empty answer
    trustworthy on SQS only adds a second per run here."""
    monkeypatch.setattr(replay, "WAIT_SECONDS", 0)


def _fill(hub: Hub, name: str, bodies: list[str], attributes: dict[str, Any] | None = None) -> None:
    for i in range(0, len(bodies), 10):
        result = hub.sqs.send_message_batch(
            QueueUrl=hub.queue(name),
            Entries=[
                {"Id": str(n), "MessageBody": b, **({"MessageAttributes": attributes} if attributes else {})}
                for n, b in enumerate(bodies[i : i + 10])
            ],
        )
        assert not result.get("Failed")


def _visible(hub: Hub, name: str) -> int:
    attrs = hub.sqs.get_queue_attributes(QueueUrl=hub.queue(name), AttributeNames=["ApproximateNumberOfMessages"])
    return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


class _Sqs:
    """The real (moto) SQS client, with some calls replaced."""

    def __init__(self, real: Any, **overrides: Any) -> None:
        self._real, self._overrides = real, overrides

    def __getattr__(self, name: str) -> Any:
        return self._overrides.get(name) or getattr(self._real, name)


def _with_sqs(env: HubEnvironment, monkeypatch: pytest.MonkeyPatch, **overrides: Any) -> Any:
    factory = env.clients()
    real = factory("sqs")
    monkeypatch.setattr(env, "clients", lambda: lambda s: _Sqs(real, **overrides) if s == "sqs" else factory(s))
    return real


def test_non_json_bodies_are_listed_as_they_are_and_replayed(hub: Hub, env: HubEnvironment, capsys) -> None:
    bodies = ["plain text, not JSON", "{broken json", "two\nlines\tand a tab", '{"ok": "é"}', "x" * 500]
    _fill(hub, DLQ, bodies)
    report = replay.replay(env, DLQ, dry_run=True)
    assert sorted(report.messages) == sorted(bodies)
    replay.main_print(report, dry_run=True)
    out = capsys.readouterr().out
    assert f"{DLQ}: 5 message(s) would be replayed to" in out
    assert "plain text, not JSON" in out and "{broken json" in out and '{"ok": "é"}' in out
    assert "two\\nlines\\tand a tab" in out  # one line per message
    assert "x" * 197 + "..." in out and "x" * 198 not in out
    assert len(out.splitlines()) == 6
    assert set(report.message_ids) == {line.split()[0] for line in out.splitlines()[1:]}
    assert replay.replay(env, DLQ).moved == 5
    assert sorted(m["Body"] for m in hub.receive(SOURCE, max_messages=10)) == sorted(bodies)
    assert hub.depth(DLQ) == 0


def test_dry_run_of_2000_messages_lists_each_once_and_hides_none_from_the_replay_after_it(
    hub: Hub, tmp_path: Path, capsys
) -> None:
    """Through the CLI: the dry run lists 2,000 distinct messages, the replay right after moves all
    2,000 in batches, with progress on stderr."""
    from synchub import cli

    state = {
        "endpoint": None,
        "region": "eu-west-1",
        "queues": {k: v["url"] for k, v in hub.dep.queues.items()},
        "tables": hub.dep.tables,
        "event_bus": hub.dep.bus_name,
    }
    (tmp_path / "local.json").write_text(json.dumps(state))
    bodies = [json.dumps({"n": n}) for n in range(2000)]
    _fill(hub, DLQ, bodies, {"origin": {"DataType": "String", "StringValue": "bulk"}})

    assert cli.main(["replay", DLQ, "--dry-run", "--state-dir", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].startswith(f"{DLQ}: 2000 message(s) would be replayed to")
    listed = [line.split(maxsplit=1) for line in lines[1:]]
    assert len(listed) == 2000 and len({mid for mid, _ in listed}) == 2000
    assert sorted(body for _, body in listed) == sorted(bodies)
    assert err.splitlines() == [f"{DLQ}: {n} message(s) listed ..." for n in (500, 1000, 1500, 2000)] + [
        f"{DLQ}: 2000 message(s) listed, done"
    ]
    assert _visible(hub, DLQ) == 2000  # visible again at once, not after a timeout

    assert cli.main(["replay", DLQ, "--state-dir", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == f"{DLQ}: 2000 message(s) moved back to Synchub-{SOURCE}"
    assert err.splitlines()[-1] == f"{DLQ}: 2000 message(s) processed, done"
    assert [line for line in err.splitlines() if line.endswith("...")] == [
        f"{DLQ}: {n} message(s) processed ..." for n in (500, 1000, 1500, 2000)
    ]
    assert hub.depth(DLQ) == 0
    moved = hub.receive(SOURCE, max_messages=3000)
    assert sorted(m["Body"] for m in moved) == sorted(bodies)
    assert {
        (
            m["MessageAttributes"]["origin"]["StringValue"],
            m["MessageAttributes"][replay.REPLAY_ATTRIBUTE]["StringValue"],
        )
        for m in moved
    } == {("bulk", "1")}


def test_progress_callback_counts_listed_replayed_and_swept(hub: Hub, env: HubEnvironment) -> None:
    _fill(hub, DLQ, [json.dumps({"n": n}) for n in range(23)])
    calls: list[tuple[int, bool]] = []
    replay.replay(env, DLQ, dry_run=True, progress=lambda n, done: calls.append((n, done)), progress_every=10)
    assert calls == [(10, False), (20, False), (23, True)]
    calls.clear()
    assert replay.replay(env, DLQ, progress=lambda n, done: calls.append((n, done)), progress_every=10).moved == 23
    assert calls == [(10, False), (20, False), (23, True)]
    calls.clear()
    replay.replay(env, DLQ, progress=lambda n, done: calls.append((n, done)))
    assert calls == [(0, True)]  # an empty DLQ still gets its final count
    calls.clear()
    _fill(hub, "OutboxSweepDeadLetterQueue", ["{}"] * 3)
    assert replay.replay(env, "OutboxSweepDeadLetterQueue", progress=lambda n, d: calls.append((n, d))).moved == 3
    assert calls == [(3, True)]


def test_replay_ends_when_every_replayed_message_fails_again(
    hub: Hub, env: HubEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A consumer that still fails sends every replayed copy back to the DLQ (as the same message:
    same MessageId) before the run is over; the run must not chase its own tail."""
    real = _with_sqs(env, monkeypatch)

    def send_and_fail(QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        result = real.send_message_batch(QueueUrl=QueueUrl, Entries=Entries)
        while real.receive_message(QueueUrl=QueueUrl, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages"):
            pass  # received maxReceiveCount times without a delete: SQS moves them to the DLQ
        return result

    _with_sqs(env, monkeypatch, send_message_batch=send_and_fail)
    _fill(hub, DLQ, [json.dumps({"n": n}) for n in range(35)])
    report = replay.replay(env, DLQ)
    assert (report.moved, report.returned, report.failed) == (35, 35, [])
    assert "35 failed again during the run and wait in the DLQ" in str(report)
    assert hub.depth(SOURCE) == 0
    back = hub.receive(DLQ, max_messages=100)  # visible again right away, for the next run
    assert len(back) == 35
    assert {m["MessageAttributes"][replay.REPLAY_ATTRIBUTE]["StringValue"] for m in back} == {"1"}


def test_replay_ends_while_new_failures_keep_arriving(
    hub: Hub, env: HubEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fresh failures flow into the DLQ faster than the run drains it: the run replays the backlog
    (everything sent before it started) and leaves the newcomers for the next run."""
    monkeypatch.setattr(replay, "CLOCK_SKEW_MS", 0)
    _fill(hub, DLQ, [json.dumps({"old": n}) for n in range(40)])
    time.sleep(0.01)
    real = _with_sqs(env, monkeypatch)
    new = iter(range(10**6))

    def receive_while_failures_arrive(**kwargs: Any) -> dict[str, Any]:
        real.send_message_batch(
            QueueUrl=kwargs["QueueUrl"],
            Entries=[{"Id": str(i), "MessageBody": json.dumps({"new": next(new)})} for i in range(10)],
        )
        return real.receive_message(**kwargs)

    _with_sqs(env, monkeypatch, receive_message=receive_while_failures_arrive)
    report = replay.replay(env, DLQ)
    assert report.moved == 40
    assert 0 < report.arrived <= 10 * (4 + 40 + replay.IDLE_RECEIVES)
    assert sorted(json.loads(m["Body"])["old"] for m in hub.receive(SOURCE, max_messages=100)) == list(range(40))
    assert _visible(hub, DLQ) == next(new)  # every newcomer still waits in the DLQ, visible


def test_entries_sqs_refuses_stay_in_the_dlq_visible_and_are_reported(
    hub: Hub, env: HubEnvironment, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    real = _with_sqs(env, monkeypatch)

    def refuse_poison(QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        good = [e for e in Entries if "poison" not in e["MessageBody"]]
        result = real.send_message_batch(QueueUrl=QueueUrl, Entries=good) if good else {"Successful": []}
        return {
            "Successful": result["Successful"],
            "Failed": [
                {"Id": e["Id"], "SenderFault": False, "Code": "InternalError", "Message": "try again"}
                for e in Entries
                if "poison" in e["MessageBody"]
            ],
        }

    _with_sqs(env, monkeypatch, send_message_batch=refuse_poison)
    bodies = [json.dumps({"n": n, **({"poison": True} if n % 7 == 0 else {})}) for n in range(30)]
    _fill(hub, DLQ, bodies)
    report = replay.replay(env, DLQ)
    assert report.moved == 25 and len(report.failed) == 5
    assert {reason for _, reason in report.failed} == {"InternalError: try again"}
    kept = hub.receive(DLQ, max_messages=50)  # visible right away, not after a visibility timeout
    assert sorted(m["Body"] for m in kept) == sorted(b for b in bodies if "poison" in b)
    assert {m["MessageId"] for m in kept} == {mid for mid, _ in report.failed}
    assert sorted(m["Body"] for m in hub.receive(SOURCE, max_messages=50)) == sorted(
        b for b in bodies if "poison" not in b
    )
    replay.main_print(report, dry_run=False)
    out = capsys.readouterr().out
    assert "5 could not be sent and stay in the DLQ" in out
    assert out.count("not sent: ") == 5


def test_large_messages_go_back_in_batches_within_the_size_limit(hub: Hub, env: HubEnvironment) -> None:
    bodies = [json.dumps({"n": n, "pad": "x" * 60_000}) for n in range(10)]  # ten of them exceed 256 KiB
    for body in bodies:
        hub.sqs.send_message(QueueUrl=hub.queue(DLQ), MessageBody=body)
    assert replay.replay(env, DLQ).moved == 10
    assert sorted(m["Body"] for m in hub.receive(SOURCE, max_messages=20)) == sorted(bodies)


def test_dry_run_shows_why_a_worker_refused_a_message(hub: Hub, env: HubEnvironment, capsys) -> None:
    """A message a worker refused (dead-lettered at once, not retried) carries the reason and who
    refused it; the listing shows them under the message, one line each, and the replay counts them."""
    from synchub_core import lambda_support

    assert (replay.REFUSAL_REASON, replay.REFUSED_BY) == (lambda_support.REFUSAL_REASON, lambda_support.REFUSED_BY)
    dlq = "WorkersInvoicingWorkerDeadLetterQueue"
    reason = "ShipmentConfirmed e-1 from wms.tilburg names warehouse UTR, which is not its own:\nTLB only"
    hub.sqs.send_message(
        QueueUrl=hub.queue(dlq),
        MessageBody='{"refused": true}',
        MessageAttributes={
            replay.REFUSAL_REASON: {"DataType": "String", "StringValue": reason},
            replay.REFUSED_BY: {"DataType": "String", "StringValue": "invoicing (Synchub-Invoicing)"},
        },
    )
    hub.sqs.send_message(QueueUrl=hub.queue(dlq), MessageBody='{"failed": true}')  # retries exhausted

    report = replay.replay(env, dlq, dry_run=True)
    replay.main_print(report, dry_run=True)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{dlq}: 2 message(s) would be replayed to")
    listing = dict(zip(report.messages, report.refusals, strict=True))
    shown = "refused by invoicing (Synchub-Invoicing): " + reason.replace("\n", "\\n")  # kept on one line
    assert listing == {'{"refused": true}': shown, '{"failed": true}': None}
    refused_at = next(n for n, line in enumerate(out) if '{"refused": true}' in line)
    assert out[refused_at + 1] == "      " + shown
    assert len(out) == 4  # header, two messages, one reason

    moved = replay.replay(env, dlq)
    assert (moved.moved, moved.refused) == (2, 1)
    assert str(moved) == (
        f"{dlq}: 2 message(s) moved back to {moved.target}; 1 had been refused by the worker "
        "(`synchub replay --dry-run` shows why): unless what they were refused for has changed, they are refused again"
    )


def test_replay_ends_when_the_worker_refuses_every_copy_at_once(
    hub: Hub, env: HubEnvironment, monkeypatch: pytest.MonkeyPatch, lambda_context: Any
) -> None:
    """The worker refuses each replayed copy while the run is still going: it sends it to the DLQ
    itself, as a *new* message (new MessageId, fresh SentTimestamp) with the copy's attributes.
    The run recognises its own copies by their run id and holds them back instead of replaying
    them again and again until the clock allowance runs out."""
    from helpers.reservation import deployed
    from inventory.handler import lambda_handler

    worker = deployed(hub, "WorkersInventoryWorkerQueue", lambda_handler)
    real = _with_sqs(env, monkeypatch)
    source = hub.queue("WorkersInventoryWorkerQueue")

    def send_and_refuse(QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        result = real.send_message_batch(QueueUrl=QueueUrl, Entries=Entries)
        got = real.receive_message(
            QueueUrl=source, MaxNumberOfMessages=10, MessageAttributeNames=["All"], AttributeNames=["All"]
        )["Messages"]
        event = hub.sqs_event("WorkersInventoryWorkerQueue", got)
        for record, m in zip(event["Records"], got, strict=True):
            record["messageAttributes"] = {
                k: {"stringValue": v["StringValue"], "dataType": v["DataType"]}
                for k, v in m["MessageAttributes"].items()
            }
        assert worker(event, lambda_context) == {"batchItemFailures": []}  # every one refused into the DLQ
        for m in got:
            real.delete_message(QueueUrl=source, ReceiptHandle=m["ReceiptHandle"])
        return result

    _with_sqs(env, monkeypatch, send_message_batch=send_and_refuse)
    dlq = "WorkersInventoryWorkerDeadLetterQueue"
    _fill(hub, dlq, [json.dumps({"poison": n}) for n in range(12)])

    report = replay.replay(env, dlq)

    assert (report.moved, report.returned, report.arrived) == (12, 12, 0)
    back = hub.receive(dlq, max_messages=50)
    assert sorted(json.loads(m["Body"])["poison"] for m in back) == list(range(12))
    assert {m["MessageAttributes"][replay.REFUSAL_REASON]["StringValue"] for m in back} == {
        "invalid EventEnvelope: "
        + "; ".join(
            f"{f}: Field required"
            for f in (
                "event_id",
                "event_type",
                "event_version",
                "occurred_at",
                "correlation_id",
                "source_system",
                "entity_id",
                "sequence",
                "data",
            )
        )
        + "; poison: Extra inputs are not permitted"
    }
    assert {m["MessageAttributes"][replay.REPLAY_ATTRIBUTE]["StringValue"] for m in back} == {"1"}


def test_a_refusals_attributes_are_not_carried_back_to_the_source_queue(hub: Hub, env: HubEnvironment) -> None:
    """The reason describes one delivery's verdict: the copy goes back without it (should it fail
    for another reason next time, it must not reach the DLQ showing the old one)."""
    dlq = "WorkersInvoicingWorkerDeadLetterQueue"
    hub.sqs.send_message(
        QueueUrl=hub.queue(dlq),
        MessageBody="{}",
        MessageAttributes={
            name: {"DataType": "String", "StringValue": "x"}
            for name in (replay.REFUSAL_REASON, replay.REFUSED_BY, "synchub-source-queue", "origin")
        },
    )
    assert replay.replay(env, dlq).moved == 1
    (back,) = hub.receive("WorkersInvoicingWorkerQueue")
    assert sorted(back["MessageAttributes"]) == [
        "origin",
        replay.ORIGINAL_SENDER,  # the DLQ message's SenderId (it carried no recorded sender)
        replay.REPLAY_ATTRIBUTE,
        replay.RUN_ATTRIBUTE,
    ]


def test_a_copy_records_who_first_sent_the_message(hub: Hub, env: HubEnvironment) -> None:
    """The copy's own SenderId is the replayer's: it carries the original sender instead, the one the
    DLQ message recorded (a worker's refusal, an earlier replay) or else the DLQ message's SenderId
    (a message moved by the redrive policy keeps the sender it was sent with)."""
    from synchub_core import lambda_support

    assert replay.ORIGINAL_SENDER == lambda_support.ORIGINAL_SENDER
    dlq, source = "WorkersInventoryWorkerDeadLetterQueue", "WorkersInventoryWorkerQueue"
    recorded = "AROAUTRECHTPRODUCER01:wms-utrecht"
    hub.sqs.send_message(
        QueueUrl=hub.queue(dlq),
        MessageBody='{"recorded": true}',
        MessageAttributes={replay.ORIGINAL_SENDER: {"DataType": "String", "StringValue": recorded}},
    )
    hub.sqs.send_message(QueueUrl=hub.queue(dlq), MessageBody='{"recorded": false}')
    got = hub.sqs.receive_message(
        QueueUrl=hub.queue(dlq), MaxNumberOfMessages=10, VisibilityTimeout=0, AttributeNames=["SenderId"]
    )["Messages"]
    (own_sender,) = {m["Attributes"]["SenderId"] for m in got}  # what the emulator says sent them

    assert replay.replay(env, dlq).moved == 2

    back = {m["Body"]: m["MessageAttributes"] for m in hub.receive(source)}
    assert back['{"recorded": true}'][replay.ORIGINAL_SENDER]["StringValue"] == recorded
    assert back['{"recorded": false}'][replay.ORIGINAL_SENDER]["StringValue"] == own_sender
