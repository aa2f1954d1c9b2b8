"""What the ERP connector reads and writes: the order as the ERP file needs it, one row of an
acknowledgement file, the ledger's states."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

ERP_TARGET = "erp"  # the breaker's, the rate limiter's and the business exceptions' target
ORDER_ACCEPTED = "OrderAccepted"  # the event this connector takes (orders.api.ORDER_ACCEPTED)
ORDERS_SOURCE = "synchub.orders"
ORDERS_QUEUE = "erp-orders"  # names the queue in refusal reasons
ENTITY_ORDER = "order"
CODE_ERP_REJECTED = "erp-rejected"

ORDER_FILE_PREFIX = "to-erp/orders/"
ACK_FILE_PREFIX = "from-erp/acks/"


class LedgerStatus(str, Enum):
    """Where an order stands with the ERP (``ERPORDER#<order_id>``)."""

    SENT = "SENT"  # in a file the ERP has not answered for yet
    ACKED = "ACKED"  # booked by the ERP (final)
    REJECTED = "REJECTED"  # refused by the ERP: a business exception is open for it


class AckStatus(str, Enum):
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    FILE_REJECTED = "FILE_REJECTED"


class _Lenient(BaseModel):
    # the OrderAccepted data carries more (ship_to, customer name...): the ERP file takes only this
    model_config = ConfigDict(extra="ignore", frozen=True)


class ErpCustomer(_Lenient):
    customer_id: str = Field(min_length=1)


class ErpLine(_Lenient):
    line_id: str = Field(min_length=1)
    sku: str = Field(min_length=1)
    quantity: int = Field(gt=0)
    unit_price: Decimal | None = None  # always set once accepted (the channel's or the ERP's price)
    tax_rate: Decimal = Decimal("0")


class ErpOrder(_Lenient):
    """An accepted order as the ERP order file carries it (from OrderAccepted ``data``)."""

    order_id: str = Field(min_length=1)
    channel: str = Field(min_length=1)
    channel_order_ref: str = Field(min_length=1)
    customer: ErpCustomer
    currency: str = Field(min_length=3, max_length=3)
    lines: list[ErpLine] = Field(min_length=1)


@dataclass(frozen=True)
class OrderRow:
    """One row of an order file (one order line)."""

    order_id: str
    channel: str
    channel_order_ref: str
    customer_id: str
    order_date: str  # YYYY-MM-DD
    currency: str
    line_id: str
    sku: str
    quantity: int
    unit_price: Decimal | None
    tax_rate: Decimal


@dataclass(frozen=True)
class AckRow:
    """One row of an acknowledgement file; ``row`` is its 1-based data row number."""

    row: int
    order_id: str  # ``*`` on a FILE_REJECTED row
    status: AckStatus
    erp_order_number: str = ""
    reason: str = ""
    currency: str = ""
    net_total: Decimal | None = None
    line_count: int | None = None


class AckFileInvalid(ValueError):
    """An object under the acks prefix that is no acknowledgement file (name or header)."""


class AckRowInvalid(ValueError):
    """One row of an ack file that cannot be read; the file's other rows still apply."""

    def __init__(self, row: int, reason: str) -> None:
        super().__init__(f"row {row}: {reason}")
        self.row = row
        self.reason = reason


@dataclass(frozen=True)
class LedgerEntry:
    """What the connector knows of one order (``ERPORDER#<order_id>``)."""

    order_id: str
    status: LedgerStatus
    file: str | None = None
    attempts: int = 0
    exception_id: str | None = None  # set once the ERP rejected it: its acceptance resolves that


@dataclass(frozen=True)
class Pending:
    """One record of the ErpOrders queue, parsed: the order and the day the hub accepted it."""

    record: Any  # the SQS record (an SQSRecord): parked as it came when the ERP cannot take it
    order: ErpOrder
    order_date: str  # YYYY-MM-DD
    message_id: str


@dataclass
class SendOutcome:
    """What one ErpOrders batch did."""

    file: str | None = None  # the order file written, if any
    sent: list[str] = field(default_factory=list)  # order ids in it
    already_acked: int = 0
    parked: int = 0
    parked_reason: str | None = None
    probe: bool = False
    failed: list[str] = field(default_factory=list)  # message ids SQS should deliver again
    error: str | None = None
    changes: list[Any] = field(default_factory=list)  # breaker state changes (connectors BreakerChange)


@dataclass
class AckOutcome:
    """What one acknowledgement file did."""

    file: str  # the order file it answers
    ack_file: str
    acked: int = 0
    rejected: int = 0
    duplicates: int = 0
    unknown: list[str] = field(default_factory=list)  # order ids the hub does not know
    invalid: list[AckRowInvalid] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)  # business exceptions raised
    file_rejected: bool = False
    resent: int = 0
    closed: bool = False  # this file closed the order file (False for a duplicate)
    changes: list[Any] = field(default_factory=list)


@dataclass
class WatchOutcome:
    overdue: list[str] = field(default_factory=list)  # files marked overdue now
    resent: int = 0
    changes: list[Any] = field(default_factory=list)
