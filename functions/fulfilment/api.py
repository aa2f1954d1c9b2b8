"""What other domains may use of fulfilment: its event types."""

from __future__ import annotations

from .models import ORDER_CANCELLATION_ANSWERED, ORDER_RELEASED, RELEASE_ACKNOWLEDGED

__all__ = ["ORDER_CANCELLATION_ANSWERED", "ORDER_RELEASED", "RELEASE_ACKNOWLEDGED"]
