"""The shared kernel's vocabulary: the words every domain uses with one meaning.

A domain may import these freely; anything more specific to one domain lives in that domain and
is reached through its ``api`` module.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from enum import Enum
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, WithJsonSchema

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

CENT = Decimal("0.01")


def money(value: Decimal) -> Decimal:
    """An amount rounded to the cent, half up (see docs/decisions/0005-decimal-half-up-pricing.md)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


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
