"""Shipment confirmations (WMS -> EventBridge) and the invoices they produce."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from synchub_core.vocabulary import LocationId, OrderState, Sku

SHIPMENT_CONFIRMED = "ShipmentConfirmed"
RETURN_RECEIVED = "ReturnReceived"
INVOICE_ISSUED = "InvoiceIssued"
INVOICE_POSTED = "InvoicePosted"
CREDIT_MEMO_ISSUED = "CreditMemoIssued"
CREDIT_MEMO_POSTED = "CreditMemoPosted"
INVOICE_SOURCE = "synchub.invoicing"
# shipments per order: each is kept on the order item (where it was picked), which must stay well
# within DynamoDB's 400 KB however many partial shipments an order has
MAX_SHIPMENTS_PER_ORDER = 50
MAX_ATTEMPTS = 10  # optimistic concurrency on the order and on the legal entity's number counter
NOT_INVOICEABLE = frozenset({OrderState.CANCELLED, OrderState.REJECTED})
# an order the hub has not reserved stock for yet: a shipment for it is held until it has
# (docs/decisions/0010-order-lifecycle.md), never invoiced without consuming stock
NOT_RESERVED_YET = frozenset({OrderState.ACCEPTED, OrderState.BACKORDERED, OrderState.SUBMITTED})
Lot = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9\-_.]{1,32}$")]


class ShippedLine(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: Sku
    quantity: int = Field(gt=0)
    location_id: LocationId | None = Field(
        default=None,
        description="where the units were picked; the hub consumes the order's reservation there. "
        "Optional only when the order has one reservation of the SKU at the shipping site",
    )
    lot: Lot | None = Field(default=None, description="the lot picked, for lot-tracked stock")
    close_short: bool = Field(
        default=False,
        description="true: the warehouse ships no more of this line; the rest of it is closed and its "
        "reservation released. false (default): the rest stays reserved for a later shipment",
    )


class ShipmentConfirmed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shipment_id: str = Field(pattern=r"^[A-Za-z0-9\-_]{1,64}$")
    order_id: str = Field(min_length=1, max_length=64)
    warehouse_id: str = Field(min_length=1, max_length=32)
    shipped_at: datetime
    carrier: str | None = Field(default=None, max_length=64)
    tracking_number: str | None = Field(default=None, max_length=64)
    lines: list[ShippedLine] = Field(min_length=1, max_length=80)  # 40 order lines from up to 2 locations each

    @model_validator(mode="after")
    def _unique(self) -> ShipmentConfirmed:
        picks = [(line.sku, line.location_id, line.lot) for line in self.lines]
        if len(picks) != len(set(picks)):
            raise ValueError("each sku may appear once per location and lot on a shipment")
        return self


Condition = Literal["RESALEABLE", "DAMAGED"]


class ReturnedLine(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: Sku
    quantity: int = Field(gt=0, le=100_000)
    condition: Condition = Field(
        description="RESALEABLE: back into on_hand and available; DAMAGED: into on_hand and quality_hold"
    )
    location_id: LocationId = Field(description="where the warehouse put the returned units")
    lot: Lot | None = None
    best_before: date | None = None


class ReturnReceived(BaseModel):
    """What the warehouse reports when a return authorized by the channel arrives."""

    model_config = ConfigDict(extra="forbid")
    order_id: str = Field(min_length=1, max_length=64)
    rma_id: str = Field(pattern=r"^[A-Za-z0-9\-_]{1,64}$")
    warehouse_id: str = Field(min_length=1, max_length=32)
    received_at: datetime
    lines: list[ReturnedLine] = Field(min_length=1, max_length=40)

    @model_validator(mode="after")
    def _unique(self) -> ReturnReceived:
        places = [(line.sku, line.location_id, line.lot) for line in self.lines]
        if len(places) != len(set(places)):
            raise ValueError(
                "each sku may appear once per location and lot on a return: put resaleable and damaged units "
                "of one SKU in different locations (or lots)"
            )
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
    invoice_number: str = Field(
        description="gap-free and sequential per legal entity and year: INV-<entity>-<year>-<n>"
    )
    legal_entity: str | None = None
    fiscal_year: int | None = None
    sequence: int | None = None
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


class CreditLine(BaseModel):
    """Units of one invoice line credited: the amounts are positive (what the customer gets back)."""

    model_config = ConfigDict(extra="forbid")
    invoice_id: str
    invoice_number: str
    line_id: str
    sku: str
    quantity: int
    unit_price: str
    tax_rate: str
    net_amount: str
    tax_amount: str
    gross_amount: str
    condition: Condition


class CreditMemoReferences(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: str
    rma_id: str
    channel: str
    channel_order_ref: str
    warehouse_id: str
    received_at: str


class CreditMemo(BaseModel):
    """``data`` of the CreditMemoIssued event, and the stored credit memo: one per return."""

    model_config = ConfigDict(extra="forbid")
    credit_memo_id: str
    credit_memo_number: str = Field(
        description="gap-free and sequential per legal entity and year: CM-<entity>-<year>-<n>"
    )
    legal_entity: str
    fiscal_year: int
    sequence: int
    issued_at: str
    currency: str
    customer: dict
    bill_to: dict
    references: CreditMemoReferences
    lines: list[CreditLine] = Field(min_length=1)
    net_total: str
    tax_total: str
    gross_total: str


class CreditMemoPostedData(BaseModel):
    """``data`` of CreditMemoPosted: the credit memo is booked in the target's ledger."""

    model_config = ConfigDict(extra="forbid")
    credit_memo_id: str
    credit_memo_number: str
    order_id: str
    rma_id: str
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


class ShipmentHeld(Exception):
    """The shipment is for an order the hub has not reserved stock for yet: it waits (parked on its
    queue) until the reservation exists."""


class ReturnRejected(ValueError):
    """The return receipt contradicts the order's return authorization."""
