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

from masterdata import api as masterdata
from synchub_core.envelope import iso, new_event, utcnow

from . import repository
from .models import (
    ORDER_ACCEPTED,
    ORDER_SOURCE,
    AcceptedLine,
    ChannelMismatch,
    CreateResult,
    Order,
    OrderAcceptedData,
    OrderIn,
    OrderLine,
    OrderRejected,
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
