"""What other domains may use of inventory: read positions, the transaction items that reserve,
release, ship and return stock (to commit together with their own state change), the
``StockAvailable`` event they emit when they give stock back, and the availability inquiry the
orders API serves (``inventory/availability.py``)."""

from __future__ import annotations

from .availability import MAX_LINES, MAX_SKUS, answer, availability, query
from .logic import stock_available_event
from .models import (
    INVENTORY_SOURCE,
    STOCK_AVAILABLE,
    AvailabilityLine,
    AvailabilityQuery,
    AvailabilityRequestInvalid,
    LineAnswer,
    LocationAvailability,
    Position,
    Quantities,
    QueryAnswer,
    SkuAvailability,
    StockAvailableData,
)
from .repository import get_position, positions_for, release_op, reserve_op, return_op, ship_op

__all__ = [
    "INVENTORY_SOURCE",
    "MAX_LINES",
    "MAX_SKUS",
    "STOCK_AVAILABLE",
    "AvailabilityLine",
    "AvailabilityQuery",
    "AvailabilityRequestInvalid",
    "LineAnswer",
    "LocationAvailability",
    "Position",
    "Quantities",
    "QueryAnswer",
    "SkuAvailability",
    "StockAvailableData",
    "answer",
    "availability",
    "get_position",
    "positions_for",
    "query",
    "release_op",
    "reserve_op",
    "return_op",
    "ship_op",
    "stock_available_event",
]
