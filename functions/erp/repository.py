"""The ERP connector's ledger in the connectors table, and its I/O with the exchange bucket and the
orders queue. The only module that knows these keys and item shapes.

* ``ERPORDER#<order_id>`` / ``ERPORDER``: one order with the ERP: ``status`` SENT | ACKED | REJECTED,
  ``file`` it was last sent in, ``sent_at``, ``attempts``; once ACKED ``erp_order_number``,
  ``acked_at``, ``ack_net_total``, ``ack_currency``, ``ack_line_count``; once REJECTED ``reason`` and
  the ``exception_id`` raised for it.
* ``ERPFILE#<file name>`` / ``ERPFILE``: one order file: ``order_ids``, ``sent_at``, ``file_status``
  OPEN while unanswered (OVERDUE once the watchdog resent its orders; removed on its
  acknowledgement), ``acked_at`` / ``rejected_at``, ``ack_file``, ``overdue``, ``probe``.
* ``ERPUNKNOWN#<YYYY-MM-DD>`` / ``<order_id>``: an acknowledgement for an order id the hub does not
  know (reconciliation lists them); expires after 90 days.

Sparse index ``erp-files-open`` (``file_status``, ``sent_at``, keys only): files waiting for their
acknowledgement, oldest first.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from typing import Any

from synchub_core import ddb
from synchub_core.aws import client
from synchub_core.config import settings
from synchub_core.envelope import utcnow

from .models import AckRow, LedgerEntry, LedgerStatus

ERP_FILES_OPEN_INDEX = "erp-files-open"
FILE_OPEN = "OPEN"
FILE_OVERDUE = "OVERDUE"  # the watchdog resent its orders; still unanswered, out of the OPEN partition
UNKNOWN_TTL = timedelta(days=90)
BATCH_GET_LIMIT = 100
SEND_BATCH_LIMIT = 10
MAX_UNPROCESSED_ROUNDS = 8


def table() -> str:
    return settings().require("connectors_table")


def order_key(order_id: str) -> dict[str, str]:
    return {"pk": f"ERPORDER#{order_id}", "sk": "ERPORDER"}


def file_key(name: str) -> dict[str, str]:
    return {"pk": f"ERPFILE#{name}", "sk": "ERPFILE"}


def unknown_key(day: date, order_id: str) -> dict[str, str]:
    return {"pk": f"ERPUNKNOWN#{day.isoformat()}", "sk": order_id}


def _entry(item: dict[str, Any]) -> LedgerEntry:
    return LedgerEntry(
        order_id=item["order_id"],
        status=LedgerStatus(item["status"]),
        file=item.get("file"),
        attempts=int(item.get("attempts", 0)),
        exception_id=item.get("exception_id"),
    )


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in ("pk", "sk")}


# -- ledger reads --------------------------------------------------------------------------------------


def batch_get(keys: list[dict[str, str]]) -> Iterator[dict[str, Any]]:
    """The items of ``keys`` (strongly consistent), BatchGetItem in chunks of 100, unprocessed keys
    retried."""
    ddb_client = client("dynamodb")
    name = table()
    for start in range(0, len(keys), BATCH_GET_LIMIT):
        request: dict[str, Any] = {
            name: {"Keys": [ddb.to_ddb(k) for k in keys[start : start + BATCH_GET_LIMIT]], "ConsistentRead": True}
        }
        for _ in range(MAX_UNPROCESSED_ROUNDS):
            resp = ddb_client.batch_get_item(RequestItems=request)
            for raw in resp.get("Responses", {}).get(name, []):
                yield ddb.from_ddb(raw)
            request = resp.get("UnprocessedKeys") or {}
            if not request:
                break
        else:
            raise RuntimeError("DynamoDB left keys unprocessed after repeated BatchGetItem calls")


def ledger(order_ids: Iterable[str]) -> dict[str, LedgerEntry]:
    """The ledger entries of ``order_ids`` that exist."""
    keys = [order_key(i) for i in dict.fromkeys(order_ids)]
    return {item["order_id"]: _entry(item) for item in batch_get(keys)}


def ledger_items(order_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The ledger items of ``order_ids`` that exist (``erp.api.acknowledgements``)."""
    keys = [order_key(i) for i in dict.fromkeys(order_ids)]
    return {item["order_id"]: _public(item) for item in batch_get(keys)}


def load_file(name: str) -> dict[str, Any] | None:
    item = ddb.get(table(), file_key(name))
    return _public(item) if item else None


def overdue_files(sent_before: str) -> list[str]:
    """Names of the files still OPEN that were sent before ``sent_before`` (iso), oldest first."""
    items = ddb.query_all(
        TableName=table(),
        IndexName=ERP_FILES_OPEN_INDEX,
        KeyConditionExpression="file_status = :open AND sent_at < :before",
        ExpressionAttributeValues=ddb.values(open=FILE_OPEN, before=sent_before),
    )
    return [item["pk"].removeprefix("ERPFILE#") for item in items]


def unknown_acks(day: date) -> list[dict[str, Any]]:
    items = ddb.query_all(
        TableName=table(),
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues=ddb.values(pk=unknown_key(day, "")["pk"]),
    )
    return [_public(i) for i in items]


# -- ledger writes -------------------------------------------------------------------------------------


def _conditional(op: dict[str, Any]) -> dict[str, Any] | None:
    """Run one Put/Update entry built by ``synchub_core.ddb``; None when its condition failed."""
    ddb_client = client("dynamodb")
    ((kind, params),) = op.items()
    params = {k: v for k, v in params.items() if k != "ReturnValuesOnConditionCheckFailure"}
    try:
        if kind == "Put":
            return ddb_client.put_item(**params) or {}
        return ddb_client.update_item(**params, ReturnValues="ALL_OLD") or {}
    except ddb_client.exceptions.ConditionalCheckFailedException:
        return None


def record_file(name: str, key: str, order_ids: list[str], sent_at: str, probe: bool) -> bool:
    """Store a file just written to the bucket as OPEN. False when its acknowledgement was faster
    (the acks handler left a closed record of it; see :func:`close_file`)."""
    item = {
        **file_key(name),
        "item_type": "ERPFILE",
        "file": name,
        "key": key,
        "order_ids": order_ids,
        "order_count": len(order_ids),
        "sent_at": sent_at,
        "file_status": FILE_OPEN,
        "probe": probe or None,
    }
    return _conditional(ddb.put(table(), item, condition="attribute_not_exists(pk)")) is not None


def record_sent(order_id: str, file: str, sent_at: str) -> bool:
    """The order went out in ``file``: SENT, attempts + 1. Never over an ACKED entry, nor over the
    rejection of this very file (its acknowledgement was faster than this write): False then."""
    op = ddb.update(
        table(),
        order_key(order_id),
        "SET #s = :sent, order_id = :id, #f = :file, sent_at = :at, item_type = :type ADD attempts :one",
        condition="attribute_not_exists(pk) OR (#s <> :acked AND NOT (#s = :rejected AND #f = :file))",
        names={"#s": "status", "#f": "file"},
        sent=LedgerStatus.SENT.value,
        id=order_id,
        file=file,
        at=sent_at,
        type="ERPORDER",
        one=1,
        acked=LedgerStatus.ACKED.value,
        rejected=LedgerStatus.REJECTED.value,
    )
    return _conditional(op) is not None


def mark_acked(row: AckRow, file: str, at: str) -> bool:
    """The ERP booked the order: ACKED with its acknowledgement. False when it already was."""
    fields: dict[str, Any] = {
        "order_id": row.order_id,
        "item_type": "ERPORDER",
        "erp_order_number": row.erp_order_number,
        "acked_at": at,
        "acked_file": file,
        "ack_net_total": row.net_total,
        "ack_currency": row.currency or None,
        "ack_line_count": row.line_count,
    }
    given = {name: value for name, value in fields.items() if value is not None}  # the ERP may leave some out
    names = {"#s": "status", **{f"#a{n}": name for n, name in enumerate(given)}}
    vals = {f"a{n}": value for n, value in enumerate(given.values())}
    clauses = ", ".join(f"#a{n} = :a{n}" for n in range(len(given)))
    op = ddb.update(
        table(),
        order_key(row.order_id),
        f"SET #s = :acked, {clauses} REMOVE reason",
        condition="attribute_not_exists(pk) OR #s <> :acked",
        names=names,
        acked=LedgerStatus.ACKED.value,
        **vals,
    )
    return _conditional(op) is not None


def mark_rejected(row: AckRow, file: str, reason: str, exception_id: str, at: str) -> bool:
    """The ERP refused the order in ``file``: REJECTED with its reason and the exception raised for
    it. Only while it is still SENT in that file (or unknown to the ledger)."""
    op = ddb.update(
        table(),
        order_key(row.order_id),
        "SET #s = :rejected, order_id = :id, item_type = :type, reason = :reason, rejected_at = :at, "
        "exception_id = :exc, #f = if_not_exists(#f, :file)",
        condition="attribute_not_exists(pk) OR (#s = :sent AND #f = :file)",
        names={"#s": "status", "#f": "file"},
        rejected=LedgerStatus.REJECTED.value,
        id=row.order_id,
        type="ERPORDER",
        reason=reason,
        at=at,
        exc=exception_id,
        file=file,
        sent=LedgerStatus.SENT.value,
    )
    return _conditional(op) is not None


def record_unknown(row: AckRow, file: str, ack_file: str, day: date, at: str) -> None:
    item = {
        **unknown_key(day, row.order_id),
        "item_type": "ERPUNKNOWN",
        "order_id": row.order_id,
        "status": row.status.value,
        "erp_order_number": row.erp_order_number or None,
        "reason": row.reason or None,
        "currency": row.currency or None,
        "net_total": row.net_total,
        "line_count": row.line_count,
        "file": file,
        "ack_file": ack_file,
        "received_at": at,
        "expires_at": int((utcnow() + UNKNOWN_TTL).timestamp()),
    }
    client("dynamodb").put_item(TableName=table(), Item=ddb.to_ddb(item))


def close_file(name: str, ack_file: str, at: str) -> bool:
    """The ERP answered ``name``: it leaves the open files. True the first time (False for a
    duplicate acknowledgement). A file not recorded yet (its acknowledgement beat the ledger write)
    is recorded closed, so that write finds it answered."""
    op = ddb.update(
        table(),
        file_key(name),
        "REMOVE file_status SET acked_at = :at, ack_file = :ack",
        condition="attribute_exists(file_status)",
        at=at,
        ack=ack_file,
    )
    if _conditional(op) is not None:
        return True
    return _record_answered(name, ack_file, at, rejected_reason=None)


def reject_file(name: str, ack_file: str, reason: str, at: str) -> str | None:
    """The ERP refused ``name`` whole: closed with the reason. Returns the file's status before
    (``OPEN``, or ``OVERDUE`` when the watchdog already resent it), None for a duplicate."""
    op = ddb.update(
        table(),
        file_key(name),
        "REMOVE file_status SET rejected_at = :at, rejected_reason = :reason, ack_file = :ack",
        condition="attribute_exists(file_status)",
        at=at,
        reason=reason,
        ack=ack_file,
    )
    old = _conditional(op)
    if old is not None:
        return str(ddb.from_ddb(old.get("Attributes") or {}).get("file_status") or FILE_OPEN)
    return FILE_OPEN if _record_answered(name, ack_file, at, rejected_reason=reason) else None


def _record_answered(name: str, ack_file: str, at: str, rejected_reason: str | None) -> bool:
    item = {
        **file_key(name),
        "item_type": "ERPFILE",
        "file": name,
        "ack_file": ack_file,
        "acked_at": at if rejected_reason is None else None,
        "rejected_at": at if rejected_reason is not None else None,
        "rejected_reason": rejected_reason,
        "answered_before_recorded": True,
    }
    return _conditional(ddb.put(table(), item, condition="attribute_not_exists(pk)")) is not None


def mark_overdue(name: str, at: str) -> list[str] | None:
    """The watchdog gives up waiting for ``name``: OPEN -> OVERDUE, once. Its order ids, or None
    when it was answered or marked in the meantime."""
    op = ddb.update(
        table(),
        file_key(name),
        "SET file_status = :overdue, overdue = :yes, overdue_at = :at",
        condition="file_status = :open",
        overdue=FILE_OVERDUE,
        yes=True,
        at=at,
        open=FILE_OPEN,
    )
    old = _conditional(op)
    if old is None:
        return None
    return [str(i) for i in ddb.from_ddb(old.get("Attributes") or {}).get("order_ids", [])]


# -- exchange bucket and queues ------------------------------------------------------------------------


def put_file(bucket: str, key: str, body: bytes) -> None:
    client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/csv; charset=utf-8")


def open_file(bucket: str, key: str) -> Any:
    """The object's streaming body (read it in chunks: memory stays flat); None when it is gone."""
    s3 = client("s3")
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"]
    except s3.exceptions.NoSuchKey:
        return None


def send_messages(queue_url: str, bodies: list[str]) -> int:
    """Send ``bodies`` to the queue, ten per SendMessageBatch; raises if any is not taken."""
    sqs = client("sqs")
    for start in range(0, len(bodies), SEND_BATCH_LIMIT):
        chunk = bodies[start : start + SEND_BATCH_LIMIT]
        entries = [{"Id": str(n), "MessageBody": body} for n, body in enumerate(chunk)]
        for _ in range(MAX_UNPROCESSED_ROUNDS):
            failed = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries).get("Failed") or []
            if not failed:
                break
            retry = {f["Id"] for f in failed}
            entries = [e for e in entries if e["Id"] in retry]
        else:
            raise RuntimeError(f"SQS did not take {len(entries)} resent orders")
    return len(bodies)
