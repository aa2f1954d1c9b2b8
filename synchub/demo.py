"""Drive one order through the running hub: stock -> order -> reservation -> shipment -> invoice,
then through the systems of record (``synchub.demo_connectors``): ERP master data, the order in the
ERP, the invoice in finance, a finance outage with its buffered backlog, and reconciliation.

Uses the real sample events from ``events/samples`` (with fresh ids), the HTTP API for the
channel's side, the inventory queue for the WMS feed and the event bus for the shipment.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from synchub import channels, demo_connectors
from synchub.client import ChannelClient
from synchub.environment import HubEnvironment

SAMPLES = Path(__file__).resolve().parents[1] / "events" / "samples"
DEMO_CHANNEL = "demo-webshop"  # the demo's own channel: it never rotates the secret of one of yours


DemoFailed = demo_connectors.DemoFailed


def sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / name).read_text())


wait_for = demo_connectors.wait_for  # (what, probe, timeout=60.0): probe's first truthy value, else DemoFailed


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def demo_channel(env: HubEnvironment, out: Callable[[str], None] = print) -> ChannelClient:
    """The demo channel's authenticated client: registered on first use, a fresh secret afterwards
    (the secret is shown once, so a later demo run cannot know the old one)."""
    if not env.api_url:
        raise DemoFailed("the hub environment has no API URL")
    try:
        creds = channels.add_channel(env, DEMO_CHANNEL)
        how = f"synchub channels add {DEMO_CHANNEL}"
    except channels.ChannelError:
        creds = channels.rotate(env, DEMO_CHANNEL)
        how = f"synchub channels rotate {DEMO_CHANNEL}"
    client = ChannelClient(env.api_url, creds.client_id, creds.client_secret, creds.token_url)
    _token, lifetime = client.fetch_token()
    out(f"0. operator -> {how}: client_id={creds.client_id} (client secret shown once)")
    out(f"   channel  -> POST /oauth2/token (client credentials) 200: Bearer token valid {lifetime} s")
    return client


def run(env: HubEnvironment, out: Callable[[str], None] = print, *, systems_of_record: bool = True) -> dict[str, Any]:
    """The demo; ``systems_of_record=False`` leaves out the ERP and finance (steps A and 6-10): the
    order still goes to its invoice, and the hub's master data stays as it is (loading it turns the
    order API's checks on)."""
    channel = demo_channel(env, out)
    if systems_of_record:
        demo_connectors.load_master_data(env, out)
    clients = env.clients()
    run_id = uuid.uuid4().hex[:8]
    order_body = sample("api-post-order.json")
    del order_body["channel"]  # the channel is the authenticated one, taken from the token
    order_body["channel_order_ref"] = f"{order_body['channel_order_ref']}-{run_id}"

    def get_order(order_id: str) -> Any:
        return channel.get_order(order_id).body

    # 1. WMS reports stock for every SKU on the order
    report = sample("sqs-inventory-position-reported.json")
    sequence = int(time.time() * 1000)
    for line in order_body["lines"]:
        msg = json.loads(json.dumps(report))
        msg.update(
            event_id=str(uuid.uuid4()),
            occurred_at=now(),
            sequence=sequence,
            entity_id=f"{line['sku']}@{report['data']['location_id']}",
        )
        msg["data"].update(sku=line["sku"], on_hand=line["quantity"] * 1000, as_of=now())
        clients("sqs").send_message(QueueUrl=env.queues["WorkersInventoryWorkerQueue"], MessageBody=json.dumps(msg))
        out(
            f"1. WMS -> SQS   InventoryPositionReported {line['sku']} @ {report['data']['location_id']}: "
            f"on_hand={msg['data']['on_hand']}"
        )
    inv_table = env.tables["DataInventoryTable"]
    for line in order_body["lines"]:

        def position(sku: str = line["sku"]) -> Any:
            return (
                clients("dynamodb")
                .get_item(
                    TableName=inv_table,
                    Key={"pk": {"S": f"SKU#{sku}"}, "sk": {"S": f"LOC#{report['data']['location_id']}"}},
                )
                .get("Item")
            )

        wait_for(f"inventory position {line['sku']}", position)
    # 2. channel posts the order (and retries it: same key, same answer)
    key = f"demo-{run_id}"
    resp = channel.post_order(order_body, key)
    status, body = resp.status, resp.body
    if status != 202:
        raise DemoFailed(f"POST /orders answered {status}: {body}")
    order_id = body["order_id"]
    out(f"2. channel -> POST /orders  {status} {body['state']} order_id={order_id}")
    retry = channel.post_order(order_body, key)
    out(
        f"   retry with the same Idempotency-Key -> {retry.status}, same order: {retry.body['order_id'] == order_id}, "
        f"Idempotent-Replayed: {retry.header('Idempotent-Replayed')}"
    )
    # 3. OrderAccepted -> outbox -> EventBridge -> reservation
    order = wait_for(
        "reservation",
        lambda: (lambda o: o if o["state"] in ("RESERVED", "BACKORDERED") else None)(get_order(order_id)),
    )
    out(
        f"3. OrderAccepted -> EventBridge -> reservation: {order['state']} "
        f"{[(a['sku'], a['location_id'], a['quantity']) for a in order['allocations']]}"
    )
    # 4. WMS confirms the shipment on the bus (and, at-least-once, sends it twice)
    lines = [{"sku": line["sku"], "quantity": line["quantity"]} for line in order_body["lines"]]
    for attempt in (1, 2):
        ship(env, order_id, f"SHP-{run_id}", lines)
        out(f"4. WMS -> EventBridge ShipmentConfirmed SHP-{run_id} (delivery #{attempt})")
    # 5. exactly one invoice
    order = wait_for(
        "invoice",
        lambda: (lambda o: o if o["state"] == "INVOICED" else None)(get_order(order_id)),
    )
    item = clients("dynamodb").get_item(
        TableName=env.orders_table, Key={"pk": {"S": f"INVOICE#SHP-{run_id}"}, "sk": {"S": "INVOICE"}}
    )["Item"]
    invoice = json.loads(item["doc"]["S"])
    time.sleep(1.0)  # let the duplicate delivery be processed too
    order = get_order(order_id)
    out(
        f"5. invoice {invoice['invoice_number']} ({invoice['invoice_id']}): net {invoice['net_total']} + "
        f"tax {invoice['tax_total']} = {invoice['gross_total']} {invoice['currency']}; "
        f"invoices on the order: {len(order['invoices'])}"
    )
    out("   history: " + " -> ".join(h["state"] for h in order["history"]))
    if systems_of_record:  # 6-10. the ERP, finance, an outage of finance, reconciliation
        demo_connectors.follow_order(env, order_id, invoice, out)
        demo_connectors.outage(
            env, demo_connectors.channel_flow(env, channel, order_body, lambda o, s, ls: ship(env, o, s, ls)), out
        )
    return {"order_id": order_id, "order": order, "invoice": invoice}


def ship(env: HubEnvironment, order_id: str, shipment_id: str, lines: list[dict[str, Any]]) -> None:
    """The WMS confirms a shipment on the bus (the sample event, with fresh ids)."""
    shipment = sample("eventbridge-shipment-confirmed.json")
    detail = shipment["detail"]
    detail.update(event_id=str(uuid.uuid4()), occurred_at=now(), entity_id=shipment_id)
    detail["data"].update(shipment_id=shipment_id, order_id=order_id, shipped_at=now(), lines=lines)
    resp = env.clients()("events").put_events(
        Entries=[
            {
                "Source": shipment["source"],
                "DetailType": shipment["detail-type"],
                "Detail": json.dumps(detail),
                "EventBusName": env.event_bus,
            }
        ]
    )
    if resp.get("FailedEntryCount"):
        raise DemoFailed(f"EventBridge refused the shipment: {resp['Entries']}")
