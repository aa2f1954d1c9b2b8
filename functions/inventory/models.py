"""Warehouse inventory position reports (WMS -> SQS), the positions other domains read, the
``StockAvailable`` event, and the availability-to-promise answers (``inventory/availability.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from synchub_core.vocabulary import IsoDate, LocationId, Sku

POSITION_REPORTED = "InventoryPositionReported"
STOCK_AVAILABLE = "StockAvailable"
INVENTORY_SOURCE = "synchub.inventory"
MAX_REPORT_ATTEMPTS = 5

Lot = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9\-_.]{1,32}$")]
StockCause = Literal["report", "cancellation", "return", "short-close", "release"]


class PositionReport(BaseModel):
    """Absolute quantities of one SKU at one location (and lot, for perishables) as the WMS knows
    them at ``as_of``.

    ``reserved`` is owned by the hub (orders reserve against it), so the WMS never sends it. A lot
    is its own position (``(sku, location_id, lot)``), with its own version; ``best_before`` belongs
    to a lot, so a report without one cannot carry it. ``in_transit_expected_at`` is when the
    ``in_transit`` units are expected on the shelf (kept only while some are in transit).
    """

    model_config = ConfigDict(extra="forbid")

    sku: Sku
    location_id: LocationId
    lot: Lot | None = None
    best_before: date | None = None
    on_hand: int = Field(ge=0)
    quality_hold: int = Field(ge=0, default=0)
    in_transit: int = Field(ge=0, default=0)
    in_transit_expected_at: date | None = None
    as_of: datetime

    @model_validator(mode="after")
    def _hold_within_on_hand(self) -> PositionReport:
        if self.quality_hold > self.on_hand:
            raise ValueError("quality_hold cannot exceed on_hand")
        if self.best_before is not None and self.lot is None:
            raise ValueError(
                "best_before is given only with a lot: a best-before date belongs to a lot, "
                "report the lot it is printed on"
            )
        return self


class Position(BaseModel):
    """One position as other domains see it (``inventory.api.positions_for``). ``lot`` and
    ``best_before`` are None for a position without lots; ``as_of`` is "" for a position the WMS
    never reported (created by a return)."""

    sku: str
    location_id: str
    lot: str | None = None
    best_before: date | None = None
    on_hand: int
    reserved: int
    quality_hold: int
    in_transit: int
    in_transit_expected_at: date | None = None
    available: int
    as_of: str
    wms_sequence: int


@dataclass(frozen=True)
class PendingShipment:
    """Units the hub moved at a position after its last WMS report: the WMS's numbers do not show
    them yet (docs/decisions/0007-shipped-stock-handling.md). A shipment has a positive
    ``quantity``; a return a negative one (units came back), and ``hold`` -q when they came back
    damaged (into ``quality_hold``)."""

    shipment_id: str
    shipped_at: str
    quantity: int
    hold: int = 0

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "shipment_id": self.shipment_id,
            "shipped_at": self.shipped_at,
            "quantity": self.quantity,
        }
        if self.hold:
            item["hold"] = self.hold
        return item


@dataclass(frozen=True)
class ReportState:
    """What a WMS report is applied against: the last sequence seen, the pending shipments and
    returns, and the position's ``available`` and ``reserved`` (to tell whether the report makes
    stock available)."""

    wms_sequence: int
    pending_shipments: list[PendingShipment] = field(default_factory=list)
    pending_rev: int = 0
    available: int = 0
    reserved: int = 0


class PositionContention(Exception):
    """Shipments kept changing the position while a report was applied: retried by SQS."""


class StockAvailableData(BaseModel):
    """``StockAvailable``: stock of these SKUs became available (a WMS report raised it, or an order
    gave reserved units back): backorders waiting on them are worth retrying."""

    model_config = ConfigDict(extra="forbid")

    skus: list[Sku] = Field(min_length=1, max_length=100)
    cause: StockCause
    at: datetime

    @field_validator("skus")
    @classmethod
    def _unique_sorted(cls, skus: list[str]) -> list[str]:
        if skus != sorted(set(skus)):
            raise ValueError("skus must be unique and sorted")
        return skus


# -- availability-to-promise (inventory/availability.py) ---------------------------------------------


class Quantities(BaseModel):
    """A SKU's totals over its positions. ``available`` counts sellable positions only;
    ``available_by`` is there when the inquiry names a date."""

    on_hand: int
    reserved: int
    quality_hold: int
    in_transit: int
    available: int
    available_by: int | None = None


class LocationAvailability(BaseModel):
    """One position (location, and lot) of a SKU as a channel may see it."""

    location_id: str
    warehouse_id: str | None
    lot: str | None = None
    best_before: date | None = None
    on_hand: int
    reserved: int
    quality_hold: int
    in_transit: int
    in_transit_expected_at: date | None = None
    available: int
    available_by: int | None = None
    as_of: str | None
    stale: bool
    sellable: bool


class SkuAvailability(BaseModel):
    """``GET /availability``: one SKU, in total and per position. ``as_of`` is the oldest report it
    rests on (None for a SKU no warehouse reported), ``stale`` whether that one is too old."""

    sku: str
    total: Quantities
    locations: list[LocationAvailability]
    as_of: str | None
    stale: bool


class AvailabilityLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: Sku
    quantity: int = Field(ge=1, le=1_000_000)


class AvailabilityQuery(BaseModel):
    """``POST /availability/query``: a basket to check before ordering."""

    model_config = ConfigDict(extra="forbid")

    lines: list[AvailabilityLine] = Field(min_length=1, max_length=100)
    by: IsoDate | None = None


class LineAnswer(BaseModel):
    """Whether a basket line can be promised now (and by ``by``). A SKU on several lines is judged
    by the basket's total of it."""

    sku: str
    quantity: int
    available: int
    available_by: int | None
    promise_now: bool
    promise_by: bool | None
    stale: bool


class QueryAnswer(BaseModel):
    lines: list[LineAnswer]
    by: date | None = None


class AvailabilityRequestInvalid(ValueError):
    """An inquiry the hub does not answer (too many SKUs, a malformed SKU, a bad line); the message
    says what to change, ``errors`` carries ``{pointer, detail}`` per problem (RFC 9457 extension)."""

    def __init__(self, message: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []
