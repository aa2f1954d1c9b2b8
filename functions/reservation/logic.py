"""OrderAccepted -> reserve every line (RESERVED) or none (BACKORDERED); backorders are tried
again on a schedule until stock allows."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, timedelta
from typing import Any

from orders import api as orders_api
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

__all__ = [
    "ORDER_BACKORDERED",
    "ORDER_RESERVED",
    "Outcome",
    "not_before",
    "plan",
    "reserve",
    "retry_backorder",
    "serve_waiting",
    "sweep_backorders",
]


StockKey = tuple[str, str | None, date | None]  # (location_id, lot, best_before)


def _stock_key(key: str | StockKey) -> StockKey:
    return (key, None, None) if isinstance(key, str) else key


def plan(
    lines: list[dict[str, Any]],
    available: Mapping[str, Mapping[str | StockKey, int]],
    *,
    not_before: date | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Allocate each line, at most ``MAX_LOCATIONS_PER_LINE`` positions per line:

    * first-expiring-first-out: lots with a best-before date first, earliest first; positions
      without a lot after them;
    * never a lot whose best-before date is before ``not_before`` (the order's date plus its
      channel's minimum remaining shelf life);
    * among equals, the position with most available stock first (fewer splits), ties by location
      id and lot.

    ``available`` is ``{sku: {position: available units}}``, a position being a location id (no lot)
    or ``(location_id, lot, best_before)``. Returns ``(allocations, shortages)``; any shortage means
    the order is backordered whole.
    """
    allocations: list[dict[str, Any]] = []
    shortages: list[dict[str, Any]] = []
    for line in lines:
        need = int(line["quantity"])
        stock = [(_stock_key(key), free) for key, free in available.get(line["sku"], {}).items()]
        usable = sorted(
            (
                (key, free)
                for key, free in stock
                if free > 0 and not (not_before is not None and key[2] is not None and key[2] < not_before)
            ),
            key=lambda s: (s[0][2] is None, s[0][2] or date.max, -s[1], s[0][0], s[0][1] or ""),
        )[:MAX_LOCATIONS_PER_LINE]
        total = sum(free for _, free in usable)
        if total < need:
            # what this line could get under the allocation rule
            shortages.append({"sku": line["sku"], "requested": need, "available": total})
            continue
        for (location_id, lot, best_before), free in usable:
            take = min(need, free)
            if take:
                allocation: dict[str, Any] = {"sku": line["sku"], "location_id": location_id, "quantity": take}
                if lot is not None:
                    allocation["lot"] = lot
                    allocation["best_before"] = best_before.isoformat() if best_before else None
                allocations.append(allocation)
            need -= take
            if need == 0:
                break
    return allocations, shortages


def not_before(order: orders_api.StoredOrder) -> date | None:
    """The earliest best-before date a lot may have for ``order``: the day it was accepted plus its
    channel's minimum remaining shelf life (None: any lot)."""
    if not order.min_shelf_life_days:
        return None
    accepted = date.fromisoformat(order.created_at[:10]) if order.created_at else date.today()
    return accepted + timedelta(days=order.min_shelf_life_days)


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
        stock = repository.available_stock(line["sku"] for line in lines)
        allocations, shortages = plan(lines, stock, not_before=not_before(order))
        if shortages and from_state is OrderState.BACKORDERED:
            # wait for what is short now (it may differ from what was short when it was backordered)
            repository.put_hints(order_id, order.updated_at, [s["sku"] for s in shortages])
            return Outcome(order_id, "STILL_BACKORDERED", {"shortages": shortages}, correlation_id)
        expected = order.version
        order_updated_before = order.updated_at  # a backorder's: when it was backordered (its hints' key)
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
            if saved:  # after the commit: a hint without its backorder would only cost a read
                repository.put_hints(order_id, order.updated_at, [s["sku"] for s in shortages])
        else:
            order.state = OrderState.RESERVED
            order.allocations = allocations
            reserved = OrderReservedData.model_validate({"order_id": order_id, "allocations": allocations})
            event = new_event(ORDER_RESERVED, data=reserved.model_dump(mode="json"), **common)
            reason = f"reserved {len(allocations)} allocation(s)"
            if from_state is OrderState.BACKORDERED:
                reason += " after stock arrived"
            backordered_at = order_updated_before
            saved = repository.save(order, expected, [(OrderState.RESERVED, reason)], event, reserve=allocations)
            if saved and from_state is OrderState.BACKORDERED:
                repository.drop_hints(order, backordered_at)
        if not saved:
            continue  # the order moved on (the re-read decides) or stock moved under us (re-plan)
        detail = {"allocations": allocations} if not shortages else {"shortages": shortages}
        return Outcome(order_id, order.state.value, detail, correlation_id)
    raise ReservationContention(order_id)


def sweep_backorders(
    causation_id: str, limit: int | None = None, observe: Callable[[Outcome], None] | None = None
) -> dict[str, int]:
    """The safety net: try every open backorder once, oldest first, paging through the whole backlog
    (``limit``: at most that many). An older order that still cannot be served does not block a
    younger one (skip-ahead). ``observe`` sees each outcome."""
    counts = {"tried": 0, "reserved": 0, "still_backordered": 0}
    for order_id in repository.all_open_backorders():
        if limit is not None and counts["tried"] >= limit:
            break
        _count(counts, retry_backorder(order_id, causation_id), observe)
    return counts


def _count(counts: dict[str, int], outcome: Outcome, observe: Callable[[Outcome], None] | None) -> None:
    if observe is not None:
        observe(outcome)
    counts["tried"] += 1
    if outcome.result == OrderState.RESERVED.value:
        counts["reserved"] += 1
    elif outcome.result == "STILL_BACKORDERED":
        counts["still_backordered"] += 1


def serve_waiting(
    skus: list[str], causation_id: str, observe: Callable[[Outcome], None] | None = None
) -> dict[str, int]:
    """Stock of ``skus`` became available: retry the backorders waiting for each, oldest first
    (oldest first with skip-ahead: an order that still cannot be served stays waiting and the next
    one is tried). For a SKU, the walk stops once none of it is available any more. Hints of orders
    no longer backordered are deleted on the way. The SKU's stock is read again only after a
    reservation took some of it (an order skipped or a stale hint leaves it as it was)."""
    counts = {"tried": 0, "reserved": 0, "still_backordered": 0, "stale_hints": 0}
    tried: set[str] = set()
    for sku in skus:
        stale: list[tuple[str, str]] = []
        available: int | None = None
        for sort_key, order_id in repository.waiting_for(sku):
            if order_id in tried:
                continue
            if available is None:
                available = repository.available_units(sku)
            if available <= 0:
                break
            tried.add(order_id)
            outcome = retry_backorder(order_id, causation_id)
            _count(counts, outcome, observe)
            if outcome.result == OrderState.RESERVED.value:
                available = None  # it took stock: read what is left before the next order
            elif outcome.result == "IGNORED":  # no longer backordered: the hint is stale
                stale.append((sku, sort_key))
        if stale:
            counts["stale_hints"] += len(stale)
            repository.drop_stale_hints(stale)
    return counts
