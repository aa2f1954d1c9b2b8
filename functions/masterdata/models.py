"""Master data from the ERP: the rows of its product, customer and price files (validated strictly,
with reasons a business user can act on), the outcome of a file, and the order check's result."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, ClassVar, get_args

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from synchub_core.vocabulary import Sku

from .codes import COUNTRIES, CURRENCIES


class Kind(str, Enum):
    """What a master data file holds; the folder it is dropped in (``from-erp/master/<kind>/``)."""

    PRODUCTS = "products"
    CUSTOMERS = "customers"
    PRICES = "prices"


class FileStatus(str, Enum):
    PROCESSING = "PROCESSING"  # started; a redelivery finishes it (row writes are idempotent)
    APPLIED = "APPLIED"  # every row applied, skipped as older, or rejected (see the counts)
    REJECTED = "REJECTED"  # the file as a whole refused (its name or its header): nothing applied


MASTER_PREFIX = "from-erp/master/"
REPORT_PREFIX = "to-erp/reports/"
FILE_NAME = {Kind.PRODUCTS: "PRODUCTS", Kind.CUSTOMERS: "CUSTOMERS", Kind.PRICES: "PRICES"}
HEADERS: dict[Kind, tuple[str, ...]] = {
    Kind.PRODUCTS: ("sku", "description", "unit_of_measure", "status"),
    Kind.CUSTOMERS: ("customer_id", "name", "country", "status", "price_group"),
    Kind.PRICES: ("sku", "price_group", "currency", "unit_price", "valid_from", "valid_to"),
}
REPORT_HEADER = ("row", "key", "reason")
STANDARD_PRICE_GROUP = "STANDARD"
MAX_REJECTS_STORED = 1000  # on the MDFILE record; the report in the bucket lists every one

# order check problems (the orders API answers them as 422 problems of these types)
UNKNOWN_SKU = "unknown-sku"
UNKNOWN_CUSTOMER = "unknown-customer"
CUSTOMER_BLOCKED = "customer-blocked"
NO_PRICE = "no-price"

SKU_PATTERN = re.compile(next(m.pattern for m in get_args(Sku)[1:] if getattr(m, "pattern", None)))
PRICE_GROUP = re.compile(r"[A-Z0-9_]{1,32}")
DECIMAL = re.compile(r"[0-9]{1,10}(?:\.[0-9]+)?")
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
MAX_UNIT_PRICE = Decimal("1000000000")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\ufffd]")
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # free text may have lines and tabs


def quoted(value: str, limit: int = 40) -> str:
    """A value as a reason quotes it: in quotes, shortened, control characters shown escaped."""
    text = value if len(value) <= limit else value[: limit - 3] + "..."
    return "'" + "".join(c if not _CONTROL.match(c) else f"\\x{ord(c):02x}" for c in text) + "'"


def _text(value: Any, name: str, max_length: int, *, quote: bool = True, free: bool = False) -> str:
    """A text value: not empty, no control characters (``free`` text may span lines), not too long."""
    text = str(value).strip()
    if not text:
        raise ValueError(f"{name} is empty")
    if "\ufffd" in text:
        raise ValueError(f"{name} is not valid UTF-8")
    if (_CONTROL_IN_TEXT if free else _CONTROL).search(text):
        raise ValueError(f"{name} contains control characters")
    if len(text) > max_length:
        shown = f" {quoted(text)}" if quote else ""
        raise ValueError(f"{name}{shown} is longer than {max_length} characters")
    return text


def _sku(value: Any) -> str:
    text = str(value).strip()
    if not text:
        raise ValueError("sku is empty")
    if not SKU_PATTERN.fullmatch(text):
        raise ValueError(
            f"sku {quoted(text)} is not a valid SKU "
            "(1-64 characters of A-Z 0-9 - _ . , starting with a letter or digit)"
        )
    return text


def _one_of(value: Any, name: str, allowed: tuple[str, ...]) -> str:
    text = str(value).strip()
    if text not in allowed:
        shown = quoted(text) if text else "(empty)"
        raise ValueError(f"{name} {shown} is not {' or '.join(allowed)}")
    return text


def _price_group(value: Any) -> str:
    text = str(value).strip()
    if not PRICE_GROUP.fullmatch(text):
        shown = quoted(text) if text else "(empty)"
        raise ValueError(f"price_group {shown} is not 1-32 characters of A-Z 0-9 _")
    return text


def _date(value: Any, name: str) -> date:
    text = str(value).strip()
    if not ISO_DATE.fullmatch(text):
        shown = quoted(text) if text else "(empty)"
        raise ValueError(f"{name} {shown} is not a date YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name} {quoted(text)} is not a date of the calendar") from None


class _Row(BaseModel):
    """A validated data row. The fields are checked one by one with reasons fit for the report."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: ClassVar[Kind]

    @property
    def key(self) -> str:
        """What the report names the row by (the file's key columns)."""
        raise NotImplementedError


class ProductRow(_Row):
    kind: ClassVar[Kind] = Kind.PRODUCTS
    sku: str
    description: str
    unit_of_measure: str
    status: str

    @field_validator("sku", mode="before")
    @classmethod
    def _check_sku(cls, value: Any) -> str:
        return _sku(value)

    @field_validator("description", mode="before")
    @classmethod
    def _description(cls, value: Any) -> str:
        return _text(value, "description", 200, quote=False, free=True)

    @field_validator("unit_of_measure", mode="before")
    @classmethod
    def _unit(cls, value: Any) -> str:
        return _text(value, "unit_of_measure", 16)

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, value: Any) -> str:
        return _one_of(value, "status", ("ACTIVE", "DISCONTINUED"))

    @property
    def key(self) -> str:
        return self.sku


class CustomerRow(_Row):
    kind: ClassVar[Kind] = Kind.CUSTOMERS
    customer_id: str
    name: str
    country: str
    status: str
    price_group: str

    @field_validator("customer_id", mode="before")
    @classmethod
    def _id(cls, value: Any) -> str:
        return _text(value, "customer_id", 64)

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value: Any) -> str:
        return _text(value, "name", 200, quote=False, free=True)  # a name is personal data: never quoted

    @field_validator("country", mode="before")
    @classmethod
    def _country(cls, value: Any) -> str:
        text = str(value).strip()
        if text not in COUNTRIES:
            shown = quoted(text) if text else "(empty)"
            raise ValueError(f"country {shown} is not an ISO 3166-1 alpha-2 country code (NL, DE, ...)")
        return text

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, value: Any) -> str:
        return _one_of(value, "status", ("ACTIVE", "BLOCKED"))

    @field_validator("price_group", mode="before")
    @classmethod
    def _check_price_group(cls, value: Any) -> str:
        return _price_group(value)

    @property
    def key(self) -> str:
        return self.customer_id


class PriceRow(_Row):
    kind: ClassVar[Kind] = Kind.PRICES
    sku: str
    price_group: str
    currency: str
    unit_price: Decimal
    valid_from: date
    valid_to: date | None

    @field_validator("sku", mode="before")
    @classmethod
    def _check_sku(cls, value: Any) -> str:
        return _sku(value)

    @field_validator("price_group", mode="before")
    @classmethod
    def _check_price_group(cls, value: Any) -> str:
        return _price_group(value)

    @field_validator("currency", mode="before")
    @classmethod
    def _currency(cls, value: Any) -> str:
        text = str(value).strip()
        if text not in CURRENCIES:
            shown = quoted(text) if text else "(empty)"
            raise ValueError(f"currency {shown} is not an ISO 4217 currency code (EUR, USD, ...)")
        return text

    @field_validator("unit_price", mode="before")
    @classmethod
    def _unit_price(cls, value: Any) -> Decimal:
        text = str(value).strip()
        if not DECIMAL.fullmatch(text):
            shown = quoted(text) if text else "(empty)"
            raise ValueError(f"unit_price {shown} is not a decimal number like 18.40")
        try:
            price = Decimal(text)
        except InvalidOperation:  # pragma: no cover - the pattern admits decimals only
            raise ValueError(f"unit_price {quoted(text)} is not a decimal number like 18.40") from None
        if -price.as_tuple().exponent > 4:  # type: ignore[operator]  # finite: the pattern has no NaN
            raise ValueError(f"unit_price {quoted(text)} has more than 4 decimal places")
        if price <= 0:
            raise ValueError(f"unit_price {quoted(text)} is not positive")
        if price > MAX_UNIT_PRICE:
            raise ValueError(f"unit_price {quoted(text)} is above 1,000,000,000")
        return price

    @field_validator("valid_from", mode="before")
    @classmethod
    def _valid_from(cls, value: Any) -> date:
        return _date(value, "valid_from")

    @field_validator("valid_to", mode="before")
    @classmethod
    def _valid_to(cls, value: Any) -> date | None:
        if value is None or not str(value).strip():
            return None  # open ended
        return _date(value, "valid_to")

    @model_validator(mode="after")
    def _period(self) -> PriceRow:
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError(f"valid_to {self.valid_to} is before valid_from {self.valid_from}")
        return self

    @property
    def key(self) -> str:
        return f"{self.sku}/{self.price_group}/{self.currency}/{self.valid_from}"


Row = ProductRow | CustomerRow | PriceRow
ROW_MODELS: dict[Kind, type[ProductRow] | type[CustomerRow] | type[PriceRow]] = {
    Kind.PRODUCTS: ProductRow,
    Kind.CUSTOMERS: CustomerRow,
    Kind.PRICES: PriceRow,
}


def row_key(kind: Kind, values: dict[str, str]) -> str:
    """The key of a row as sent, for a row that did not validate (shortened, never a name)."""
    columns = {Kind.PRODUCTS: ("sku",), Kind.CUSTOMERS: ("customer_id",)}.get(
        kind, ("sku", "price_group", "currency", "valid_from")
    )
    key = "/".join(str(values.get(c) or "").strip() for c in columns)
    return key if len(key) <= 100 else key[:97] + "..."


def reasons(exc: ValidationError) -> str:
    """Every complaint about a row, business readable (the validators' sentences)."""
    found = []
    for e in exc.errors(include_url=False, include_input=False, include_context=False):
        message = str(e["msg"]).removeprefix("Value error, ")
        if e["type"] != "value_error":  # pydantic's own (a type the validators did not produce)
            where = ".".join(str(p) for p in e["loc"])
            message = f"{where}: {message}" if where else message
        found.append(message)
    return "; ".join(found)


@dataclass(frozen=True)
class SourceFile:
    """A master data file being applied. ``ts`` (``YYYYMMDDHHMMSS`` from its name) orders files of
    one kind: a row never overwrites one from a file with a later ``ts``. ``attempt`` names this
    run over the file (a duplicate key is a row of the same attempt)."""

    bucket: str
    key: str
    kind: Kind
    ts: str
    stem: str
    etag: str
    attempt: str

    @property
    def report_key(self) -> str:
        return f"{REPORT_PREFIX}{self.stem}.report.csv"


@dataclass(frozen=True)
class Reject:
    row: int  # 1-based data row number (0: the file as a whole)
    key: str
    reason: str


@dataclass
class Counts:
    rows: int = 0
    applied: int = 0
    rejected: int = 0
    skipped_older: int = 0


@dataclass
class FileOutcome:
    """What became of one file."""

    key: str
    kind: Kind | None
    status: FileStatus | None  # None: nothing done (already applied, or no master data file)
    counts: Counts = field(default_factory=Counts)
    reason: str | None = None  # why the file was rejected or ignored
    report_key: str | None = None
    already_applied: bool = False


class Applied(Enum):
    """What a row write did."""

    APPLIED = "applied"
    OLDER = "older"  # a file with a later timestamp wrote this key: left as it is


@dataclass(frozen=True)
class Duplicate:
    """The row's key was written by an earlier row of the same file run."""

    first_row: int


WriteResult = Applied | Duplicate


@dataclass(frozen=True)
class PriceEntry:
    """One row of a SKU's price list, as stored."""

    price_group: str
    currency: str
    unit_price: Decimal
    valid_from: date
    valid_to: date | None


@dataclass(frozen=True)
class OrderCheck:
    """The master data verdict on an order: ``problems`` as ``(code, line_id or None, detail)``
    (empty: the order may be accepted) and the ERP ``prices`` of the lines sent without one."""

    problems: list[tuple[str, str | None, str]] = field(default_factory=list)
    prices: dict[str, Decimal] = field(default_factory=dict)
    price_group: str = STANDARD_PRICE_GROUP
