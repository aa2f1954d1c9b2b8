"""What fulfilment reads and writes: orders and positions through their domains' public modules,
one transaction per decision. Fulfilment owns no table of its own."""

from __future__ import annotations

from typing import Any

from inventory import api as inventory
from orders import api as orders
from synchub_core import ddb
from synchub_core.envelope import EventEnvelope
from synchub_core.vocabulary import OrderState

load_order = orders.load
cancelled = orders.cancelled
cancelled_event = orders.cancelled_event


def save(
    order: orders.StoredOrder,
    expected_version: int,
    transitions: list[tuple[OrderState, str]],
    event: EventEnvelope | None,
    *,
    released: list[dict[str, Any]] | None = None,
    stock_cause: EventEnvelope | None = None,
    source: str | None = None,
) -> bool:
    """The order's change with its history and event, the reservations it gives back (``released``)
    and a StockAvailable for them: one transaction. False when the order moved on (re-read)."""
    released = released or []
    ops = [inventory.release_op(a["sku"], a["location_id"], int(a["quantity"]), lot=a.get("lot")) for a in released]
    # ``source``: the outbox source of ``event`` (OrderReleased is fulfilment's; OrderCancelled the orders domain's)
    if source is None:
        ops += orders.transition_ops(order, expected_version, transitions, event)
    else:
        ops += orders.transition_ops(order, expected_version, transitions, event, source=source)
    if released and stock_cause is not None:
        ops.append(orders.stock_available_put(stock_cause, sorted({a["sku"] for a in released}), "cancellation"))
    try:
        ddb.transact(ops)
    except ddb.TransactionCancelled:
        return False
    return True
