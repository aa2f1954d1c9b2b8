"""Canonical order model: what a channel may post, and what the hub stores."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from synchub_core.envelope import Refused
from synchub_core.vocabulary import Allocation, IsoDate, Money, OrderState, Rate, Sku

ORDER_ACCEPTED = "OrderAccepted"
ORDER_CANCELLED = "OrderCancelled"
ORDER_CANCELLATION_REQUESTED = "OrderCancellationRequested"
RETURN_AUTHORIZED = "ReturnAuthorized"
ORDER_SOURCE = "synchub.orders"
# what a channel may cancel at once (reservations are released in the same transaction); a RELEASED
# order's cancellation is asked of its warehouses, which may refuse it (already picked)
CANCELLABLE_NOW = frozenset({OrderState.ACCEPTED, OrderState.BACKORDERED, OrderState.RESERVED})
RETURNABLE = frozenset({OrderState.SHIPPED, OrderState.INVOICED})
MAX_RETURNS = 50  # returns authorized per order (and each must fit in the order's item: ORDER_ITEM_MAX_BYTES)
# lines per order. With at most 2 positions per line (reservation.models.MAX_LOCATIONS_PER_LINE) an order
# holds at most 80 allocations, and every transaction of its life fits DynamoDB's 100 items: reserving
# 80 + 3, cancelling 80 + 4, a shipment of all of it 80 + 6, closing short 80 + 7 (ADR 0012)
MAX_LINES = 40
# what DynamoDB takes in one item (400 KB = 409,600 bytes: attribute names and values, UTF-8), less a
# margin: an order that would grow past it (shipments, returns, credit memos, answers) is refused with
# the reason instead of failing in DynamoDB (OrderTooLarge)
ORDER_ITEM_MAX_BYTES = 400_000
# invoice lines one return may credit (at most one per returned unit and invoice of its SKU): the credit
# memo and its CreditMemoIssued stay far below synchub_core.outbox.EVENT_ENTRY_MAX_BYTES; split a larger
# return into several
MAX_RETURN_CREDIT_LINES = 200
# what a return's receipt adds to the order's item at most: the return RECEIVED (received_at, credit memo
# id) and the memo's id on the order; and per invoice line it credits one ``credited`` entry
# ("<invoice id>#<line id>": units, net, tax; a line id of 32 characters, amounts of 20 digits: 142 bytes)
RECEIPT_BYTES = 200
CREDITED_ENTRY_BYTES = 150
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
    requested_delivery_date: IsoDate | None = None
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


class CancelIn(_Strict):
    """What a channel posts to ``POST /orders/{order_id}/cancel`` (the body is optional)."""

    reason: str = Field(default="cancelled by the channel", min_length=1, max_length=200, pattern=r"\S")


class ReturnLineIn(_Strict):
    line_id: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9\-_]+$")
    quantity: int = Field(gt=0, le=100_000)


class ReturnIn(_Strict):
    """What a channel posts to ``POST /orders/{order_id}/returns``: a return authorization (RMA)."""

    rma_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9\-_]+$")
    reason: str = Field(min_length=1, max_length=200, pattern=r"\S")
    lines: list[ReturnLineIn] = Field(min_length=1, max_length=MAX_LINES)

    @model_validator(mode="after")
    def _unique_lines(self) -> ReturnIn:
        ids = [line.line_id for line in self.lines]
        if len(ids) != len(set(ids)):
            raise ValueError("each line_id may appear on one return line only")
        return self


class ReturnLine(BaseModel):
    line_id: str
    sku: str
    quantity: int


class ReturnAuthorization(BaseModel):
    """A return as the order keeps it: AUTHORIZED by the channel, RECEIVED once the warehouse
    reports it (and its credit memo is issued)."""

    rma_id: str
    reason: str
    status: Literal["AUTHORIZED", "RECEIVED"] = "AUTHORIZED"
    lines: list[ReturnLine]
    authorized_at: str
    received_at: str | None = None
    credit_memo_id: str | None = None
    request_hash: str | None = Field(default=None, exclude=True)


class ReturnAuthorizedData(BaseModel):
    """``data`` of ReturnAuthorized: the warehouse expects these units back under ``rma_id``."""

    model_config = ConfigDict(extra="forbid")
    order_id: str
    rma_id: str
    channel: str
    reason: str
    warehouse_ids: list[str] = Field(
        description="the warehouses that shipped the returned SKUs: where the return is expected (each site's "
        "outbound queue takes it by these)"
    )
    lines: list[ReturnLine] = Field(min_length=1)
    authorized_at: str


class Cancellation(BaseModel):
    """An order's cancellation: CANCELLED at once, or REQUESTED of its warehouses, each of which
    CONFIRMS or REFUSES (``answers`` by warehouse id)."""

    status: Literal["CANCELLED", "REQUESTED", "REFUSED"]
    reason: str
    requested_at: str
    answers: dict[str, dict[str, Any]] = {}
    refusal: str | None = None


class OrderCancelledData(BaseModel):
    """``data`` of OrderCancelled: the order is cancelled and ``released`` went back to stock."""

    model_config = ConfigDict(extra="forbid")
    order_id: str
    channel: str
    channel_order_ref: str
    reason: str
    cancelled_at: str
    released: list[Allocation] = []


class OrderCancellationRequestedData(BaseModel):
    """``data`` of OrderCancellationRequested: the warehouses the order was released to are asked
    to stop it; each answers with OrderCancellationAnswered."""

    model_config = ConfigDict(extra="forbid")
    order_id: str
    warehouse_ids: list[str] = Field(min_length=1)
    reason: str
    requested_at: str


class ShipmentRecord(BaseModel):
    """A shipment as the order keeps it: where each line was picked and the invoice it got."""

    shipment_id: str
    invoice_id: str
    warehouse_id: str
    shipped_at: str
    lines: list[dict[str, Any]]


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
    shipped: dict[str, int] = Field(default={}, description="units shipped, by SKU")
    closed: dict[str, int] = Field(
        default={}, description="units that will not ship, by SKU: closed by a short shipment or a cancellation"
    )
    releases: dict[str, dict[str, Any]] = Field(
        default={}, description="the warehouses the order was released to, with their acknowledgement"
    )
    cancellation: Cancellation | None = None
    shipments: list[ShipmentRecord] = []
    invoices: list[dict[str, Any]] = Field(default=[], description="the order's invoices, with their lines")
    returns: list[ReturnAuthorization] = []
    credit_memos: list[dict[str, Any]] = Field(default=[], description="the order's credit memos, with their lines")
    created_at: str
    updated_at: str
    history: list[HistoryEntry] = []


class OrderAcceptedData(OrderIn):
    """``data`` of the OrderAccepted event: the accepted request plus its order id."""

    channel: str = Field(pattern=CHANNEL_PATTERN)  # always the authenticated channel
    order_id: str
    min_shelf_life_days: int = Field(
        default=0, ge=0, le=3650, description="the channel's minimum remaining shelf life for lots, in days"
    )
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
    closed: dict[str, int] = field(default_factory=dict)  # units that will not ship, by SKU
    # when a short shipment closed a SKU's line (its shipped_at): a shipment of that SKU shipped before
    # then but delivered after takes its units back from ``closed``
    closed_at: dict[str, str] = field(default_factory=dict)
    shipments: list[dict[str, Any]] = field(default_factory=list)  # ShipmentRecord dicts
    releases: dict[str, dict[str, Any]] = field(default_factory=dict)  # warehouse id -> release state
    cancellation: dict[str, Any] | None = None  # Cancellation dict
    returns: list[dict[str, Any]] = field(default_factory=list)  # ReturnAuthorization dicts (with request_hash)
    credit_memos: list[str] = field(default_factory=list)  # credit memo ids
    credited: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # "<invoice id>#<line id>" -> units, net, tax credited
    min_shelf_life_days: int = 0  # the channel's, at acceptance

    @property
    def channel(self) -> str:
        return str(self.doc["channel"])

    def open_units(self, sku: str) -> int:
        """Units of ``sku`` still to ship: ordered, less shipped and closed."""
        line = next((line for line in self.doc["lines"] if line["sku"] == sku), None)
        if line is None:
            return 0
        return int(line["quantity"]) - self.shipped.get(sku, 0) - self.closed.get(sku, 0)

    def complete(self) -> bool:
        """Every line shipped or closed."""
        return all(self.open_units(line["sku"]) <= 0 for line in self.doc["lines"])

    def credit_lines_bound(self, lines: list[dict[str, Any]]) -> int:
        """The most invoice lines a return of ``lines`` (``{sku, quantity}``) can credit: per SKU one
        per unit, and at most one per shipment (each has one invoice, with one line per order line)."""
        shipments_of: dict[str, int] = {}
        for shipment in self.shipments:
            for sku in {line["sku"] for line in shipment["lines"]}:
                shipments_of[sku] = shipments_of.get(sku, 0) + 1
        return sum(min(int(line["quantity"]), shipments_of.get(line["sku"], 0)) for line in lines)

    def receipts_reserve(self) -> int:
        """Bytes the order's item keeps free for the receipts of its AUTHORIZED returns (what a receipt
        adds: the return received with its credit memo, one ``credited`` entry per invoice line it
        credits), so that goods that came back always get their credit memo."""
        return sum(
            RECEIPT_BYTES + CREDITED_ENTRY_BYTES * self.credit_lines_bound(r["lines"])
            for r in self.returns
            if r.get("status", "AUTHORIZED") == "AUTHORIZED"
        )


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


class NotCancellable(Exception):
    """The order cannot be cancelled any more (shipped, invoiced, rejected, or the warehouse refused)."""

    def __init__(self, order_id: str, state: str, reason: str):
        super().__init__(reason)
        self.order_id, self.state, self.reason = order_id, state, reason


class NotReturnable(Exception):
    """The order takes no (more) return: ``why`` says what stands in the way (nothing shipped yet,
    its returns used up, its record full, a return too large for one credit memo)."""

    def __init__(self, order_id: str, state: str, why: str | None = None):
        super().__init__(order_id, state, why)
        self.order_id, self.state = order_id, state
        self.why = why or "nothing of it has shipped, so nothing can be returned. Cancel it instead."


class ReturnConflict(Exception):
    """The RMA id was used on this order before with another request."""

    def __init__(self, rma_id: str):
        super().__init__(rma_id)
        self.rma_id = rma_id


class ReturnExceedsShipped(Exception):
    """A return line asks for more units than shipped and not yet authorized for return."""

    def __init__(self, line_id: str, requested: int, returnable: int):
        super().__init__(line_id, requested, returnable)
        self.line_id, self.requested, self.returnable = line_id, requested, returnable


class UnknownOrderLine(Exception):
    def __init__(self, line_id: str):
        super().__init__(line_id)
        self.line_id = line_id


class OrderTooLarge(Refused):
    """The change would take the order's item (or the event it writes) past what DynamoDB (or
    EventBridge) takes: refused with the reason, nothing written. A worker dead-letters it at once.
    ``measure`` says what would be too large, by how much."""

    def __init__(self, order_id: str, measure: str, advice: str = ""):
        super().__init__(f"order {order_id}: {measure}{advice}; nothing was written")
        self.order_id, self.measure = order_id, measure


class ConcurrentChange(Exception):
    """The order kept changing under the request (optimistic concurrency lost repeatedly)."""


class DuplicateChannelOrder(Exception):
    """The channel's order reference was already accepted under another Idempotency-Key."""

    def __init__(self, order_id: str):
        super().__init__(order_id)
        self.order_id = order_id
