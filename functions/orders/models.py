"""Canonical order model: what a channel may post, and what the hub stores."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Sku = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9\-_.]{0,63}$")]
Money = Annotated[Decimal, Field(ge=0, le=Decimal("1000000000"), max_digits=14, decimal_places=4)]
Rate = Annotated[Decimal, Field(ge=0, le=1, decimal_places=4)]
MAX_LINES = 40  # a reservation transaction touches each line's positions plus 3 bookkeeping items


class OrderState(str, Enum):
    SUBMITTED = "SUBMITTED"
    ACCEPTED = "ACCEPTED"
    RESERVED = "RESERVED"
    BACKORDERED = "BACKORDERED"
    RELEASED = "RELEASED"
    SHIPPED = "SHIPPED"
    INVOICED = "INVOICED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Address(_Strict):
    name: str = Field(min_length=1, max_length=120)
    line1: str = Field(min_length=1, max_length=120)
    line2: str | None = Field(default=None, max_length=120)
    city: str = Field(min_length=1, max_length=80)
    postal_code: str = Field(min_length=1, max_length=20)
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")


class Customer(_Strict):
    customer_id: str = Field(min_length=1, max_length=64)
    name: str | None = Field(default=None, max_length=120)
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class OrderLine(_Strict):
    line_id: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9\-_]+$")
    sku: Sku
    quantity: int = Field(gt=0, le=100_000)
    unit_price: Money
    tax_rate: Rate = Decimal("0")


class OrderIn(_Strict):
    """What a channel posts to ``POST /orders``."""

    channel: str = Field(pattern=r"^[a-z0-9][a-z0-9\-]{1,31}$")
    channel_order_ref: str = Field(min_length=1, max_length=64)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    customer: Customer
    ship_to: Address
    requested_delivery_date: date | None = None
    lines: list[OrderLine] = Field(min_length=1, max_length=MAX_LINES)

    @model_validator(mode="after")
    def _unique_lines(self) -> OrderIn:
        ids = [line.line_id for line in self.lines]
        if len(ids) != len(set(ids)):
            raise ValueError("line_id values must be unique within an order")
        skus = [line.sku for line in self.lines]
        if len(skus) != len(set(skus)):
            raise ValueError("each sku may appear on one line only; merge the quantities")
        return self


class Allocation(BaseModel):
    sku: str
    location_id: str
    quantity: int


class HistoryEntry(BaseModel):
    state: OrderState
    at: str
    reason: str
    event_id: str | None = None


class Order(BaseModel):
    """The stored order, as ``GET /orders/{id}`` returns it."""

    order_id: str
    state: OrderState
    version: int
    channel: str
    channel_order_ref: str
    currency: str
    customer: Customer
    ship_to: Address
    requested_delivery_date: date | None = None
    lines: list[OrderLine]
    allocations: list[Allocation] = []
    shipped: dict[str, int] = {}
    invoices: list[str] = []
    created_at: str
    updated_at: str
    history: list[HistoryEntry] = []


class OrderAcceptedData(OrderIn):
    """``data`` of the OrderAccepted event: the accepted request plus its order id."""

    order_id: str
