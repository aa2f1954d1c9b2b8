"""The connectors table (``CONNECTORS_TABLE``): breakers, rate windows and business exceptions. The
only module that knows their keys, indexes and item shapes (the connectors built on it, finance and
the ERP, keep their own ledgers in the same table through their own repositories)."""

from __future__ import annotations

import base64
import json
from typing import Any

from synchub_core import ddb
from synchub_core.aws import client
from synchub_core.config import settings
from synchub_core.envelope import EventEnvelope
from synchub_core.outbox import outbox_put

from .models import CONNECTORS_SOURCE, EXC_DISCARDED, EXC_OPEN, BreakerState

EXCEPTIONS_INDEX = "exceptions-by-status"


def table() -> str:
    return settings().require("connectors_table")


# -- breakers ------------------------------------------------------------------------------------


def breaker_key(target: str) -> dict[str, str]:
    return {"pk": f"BREAKER#{target}", "sk": "BREAKER"}


def read_breaker(target: str) -> BreakerState:
    return BreakerState.from_item(ddb.get(table(), breaker_key(target)))


def _version_condition(version: int) -> tuple[str, dict[str, Any]]:
    if version == 0:
        return "attribute_not_exists(version)", {}
    return "version = :v", ddb.values(v=version)


def store_breaker(target: str, expected_version: int, new: BreakerState, event: EventEnvelope | None) -> bool:
    """Store ``new`` if the breaker is still at ``expected_version``, with ``event`` in the outbox in
    the same transaction (one TransactWriteItems; a plain conditional put without an event). False
    when another caller changed it first."""
    condition, vals = _version_condition(expected_version)
    item = {**breaker_key(target), "item_type": "BREAKER", "target": target, **new.as_dict()}
    op = ddb.put(table(), item, condition=condition, **({"ExpressionAttributeValues": vals} if vals else {}))
    try:
        if event is None:
            put = op["Put"]
            put.pop("ReturnValuesOnConditionCheckFailure", None)
            client("dynamodb").put_item(**put)
        else:
            ddb.transact([op, outbox_put(settings().orders_table, event, CONNECTORS_SOURCE)])
    except ddb.TransactionCancelled:
        return False
    except client("dynamodb").exceptions.ConditionalCheckFailedException:
        return False
    return True


def add_failure(target: str, reason: str, at: str) -> tuple[bool, BreakerState]:
    """Count one failure atomically while the breaker is CLOSED (or never written). Returns
    ``(counted, breaker)``: the breaker after the count, or as it is when it was not CLOSED."""
    ddb_client = client("dynamodb")
    try:
        resp = ddb_client.update_item(
            TableName=table(),
            Key=ddb.to_ddb(breaker_key(target)),
            UpdateExpression="ADD failures :one SET last_reason = :r, last_failure_at = :at, "
            "item_type = :t, target = :target",
            ConditionExpression="attribute_not_exists(#s) OR #s = :closed",
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues=ddb.values(
                one=1, r=reason[:500], at=at, t="BREAKER", target=target, closed="CLOSED"
            ),
            ReturnValues="ALL_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ddb_client.exceptions.ConditionalCheckFailedException as exc:
        return False, BreakerState.from_item(ddb.from_ddb(exc.response.get("Item")))
    return True, BreakerState.from_item(ddb.from_ddb(resp.get("Attributes")))


def reset_failures(target: str) -> None:
    """Consecutive failures back to 0 after a success while CLOSED (no-op if it moved on)."""
    ddb_client = client("dynamodb")
    try:
        ddb_client.update_item(
            TableName=table(),
            Key=ddb.to_ddb(breaker_key(target)),
            UpdateExpression="SET failures = :zero",
            ConditionExpression="(attribute_not_exists(#s) OR #s = :closed) AND failures > :zero",
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues=ddb.values(zero=0, closed="CLOSED"),
        )
    except ddb_client.exceptions.ConditionalCheckFailedException:
        pass


# -- rate windows --------------------------------------------------------------------------------


def take_from_window(target: str, window_start: int, n: int, limit: int, expires_at: int) -> bool:
    """Add ``n`` to the window's counter unless that would exceed ``limit``."""
    ddb_client = client("dynamodb")
    try:
        ddb_client.update_item(
            TableName=table(),
            Key=ddb.to_ddb({"pk": f"RATE#{target}#{window_start}", "sk": "RATE"}),
            UpdateExpression="ADD #c :n SET expires_at = if_not_exists(expires_at, :exp)",
            ConditionExpression="attribute_not_exists(#c) OR #c <= :max",
            ExpressionAttributeNames={"#c": "count"},
            ExpressionAttributeValues=ddb.values(n=n, exp=expires_at, max=limit - n),
        )
    except ddb_client.exceptions.ConditionalCheckFailedException:
        return False
    return True


# -- business exceptions -------------------------------------------------------------------------


def exception_key(exception_id: str) -> dict[str, str]:
    return {"pk": f"EXCEPTION#{exception_id}", "sk": "EXCEPTION"}


def raise_op(item: dict[str, Any], history_entry: dict[str, Any]) -> dict[str, Any]:
    """The transaction entry that opens the exception: a new one, or a RESUBMITTED or RESOLVED one
    re-opened (attempts + 1, history appended); cancelled when it is OPEN already, or DISCARDED (an
    operator decided the entity is not to be sent: the same refusal again, say the next
    reconciliation's, does not bring it back)."""
    sets = ", ".join(f"#{k} = :{k}" for k in item)
    return ddb.update(
        table(),
        exception_key(item["exception_id"]),
        f"SET {sets}, first_raised_at = if_not_exists(first_raised_at, :raised_at), "
        "attempts = if_not_exists(attempts, :zero) + :one, "
        "history = list_append(if_not_exists(history, :empty), :h)",
        condition="attribute_not_exists(pk) OR NOT (#status IN (:open, :discarded))",
        names={f"#{k}": k for k in item},
        **item,
        discarded=EXC_DISCARDED,
        zero=0,
        one=1,
        empty=[],
        h=[history_entry],
        open=EXC_OPEN,
    )


def get_exception(exception_id: str) -> dict[str, Any] | None:
    return ddb.get(table(), exception_key(exception_id))


def move_exception(
    exception_id: str, from_statuses: tuple[str, ...], to: str, at: str, entry: dict[str, Any], **extra: Any
) -> dict[str, Any] | None:
    """Move the exception from one of ``from_statuses`` to ``to`` (history appended). Returns the
    item after the move, or None when it is not in one of those statuses (or does not exist)."""
    ddb_client = client("dynamodb")
    allowed = {f"f{i}": s for i, s in enumerate(from_statuses)}
    sets = "".join(f", #{k} = :{k}" for k in extra)
    try:
        resp = ddb_client.update_item(
            TableName=table(),
            Key=ddb.to_ddb(exception_key(exception_id)),
            UpdateExpression="SET #status = :to, exception_status = :to, updated_at = :at, "
            f"history = list_append(if_not_exists(history, :empty), :h){sets}",
            ConditionExpression=f"attribute_exists(pk) AND #status IN ({', '.join(':' + k for k in allowed)})",
            ExpressionAttributeNames={"#status": "status", **{f"#{k}": k for k in extra}},
            ExpressionAttributeValues=ddb.values(to=to, at=at, empty=[], h=[entry], **allowed, **extra),
            ReturnValues="ALL_NEW",
        )
    except ddb_client.exceptions.ConditionalCheckFailedException:
        return None
    return ddb.from_ddb(resp["Attributes"])


def query_exceptions(
    status: str, limit: int, cursor: str | None, target: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Exceptions in ``status``, newest first, one page of at most ``limit`` (of ``target`` only)."""
    kwargs: dict[str, Any] = {
        "TableName": table(),
        "IndexName": EXCEPTIONS_INDEX,
        "KeyConditionExpression": "exception_status = :s",
        "ExpressionAttributeValues": ddb.values(s=status),
        "ScanIndexForward": False,
        "Limit": limit,
    }
    if target is not None:
        kwargs["FilterExpression"] = "#target = :t"
        kwargs["ExpressionAttributeNames"] = {"#target": "target"}
        kwargs["ExpressionAttributeValues"].update(ddb.values(t=target))
    if cursor:
        kwargs["ExclusiveStartKey"] = decode_cursor(cursor)
    items: list[dict[str, Any]] = []
    ddb_client = client("dynamodb")
    while True:
        resp = ddb_client.query(**kwargs)
        for raw in resp.get("Items", []):
            items.append(ddb.from_ddb(raw))
            if len(items) == limit:
                last = items[-1]
                more = "LastEvaluatedKey" in resp or raw is not resp["Items"][-1]
                key = {k: last[k] for k in ("pk", "sk", "exception_status", "raised_at")}
                return items, encode_cursor(key) if more else None
        if "LastEvaluatedKey" not in resp:
            return items, None
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def encode_cursor(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    """The ExclusiveStartKey of a cursor; ``ValueError`` for one this module did not make."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError) as exc:
        raise ValueError("cursor is not one this API returned") from exc
    keys = ("pk", "sk", "exception_status", "raised_at")
    if not isinstance(raw, dict) or set(raw) != set(keys) or not all(isinstance(raw[k], str) for k in keys):
        raise ValueError("cursor is not one this API returned")
    if not raw["pk"].startswith("EXCEPTION#"):
        raise ValueError("cursor is not one this API returned")
    return ddb.to_ddb(raw)


def send(queue_url: str, body: str, attributes: dict[str, Any], delay_seconds: int = 0) -> str:
    kwargs: dict[str, Any] = {"QueueUrl": queue_url, "MessageBody": body, "MessageAttributes": attributes}
    if delay_seconds:
        kwargs["DelaySeconds"] = delay_seconds
    return str(client("sqs").send_message(**kwargs)["MessageId"])
