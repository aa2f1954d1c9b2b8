"""The demo's second half: the systems of record (``synchub.demo`` calls it).

* the ERP drops its master data (products, customers, prices) into the exchange bucket, with a few
  bad rows: the hub applies the good rows and writes a reject report;
* the demo order reaches the ERP in an order file and comes back acknowledged; its invoice is
  posted to cloud finance and comes back POSTED with the finance document id;
* finance goes down: orders are still taken, shipped and invoiced; the invoices wait in the
  finance connector's buffer (its queue) while its circuit breaker is open; finance recovers, the
  breaker half-opens, closes, and the backlog drains; every invoice is posted exactly once;
* reconciliation over today reports the hub and finance in agreement (100 % match).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from synchub.client import ChannelClient
from synchub.environment import HubEnvironment

OUTAGE_ORDERS = 12  # more than the breaker's threshold (5), so it opens and the rest is buffered


class DemoFailed(Exception):
    pass


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.25)
    raise DemoFailed(f"timed out after {timeout:.0f}s waiting for {what}")


def _admins(env: HubEnvironment) -> tuple[Any, Any]:
    from synchub.standins.control import ErpAdmin, FinanceAdmin

    standins = env.standins or {}
    if "finance" not in standins or "erp" not in standins:
        raise DemoFailed("the local hub runs without its finance and ERP stand-ins (--no-standins)")
    return FinanceAdmin(standins["finance"]["admin_url"]), ErpAdmin(standins["erp"]["admin_url"])


def _item(env: HubEnvironment, table: str, pk: str, sk: str) -> dict[str, Any] | None:
    from boto3.dynamodb.types import TypeDeserializer

    raw = env.clients()("dynamodb").get_item(
        TableName=env.tables[table], Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
    )
    item = raw.get("Item")
    if item is None:
        return None
    des = TypeDeserializer()
    return {k: des.deserialize(v) for k, v in item.items()}


def load_master_data(env: HubEnvironment, out: Callable[[str], None] = print) -> None:
    """The ERP exports its master data (with a few bad rows); wait until the hub applied every file."""
    _finance, erp = _admins(env)
    files = erp.export(bad_rows=True)
    out(f"A. ERP -> S3  master data: {', '.join(f['key'].rsplit('/', 1)[-1] for f in files)} (with bad rows)")
    for f in files:
        key = f["key"]

        def applied(key: str = key) -> Any:
            item = _item(env, "DataMasterDataTable", f"MDFILE#{key}", "MDFILE")
            return item if item and item.get("status") in ("APPLIED", "COMPLETE", "DONE") else None

        report = wait_for(f"master data file {key} applied", applied)
        out(
            f"   hub applied {key.split('/')[2]}: {report.get('applied', 0)} row(s), "
            f"{report.get('rejected', 0)} rejected -> {report.get('report_key', 'to-erp/reports/')}"
        )


def follow_order(
    env: HubEnvironment, order_id: str, invoice: dict[str, Any], out: Callable[[str], None] = print
) -> None:
    """The order in the ERP (acknowledged) and its invoice in finance (POSTED with its reference)."""
    ack = wait_for(
        f"the ERP's acknowledgement of {order_id}",
        lambda: (lambda i: i if i and i.get("status") == "ACKED" else None)(
            _item(env, "DataConnectorsTable", f"ERPORDER#{order_id}", "ERPORDER")
        ),
    )
    out(f"6. OrderAccepted -> ERP order file {ack.get('file')} -> ack ACCEPTED {ack.get('erp_order_number')}")
    posted = wait_for(f"invoice {invoice['invoice_id']} posted to finance", lambda: _posted(env, invoice))
    out(
        f"7. InvoiceIssued -> finance: {invoice['invoice_number']} POSTED as {posted['finance_document_id']} "
        "(InvoicePosted emitted)"
    )


def _posted(env: HubEnvironment, invoice: dict[str, Any]) -> dict[str, Any] | None:
    shipment_id = invoice["references"]["shipment_id"]
    item = _item(env, "DataOrdersTable", f"INVOICE#{shipment_id}", "INVOICE")
    if item and item.get("posting_status") == "POSTED":
        return item
    return None


def outage(
    env: HubEnvironment,
    place_and_ship: Callable[[str], dict[str, Any]],
    out: Callable[[str], None] = print,
) -> None:
    """Finance down -> invoices buffer; finance back -> the backlog drains; reconciliation agrees."""
    from synchub.reconcile import reconcile

    finance, _erp = _admins(env)
    finance.fault("down")
    out(f"8. finance DOWN (synchub fault finance down); {OUTAGE_ORDERS} more orders are placed, shipped, invoiced")
    try:
        run = uuid.uuid4().hex[:6]
        with ThreadPoolExecutor(max_workers=4) as pool:
            invoices = list(pool.map(place_and_ship, [f"{run}-{i:02d}" for i in range(OUTAGE_ORDERS)]))
        out(f"   {len(invoices)} invoices issued while finance is down: shipments and invoicing went on")
        breaker = wait_for(
            "the finance breaker to open",
            lambda: (lambda b: b if b and b.get("state") == "OPEN" else None)(
                _item(env, "DataConnectorsTable", "BREAKER#finance", "BREAKER")
            ),
        )
        posted_during = sum(1 for inv in invoices if _posted(env, inv))
        queue = env.queues.get("ConnectorsFinancePostingWorkerQueue")
        depth = _depth(env, queue) if queue else "?"
        dlq = env.queues.get("ConnectorsFinancePostingWorkerDeadLetterQueue")
        out(
            f"   breaker OPEN after {breaker.get('failures', '?')} failures ({breaker.get('last_reason', '')[:60]}); "
            f"{depth} message(s) buffered on the finance queue, {_depth(env, dlq) if dlq else '?'} on its DLQ, "
            f"{posted_during} posted"
        )
    finally:
        finance.fault("recover")
    started = time.monotonic()
    out("9. finance RECOVERED (synchub fault finance recover): the breaker half-opens, one probe, then the drain")
    wait_for("every buffered invoice posted", lambda: all(_posted(env, inv) for inv in invoices), timeout=180)
    breaker = _item(env, "DataConnectorsTable", "BREAKER#finance", "BREAKER") or {}
    documents = [finance.invoices(external_reference=inv["invoice_id"]) for inv in invoices]
    once = sum(1 for docs in documents if len(docs) == 1)
    out(
        f"   backlog drained in {time.monotonic() - started:.0f}s: {len(invoices)} invoices POSTED, "
        f"{once} of {len(invoices)} exactly once in finance; breaker {breaker.get('state')}"
    )
    if once != len(invoices):
        raise DemoFailed(f"finance holds {len(invoices) - once} invoice(s) not exactly once")
    result = reconcile(env, datetime.now(UTC).date(), datetime.now(UTC).date())
    counts = result["invoices"]
    out(
        f"10. synchub reconcile (today): {counts['hub']} invoices in the hub, {counts['finance']} in finance, "
        f"{counts['matched']} matched, {counts['missing']} missing, {counts['mismatched']} mismatched, "
        f"{counts['extra']} extra: invoice match rate {result['invoice_match_rate']}%"
    )


def _depth(env: HubEnvironment, url: str) -> int:
    attrs = (
        env.clients()("sqs")
        .get_queue_attributes(
            QueueUrl=url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )
        .get("Attributes", {})
    )
    return sum(int(v) for v in attrs.values())


def channel_flow(
    env: HubEnvironment,
    channel: ChannelClient,
    body: dict[str, Any],
    ship: Callable[[str, str, list[dict[str, Any]]], None],
) -> Callable[[str], dict[str, Any]]:
    """``place_and_ship(suffix)``: post a copy of ``body``, wait for its reservation, ship it whole,
    and return its invoice."""

    def place_and_ship(suffix: str) -> dict[str, Any]:
        order = json.loads(json.dumps(body))
        order["channel_order_ref"] = f"{body['channel_order_ref']}-{suffix}"
        resp = channel.post_order(order, f"demo-{suffix}")
        if resp.status != 202:
            raise DemoFailed(f"POST /orders answered {resp.status}: {resp.body}")
        order_id = resp.body["order_id"]
        wait_for(
            f"reservation of {order_id}",  # a shipment waits for it (a backordered order's would be held)
            lambda: channel.get_order(order_id).body.get("state") in ("RESERVED", "RELEASED"),
        )
        shipment_id = f"SHP-{suffix}"
        ship(order_id, shipment_id, [{"sku": line["sku"], "quantity": line["quantity"]} for line in order["lines"]])
        return wait_for(
            f"invoice of {order_id}",
            lambda: (lambda i: json.loads(i["doc"]) if i else None)(
                _item(env, "DataOrdersTable", f"INVOICE#{shipment_id}", "INVOICE")
            ),
        )

    return place_and_ship
