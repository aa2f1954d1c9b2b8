"""Canonical order model: what a channel may post, and what the hub stores."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from synchub_core.vocabulary import Allocation, Money, OrderState, Rate, Sku

ORDER_ACCEPTED = "OrderAccepted"
ORDER_SOURCE = "synchub.orders"
MAX_LINES = 40  # a reservation transaction touches each line's positions plus 3 bookkeeping items
# a sales channel's id: its OAuth client id, the `channel` claim its API requests carry
CHANNEL_PATTERN = r"^[a-z0-9][a-z0-9\-]{1,31}$"


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


PRICE_RULE = (
    "Optional. Without it the line gets the ERP price list's price: the customer's price group "
    "(else STANDARD), in the order's currency, valid on the day the order is accepted. That price is "
    "fixed on the order line (`price_source: erp`) and the invoice uses it; no ERP price is 422 no-price."
)


class OrderLine(_Strict):
    """An order line as a channel posts it."""

    line_id: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9\-_]+$")
    sku: Sku
    quantity: int = Field(gt=0, le=100_000)
    unit_price: Money | None = Field(default=None, description=PRICE_RULE)
    tax_rate: Rate = Decimal("0")


PriceSource = Literal["channel", "erp"]


class AcceptedLine(OrderLine):
    """An order line as accepted and stored: it always has its unit price, the channel's or the ERP's."""

    unit_price: Money  # required once accepted
    price_source: PriceSource = Field(
        default="channel", description="Where unit_price came from: the channel's order, or the ERP price list"
    )


class OrderIn(_Strict):
    """What a channel posts to ``POST /orders``."""

    channel: str | None = Field(
        default=None,
        pattern=CHANNEL_PATTERN,
        description="Optional: the order belongs to the channel the access token was issued to. "
        "If sent, it must be that channel (otherwise 403 channel-mismatch).",
    )
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
    lines: list[AcceptedLine]
    allocations: list[Allocation] = []
    shipped: dict[str, int] = {}
    invoices: list[str] = []
    created_at: str
    updated_at: str
    history: list[HistoryEntry] = []


class OrderAcceptedData(OrderIn):
    """``data`` of the OrderAccepted event: the accepted request plus its order id."""

    channel: str = Field(pattern=CHANNEL_PATTERN)  # always the authenticated channel
    order_id: str
    lines: list[AcceptedLine] = Field(min_length=1, max_length=MAX_LINES)  # type: ignore[assignment]  # priced


class OrderReceipt(BaseModel):
    """What ``POST /orders`` answers (202): the order id, its state and where to follow it."""

    order_id: str
    state: OrderState
    status_url: str = Field(description="GET this path (also in the Location header) for the order's state")


@dataclass
class StoredOrder:
    """The order as stored, plus the version it was read at (optimistic concurrency).

    ``doc`` is the accepted request (:class:`OrderIn` as JSON); the other fields are what the
    hub's workers add as the order moves through its states.
    """

    order_id: str
    state: OrderState
    version: int
    doc: dict[str, Any]
    allocations: list[dict[str, Any]] = field(default_factory=list)
    shipped: dict[str, int] = field(default_factory=dict)
    invoices: list[str] = field(default_factory=list)
    created_at: str = ""
    updated_at: str = ""
    correlation_id: str | None = None  # of the request that created it; later work on it carries it on


@dataclass
class CreateResult:
    order_id: str
    created: bool
    request_hash: str
    state: str


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before with a different request body."""


class ChannelMismatch(Exception):
    """The body names another channel than the one the request is authenticated as."""

    def __init__(self, sent: str, authenticated: str):
        super().__init__(sent, authenticated)
        self.sent = sent
        self.authenticated = authenticated


class OrderRejected(Exception):
    """The ERP's master data refuses the order: ``problems`` as ``(code, line_id or None, detail)``
    (codes: unknown-sku, unknown-customer, customer-blocked, no-price)."""

    def __init__(self, problems: list[tuple[str, str | None, str]]):
        super().__init__([code for code, _, _ in problems])
        self.problems = problems


class DuplicateChannelOrder(Exception):
    """The channel's order reference was already accepted under another Idempotency-Key."""

    def __init__(self, order_id: str):
        super().__init__(order_id)
        self.order_id = order_id
