"""The shared kernel's vocabulary: the words every domain uses with one meaning.

A domain may import these freely; anything more specific to one domain lives in that domain and
is reached through its ``api`` module.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import Enum
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, Field, StringConstraints, WithJsonSchema

Sku = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9\-_.]{0,63}$")]
LocationId = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9\-_]{0,31}$")]
# The published schemas say exactly what is accepted: a decimal string (the safe way to send money) or a
# whole number; a JSON fraction such as 18.4 is accepted too, but not promised (binary floats can carry
# more than the 4 decimal places allowed, e.g. 0.1 + 0.2).
Money = Annotated[
    Decimal,
    Field(ge=0, le=Decimal("1000000000"), max_digits=14, decimal_places=4),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": 1000000000},
                {"type": "string", "pattern": r"^(?:(?:0|[1-9][0-9]{0,8})(?:\.[0-9]{1,4})?|1000000000(?:\.0{1,4})?)$"},
            ],
            "description": "amount in the order's currency, at most 4 decimal places, 0 to 1,000,000,000",
            "examples": ["18.40"],
        }
    ),
]
Rate = Annotated[
    Decimal,
    Field(ge=0, le=1, decimal_places=4),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": 1},
                {"type": "string", "pattern": r"^(?:0(?:\.[0-9]{1,4})?|1(?:\.0{1,4})?)$"},
            ],
            "description": "fraction 0 to 1 with at most 4 decimal places (0.09 is 9 %)",
            "examples": ["0.09"],
        }
    ),
]


ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _date_text(value: object) -> object:
    """A date in a request is text (``YYYY-MM-DD``), as the schemas say: pydantic would otherwise
    take a number as seconds since 1970, which no channel means."""
    if isinstance(value, date) or (isinstance(value, str) and ISO_DATE.fullmatch(value)):
        return value
    raise ValueError("a date as YYYY-MM-DD")


# a calendar date as requests send it: ISO 8601 text only
IsoDate = Annotated[date, BeforeValidator(_date_text)]

CENT = Decimal("0.01")


def money(value: Decimal, currency: str = "EUR") -> Decimal:
    """An amount rounded to the minor unit of ``currency`` (ISO 4217: the cent for EUR, the yen for
    JPY, the fils for BHD), half up (see docs/decisions/0005-decimal-half-up-pricing.md). Without a
    currency it rounds to the cent, as it always did."""
    return value.quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


class OrderState(str, Enum):
    """An order's business state; every change is one transaction with its outbox event."""

    SUBMITTED = "SUBMITTED"
    ACCEPTED = "ACCEPTED"
    RESERVED = "RESERVED"
    BACKORDERED = "BACKORDERED"
    RELEASED = "RELEASED"
    SHIPPED = "SHIPPED"
    INVOICED = "INVOICED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"


# Units of one SKU reserved at one location for an order. (A comment, not a docstring: the
# docstring would become the description in the published event schemas.)
class Allocation(BaseModel):
    sku: str
    location_id: str
    quantity: int
    # a lot-tracked position's lot and best-before date (perishables); absent for positions without lots
    lot: str | None = None
    best_before: date | None = None


# -- money in a currency's minor unit (ISO 4217) ---------------------------------------------------

# the currencies whose minor unit is not the hundredth (ISO 4217's "minor unit" column); every
# other code has 2 decimal places
_ZERO_DIGITS = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE_DIGITS = "BHD IQD JOD KWD LYD OMR TND"
_FOUR_DIGITS = "CLF UYW"
_MINOR_DIGITS: dict[str, int] = {
    **dict.fromkeys(_ZERO_DIGITS.split(), 0),
    **dict.fromkeys(_THREE_DIGITS.split(), 3),
    **dict.fromkeys(_FOUR_DIGITS.split(), 4),
}


def minor_units(currency: str) -> int:
    """The decimal places of ``currency``'s minor unit: 0 for JPY, 3 for BHD, 4 for CLF, else 2.
    An amount in that currency is rounded to, and written with, exactly this many places."""
    return _MINOR_DIGITS.get(currency.upper(), 2)


def minor_unit(currency: str) -> Decimal:
    """The smallest amount of ``currency`` as a quantum: ``Decimal("1")`` for JPY, ``"0.001"`` for BHD."""
    return Decimal(1).scaleb(-minor_units(currency))


def format_money(value: Decimal, currency: str = "EUR") -> str:
    """``value`` as the string an invoice or credit memo carries: rounded half up to the minor unit
    and written with exactly its digits, never in exponent form ("1000" JPY, "12.345" BHD, "0.50" EUR)."""
    return f"{money(value, currency):f}"
