"""Order persistence in the orders table (single-table layout, docs/decisions/0002-single-table-orders.md).

| pk                     | sk                  | what                                           |
|------------------------|---------------------|------------------------------------------------|
| ORDER#<order_id>       | ORDER               | the order document, ``version`` for optimistic concurrency |
| ORDER#<order_id>       | HIST#<version>      | the business-state transitions of one change (``entries``) |
| IDEMP#<channel>#<key>  | IDEMP               | a channel's Idempotency-Key -> request hash + order id |
| CHANREF#<channel>#<ref>| CHANREF             | a channel order reference is accepted once     |
| OUTBOX#<event_id>      | OUTBOX              | event waiting for / done with publication       |
| WAITING#<sku>          | <backordered_at>#<order_id> | a backorder waiting for stock of the SKU (a hint) |

Sparse index ``backorders`` (``backorder_status``, ``backordered_at``): only BACKORDERED orders.
Sparse index ``by-day`` (``day_key``, ``day_at``; KEYS_ONLY): an order carries
``day_key = ORDER#<YYYY-MM-DD>`` and ``day_at = <created_at>#<order_id>`` from its intake on (the
day it was accepted, UTC), so reconciliation finds a window's orders day partition by day partition.

``WAITING#<sku>`` items are hints, not state: written with the backorder (one per SKU it is short
of), read oldest first when stock of the SKU becomes available, deleted once the order is no longer
BACKORDERED (at the latest when a retry meets it). A stale hint costs one read; a missing one is
covered by the sweep, which pages through the ``backorders`` index.

Every state change is one TransactWriteItems call: the order (conditional on the version read),
its history entries and its outbox event commit together or not at all. This module is the only
one that knows these keys; other domains reach orders through ``orders.api``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from inventory import api as inventory
from synchub_core import ddb
from synchub_core.aws import client
from synchub_core.config import settings
from synchub_core.envelope import EventEnvelope, deterministic_event_id, iso, utcnow
from synchub_core.outbox import EventTooLarge, outbox_put
from synchub_core.vocabulary import Allocation

from .models import (
    ORDER_ITEM_MAX_BYTES,
    ORDER_SOURCE,
    Cancellation,
    CreateResult,
    DuplicateChannelOrder,
    HistoryEntry,
    IdempotencyConflict,
    Order,
    OrderState,
    OrderTooLarge,
    ReturnAuthorization,
    ShipmentRecord,
    StoredOrder,
)

WAITING_PREFIX = "WAITING#"
BATCH_WRITE_MAX = 25
BACKORDER_INDEX = "backorders"
BACKORDER_OPEN = "OPEN"
BY_DAY_INDEX = "by-day"
DAY_PREFIX = "ORDER#"  # day_key of orders (invoices have INVOICE#<day> in the same index)
IDEMPOTENCY_TTL = timedelta(days=30)
ORDER_PREFIX = "ORDER#"


def order_key(order_id: str) -> dict[str, str]:
    return {"pk": f"{ORDER_PREFIX}{order_id}", "sk": "ORDER"}


_JSON_FIELDS: dict[str, Any] = {
    "closed": dict,
    "closed_at": dict,
    "shipments": list,
    "releases": dict,
    "returns": list,
    "credited": dict,
}


def _loads(item: dict[str, Any], name: str, empty: Any) -> Any:
    raw = item.get(name)
    return json.loads(raw) if raw else empty()


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def from_item(item: dict[str, Any]) -> StoredOrder:
    cancellation = item.get("cancellation")
    return StoredOrder(
        order_id=item["order_id"],
        state=OrderState(item["state"]),
        version=int(item["version"]),
        doc=json.loads(item["doc"]),
        allocations=json.loads(item.get("allocations", "[]")),
        shipped={k: int(v) for k, v in json.loads(item.get("shipped", "{}")).items()},
        invoices=list(item.get("invoices", [])),
        created_at=item["created_at"],
        updated_at=item["updated_at"],
        correlation_id=item.get("correlation_id"),
        closed={k: int(v) for k, v in _loads(item, "closed", dict).items()},
        closed_at=_loads(item, "closed_at", dict),
        shipments=_loads(item, "shipments", list),
        releases=_loads(item, "releases", dict),
        cancellation=json.loads(cancellation) if cancellation else None,
        returns=_loads(item, "returns", list),
        credit_memos=list(item.get("credit_memos", [])),
        credited=_loads(item, "credited", dict),
        min_shelf_life_days=int(item.get("min_shelf_life_days", 0)),
    )


def to_item(order: StoredOrder) -> dict[str, Any]:
    return {
        **order_key(order.order_id),
        "item_type": "ORDER",
        "order_id": order.order_id,
        "state": order.state.value,
        "version": order.version,
        "channel": order.doc["channel"],
        "channel_order_ref": order.doc["channel_order_ref"],
        "doc": json.dumps(order.doc, separators=(",", ":"), sort_keys=True),
        "allocations": json.dumps(order.allocations, separators=(",", ":")),
        "shipped": json.dumps(order.shipped, separators=(",", ":"), sort_keys=True),
        "invoices": order.invoices or None,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
        "correlation_id": order.correlation_id,
        **{name: _dumps(getattr(order, name)) for name in _JSON_FIELDS if getattr(order, name)},
        "cancellation": _dumps(order.cancellation) if order.cancellation else None,
        "credit_memos": order.credit_memos or None,
        "min_shelf_life_days": order.min_shelf_life_days or None,
        # sparse index of orders by the day they were accepted (created_at is fixed at intake)
        **day_keys(order.order_id, order.created_at),
        # sparse index of open backorders, oldest first: present only while BACKORDERED
        # (updated_at is the time of backordering then: any later change leaves the state)
        **(
            {"backorder_status": BACKORDER_OPEN, "backordered_at": order.updated_at}
            if order.state is OrderState.BACKORDERED
            else {}
        ),
    }


def day_keys(order_id: str, created_at: str) -> dict[str, str]:
    """``day_key``/``day_at`` of the ``by-day`` index for an order accepted at ``created_at``."""
    if not created_at:
        return {}
    return {"day_key": f"{DAY_PREFIX}{created_at[:10]}", "day_at": f"{created_at}#{order_id}"}


def load(order_id: str) -> StoredOrder | None:
    item = ddb.get(settings().orders_table, order_key(order_id))
    return from_item(item) if item else None


def history_put(order_id: str, version: int, entries: list[HistoryEntry], at: str) -> dict[str, Any]:
    """The history of one change of the order (its ``version``): one item whatever the number of
    transitions the change made (intake: SUBMITTED and ACCEPTED; an invoice: SHIPPED and INVOICED),
    so a transaction writes one history item, not one per transition (benchmarks/bill.py).
    Orders stored before keep one ``HIST#<version>#<n>`` item per transition: :func:`history_of`
    reads both."""
    return ddb.put(
        settings().orders_table,
        {
            "pk": f"ORDER#{order_id}",
            "sk": f"HIST#{version:08d}",
            "item_type": "HISTORY",
            "at": at,
            "entries": [e.model_dump(mode="json", exclude_none=True) for e in entries],
        },
    )


def history_of(items: list[dict[str, Any]]) -> list[HistoryEntry]:
    """An order's history from its ``HIST#`` items, oldest first (one item per change, or per
    transition for orders stored before that)."""
    history: list[HistoryEntry] = []
    for item in sorted((i for i in items if i["sk"].startswith("HIST#")), key=lambda i: i["sk"]):
        for entry in item.get("entries") or [item]:
            history.append(
                HistoryEntry(
                    state=OrderState(entry["state"]),
                    at=entry["at"],
                    reason=entry["reason"],
                    event_id=entry.get("event_id"),
                )
            )
    return history


def value_size(value: Any) -> int:
    """The bytes DynamoDB counts for an attribute value (its "Item sizes and formats"): a string its
    UTF-8 bytes, a number 1 byte per two significant digits plus 1, a boolean or null 1, a list or
    map 3 plus, per element, 1 and the element (a map's keys too). Rounded up: never fewer than
    DynamoDB counts."""
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, int | Decimal):
        digits = sum(ch.isdigit() for ch in str(value))
        return (digits + 1) // 2 + 1
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bytes | bytearray):
        return len(value)
    if isinstance(value, dict):
        return 3 + sum(1 + len(str(k).encode()) + value_size(v) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return 3 + sum(1 + value_size(v) for v in value)
    raise TypeError(f"no DynamoDB size for {type(value).__name__}")


def item_size(item: dict[str, Any]) -> int:
    """The bytes DynamoDB counts for ``item`` (a plain item, as :func:`ddb.to_ddb` takes it:
    attributes that are None are not stored): attribute names and values."""
    return sum(len(name.encode()) + value_size(value) for name, value in item.items() if value is not None)


def order_put(order: StoredOrder, expected_version: int) -> dict[str, Any]:
    """The transaction item that stores ``order`` at its new version (conditional on the one read).
    Raises :class:`OrderTooLarge` when its item, with the room kept for the receipts of its
    authorized returns, would be more than ``ORDER_ITEM_MAX_BYTES``."""
    item = to_item(order)
    size, reserve = item_size(item), order.receipts_reserve()
    if size + reserve > ORDER_ITEM_MAX_BYTES:
        kept = f" (and {reserve:,} kept for the receipts of its authorized returns)" if reserve else ""
        raise OrderTooLarge(
            order.order_id,
            f"its record would be {size:,} bytes{kept}, more than the {ORDER_ITEM_MAX_BYTES:,} an order may "
            "take (DynamoDB keeps at most 400 KB in an item)",
            ": the order takes no more shipments, returns or answers that make it larger",
        )
    return ddb.put(
        settings().orders_table,
        item,
        condition="version = :v",
        ExpressionAttributeValues=ddb.values(v=expected_version),
    )


def transition_ops(
    order: StoredOrder,
    expected_version: int,
    transitions: list[tuple[OrderState, str]],
    event: EventEnvelope | None,
    source: str = ORDER_SOURCE,
) -> list[dict[str, Any]]:
    """Transaction items that store ``order`` (already mutated by the caller, ``version`` bumped),
    record ``transitions`` in its history and queue ``event`` in the outbox. Raises
    :class:`OrderTooLarge` (a refusal: nothing is written) when the order's item would be more than
    DynamoDB takes (:func:`order_put`) or the event more than one EventBridge entry (``outbox_put``)."""
    table = settings().orders_table
    ops = [order_put(order, expected_version)]
    if transitions:
        caused = event.event_id if event else None
        entries = [HistoryEntry(state=s, at=order.updated_at, reason=r, event_id=caused) for s, r in transitions]
        ops.append(history_put(order.order_id, order.version, entries, order.updated_at))
    if event is not None:
        try:
            ops.append(outbox_put(table, event, source))
        except EventTooLarge as large:
            raise OrderTooLarge(order.order_id, large.measure) from large
    return ops


def _idempotency_key(channel: str, idempotency_key: str) -> dict[str, str]:
    return {"pk": f"IDEMP#{channel}#{idempotency_key}", "sk": "IDEMP"}


def answered(channel: str, idempotency_key: str, request_hash: str) -> CreateResult | None:
    """The answer given before under the channel's ``idempotency_key``, or None if there is none.

    Retries are the common duplicate: one strongly consistent read answers them, before anything
    else is checked or read (what was accepted stays accepted, whatever changed since), instead of
    a cancelled transaction (which DynamoDB bills like a successful one). Raises
    :class:`IdempotencyConflict` when the key was used for another request."""
    previous = ddb.get(settings().orders_table, _idempotency_key(channel, idempotency_key))
    return _replayed(previous, idempotency_key, request_hash) if previous is not None else None


def create(order: StoredOrder, idempotency_key: str, request_hash: str, event: EventEnvelope) -> CreateResult:
    """Create the order exactly once for its channel's ``idempotency_key`` (one atomic transaction).

    Keys and channel order references are scoped by the order's channel (the authenticated one):
    another channel's key or reference never answers, or blocks, this one. (Neither a channel id nor
    a key can contain ``#``, so the scoped keys cannot collide.)
    """
    table = settings().orders_table
    now = order.created_at
    expires = int((utcnow() + IDEMPOTENCY_TTL).timestamp())
    idem_item = {
        **_idempotency_key(order.doc["channel"], idempotency_key),
        "item_type": "IDEMPOTENCY",
        "request_hash": request_hash,
        "order_id": order.order_id,
        "created_at": now,
        "expires_at": expires,
    }
    ref_item = {
        "pk": f"CHANREF#{order.doc['channel']}#{order.doc['channel_order_ref']}",
        "sk": "CHANREF",
        "item_type": "CHANNEL_REF",
        "order_id": order.order_id,
        "created_at": now,
    }
    ops = [
        ddb.put(table, idem_item, condition="attribute_not_exists(pk)"),
        ddb.put(table, ref_item, condition="attribute_not_exists(pk)"),
        ddb.put(table, to_item(order), condition="attribute_not_exists(pk)"),
        history_put(
            order.order_id,
            order.version,
            [
                HistoryEntry(
                    state=OrderState.SUBMITTED, at=now, reason=f"received from channel {order.doc['channel']}"
                ),
                HistoryEntry(state=OrderState.ACCEPTED, at=now, reason="passed validation", event_id=event.event_id),
            ],
            now,
        ),
        outbox_put(table, event, ORDER_SOURCE),
    ]
    # the caller asked answered() first; the transaction's conditions stay the arbiter for
    # requests that race past that read
    try:
        ddb.transact(ops)
    except ddb.TransactionCancelled as cancelled:
        if cancelled.failed(0):
            previous = cancelled.old_items[0] or ddb.get(table, {"pk": idem_item["pk"], "sk": "IDEMP"})
            if previous is None:  # pragma: no cover - the item that failed the condition exists
                raise
            return _replayed(previous, idempotency_key, request_hash)
        if cancelled.failed(1):
            previous = cancelled.old_items[1] or ddb.get(table, {"pk": ref_item["pk"], "sk": "CHANREF"})
            raise DuplicateChannelOrder(previous["order_id"] if previous else "") from cancelled
        raise
    return CreateResult(order.order_id, True, request_hash, order.state.value)


def _replayed(previous: dict[str, Any], idempotency_key: str, request_hash: str) -> CreateResult:
    if previous["request_hash"] != request_hash:
        raise IdempotencyConflict(idempotency_key)
    existing = load(previous["order_id"])
    return CreateResult(
        previous["order_id"], False, request_hash, existing.state.value if existing else OrderState.ACCEPTED.value
    )


def read(order_id: str) -> Order | None:
    items = ddb.query_all(
        TableName=settings().orders_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues=ddb.values(pk=order_key(order_id)["pk"]),
        ConsistentRead=True,
    )
    head = next((i for i in items if i["sk"] == "ORDER"), None)
    if head is None:
        return None
    stored = from_item(head)
    history = history_of(items)
    return Order(
        order_id=stored.order_id,
        state=stored.state,
        version=stored.version,
        allocations=[Allocation.model_validate(a) for a in stored.allocations],
        shipped=stored.shipped,
        closed=stored.closed,
        releases=stored.releases,
        cancellation=Cancellation.model_validate(stored.cancellation) if stored.cancellation else None,
        shipments=[ShipmentRecord.model_validate(s) for s in stored.shipments],
        returns=[ReturnAuthorization.model_validate(r) for r in stored.returns],
        created_at=stored.created_at,
        updated_at=stored.updated_at,
        history=history,
        **stored.doc,
    )


def open_backorders(limit: int) -> list[str]:
    """Order ids of BACKORDERED orders, oldest backorder first (sparse ``backorders`` index)."""
    resp = ddb.query_page(
        TableName=settings().orders_table,
        IndexName=BACKORDER_INDEX,
        KeyConditionExpression="backorder_status = :open",
        ExpressionAttributeValues=ddb.values(open=BACKORDER_OPEN),
        Limit=limit,
    )
    return [item["pk"].removeprefix(ORDER_PREFIX) for item in resp]


def accepted_between(start: datetime, end: datetime) -> Iterator[str]:
    """Ids of the orders accepted in ``[start, end)``, oldest first: the ``by-day`` index, one day
    partition after the other, page by page (memory does not grow with the window). Naive
    datetimes are taken as UTC."""
    start, end = (t if t.tzinfo else t.replace(tzinfo=UTC) for t in (start, end))
    if end <= start:
        return
    low, high = iso(start), iso(end)
    day = start.astimezone(UTC).date()
    last = end.astimezone(UTC).date()
    while day <= last:
        # day_at is "<created_at>#<order_id>": BETWEEN low AND high takes created_at >= start and
        # < end (an order at exactly `end` sorts after `high` by its "#<order_id>")
        kwargs: dict[str, Any] = {
            "TableName": settings().orders_table,
            "IndexName": BY_DAY_INDEX,
            "KeyConditionExpression": "day_key = :day AND day_at BETWEEN :low AND :high",
            "ExpressionAttributeValues": ddb.values(day=f"{DAY_PREFIX}{day.isoformat()}", low=low, high=high),
        }
        while True:
            resp = client("dynamodb").query(**kwargs)
            for item in resp.get("Items", []):
                yield ddb.from_ddb(item)["pk"].removeprefix(ORDER_PREFIX)
            if "LastEvaluatedKey" not in resp:
                break
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        day += timedelta(days=1)


def open_backorders_all() -> Iterator[str]:
    """Every BACKORDERED order id, oldest backorder first, page by page (the sweep's safety net:
    memory stays flat whatever the backlog)."""
    kwargs: dict[str, Any] = {
        "TableName": settings().orders_table,
        "IndexName": BACKORDER_INDEX,
        "KeyConditionExpression": "backorder_status = :open",
        "ExpressionAttributeValues": ddb.values(open=BACKORDER_OPEN),
    }
    while True:
        resp = client("dynamodb").query(**kwargs)
        for item in resp.get("Items", []):
            yield ddb.from_ddb(item)["pk"].removeprefix(ORDER_PREFIX)
        if "LastEvaluatedKey" not in resp:
            return
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def _hint_key(sku: str, backordered_at: str, order_id: str) -> dict[str, str]:
    return {"pk": f"{WAITING_PREFIX}{sku}", "sk": f"{backordered_at}#{order_id}"}


def _batch_write(requests: list[dict[str, Any]]) -> None:
    """BatchWriteItem ``requests`` (25 a call), retrying what DynamoDB leaves unprocessed."""
    table = settings().orders_table
    ddb_client = client("dynamodb")
    for start in range(0, len(requests), BATCH_WRITE_MAX):
        pending = requests[start : start + BATCH_WRITE_MAX]
        for _ in range(8):
            if not pending:
                break
            resp = ddb_client.batch_write_item(RequestItems={table: pending})
            pending = resp.get("UnprocessedItems", {}).get(table, [])
        if pending:
            raise RuntimeError(f"{len(pending)} backorder hint writes stayed unprocessed (throttled)")


def put_backorder_hints(order_id: str, backordered_at: str, skus: Iterable[str]) -> None:
    """One ``WAITING#<sku>`` hint per SKU the backorder waits for (idempotent: same keys again)."""
    _batch_write(
        [
            {
                "PutRequest": {
                    "Item": ddb.to_ddb(
                        {**_hint_key(sku, backordered_at, order_id), "item_type": "WAITING", "order_id": order_id}
                    )
                }
            }
            for sku in sorted(set(skus))
        ]
    )


def drop_backorder_hints(hints: Iterable[tuple[str, str]]) -> None:
    """Delete hints given as ``(sku, sort key)``."""
    _batch_write(
        [
            {"DeleteRequest": {"Key": ddb.to_ddb({"pk": f"{WAITING_PREFIX}{sku}", "sk": sk})}}
            for sku, sk in dict.fromkeys(hints)
        ]
    )


def waiting_for(sku: str) -> Iterator[tuple[str, str]]:
    """``(sort key, order_id)`` of the backorders waiting for ``sku``, oldest first, page by page."""
    kwargs: dict[str, Any] = {
        "TableName": settings().orders_table,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": ddb.values(pk=f"{WAITING_PREFIX}{sku}"),
        "ProjectionExpression": "sk, order_id",
    }
    while True:
        resp = client("dynamodb").query(**kwargs)
        for item in resp.get("Items", []):
            plain = ddb.from_ddb(item)
            yield plain["sk"], plain["order_id"]
        if "LastEvaluatedKey" not in resp:
            return
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def backordered_since(order: StoredOrder) -> str | None:
    """When a BACKORDERED order was backordered (its hints' sort key prefix), else None."""
    return order.updated_at if order.state is OrderState.BACKORDERED else None


def drop_order_hints(order: StoredOrder, backordered_at: str) -> None:
    """Best effort: the hints of an order that is no longer BACKORDERED (a retry deletes any left)."""
    short = {line["sku"] for line in order.doc["lines"]}
    drop_backorder_hints((sku, f"{backordered_at}#{order.order_id}") for sku in sorted(short))


def _commit(ops: list[dict[str, Any]]) -> bool:
    try:
        ddb.transact(ops)
    except ddb.TransactionCancelled:
        return False
    return True


def save_transition(
    order: StoredOrder, expected_version: int, transitions: list[tuple[OrderState, str]], event: EventEnvelope
) -> bool:
    """Store the order's change with its history and event (one transaction); False when the order
    moved on meanwhile (re-read)."""
    return _commit(transition_ops(order, expected_version, transitions, event))


def save_cancellation(
    order: StoredOrder,
    expected_version: int,
    transitions: list[tuple[OrderState, str]],
    event: EventEnvelope,
    released: list[dict[str, Any]],
) -> bool:
    """A cancellation's transaction: the order, its history and event, the reservations it gives
    back (``released`` allocations) and, if any, the StockAvailable that lets backorders waiting for
    those SKUs try again."""
    ops = [inventory.release_op(a["sku"], a["location_id"], int(a["quantity"]), lot=a.get("lot")) for a in released]
    ops += transition_ops(order, expected_version, transitions, event)
    if released:
        ops.append(stock_available_put(event, sorted({a["sku"] for a in released}), "cancellation"))
    return _commit(ops)


def stock_available_put(cause_event: EventEnvelope, skus: list[str], cause: str) -> dict[str, Any]:
    """The outbox entry of the StockAvailable that ``cause_event``'s change released (``skus``)."""
    event = inventory.stock_available_event(
        skus,
        cause,
        correlation_id=cause_event.correlation_id,
        causation_id=cause_event.event_id,
        event_id=deterministic_event_id("stock-available", cause_event.event_id),
    )
    # published as inventory's event (its source and its envelope's), whichever domain gave the stock back
    return outbox_put(settings().orders_table, event, inventory.INVENTORY_SOURCE)
