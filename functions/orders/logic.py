"""Order intake: turn a validated request into a stored order plus its OrderAccepted event."""

from __future__ import annotations

import hashlib
import json
import uuid
from decimal import Decimal

from synchub_core.envelope import new_event, now_iso

from . import repository
from .models import (
    ORDER_ACCEPTED,
    ORDER_SOURCE,
    CreateResult,
    Order,
    OrderAcceptedData,
    OrderIn,
    OrderState,
    StoredOrder,
)


def _canonical(value: object) -> str:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")  # 18.4 == 18.40 == 18.400
    return str(value)  # dates


def request_hash(order: OrderIn) -> str:
    """Hash of the canonical request: key order, whitespace and number spelling do not matter."""
    canonical = json.dumps(order.model_dump(mode="python"), sort_keys=True, separators=(",", ":"), default=_canonical)
    return hashlib.sha256(canonical.encode()).hexdigest()


def new_order_id() -> str:
    return "ord_" + uuid.uuid4().hex


def accept(order_in: OrderIn, idempotency_key: str, correlation_id: str) -> CreateResult:
    now = now_iso()
    doc = order_in.model_dump(mode="json")
    stored = StoredOrder(
        order_id=new_order_id(),
        state=OrderState.ACCEPTED,
        version=1,
        doc=doc,
        created_at=now,
        updated_at=now,
        correlation_id=correlation_id,
    )
    event = new_event(
        ORDER_ACCEPTED,
        entity_id=stored.order_id,
        sequence=stored.version,
        data=OrderAcceptedData(order_id=stored.order_id, **doc).model_dump(mode="json"),
        correlation_id=correlation_id,
        causation_id=f"idempotency-key:{idempotency_key}",
        source_system=ORDER_SOURCE,
    )
    return repository.create(stored, idempotency_key, request_hash(order_in), event)


def get(order_id: str) -> Order | None:
    """The order with its history, as ``GET /orders/{id}`` shows it."""
    return repository.read(order_id)
