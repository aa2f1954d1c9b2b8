"""benchmarks/warm.py without the emulator: the baseline handler's calls and answers (a fake
client), how calls are compared, and the fresh events."""

from __future__ import annotations

import json
from typing import Any

import pytest

from benchmarks import warm

SAMPLE = json.loads(warm.SAMPLE_EVENT.read_text())


class Cancelled(Exception):
    def __init__(self, reasons: list[dict[str, Any]]) -> None:
        super().__init__("cancelled")
        self.response = {"CancellationReasons": reasons}


class FakeDynamoDB:
    """Answers like DynamoDB for one order: no earlier key, the master data given, the transaction
    accepted (or cancelled with ``reasons``); records every call as the benchmark does."""

    class exceptions:  # as boto3 names it
        TransactionCanceledException = Cancelled

    def __init__(self, master: dict[str, dict[str, Any]], reasons: list[dict[str, Any]] | None = None) -> None:
        self.master, self.reasons = master, reasons
        self.calls: list[warm.Call] = []

    def get_item(self, **params: Any) -> dict[str, Any]:
        self.calls.append(warm.Call("dynamodb", "GetItem", params, 0.0))
        return {}

    def batch_get_item(self, **params: Any) -> dict[str, Any]:
        self.calls.append(warm.Call("dynamodb", "BatchGetItem", params, 0.0))
        (table, spec), *_ = params["RequestItems"].items()
        found = [self.master[k["pk"]["S"]] for k in spec["Keys"] if k["pk"]["S"] in self.master]
        return {"Responses": {table: found}}

    def transact_write_items(self, **params: Any) -> dict[str, Any]:
        self.calls.append(warm.Call("dynamodb", "TransactWriteItems", params, 0.0))
        if self.reasons:
            raise Cancelled(self.reasons)
        return {}


def _item(pk: str, sk: str, **attributes: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}, **{k: {"S": v} for k, v in attributes.items()}}


LOADED = {
    "META#customers": _item("META#customers", "META"),
    "META#products": _item("META#products", "META"),
    "CUSTOMER#CUST-8812": _item("CUSTOMER#CUST-8812", "CUSTOMER", status="ACTIVE"),
    "PRODUCT#FLOUR-T55-25KG": _item("PRODUCT#FLOUR-T55-25KG", "PRODUCT", status="ACTIVE"),
    "PRODUCT#YEAST-DRY-500G": _item("PRODUCT#YEAST-DRY-500G", "PRODUCT", status="ACTIVE"),
}


@pytest.fixture(autouse=True)
def _tables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERS_TABLE", "orders")
    monkeypatch.setenv("MASTERDATA_TABLE", "masterdata")


def test_the_baseline_reads_the_key_and_the_master_data_then_writes_the_order_in_one_transaction() -> None:
    ddb = FakeDynamoDB(LOADED)
    answer = warm.make_baseline_handler(ddb)(warm.fresh_event(SAMPLE), None)

    assert answer["statusCode"] == 202
    body = json.loads(answer["body"])
    assert body["state"] == "ACCEPTED" and answer["headers"]["Location"] == f"/v1/orders/{body['order_id']}"
    assert [warm.describe(c) for c in ddb.calls] == [
        "GetItem(orders: IDEMP/IDEMP, consistent)",
        "BatchGetItem(masterdata: CUSTOMER/CUSTOMER, META/META, META/META, META/META, PRODUCT/PRODUCT, "
        "PRODUCT/PRODUCT)",
        "TransactWriteItems(orders: Put IDEMP/IDEMP if not exists, Put CHANREF/CHANREF if not exists, "
        "Put ORDER/ORDER if not exists, Put ORDER/HIST, Put OUTBOX/OUTBOX if not exists)",
    ]
    outbox = ddb.calls[2].params["TransactItems"][4]["Put"]["Item"]
    detail = json.loads(outbox["detail"]["S"])
    assert detail["event_type"] == "OrderAccepted" and detail["data"]["order_id"] == body["order_id"]


@pytest.mark.parametrize(
    ("master", "slug"),
    [
        ({**LOADED, "CUSTOMER#CUST-8812": _item("CUSTOMER#CUST-8812", "CUSTOMER", status="BLOCKED")}, "blocked"),
        ({k: v for k, v in LOADED.items() if k != "PRODUCT#YEAST-DRY-500G"}, "unknown-sku"),
    ],
)
def test_the_baseline_refuses_what_the_master_data_refuses_without_writing(
    master: dict[str, dict[str, Any]], slug: str
) -> None:
    ddb = FakeDynamoDB(master)
    answer = warm.make_baseline_handler(ddb)(warm.fresh_event(SAMPLE), None)

    assert answer["statusCode"] == 422 and slug in answer["body"]
    assert [c.operation for c in ddb.calls] == ["GetItem", "BatchGetItem"]


def test_the_baseline_refuses_a_request_without_channel_or_key_before_any_call() -> None:
    ddb = FakeDynamoDB(LOADED)
    handler = warm.make_baseline_handler(ddb)
    event = warm.fresh_event(SAMPLE)
    anonymous = {**event, "requestContext": {**event["requestContext"], "authorizer": {}}}
    keyless = {**event, "headers": {k: v for k, v in event["headers"].items() if k != "Idempotency-Key"}}

    assert handler(anonymous, None)["statusCode"] == 401
    assert handler(keyless, None)["statusCode"] == 400
    assert ddb.calls == []


def test_the_baseline_answers_a_duplicate_channel_reference_409() -> None:
    reasons = [{"Code": "None"}, {"Code": "ConditionalCheckFailed"}]
    answer = warm.make_baseline_handler(FakeDynamoDB(LOADED, reasons))(warm.fresh_event(SAMPLE), None)

    assert answer["statusCode"] == 409


def test_calls_compare_by_operation_table_item_kinds_and_conditions_not_values() -> None:
    def put(pk: str, condition: str | None) -> warm.Call:
        body: dict[str, Any] = {"TableName": "t", "Item": _item(pk, "ORDER", doc="x")}
        if condition:
            body["ConditionExpression"] = condition
        return warm.Call("dynamodb", "TransactWriteItems", {"TransactItems": [{"Put": body}]}, 0.0)

    assert warm.shape(put("ORDER#a", "attribute_not_exists(pk)")) == warm.shape(
        put("ORDER#b", "attribute_not_exists(pk)")
    )
    assert warm.shape(put("ORDER#a", "attribute_not_exists(pk)")) != warm.shape(put("ORDER#a", None))
    assert warm.shape(put("ORDER#a", None)) != warm.shape(put("OUTBOX#a", None))


def test_every_fresh_event_is_a_new_order_of_the_sample_size() -> None:
    events = [warm.fresh_event(SAMPLE) for _ in range(3)]

    assert len({e["headers"]["Idempotency-Key"] for e in events}) == 3
    assert len({json.loads(e["body"])["channel_order_ref"] for e in events}) == 3
    assert {len(e["body"]) for e in events} == {len(json.dumps(json.loads(SAMPLE["body"]), separators=(",", ":")))}


def test_the_call_recorder_puts_botocore_back() -> None:
    from botocore.client import BaseClient

    original = BaseClient._make_api_call
    with warm.Calls().installed():
        assert BaseClient._make_api_call is not original
    with warm.Calls.answered({}):
        assert BaseClient._make_api_call is not original
    assert BaseClient._make_api_call is original
