"""Warehouse inventory position reports (WMS -> SQS)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from synchub_core.vocabulary import LocationId, Sku

POSITION_REPORTED = "InventoryPositionReported"
MAX_REPORT_ATTEMPTS = 5


class PositionReport(BaseModel):
    """Absolute quantities of one SKU at one location as the WMS knows them at ``as_of``.

    ``reserved`` is owned by the hub (orders reserve against it), so the WMS never sends it.
    """

    model_config = ConfigDict(extra="forbid")

    sku: Sku
    location_id: LocationId
    on_hand: int = Field(ge=0)
    quality_hold: int = Field(ge=0, default=0)
    in_transit: int = Field(ge=0, default=0)
    as_of: datetime

    @model_validator(mode="after")
    def _hold_within_on_hand(self) -> PositionReport:
        if self.quality_hold > self.on_hand:
            raise ValueError("quality_hold cannot exceed on_hand")
        return self


class Position(BaseModel):
    sku: str
    location_id: str
    on_hand: int
    reserved: int
    quality_hold: int
    in_transit: int
    available: int
    as_of: str
    wms_sequence: int


@dataclass(frozen=True)
class PendingShipment:
    """Units the hub shipped from a position after its last WMS report: the WMS's on_hand does not
    lack them yet (docs/decisions/0007-shipped-stock-handling.md)."""

    shipment_id: str
    shipped_at: str
    quantity: int


@dataclass(frozen=True)
class ReportState:
    """What a WMS report is applied against: the last sequence seen and the pending shipments."""

    wms_sequence: int
    pending_shipments: list[PendingShipment] = field(default_factory=list)
    pending_rev: int = 0


class PositionContention(Exception):
    """Shipments kept changing the position while a report was applied: retried by SQS."""
