"""What other domains may use of orders: read an order at a version, the transaction items that
move it to a new state with its history and outbox event, and the orders accepted in a time window
(reconciliation). Everything else in ``orders`` is private to it (enforced by
tests/unit/test_boundaries.py)."""

from __future__ import annotations

from .models import ORDER_ACCEPTED, StoredOrder
from .repository import accepted_between, load, open_backorders, transition_ops

__all__ = ["ORDER_ACCEPTED", "StoredOrder", "accepted_between", "load", "open_backorders", "transition_ops"]
