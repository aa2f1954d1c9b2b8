"""Events the reservation worker emits."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from orders.models import Allocation


class OrderReservedData(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: str
    allocations: list[Allocation] = Field(min_length=1)


class Shortage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str
    requested: int
    available: int


class OrderBackorderedData(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: str
    shortages: list[Shortage] = Field(min_length=1)
