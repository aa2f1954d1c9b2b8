"""What other domains may use of reservation: its event types (to subscribe to them)."""

from __future__ import annotations

from .models import ORDER_BACKORDERED, ORDER_RESERVED

__all__ = ["ORDER_BACKORDERED", "ORDER_RESERVED"]
