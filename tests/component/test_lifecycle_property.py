"""The order-to-cash lifecycle as a property, against moto: random sequences of WMS stock reports,
orders (1-3 lines over 2-3 SKUs), reservations (and backorder retries), cancellations, partial
shipments naming their locations (some closing a line short), return authorizations and receipts
(resaleable or damaged), and duplicates of any of those events, driven through the real logic
(orders.logic, reservation.logic, invoicing.logic, inventory.logic). After each sequence the books
must balance:

* every position's ``reserved`` is the sum of the open allocations of all orders at it;
* ``on_hand`` is the reported on_hand less what shipped from it since plus what came back into it;
  ``quality_hold`` is the damaged units that came back; ``available = on_hand - reserved -
  quality_hold >= 0``;
* per order and SKU, shipped + closed <= ordered (and shipped is what the warehouse shipped);
* every invoice line is credited at most its quantity and its amounts; per order the credit memos
  total at most the invoices;
* invoice and credit memo numbers are gap-free (1..n) per legal entity and year.

Each example uses its own SKUs (state is not reset between examples: the number sequences run on
across them, which the gap-free check covers as well). Reports are as of a time before every
shipment and receipt, so each shipment and return counts against the reported on_hand.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from helpers import Hub
from helpers.lifecycle import (
    CHANNEL,
    authorize,
    receive,
    return_envelope,
    shipment_envelope,
    utrecht,
)
from helpers.reservation import accept, accepted_event, position

LOCATIONS = ("UTR-A01", "UTR-A02")
DAMAGED_AT = "UTR-Q01"
AS_OF = "2026-11-23T07:45:00Z"  # before every shipment (2026-11-24) and receipt (2026-11-27)
# weighted: the steps that move an order on come up more often than the ones that start or end it
OPS = (
    "report",
    "order",
    "reserve",
    "reserve",
    "cancel",
    "ship",
    "ship",
    "authorize",
    "authorize",
    "receive",
    "receive",
)
OPS += ("duplicate", "duplicate")


@dataclass
class World:
    """What the test did, to check the hub's books against."""

    skus: list[str]
    orders: list[str] = field(default_factory=list)
    sequence: dict[tuple[str, str], int] = field(default_factory=dict)
    reported: dict[tuple[str, str], int] = field(default_factory=dict)
    shipped_from: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    returned_into: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    damaged_into: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    shipped: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    pending_returns: list[tuple[str, str]] = field(default_factory=list)  # (order_id, rma_id) authorized
    replayable: list[tuple[str, Any]] = field(default_factory=list)  # (kind, what) applied before

    def positions(self) -> set[tuple[str, str]]:
        return {*self.reported, *self.shipped_from, *self.returned_into}


def stored(order_id: str) -> Any:
    from orders.repository import load

    order = load(order_id)
    assert order is not None
    return order


def report(world: World, data: st.DataObject) -> None:
    from inventory.logic import apply_report
    from inventory.models import PositionReport

    key = (data.draw(st.sampled_from(world.skus)), data.draw(st.sampled_from(LOCATIONS)))
    current = position(*key) or {}
    pending = world.returned_into[key] - world.shipped_from[key]  # what the report is adjusted by
    floor = max(0, int(current.get("reserved", 0)) + world.damaged_into[key] - pending)
    on_hand = floor + data.draw(st.integers(0, 12), label="extra on hand")
    world.sequence[key] = world.sequence.get(key, 0) + 1
    args = (
        PositionReport(sku=key[0], location_id=key[1], on_hand=on_hand, quality_hold=0, in_transit=0, as_of=AS_OF),
        world.sequence[key],
        str(uuid.uuid4()),
    )
    assert apply_report(*args)
    world.reported[key] = on_hand
    world.replayable.append(("report", args))


def order(world: World, data: st.DataObject) -> None:
    skus = data.draw(st.lists(st.sampled_from(world.skus), min_size=1, max_size=3, unique=True))
    world.orders.append(accept([(sku, data.draw(st.integers(1, 5))) for sku in skus]))


def reserve(hub: Hub, world: World, data: st.DataObject) -> None:
    from reservation.logic import reserve as reserve_order
    from reservation.logic import retry_backorder
    from synchub_core.envelope import EventEnvelope

    waiting = [o for o in world.orders if stored(o).state.value in ("ACCEPTED", "BACKORDERED")]
    if not waiting:
        return
    order_id = data.draw(st.sampled_from(waiting))
    if stored(order_id).state.value == "BACKORDERED":
        retry_backorder(order_id, f"test:{uuid.uuid4()}")
        return
    envelope = EventEnvelope.model_validate(accepted_event(hub, order_id))
    reserve_order(envelope)
    world.replayable.append(("reserve", envelope))


def cancel(world: World, data: st.DataObject) -> None:
    from orders.logic import cancel as cancel_order
    from orders.models import CancelIn, NotCancellable

    if not world.orders:
        return
    order_id = data.draw(st.sampled_from(world.orders))
    try:
        cancelled = cancel_order(order_id, CHANNEL, CancelIn(), "corr-property", f"test:{uuid.uuid4()}")
        event(f"cancelled a {stored(order_id).state.value if cancelled else 'missing'} order")
    except NotCancellable:
        assert stored(order_id).state.value in ("SHIPPED", "INVOICED")


def ship(world: World, data: st.DataObject) -> None:
    from invoicing.logic import issue
    from synchub_core.envelope import EventEnvelope

    shippable = [o for o in world.orders if stored(o).state.value in ("RESERVED", "SHIPPED") and stored(o).allocations]
    if not shippable:
        return
    order_id = data.draw(st.sampled_from(shippable))
    allocations = stored(order_id).allocations
    picked = data.draw(st.lists(st.sampled_from(allocations), min_size=1, max_size=len(allocations), unique_by=id))
    picked = data.draw(st.permutations(picked))  # lines in random order
    lines = [
        {
            "sku": a["sku"],
            "quantity": data.draw(st.integers(1, int(a["quantity"]))),
            "location_id": a["location_id"],
            "close_short": data.draw(st.booleans()),
        }
        for a in picked
    ]
    envelope = EventEnvelope.model_validate(shipment_envelope(order_id, lines))
    assert issue(envelope, utrecht()).created
    event("shipped" + (" closing short" if any(line["close_short"] for line in lines) else ""))
    for line in lines:
        world.shipped_from[(line["sku"], line["location_id"])] += line["quantity"]
        world.shipped[order_id][line["sku"]] += line["quantity"]
    world.replayable.append(("ship", envelope))


def authorize_return(world: World, data: st.DataObject) -> None:
    candidates = []
    for order_id in world.orders:
        o = stored(order_id)
        authorized: dict[str, int] = defaultdict(int)
        for r in o.returns:
            for line in r["lines"]:
                authorized[line["sku"]] += int(line["quantity"])
        open_lines = [
            (line["line_id"], o.shipped.get(line["sku"], 0) - authorized[line["sku"]])
            for line in o.doc["lines"]
            if o.shipped.get(line["sku"], 0) - authorized[line["sku"]] > 0
        ]
        if open_lines:
            candidates.append((order_id, open_lines))
    if not candidates:
        return
    order_id, open_lines = data.draw(st.sampled_from(candidates))
    chosen = data.draw(st.lists(st.sampled_from(open_lines), min_size=1, unique_by=lambda line: line[0]))
    rma_id = f"RMA-{uuid.uuid4().hex[:10].upper()}"
    result = authorize(order_id, rma_id, [(lid, data.draw(st.integers(1, q))) for lid, q in chosen])
    assert result is not None and result[1]
    world.pending_returns.append((order_id, rma_id))


def receive_return(world: World, data: st.DataObject) -> None:
    if not world.pending_returns:
        return
    order_id, rma_id = data.draw(st.sampled_from(world.pending_returns))
    world.pending_returns.remove((order_id, rma_id))
    (authorization,) = [r for r in stored(order_id).returns if r["rma_id"] == rma_id]
    lines: list[tuple[str, int, str, str]] = []
    for line in authorization["lines"]:
        arrived = data.draw(st.integers(0, int(line["quantity"])), label="arrived")  # may be fewer
        damaged = data.draw(st.integers(0, arrived), label="damaged")
        if arrived - damaged:
            lines.append((line["sku"], arrived - damaged, "RESALEABLE", data.draw(st.sampled_from(LOCATIONS))))
        if damaged:
            lines.append((line["sku"], damaged, "DAMAGED", DAMAGED_AT))
    if not lines:
        first = authorization["lines"][0]
        lines.append((first["sku"], 1, "RESALEABLE", LOCATIONS[0]))
    envelope = return_envelope(order_id, rma_id, lines)
    assert receive(envelope).created
    event("return received" + (" with damaged units" if any(li[2] == "DAMAGED" for li in lines) else ""))
    for sku, quantity, condition, location in lines:
        world.returned_into[(sku, location)] += quantity
        if condition == "DAMAGED":
            world.damaged_into[(sku, location)] += quantity
    world.replayable.append(("receive", envelope))


def duplicate(world: World, data: st.DataObject) -> None:
    """Any event applied before, delivered again: nothing changes."""
    from inventory.logic import apply_report
    from invoicing.logic import issue
    from reservation.logic import reserve as reserve_order

    if not world.replayable:
        return
    kind, what = data.draw(st.sampled_from(world.replayable))
    if kind == "report":
        assert not apply_report(*what)  # an older or equal sequence is ignored
    elif kind == "reserve":
        assert reserve_order(what).result == "IGNORED"
    elif kind == "ship":
        assert not issue(what, utrecht()).created
    else:
        assert not receive(what).created


def step(hub: Hub, world: World, data: st.DataObject, op: str) -> None:
    if op == "report":
        report(world, data)
    elif op == "order":
        order(world, data)
    elif op == "reserve":
        reserve(hub, world, data)
    elif op == "cancel":
        cancel(world, data)
    elif op == "ship":
        ship(world, data)
    elif op == "authorize":
        authorize_return(world, data)
    elif op == "receive":
        receive_return(world, data)
    else:
        duplicate(world, data)


# -- the books ----------------------------------------------------------------------------------


def check_positions(world: World) -> None:
    reserved_by_orders: dict[tuple[str, str], int] = defaultdict(int)
    for order_id in world.orders:
        for a in stored(order_id).allocations:
            reserved_by_orders[(a["sku"], a["location_id"])] += int(a["quantity"])
    for key in world.positions() | set(reserved_by_orders) | {(s, DAMAGED_AT) for s in world.skus}:
        found = position(*key)
        if found is None:
            assert key not in world.positions() and reserved_by_orders[key] == 0, key
            continue
        on_hand, reserved = int(found["on_hand"]), int(found["reserved"])
        hold, available = int(found["quality_hold"]), int(found["available"])
        assert reserved == reserved_by_orders[key], (key, found, reserved_by_orders[key])
        expected = world.reported.get(key, 0) - world.shipped_from[key] + world.returned_into[key]
        assert on_hand == expected, (key, found, world.reported.get(key), world.shipped_from[key])
        assert hold == world.damaged_into[key], (key, found)
        assert available == on_hand - reserved - hold >= 0, (key, found)


def check_orders(world: World) -> None:
    for order_id in world.orders:
        o = stored(order_id)
        for line in o.doc["lines"]:
            sku = line["sku"]
            assert o.shipped.get(sku, 0) == world.shipped[order_id][sku]
            assert o.shipped.get(sku, 0) + o.closed.get(sku, 0) <= int(line["quantity"]), (order_id, sku)
        if o.state.value in ("CANCELLED", "INVOICED"):
            assert o.allocations == [] and o.complete()


def billing_documents(hub: Hub) -> list[dict[str, Any]]:
    from synchub_core.ddb import from_ddb, values

    kwargs: dict[str, Any] = {
        "TableName": hub.orders_table,
        "ConsistentRead": True,
        "FilterExpression": "item_type IN (:invoice, :memo)",
        "ExpressionAttributeValues": values(invoice="INVOICE", memo="CREDIT_MEMO"),
    }
    items: list[dict[str, Any]] = []
    while True:
        resp = hub.ddb.scan(**kwargs)
        items.extend(from_ddb(i) for i in resp["Items"])
        if "LastEvaluatedKey" not in resp:
            return items
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def check_billing(hub: Hub, world: World) -> None:
    items = billing_documents(hub)
    invoices = [json.loads(i["doc"]) for i in items if i.get("item_type") == "INVOICE"]
    memos = [json.loads(i["doc"]) for i in items if i.get("item_type") == "CREDIT_MEMO"]
    invoice_lines = {(inv["invoice_id"], li["line_id"]): li for inv in invoices for li in inv["lines"]}
    credited: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 3)
    for memo in memos:
        for li in memo["lines"]:
            done = credited[(li["invoice_id"], li["line_id"])]
            done[0] += li["quantity"]
            done[1] += Decimal(li["net_amount"])
            done[2] += Decimal(li["tax_amount"])
        assert Decimal(memo["gross_total"]) == sum(Decimal(li["gross_amount"]) for li in memo["lines"])
    for key, (quantity, net, tax) in credited.items():
        invoiced = invoice_lines[key]
        assert quantity <= invoiced["quantity"], key
        assert net <= Decimal(invoiced["net_amount"]) and tax <= Decimal(invoiced["tax_amount"]), key
    for order_id in world.orders:
        billed = sum(Decimal(i["gross_total"]) for i in invoices if i["references"]["order_id"] == order_id)
        refunded = sum(Decimal(m["gross_total"]) for m in memos if m["references"]["order_id"] == order_id)
        assert refunded <= billed, order_id
    # gap-free numbering across everything issued so far (all examples)
    for kind, docs, number in (("INV", invoices, "invoice_number"), ("CM", memos, "credit_memo_number")):
        series: dict[tuple[str, int], list[int]] = defaultdict(list)
        for doc in docs:
            series[(doc["legal_entity"], doc["fiscal_year"])].append(doc["sequence"])
            assert doc[number] == f"{kind}-{doc['legal_entity']}-{doc['fiscal_year']}-{doc['sequence']:06d}"
        for key, sequences in series.items():
            assert sorted(sequences) == list(range(1, len(sequences) + 1)), (kind, key)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_the_books_balance_whatever_happens_in_whatever_order(hub: Hub, data: st.DataObject) -> None:
    tag = uuid.uuid4().hex[:6].upper()
    world = World(skus=[f"P{tag}-{n}" for n in range(data.draw(st.integers(2, 3), label="skus"))])
    # some stock to start with, so that orders reserve and ship
    for sku in world.skus:
        report(world, data)
        world.orders.append(accept([(sku, data.draw(st.integers(1, 3)))]))
    ops = data.draw(
        st.lists(
            st.sampled_from(OPS),
            min_size=6,
            max_size=12,
        ).map(lambda ops: ["reserve", "ship", *ops, "authorize", "receive", "duplicate"]),
        label="ops",
    )
    for op in ops:
        step(hub, world, data, op)
    check_positions(world)
    check_orders(world)
    check_billing(hub, world)
