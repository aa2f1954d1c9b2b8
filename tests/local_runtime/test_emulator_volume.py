"""The emulator at volume: transactions cost what their items cost, streams, iterators and SQS
bookkeeping stay bounded, and a cancelled transaction leaves no trace (moto in-process)."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from typing import Any

import pytest

from helpers import create_streamed_table
from synchub.local import moto_isolation

REGION = "eu-west-1"


@pytest.fixture
def aws(moto_server: Any) -> Iterator[Any]:
    """The emulator over HTTP (streams need the server); tests look into its backends directly."""
    create_streamed_table(moto_server("dynamodb"), "t")
    yield moto_server


def _table() -> Any:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].tables["t"]


def _item(ddb: Any, pk: str, sk: str = "A") -> dict[str, Any] | None:
    return ddb.get_item(TableName="t", Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True).get("Item")


def test_a_cancelled_transaction_restores_updated_and_deleted_items_and_its_stream_records(aws: Any) -> None:
    ddb = aws("dynamodb")
    ddb.put_item(TableName="t", Item={"pk": {"S": "upd"}, "sk": {"S": "A"}, "n": {"N": "1"}})
    ddb.put_item(TableName="t", Item={"pk": {"S": "del"}, "sk": {"S": "A"}, "n": {"N": "1"}})
    ddb.put_item(TableName="t", Item={"pk": {"S": "guard"}, "sk": {"S": "A"}})
    records_before = len(_table().stream_shard.items)
    with pytest.raises(ddb.exceptions.TransactionCanceledException) as err:
        ddb.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": "t",
                        "Key": {"pk": {"S": "upd"}, "sk": {"S": "A"}},
                        "UpdateExpression": "SET n = n + :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
                {"Delete": {"TableName": "t", "Key": {"pk": {"S": "del"}, "sk": {"S": "A"}}}},
                {"Put": {"TableName": "t", "Item": {"pk": {"S": "new"}, "sk": {"S": "A"}}}},
                {
                    "Put": {
                        "TableName": "t",
                        "Item": {"pk": {"S": "guard"}, "sk": {"S": "A"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    reasons = [r["Code"] for r in err.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "None", "ConditionalCheckFailed"]
    assert _item(ddb, "upd")["n"] == {"N": "1"}
    assert _item(ddb, "del")["n"] == {"N": "1"}
    assert _item(ddb, "new") is None
    assert len(_table().stream_shard.items) == records_before
    # and a transaction that commits writes every item and every stream record
    ddb.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": "t",
                    "Key": {"pk": {"S": "upd"}, "sk": {"S": "A"}},
                    "UpdateExpression": "SET n = n + :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            },
            {"Delete": {"TableName": "t", "Key": {"pk": {"S": "del"}, "sk": {"S": "A"}}}},
            {
                "ConditionCheck": {
                    "TableName": "t",
                    "Key": {"pk": {"S": "guard"}, "sk": {"S": "A"}},
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
        ]
    )
    assert _item(ddb, "upd")["n"] == {"N": "2"} and _item(ddb, "del") is None
    assert len(_table().stream_shard.items) == records_before + 2


def test_validation_errors_and_duplicate_keys_roll_back_too(aws: Any) -> None:
    ddb = aws("dynamodb")
    with pytest.raises(ddb.exceptions.ClientError):
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "t", "Item": {"pk": {"S": "a"}, "sk": {"S": "A"}}}},
                {"Put": {"TableName": "t", "Item": {"pk": {"S": "a"}, "sk": {"S": "A"}, "x": {"S": "1"}}}},
            ]
        )
    assert _item(ddb, "a") is None
    assert _table().stream_shard.items == []


def test_a_transaction_copies_only_the_items_it_touches(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    ddb = aws("dynamodb")
    table = _table()
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    for n in range(3000):  # straight into the table: the point is its size, not how it got there
        h, r = DynamoType({"S": f"bulk{n}"}), DynamoType({"S": "A"})
        table.items[h][r] = Item(h, r, {"pk": {"S": f"bulk{n}"}, "sk": {"S": "A"}, "pad": {"S": "x" * 200}})
    copied: list[Any] = []
    real_deepcopy = copy.deepcopy

    def counting(obj: Any, *args: Any) -> Any:
        copied.append(obj)
        return real_deepcopy(obj, *args)

    monkeypatch.setattr(moto_isolation.copy, "deepcopy", counting)
    monkeypatch.setattr(copy, "deepcopy", counting)
    ddb.transact_write_items(
        TransactItems=[{"Put": {"TableName": "t", "Item": {"pk": {"S": f"o{n}"}, "sk": {"S": "A"}}}} for n in range(6)]
    )
    from moto.dynamodb.models.table import Table

    assert not any(isinstance(obj, Table) for obj in copied)
    assert len(copied) <= 6  # one snapshot per touched item, at most


def _stream(aws: Any) -> tuple[Any, str]:
    ddb, streams = aws("dynamodb"), aws("dynamodbstreams")
    arn = ddb.describe_table(TableName="t")["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    return streams, streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]


def test_stream_records_are_trimmed_once_every_open_iterator_has_read_them(aws: Any) -> None:
    ddb = aws("dynamodb")
    for n in range(50):
        ddb.put_item(TableName="t", Item={"pk": {"S": f"k{n}"}, "sk": {"S": "A"}})
    streams, iterator = _stream(aws)
    got = streams.get_records(ShardIterator=iterator, Limit=20)
    assert len(got["Records"]) == 20
    got2 = streams.get_records(ShardIterator=got["NextShardIterator"], Limit=1000)
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in got2["Records"]] == [f"k{n}" for n in range(20, 50)]
    assert len(_table().stream_shard.items) == 0  # everything read by the only consumer
    ddb.put_item(TableName="t", Item={"pk": {"S": "later"}, "sk": {"S": "A"}})
    got3 = streams.get_records(ShardIterator=got2["NextShardIterator"])
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in got3["Records"]] == ["later"]
    # sequence numbers keep growing across trims
    assert int(got3["Records"][0]["dynamodb"]["SequenceNumber"]) > int(
        got2["Records"][-1]["dynamodb"]["SequenceNumber"]
    )


def test_records_an_open_iterator_has_not_read_are_kept(aws: Any) -> None:
    ddb = aws("dynamodb")
    for n in range(10):
        ddb.put_item(TableName="t", Item={"pk": {"S": f"k{n}"}, "sk": {"S": "A"}})
    streams, slow = _stream(aws)
    _, fast = _stream(aws)
    streams.get_records(ShardIterator=fast)
    assert len(_table().stream_shard.items) == 10  # the slow consumer has read nothing yet
    assert len(streams.get_records(ShardIterator=slow)["Records"]) == 10


def test_shard_iterators_do_not_pile_up_under_polling(aws: Any) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    streams, iterator = _stream(aws)
    for _ in range(500):
        iterator = streams.get_records(ShardIterator=iterator)["NextShardIterator"]
    assert len(dynamodbstreams_backends[DEFAULT_ACCOUNT_ID][REGION].shard_iterators) <= 3


def test_deleted_sqs_receipt_handles_are_bounded(moto_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(moto_isolation, "DELETED_HANDLES_KEPT", 50)
    sqs = moto_server("sqs")
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    handles = []
    for n in range(120):
        sqs.send_message(QueueUrl=url, MessageBody=str(n))
        m = sqs.receive_message(QueueUrl=url)["Messages"][0]
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        handles.append(m["ReceiptHandle"])
    sqs.delete_message(QueueUrl=url, ReceiptHandle=handles[-1])  # a repeated delete is still accepted
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sqs.models import sqs_backends

    assert len(sqs_backends[DEFAULT_ACCOUNT_ID][REGION].queues["q"].deleted_messages) <= 50


def test_queries_read_their_partition_or_the_indexed_items_not_the_whole_table(
    moto_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ddb = moto_server("dynamodb")
    ddb.create_table(
        TableName="g",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "gpk")],
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[
            {
                "IndexName": "sparse",
                "KeySchema": [{"AttributeName": "gpk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    for n in range(30):
        ddb.put_item(
            TableName="g",
            Item={
                "pk": {"S": f"p{n % 3}"},
                "sk": {"S": f"s{n:02d}"},
                **({"gpk": {"S": "OPEN"}} if n % 10 == 0 else {}),
            },
        )
    from moto.dynamodb.models.table import Table

    def no_full_listing(self: Any) -> Any:
        raise AssertionError("a query listed every item of the table")

    monkeypatch.setattr(Table, "all_items", no_full_listing)
    got = ddb.query(
        TableName="g",
        KeyConditionExpression="pk = :p AND sk > :s",
        ExpressionAttributeValues={":p": {"S": "p1"}, ":s": {"S": "s05"}},
        ScanIndexForward=False,
    )
    assert [i["sk"]["S"] for i in got["Items"]] == ["s28", "s25", "s22", "s19", "s16", "s13", "s10", "s07"]
    assert (
        ddb.query(TableName="g", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "nope"}})[
            "Items"
        ]
        == []
    )
    page = ddb.query(
        TableName="g",
        IndexName="sparse",
        KeyConditionExpression="gpk = :o",
        Limit=2,
        ExpressionAttributeValues={":o": {"S": "OPEN"}},
    )
    assert [i["sk"]["S"] for i in page["Items"]] == ["s00", "s10"]
    rest = ddb.query(
        TableName="g",
        IndexName="sparse",
        KeyConditionExpression="gpk = :o",
        ExclusiveStartKey=page["LastEvaluatedKey"],
        ExpressionAttributeValues={":o": {"S": "OPEN"}},
    )
    assert [i["sk"]["S"] for i in rest["Items"]] == ["s20"]


def test_moto_does_not_keep_every_item_stream_record_and_message_it_ever_made(moto_server: Any) -> None:
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import StreamRecord
    from moto.dynamodbstreams.models import ShardIterator
    from moto.sqs.models import Message

    ddb = moto_server("dynamodb")
    ddb.create_table(
        TableName="k",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )
    for n in range(20):
        ddb.put_item(TableName="k", Item={"pk": {"S": "same"}, "n": {"N": str(n)}})  # 20 versions of one item
    sqs = moto_server("sqs")
    url = sqs.create_queue(QueueName="m")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x")
    sqs.receive_message(QueueUrl=url)
    for model in (Item, StreamRecord, ShardIterator, Message):
        assert model.instances_tracked == [], model.__name__


def test_the_emulator_server_keeps_connections_alive_and_reads_whole_requests() -> None:
    import http.client

    from synchub.local.emulator_server import EmulatorServer

    seen: list[tuple[str, bytes, str]] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = environ["wsgi.input"].read()
        seen.append((environ["REQUEST_METHOD"], body, environ.get("HTTP_X_AMZ_TARGET", "")))
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"echo": ', str(len(body)).encode(), b"}"]

    server = EmulatorServer(app)
    server.start()
    try:
        host, port = server.host_and_port
        conn = http.client.HTTPConnection(host, port, timeout=5)
        conn.request("POST", "/", body=b'{"a": 1}', headers={"X-Amz-Target": "DynamoDB_20120810.GetItem"})
        first = conn.getresponse()
        assert first.status == 200 and first.read() == b'{"echo": 8}'
        sock = conn.sock
        conn.request(
            "POST",
            "/",
            body=iter([b"chunk-1;", b"chunk-2"]),
            encode_chunked=True,
            headers={"Transfer-Encoding": "chunked"},
        )
        assert conn.getresponse().read() == b'{"echo": 15}'
        conn.request("GET", "/moto-api/")
        assert conn.getresponse().read() == b'{"echo": 0}'
        assert conn.sock is sock  # one connection served all three
        assert seen == [
            ("POST", b'{"a": 1}', "DynamoDB_20120810.GetItem"),
            ("POST", b"chunk-1;chunk-2", ""),
            ("GET", b"", ""),
        ]
        conn.close()
    finally:
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 2
