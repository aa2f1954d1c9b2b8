"""Every log line a worker writes while handling an envelope carries that envelope's correlation
id, so one order is followed across every function's log with a single filter."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from helpers import Hub, sample
from helpers.reservation import deployed
from helpers.shipments import put_shipment, shipment_detail

RESERVATION_QUEUE = "WorkersReservationWorkerQueue"
INVOICING_QUEUE = "WorkersInvoicingWorkerQueue"
INVENTORY_QUEUE = "WorkersInventoryWorkerQueue"


class Logs:
    """The JSON lines every service's Powertools Logger writes, formatted as in Lambda."""

    SERVICES = ("orders", "outbox", "reservation", "invoicing", "inventory")

    def __init__(self) -> None:
        import importlib

        self.stream = io.StringIO()
        self.handlers: list[tuple[logging.Logger, logging.Handler]] = []
        for service in self.SERVICES:
            pt_logger = importlib.import_module(f"{service}.handler").pt.logger
            handler = logging.StreamHandler(self.stream)
            handler.setFormatter(pt_logger.registered_formatter)
            std = logging.getLogger(pt_logger.name)
            std.addHandler(handler)
            self.handlers.append((std, handler))

    def take(self) -> list[dict[str, Any]]:
        lines = log_lines(self.stream.getvalue())
        self.stream.seek(0)
        self.stream.truncate()
        return lines

    def close(self) -> None:
        for std, handler in self.handlers:
            std.removeHandler(handler)


@pytest.fixture
def logs() -> Iterator[Logs]:
    captured = Logs()
    yield captured
    captured.close()


def log_lines(captured: str) -> list[dict[str, Any]]:
    """The log lines (JSON with ``level`` and ``message``) in ``captured``."""
    lines = []
    for raw in captured.splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if isinstance(line, dict) and "level" in line and "message" in line:
            lines.append(line)
    return lines


def post_order(ctx: Any, correlation_id: str, body: dict[str, Any]) -> str:
    from orders.handler import lambda_handler

    event = sample("apigw-post-order-event.json")
    event["body"] = json.dumps(body)
    event["headers"] = {
        **event.get("headers", {}),
        "Idempotency-Key": f"corr-test-{uuid.uuid4().hex}",
        "X-Correlation-Id": correlation_id,
    }
    event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    resp = lambda_handler(event, ctx)
    assert resp["statusCode"] == 202, resp
    return json.loads(resp["body"])["order_id"]


def stock(sku: str, location_id: str, on_hand: int, sequence: int) -> None:
    from inventory.logic import apply_report
    from inventory.models import PositionReport

    as_of = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    report = PositionReport(sku=sku, location_id=location_id, on_hand=on_hand, as_of=as_of)
    assert apply_report(report, sequence, f"seed-{sku}-{sequence}")


def test_one_order_is_followed_across_every_worker_by_its_correlation_id(
    hub: Hub, lambda_context: Any, order_body: dict[str, Any], logs: Logs
) -> None:
    from invoicing.handler import lambda_handler as invoicing_handler
    from reservation.handler import lambda_handler as reservation_handler

    for n, line in enumerate(order_body["lines"], start=1):
        stock(line["sku"], "UTR-A01", 1000, n)
    hub.publish_outbox()  # the reports' StockAvailable: on the reports' own correlation ids
    correlation_id = f"corr-{uuid.uuid4().hex}"
    logs.take()

    order_id = post_order(lambda_context, correlation_id, order_body)
    hub.publish_outbox()  # OrderAccepted -> bus -> reservation queue (the sweep logs what it publishes)
    reservation = deployed(hub, RESERVATION_QUEUE, reservation_handler)
    assert hub.run_worker(RESERVATION_QUEUE, reservation, lambda_context)["batchItemFailures"] == []
    hub.publish_outbox()
    shipped = [{"sku": line["sku"], "quantity": line["quantity"]} for line in order_body["lines"]]
    detail = shipment_detail(order_id, "SHP-CORR-1", shipped)
    put_shipment(hub, {**detail, "correlation_id": correlation_id})
    invoicing = deployed(hub, INVOICING_QUEUE, invoicing_handler)
    assert hub.run_worker(INVOICING_QUEUE, invoicing, lambda_context)["batchItemFailures"] == []
    hub.publish_outbox()  # InvoiceIssued

    lines = logs.take()
    by_service: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        by_service.setdefault(line["service"], []).append(line)
    assert set(by_service) == {"orders", "outbox", "reservation", "invoicing"}
    for service, service_lines in by_service.items():
        handling = [
            ln for ln in service_lines if ln["message"] != "outbox sweep published events the stream path had not"
        ]
        assert handling, service
        assert {ln.get("correlation_id") for ln in handling} == {correlation_id}, (service, handling)
    published = [ln for ln in by_service["outbox"] if ln["message"] == "outbox event published by the sweep"]
    assert sorted(ln["detail_type"] for ln in published) == ["InvoiceIssued", "OrderAccepted", "OrderReserved"]


def test_correlation_id_does_not_leak_to_the_next_record_or_a_refused_message(
    hub: Hub, lambda_context: Any, logs: Logs
) -> None:
    from inventory.handler import lambda_handler as inventory_handler

    good_body = sample("sqs-inventory-position-reported.json")
    first, second = dict(good_body), dict(good_body)
    first.update(event_id=str(uuid.uuid4()), correlation_id="corr-first", sequence=10)
    second.update(event_id=str(uuid.uuid4()), correlation_id="corr-second", sequence=10)  # stale duplicate
    url = hub.queue(INVENTORY_QUEUE)
    sent = [
        hub.sqs.send_message(QueueUrl=url, MessageBody=body if isinstance(body, str) else json.dumps(body))
        for body in (first, second, "not json at all")
    ]
    logs.take()

    result = hub.run_worker(INVENTORY_QUEUE, deployed(hub, INVENTORY_QUEUE, inventory_handler), lambda_context)

    assert result["delivered"] == 3 and result["batchItemFailures"] == []  # the refused one is dead-lettered
    lines = logs.take()
    stale = [ln for ln in lines if ln["message"] == "stale or duplicate inventory report ignored"]
    assert [ln.get("correlation_id") for ln in stale] == ["corr-second"]
    refused = [ln for ln in lines if ln["message"] == "message refused"]
    assert len(refused) == 1 and refused[0].get("correlation_id") is None
    assert refused[0]["message_id"] == sent[2]["MessageId"]


def test_a_refused_event_is_logged_with_its_correlation_id(hub: Hub, lambda_context: Any, logs: Logs) -> None:
    """A forged shipment is refused on the order's trail: the refusal carries its correlation id."""
    from invoicing.handler import lambda_handler as invoicing_handler

    detail = shipment_detail("ord_" + uuid.uuid4().hex, "SHP-CORR-FORGED") | {"correlation_id": "corr-forged"}
    put_shipment(hub, detail, source="wms.tilburg")  # names UTR: not Tilburg's warehouse
    logs.take()
    result = hub.run_worker(INVOICING_QUEUE, deployed(hub, INVOICING_QUEUE, invoicing_handler), lambda_context)
    assert result["batchItemFailures"] == []
    (refused,) = [ln for ln in logs.take() if ln["message"] == "message refused"]
    assert refused["correlation_id"] == "corr-forged" and refused["event_id"] == detail["event_id"]
    assert "names warehouse UTR, which is not its own" in refused["reason"]


def test_a_backorder_served_by_the_schedule_carries_the_intake_correlation_id(
    hub: Hub, lambda_context: Any, order_body: dict[str, Any], logs: Logs
) -> None:
    from reservation.handler import backorder_handler
    from reservation.handler import lambda_handler as reservation_handler

    correlation_id = f"corr-{uuid.uuid4().hex}"
    order_id = post_order(lambda_context, correlation_id, order_body)
    hub.publish_outbox()
    hub.run_worker(
        RESERVATION_QUEUE, deployed(hub, RESERVATION_QUEUE, reservation_handler), lambda_context
    )  # backordered
    for n, line in enumerate(order_body["lines"], start=1):
        stock(line["sku"], "UTR-A01", 1000, n)
    logs.take()

    counts = backorder_handler({"id": "schedule-1"}, lambda_context)

    assert counts["reserved"] == 1
    lines = logs.take()
    retried = [ln for ln in lines if ln["message"] == "backorder retried"]
    assert [(ln["order_id"], ln.get("correlation_id")) for ln in retried] == [(order_id, correlation_id)]
    items = hub.ddb.scan(TableName=hub.orders_table)["Items"]
    reserved = [
        json.loads(i["detail"]["S"])
        for i in items
        if i["pk"]["S"].startswith("OUTBOX#") and i["detail_type"]["S"] == "OrderReserved"
    ]
    assert [e["correlation_id"] for e in reserved] == [correlation_id]


@pytest.mark.parametrize("sent", ["x" * 129, "has space", "ünïcode", ""])
def test_a_malformed_correlation_id_is_a_400_and_writes_nothing(
    hub: Hub, lambda_context: Any, order_body: dict[str, Any], sent: str
) -> None:
    from orders.handler import lambda_handler

    event = sample("apigw-post-order-event.json")
    event["body"] = json.dumps(order_body)
    event["headers"] = {**event.get("headers", {}), "Idempotency-Key": "corr-bad-0001", "X-Correlation-Id": sent}
    event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}

    resp = lambda_handler(event, lambda_context)

    assert resp["statusCode"] == 400
    problem = json.loads(resp["body"])
    assert problem["type"].endswith("/correlation-id-invalid") and problem["status"] == 400
    assert hub.ddb.scan(TableName=hub.orders_table)["Items"] == []
