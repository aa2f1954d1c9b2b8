"""OrderAccepted -> reserve every line (RESERVED) or none (BACKORDERED); backorders are tried
again on a schedule until stock allows."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from synchub_core.envelope import EventEnvelope, deterministic_event_id, new_event, now_iso
from synchub_core.vocabulary import OrderState

from . import repository
from .models import (
    MAX_ATTEMPTS,
    MAX_LOCATIONS_PER_LINE,
    ORDER_BACKORDERED,
    ORDER_RESERVED,
    RESERVATION_SOURCE,
    OrderBackorderedData,
    OrderNotFound,
    OrderReservedData,
    Outcome,
    ReservationContention,
)

__all__ = ["ORDER_BACKORDERED", "ORDER_RESERVED", "Outcome", "plan", "reserve", "retry_backorder", "sweep_backorders"]


def plan(
    lines: list[dict[str, Any]], available: Mapping[str, Mapping[str, int]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Allocate each line from the locations with most available stock first (at most
    ``MAX_LOCATIONS_PER_LINE`` per line; ties by location id).

    ``available`` is ``{sku: {location_id: available units}}``. Returns ``(allocations,
    shortages)``; any shortage means the order is backordered whole.
    """
    allocations: list[dict[str, Any]] = []
    shortages: list[dict[str, Any]] = []
    for line in lines:
        need = int(line["quantity"])
        stock = sorted(available.get(line["sku"], {}).items(), key=lambda loc: (-loc[1], loc[0]))
        usable = [(loc, free) for loc, free in stock if free > 0][:MAX_LOCATIONS_PER_LINE]
        total = sum(free for _, free in usable)
        if total < need:
            # what this line could get under the allocation rule (most-available locations first)
            shortages.append({"sku": line["sku"], "requested": need, "available": total})
            continue
        for location_id, free in usable:
            take = min(need, free)
            if take:
                allocations.append({"sku": line["sku"], "location_id": location_id, "quantity": take})
            need -= take
            if need == 0:
                break
    return allocations, shortages


def reserve(envelope: EventEnvelope) -> Outcome:
    """OrderAccepted: reserve everything, or backorder the order."""
    order_id = envelope.data.get("order_id") or envelope.entity_id
    return _attempt(order_id, OrderState.ACCEPTED, envelope.correlation_id, envelope.event_id)


def retry_backorder(order_id: str, causation_id: str) -> Outcome:
    """A BACKORDERED order tried again: reserved if stock now suffices, else left as it is
    (no write, no event)."""
    return _attempt(order_id, OrderState.BACKORDERED, None, causation_id)


def _attempt(order_id: str, from_state: OrderState, correlation_id: str | None, causation_id: str) -> Outcome:
    for _ in range(MAX_ATTEMPTS):
        order = repository.load_order(order_id)
        if order is None:
            raise OrderNotFound(order_id)
        # a backorder retried by the schedule carries on the correlation id of the order's intake
        correlation_id = correlation_id or order.correlation_id or f"backorder:{order_id}"
        if order.state is not from_state:
            return Outcome(order_id, "IGNORED", {"state": order.state.value}, correlation_id)
        lines = order.doc["lines"]
        allocations, shortages = plan(lines, repository.available_stock(line["sku"] for line in lines))
        if shortages and from_state is OrderState.BACKORDERED:
            return Outcome(order_id, "STILL_BACKORDERED", {"shortages": shortages}, correlation_id)
        expected = order.version
        order.version += 1
        order.updated_at = now_iso()
        common: dict[str, Any] = {
            "entity_id": order_id,
            "sequence": order.version,
            "correlation_id": correlation_id,
            "causation_id": causation_id,
            "source_system": RESERVATION_SOURCE,
            "event_id": deterministic_event_id("reservation", order_id, str(expected)),
        }
        if shortages:
            order.state = OrderState.BACKORDERED
            data = OrderBackorderedData.model_validate({"order_id": order_id, "shortages": shortages})
            event = new_event(ORDER_BACKORDERED, data=data.model_dump(mode="json"), **common)
            reason = "insufficient available stock for " + ", ".join(s["sku"] for s in shortages)
            saved = repository.save(order, expected, [(OrderState.BACKORDERED, reason)], event, reserve=[])
        else:
            order.state = OrderState.RESERVED
            order.allocations = allocations
            reserved = OrderReservedData.model_validate({"order_id": order_id, "allocations": allocations})
            event = new_event(ORDER_RESERVED, data=reserved.model_dump(mode="json"), **common)
            reason = f"reserved {len(allocations)} allocation(s)"
            if from_state is OrderState.BACKORDERED:
                reason += " after stock arrived"
            saved = repository.save(order, expected, [(OrderState.RESERVED, reason)], event, reserve=allocations)
        if not saved:
            continue  # the order moved on (the re-read decides) or stock moved under us (re-plan)
        detail = {"allocations": allocations} if not shortages else {"shortages": shortages}
        return Outcome(order_id, order.state.value, detail, correlation_id)
    raise ReservationContention(order_id)


def sweep_backorders(
    causation_id: str, limit: int = 100, observe: Callable[[Outcome], None] | None = None
) -> dict[str, int]:
    """Try every open backorder once, oldest first. An older order that still cannot be served
    does not block a younger, smaller one (no head-of-line blocking). ``observe`` sees each outcome."""
    counts = {"tried": 0, "reserved": 0, "still_backordered": 0}
    for order_id in repository.open_backorders(limit):
        outcome = retry_backorder(order_id, causation_id)
        if observe is not None:
            observe(outcome)
        counts["tried"] += 1
        if outcome.result == OrderState.RESERVED.value:
            counts["reserved"] += 1
        elif outcome.result == "STILL_BACKORDERED":
            counts["still_backordered"] += 1
    return counts
