"""The shared kernel's vocabulary: the words every domain uses with one meaning.

A domain may import these freely; anything more specific to one domain lives in that domain and
is reached through its ``api`` module.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from enum import Enum
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

Sku = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9\-_.]{0,63}$")]
LocationId = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9\-_]{0,31}$")]
Money = Annotated[Decimal, Field(ge=0, le=Decimal("1000000000"), max_digits=14, decimal_places=4)]
Rate = Annotated[Decimal, Field(ge=0, le=1, decimal_places=4)]

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
