"""What an order's cancellation does to it, apart from intake: :mod:`orders.logic` (the channel's
cancel) and the fulfilment worker (a warehouse's confirmation) both use it, and the worker must
not import what intake needs (master data, pricing) on its cold start (benchmarks/coldstart.py)."""

from __future__ import annotations

from typing import Any

from synchub_core.envelope import EventEnvelope, deterministic_event_id, new_event

from .models import ORDER_CANCELLED, ORDER_SOURCE, OrderCancelledData, OrderState, StoredOrder


def cancelled(order: StoredOrder, reason: str, at: str) -> dict[str, Any]:
    """``order`` CANCELLED (the caller bumps the version): every open unit closed, no allocation left.
    Returns the OrderCancelled data with what it released (the allocations it had)."""
    released = order.allocations
    for line in order.doc["lines"]:
        open_units = order.open_units(line["sku"])
        if open_units > 0:
            order.closed[line["sku"]] = order.closed.get(line["sku"], 0) + open_units
    order.allocations = []
    order.state = OrderState.CANCELLED
    order.cancellation = {
        **(order.cancellation or {"requested_at": at, "answers": {}}),
        "status": "CANCELLED",
        "reason": (order.cancellation or {}).get("reason", reason),
    }
    return OrderCancelledData(
        order_id=order.order_id,
        channel=order.channel,
        channel_order_ref=order.doc["channel_order_ref"],
        reason=order.cancellation["reason"],
        cancelled_at=at,
        released=released,  # type: ignore[arg-type]
    ).model_dump(mode="json")


def cancelled_event(order: StoredOrder, data: dict[str, Any], correlation_id: str, causation: str) -> EventEnvelope:
    return new_event(
        ORDER_CANCELLED,
        entity_id=order.order_id,
        sequence=order.version,
        data=data,
        correlation_id=correlation_id,
        causation_id=causation,
        source_system=ORDER_SOURCE,
        event_id=deterministic_event_id("order-cancelled", order.order_id),
    )


__all__ = ["cancelled", "cancelled_event"]
