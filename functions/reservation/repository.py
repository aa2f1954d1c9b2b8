"""What reservation reads and writes: orders and positions through their domains' public
modules, committed as one transaction per decision. Reservation owns no table of its own."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from inventory import api as inventory
from orders import api as orders
from synchub_core import ddb
from synchub_core.envelope import EventEnvelope
from synchub_core.vocabulary import OrderState

from .models import RESERVATION_SOURCE

load_order = orders.load
open_backorders = orders.open_backorders
all_open_backorders = orders.open_backorders_all
waiting_for = orders.waiting_for
drop_stale_hints = orders.drop_backorder_hints


def available_stock(skus: Iterable[str]) -> dict[str, dict[Any, int]]:
    """``{sku: {position: available}}`` for every position of each SKU (strongly consistent); a
    position is its location id, or ``(location_id, lot, best_before)`` for a lot."""
    stock: dict[str, dict[Any, int]] = {}
    for sku in skus:
        positions: dict[Any, int] = {}
        for p in inventory.positions_for(sku):
            key: Any = p.location_id
            if p.lot is not None:
                key = (p.location_id, p.lot, date.fromisoformat(str(p.best_before)) if p.best_before else None)
            positions[key] = p.available
        stock[sku] = positions
    return stock


def available_units(sku: str) -> int:
    """Units of ``sku`` available anywhere (whether a waiting order may take them is its plan's call)."""
    return sum(max(p.available, 0) for p in inventory.positions_for(sku))


def put_hints(order_id: str, backordered_at: str, skus: Iterable[str]) -> None:
    orders.put_backorder_hints(order_id, backordered_at, skus)


def drop_hints(order: orders.StoredOrder, backordered_at: str) -> None:
    orders.drop_order_hints(order, backordered_at)


def save(
    order: orders.StoredOrder,
    expected_version: int,
    transitions: list[tuple[OrderState, str]],
    event: EventEnvelope,
    reserve: list[dict[str, Any]],
) -> bool:
    """Reserve ``reserve`` (allocations) and store the order's transition with its event, all in
    one transaction. False when the order or a position moved on meanwhile (re-read, re-plan)."""
    ops = [inventory.reserve_op(a["sku"], a["location_id"], int(a["quantity"]), lot=a.get("lot")) for a in reserve]
    # published as synchub.reservation: the release rule (and fulfilment) take OrderReserved from it only
    ops += orders.transition_ops(order, expected_version, transitions, event, source=RESERVATION_SOURCE)
    try:
        ddb.transact(ops)
    except ddb.TransactionCancelled:
        return False
    return True
