"""End to end through the local runtime: HTTP API, worker processes, SQS pollers, the DynamoDB
stream, EventBridge rules and DLQs, exactly as `synchub local up` runs them."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from helpers import sample
from helpers.local_hub import intake_items, inventory_message, position, scan
from synchub import demo, environment, replay
from synchub.client import ChannelClient, http


def eventually(what: str, probe: Callable[[], Any], timeout: float = 30.0) -> Any:
    try:
        return demo.wait_for(what, probe, timeout)
    except demo.DemoFailed as exc:
        raise AssertionError(str(exc)) from None


def test_order_to_invoice_exactly_once_over_http(env: environment.HubEnvironment) -> None:
    lines: list[str] = []
    # the systems of record's part of the demo runs in tests/e2e/test_cli.py (its own hub): its master
    # data would turn on the order API's checks for the rest of this layer's orders
    result = demo.run(env, out=lines.append, systems_of_record=False)
    order = result["order"]
    assert order["state"] == "INVOICED"
    # released to the warehouse, shipped in two parts (two invoices), a return credited
    states = [h["state"] for h in order["history"]]
    assert list(dict.fromkeys(states)) == ["SUBMITTED", "ACCEPTED", "RESERVED", "RELEASED", "SHIPPED", "INVOICED"]
    assert len(order["invoices"]) == 2 and len(order["shipments"]) == 2
    numbers = [int(i["invoice_number"].rsplit("-", 1)[1]) for i in order["invoices"]]
    assert numbers[1] == numbers[0] + 1  # gap-free, sequential
    invoice = result["invoice"]
    assert invoice["references"]["order_id"] == result["order_id"]
    # 4 x 18.40 + 10 x 3.95 = 113.10 net, 9 % tax 10.18: split over the two invoices
    assert sum(Decimal(i["gross_total"]) for i in order["invoices"]) == Decimal("123.28")
    memo = result["credit_memo"]
    assert len(order["credit_memos"]) == 1 and order["credit_memos"][0]["credit_memo_id"] == memo["credit_memo_id"]
    assert memo["lines"][0]["quantity"] == 1 and memo["gross_total"] == "20.06"  # 18.40 + 9 %
    assert order["returns"][0]["status"] == "RECEIVED"
    items = scan(env, env.orders_table)
    assert sum(i["pk"]["S"] == f"INVOICE#{invoice['references']['shipment_id']}" for i in items) == 1
    # the duplicate ShipmentConfirmed delivery produced no second InvoiceIssued: one per shipment
    issued = [
        json.loads(i["detail"]["S"])
        for i in items
        if i["pk"]["S"].startswith("OUTBOX#")
        and i["detail_type"]["S"] == "InvoiceIssued"
        and json.loads(i["detail"]["S"])["data"]["references"]["order_id"] == result["order_id"]
    ]
    shipped = sorted(e["data"]["references"]["shipment_id"] for e in issued)
    assert shipped == sorted(s["shipment_id"] for s in order["shipments"]) and len(set(shipped)) == 2
    # every outbox event of this order was published (stream path), none left pending
    eventually(
        "outbox drained",
        lambda: (
            not any("outbox_status" in i for i in scan(env, env.orders_table) if i["pk"]["S"].startswith("OUTBOX#"))
        ),
    )
    assert any("2. channel -> POST /orders  202" in line for line in lines)


def test_concurrent_identical_posts_create_one_order(env: environment.HubEnvironment, webshop: ChannelClient) -> None:
    body = sample("api-post-order.json")
    body["channel_order_ref"] = f"CONC-{uuid.uuid4().hex[:8]}"
    key = f"conc-{uuid.uuid4().hex}"
    answers: list[tuple[int, Any]] = []

    def call() -> None:
        resp = webshop.post_order(body, key)
        answers.append((resp.status, resp.body))

    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {s for s, _ in answers} == {202}, answers
    order_ids = {p["order_id"] for _, p in answers}
    assert len(order_ids) == 1
    refs = [i for i in scan(env, env.orders_table) if i["pk"]["S"] == f"CHANREF#webshop-nl#{body['channel_order_ref']}"]
    assert len(refs) == 1


def test_bad_input_is_problem_json_over_http(env: environment.HubEnvironment, webshop: ChannelClient) -> None:
    body = sample("api-post-order.json")
    body["lines"][0]["quantity"] = -1

    # intake items only: the workers may still be adding history and outbox items for earlier orders
    before = intake_items(env)
    resp = webshop.post_order(body, "bad-input-0001")
    status, headers, problem = resp.status, resp.headers, resp.body
    assert status == 400
    assert headers["Content-Type"] == "application/problem+json"
    assert problem["errors"][0]["pointer"] == "/lines/0/quantity"
    assert len(intake_items(env)) == len(before)
    assert not any(i["pk"]["S"].endswith("#bad-input-0001") for i in intake_items(env))
    missing = http("GET", env.api_url + "/nope")
    status, headers, problem = missing.status, missing.headers, missing.body
    # the stack's MISSING_AUTHENTICATION_TOKEN gateway response, as deployed API Gateway answers it
    assert status == 404 and headers["Content-Type"] == "application/problem+json"
    assert headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert problem["status"] == 404 and problem["type"].startswith("https://synchub.dev/problems/")


def test_reordered_and_duplicate_inventory_events_over_sqs(env: environment.HubEnvironment) -> None:
    sqs = env.clients()("sqs")
    url = env.queues["WorkersInventoryWorkerQueue"]
    sku = f"E2E-{uuid.uuid4().hex[:6].upper()}"
    for seq, on_hand in ((3, 30), (1, 10), (3, 30), (2, 20)):
        sqs.send_message(QueueUrl=url, MessageBody=inventory_message(sku, "UTR-A01", seq, on_hand))
    eventually("position", lambda: position(env, sku, "UTR-A01"))
    time.sleep(1.5)  # let the stale ones arrive too
    item = position(env, sku, "UTR-A01")
    assert item["wms_sequence"]["N"] == "3" and item["on_hand"]["N"] == "30" and item["available"]["N"] == "30"


def test_poison_message_lands_in_dlq_after_retries_and_replay_is_safe(env: environment.HubEnvironment) -> None:
    sqs = env.clients()("sqs")
    dlq = env.queues["WorkersInventoryWorkerDeadLetterQueue"]
    sqs.send_message(QueueUrl=env.queues["WorkersInventoryWorkerQueue"], MessageBody='{"not": "an envelope"}')

    def dlq_depth() -> int:
        return int(
            sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
                "ApproximateNumberOfMessages"
            ]
        )

    eventually("poison message in the DLQ", lambda: dlq_depth() == 1, timeout=40)
    # a good event that failed during an outage also waits in the DLQ (sent there directly here)
    sku = f"RPL-{uuid.uuid4().hex[:6].upper()}"
    good = inventory_message(sku, "UTR-B02", 7, 70)
    sqs.send_message(QueueUrl=dlq, MessageBody=good)
    first = replay.replay(env, "WorkersInventoryWorkerDeadLetterQueue")
    assert first.moved == 2 and first.target.endswith("WorkersInventoryWorkerQueue")
    eventually("replayed event applied", lambda: position(env, sku, "UTR-B02"))
    applied = position(env, sku, "UTR-B02")
    # the same event dead-lettered again (a duplicate) and replayed again changes nothing
    sqs.send_message(QueueUrl=dlq, MessageBody=good)
    replay.replay(env, "WorkersInventoryWorkerDeadLetterQueue")
    time.sleep(1.0)
    after = position(env, sku, "UTR-B02")
    assert {k: v for k, v in after.items() if k != "updated_at"} == {
        k: v for k, v in applied.items() if k != "updated_at"
    }
    assert after["updated_at"] == applied["updated_at"]  # the duplicate did not write at all
    # the poison message is back in the DLQ after its retries: nothing lost, nothing looping forever
    eventually("poison message dead-lettered again", lambda: dlq_depth() == 1, timeout=40)
    second = replay.replay(env, "WorkersInventoryWorkerDeadLetterQueue", dry_run=True)
    assert [json.loads(b) for b in second.messages] == [{"not": "an envelope"}]


def test_shipment_for_unknown_order_is_dead_lettered_not_lost(env: environment.HubEnvironment) -> None:
    shipment = sample("eventbridge-shipment-confirmed.json")
    detail = shipment["detail"]
    detail["data"].update(order_id="ord_unknown", shipment_id=f"SHP-{uuid.uuid4().hex[:8]}")
    env.clients()("events").put_events(
        Entries=[
            {
                "Source": shipment["source"],
                "DetailType": "ShipmentConfirmed",
                "Detail": json.dumps(detail),
                "EventBusName": env.event_bus,
            }
        ]
    )
    sqs = env.clients()("sqs")
    dlq = env.queues["WorkersInvoicingWorkerDeadLetterQueue"]
    msgs = eventually(
        "shipment in the invoicing DLQ",
        lambda: sqs.receive_message(QueueUrl=dlq, VisibilityTimeout=0, MaxNumberOfMessages=10).get("Messages"),
        timeout=40,
    )
    assert json.loads(msgs[0]["Body"])["detail"]["data"]["shipment_id"] == detail["data"]["shipment_id"]
    assert not any(i["pk"]["S"] == f"INVOICE#{detail['data']['shipment_id']}" for i in scan(env, env.orders_table))


def test_backordered_order_is_reserved_when_stock_arrives(
    env: environment.HubEnvironment, webshop: ChannelClient
) -> None:
    sku = f"BO-{uuid.uuid4().hex[:6].upper()}"
    body = sample("api-post-order.json")
    body["channel_order_ref"] = f"BO-{uuid.uuid4().hex[:8]}"
    body["lines"] = [{**body["lines"][0], "sku": sku, "quantity": 3}]
    created = webshop.post_order(body, f"bo-{sku}")
    assert created.status == 202
    order_id = created.body["order_id"]
    eventually("backorder", lambda: webshop.get_order(order_id).body["state"] == "BACKORDERED")
    env.clients()("sqs").send_message(
        QueueUrl=env.queues["WorkersInventoryWorkerQueue"], MessageBody=inventory_message(sku, "UTR-C03", 1, 5)
    )
    order = eventually(
        "reservation by the backorder sweep",
        lambda: (lambda o: o if o["state"] == "RELEASED" else None)(webshop.get_order(order_id).body),
    )
    assert [h["state"] for h in order["history"]] == ["SUBMITTED", "ACCEPTED", "BACKORDERED", "RESERVED", "RELEASED"]
    assert [(a["sku"], a["location_id"], a["quantity"], a["lot"]) for a in order["allocations"]] == [
        (sku, "UTR-C03", 3, None)
    ]
