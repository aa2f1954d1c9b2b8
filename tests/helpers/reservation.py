"""Steps shared by the reservation and backorder component tests: orders accepted through
``orders.logic.accept``, stock seeded through ``inventory.logic.apply_report``, the reservation
worker run the way the Lambda SQS poller runs it. They need the ``hub`` fixture's moto.

Also how any worker's handler is run with the environment its function has in the stack
(:func:`deployed`): the ``hub`` fixture sets the orders function's, and the workers differ from it
in their own DLQ (``DEAD_LETTER_QUEUE_URL``, where they put what they refuse) and ``WAREHOUSES``."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from typing import Any

from helpers import Hub, sample

QUEUE = "WorkersReservationWorkerQueue"
DLQ = "WorkersReservationWorkerDeadLetterQueue"
FLOUR = "FLOUR-T55-25KG"
YEAST = "YEAST-DRY-500G"


# the sites of cdk.json's synchub:warehouses (spec), for a template that does not carry WAREHOUSES yet
WAREHOUSES = {
    "wms.utrecht": {"warehouse_id": "UTR", "location_prefix": "UTR-"},
    "wms.tilburg": {"warehouse_id": "TLB", "location_prefix": "TLB-"},
}
WORKER_ENV = ("WAREHOUSES", "DEAD_LETTER_QUEUE_URL")


def worker_environment(hub: Hub, queue_name: str) -> dict[str, str]:
    """``WAREHOUSES`` and ``DEAD_LETTER_QUEUE_URL`` of the function draining ``queue_name``, as the
    template sets them (the queue's own redrive DLQ and the spec's sites where it does not yet)."""
    arn = hub.dep.queues[queue_name]["arn"]
    (mapping,) = [s for s in hub.dep.event_sources if s.kind == "sqs" and s.source_arn == arn]
    env = hub.dep.functions[mapping.function].environment
    attrs = hub.sqs.get_queue_attributes(QueueUrl=hub.queue(queue_name), AttributeNames=["RedrivePolicy"])
    redrive_dlq = hub.dep.queue_by_arn(json.loads(attrs["Attributes"]["RedrivePolicy"])["deadLetterTargetArn"])["url"]
    if "DEAD_LETTER_QUEUE_URL" in env:  # refusals go where the redrive policy puts failures: one DLQ, one replay
        assert env["DEAD_LETTER_QUEUE_URL"] == redrive_dlq, queue_name
    return {
        "WAREHOUSES": env.get("WAREHOUSES") or json.dumps(WAREHOUSES),
        "DEAD_LETTER_QUEUE_URL": env.get("DEAD_LETTER_QUEUE_URL") or redrive_dlq,
    }


def deployed(hub: Hub, queue_name: str, handler: Callable[[dict, Any], Any]) -> Callable[[dict, Any], Any]:
    """``handler`` run with the worker environment of the function draining ``queue_name``."""
    env = worker_environment(hub, queue_name)

    def run(event: dict, context: Any) -> Any:
        saved = {k: os.environ.get(k) for k in WORKER_ENV}
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


def stock(sku: str, location_id: str, on_hand: int, quality_hold: int = 0, sequence: int = 1) -> None:
    from inventory.logic import apply_report
    from inventory.models import PositionReport

    report = PositionReport(
        sku=sku,
        location_id=location_id,
        on_hand=on_hand,
        quality_hold=quality_hold,
        in_transit=0,
        as_of="2026-11-23T07:45:00Z",
    )
    assert apply_report(report, sequence, str(uuid.uuid4()))


def position(sku: str, location_id: str) -> dict[str, Any] | None:
    from inventory.repository import position_key
    from synchub_core import ddb
    from synchub_core.config import settings

    return ddb.get(settings().inventory_table, position_key(sku, location_id))


def positions(hub: Hub) -> dict[tuple[str, str], dict[str, Any]]:
    from synchub_core.ddb import from_ddb

    items = (from_ddb(i) for i in hub.ddb.scan(TableName=hub.inventory_table, ConsistentRead=True)["Items"])
    return {(i["sku"], i["location_id"]): i for i in items}


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


def run(hub: Hub, ctx: Any) -> dict[str, Any]:
    return hub.run_worker(QUEUE, handler(hub), ctx)


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
