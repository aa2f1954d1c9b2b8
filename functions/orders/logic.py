"""Order intake: turn a validated request into a stored order plus its OrderAccepted event."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from decimal import Decimal

from synchub_core.envelope import new_event, now_iso

from . import repository
from .models import (
    ORDER_ACCEPTED,
    ORDER_SOURCE,
    ChannelMismatch,
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


ORDER_ID = re.compile(r"ord_[0-9a-f]{32}")


def new_order_id() -> str:
    return "ord_" + uuid.uuid4().hex


def is_order_id(value: str) -> bool:
    """Whether ``value`` could be an order id at all (anything else is not found without a read)."""
    return ORDER_ID.fullmatch(value) is not None


CAUSATION_ID_MAX = 128  # the envelope's limit


def causation_id(idempotency_key: str) -> str:
    """What caused an OrderAccepted: ``idempotency-key:<key>``; a key too long to fit the envelope's
    128 characters (keys may have 128 themselves) is named by its SHA-256 instead."""
    named = f"idempotency-key:{idempotency_key}"
    if len(named) <= CAUSATION_ID_MAX:
        return named
    return "idempotency-key-sha256:" + hashlib.sha256(idempotency_key.encode()).hexdigest()


def accept(order_in: OrderIn, idempotency_key: str, correlation_id: str, *, channel: str | None = None) -> CreateResult:
    """Accept an order for ``channel``, the channel the request is authenticated as.

    The order, its idempotency key and its channel order reference belong to that channel: two
    channels may use the same key and the same reference. A body that names another channel is
    refused (:class:`ChannelMismatch`); one that names none gets the authenticated channel.
    ``channel=None`` is for trusted in-process callers (tests, benchmarks) whose body names it.
    """
    if channel is None:
        if order_in.channel is None:
            raise ValueError("an order needs a channel: the authenticated one, or one named in the body")
        channel = order_in.channel
    elif order_in.channel is not None and order_in.channel != channel:
        raise ChannelMismatch(order_in.channel, channel)
    order_in = order_in.model_copy(update={"channel": channel})
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
        causation_id=causation_id(idempotency_key),
        source_system=ORDER_SOURCE,
    )
    return repository.create(stored, idempotency_key, request_hash(order_in), event)


def get(order_id: str, channel: str) -> Order | None:
    """The order with its history, as ``GET /orders/{id}`` shows it to ``channel``: another
    channel's order is not found, exactly like an order that does not exist."""
    if not is_order_id(order_id):
        return None
    order = repository.read(order_id)
    if order is None or order.channel != channel:
        return None
    return order
