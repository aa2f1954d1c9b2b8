"""What other domains may use of inventory: read positions, and the transaction items that
reserve, release and ship stock (to commit together with their own state change)."""

from __future__ import annotations

from .models import Position
from .repository import get_position, positions_for, release_op, reserve_op, ship_op

__all__ = ["Position", "get_position", "positions_for", "release_op", "reserve_op", "ship_op"]
