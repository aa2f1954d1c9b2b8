"""Release to the warehouse, and the warehouse's answers.

* ``OrderReserved`` -> the order is RELEASED to the warehouse(s) holding its reservations, with
  pick lines per location (OrderReleased); a duplicate or late delivery changes nothing.
* ``ReleaseAcknowledged`` -> the release is ACKNOWLEDGED on the order (with the warehouse's ref).
* ``OrderCancellationAnswered`` -> for a cancellation REQUESTED of a RELEASED order: CONFIRMED by a
  warehouse gives back that warehouse's reservations and closes those units; once every warehouse
  confirmed, the order is CANCELLED (OrderCancelled). REFUSED (e.g. already picked) makes the
  cancellation REFUSED with the warehouse's reason: the order ships as released.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from synchub_core.config import WarehouseSite
from synchub_core.envelope import EventEnvelope, Refused, deterministic_event_id, iso, new_event, now_iso
from synchub_core.vocabulary import OrderState

from . import repository
from .models import (
    FULFILMENT_SOURCE,
    MAX_ATTEMPTS,
    ORDER_CANCELLATION_ANSWERED,
    ORDER_RELEASED,
    FulfilmentContention,
    NoSiteForLocation,
    OrderCancellationAnsweredData,
    OrderReleasedData,
    ReleaseAcknowledgedData,
)


def site_of(location_id: str, sites: Mapping[str, WarehouseSite]) -> WarehouseSite | None:
    """The registered site whose locations start with its prefix (the longest prefix wins)."""
    matching = [s for s in sites.values() if location_id.startswith(s.location_prefix)]
    return max(matching, key=lambda s: len(s.location_prefix)) if matching else None


def pick_lists(
    order_id: str, lines: list[dict[str, Any]], allocations: list[dict[str, Any]], sites: Mapping[str, WarehouseSite]
) -> list[dict[str, Any]]:
    """The order's allocations as pick lines per warehouse (sorted by warehouse id, then line)."""
    line_of = {line["sku"]: line["line_id"] for line in lines}
    by_warehouse: dict[str, list[dict[str, Any]]] = {}
    for allocation in allocations:
        site = site_of(allocation["location_id"], sites)
        if site is None:
            raise NoSiteForLocation(
                f"order {order_id} is reserved at {allocation['location_id']}, which no registered warehouse "
                "site has: check the warehouse registry (synchub:warehouses)"
            )
        pick = {
            "line_id": line_of.get(allocation["sku"], allocation["sku"]),
            "sku": allocation["sku"],
            "location_id": allocation["location_id"],
            "quantity": int(allocation["quantity"]),
        }
        if allocation.get("lot"):
            pick["lot"] = allocation["lot"]
            pick["best_before"] = allocation.get("best_before")
        by_warehouse.setdefault(site.warehouse_id, []).append(pick)
    return [
        {"warehouse_id": wh, "pick_lines": sorted(picks, key=lambda p: (p["line_id"], p["location_id"]))}
        for wh, picks in sorted(by_warehouse.items())
    ]


def release(envelope: EventEnvelope, sites: Mapping[str, WarehouseSite]) -> str:
    """OrderReserved -> RELEASED with OrderReleased; returns what happened (RELEASED | IGNORED)."""
    order_id = str(envelope.data.get("order_id") or envelope.entity_id)
    for _ in range(MAX_ATTEMPTS):
        order = repository.load_order(order_id)
        if order is None or order.state is not OrderState.RESERVED:
            return "IGNORED"  # released already, cancelled meanwhile, or gone
        warehouses = pick_lists(order_id, order.doc["lines"], order.allocations, sites)
        expected = order.version
        order.version += 1
        order.updated_at = now_iso()
        order.state = OrderState.RELEASED
        order.releases = {
            w["warehouse_id"]: {"status": "RELEASED", "released_at": order.updated_at} for w in warehouses
        }
        data = OrderReleasedData(
            order_id=order_id,
            channel=order.doc["channel"],
            channel_order_ref=order.doc["channel_order_ref"],
            ship_to=order.doc["ship_to"],
            requested_delivery_date=order.doc.get("requested_delivery_date"),
            warehouse_ids=[w["warehouse_id"] for w in warehouses],
            warehouses=warehouses,  # type: ignore[arg-type]
        )
        event = new_event(
            ORDER_RELEASED,
            entity_id=order_id,
            sequence=order.version,
            data=data.model_dump(mode="json", exclude_none=True),
            correlation_id=envelope.correlation_id,
            causation_id=envelope.event_id,
            source_system=FULFILMENT_SOURCE,
            event_id=deterministic_event_id("order-released", order_id),
        )
        reason = "released to " + ", ".join(w["warehouse_id"] for w in warehouses)
        if repository.save(order, expected, [(OrderState.RELEASED, reason)], event, source=FULFILMENT_SOURCE):
            return "RELEASED"
    raise FulfilmentContention(order_id)


def admit(envelope: EventEnvelope, source: str | None, sites: Mapping[str, WarehouseSite]) -> None:
    """Refuse a warehouse answer that does not come from the site it names."""
    site = sites.get(source or "")
    if site is None:
        raise Refused(
            f"{envelope.event_type} {envelope.event_id} from source {source!r}: not a registered warehouse site; "
            f"registered: {', '.join(sorted(sites)) or 'none'}"
        )
    model = (
        OrderCancellationAnsweredData if envelope.event_type == ORDER_CANCELLATION_ANSWERED else ReleaseAcknowledgedData
    )
    answer = model.model_validate(envelope.data)
    if answer.warehouse_id != site.warehouse_id:
        raise Refused(
            f"{envelope.event_type} {envelope.event_id} from {site.source} names warehouse {answer.warehouse_id}, "
            f"which is not its own ({site.warehouse_id})"
        )


def answer(envelope: EventEnvelope, sites: Mapping[str, WarehouseSite]) -> str:
    """A warehouse's ReleaseAcknowledged or OrderCancellationAnswered applied to its order."""
    if envelope.event_type == ORDER_CANCELLATION_ANSWERED:
        return _cancellation_answered(envelope, OrderCancellationAnsweredData.model_validate(envelope.data), sites)
    return _acknowledged(ReleaseAcknowledgedData.model_validate(envelope.data))


def _acknowledged(ack: ReleaseAcknowledgedData) -> str:
    for _ in range(MAX_ATTEMPTS):
        order = repository.load_order(ack.order_id)
        if order is None:
            raise Refused(f"ReleaseAcknowledged for order {ack.order_id}, which the hub does not know")
        release = order.releases.get(ack.warehouse_id)
        if release is None:
            raise Refused(
                f"ReleaseAcknowledged from {ack.warehouse_id} for order {ack.order_id}, which was not released to it"
            )
        if release.get("status") == "ACKNOWLEDGED":
            return "DUPLICATE"
        expected = order.version
        order.version += 1
        order.updated_at = now_iso()
        order.releases = {
            **order.releases,
            ack.warehouse_id: {
                **release,
                "status": "ACKNOWLEDGED",
                "acknowledged_at": iso(ack.acknowledged_at),
                **({"warehouse_order_ref": ack.warehouse_order_ref} if ack.warehouse_order_ref else {}),
            },
        }
        note = f"release acknowledged by {ack.warehouse_id}" + (
            f" as {ack.warehouse_order_ref}" if ack.warehouse_order_ref else ""
        )
        if repository.save(order, expected, [(order.state, note)], None):
            return "ACKNOWLEDGED"
    raise FulfilmentContention(ack.order_id)


def _cancellation_answered(
    envelope: EventEnvelope, reply: OrderCancellationAnsweredData, sites: Mapping[str, WarehouseSite]
) -> str:
    for _ in range(MAX_ATTEMPTS):
        order = repository.load_order(reply.order_id)
        if order is None:
            raise Refused(f"OrderCancellationAnswered for order {reply.order_id}, which the hub does not know")
        cancellation = order.cancellation or {}
        answers = cancellation.get("answers", {})
        if reply.warehouse_id in answers or cancellation.get("status") != "REQUESTED":
            return "IGNORED"  # a duplicate, or the cancellation was decided already (cancelled, refused, shipped)
        if reply.warehouse_id not in order.releases:
            raise Refused(
                f"OrderCancellationAnswered from {reply.warehouse_id} for order {reply.order_id}, "
                "which was not released to it"
            )
        expected = order.version
        order.version += 1
        order.updated_at = now_iso()
        at = iso(reply.answered_at)
        recorded = {"outcome": reply.outcome, "reason": reply.reason, "answered_at": at}
        answers = {**answers, reply.warehouse_id: recorded}
        if reply.outcome == "REFUSED":
            refusal = f"{reply.warehouse_id} refused: {reply.reason or 'no reason given'}"
            order.cancellation = {**cancellation, "answers": answers, "status": "REFUSED", "refusal": refusal}
            if repository.save(order, expected, [(order.state, f"cancellation {refusal}")], None):
                return "REFUSED"
            continue
        order.cancellation = {**cancellation, "answers": answers}
        confirmed = {wh for wh, a in answers.items() if a["outcome"] == "CONFIRMED"}
        if confirmed >= set(order.releases):
            # every warehouse stopped it: cancelled, whatever is still reserved goes back
            released = order.allocations
            data = repository.cancelled(order, cancellation.get("reason", "cancelled"), order.updated_at)
            event = repository.cancelled_event(order, data, envelope.correlation_id, envelope.event_id)
            note = f"cancellation confirmed by {', '.join(sorted(confirmed))}"
            if repository.save(
                order, expected, [(OrderState.CANCELLED, note)], event, released=released, stock_cause=event
            ):
                return "CANCELLED"
            continue
        # this warehouse stopped its part: its reservations go back and those units are closed
        site = sites.get(f"wms.{reply.warehouse_id}") or next(
            (s for s in sites.values() if s.warehouse_id == reply.warehouse_id), None
        )
        prefix = site.location_prefix if site is not None else "\x00"
        released = [a for a in order.allocations if a["location_id"].startswith(prefix)]
        order.allocations = [a for a in order.allocations if not a["location_id"].startswith(prefix)]
        for a in released:
            order.closed[a["sku"]] = order.closed.get(a["sku"], 0) + int(a["quantity"])
        waiting = ", ".join(sorted(set(order.releases) - confirmed))
        note = f"cancellation confirmed by {reply.warehouse_id}; waiting for {waiting}"
        if repository.save(order, expected, [(order.state, note)], None, released=released, stock_cause=envelope):
            return "CONFIRMED"
    raise FulfilmentContention(reply.order_id)
