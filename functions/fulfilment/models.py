"""Fulfilment: what the hub tells the warehouse (OrderReleased) and what the warehouse answers
(ReleaseAcknowledged, OrderCancellationAnswered)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from synchub_core.envelope import EVENT_SOURCE_PREFIX

ORDER_RESERVED = "OrderReserved"
ORDER_RELEASED = "OrderReleased"
RELEASE_ACKNOWLEDGED = "ReleaseAcknowledged"
ORDER_CANCELLATION_ANSWERED = "OrderCancellationAnswered"
FULFILMENT_SOURCE = "synchub.fulfilment"
ORDER_RESERVED_SOURCES = frozenset({EVENT_SOURCE_PREFIX + "reservation"})
WAREHOUSE_ANSWERS = (RELEASE_ACKNOWLEDGED, ORDER_CANCELLATION_ANSWERED)
MAX_ATTEMPTS = 5


class PickLine(BaseModel):
    model_config = ConfigDict(extra="forbid")
    line_id: str
    sku: str
    location_id: str
    lot: str | None = None
    best_before: date | None = None
    quantity: int = Field(gt=0)


class WarehouseRelease(BaseModel):
    model_config = ConfigDict(extra="forbid")
    warehouse_id: str
    pick_lines: list[PickLine] = Field(min_length=1)


class OrderReleasedData(BaseModel):
    """``data`` of OrderReleased: what each warehouse is to pick, from which location (and lot)."""

    model_config = ConfigDict(extra="forbid")
    order_id: str
    channel: str
    channel_order_ref: str
    ship_to: dict[str, Any]
    requested_delivery_date: date | None = None
    warehouse_ids: list[str] = Field(
        min_length=1,
        description="the warehouses the order is released to (each site's outbound queue takes it by these)",
    )
    warehouses: list[WarehouseRelease] = Field(min_length=1)


class ReleaseAcknowledgedData(BaseModel):
    """``data`` of ReleaseAcknowledged: the warehouse took the release (its own order reference)."""

    model_config = ConfigDict(extra="forbid")
    order_id: str = Field(min_length=1, max_length=64)
    warehouse_id: str = Field(min_length=1, max_length=32)
    acknowledged_at: datetime
    warehouse_order_ref: str | None = Field(default=None, max_length=64)


class OrderCancellationAnsweredData(BaseModel):
    """``data`` of OrderCancellationAnswered: the warehouse stopped the order (CONFIRMED) or could
    not (REFUSED, e.g. already picked), with a reason a person can read."""

    model_config = ConfigDict(extra="forbid")
    order_id: str = Field(min_length=1, max_length=64)
    warehouse_id: str = Field(min_length=1, max_length=32)
    outcome: Literal["CONFIRMED", "REFUSED"]
    reason: str | None = Field(default=None, max_length=300)
    answered_at: datetime


class NoSiteForLocation(Exception):
    """An allocation's location belongs to no registered warehouse site (the registry changed?):
    retried, then dead-lettered with the reason."""


class FulfilmentContention(Exception):
    pass
