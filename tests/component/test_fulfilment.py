"""Fulfilment: OrderReserved -> the order RELEASED to the warehouse(s) holding its reservations
(OrderReleased with pick lines per warehouse); the warehouses' ReleaseAcknowledged recorded once;
an answer from another site than the one it names refused.

The outbox publishes OrderReserved on the bus; the template's rule routes it to the release
worker's queue; warehouse answers go from ``wms.<site>`` on the bus to the warehouse worker."""

from __future__ import annotations

import json
from typing import Any

import pytest

from helpers import Hub
from helpers.reservation import (
    FLOUR,
    RELEASE_QUEUE,
    WAREHOUSE_QUEUE,
    YEAST,
    accept,
    drain,
    order,
    outbox,
    release_worker,
    settle,
    stock,
    warehouse_worker,
)
from helpers.shipments import warehouse_event

WAREHOUSE_DLQ = "WorkersFulfilmentWarehouseWorkerDeadLetterQueue"


def items(hub: Hub) -> tuple[list[Any], list[Any]]:
    def scan(table: str) -> list[Any]:
        return sorted(
            hub.ddb.scan(TableName=table, ConsistentRead=True)["Items"], key=lambda i: (i["pk"]["S"], i["sk"]["S"])
        )

    return scan(hub.orders_table), scan(hub.inventory_table)


@pytest.fixture
def released(hub: Hub, lambda_context: Any) -> str:
    """The sample order (4 flour, 10 yeast) reserved 3 flour at Utrecht, 1 at Tilburg, 10 yeast at Utrecht."""
    stock(FLOUR, "UTR-A01", 3)
    stock(FLOUR, "TLB-A01", 2)
    stock(YEAST, "UTR-B01", 30)
    order_id = accept()
    settle(hub, lambda_context)
    return order_id


def ack(hub: Hub, order_id: str, warehouse_id: str, source: str, ref: str = "WH-1001") -> dict[str, Any]:
    return warehouse_event(
        hub,
        "ReleaseAcknowledged",
        {
            "order_id": order_id,
            "warehouse_id": warehouse_id,
            "acknowledged_at": "2026-11-24T09:00:00Z",
            "warehouse_order_ref": ref,
        },
        source=source,
    )


def test_order_reserved_releases_the_order_with_pick_lines_per_warehouse(hub: Hub, released: str) -> None:
    stored = order(released)
    assert stored.state.value == "RELEASED" and stored.version == 3
    assert [h.state.value for h in stored.history] == ["SUBMITTED", "ACCEPTED", "RESERVED", "RELEASED"]
    assert "TLB" in stored.history[-1].reason and "UTR" in stored.history[-1].reason
    assert {wh: r["status"] for wh, r in stored.releases.items()} == {"TLB": "RELEASED", "UTR": "RELEASED"}

    (item,) = outbox(hub, "OrderReleased")
    event = item["event"]
    assert item["source"] == "synchub.fulfilment"
    (reserved,) = outbox(hub, "OrderReserved")
    assert reserved["source"] == "synchub.reservation"
    assert event["causation_id"] == reserved["event"]["event_id"]
    assert event["correlation_id"] == reserved["event"]["correlation_id"]
    assert event["entity_id"] == released and event["sequence"] == 3
    data = event["data"]
    assert data["order_id"] == released and data["channel"] == "webshop-nl"
    assert data["ship_to"]["postal_code"]
    assert data["warehouses"] == [
        {
            "warehouse_id": "TLB",
            "pick_lines": [{"line_id": "1", "sku": FLOUR, "location_id": "TLB-A01", "quantity": 1}],
        },
        {
            "warehouse_id": "UTR",
            "pick_lines": [
                {"line_id": "1", "sku": FLOUR, "location_id": "UTR-A01", "quantity": 3},
                {"line_id": "2", "sku": YEAST, "location_id": "UTR-B01", "quantity": 10},
            ],
        },
    ]


def test_a_duplicate_order_reserved_changes_nothing(hub: Hub, lambda_context: Any, released: str) -> None:
    (reserved,) = outbox(hub, "OrderReserved")
    before = items(hub)
    for _ in range(2):  # the same event again on the bus (at-least-once), twice
        resp = hub.events.put_events(
            Entries=[
                {
                    "Source": "synchub.reservation",
                    "DetailType": "OrderReserved",
                    "Detail": reserved["detail"],
                    "EventBusName": hub.dep.bus_name,
                }
            ]
        )
        assert resp["FailedEntryCount"] == 0
    assert drain(hub, RELEASE_QUEUE, release_worker(hub), lambda_context) == 2
    assert items(hub) == before
    assert len(outbox(hub, "OrderReleased")) == 1 and order(released).version == 3


def test_order_reserved_from_another_source_is_not_taken(hub: Hub, lambda_context: Any, released: str) -> None:
    (reserved,) = outbox(hub, "OrderReserved")
    before = items(hub)
    resp = hub.events.put_events(
        Entries=[
            {
                "Source": "synchub.orders",
                "DetailType": "OrderReserved",
                "Detail": reserved["detail"],
                "EventBusName": hub.dep.bus_name,
            }
        ]
    )
    assert resp["FailedEntryCount"] == 0
    assert hub.depth(RELEASE_QUEUE) == 0  # the rule takes it from reservation only
    assert items(hub) == before


def test_release_acknowledged_is_recorded_once(hub: Hub, lambda_context: Any, released: str) -> None:
    ack(hub, released, "UTR", "wms.utrecht", ref="UTR-WO-77")
    assert drain(hub, WAREHOUSE_QUEUE, warehouse_worker(hub), lambda_context) == 1
    stored = order(released)
    assert stored.state.value == "RELEASED" and stored.version == 4
    assert stored.releases["UTR"]["status"] == "ACKNOWLEDGED"
    assert stored.releases["UTR"]["warehouse_order_ref"] == "UTR-WO-77"
    assert stored.releases["TLB"]["status"] == "RELEASED"
    assert stored.history[-1].reason == "release acknowledged by UTR as UTR-WO-77"
    before = items(hub)
    ack(hub, released, "UTR", "wms.utrecht", ref="UTR-WO-77")  # the warehouse sends it again
    assert drain(hub, WAREHOUSE_QUEUE, warehouse_worker(hub), lambda_context) == 1
    assert items(hub) == before
    ack(hub, released, "TLB", "wms.tilburg")
    assert drain(hub, WAREHOUSE_QUEUE, warehouse_worker(hub), lambda_context) == 1
    stored = order(released)
    assert stored.version == 5 and {r["status"] for r in stored.releases.values()} == {"ACKNOWLEDGED"}
    assert hub.depth(WAREHOUSE_DLQ) == 0


@pytest.mark.parametrize(
    ("warehouse_id", "source", "reason"),
    [
        ("UTR", "wms.tilburg", "names warehouse UTR, which is not its own"),
        ("UTR", "wms.rotterdam", "not a registered warehouse site"),
    ],
)
def test_an_answer_from_another_site_is_refused(
    hub: Hub, lambda_context: Any, released: str, warehouse_id: str, source: str, reason: str
) -> None:
    before = items(hub)
    envelope = ack(hub, released, warehouse_id, source)
    if source == "wms.rotterdam":  # the rule takes any wms.*: the worker refuses unregistered sites
        assert hub.depth(WAREHOUSE_QUEUE) == 1
    assert drain(hub, WAREHOUSE_QUEUE, warehouse_worker(hub), lambda_context) == 1
    (dead,) = hub.receive(WAREHOUSE_DLQ)
    assert json.loads(dead["Body"])["detail"]["event_id"] == envelope["event_id"]
    assert reason in dead["MessageAttributes"]["synchub-refusal-reason"]["StringValue"]
    assert items(hub) == before


def test_an_ack_for_a_warehouse_the_order_was_not_released_to_is_refused(hub: Hub, lambda_context: Any) -> None:
    stock(FLOUR, "UTR-A01", 10)
    stock(YEAST, "UTR-B01", 10)
    order_id = accept()
    settle(hub, lambda_context)
    assert set(order(order_id).releases) == {"UTR"}
    ack(hub, order_id, "TLB", "wms.tilburg")
    assert drain(hub, WAREHOUSE_QUEUE, warehouse_worker(hub), lambda_context) == 1
    (dead,) = hub.receive(WAREHOUSE_DLQ)
    assert "which was not released to it" in dead["MessageAttributes"]["synchub-refusal-reason"]["StringValue"]
    assert order(order_id).version == 3
