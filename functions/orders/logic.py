"""Order intake: turn a validated request into a stored order plus its OrderAccepted event.

In order: the channel (the authenticated one), the idempotency key (a retry is answered with the
order accepted before, whatever changed since), the ERP's master data (``masterdata.api``: known
active SKUs, a known customer that is not blocked, a price for every line sent without one), then
the order is written with its lines priced: a line keeps the channel's ``unit_price``; a line sent
without one gets the ERP price list's price valid on the day of acceptance, fixed on the line
(``price_source: erp``), so the invoice later carries that price whatever the price list says then.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from masterdata import api as masterdata
from synchub_core.envelope import deterministic_event_id, iso, new_event, now_iso, utcnow

from . import repository
from .models import (
    CANCELLABLE_NOW,
    MAX_RETURN_CREDIT_LINES,
    MAX_RETURNS,
    ORDER_ACCEPTED,
    ORDER_CANCELLATION_REQUESTED,
    ORDER_SOURCE,
    RETURN_AUTHORIZED,
    RETURNABLE,
    AcceptedLine,
    CancelIn,
    ChannelMismatch,
    ConcurrentChange,
    CreateResult,
    NotCancellable,
    NotReturnable,
    Order,
    OrderAcceptedData,
    OrderCancellationRequestedData,
    OrderIn,
    OrderLine,
    OrderRejected,
    OrderState,
    OrderTooLarge,
    ReturnAuthorization,
    ReturnAuthorizedData,
    ReturnConflict,
    ReturnExceedsShipped,
    ReturnIn,
    StoredOrder,
    UnknownOrderLine,
)
from .transitions import cancelled, cancelled_event

MAX_ATTEMPTS = 5


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


# which problem names a refused order when it has several: the customer first (nothing of the order
# can be sold to a blocked or unknown customer: the ERP's customer master is to be fixed), then the
# SKUs (a line with an unknown SKU has no price to look for either), then the missing prices (the
# channel can send them)
PROBLEM_PRECEDENCE = (
    masterdata.CUSTOMER_BLOCKED,
    masterdata.UNKNOWN_CUSTOMER,
    masterdata.UNKNOWN_SKU,
    masterdata.NO_PRICE,
)


def ranked(problems: list[tuple[str, str | None, str]]) -> list[tuple[str, str | None, str]]:
    """``problems`` by :data:`PROBLEM_PRECEDENCE`, in line order within a code; the first names the answer."""
    order = {code: n for n, code in enumerate(PROBLEM_PRECEDENCE)}
    return sorted(problems, key=lambda p: order.get(p[0], len(order)))


def priced(lines: list[OrderLine], erp_prices: Mapping[str, Decimal]) -> list[AcceptedLine]:
    """The order's lines as accepted: the channel's price where it sent one, else the ERP price
    (``erp_prices`` by line_id) fixed on the line. Every line has a unit_price afterwards."""
    accepted = []
    for line in lines:
        fields = line.model_dump()
        if line.unit_price is not None:
            accepted.append(AcceptedLine(**fields, price_source="channel"))
            continue
        price = erp_prices.get(line.line_id)
        if price is None:  # the master data check refuses such an order; never store a line without a price
            raise ValueError(f"line {line.line_id} has no unit_price and no ERP price")
        accepted.append(AcceptedLine(**{**fields, "unit_price": price}, price_source="erp"))
    return accepted


def accept(
    order_in: OrderIn,
    idempotency_key: str,
    correlation_id: str,
    *,
    channel: str | None = None,
    min_shelf_life_days: int = 0,
) -> CreateResult:
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
    digest = request_hash(order_in)
    previous = repository.answered(channel, idempotency_key, digest)
    if previous is not None:
        return previous
    accepted_at = utcnow()
    check = masterdata.check_order(
        order_in.customer.customer_id,
        order_in.currency,
        [{"line_id": line.line_id, "sku": line.sku, "unit_price": line.unit_price} for line in order_in.lines],
        accepted_at.date(),
    )
    if check.problems:
        raise OrderRejected(ranked(check.problems))
    now = iso(accepted_at)
    doc = order_in.model_dump(mode="json")
    doc["lines"] = [line.model_dump(mode="json") for line in priced(order_in.lines, check.prices)]
    stored = StoredOrder(
        order_id=new_order_id(),
        state=OrderState.ACCEPTED,
        version=1,
        doc=doc,
        created_at=now,
        updated_at=now,
        correlation_id=correlation_id,
        min_shelf_life_days=min_shelf_life_days,
    )
    accepted = OrderAcceptedData(order_id=stored.order_id, min_shelf_life_days=min_shelf_life_days, **doc)
    event = new_event(
        ORDER_ACCEPTED,
        entity_id=stored.order_id,
        sequence=stored.version,
        data=accepted.model_dump(mode="json"),
        correlation_id=correlation_id,
        causation_id=causation_id(idempotency_key),
        source_system=ORDER_SOURCE,
    )
    return repository.create(stored, idempotency_key, digest, event)


def get(order_id: str, channel: str) -> Order | None:
    """The order with its history, as ``GET /orders/{id}`` shows it to ``channel``: another
    channel's order is not found, exactly like an order that does not exist."""
    if not is_order_id(order_id):
        return None
    order = repository.read(order_id)
    if order is None or order.channel != channel:
        return None
    return order


def _owned(order_id: str, channel: str) -> StoredOrder | None:
    """The stored order if ``channel`` owns it; another channel's order is not found."""
    if not is_order_id(order_id):
        return None
    order = repository.load(order_id)
    return order if order is not None and order.channel == channel else None


def _bump(order: StoredOrder) -> int:
    """Move ``order`` to its next version (returns the version it was read at)."""
    expected = order.version
    order.version += 1
    order.updated_at = now_iso()
    return expected


def cancel(order_id: str, channel: str, request: CancelIn, correlation_id: str, causation: str) -> StoredOrder | None:
    """Cancel ``channel``'s order; None if it has no such order.

    * ACCEPTED, BACKORDERED, RESERVED: CANCELLED now, its reservations released in the same
      transaction (OrderCancelled, and StockAvailable for what went back to stock);
    * RELEASED: the cancellation is REQUESTED of every warehouse it was released to
      (OrderCancellationRequested); each confirms or refuses (fulfilment);
    * CANCELLED, or a cancellation already requested: nothing happens (cancelling twice is a no-op);
    * anything else, or a cancellation the warehouse refused: :class:`NotCancellable` with the reason.
    """
    for _ in range(MAX_ATTEMPTS):
        order = _owned(order_id, channel)
        if order is None:
            return None
        cancellation = order.cancellation or {}
        if order.state is OrderState.CANCELLED or cancellation.get("status") == "REQUESTED":
            return order
        if cancellation.get("status") == "REFUSED":
            raise NotCancellable(order_id, order.state.value, cancellation.get("refusal") or "the warehouse refused")
        if order.state in CANCELLABLE_NOW:
            saved = _cancel_now(order, request.reason, correlation_id, causation)
        elif order.state is OrderState.RELEASED:
            saved = _request_cancellation(order, request.reason, correlation_id, causation)
        else:
            raise NotCancellable(order_id, order.state.value, _why_not_cancellable(order))
        if saved is not None:
            return saved
    raise ConcurrentChange(order_id)


def _why_not_cancellable(order: StoredOrder) -> str:
    if order.state in (OrderState.SHIPPED, OrderState.INVOICED):
        return (
            f"order {order.order_id} is {order.state.value}: it has left the warehouse and cannot be cancelled; "
            "authorize a return (POST /orders/{order_id}/returns) instead"
        )
    return f"order {order.order_id} is {order.state.value} and cannot be cancelled"


def _cancel_now(order: StoredOrder, reason: str, correlation_id: str, causation: str) -> StoredOrder | None:
    was_backordered = order.state is OrderState.BACKORDERED
    backordered_at = order.updated_at
    expected = _bump(order)
    data = cancelled(order, reason, order.updated_at)
    event = cancelled_event(order, data, correlation_id, causation)
    if not repository.save_cancellation(order, expected, [(OrderState.CANCELLED, reason)], event, data["released"]):
        return None
    if was_backordered:
        repository.drop_order_hints(order, backordered_at)
    return order


def _request_cancellation(order: StoredOrder, reason: str, correlation_id: str, causation: str) -> StoredOrder | None:
    warehouses = sorted(order.releases)
    expected = _bump(order)
    order.cancellation = {"status": "REQUESTED", "reason": reason, "requested_at": order.updated_at, "answers": {}}
    data = OrderCancellationRequestedData(
        order_id=order.order_id, warehouse_ids=warehouses, reason=reason, requested_at=order.updated_at
    )
    event = new_event(
        ORDER_CANCELLATION_REQUESTED,
        entity_id=order.order_id,
        sequence=order.version,
        data=data.model_dump(mode="json"),
        correlation_id=correlation_id,
        causation_id=causation,
        source_system=ORDER_SOURCE,
        event_id=deterministic_event_id("order-cancellation-requested", order.order_id),
    )
    note = f"cancellation requested of warehouse(s) {', '.join(warehouses)}: {reason}"
    if not repository.save_cancellation(order, expected, [(order.state, note)], event, []):
        return None
    return order


def return_hash(request: ReturnIn) -> str:
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def authorize_return(
    order_id: str, channel: str, request: ReturnIn, correlation_id: str, causation: str
) -> tuple[ReturnAuthorization, bool] | None:
    """Authorize the return ``request.rma_id`` of ``channel``'s order: ``(return, created)``, or None
    if it has no such order. The same RMA with the same body answers the return authorized before
    (``created`` False); with another body :class:`ReturnConflict`. A line may return at most what
    shipped less what earlier returns authorized (:class:`ReturnExceedsShipped`)."""
    digest = return_hash(request)
    for _ in range(MAX_ATTEMPTS):
        order = _owned(order_id, channel)
        if order is None:
            return None
        previous = next((r for r in order.returns if r["rma_id"] == request.rma_id), None)
        if previous is not None:
            if previous.get("request_hash") != digest:
                raise ReturnConflict(request.rma_id)
            return ReturnAuthorization.model_validate(previous), False
        if order.state not in RETURNABLE or not any(order.shipped.values()):
            raise NotReturnable(order_id, order.state.value)
        if len(order.returns) >= MAX_RETURNS:
            raise NotReturnable(
                order_id, order.state.value, f"it has {MAX_RETURNS} returns already, the most one order takes."
            )
        lines = _return_lines(order, request)
        credit_lines = order.credit_lines_bound(lines)
        if credit_lines > MAX_RETURN_CREDIT_LINES:
            # its credit memo would be too large for one item and one event: several returns instead
            raise NotReturnable(
                order_id,
                order.state.value,
                f"this return could credit {credit_lines} invoice lines (its units over the order's shipments), "
                f"more than the {MAX_RETURN_CREDIT_LINES} one return may: split it into several returns.",
            )
        expected = _bump(order)
        authorization = ReturnAuthorization(
            rma_id=request.rma_id,
            reason=request.reason,
            lines=lines,  # type: ignore[arg-type]
            authorized_at=order.updated_at,
            request_hash=digest,
        )
        order.returns = [*order.returns, {**authorization.model_dump(mode="json"), "request_hash": digest}]
        returned = {line["sku"] for line in lines}
        data = ReturnAuthorizedData(
            order_id=order_id,
            rma_id=request.rma_id,
            channel=channel,
            reason=request.reason,
            warehouse_ids=sorted(
                {s["warehouse_id"] for s in order.shipments if any(ln["sku"] in returned for ln in s["lines"])}
            ),
            lines=lines,  # type: ignore[arg-type]
            authorized_at=order.updated_at,
        )
        event = new_event(
            RETURN_AUTHORIZED,
            entity_id=order_id,
            sequence=order.version,
            data=data.model_dump(mode="json"),
            correlation_id=correlation_id,
            causation_id=causation,
            source_system=ORDER_SOURCE,
            event_id=deterministic_event_id("return-authorized", order_id, request.rma_id),
        )
        note = f"return {request.rma_id} authorized: {request.reason}"
        try:
            saved = repository.save_transition(order, expected, [(order.state, note)], event)
        except OrderTooLarge as full:  # its record has no room left for this return and its receipt
            raise NotReturnable(
                order_id, order.state.value, f"its record has no room left for this return: {full.measure}."
            ) from full
        if saved:
            return authorization, True
    raise ConcurrentChange(order_id)


def _return_lines(order: StoredOrder, request: ReturnIn) -> list[dict[str, Any]]:
    by_line = {line["line_id"]: line for line in order.doc["lines"]}
    authorized: dict[str, int] = {}
    for earlier in order.returns:
        for line in earlier["lines"]:
            authorized[line["sku"]] = authorized.get(line["sku"], 0) + int(line["quantity"])
    lines = []
    for line in request.lines:
        ordered = by_line.get(line.line_id)
        if ordered is None:
            raise UnknownOrderLine(line.line_id)
        sku = ordered["sku"]
        returnable = order.shipped.get(sku, 0) - authorized.get(sku, 0)
        if line.quantity > returnable:
            raise ReturnExceedsShipped(line.line_id, line.quantity, max(returnable, 0))
        lines.append({"line_id": line.line_id, "sku": sku, "quantity": line.quantity})
    return lines
