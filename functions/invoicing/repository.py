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

from . import numbering
from .models import INVOICE_SOURCE, POSTED, REJECTED, ReturnReceived, ShipmentRejected

TRANSACTION_MAX_ITEMS = 100  # DynamoDB's TransactWriteItems
# stock positions a shipment's transaction always has room for: 100 less the invoice, its pointer, the
# counter, the order, its history item, InvoiceIssued and StockAvailable
SHIPMENT_MAX_POSITIONS = TRANSACTION_MAX_ITEMS - 7
BY_DAY_INDEX = "by-day"  # sparse: invoice items carry day_key INVOICE#<issue day>, day_at <issued_at>#<invoice_id>
BATCH_GET_MAX = 100
DOC_PREFIX = "DOC#"
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


def _batch_get(
    table: str, keys: list[dict[str, Any]], types: tuple[str, ...] = ("INVOICE",)
) -> Iterator[dict[str, Any]]:
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
        if item is not None and item.get("item_type") in types:
            yield _doc(item)


def _posting_condition() -> str:
    return "attribute_exists(pk) AND (attribute_not_exists(posting_status) OR posting_status <> :posted)"


def document_key(doc: dict[str, Any]) -> dict[str, str]:
    """The item key of an invoice or a credit memo document."""
    references = doc["references"]
    if "credit_memo_id" in doc:
        return credit_memo_key(references["order_id"], references["rma_id"])
    return invoice_key(references["shipment_id"])


def posted_ops(
    doc: dict[str, Any], finance_document_id: str, posted_at: str, event: EventEnvelope
) -> list[dict[str, Any]]:
    """Transaction entries marking the invoice or credit memo ``doc`` POSTED with the target's
    document id, and its InvoicePosted / CreditMemoPosted event in the outbox; cancelled when it is
    POSTED already."""
    table = settings().orders_table
    return [
        ddb.update(
            table,
            document_key(doc),
            "SET posting_status = :posted, finance_document_id = :doc, posted_at = :at REMOVE posting_rejection",
            condition=_posting_condition(),
            posted=POSTED,
            doc=finance_document_id,
            at=posted_at,
        ),
        outbox_put(table, event, INVOICE_SOURCE),
    ]


def reposted_ops(doc: dict[str, Any], finance_document_id: str, posted_at: str) -> list[dict[str, Any]]:
    """The transaction entry recording that a POSTED invoice or credit memo is booked again under
    another document (finance lost the first one; reconciliation re-posted it). No new event: it
    was announced."""
    return [
        ddb.update(
            settings().orders_table,
            document_key(doc),
            "SET finance_document_id = :doc, posted_at = :at",
            condition="posting_status = :posted",
            posted=POSTED,
            doc=finance_document_id,
            at=posted_at,
        )
    ]


def rejected_ops(doc: dict[str, Any], code: str, at: str) -> list[dict[str, Any]]:
    """The transaction entry marking the invoice or credit memo REJECTED by finance (``code``),
    unless it is POSTED."""
    return [
        ddb.update(
            settings().orders_table,
            document_key(doc),
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


def _pointer_put(document_id: str, key: dict[str, str], order_id: str, channel: str) -> dict[str, Any]:
    """``DOC#<id>``: where the invoice or credit memo ``document_id`` is kept, and whose it is (so
    ``GET /invoices/{id}`` finds it with one read, confined to its channel)."""
    return ddb.put(
        settings().orders_table,
        {
            "pk": f"{DOC_PREFIX}{document_id}",
            "sk": "DOC",
            "item_type": "DOCUMENT_POINTER",
            "doc_pk": key["pk"],
            "doc_sk": key["sk"],
            "order_id": order_id,
            "channel": channel,
        },
        condition="attribute_not_exists(pk)",
    )


def _stock_ops(changes: list[dict[str, Any]], shipped_at: str, shipment_id: str) -> list[dict[str, Any]]:
    """One position update per touched allocation: units shipped from it and units released."""
    ops = []
    for change in changes:
        sku, location, lot = change["sku"], change["location_id"], change.get("lot")
        if change["consume"] or change.get("unreserved"):
            position = inventory.get_position(sku, location, lot=lot)
            if position is None:
                raise ShipmentRejected(
                    f"shipment {shipment_id} ships {sku} from {location}, where the hub has no stock of it"
                )
            ops.append(
                inventory.ship_op(
                    position,
                    change["consume"],
                    shipped_at,
                    shipment_id,
                    release=change["release"],
                    unreserved=change.get("unreserved", 0),
                )
            )
        else:
            ops.append(inventory.release_op(sku, location, change["release"], lot=lot))
    return ops


def next_invoice_number(entity: str, year: int) -> numbering.Numbered:
    return numbering.next_number("INV", entity, year)


def next_credit_memo_number(entity: str, year: int) -> numbering.Numbered:
    return numbering.next_number("CM", entity, year)


def save(
    invoice: dict[str, Any],
    shipment_id: str,
    shipped_at: str,
    changes: list[dict[str, Any]],
    order: orders.StoredOrder,
    expected_version: int,
    transitions: list[tuple[OrderState, str]],
    event: EventEnvelope,
    counter_op: dict[str, Any],
    released: list[str],
) -> bool:
    """Store the invoice (once per shipment) with its pointer and its number, consume the shipped
    stock at the positions it was picked from (and release what a short close gives back), and move
    the order on with its event (and StockAvailable for released SKUs): one transaction. False when
    a duplicate won the race, the order moved on or the number was taken (the caller re-reads).

    The transaction holds 3 + P + 1 + 1 + 1 (+ 1) items: the invoice, its pointer and the counter, one
    update per stock position the shipment touches (P: those it picks from, and with ``close_short``
    those whose reservations it releases), the order, its history item (whatever transitions it
    records) and InvoiceIssued (and StockAvailable when it released any). A shipment that would take
    more than DynamoDB's 100 is :class:`ShipmentRejected` with the reason (all 80 allocations of the
    largest order in one shipment: at most 87)."""
    key = invoice_key(shipment_id)
    order_ops = orders.transition_ops(order, expected_version, transitions, event, source=INVOICE_SOURCE)
    if released:
        order_ops.append(orders.stock_available_put(event, released, "short-close"))
    items = 3 + len(changes) + len(order_ops)
    if items > TRANSACTION_MAX_ITEMS:
        raise ShipmentRejected(
            f"shipment {shipment_id} touches {len(changes)} stock positions of order {order.order_id} (those it "
            f"picks from and those a close_short releases): with its invoice, number, order, history and events "
            f"that is {items} items in one transaction, more than the {TRANSACTION_MAX_ITEMS} DynamoDB takes; "
            f"send it as several shipments of at most {SHIPMENT_MAX_POSITIONS} positions each"
        )
    ops = [
        ddb.put(
            settings().orders_table,
            {
                **key,
                "item_type": "INVOICE",
                "order_id": order.order_id,
                "invoice_id": invoice["invoice_id"],
                "channel": order.channel,
                **day_keys(invoice["issued_at"], invoice["invoice_id"]),
                "doc": _json(invoice),
            },
            condition="attribute_not_exists(pk)",
        ),
        _pointer_put(invoice["invoice_id"], key, order.order_id, order.channel),
        counter_op,
    ]
    ops += _stock_ops(changes, shipped_at, shipment_id)
    ops += order_ops
    return _commit(ops)


def _commit(ops: list[dict[str, Any]]) -> bool:
    try:
        ddb.transact(ops)
    except ddb.TransactionCancelled:
        return False
    return True


# -- credit memos -------------------------------------------------------------------------------


def credit_memo_key(order_id: str, rma_id: str) -> dict[str, str]:
    return {"pk": f"CREDITMEMO#{order_id}#{rma_id}", "sk": "CREDITMEMO"}


def credit_memo_exists(order_id: str, rma_id: str) -> bool:
    return ddb.get(settings().orders_table, credit_memo_key(order_id, rma_id)) is not None


def invoices_of(order: orders.StoredOrder) -> list[dict[str, Any]]:
    """The order's invoices, oldest first (by its shipments)."""
    keys = [ddb.to_ddb(invoice_key(s["shipment_id"])) for s in order.shipments]
    found = list(_batch_get_docs(settings().orders_table, keys))
    return sorted(found, key=lambda doc: (doc["issued_at"], doc["invoice_id"]))


def save_credit_memo(
    memo: dict[str, Any],
    receipt: ReturnReceived,
    order: orders.StoredOrder,
    expected_version: int,
    transitions: list[tuple[OrderState, str]],
    event: EventEnvelope,
    counter_op: dict[str, Any],
    restocked: list[str],
) -> bool:
    """Store the credit memo (once per return) with its pointer and number, put the returned units
    back into stock, and record the return on the order with CreditMemoIssued (and StockAvailable for
    the resaleable SKUs): one transaction. False when it lost a race (the caller re-reads)."""
    references = memo["references"]
    key = credit_memo_key(references["order_id"], references["rma_id"])
    ops = [
        ddb.put(
            settings().orders_table,
            {
                **key,
                "item_type": "CREDIT_MEMO",
                "order_id": order.order_id,
                "credit_memo_id": memo["credit_memo_id"],
                "channel": order.channel,
                "day_key": f"CREDITMEMO#{memo['issued_at'][:10]}",
                "day_at": f"{memo['issued_at']}#{memo['credit_memo_id']}",
                "doc": _json(memo),
            },
            condition="attribute_not_exists(pk)",
        ),
        _pointer_put(memo["credit_memo_id"], key, order.order_id, order.channel),
        counter_op,
    ]
    received_at = iso(receipt.received_at)
    for line in receipt.lines:
        ops.append(
            inventory.return_op(
                line.sku,
                line.location_id,
                line.quantity,
                lot=line.lot,
                best_before=line.best_before.isoformat() if line.best_before else None,
                damaged=line.condition == "DAMAGED",
                received_at=received_at,
                ref=f"return:{references['rma_id']}",
            )
        )
    ops += orders.transition_ops(order, expected_version, transitions, event, source=INVOICE_SOURCE)
    if restocked:
        ops.append(orders.stock_available_put(event, restocked, "return"))
    return _commit(ops)


def load_credit_memo(order_id: str, rma_id: str) -> dict[str, Any] | None:
    item = ddb.get(settings().orders_table, credit_memo_key(order_id, rma_id))
    return _doc(item) if item else None


def load_document(document_id: str, channel: str | None = None) -> dict[str, Any] | None:
    """The invoice or credit memo ``document_id`` (with its posting status) by its pointer; None if
    there is none, or it is not ``channel``'s (when given)."""
    table = settings().orders_table
    pointer = ddb.get(table, {"pk": f"{DOC_PREFIX}{document_id}", "sk": "DOC"})
    if pointer is None or (channel is not None and pointer.get("channel") != channel):
        return None
    item = ddb.get(table, {"pk": pointer["doc_pk"], "sk": pointer["doc_sk"]})
    return _doc(item) if item else None


def load_credit_memo_by_id(credit_memo_id: str) -> dict[str, Any] | None:
    doc = load_document(credit_memo_id)
    return doc if doc is not None and doc.get("credit_memo_id") == credit_memo_id else None


def documents_of(
    order_id: str, shipment_ids: list[str], rma_ids: list[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The invoices of ``shipment_ids`` and the credit memos of ``rma_ids`` (one BatchGetItem per
    100), oldest first: what ``GET /orders/{id}`` shows of an order's billing."""
    keys = [ddb.to_ddb(invoice_key(s)) for s in shipment_ids]
    keys += [ddb.to_ddb(credit_memo_key(order_id, r)) for r in rma_ids]
    invoices: list[dict[str, Any]] = []
    memos: list[dict[str, Any]] = []
    for doc in _batch_get_docs(settings().orders_table, keys):
        (memos if "credit_memo_id" in doc else invoices).append(doc)
    return (
        sorted(invoices, key=lambda d: (d["issued_at"], d["invoice_id"])),
        sorted(memos, key=lambda d: (d["issued_at"], d["credit_memo_id"])),
    )


def _batch_get_docs(table: str, keys: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for start_at in range(0, len(keys), BATCH_GET_MAX):
        yield from _batch_get(table, keys[start_at : start_at + BATCH_GET_MAX], types=("INVOICE", "CREDIT_MEMO"))
