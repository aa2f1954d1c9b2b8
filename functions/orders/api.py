"""What other domains may use of orders: read an order at a version, the transaction items that
move it to a new state with its history and outbox event, the orders accepted in a time window
(reconciliation), the backorder hints (reservation) and what a cancellation does to an order (the
warehouse's confirmation, fulfilment). Everything else in ``orders`` is private to it (enforced by
tests/unit/test_boundaries.py)."""

from __future__ import annotations

from .models import ORDER_ACCEPTED, ORDER_CANCELLATION_REQUESTED, ORDER_CANCELLED, RETURN_AUTHORIZED, StoredOrder
from .repository import (
    accepted_between,
    drop_backorder_hints,
    drop_order_hints,
    load,
    open_backorders,
    open_backorders_all,
    put_backorder_hints,
    stock_available_put,
    transition_ops,
    waiting_for,
)
from .transitions import cancelled, cancelled_event

__all__ = [
    "ORDER_ACCEPTED",
    "ORDER_CANCELLATION_REQUESTED",
    "ORDER_CANCELLED",
    "RETURN_AUTHORIZED",
    "StoredOrder",
    "accepted_between",
    "cancelled",
    "cancelled_event",
    "drop_backorder_hints",
    "drop_order_hints",
    "load",
    "open_backorders",
    "open_backorders_all",
    "put_backorder_hints",
    "stock_available_put",
    "transition_ops",
    "waiting_for",
]
