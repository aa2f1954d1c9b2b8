"""OrderAccepted -> reserve every line (RESERVED) or none (BACKORDERED)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from inventory import repository as inventory
from orders import repository as orders
from orders.models import OrderState
from synchub_core import ddb
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
    result: str  # RESERVED | BACKORDERED | IGNORED
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
    order_id = envelope.data.get("order_id") or envelope.entity_id
    for _ in range(MAX_ATTEMPTS):
        order = orders.load(order_id)
        if order is None:
            raise OrderNotFound(order_id)
        if order.state is not OrderState.ACCEPTED:
            return Outcome(order_id, "IGNORED", {"state": order.state.value})
        allocations, shortages = plan(order.doc["lines"])
        expected = order.version
        order.version += 1
        order.updated_at = orders.now_iso()
        common = dict(entity_id=order_id, sequence=order.version, correlation_id=envelope.correlation_id,
                      causation_id=envelope.event_id, source_system="synchub.reservation",
                      event_id=deterministic_event_id("reservation", order_id, str(expected)))
        if shortages:
            order.state = OrderState.BACKORDERED
            data = OrderBackorderedData(order_id=order_id, shortages=shortages).model_dump(mode="json")
            event = new_event(ORDER_BACKORDERED, data=data, **common)
            ops = orders.transition_ops(order, expected, [(OrderState.BACKORDERED,
                                        "insufficient available stock for " +
                                        ", ".join(s["sku"] for s in shortages))], event)
        else:
            order.state = OrderState.RESERVED
            order.allocations = allocations
            data = OrderReservedData(order_id=order_id, allocations=allocations).model_dump(mode="json")
            event = new_event(ORDER_RESERVED, data=data, **common)
            ops = [inventory.reserve_op(a["sku"], a["location_id"], a["quantity"]) for a in allocations]
            ops += orders.transition_ops(order, expected, [(OrderState.RESERVED,
                                         f"reserved {len(allocations)} allocation(s)")], event)
        try:
            ddb.transact(ops)
        except ddb.TransactionCancelled:
            continue  # the order moved on (the re-read decides) or stock moved under us (re-plan)
        return Outcome(order_id, order.state.value,
                       {"allocations": allocations} if not shortages else {"shortages": shortages})
    raise ReservationContention(order_id)
