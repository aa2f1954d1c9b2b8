"""Warehouse inventory position reports (WMS -> SQS)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from orders.models import Sku

POSITION_REPORTED = "InventoryPositionReported"


class PositionReport(BaseModel):
    """Absolute quantities of one SKU at one location as the WMS knows them at ``as_of``.

    ``reserved`` is owned by the hub (orders reserve against it), so the WMS never sends it.
    """

    model_config = ConfigDict(extra="forbid")

    sku: Sku
    location_id: str = Field(pattern=r"^[A-Z0-9][A-Z0-9\-_]{0,31}$")
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
