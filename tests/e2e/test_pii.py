"""No personal data where it does not belong: an order with a unique customer goes its whole way
(token, intake, reservation, shipment, invoice, a bad request, a refused forged shipment, the ERP
order file and its acknowledgement (a rejection: its SKU is not the ERP's), the finance posting), then
every function's log output of the hub (log lines and the embedded metrics in them) is searched
for the customer's name, e-mail, street and postal code."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from helpers import sample
from helpers.local_hub import inventory_message, position
from synchub import demo, environment
from synchub.client import ChannelClient
from synchub.local.runtime import LocalHub


def _stock(env: environment.HubEnvironment, sku: str, loc: str, on_hand: int) -> None:
    report = inventory_message(sku, loc, int(time.time() * 1000), on_hand)
    env.clients()("sqs").send_message(QueueUrl=env.queues["WorkersInventoryWorkerQueue"], MessageBody=report)
    demo.wait_for("stock", lambda: position(env, sku, loc))


def _ship(env: environment.HubEnvironment, order_id: str, sku: str, quantity: int, source: str, warehouse: str) -> str:
    shipment = sample("eventbridge-shipment-confirmed.json")
    detail = shipment["detail"]
    shipment_id = f"SHP-PII-{uuid.uuid4().hex[:8]}"
    detail.update(event_id=str(uuid.uuid4()), entity_id=shipment_id)
    detail["data"].update(
        shipment_id=shipment_id, order_id=order_id, warehouse_id=warehouse, lines=[{"sku": sku, "quantity": quantity}]
    )
    entry = {"Source": source, "DetailType": "ShipmentConfirmed", "Detail": json.dumps(detail)}
    env.clients()("events").put_events(Entries=[{**entry, "EventBusName": env.event_bus}])
    return shipment_id


def test_no_customer_data_in_any_function_log(
    local_hub: LocalHub, env: environment.HubEnvironment, webshop: ChannelClient
) -> None:
    tag = uuid.uuid4().hex[:10]
    pii = {
        "name": f"Probe Bakery {tag}",
        "email": f"probe.{tag}@example.org",
        "street": f"Probestraat {tag}",
        "postal_code": f"PC{tag[:6]}",
    }
    sku = f"PII-{tag[:6].upper()}"
    _stock(env, sku, "UTR-A01", 10)
    body = sample("api-post-order.json")
    del body["channel"]
    body.update(channel_order_ref=f"PII-{tag}")
    body["customer"].update(name=pii["name"], email=pii["email"])
    body["ship_to"].update(name=pii["name"], line1=pii["street"], postal_code=pii["postal_code"])
    body["lines"] = [{**body["lines"][0], "sku": sku, "quantity": 2}]
    created = webshop.post_order(body, f"pii-{tag}", **{"X-Correlation-Id": f"pii-{tag}"})
    assert created.status == 202, created.body
    order_id = created.body["order_id"]
    demo.wait_for("release", lambda: webshop.get_order(order_id).body["state"] == "RELEASED")
    # a bad request and a forged shipment from the other site go their own ways too
    assert webshop.post_order({**body, "currency": "euro"}, f"pii-bad-{tag}").status == 400
    _ship(env, order_id, sku, 2, "wms.tilburg", "UTR")
    _ship(env, order_id, sku, 2, "wms.utrecht", "UTR")
    invoiced = demo.wait_for(
        "invoice", lambda: (lambda o: o if o["state"] == "INVOICED" else None)(webshop.get_order(order_id).body)
    )
    # the customer data did travel: the order answers with it
    assert invoiced["customer"]["email"] == pii["email"] and invoiced["ship_to"]["line1"] == pii["street"]
    # the systems of record: the invoice posted to finance, the order in an ERP file and answered
    connectors = env.tables["DataConnectorsTable"]

    def ledger(pk: str, sk: str) -> dict:
        return env.clients()("dynamodb").get_item(TableName=connectors, Key={"pk": {"S": pk}, "sk": {"S": sk}})

    invoice_id = invoiced["invoices"][0]["invoice_id"]
    demo.wait_for("finance posting", lambda: ledger(f"POSTING#{invoice_id}", "POSTING").get("Item"), timeout=60)
    demo.wait_for(
        "the ERP's answer",
        lambda: (
            ledger(f"ERPORDER#{order_id}", "ERPORDER").get("Item", {}).get("status", {}).get("S")
            in ("ACKED", "REJECTED")
        ),
        timeout=60,
    )
    time.sleep(1.0)  # let the outbox publish InvoiceIssued (it carries the customer) and log

    logs = sorted(Path(local_hub.state_dir, "logs").glob("*.log"))
    text = {p.name: p.read_text(errors="replace") for p in logs}
    # every function on the order's path wrote log output, and this order's id is in it
    on_the_path = (
        "OrdersFunction",
        "Authorizer",
        "Token",
        "InventoryWorker",
        "Reservation",
        "Invoicing",
        "Publisher",
        "FinancePosting",
        "ErpOrders",
        "ErpAcks",
    )
    for function in on_the_path:
        wrote = [name for name, content in text.items() if function.lower() in name.lower() and content]
        assert wrote, (function, list(text))
    assert any(f"pii-{tag}" in content for content in text.values())
    leaks = [(name, field) for name, content in text.items() for field, value in pii.items() if value in content]
    assert not leaks, f"personal data in function logs: {leaks}"
