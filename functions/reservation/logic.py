"""OrderAccepted -> reserve every line (RESERVED) or none (BACKORDERED); backorders are tried
again on a schedule until stock allows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from inventory import repository as inventory
from orders import repository as orders
from orders.models import OrderState
from synchub_core import ddb
from synchub_core.aws import client
from synchub_core.config import settings
from synchub_core.envelope import EventEnvelope, deterministic_event_id, new_event

from .models import OrderBackorderedData, OrderReservedData

ORDER_RESERVED = "OrderReserved"
ORDER_BACKORDERED = "OrderBackordered"
MAX_LOCATIONS_PER_LINE = 2  # keeps the transaction within DynamoDB's 100 items for 40 lines
MAX_ATTEMPTS = 5


class OrderNotFound(Exception):
    pass


class ReservationContention(Exception):
    """Optimistic concurrency lost MAX_ATTEMPTS times in a row; the message is retried later."""


@dataclass
class Outcome:
    order_id: str
    result: str  # RESERVED | BACKORDERED | STILL_BACKORDERED | IGNORED
    detail: dict[str, Any]


def plan(lines: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Allocate each line from the positions with most available stock first.

    Returns ``(allocations, shortages)``; any shortage means the order is backordered whole.
    """
    allocations: list[dict[str, Any]] = []
    shortages: list[dict[str, Any]] = []
    for line in lines:
        need = int(line["quantity"])
        positions = sorted(inventory.positions_for(line["sku"]), key=lambda p: (-p.available, p.location_id))
        usable = [p for p in positions if p.available > 0][:MAX_LOCATIONS_PER_LINE]
        total = sum(p.available for p in usable)
        if total < need:
            # what this line could get under the allocation rule (most-available locations first)
            shortages.append({"sku": line["sku"], "requested": need, "available": total})
            continue
        for p in usable:
            take = min(need, p.available)
            if take:
                allocations.append({"sku": line["sku"], "location_id": p.location_id, "quantity": take})
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
    return _attempt(order_id, OrderState.BACKORDERED, f"backorder:{order_id}", causation_id)


def _attempt(order_id: str, from_state: OrderState, correlation_id: str, causation_id: str) -> Outcome:
    for _ in range(MAX_ATTEMPTS):
        order = orders.load(order_id)
        if order is None:
            raise OrderNotFound(order_id)
        if order.state is not from_state:
            return Outcome(order_id, "IGNORED", {"state": order.state.value})
        allocations, shortages = plan(order.doc["lines"])
        if shortages and from_state is OrderState.BACKORDERED:
            return Outcome(order_id, "STILL_BACKORDERED", {"shortages": shortages})
        expected = order.version
        order.version += 1
        order.updated_at = orders.now_iso()
        common = {
            "entity_id": order_id,
            "sequence": order.version,
            "correlation_id": correlation_id,
            "causation_id": causation_id,
            "source_system": "synchub.reservation",
            "event_id": deterministic_event_id("reservation", order_id, str(expected)),
        }
        if shortages:
            order.state = OrderState.BACKORDERED
            data = OrderBackorderedData(order_id=order_id, shortages=shortages).model_dump(mode="json")
            event = new_event(ORDER_BACKORDERED, data=data, **common)
            ops = orders.transition_ops(
                order,
                expected,
                [
                    (
                        OrderState.BACKORDERED,
                        "insufficient available stock for " + ", ".join(s["sku"] for s in shortages),
                    )
                ],
                event,
            )
        else:
            order.state = OrderState.RESERVED
            order.allocations = allocations
            data = OrderReservedData(order_id=order_id, allocations=allocations).model_dump(mode="json")
            event = new_event(ORDER_RESERVED, data=data, **common)
            ops = [inventory.reserve_op(a["sku"], a["location_id"], a["quantity"]) for a in allocations]
            reason = f"reserved {len(allocations)} allocation(s)"
            if from_state is OrderState.BACKORDERED:
                reason += " after stock arrived"
            ops += orders.transition_ops(order, expected, [(OrderState.RESERVED, reason)], event)
        try:
            ddb.transact(ops)
        except ddb.TransactionCancelled:
            continue  # the order moved on (the re-read decides) or stock moved under us (re-plan)
        return Outcome(
            order_id, order.state.value, {"allocations": allocations} if not shortages else {"shortages": shortages}
        )
    raise ReservationContention(order_id)


def open_backorders(limit: int) -> list[str]:
    """Order ids of BACKORDERED orders, oldest backorder first (sparse ``backorders`` index)."""
    resp = client("dynamodb").query(
        TableName=settings().orders_table,
        IndexName=orders.BACKORDER_INDEX,
        KeyConditionExpression="backorder_status = :open",
        ExpressionAttributeValues=ddb.values(open=orders.BACKORDER_OPEN),
        Limit=limit,
    )
    return [ddb.from_ddb(i)["pk"].removeprefix("ORDER#") for i in resp.get("Items", [])]


def sweep_backorders(causation_id: str, limit: int = 100) -> dict[str, int]:
    """Try every open backorder once, oldest first. An older order that still cannot be served
    does not block a younger, smaller one (no head-of-line blocking)."""
    counts = {"tried": 0, "reserved": 0, "still_backordered": 0}
    for order_id in open_backorders(limit):
        outcome = retry_backorder(order_id, causation_id)
        counts["tried"] += 1
        if outcome.result == OrderState.RESERVED.value:
            counts["reserved"] += 1
        elif outcome.result == "STILL_BACKORDERED":
            counts["still_backordered"] += 1
    return counts
