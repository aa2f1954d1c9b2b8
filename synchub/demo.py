"""Drive one order through the running hub: stock -> order -> reservation -> release -> a partial
shipment and the rest (two invoices) -> a return and its credit memo, then through the systems of
record (``synchub.demo_connectors``): ERP master data, the order in the ERP, the invoice in finance,
a finance outage with its buffered backlog, and reconciliation.

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
    # 3. OrderAccepted -> outbox -> EventBridge -> reservation -> OrderReserved -> release to the warehouse
    order = wait_for(
        "reservation and release",
        lambda: (lambda o: o if o["state"] in ("RELEASED", "BACKORDERED") else None)(get_order(order_id)),
    )
    out(
        f"3. OrderAccepted -> reservation -> OrderReserved -> release: {order['state']} to "
        f"{', '.join(order['releases']) or '-'}; picks "
        f"{[(a['sku'], a['location_id'], a['quantity']) for a in order['allocations']]}"
    )
    # 4. a partial shipment: the warehouse ships what it has picked, naming the locations (and, at
    # least once, sends it twice)
    first, second = partial_split(order["allocations"])
    for attempt in (1, 2):
        ship(env, order_id, f"SHP-{run_id}-1", first)
        out(f"4. WMS -> EventBridge ShipmentConfirmed SHP-{run_id}-1 (partial, delivery #{attempt}): {_picks(first)}")
    order = wait_for("first invoice", lambda: (lambda o: o if o["state"] == "SHIPPED" else None)(get_order(order_id)))
    invoice = _document(channel, f"/invoices/{order['shipments'][0]['invoice_id']}")
    out(
        f"   invoice {invoice['invoice_number']}: net {invoice['net_total']} + tax {invoice['tax_total']} = "
        f"{invoice['gross_total']} {invoice['currency']}; order SHIPPED, still reserved: "
        f"{[(a['sku'], a['location_id'], a['quantity']) for a in order['allocations']]}"
    )
    # 5. the rest ships: a second invoice, numbered next in the legal entity's sequence; INVOICED
    ship(env, order_id, f"SHP-{run_id}-2", second)
    out(f"5. WMS -> EventBridge ShipmentConfirmed SHP-{run_id}-2 (the rest): {_picks(second)}")
    order = wait_for("invoice", lambda: (lambda o: o if o["state"] == "INVOICED" else None)(get_order(order_id)))
    time.sleep(1.0)  # let the duplicate delivery be processed too
    order = get_order(order_id)
    numbers = [i["invoice_number"] for i in order["invoices"]]
    out(f"   invoices on the order: {len(order['invoices'])} ({', '.join(numbers)}); state {order['state']}")
    out("   history: " + " -> ".join(dict.fromkeys(h["state"] for h in order["history"])))
    # 5b. a return and its credit memo
    memo = return_and_credit(env, channel, order, run_id, out)
    order = get_order(order_id)
    if systems_of_record:  # 6-10. the ERP, finance, an outage of finance, reconciliation
        demo_connectors.follow_order(env, order_id, invoice, out)
        path = f"/credit-memos/{memo['credit_memo_id']}"
        posted = wait_for(
            f"credit memo {memo['credit_memo_number']} posted to finance",
            lambda: (lambda m: m if m.get("posting_status") == "POSTED" else None)(_document(channel, path)),
        )
        out(
            f"   CreditMemoIssued -> finance: {memo['credit_memo_number']} POSTED as {posted['finance_document_id']} "
            "(a credit note; CreditMemoPosted emitted)"
        )
        demo_connectors.outage(
            env, demo_connectors.channel_flow(env, channel, order_body, lambda o, s, ls: ship(env, o, s, ls)), out
        )
    return {"order_id": order_id, "order": order, "invoice": invoice, "credit_memo": memo}


def _picks(lines: list[dict[str, Any]]) -> str:
    return ", ".join(f"{line['quantity']} x {line['sku']} @ {line['location_id']}" for line in lines)


def partial_split(allocations: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Shipment lines for two partial shipments of a reserved order: every allocation's first units
    (at least one) in the first, the rest in the second."""
    first, second = [], []
    for allocation in allocations:
        quantity = int(allocation["quantity"])
        now_units = max(1, quantity // 2) if len(allocations) > 1 or quantity > 1 else quantity
        pick = {"sku": allocation["sku"], "location_id": allocation["location_id"]}
        if allocation.get("lot"):
            pick["lot"] = allocation["lot"]
        first.append({**pick, "quantity": now_units})
        if quantity - now_units:
            second.append({**pick, "quantity": quantity - now_units})
    if not second:  # one unit in all: nothing left for a second shipment
        raise DemoFailed("the demo order needs more than one unit to ship in two parts")
    return first, second


def _document(channel: ChannelClient, path: str) -> Any:
    resp = channel.get(path)
    if resp.status != 200:
        raise DemoFailed(f"GET {path} answered {resp.status}: {resp.body}")
    return resp.body


def return_and_credit(
    env: HubEnvironment, channel: ChannelClient, order: dict[str, Any], run_id: str, out: Callable[[str], None]
) -> dict[str, Any]:
    """The channel authorizes a return of one unit of the order's first line, the warehouse receives
    it (ReturnReceived, twice: at least once), and the hub issues exactly one credit memo."""
    line = order["lines"][0]
    rma = {
        "rma_id": f"RMA-{run_id}",
        "reason": "damaged in transit",
        "lines": [{"line_id": line["line_id"], "quantity": 1}],
    }
    resp = channel.authorize_return(order["order_id"], rma, f"demo-rma-{run_id}")
    if resp.status != 201:
        raise DemoFailed(f"POST /orders/{{id}}/returns answered {resp.status}: {resp.body}")
    out(f"5b. channel -> POST /orders/{{id}}/returns {resp.status}: {rma['rma_id']} 1 x {line['sku']} authorized")
    location = next(a for a in order["shipments"][0]["lines"] if a["sku"] == line["sku"])["location_id"]
    received = sample("eventbridge-return-received.json")
    detail = received["detail"]
    detail.update(occurred_at=now(), entity_id=rma["rma_id"], correlation_id=f"demo-{run_id}")
    detail["data"].update(
        order_id=order["order_id"],
        rma_id=rma["rma_id"],
        received_at=now(),
        lines=[{"sku": line["sku"], "quantity": 1, "condition": "RESALEABLE", "location_id": location}],
    )
    for attempt in (1, 2):
        detail["event_id"] = str(uuid.uuid4())
        _put(env, received, detail)
        out(f"   WMS -> EventBridge ReturnReceived {rma['rma_id']} (delivery #{attempt}): 1 x {line['sku']} RESALEABLE")
    found = wait_for(
        "credit memo",
        lambda: (lambda o: o if o["credit_memos"] else None)(channel.get_order(order["order_id"]).body),
    )
    memo = _document(channel, f"/credit-memos/{found['credit_memos'][0]['credit_memo_id']}")
    credited = memo["lines"][0]
    out(
        f"   credit memo {memo['credit_memo_number']}: {credited['quantity']} x {credited['sku']} of invoice "
        f"{credited['invoice_number']}, gross {memo['gross_total']} {memo['currency']}; credit memos on the order: "
        f"{len(found['credit_memos'])}"
    )
    return memo


def _put(env: HubEnvironment, event: dict[str, Any], detail: dict[str, Any]) -> None:
    resp = env.clients()("events").put_events(
        Entries=[
            {
                "Source": event["source"],
                "DetailType": event["detail-type"],
                "Detail": json.dumps(detail),
                "EventBusName": env.event_bus,
            }
        ]
    )
    if resp.get("FailedEntryCount"):
        raise DemoFailed(f"EventBridge refused the {event['detail-type']}: {resp['Entries']}")


def ship(env: HubEnvironment, order_id: str, shipment_id: str, lines: list[dict[str, Any]]) -> None:
    """The WMS confirms a shipment on the bus (the sample event, with fresh ids)."""
    shipment = sample("eventbridge-shipment-confirmed.json")
    detail = shipment["detail"]
    detail.update(event_id=str(uuid.uuid4()), occurred_at=now(), entity_id=shipment_id)
    detail["data"].update(shipment_id=shipment_id, order_id=order_id, shipped_at=now(), lines=lines)
    _put(env, shipment, detail)
