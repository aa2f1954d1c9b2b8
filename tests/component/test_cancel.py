"""Cancelling an order: at once while the hub holds it (ACCEPTED, BACKORDERED, RESERVED: its
reservations back to stock in the same transaction), by asking the warehouses once it is RELEASED
(each CONFIRMS or REFUSES), never once it has shipped."""

from __future__ import annotations

import json
from typing import Any

import pytest

from helpers import Hub, api_event
from helpers.reservation import (
    FLOUR,
    WAREHOUSE_QUEUE,
    YEAST,
    accept,
    drain,
    order,
    outbox,
    publish_and_run,
    quantities,
    settle,
    stock,
    warehouse_worker,
)
from helpers.shipments import put_shipment, shipment_detail, warehouse_event
from helpers.shipments import run as run_invoicing


def cancel(order_id: str, reason: str = "customer changed their mind") -> Any:
    from orders.logic import cancel as cancel_order
    from orders.models import CancelIn

    return cancel_order(order_id, "webshop-nl", CancelIn(reason=reason), "corr-cancel", "idempotency-key:cancel-1")


def answer(hub: Hub, ctx: Any, order_id: str, outcome: str, reason: str | None = None, times: int = 1) -> None:
    for _ in range(times):
        warehouse_event(
            hub,
            "OrderCancellationAnswered",
            {
                "order_id": order_id,
                "warehouse_id": "UTR",
                "outcome": outcome,
                "reason": reason,
                "answered_at": "2026-11-24T10:00:00Z",
            },
        )
    assert drain(hub, WAREHOUSE_QUEUE, warehouse_worker(hub), ctx) == times


def events(hub: Hub, detail_type: str) -> list[dict[str, Any]]:
    return [i["event"] for i in outbox(hub, detail_type)]


def seed() -> None:
    stock(FLOUR, "UTR-A01", 10)
    stock(YEAST, "UTR-B01", 20)


def test_accepted_order_is_cancelled_at_once_and_twice_is_a_no_op(hub: Hub) -> None:
    order_id = accept()
    stored = cancel(order_id)
    assert stored.state.value == "CANCELLED"
    again = cancel(order_id)
    assert again.state.value == "CANCELLED" and again.version == 2
    read = order(order_id)
    assert read.state.value == "CANCELLED" and read.version == 2
    assert read.closed == {FLOUR: 4, YEAST: 10} and read.allocations == []
    assert read.cancellation.status == "CANCELLED" and read.cancellation.reason == "customer changed their mind"
    assert [h.state.value for h in read.history][-1] == "CANCELLED"
    (cancelled,) = events(hub, "OrderCancelled")
    assert cancelled["data"]["released"] == [] and cancelled["data"]["order_id"] == order_id
    assert events(hub, "StockAvailable") == []  # nothing was reserved


def test_reserved_order_is_cancelled_and_its_stock_released_in_the_same_transaction(
    hub: Hub, lambda_context: Any
) -> None:
    seed()
    order_id = accept()
    assert publish_and_run(hub, lambda_context)["batchItemFailures"] == []
    assert order(order_id).state.value == "RESERVED"
    assert quantities(FLOUR, "UTR-A01") == {"on_hand": 10, "reserved": 4, "available": 6}
    cancel(order_id)
    cancel(order_id)
    assert order(order_id).state.value == "CANCELLED"
    assert quantities(FLOUR, "UTR-A01") == {"on_hand": 10, "reserved": 0, "available": 10}
    assert quantities(YEAST, "UTR-B01") == {"on_hand": 20, "reserved": 0, "available": 20}
    (cancelled,) = events(hub, "OrderCancelled")
    assert sorted((a["sku"], a["location_id"], a["quantity"]) for a in cancelled["data"]["released"]) == [
        (FLOUR, "UTR-A01", 4),
        (YEAST, "UTR-B01", 10),
    ]
    (available,) = [e for e in events(hub, "StockAvailable") if e["data"]["cause"] == "cancellation"]
    assert available["data"]["skus"] == [FLOUR, YEAST] and available["causation_id"] == cancelled["event_id"]


def test_backordered_order_is_cancelled_and_its_hints_dropped(hub: Hub, lambda_context: Any) -> None:
    order_id = accept()
    assert publish_and_run(hub, lambda_context)["batchItemFailures"] == []
    assert order(order_id).state.value == "BACKORDERED"
    from orders.repository import waiting_for

    assert [oid for _, oid in waiting_for(FLOUR)] == [order_id]
    cancel(order_id)
    assert order(order_id).state.value == "CANCELLED"
    assert list(waiting_for(FLOUR)) == [] and list(waiting_for(YEAST)) == []
    from orders.repository import open_backorders

    assert open_backorders(10) == []
    assert len(events(hub, "OrderCancelled")) == 1


def test_shipped_and_invoiced_orders_are_not_cancellable(hub: Hub, lambda_context: Any) -> None:
    from helpers.shipments import line
    from orders.models import NotCancellable

    seed()
    shipped, invoiced = accept(), accept()
    settle(hub, lambda_context)
    put_shipment(hub, shipment_detail(shipped, "SHP-C-1", [line(YEAST, 10, "UTR-B01")]))
    put_shipment(hub, shipment_detail(invoiced, "SHP-C-2", [line(FLOUR, 4, "UTR-A01"), line(YEAST, 10, "UTR-B01")]))
    assert run_invoicing(hub, lambda_context)["batchItemFailures"] == []
    for order_id, state in ((shipped, "SHIPPED"), (invoiced, "INVOICED")):
        with pytest.raises(NotCancellable) as refused:
            cancel(order_id)
        assert refused.value.state == state
        assert "cannot be cancelled" in refused.value.reason and "returns" in refused.value.reason
        assert order(order_id).state.value == state
    assert events(hub, "OrderCancelled") == []


def test_released_order_asks_the_warehouse_which_confirms(hub: Hub, lambda_context: Any) -> None:
    seed()
    order_id = accept()
    settle(hub, lambda_context)
    assert order(order_id).state.value == "RELEASED"
    stored = cancel(order_id)
    assert stored.cancellation["status"] == "REQUESTED"
    cancel(order_id)  # asked again while waiting: nothing new
    read = order(order_id)
    assert read.state.value == "RELEASED" and read.version == 4
    (requested,) = events(hub, "OrderCancellationRequested")
    assert requested["data"]["warehouse_ids"] == ["UTR"]
    assert quantities(FLOUR, "UTR-A01")["reserved"] == 4  # still reserved until the warehouse confirms

    answer(hub, lambda_context, order_id, "CONFIRMED", times=2)  # duplicate answer changes nothing
    read = order(order_id)
    assert read.state.value == "CANCELLED" and read.version == 5
    assert read.cancellation.status == "CANCELLED" and read.cancellation.answers["UTR"]["outcome"] == "CONFIRMED"
    assert quantities(FLOUR, "UTR-A01") == {"on_hand": 10, "reserved": 0, "available": 10}
    assert quantities(YEAST, "UTR-B01") == {"on_hand": 20, "reserved": 0, "available": 20}
    assert len(events(hub, "OrderCancelled")) == 1
    assert len([e for e in events(hub, "StockAvailable") if e["data"]["cause"] == "cancellation"]) == 1
    answer(hub, lambda_context, order_id, "REFUSED", "late")  # a reordered, contradicting answer: ignored
    assert order(order_id).version == 5


def test_refused_cancellation_lets_the_order_ship_and_invoice(hub: Hub, lambda_context: Any) -> None:
    from orders.models import NotCancellable

    seed()
    order_id = accept()
    settle(hub, lambda_context)
    cancel(order_id)
    answer(hub, lambda_context, order_id, "REFUSED", "already picked")
    read = order(order_id)
    assert read.state.value == "RELEASED" and read.cancellation.status == "REFUSED"
    assert read.cancellation.refusal == "UTR refused: already picked"
    with pytest.raises(NotCancellable, match="already picked"):
        cancel(order_id)
    answer(hub, lambda_context, order_id, "CONFIRMED")  # too late: decided
    assert order(order_id).state.value == "RELEASED"
    assert quantities(FLOUR, "UTR-A01")["reserved"] == 4
    put_shipment(
        hub,
        shipment_detail(
            order_id,
            "SHP-REFUSED-1",
            [
                {"sku": FLOUR, "quantity": 4, "location_id": "UTR-A01"},
                {"sku": YEAST, "quantity": 10, "location_id": "UTR-B01"},
            ],
        ),
    )
    assert run_invoicing(hub, lambda_context)["batchItemFailures"] == []
    assert order(order_id).state.value == "INVOICED"
    assert events(hub, "OrderCancelled") == []


def test_a_shipment_while_the_cancellation_is_requested_refuses_it(hub: Hub, lambda_context: Any) -> None:
    seed()
    order_id = accept()
    settle(hub, lambda_context)
    cancel(order_id)
    put_shipment(
        hub,
        shipment_detail(
            order_id,
            "SHP-RACE-C",
            [
                {"sku": FLOUR, "quantity": 4, "location_id": "UTR-A01"},
                {"sku": YEAST, "quantity": 10, "location_id": "UTR-B01"},
            ],
        ),
    )
    assert run_invoicing(hub, lambda_context)["batchItemFailures"] == []
    read = order(order_id)
    assert read.state.value == "INVOICED" and read.cancellation.status == "REFUSED"
    assert "SHP-RACE-C" in read.cancellation.refusal
    version = read.version
    answer(hub, lambda_context, order_id, "CONFIRMED")  # the warehouse's answer arrives after: nothing changes
    assert order(order_id).version == version and events(hub, "OrderCancelled") == []
    assert quantities(FLOUR, "UTR-A01") == {"on_hand": 6, "reserved": 0, "available": 6}


def test_cancel_over_the_api(hub: Hub, lambda_context: Any) -> None:
    from orders.handler import lambda_handler

    stock(FLOUR, "UTR-A01", 20)
    stock(YEAST, "UTR-B01", 40)
    reserved, released, shipped = accept(), accept(), accept()
    assert publish_and_run(hub, lambda_context)["batchItemFailures"] == []
    assert {order(o).state.value for o in (reserved, released, shipped)} == {"RESERVED"}

    def post(order_id: str, key: str) -> tuple[int, dict[str, Any]]:
        event = api_event(
            "POST",
            f"/orders/{order_id}/cancel",
            {"reason": "duplicate order"},
            {"Idempotency-Key": key},
            resource="/orders/{order_id}/cancel",
            path_params={"order_id": order_id},
        )
        resp = lambda_handler(event, lambda_context)
        return resp["statusCode"], json.loads(resp["body"])

    status, body = post(reserved, "cancel-key-0001")
    assert status == 200 and body["state"] == "CANCELLED" and body["cancellation"]["status"] == "CANCELLED"
    assert post(reserved, "cancel-key-0002")[0] == 200  # again: the same answer, no second event
    assert len(events(hub, "OrderCancelled")) == 1

    settle(hub, lambda_context)  # the other two are RELEASED
    status, body = post(released, "cancel-key-0003")
    assert status == 202 and body["cancellation"]["status"] == "REQUESTED"

    put_shipment(
        hub,
        shipment_detail(
            shipped,
            "SHP-API-1",
            [
                {"sku": FLOUR, "quantity": 4, "location_id": "UTR-A01"},
                {"sku": YEAST, "quantity": 10, "location_id": "UTR-B01"},
            ],
        ),
    )
    assert run_invoicing(hub, lambda_context)["batchItemFailures"] == []
    status, body = post(shipped, "cancel-key-0004")
    assert status == 409 and body["type"].endswith("order-not-cancellable") and "INVOICED" in body["detail"]
