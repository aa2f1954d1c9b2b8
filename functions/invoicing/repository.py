"""Invoices in the orders table (``pk = INVOICE#<shipment_id>``, ``sk = INVOICE``): one item per
shipment, written in the same transaction as the order's transition, its outbox event and the
stock the shipment consumed. The only module that knows that layout."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from inventory import api as inventory
from orders import api as orders
from synchub_core import ddb
from synchub_core.aws import client
from synchub_core.config import settings
from synchub_core.envelope import EventEnvelope, iso
from synchub_core.outbox import outbox_put
from synchub_core.vocabulary import OrderState

from .models import INVOICE_SOURCE, POSTED, REJECTED, ShipmentRejected

BY_DAY_INDEX = "by-day"  # sparse: invoice items carry day_key INVOICE#<issue day>, day_at <issued_at>#<invoice_id>
BATCH_GET_MAX = 100
POSTING_FIELDS = ("posting_status", "finance_document_id", "posted_at", "posting_rejection")

load_order = orders.load


def invoice_key(shipment_id: str) -> dict[str, str]:
    return {"pk": f"INVOICE#{shipment_id}", "sk": "INVOICE"}


def invoice_exists(shipment_id: str) -> bool:
    return ddb.get(settings().orders_table, invoice_key(shipment_id)) is not None


def _doc(item: dict[str, Any]) -> dict[str, Any]:
    """The invoice document of an item, with its posting status once a connector posted it."""
    doc: dict[str, Any] = json.loads(item["doc"])
    for field in POSTING_FIELDS:
        if item.get(field) is not None:
            doc[field] = item[field]
    return doc


def load_invoice(shipment_id: str) -> dict[str, Any] | None:
    item = ddb.get(settings().orders_table, invoice_key(shipment_id))
    return _doc(item) if item else None


def load_invoice_by_id(invoice_id: str, shipment_id: str) -> dict[str, Any] | None:
    """The invoice ``invoice_id`` of shipment ``shipment_id`` (None if that shipment has another or none)."""
    item = ddb.get(settings().orders_table, invoice_key(shipment_id))
    if item is None or item.get("invoice_id") != invoice_id:
        return None
    return _doc(item)


def day_keys(issued_at: str, invoice_id: str) -> dict[str, str]:
    """The ``by-day`` index attributes of an invoice item."""
    return {"day_key": f"INVOICE#{issued_at[:10]}", "day_at": f"{issued_at}#{invoice_id}"}


def issued_between(start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
    """The invoices issued in ``[start, end)``, day by day in issue order: one index page at a time,
    read with BatchGetItem (at most 100 keys a call), so memory stays flat whatever the window."""
    table = settings().orders_table
    ddb_client = client("dynamodb")
    lower, upper = iso(start), iso(end)
    day = start.date()
    while day <= end.date():
        kwargs: dict[str, Any] = {
            "TableName": table,
            "IndexName": BY_DAY_INDEX,
            "KeyConditionExpression": "day_key = :d AND day_at BETWEEN :a AND :b",
            "ExpressionAttributeValues": ddb.values(d=f"INVOICE#{day.isoformat()}", a=lower, b=upper),
        }
        while True:
            resp = ddb_client.query(**kwargs)
            keys = [{"pk": i["pk"], "sk": i["sk"]} for i in resp.get("Items", [])]
            for start_at in range(0, len(keys), BATCH_GET_MAX):
                yield from _batch_get(table, keys[start_at : start_at + BATCH_GET_MAX])
            if "LastEvaluatedKey" not in resp:
                break
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        day += timedelta(days=1)


def _batch_get(table: str, keys: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The invoice docs of ``keys`` (serialized keys), in key order, retrying unprocessed keys."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    pending: list[dict[str, Any]] = keys
    ddb_client = client("dynamodb")
    for _ in range(8):
        if not pending:
            break
        resp = ddb_client.batch_get_item(RequestItems={table: {"Keys": pending, "ConsistentRead": True}})
        for raw in resp.get("Responses", {}).get(table, []):
            item = ddb.from_ddb(raw)
            found[(item["pk"], item["sk"])] = item
        pending = resp.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
    if pending:
        raise RuntimeError(f"{len(pending)} invoice reads stayed unprocessed (throttled): retry the run")
    for key in keys:
        item = found.get((key["pk"]["S"], key["sk"]["S"]))
        if item is not None and item.get("item_type") == "INVOICE":
            yield _doc(item)


def _posting_condition() -> str:
    return "attribute_exists(pk) AND (attribute_not_exists(posting_status) OR posting_status <> :posted)"


def posted_ops(
    invoice: dict[str, Any], finance_document_id: str, posted_at: str, event: EventEnvelope
) -> list[dict[str, Any]]:
    """Transaction entries marking the invoice POSTED with the target's document id, and its
    InvoicePosted event in the outbox; cancelled when it is POSTED already."""
    table = settings().orders_table
    return [
        ddb.update(
            table,
            invoice_key(invoice["references"]["shipment_id"]),
            "SET posting_status = :posted, finance_document_id = :doc, posted_at = :at REMOVE posting_rejection",
            condition=_posting_condition(),
            posted=POSTED,
            doc=finance_document_id,
            at=posted_at,
        ),
        outbox_put(table, event, INVOICE_SOURCE),
    ]


def reposted_ops(invoice: dict[str, Any], finance_document_id: str, posted_at: str) -> list[dict[str, Any]]:
    """The transaction entry recording that a POSTED invoice is booked again under another document
    (finance lost the first one; reconciliation re-posted it). No new event: it was announced."""
    return [
        ddb.update(
            settings().orders_table,
            invoice_key(invoice["references"]["shipment_id"]),
            "SET finance_document_id = :doc, posted_at = :at",
            condition="posting_status = :posted",
            posted=POSTED,
            doc=finance_document_id,
            at=posted_at,
        )
    ]


def rejected_ops(invoice: dict[str, Any], code: str, at: str) -> list[dict[str, Any]]:
    """The transaction entry marking the invoice REJECTED by finance (``code``), unless it is POSTED."""
    return [
        ddb.update(
            settings().orders_table,
            invoice_key(invoice["references"]["shipment_id"]),
            "SET posting_status = :rejected, posting_rejection = :code, posting_rejected_at = :at",
            condition=_posting_condition(),
            posted=POSTED,
            rejected=REJECTED,
            code=code,
            at=at,
        )
    ]


def _json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True, default=str)


def save(
    invoice: dict[str, Any],
    shipment_id: str,
    shipped_at: str,
    consumed: list[dict[str, Any]],
    order: orders.StoredOrder,
    expected_version: int,
    transitions: list[tuple[OrderState, str]],
    event: EventEnvelope,
) -> bool:
    """Store the invoice (once per shipment), consume the shipped stock at the positions it was
    reserved at, and move the order on with its event: one transaction. False when a duplicate
    won the race or the order moved on (the caller re-reads)."""
    ops = [
        ddb.put(
            settings().orders_table,
            {
                **invoice_key(shipment_id),
                "item_type": "INVOICE",
                "order_id": order.order_id,
                "invoice_id": invoice["invoice_id"],
                **day_keys(invoice["issued_at"], invoice["invoice_id"]),
                "doc": _json(invoice),
            },
            condition="attribute_not_exists(pk)",
        )
    ]
    for c in consumed:
        position = inventory.get_position(c["sku"], c["location_id"])
        if position is None:  # pragma: no cover - allocations only come from existing positions
            raise ShipmentRejected(f"position {c['sku']}@{c['location_id']} vanished")
        ops.append(inventory.ship_op(position, c["quantity"], shipped_at, shipment_id))
    ops += orders.transition_ops(order, expected_version, transitions, event, source=INVOICE_SOURCE)
    try:
        ddb.transact(ops)
    except ddb.TransactionCancelled:
        return False
    return True
