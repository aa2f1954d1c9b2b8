"""Shipment confirmations (WMS -> EventBridge) and the invoices they produce."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from synchub_core.vocabulary import OrderState, Sku

SHIPMENT_CONFIRMED = "ShipmentConfirmed"
INVOICE_ISSUED = "InvoiceIssued"
INVOICE_POSTED = "InvoicePosted"
INVOICE_SOURCE = "synchub.invoicing"
MAX_ATTEMPTS = 5
NOT_INVOICEABLE = frozenset({OrderState.CANCELLED, OrderState.REJECTED})


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
    def _unique(self) -> ShipmentConfirmed:
        skus = [line.sku for line in self.lines]
        if len(skus) != len(set(skus)):
            raise ValueError("each sku may appear on one shipment line only")
        return self


class InvoiceLine(BaseModel):
    model_config = ConfigDict(extra="forbid")
    line_id: str
    sku: str
    quantity: int
    unit_price: str
    tax_rate: str
    net_amount: str
    tax_amount: str
    gross_amount: str


class InvoiceReferences(BaseModel):
    """What finance needs to reconcile the invoice with the order, the shipment and the channel."""

    model_config = ConfigDict(extra="forbid")
    order_id: str
    shipment_id: str
    channel: str
    channel_order_ref: str
    warehouse_id: str
    shipped_at: str


class Invoice(BaseModel):
    """``data`` of the InvoiceIssued event, and the stored invoice document."""

    model_config = ConfigDict(extra="forbid")
    invoice_id: str
    invoice_number: str
    issued_at: str
    currency: str
    customer: dict
    bill_to: dict
    references: InvoiceReferences
    lines: list[InvoiceLine] = Field(min_length=1)
    net_total: str
    tax_total: str
    gross_total: str


class InvoicePostedData(BaseModel):
    """``data`` of InvoicePosted: the invoice is booked in the target's ledger under ``finance_document_id``."""

    model_config = ConfigDict(extra="forbid")
    invoice_id: str
    invoice_number: str
    shipment_id: str
    order_id: str
    target: str = "finance"
    finance_document_id: str
    posted_at: str
    currency: str
    gross_total: str


POSTED, REJECTED = "POSTED", "REJECTED"  # an invoice's posting_status once a connector has posted it


@dataclass
class Outcome:
    shipment_id: str
    invoice_id: str
    created: bool


class OrderNotFound(Exception):
    """The shipment names an order the hub does not know (yet): retried, then dead-lettered."""


class ShipmentRejected(ValueError):
    """The shipment contradicts the order (unknown SKU, over-shipment, cancelled order)."""


class InvoicingContention(Exception):
    pass
