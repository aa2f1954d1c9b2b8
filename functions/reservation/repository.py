"""What reservation reads and writes: orders and positions through their domains' public
modules, committed as one transaction per decision. Reservation owns no table of its own."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from inventory import api as inventory
from orders import api as orders
from synchub_core import ddb
from synchub_core.envelope import EventEnvelope
from synchub_core.vocabulary import OrderState

load_order = orders.load
open_backorders = orders.open_backorders


def available_stock(skus: Iterable[str]) -> dict[str, dict[str, int]]:
    """``{sku: {location_id: available}}`` for every position of each SKU (strongly consistent)."""
    return {sku: {p.location_id: p.available for p in inventory.positions_for(sku)} for sku in skus}


def save(
    order: orders.StoredOrder,
    expected_version: int,
    transitions: list[tuple[OrderState, str]],
    event: EventEnvelope,
    reserve: list[dict[str, Any]],
) -> bool:
    """Reserve ``reserve`` (allocations) and store the order's transition with its event, all in
    one transaction. False when the order or a position moved on meanwhile (re-read, re-plan)."""
    ops = [inventory.reserve_op(a["sku"], a["location_id"], int(a["quantity"])) for a in reserve]
    ops += orders.transition_ops(order, expected_version, transitions, event)
    try:
        ddb.transact(ops)
    except ddb.TransactionCancelled:
        return False
    return True
