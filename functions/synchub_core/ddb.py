"""Thin helpers over the low-level DynamoDB client.

Items are plain dicts of str / int / Decimal / bool / list / dict; floats are refused by the
serializer on purpose (money and quantities never go through binary floating point).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, overload

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from .aws import client

_SER = TypeSerializer()
_DES = TypeDeserializer()


def to_ddb(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _SER.serialize(v) for k, v in item.items() if v is not None}


@overload
def from_ddb(item: dict[str, Any]) -> dict[str, Any]: ...
@overload
def from_ddb(item: None) -> None: ...
def from_ddb(item: dict[str, Any] | None) -> dict[str, Any] | None:
    if item is None:
        return None
    return {k: _DES.deserialize(v) for k, v in item.items()}


def values(**kwargs: Any) -> dict[str, Any]:
    """ExpressionAttributeValues from keyword arguments: values(v=1) -> {':v': {'N': '1'}}."""
    return {f":{k}": _SER.serialize(v) for k, v in kwargs.items()}


def get(table: str, key: dict[str, Any], consistent: bool = True) -> dict[str, Any] | None:
    resp = client("dynamodb").get_item(TableName=table, Key=to_ddb(key), ConsistentRead=consistent)
    return from_ddb(resp.get("Item"))


def query_all(**kwargs: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    ddb = client("dynamodb")
    while True:
        resp = ddb.query(**kwargs)
        items.extend(from_ddb(i) for i in resp.get("Items", []))
        if "LastEvaluatedKey" not in resp:
            return items
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def query_page(**kwargs: Any) -> list[dict[str, Any]]:
    """One page of a Query (``Limit`` items at most), deserialized."""
    resp = client("dynamodb").query(**kwargs)
    return [from_ddb(i) for i in resp.get("Items", [])]


@dataclass
class TransactionCancelled(Exception):
    """A TransactWriteItems call was cancelled; ``reasons[i]`` is the code for item i
    (``"None"`` when that item was fine) and ``old_items[i]`` its current item when returned."""

    reasons: list[str]
    old_items: list[dict[str, Any] | None]

    def failed(self, index: int) -> bool:
        return index < len(self.reasons) and self.reasons[index] == "ConditionalCheckFailed"

    def __str__(self) -> str:  # pragma: no cover - diagnostics only
        return f"transaction cancelled: {self.reasons}"


def transact(items: Iterable[dict[str, Any]]) -> None:
    """Run TransactWriteItems; raise :class:`TransactionCancelled` with per-item reasons."""
    batch = list(items)
    if len(batch) > 100:
        raise ValueError(f"a DynamoDB transaction holds at most 100 items, got {len(batch)}")
    ddb = client("dynamodb")
    try:
        ddb.transact_write_items(TransactItems=batch)
    except ddb.exceptions.TransactionCanceledException as exc:
        raw = exc.response.get("CancellationReasons") or []
        reasons = [r.get("Code", "None") for r in raw]
        if not all(r in ("None", "ConditionalCheckFailed") for r in reasons):
            # Throttling / TransactionConflict etc. are transient: let the caller's retry handle it.
            raise
        raise TransactionCancelled(reasons, [from_ddb(r.get("Item")) for r in raw]) from exc


def put(table: str, item: dict[str, Any], condition: str | None = None, **expr: Any) -> dict[str, Any]:
    op: dict[str, Any] = {"TableName": table, "Item": to_ddb(item)}
    if condition:
        op["ConditionExpression"] = condition
        op["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    op.update(expr)
    return {"Put": op}


def update(
    table: str,
    key: dict[str, Any],
    expression: str,
    condition: str | None = None,
    names: dict[str, str] | None = None,
    **vals: Any,
) -> dict[str, Any]:
    op: dict[str, Any] = {"TableName": table, "Key": to_ddb(key), "UpdateExpression": expression}
    if condition:
        op["ConditionExpression"] = condition
        op["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    if vals:
        op["ExpressionAttributeValues"] = values(**vals)
    if names:
        op["ExpressionAttributeNames"] = names
    return {"Update": op}
