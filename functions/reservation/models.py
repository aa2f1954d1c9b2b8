"""Events the reservation worker emits, and what one reservation attempt decided."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from synchub_core.envelope import EVENT_SOURCE_PREFIX
from synchub_core.vocabulary import Allocation

ORDER_RESERVED = "OrderReserved"
ORDER_BACKORDERED = "OrderBackordered"
RESERVATION_SOURCE = "synchub.reservation"
# the EventBridge sources OrderAccepted is taken from: the orders domain, which owns the event
ORDER_ACCEPTED_SOURCES = frozenset({EVENT_SOURCE_PREFIX + "orders"})
STOCK_AVAILABLE = "StockAvailable"
# the domains that put stock back: inventory (WMS reports), orders (cancellations), invoicing
# (short closes, returns)
STOCK_AVAILABLE_SOURCES = frozenset({EVENT_SOURCE_PREFIX + d for d in ("inventory", "orders", "invoicing")})
MAX_LOCATIONS_PER_LINE = 2  # keeps the transaction within DynamoDB's 100 items for 40 lines
MAX_ATTEMPTS = 5


class OrderReservedData(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: str
    allocations: list[Allocation] = Field(min_length=1)


class Shortage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str
    requested: int
    available: int


class OrderBackorderedData(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: str
    shortages: list[Shortage] = Field(min_length=1)


@dataclass
class Outcome:
    order_id: str
    result: str  # RESERVED | BACKORDERED | STILL_BACKORDERED | IGNORED
    detail: dict[str, Any]
    correlation_id: str | None = None


class OrderNotFound(Exception):
    pass


class ReservationContention(Exception):
    """Optimistic concurrency lost MAX_ATTEMPTS times in a row; the message is retried later."""
