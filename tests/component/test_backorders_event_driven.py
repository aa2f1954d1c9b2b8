"""Backorders at volume, served by StockAvailable: 1,000 BACKORDERED orders, the 999 oldest waiting
for X (flour), the youngest for Y (yeast). Stock of Y serves the youngest without trying any X
order; 10 units of X serve the oldest X orders first, skipping one that needs more than there is
(skip-ahead), and stop once X is gone; the sweep (safety net) pages through the whole backlog;
hints of orders no longer backordered are deleted when met.

The orders are accepted through ``orders.logic.accept`` and backordered by the real reservation
logic (no stock); the StockAvailable of a WMS report goes through the outbox, the bus and the
StockAvailable worker's queue."""

from __future__ import annotations

import time
from typing import Any

import pytest

from helpers import Hub
from helpers.finance import outbox
from helpers.reservation import FLOUR as X
from helpers.reservation import STOCK_QUEUE, accept, drain, stock, stock_worker
from helpers.reservation import YEAST as Y

N = 1000
GREEDY = 2  # the third oldest X order wants more than will be available: skipped, not blocking


def backorder(order_id: str) -> None:
    from reservation.logic import reserve
    from synchub_core.envelope import new_event

    envelope = new_event(
        "OrderAccepted",
        entity_id=order_id,
        sequence=1,
        data={"order_id": order_id},
        correlation_id="corr-bulk",
        causation_id=None,
    )
    assert reserve(envelope).result == "BACKORDERED"


@pytest.fixture
def backlog(hub: Hub) -> list[str]:
    """The 1,000 backorders, oldest first (by when they were backordered, as the hints sort them)."""
    from orders.repository import load

    ids = []
    for n in range(N):
        order_id = accept([(Y, 1)] if n == N - 1 else [(X, 20 if n == GREEDY else 1)])
        backorder(order_id)
        ids.append(order_id)
    stored = [load(i) for i in ids]
    assert {o.state.value for o in stored} == {"BACKORDERED"}
    oldest_first = [o.order_id for o in sorted(stored, key=lambda o: (o.updated_at, o.order_id))]
    assert oldest_first[-1] == ids[-1]  # the Y order is the youngest
    return oldest_first


def states(order_ids: list[str]) -> dict[str, str]:
    from orders.repository import load

    return {i: load(i).state.value for i in order_ids}


def test_stock_available_serves_waiting_orders_oldest_first_with_skip_ahead(
    hub: Hub, lambda_context: Any, backlog: list[str]
) -> None:
    from orders.repository import put_backorder_hints, waiting_for
    from reservation.logic import serve_waiting, sweep_backorders

    started = time.monotonic()
    x_orders, youngest = backlog[:-1], backlog[-1]
    assert len(list(waiting_for(X))) == N - 1 and [o for _, o in waiting_for(Y)] == [youngest]

    # Y arrives (a WMS report): its StockAvailable reaches the worker, which tries the youngest only
    tried: list[str] = []
    stock(Y, "UTR-B01", 1)  # its StockAvailable published at once
    import reservation.logic as reservation_logic

    real_retry = reservation_logic.retry_backorder

    def counting(order_id: str, causation_id: str) -> Any:
        tried.append(order_id)
        return real_retry(order_id, causation_id)

    reservation_logic.retry_backorder = counting  # type: ignore[assignment]
    try:
        assert drain(hub, STOCK_QUEUE, stock_worker(hub), lambda_context) == 1
        assert tried == [youngest]
        assert states([youngest]) == {youngest: "RESERVED"}
        assert list(waiting_for(Y)) == []  # its hint is gone with the backorder

        # a stale hint (its order reserved meanwhile), older than every other: met first, deleted
        put_backorder_hints(youngest, "2000-01-01T00:00:00.000Z", [X])
        # 10 units of X: the oldest X orders, skipping the one that needs 20, then the walk stops
        tried.clear()
        stock(X, "UTR-A01", 10)
        assert drain(hub, STOCK_QUEUE, stock_worker(hub), lambda_context) == 1
    finally:
        reservation_logic.retry_backorder = real_retry  # type: ignore[assignment]
    served = [o for o in x_orders[:11] if o != x_orders[GREEDY]]
    assert tried == [youngest, *x_orders[:11]]  # oldest first, stopped once X ran out
    after = states(x_orders)
    assert [o for o in x_orders if after[o] == "RESERVED"] == served
    assert after[x_orders[GREEDY]] == "BACKORDERED"
    assert [o for _, o in waiting_for(X)][:2] == [x_orders[GREEDY], x_orders[11]]  # stale hint deleted
    assert len(list(waiting_for(X))) == N - 1 - 10
    from helpers.reservation import quantities

    assert quantities(X, "UTR-A01") == {"on_hand": 10, "reserved": 10, "available": 0}
    # each reservation was caused by the StockAvailable that served it (paged scan: the table is large now)
    reserved_events = outbox(hub, "OrderReserved")
    stock_events = {e["event_id"]: e["data"]["skus"] for e in outbox(hub, "StockAvailable")}
    assert len(reserved_events) == 11
    assert [stock_events[e["causation_id"]] for e in reserved_events if e["entity_id"] == youngest] == [[Y]]
    assert {tuple(stock_events[e["causation_id"]]) for e in reserved_events if e["entity_id"] != youngest} == {(X,)}
    # serving again with nothing available tries nobody
    assert serve_waiting([X], causation_id="again")["tried"] == 0

    # the sweep pages through every open backorder (no cap of 100): 988 left, all still short
    counts = sweep_backorders(causation_id="schedule:bulk")
    assert counts == {"tried": N - 1 - 10, "reserved": 0, "still_backordered": N - 1 - 10}
    assert time.monotonic() - started < 60
