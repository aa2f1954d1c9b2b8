"""The transactional outbox: the stream publisher (fast path) and the sweeper (safety net).

Stream events are built from the orders table's real stream records (NEW_IMAGE, DynamoDB JSON),
turned into the DynamoDB Streams event Lambda delivers. What reaches EventBridge is observed with a
catch-all test rule on the hub's bus that targets a test queue.
"""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from helpers import REGION, Hub, sample

OUTBOX_PENDING_INDEX = "outbox-pending"


# --------------------------------------------------------------------------------------------- helpers


class StreamReader:
    """Reads the orders table's stream from TRIM_HORIZON on, returning only records not read before,
    in the shape the Lambda DynamoDB event source delivers them."""

    def __init__(self, hub: Hub) -> None:
        self.arn = hub.ddb.describe_table(TableName=hub.orders_table)["Table"]["LatestStreamArn"]
        self.streams = boto3.client("dynamodbstreams", region_name=REGION)
        try:
            desc = self.streams.describe_stream(StreamArn=self.arn)["StreamDescription"]
            self._api = "boto3"
        except ClientError:
            # in-process moto routes DynamoDB Streams calls by signing name ("dynamodb") and answers
            # "Not yet implemented"; read the same records from moto's DynamoDB Streams backend.
            from moto.core import DEFAULT_ACCOUNT_ID
            from moto.dynamodbstreams.models import dynamodbstreams_backends

            self.backend = dynamodbstreams_backends[DEFAULT_ACCOUNT_ID][REGION]
            desc = self.backend.describe_stream(self.arn)
            self._api = "moto"
        self.iterators = {shard["ShardId"]: self._iterator(shard["ShardId"]) for shard in desc["Shards"]}

    def _iterator(self, shard_id: str) -> str:
        if self._api == "boto3":
            return self.streams.get_shard_iterator(
                StreamArn=self.arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
        return self.backend.get_shard_iterator(self.arn, shard_id, "TRIM_HORIZON").arn

    def _get(self, iterator: str) -> dict[str, Any]:
        if self._api == "boto3":
            return self.streams.get_records(ShardIterator=iterator, Limit=1000)
        return copy.deepcopy(self.backend.get_records(iterator, 1000))

    def read(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for shard_id, iterator in self.iterators.items():
            resp = self._get(iterator)
            self.iterators[shard_id] = resp["NextShardIterator"]
            out.extend(self._lambda_record(r) for r in resp.get("Records", []))
        return out

    def _lambda_record(self, r: dict[str, Any]) -> dict[str, Any]:
        d = dict(r["dynamodb"])
        created = d.get("ApproximateCreationDateTime")
        if isinstance(created, datetime):
            d["ApproximateCreationDateTime"] = created.replace(tzinfo=created.tzinfo or UTC).timestamp()
        return {
            "eventID": r["eventID"],
            "eventName": r["eventName"],
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": REGION,
            "dynamodb": d,
            "eventSourceARN": self.arn,
        }


def is_outbox(record: dict[str, Any]) -> bool:
    return record["dynamodb"]["Keys"]["pk"]["S"].startswith("OUTBOX#")


def seq(record: dict[str, Any]) -> str:
    return record["dynamodb"]["SequenceNumber"]


def stream_event(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Records": records}


class Observer:
    """A catch-all rule on the hub's bus delivering every published event to a test queue."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.url = hub.sqs.create_queue(QueueName=f"test-observer-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        arn = hub.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        bus = hub.dep.bus_name or "synchub-bus"
        hub.events.put_rule(
            Name="test-catch-all",
            EventBusName=bus,
            State="ENABLED",
            EventPattern=json.dumps({"source": [{"prefix": ""}]}),
        )
        hub.events.put_targets(Rule="test-catch-all", EventBusName=bus, Targets=[{"Id": "observer", "Arn": arn}])

    def drain(self) -> list[dict[str, Any]]:
        """Every event delivered since the last drain (removed from the test queue)."""
        out: list[dict[str, Any]] = []
        while True:
            got = self.hub.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10, VisibilityTimeout=60).get(
                "Messages", []
            )
            if not got:
                return out
            for m in got:
                out.append(json.loads(m["Body"]))
                self.hub.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"])


@pytest.fixture
def observer(hub: Hub) -> Observer:
    return Observer(hub)


def accept_order(body: dict[str, Any] | None = None) -> str:
    from orders.logic import accept
    from orders.models import OrderIn

    body = body or sample("api-post-order.json")
    body["channel_order_ref"] = f"WS-{uuid.uuid4().hex[:10]}"
    result = accept(OrderIn.model_validate(body), f"idem-{uuid.uuid4().hex}", "corr-outbox-test")
    assert result.created
    return result.order_id


def outbox_items(hub: Hub) -> list[dict[str, Any]]:
    """The outbox items of the orders under test (the StockAvailable events the seeded stock
    reports wrote are left out: they are not what these tests follow)."""
    from synchub_core.ddb import from_ddb

    items = hub.ddb.scan(TableName=hub.orders_table, ConsistentRead=True)["Items"]
    return sorted(
        (
            from_ddb(i)
            for i in items
            if i["pk"]["S"].startswith("OUTBOX#") and i.get("detail_type", {}).get("S") != "StockAvailable"
        ),
        key=lambda i: i["created_at"],
    )


def outbox_item(hub: Hub, event_id: str) -> dict[str, Any]:
    from synchub_core.ddb import get

    item = get(hub.orders_table, {"pk": f"OUTBOX#{event_id}", "sk": "OUTBOX"})
    assert item is not None
    return item


def pending_in_index(hub: Hub) -> list[str]:
    """Keys in the sparse outbox-pending index (what the sweeper queries)."""
    resp = hub.ddb.query(
        TableName=hub.orders_table,
        IndexName=OUTBOX_PENDING_INDEX,
        KeyConditionExpression="outbox_status = :p",
        ExpressionAttributeValues={":p": {"S": "PENDING"}},
    )
    return sorted(i["pk"]["S"] for i in resp["Items"])


def event_ids(delivered: list[dict[str, Any]]) -> list[str]:
    return [d["detail"]["event_id"] for d in delivered]


def run_stream(event: dict[str, Any], ctx: Any) -> dict[str, Any]:
    from outbox.handler import stream_handler

    return stream_handler(event, ctx)


def fail_put_events_for(
    monkeypatch: pytest.MonkeyPatch, doomed: set[str], *, raise_error: bool = False, calls: list[int] | None = None
) -> None:
    """Make EventBridge reject (or the call raise for) entries whose envelope has an id in ``doomed``."""
    from synchub_core.aws import client

    events = client("events")
    real = events.put_events

    def put_events(Entries: list[dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
        if calls is not None:
            calls.append(len(Entries))
        bad = [json.loads(e["Detail"])["event_id"] in doomed for e in Entries]
        if any(bad) and raise_error:
            raise ClientError({"Error": {"Code": "InternalException", "Message": "EventBridge is unwell"}}, "PutEvents")
        good = [e for e, b in zip(Entries, bad, strict=True) if not b]
        accepted = iter(real(Entries=good, **kwargs)["Entries"] if good else [])
        results = [
            {"ErrorCode": "InternalFailure", "ErrorMessage": "injected failure"} if b else next(accepted) for b in bad
        ]
        return {"FailedEntryCount": sum(bad), "Entries": results}

    monkeypatch.setattr(events, "put_events", put_events)


def assert_published(hub: Hub, event_id: str, before: datetime) -> dict[str, Any]:
    item = outbox_item(hub, event_id)
    assert "outbox_status" not in item
    published = datetime.fromisoformat(item["published_at"].replace("Z", "+00:00"))
    assert before - timedelta(seconds=1) <= published <= datetime.now(UTC) + timedelta(seconds=1)
    expected_expiry = published + timedelta(days=7)
    assert abs(int(item["expires_at"]) - expected_expiry.timestamp()) < 5  # TTL attribute of the table
    assert item["eventbridge_id"]
    return item


# --------------------------------------------------------------------------------------------- stream path


def test_stream_publishes_a_new_outbox_item_once(hub: Hub, lambda_context: Any, observer: Observer) -> None:
    from synchub_core.envelope import EventEnvelope

    started = datetime.now(UTC)
    order_id = accept_order()
    [stored] = outbox_items(hub)
    assert stored["outbox_status"] == "PENDING"
    assert pending_in_index(hub) == [stored["pk"]]

    reader = StreamReader(hub)
    records = reader.read()
    # the whole (unfiltered) batch of the intake transaction: idempotency, channel ref, order, history, outbox
    assert [r["eventName"] for r in records] == ["INSERT"] * 5
    assert sum(is_outbox(r) for r in records) == 1

    result = run_stream(stream_event(records), lambda_context)
    assert result == {"batchItemFailures": []}

    delivered = observer.drain()
    assert len(delivered) == 1
    assert delivered[0]["detail"] == json.loads(stored["detail"])  # exactly the stored envelope
    assert delivered[0]["detail-type"] == "OrderAccepted" == stored["detail_type"]
    assert delivered[0]["source"] == "synchub.orders" == stored["source"]
    envelope = EventEnvelope.model_validate(delivered[0]["detail"])
    assert envelope.event_id == stored["event_id"] and envelope.entity_id == order_id
    assert hub.depth("WorkersReservationWorkerQueue") == 1  # and the real rule routed it

    item = assert_published(hub, stored["event_id"], started)
    assert item["eventbridge_id"] == delivered[0]["id"]  # the id EventBridge gave the entry
    assert item["detail"] == stored["detail"] and item["created_at"] == stored["created_at"]
    assert pending_in_index(hub) == []

    # the publication itself is a MODIFY of the outbox item (no outbox_status): it is not published again
    later = reader.read()
    assert [(r["eventName"], is_outbox(r)) for r in later] == [("MODIFY", True)]
    assert "outbox_status" not in later[0]["dynamodb"]["NewImage"]
    assert run_stream(stream_event(later), lambda_context) == {"batchItemFailures": []}
    assert observer.drain() == []
    assert outbox_item(hub, stored["event_id"])["published_at"] == item["published_at"]
    assert hub.depth("WorkersReservationWorkerQueue") == 1


def test_non_outbox_modify_and_remove_records_are_ignored(hub: Hub, lambda_context: Any, observer: Observer) -> None:
    accept_order()
    [stored] = outbox_items(hub)
    reader = StreamReader(hub)
    inserts = [r for r in reader.read() if not is_outbox(r)]
    assert len(inserts) == 4  # idempotency, channel ref, order, its history
    # a MODIFY of the order and a REMOVE (e.g. TTL expiry of the idempotency record)
    order_key = next(r["dynamodb"]["Keys"] for r in inserts if r["dynamodb"]["Keys"]["sk"]["S"] == "ORDER")
    idem_key = next(r["dynamodb"]["Keys"] for r in inserts if r["dynamodb"]["Keys"]["sk"]["S"] == "IDEMP")
    hub.ddb.update_item(
        TableName=hub.orders_table,
        Key=order_key,
        UpdateExpression="SET touched = :t",
        ExpressionAttributeValues={":t": {"S": "yes"}},
    )
    hub.ddb.delete_item(TableName=hub.orders_table, Key=idem_key)
    others = reader.read()
    assert [r["eventName"] for r in others] == ["MODIFY", "REMOVE"]
    assert "NewImage" not in others[1]["dynamodb"]

    assert run_stream(stream_event(inserts + others), lambda_context) == {"batchItemFailures": []}
    assert observer.drain() == []
    assert outbox_item(hub, stored["event_id"])["outbox_status"] == "PENDING"
    assert pending_in_index(hub) == [stored["pk"]]


def test_template_stream_filter_selects_only_new_outbox_items(
    hub: Hub, lambda_context: Any, observer: Observer
) -> None:
    """The event-source filter from the synthesized template, applied to the real stream records."""
    from synchub.local.patterns import matches

    [source] = [s for s in hub.dep.event_sources if s.kind == "dynamodb"]
    assert source.report_failures and source.filters
    accept_order()
    reader = StreamReader(hub)
    inserted = reader.read()
    run_stream(stream_event([r for r in inserted if is_outbox(r)]), lambda_context)
    records = inserted + reader.read()  # + the MODIFY that marked the item published
    wanted = [r for r in records if any(matches(f, r) for f in source.filters)]
    assert [(r["eventName"], is_outbox(r)) for r in wanted] == [("INSERT", True)]
    assert len(observer.drain()) == 1


@pytest.mark.parametrize("raise_error", [False, True], ids=["failed-entry", "put-events-raises"])
def test_failed_publication_is_reported_by_sequence_number(
    hub: Hub, lambda_context: Any, observer: Observer, monkeypatch: pytest.MonkeyPatch, raise_error: bool
) -> None:
    for _ in range(3):
        accept_order()
    reader = StreamReader(hub)
    records = reader.read()
    outbox_records = [r for r in records if is_outbox(r)]
    assert len(outbox_records) == 3
    ids = [r["dynamodb"]["NewImage"]["event_id"]["S"] for r in outbox_records]
    doomed = ids[1]

    with monkeypatch.context() as mp:
        fail_put_events_for(mp, {doomed}, raise_error=raise_error)
        result = run_stream(stream_event(records), lambda_context)
    assert result == {"batchItemFailures": [{"itemIdentifier": seq(outbox_records[1])}]}
    assert sorted(event_ids(observer.drain())) == sorted([ids[0], ids[2]])  # the others were published
    failed = outbox_item(hub, doomed)
    assert failed["outbox_status"] == "PENDING" and "published_at" not in failed
    assert pending_in_index(hub) == [f"OUTBOX#{doomed}"]
    for ok in (ids[0], ids[2]):
        assert "outbox_status" not in outbox_item(hub, ok)

    # Lambda retries from the reported record on; EventBridge is healthy again
    retry = [r for r in records if int(seq(r)) >= int(seq(outbox_records[1]))]
    assert run_stream(stream_event(retry), lambda_context) == {"batchItemFailures": []}
    redelivered = event_ids(observer.drain())
    assert redelivered.count(doomed) == 1
    assert set(redelivered) <= {doomed, ids[2]}  # at most a duplicate of a later record, never a loss
    assert pending_in_index(hub) == []
    from outbox.handler import sweep

    assert sweep(timedelta(0))["found"] == 0


def test_batch_where_every_outbox_record_fails_is_a_function_error(
    hub: Hub, lambda_context: Any, observer: Observer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    from outbox.handler import PublishFailed

    accept_order()
    [stored] = outbox_items(hub)
    records = [r for r in StreamReader(hub).read() if is_outbox(r)]
    fail_put_events_for(monkeypatch, {stored["event_id"]})
    with pytest.raises(BatchProcessingError) as failed:
        run_stream(stream_event(records), lambda_context)
    assert [type(exc) for _, exc, _ in failed.value.child_exceptions] == [PublishFailed]
    assert observer.drain() == []
    assert outbox_item(hub, stored["event_id"])["outbox_status"] == "PENDING"


# --------------------------------------------------------------------------------------------- sweeper


def test_crash_before_publication_is_recovered_by_the_sweep(hub: Hub, lambda_context: Any, observer: Observer) -> None:
    from outbox.handler import sweep

    started = datetime.now(UTC)
    accept_order()  # the transaction committed; the stream publisher never runs (crash, outage, DLQ)
    [stored] = outbox_items(hub)

    # within the grace period a fresh item is left to the stream path
    assert sweep() == {"found": 0, "published": 0, "failed": 0}
    assert observer.drain() == []
    assert outbox_item(hub, stored["event_id"])["outbox_status"] == "PENDING"

    assert sweep(timedelta(0)) == {"found": 1, "published": 1, "failed": 0}
    delivered = observer.drain()
    assert event_ids(delivered) == [stored["event_id"]]
    assert delivered[0]["detail"] == json.loads(stored["detail"])
    assert delivered[0]["detail-type"] == stored["detail_type"]
    assert_published(hub, stored["event_id"], started)
    assert pending_in_index(hub) == []
    assert hub.depth("WorkersReservationWorkerQueue") == 1


def test_default_grace_sweeps_items_older_than_a_minute(hub: Hub, lambda_context: Any, observer: Observer) -> None:
    from outbox.handler import SWEEP_GRACE, sweep_handler
    from synchub_core.envelope import iso

    accept_order()
    accept_order()
    old, fresh = outbox_items(hub)
    aged = iso(datetime.now(UTC) - SWEEP_GRACE - timedelta(seconds=5))
    hub.ddb.update_item(
        TableName=hub.orders_table,
        Key={"pk": {"S": old["pk"]}, "sk": {"S": "OUTBOX"}},
        UpdateExpression="SET created_at = :c",
        ExpressionAttributeValues={":c": {"S": aged}},
    )

    assert sweep_handler({}, lambda_context) == {"found": 1, "published": 1, "failed": 0}  # the scheduled run
    assert event_ids(observer.drain()) == [old["event_id"]]
    assert pending_in_index(hub) == [fresh["pk"]]
    assert sweep_handler({"grace_seconds": 0}, lambda_context)["published"] == 1  # `synchub replay` style
    assert event_ids(observer.drain()) == [fresh["event_id"]]


def test_sweep_after_stream_publish_publishes_nothing(hub: Hub, lambda_context: Any, observer: Observer) -> None:
    from outbox.handler import sweep

    accept_order()
    records = StreamReader(hub).read()
    assert run_stream(stream_event(records), lambda_context) == {"batchItemFailures": []}
    assert len(observer.drain()) == 1
    assert sweep(timedelta(0)) == {"found": 0, "published": 0, "failed": 0}
    assert observer.drain() == []


def test_sweep_twice_publishes_once(hub: Hub, observer: Observer) -> None:
    from outbox.handler import sweep

    accept_order()
    accept_order()
    assert sweep(timedelta(0)) == {"found": 2, "published": 2, "failed": 0}
    assert sweep(timedelta(0)) == {"found": 0, "published": 0, "failed": 0}
    delivered = event_ids(observer.drain())
    assert sorted(delivered) == sorted(i["event_id"] for i in outbox_items(hub))
    assert len(set(delivered)) == 2


def test_sweep_publishes_in_chunks_and_leaves_rejected_entries_pending(
    hub: Hub, observer: Observer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from outbox.handler import PublishFailed, sweep

    for _ in range(12):
        accept_order()
    items = outbox_items(hub)
    doomed = items[11]["event_id"]
    calls: list[int] = []
    with monkeypatch.context() as mp:
        fail_put_events_for(mp, {doomed}, calls=calls)
        with pytest.raises(PublishFailed, match="1 outbox events still unpublished"):
            sweep(timedelta(0))
    assert calls == [10, 2]  # PutEvents takes at most 10 entries
    assert sorted(event_ids(observer.drain())) == sorted(i["event_id"] for i in items[:11])
    assert pending_in_index(hub) == [f"OUTBOX#{doomed}"]

    assert sweep(timedelta(0)) == {"found": 1, "published": 1, "failed": 0}
    assert event_ids(observer.drain()) == [doomed]


# --------------------------------------------------------------------------------------------- races


def _seed_sample_stock() -> None:
    """Positions for the sample order, written directly: a WMS report would also put a StockAvailable
    event in the outbox, and these tests follow the order's events alone."""
    from synchub_core import ddb
    from synchub_core.aws import client
    from synchub_core.config import settings

    for sku, loc in (("FLOUR-T55-25KG", "UTR-A01"), ("YEAST-DRY-500G", "UTR-B01")):
        item = {
            "pk": f"SKU#{sku}",
            "sk": f"LOC#{loc}",
            "sku": sku,
            "location_id": loc,
            "on_hand": 100,
            "reported_on_hand": 100,
            "reserved": 0,
            "quality_hold": 0,
            "in_transit": 0,
            "available": 100,
            "as_of": "2026-11-23T00:00:00Z",
            "wms_sequence": 1,
        }
        client("dynamodb").put_item(TableName=settings().inventory_table, Item=ddb.to_ddb(item))


def _consumers_dedupe(hub: Hub, ctx: Any, order_id: str, copies: int) -> None:
    """Every copy reaches the reservation worker; the order is reserved once."""
    from orders.repository import read
    from reservation.handler import lambda_handler as reservation_handler

    result = hub.run_worker("WorkersReservationWorkerQueue", reservation_handler, ctx)
    assert result["delivered"] == copies and result["batchItemFailures"] == []
    order = read(order_id)
    assert order is not None and order.state.value == "RESERVED" and order.version == 2
    from synchub_core.ddb import get

    flour = get(hub.inventory_table, {"pk": "SKU#FLOUR-T55-25KG", "sk": "LOC#UTR-A01"})
    assert int(flour["reserved"]) == 4  # not 8


def test_sweep_racing_the_stream_delivers_at_most_a_duplicate_with_the_same_event_id(
    hub: Hub, lambda_context: Any, observer: Observer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sweeper reads the item as pending, the stream publisher publishes it, then the sweeper
    publishes its (stale) copy too."""
    from outbox import handler, repository

    _seed_sample_stock()
    order_id = accept_order()
    [stored] = outbox_items(hub)
    records = StreamReader(hub).read()
    real_pending = repository.pending_items
    stream_published: dict[str, Any] = {}

    def pending_then_stream_wins(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        items = real_pending(*args, **kwargs)
        assert [i["event_id"] for i in items] == [stored["event_id"]]
        assert run_stream(stream_event(records), lambda_context) == {"batchItemFailures": []}
        stream_published.update(outbox_item(hub, stored["event_id"]))
        return items

    monkeypatch.setattr(repository, "pending_items", pending_then_stream_wins)
    assert handler.sweep(timedelta(0))["published"] == 1
    delivered = observer.drain()
    assert event_ids(delivered) == [stored["event_id"], stored["event_id"]]  # a duplicate, same id
    assert delivered[0]["detail"] == delivered[1]["detail"] == json.loads(stored["detail"])
    final = outbox_item(hub, stored["event_id"])
    assert "outbox_status" not in final
    # the first publication's bookkeeping is kept
    assert final["published_at"] == stream_published["published_at"]
    assert final["eventbridge_id"] == stream_published["eventbridge_id"] == delivered[0]["id"]
    assert delivered[1]["id"] != delivered[0]["id"]  # two EventBridge events carrying one envelope
    _consumers_dedupe(hub, lambda_context, order_id, copies=2)


def test_late_stream_record_after_sweep_publishes_nothing_again(
    hub: Hub, lambda_context: Any, observer: Observer
) -> None:
    from outbox.handler import sweep

    _seed_sample_stock()
    order_id = accept_order()
    [stored] = outbox_items(hub)
    reader = StreamReader(hub)
    records = reader.read()  # read by the poller, but the invocation is slow
    assert sweep(timedelta(0))["published"] == 1
    swept = outbox_item(hub, stored["event_id"])
    assert run_stream(stream_event(records), lambda_context) == {"batchItemFailures": []}
    delivered = observer.drain()
    # the stream handler re-reads the item: already published by the sweep, so no duplicate
    assert len(delivered) == 1
    assert set(event_ids(delivered)) == {stored["event_id"]}
    assert outbox_item(hub, stored["event_id"])["published_at"] == swept["published_at"]
    # and the MODIFY records both publications produced are ignored
    assert run_stream(stream_event(reader.read()), lambda_context) == {"batchItemFailures": []}
    assert observer.drain() == []
    _consumers_dedupe(hub, lambda_context, order_id, copies=len(delivered))


def test_publish_calls_stay_within_eventbridges_request_size() -> None:
    """Ten events of a large order (tens of KB each) would pass PutEvents' 256 KB per call together:
    the sweep's calls are cut by size as well as by count, and keep the items' order."""
    from outbox.logic import chunks
    from outbox.models import PUT_EVENTS_MAX, PUT_EVENTS_MAX_BYTES
    from synchub_core.outbox import entry_size

    def item(n: int, kb: int) -> dict[str, Any]:
        return {
            "event_id": str(n),
            "source": "synchub.orders",
            "detail_type": "OrderReserved",
            "detail": "x" * kb * 1024,
        }

    large = [item(n, 60) for n in range(10)]
    calls = list(chunks(large))
    assert [i["event_id"] for call in calls for i in call] == [str(n) for n in range(10)]
    assert all(sum(entry_size(i) for i in call) <= PUT_EVENTS_MAX_BYTES for call in calls)
    assert [len(call) for call in calls] == [4, 4, 2]
    small = [item(n, 1) for n in range(25)]
    assert [len(call) for call in chunks(small)] == [PUT_EVENTS_MAX, PUT_EVENTS_MAX, 5]
    assert [len(call) for call in chunks([item(0, 250)])] == [1]  # one entry always goes (orders checks its size)


def test_an_event_larger_than_one_eventbridge_entry_is_refused_by_the_outbox_itself() -> None:
    """Every domain's state change writes its event through ``outbox_put``: one EventBridge would never
    take is refused there (a Refused: the worker dead-letters the message with the reason), not
    queued to stay pending for ever; one at the limit is taken."""
    from synchub_core.basics import Refused
    from synchub_core.envelope import new_event
    from synchub_core.outbox import EVENT_ENTRY_MAX_BYTES, EventTooLarge, outbox_put

    def event(detail_bytes: int) -> Any:
        return new_event(
            "StockAvailable",
            entity_id="SKU-1",
            sequence=1,
            data={"pad": "x" * detail_bytes},
            correlation_id="corr",
            causation_id=None,
            source_system="synchub.inventory",
        )

    fits = outbox_put("t", event(EVENT_ENTRY_MAX_BYTES - 2_000), "synchub.inventory")
    assert fits["Put"]["ConditionExpression"] == "attribute_not_exists(pk)"
    with pytest.raises(EventTooLarge, match=r"StockAvailable would be .* more than the 261,120") as refused:
        outbox_put("t", event(EVENT_ENTRY_MAX_BYTES), "synchub.inventory")
    assert isinstance(refused.value, Refused) and refused.value.reason.endswith("nothing was written")
