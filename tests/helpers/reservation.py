"""Steps shared by the reservation and backorder component tests: orders accepted through
``orders.logic.accept``, stock seeded through ``inventory.logic.apply_report``, the reservation
worker run the way the Lambda SQS poller runs it. They need the ``hub`` fixture's moto.

Also how any worker's handler is run with the environment its function has in the stack
(:func:`deployed`): the ``hub`` fixture sets the orders function's, and the workers differ from it
in their own DLQ (``DEAD_LETTER_QUEUE_URL``, where they put what they refuse), ``WAREHOUSES`` and
their own settings (the invoicing worker's ``WORK_QUEUE_URL``, ``SHIPMENT_HOLD_MAX_HOURS``, ...).

Seeded stock (:func:`stock`) makes the inventory domain write a StockAvailable to the outbox; it is
published at once (to the StockAvailable worker's queue) unless ``announce=True`` leaves it pending,
so tests that count what ``hub.publish_outbox()`` publishes count only what they did themselves."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from typing import Any

from helpers import Hub, sample

QUEUE = "WorkersReservationWorkerQueue"
DLQ = "WorkersReservationWorkerDeadLetterQueue"
STOCK_QUEUE = "WorkersReservationStockAvailableWorkerQueue"
RELEASE_QUEUE = "WorkersFulfilmentReleaseWorkerQueue"
WAREHOUSE_QUEUE = "WorkersFulfilmentWarehouseWorkerQueue"
FLOUR = "FLOUR-T55-25KG"
YEAST = "YEAST-DRY-500G"


# the sites of cdk.json's synchub:warehouses (spec), for a template that does not carry WAREHOUSES yet
WAREHOUSES = {
    "wms.utrecht": {"warehouse_id": "UTR", "location_prefix": "UTR-"},
    "wms.tilburg": {"warehouse_id": "TLB", "location_prefix": "TLB-"},
}


def worker_environment(hub: Hub, queue_name: str) -> dict[str, str]:
    """The environment of the function draining ``queue_name``, as the template sets it, with
    ``WAREHOUSES`` and ``DEAD_LETTER_QUEUE_URL`` always there (the queue's own redrive DLQ and the
    spec's sites where the template does not set them yet)."""
    arn = hub.dep.queues[queue_name]["arn"]
    (mapping,) = [s for s in hub.dep.event_sources if s.kind == "sqs" and s.source_arn == arn]
    env = hub.dep.functions[mapping.function].environment
    attrs = hub.sqs.get_queue_attributes(QueueUrl=hub.queue(queue_name), AttributeNames=["RedrivePolicy"])
    redrive_dlq = hub.dep.queue_by_arn(json.loads(attrs["Attributes"]["RedrivePolicy"])["deadLetterTargetArn"])["url"]
    if "DEAD_LETTER_QUEUE_URL" in env:  # refusals go where the redrive policy puts failures: one DLQ, one replay
        assert env["DEAD_LETTER_QUEUE_URL"] == redrive_dlq, queue_name
    return {
        **{k: str(v) for k, v in env.items()},
        "WAREHOUSES": env.get("WAREHOUSES") or json.dumps(WAREHOUSES),
        "DEAD_LETTER_QUEUE_URL": env.get("DEAD_LETTER_QUEUE_URL") or redrive_dlq,
    }


def deployed(
    hub: Hub, queue_name: str, handler: Callable[[dict, Any], Any], **overrides: str
) -> Callable[[dict, Any], Any]:
    """``handler`` run with the worker environment of the function draining ``queue_name``
    (``overrides``: variables set otherwise, e.g. ``SHIPMENT_HOLD_MAX_HOURS="1"``)."""
    env = {**worker_environment(hub, queue_name), **overrides}

    def run(event: dict, context: Any) -> Any:
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            return handler(event, context)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    return run


def order_body(lines: list[tuple[str, int]] | None = None) -> dict[str, Any]:
    """The sample order (FLOUR x4, YEAST x10) with a unique channel ref, optionally other lines."""
    body = sample("api-post-order.json")
    body["channel_order_ref"] = f"{body['channel_order_ref']}-{uuid.uuid4().hex[:8]}"
    if lines is not None:
        template = body["lines"][0]
        body["lines"] = [
            {**template, "line_id": str(n + 1), "sku": sku, "quantity": qty} for n, (sku, qty) in enumerate(lines)
        ]
    return body


def accept(lines: list[tuple[str, int]] | None = None) -> str:
    from orders.logic import accept as accept_order
    from orders.models import OrderIn

    body = order_body(lines)
    result = accept_order(OrderIn.model_validate(body), f"idem-{uuid.uuid4().hex}", body["channel_order_ref"])
    assert result.created and result.state == "ACCEPTED"
    return result.order_id


def stock(
    sku: str,
    location_id: str,
    on_hand: int,
    quality_hold: int = 0,
    sequence: int = 1,
    *,
    lot: str | None = None,
    best_before: str | None = None,
    announce: bool = False,
) -> None:
    """A WMS report of ``sku`` at ``location_id`` (and ``lot``). The StockAvailable it writes to the
    outbox (if stock rose) is published at once, unless ``announce`` leaves it pending for the test."""
    from inventory.logic import apply_report, stock_event_id
    from inventory.models import PositionReport

    report = PositionReport(
        sku=sku,
        location_id=location_id,
        lot=lot,
        best_before=best_before,
        on_hand=on_hand,
        quality_hold=quality_hold,
        in_transit=0,
        as_of="2026-11-23T07:45:00Z",
    )
    assert apply_report(report, sequence, str(uuid.uuid4()))
    if not announce:
        from outbox import logic as outbox_logic
        from outbox import repository as outbox_repository

        item = outbox_repository.current(stock_event_id(report, sequence))
        if outbox_repository.is_pending(item):
            assert outbox_logic.publish([item]) == []


def position(sku: str, location_id: str, lot: str | None = None) -> dict[str, Any] | None:
    from inventory.api import get_position

    return get_position(sku, location_id, lot=lot)


def positions(hub: Hub) -> dict[tuple[str, str], dict[str, Any]]:
    """Every position by ``(sku, location_id)``; a lot's by ``(sku, "<location_id>#<lot>")``."""
    from synchub_core.ddb import from_ddb

    items = (from_ddb(i) for i in hub.ddb.scan(TableName=hub.inventory_table, ConsistentRead=True)["Items"])
    return {(i["sku"], i["location_id"] + (f"#{i['lot']}" if i.get("lot") else "")): i for i in items}


def quantities(sku: str, location_id: str, lot: str | None = None) -> dict[str, int]:
    """``on_hand``, ``reserved`` and ``available`` of a position (which must exist)."""
    item = position(sku, location_id, lot)
    assert item is not None, f"no position {sku}@{location_id} {lot or ''}"
    return {k: int(item[k]) for k in ("on_hand", "reserved", "available")}


def order(order_id: str) -> Any:
    from orders.repository import read

    found = read(order_id)
    assert found is not None
    return found


def outbox(hub: Hub, event_type: str | None = None) -> list[dict[str, Any]]:
    """Outbox items (deserialized) with their envelope parsed into ``event``."""
    from synchub_core.ddb import from_ddb

    items = [
        from_ddb(i)
        for i in hub.ddb.scan(TableName=hub.orders_table, ConsistentRead=True)["Items"]
        if i["pk"]["S"].startswith("OUTBOX#")
    ]
    for i in items:
        i["event"] = json.loads(i["detail"])
    return [i for i in items if event_type is None or i["detail_type"] == event_type]


def accepted_event(hub: Hub, order_id: str) -> dict[str, Any]:
    (item,) = [i for i in outbox(hub, "OrderAccepted") if i["event"]["entity_id"] == order_id]
    return item["event"]


def handler(hub: Hub) -> Callable[[dict, Any], Any]:
    """The reservation worker's Lambda handler, with its function's environment."""
    from reservation.handler import lambda_handler

    return deployed(hub, QUEUE, lambda_handler)


def stock_worker(hub: Hub) -> Callable[[dict, Any], Any]:
    """The StockAvailable worker (backorders waiting for the SKUs), with its function's environment."""
    from reservation.handler import stock_available_handler

    return deployed(hub, STOCK_QUEUE, stock_available_handler)


def release_worker(hub: Hub) -> Callable[[dict, Any], Any]:
    """The fulfilment release worker (OrderReserved -> RELEASED), with its function's environment."""
    from fulfilment.handler import release_handler

    return deployed(hub, RELEASE_QUEUE, release_handler)


def warehouse_worker(hub: Hub) -> Callable[[dict, Any], Any]:
    """The fulfilment worker of the warehouses' answers, with its function's environment."""
    from fulfilment.handler import warehouse_handler

    return deployed(hub, WAREHOUSE_QUEUE, warehouse_handler)


def run(hub: Hub, ctx: Any) -> dict[str, Any]:
    return hub.run_worker(QUEUE, handler(hub), ctx)


def drain(hub: Hub, queue_name: str, worker: Callable[[dict, Any], Any], ctx: Any) -> int:
    """Run ``worker`` on ``queue_name`` until nothing is visible; every record must succeed.
    Returns how many messages it took."""
    taken = 0
    while True:
        result = hub.run_worker(queue_name, worker, ctx)
        assert result["batchItemFailures"] == [], result
        if not result["delivered"]:
            return taken
        taken += result["delivered"]


def settle(hub: Hub, ctx: Any) -> None:
    """Publish the outbox and run reservation, then release, until both queues are empty: accepted
    orders end RESERVED -> RELEASED (or BACKORDERED)."""
    while True:
        hub.publish_outbox()
        moved = drain(hub, QUEUE, handler(hub), ctx) + drain(hub, RELEASE_QUEUE, release_worker(hub), ctx)
        if not moved:
            return


def publish_and_run(hub: Hub, ctx: Any, expect_published: int | None = None) -> dict[str, Any]:
    published = hub.publish_outbox()
    if expect_published is not None:
        assert published == expect_published
    return run(hub, ctx)


def receive_once(hub: Hub, name: str = QUEUE) -> list[dict[str, Any]]:
    """One ReceiveMessage call with VisibilityTimeout=0: the messages are visible again at once
    (``hub.receive`` keeps polling, which with a zero timeout returns the same message again)."""
    return hub.sqs.receive_message(
        QueueUrl=hub.queue(name), MaxNumberOfMessages=10, VisibilityTimeout=0, AttributeNames=["All"]
    ).get("Messages", [])


def bus_event(envelope: dict[str, Any], **members: Any) -> dict[str, Any]:
    """The whole EventBridge event an envelope from synchub.orders arrives as (``members`` override)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": envelope["event_type"],
        "source": "synchub.orders",
        "account": "123456789012",
        "time": "2026-11-23T08:00:00Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": envelope,
    } | members


def send_envelope(hub: Hub, envelope: dict[str, Any]) -> str:
    """Put an envelope on the reservation queue the way the EventBridge rule target does."""
    return hub.sqs.send_message(QueueUrl=hub.queue(QUEUE), MessageBody=json.dumps(bus_event(envelope)))["MessageId"]


def fake_accepted(order_id: str, event_type: str = "OrderAccepted") -> dict[str, Any]:
    data = order_body()
    data["order_id"] = order_id
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "event_version": "1",
        "occurred_at": "2026-11-23T08:00:00.000Z",
        "correlation_id": "test",
        "causation_id": None,
        "source_system": "synchub.orders",
        "entity_id": order_id,
        "sequence": 1,
        "data": data,
    }
