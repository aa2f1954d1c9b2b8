"""Shipment confirmations (WMS -> EventBridge) and the invoices they produce."""
from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from orders.models import Sku

SHIPMENT_CONFIRMED = "ShipmentConfirmed"
INVOICE_ISSUED = "InvoiceIssued"


class ShippedLine(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: Sku
    quantity: int = Field(gt=0)


class ShipmentConfirmed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shipment_id: str = Field(pattern=r"^[A-Za-z0-9\-_]{1,64}$")
    order_id: str = Field(min_length=1, max_length=64)
    warehouse_id: str = Field(min_length=1, max_length=32)
    shipped_at: datetime
    carrier: str | None = Field(default=None, max_length=64)
    tracking_number: str | None = Field(default=None, max_length=64)
    lines: list[ShippedLine] = Field(min_length=1, max_length=40)

    @model_validator(mode="after")
    def _unique(self) -> "ShipmentConfirmed":
        skus = [line.sku for line in self.lines]
        if len(skus) != len(set(skus)):
            raise ValueError("each sku may appear on one shipment line only")
        return self
