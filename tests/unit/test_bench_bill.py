"""benchmarks/bill.py without the emulator: DynamoDB's sizing and request-unit rules as the bill
counts them (items, index writes, transactions, refused writes, queries), the event source's
per-batch charges, the price sheet and how two bills are compared."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks import bill, prices

ORDERS = bill.Table(
    "orders",
    ("pk", "sk"),
    (
        bill.Index("outbox-pending", ("outbox_status", "created_at"), "KEYS_ONLY"),
        bill.Index("by-status", ("status",), "ALL"),
    ),
)


def s(value: str) -> dict[str, str]:
    return {"S": value}


def key(pk: str) -> dict[str, Any]:
    return {"pk": s(pk), "sk": s("X")}


class FakeDriver:
    """The driver's uncounted DynamoDB client: items by pk, the page a Query re-runs."""

    def __init__(self, items: dict[str, dict[str, Any]], page: list[dict[str, Any]] | None = None) -> None:
        self.items, self.page = items, page or []
        self.queries: list[dict[str, Any]] = []

    def get_item(self, TableName: str, Key: dict[str, Any], ConsistentRead: bool) -> dict[str, Any]:
        item = self.items.get(Key["pk"]["S"])
        return {"Item": item} if item else {}

    def query(self, **params: Any) -> dict[str, Any]:
        self.queries.append(params)
        return {"Items": self.page}


def meter(driver: FakeDriver) -> bill.Meter:
    m = bill.Meter({"orders": ORDERS}, driver)
    m.recording = bill.Bill(2)
    return m


# -- sizes ------------------------------------------------------------------------------------------
def test_item_sizes_follow_dynamodb_rules() -> None:
    assert bill.item_size({"pk": s("abc")}) == 2 + 3
    assert bill.item_size({"n": {"N": "123"}}) == 1 + 3  # 1 + ceil(3 significant digits / 2)
    assert bill.item_size({"n": {"N": "1000"}}) == 1 + 2  # trailing zeros are not significant
    assert bill.item_size({"m": {"M": {"a": s("x")}}}) == 1 + (3 + 1 + 1 + 1)
    assert bill.item_size({"l": {"L": [s("ab"), {"BOOL": True}]}}) == 1 + (3 + (1 + 2) + (1 + 1))
    assert bill.item_size({"é": s("é")}) == 2 + 2  # UTF-8 bytes
    assert bill.item_size(None) == 0


def test_units_round_up_with_a_minimum_of_one() -> None:
    assert [bill.units(n, bill.KB) for n in (0, 1, 1024, 1025)] == [1, 1, 1, 2]
    assert bill.units(65536, bill.CHUNK) == 1 and bill.units(65537, bill.CHUNK) == 2


def test_index_writes_follow_the_index_keys_and_projection() -> None:
    pending = {**key("OUTBOX#1"), "outbox_status": s("PENDING"), "created_at": s("t"), "detail": s("x")}
    published = {k: v for k, v in pending.items() if k != "outbox_status"}
    assert ORDERS.index_writes(None, pending) == [("outbox-pending", 1)]  # put
    assert ORDERS.index_writes(pending, published) == [("outbox-pending", 1)]  # delete: the key is gone
    assert ORDERS.index_writes(None, published) == []  # never in the index
    moved = {**pending, "created_at": s("u")}
    assert ORDERS.index_writes(pending, moved) == [("outbox-pending", 1), ("outbox-pending", 1)]
    assert ORDERS.index_writes(pending, {**pending, "detail": s("y")}) == []  # not projected (KEYS_ONLY)
    order = {**key("ORDER#1"), "status": s("NEW"), "doc": s("a")}
    assert ORDERS.index_writes(order, {**order, "doc": s("b")}) == [("by-status", 1)]  # ALL: projected


# -- writes and reads -------------------------------------------------------------------------------
def test_a_transaction_pays_twice_per_item_and_its_index_writes_once() -> None:
    old = {**key("ORDER#1"), "doc": s("x" * 1500)}
    new_outbox = {**key("OUTBOX#1"), "outbox_status": s("PENDING"), "created_at": s("t")}
    driver = FakeDriver({"ORDER#1": old})
    m = meter(driver)

    def send() -> dict[str, Any]:
        driver.items["ORDER#1"] = {**old, "doc": s("y" * 2100)}
        driver.items["OUTBOX#1"] = new_outbox
        return {}

    params = {
        "TransactItems": [
            {"Put": {"TableName": "orders", "Item": {**old, "doc": s("y" * 2100)}}},
            {"Put": {"TableName": "orders", "Item": new_outbox}},
        ]
    }
    m._ddb_write(send, "TransactWriteItems", params, "orders")
    assert m.recording is not None
    rows = m.recording.rows
    assert rows[("DynamoDB", "TransactWriteItems")].charges == {"dynamodb.wru": 2 * 3 + 2 * 1}
    assert rows[("DynamoDB", "index writes (orders.outbox-pending)")].charges == {"dynamodb.wru": 1}
    assert rows[("DynamoDB", "TransactWriteItems")].requests == 1


def test_a_refused_write_still_costs_the_item_as_it_is() -> None:
    driver = FakeDriver({"ORDER#1": {**key("ORDER#1"), "doc": s("x" * 3000)}})
    m = meter(driver)

    class Refused(Exception):
        def __init__(self) -> None:
            super().__init__("refused")
            self.response = {"Error": {"Code": "ConditionalCheckFailedException"}}

    def send() -> Any:
        raise Refused()

    with pytest.raises(Refused):
        m._ddb_write(send, "PutItem", {"TableName": "orders", "Item": key("ORDER#1")}, "orders")
    assert m.recording is not None
    row = m.recording.rows[("DynamoDB", "PutItem refused (ConditionalCheckFailedException)")]
    assert row.charges == {"dynamodb.wru": 3}


def test_a_query_costs_the_items_it_evaluated_before_filter_and_projection() -> None:
    page = [{**key(f"P#{n}"), "blob": s("x" * 1500)} for n in range(4)]  # ~6 KB evaluated
    driver = FakeDriver({}, page)
    m = meter(driver)
    params = {
        "TableName": "orders",
        "KeyConditionExpression": "pk = :p",
        "FilterExpression": "#s = :s",
        "ProjectionExpression": "pk",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": {":p": s("P"), ":s": s("NEW")},
    }
    m._ddb_read("Query", params, {"Items": []}, "reservation")
    assert driver.queries == [
        {"TableName": "orders", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": s("P")}}
    ]
    assert m.recording is not None
    assert m.recording.rows[("DynamoDB", "Query")].charges == {"dynamodb.rru": 2 * 0.5}  # eventually consistent


def test_a_get_of_a_missing_item_still_costs_one_read() -> None:
    m = meter(FakeDriver({}))
    m._ddb_read("GetItem", {"TableName": "orders", "Key": key("NONE"), "ConsistentRead": True}, {}, "orders")
    assert m.recording is not None
    assert m.recording.rows[("DynamoDB", "GetItem")].charges == {"dynamodb.rru": 1.0}


# -- SQS and EventBridge ----------------------------------------------------------------------------
class FakeSqs:
    def receive_message(self, **_: Any) -> dict[str, Any]:
        return {"Messages": [{"Body": "x" * 40_000}, {"Body": "y" * 40_000}]}

    def delete_message_batch(self, **_: Any) -> dict[str, Any]:
        return {}


def test_the_event_source_pays_one_receive_per_64_kb_and_one_delete_per_batch() -> None:
    m = meter(FakeDriver({}))
    sqs = bill.EventSourceSqs(FakeSqs(), m, "event source of x")
    sqs.receive_message(QueueUrl="q")
    sqs.delete_message_batch(QueueUrl="q", Entries=[])
    assert m.recording is not None
    assert m.recording.rows[("SQS", "ReceiveMessage (Lambda event source)")].charges == {"sqs.request": 2}
    assert m.recording.rows[("SQS", "DeleteMessageBatch (Lambda event source)")].charges == {"sqs.request": 1}


def test_sqs_and_eventbridge_bill_by_64_kb_chunks() -> None:
    batch = {"Entries": [{"MessageBody": "x" * 40_000}, {"MessageBody": "y" * 40_000}]}
    assert bill.sqs_request_chunks("SendMessageBatch", batch, {}) == 2
    assert bill.sqs_request_chunks("DeleteMessage", {}, {}) == 1
    entry = {"Source": "synchub.orders", "DetailType": "OrderAccepted", "Detail": "{}"}
    assert bill.entry_size(entry) == len("synchub.orders") + len("OrderAccepted") + 2
    assert bill.entry_size({**entry, "Time": "now"}) == bill.entry_size(entry) + 14


# -- prices and comparisons -------------------------------------------------------------------------
def test_price_is_the_sheet_times_the_counts_and_refuses_an_unknown_key() -> None:
    counts = {"dynamodb.wru": 1e6, "lambda.request": 1e6, "free": 5}
    assert prices.price(counts) == pytest.approx(prices.SHEET["dynamodb.wru"].usd + 0.20)
    with pytest.raises(KeyError):
        prices.price({"no.such.price": 1})
    assert all(p.checked for p in prices.SHEET.values())


def test_bills_compare_counts_exactly_bytes_loosely_and_time_not_at_all() -> None:
    def one(wru: float, log_bytes: float, gbs: float) -> bill.Bill:
        b = bill.Bill(2)
        b.add("DynamoDB", "PutItem", "orders", 1, {"dynamodb.wru": wru})
        b.add("CloudWatch Logs", "orders log", "orders", 0, {"logs.ingest_gb": log_bytes / 1e9})
        b.add("Lambda", "orders", "orders", 1, {"lambda.request": 1, "lambda.gbs.arm64": gbs})
        return b

    assert bill.differences(one(1, 1000, 0.01), one(1, 1001, 0.5)) == []
    assert bill.differences(one(1, 1000, 0.01), one(2, 1000, 0.01)) == ["DynamoDB PutItem: 1 -> 2 dynamodb.wru"]
    assert bill.differences(one(1, 1000, 0.01), one(1, 1100, 0.01)) == [
        "CloudWatch Logs orders log: 1,000 -> 1,100 bytes"
    ]
    median = bill.median_bill([one(1, 1000, 0.01), one(1, 1000, 0.03), one(1, 1000, 0.02)])
    assert median.rows[("Lambda", "orders")].charges["lambda.gbs.arm64"] == 0.02
    assert median.counts()["dynamodb.wru"] == 1
    assert median.as_dict()["counts"] == median.counts()


def test_floor_removes_only_what_each_step_names() -> None:
    """benchmarks.floor: each step is computed from the bill's own calls and items, priced with the
    same sheet; what no step names (the intake transaction, the events) stays in the floor."""
    from benchmarks import prices
    from benchmarks.bill import Bill
    from benchmarks.floor import floor

    bill = Bill(2)
    bill.add("DynamoDB", "TransactWriteItems", "orders.lambda_handler", 1, {"dynamodb.wru": 14})
    bill.add("DynamoDB", "index writes (Orders.outbox-pending)", "orders.lambda_handler", 0, {"dynamodb.wru": 1})
    bill.add("Lambda", "outbox", "outbox.stream_handler", 2, {"lambda.request": 2, "lambda.gbs.arm64": 0.01})
    bill.add("DynamoDB", "UpdateItem", "outbox.stream_handler", 2, {"dynamodb.wru": 3})
    bill.add("EventBridge", "PutEvents", "outbox.stream_handler", 2, {"events.custom": 2})
    bill.add("DynamoDB", "TransactWriteItems", "fulfilment.release_handler", 1, {"dynamodb.wru": 10})
    bill.writes.append(
        ("fulfilment.release_handler", "TransactWriteItems", [("Put", "Orders", "ORDER#o/ORDER", 1100, 1200, 4)])
    )
    bill.add("DynamoDB", "TransactWriteItems", "finance.lambda_handler", 1, {"dynamodb.wru": 8})
    bill.writes.append(
        ("finance.lambda_handler", "TransactWriteItems", [("Update", "Orders", "INVOICE#S/INVOICE", 1263, 1347, 4)])
    )
    bill.add("SQS", "ReceiveMessage", "event source of reservation.lambda_handler", 1, {"sqs.request": 1})
    bill.add("Lambda", "reservation", "reservation.lambda_handler", 1, {"lambda.request": 1})
    bill.add("Lambda", "authorizer", "channels.authorizer_handler", 1, {"lambda.request": 1})

    result = floor(bill)
    by_name = {s.name: s.delta for s in result.steps}
    assert by_name["outbox by EventBridge Pipes"] == {
        "lambda.request": -2,
        "lambda.gbs.arm64": -0.01,
        "dynamodb.wru": -4,  # its mark-published write and the other actor's pending-index write
        "pipes.request": 2,
    }
    assert by_name["order state in a header item"] == {"dynamodb.wru": -2}  # 4 WRU -> a 2-WRU header
    assert by_name["no POSTED rewrite of the invoice"] == {"dynamodb.wru": -4}
    batches = by_name["full batches (load, not design)"]
    assert batches["sqs.request"] == pytest.approx(-0.9) and batches["lambda.request"] == pytest.approx(-0.9)
    assert by_name["authorizer cache 300 s (a setting)"]["lambda.request"] == pytest.approx(-299 / 300)
    counts = result.counts()
    assert counts["events.custom"] == 2 and counts["dynamodb.wru"] == 14 + 1 + 3 + 10 + 8 - 4 - 2 - 4
    assert result.dollars() == pytest.approx(prices.price(counts)) and result.dollars() < bill.dollars()
