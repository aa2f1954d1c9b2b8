"""The local hub keeps its data across restarts: journal + snapshot of the emulator's state."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from moto.core import DEFAULT_ACCOUNT_ID

from helpers import create_streamed_table
from synchub.local.persistence import Store

REGION = "eu-west-1"


def _provision(aws: Any) -> dict[str, str]:
    """What the template would provision: a table with a stream, a queue with a DLQ."""
    sqs = aws("sqs")
    create_streamed_table(aws("dynamodb"), "t")
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    src = sqs.create_queue(
        QueueName="src",
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"})},
    )["QueueUrl"]
    return {"src": src, "dlq": dlq}


def _restart(aws: Any) -> dict[str, str]:
    """A new emulator process, as after a restart: empty, then provisioned again."""
    endpoint = aws("sqs").meta.endpoint_url
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).read()
    return _provision(aws)


def _items(aws: Any) -> dict[str, Any]:
    items = aws("dynamodb").scan(TableName="t", ConsistentRead=True)["Items"]
    return {f"{i['pk']['S']}/{i['sk']['S']}": i for i in items}


def _bodies(aws: Any, url: str) -> list[str]:
    sqs = aws("sqs")
    out = []
    while got := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30, MessageAttributeNames=["All"]
    ).get("Messages", []):
        out += [m["Body"] + json.dumps(m.get("MessageAttributes", {}), sort_keys=True) for m in got]
    return sorted(out)


def _store(path: Path) -> Store:
    return Store(path, DEFAULT_ACCOUNT_ID, REGION, interval=3600)  # flushed by the test, not by time


def _put(aws: Any, pk: str, **attrs: str) -> None:
    aws("dynamodb").put_item(
        TableName="t", Item={"pk": {"S": pk}, "sk": {"S": "A"}, **{k: {"S": v} for k, v in attrs.items()}}
    )


def test_items_messages_dlq_and_unread_stream_records_survive_a_clean_restart(moto_server: Any, tmp_path: Path) -> None:
    aws = moto_server
    q = _provision(aws)
    store = _store(tmp_path)
    assert not store.restore()
    store.start()
    ddb, sqs = aws("dynamodb"), aws("sqs")
    for n in range(30):
        _put(aws, f"k{n}", v=str(n))
    ddb.update_item(
        TableName="t",
        Key={"pk": {"S": "k1"}, "sk": {"S": "A"}},
        UpdateExpression="SET v = :v",
        ExpressionAttributeValues={":v": {"S": "updated"}},
    )
    ddb.delete_item(TableName="t", Key={"pk": {"S": "k2"}, "sk": {"S": "A"}})
    ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": "t", "Item": {"pk": {"S": "tx"}, "sk": {"S": "A"}}}},
            {"Delete": {"TableName": "t", "Key": {"pk": {"S": "k3"}, "sk": {"S": "A"}}}},
        ]
    )
    for n in range(5):
        sqs.send_message(
            QueueUrl=q["src"],
            MessageBody=f"m{n}",
            MessageAttributes={"origin": {"DataType": "String", "StringValue": "wms"}},
        )
    sqs.send_message(QueueUrl=q["src"], MessageBody="not json {")
    store.flush()
    # one message delivered and deleted, all others received once: the next receive dead-letters them
    first = sqs.receive_message(QueueUrl=q["src"], MaxNumberOfMessages=10, VisibilityTimeout=0)["Messages"]
    sqs.delete_message(QueueUrl=q["src"], ReceiptHandle=first[0]["ReceiptHandle"])
    sqs.receive_message(QueueUrl=q["src"], MaxNumberOfMessages=10)  # moves the rest to the DLQ
    expected_items = json.dumps(_items(aws), sort_keys=True)
    store.stop()  # clean stop: final flush + unread stream records

    q = _restart(aws)
    assert _items(aws) == {}
    restored = _store(tmp_path)
    report = restored.restore()
    assert (
        report.items == 29 and report.messages == 5 and report.stream_records == 34
    )  # 30 puts, update, delete, tx put + delete
    assert json.dumps(_items(aws), sort_keys=True) == expected_items
    dead = _bodies(aws, q["dlq"])
    assert len(dead) == 5 and all('"origin"' in b for b in dead if b.startswith("m"))
    assert any(b.startswith("not json {") for b in dead)
    assert _bodies(aws, q["src"]) == []
    streams = aws("dynamodbstreams")
    arn = aws("dynamodb").describe_table(TableName="t")["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    records = streams.get_records(ShardIterator=it)["Records"]
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in records][:3] == ["k0", "k1", "k2"]
    assert len(records) == 34


def test_a_crash_loses_only_what_was_not_flushed_and_never_half_a_block(moto_server: Any, tmp_path: Path) -> None:
    aws = moto_server
    _provision(aws)
    store = _store(tmp_path)
    store.restore()
    store.start()
    _put(aws, "flushed")
    store.flush()
    _put(aws, "unflushed")  # the process dies before the next flush
    journal = next(tmp_path.glob("journal-*.jsonl"))
    with journal.open("ab") as fh:  # and it died in the middle of writing a block
        fh.write(
            json.dumps(
                {"t": "t", "k": {"pk": {"S": "torn"}, "sk": {"S": "A"}}, "i": {"pk": {"S": "torn"}, "sk": {"S": "A"}}}
            ).encode()
            + b"\n"
        )
        fh.write(b'{"t": "t", "k": {"pk"')
    from synchub.local import moto_isolation

    moto_isolation.set_change_listener(None)  # what the kill did to the old process
    _restart(aws)
    report = _store(tmp_path).restore()
    assert set(_items(aws)) == {"flushed/A"}
    assert report.torn_blocks == 1


def test_compaction_keeps_everything_and_a_cut_short_compaction_is_harmless(moto_server: Any, tmp_path: Path) -> None:
    aws = moto_server
    _provision(aws)
    store = _store(tmp_path)
    store.restore()
    store.start()
    for n in range(20):
        _put(aws, f"k{n}", v="old")
    store.flush()
    old_journal = next(tmp_path.glob("journal-*.jsonl")).read_bytes()
    _put(aws, "k0", v="new")
    store.compact()
    assert (tmp_path / "snapshot.jsonl").exists()
    assert len(list(tmp_path.glob("journal-*.jsonl"))) == 1  # the new generation only
    _put(aws, "k1", v="after")
    store.stop()
    # a compaction cut short after the snapshot was renamed leaves the old journal behind
    (tmp_path / "journal-00000001.jsonl").write_bytes(old_journal)
    _restart(aws)
    _store(tmp_path).restore()
    items = _items(aws)
    assert len(items) == 20
    assert items["k0/A"]["v"] == {"S": "new"} and items["k1/A"]["v"] == {"S": "after"}
    assert items["k2/A"]["v"] == {"S": "old"}
    assert not (tmp_path / "journal-00000001.jsonl").exists()


def _one_item_kept(aws: Any, tmp_path: Path) -> None:
    """A hub that wrote one item and stopped cleanly."""
    _provision(aws)
    store = _store(tmp_path)
    store.restore()
    store.start()
    _put(aws, "k")
    store.stop()


def test_state_of_resources_no_longer_in_the_template_is_reported_not_fatal(moto_server: Any, tmp_path: Path) -> None:
    aws = moto_server
    _one_item_kept(aws, tmp_path)
    urllib.request.urlopen(
        urllib.request.Request(f"{aws('sqs').meta.endpoint_url}/moto-api/reset", method="POST")
    ).read()
    report = _store(tmp_path).restore()  # nothing provisioned: the table is gone
    assert report.skipped == {"t": 2}  # the item and its stream record
    assert "not in the template any more" in str(report)


def test_wipe_starts_empty(moto_server: Any, tmp_path: Path) -> None:
    aws = moto_server
    _one_item_kept(aws, tmp_path)
    _restart(aws)
    fresh = _store(tmp_path)
    fresh.wipe()
    assert not fresh.restore()
    assert _items(aws) == {}


@pytest.mark.parametrize("garbage", [b"", b"\x00\x01not json", b'{"format": "something-else"}\n'])
def test_an_unreadable_snapshot_never_prevents_starting(moto_server: Any, tmp_path: Path, garbage: bytes) -> None:
    _provision(moto_server)
    (tmp_path / "snapshot.jsonl").write_bytes(garbage)
    assert not _store(tmp_path).restore()
