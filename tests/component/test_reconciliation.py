"""Reconciliation against moto (provisioned from the template) and the real finance stand-in (its
own process, ``synchub.standins.finance``), with drift injected through the stand-in's admin API:

* a document finance lost (DELETE) is *missing*: the run re-posts it on the finance queue, the
  finance poster posts it again, the next run matches 100 % and re-posts nothing;
* a document with another amount (PATCH) is *mismatched*: one business exception, not two;
* a document the hub never sent (POST) is *extra*;
* an accepted order the ERP never acknowledged is *missing* and sent to the ERP again; an
  acknowledgement with another total is *mismatched*. The ERP's side is played by writing its
  acknowledgement files into the exchange bucket, as the ERP stand-in does, for the real
  acknowledgement handler to read;
* 2,000 invoices are reconciled with flat memory (tracemalloc) and a few dozen AWS requests.

Every run is made as if ten minutes had passed (``now``), so nothing here is within the grace period.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import jsonschema
import pytest

from helpers import REGION, Context, Hub, sample
from helpers.shipments import shipment_detail
from synchub import contracts
from synchub.standins.control import FinanceAdmin, StandIn, start_finance

RECONCILER = "reconciliation.handler.lambda_handler"
POSTER = "finance.handler.lambda_handler"
ERP_ORDERS = "erp.handler.orders_handler"
ERP_ACKS = "erp.handler.acks_handler"
FLOUR, YEAST = "FLOUR-T55-25KG", "YEAST-DRY-500G"
LATER = timedelta(minutes=10)  # past RECONCILE_GRACE_MINUTES


# -- the stack's functions, as the Lambda runtime would run them ---------------------------------


def spec(hub: Hub, handler: str) -> Any:
    found = [f for f in hub.dep.functions.values() if f.handler == handler]
    assert found, f"no function with handler {handler} in the template"
    return found[0]


@contextmanager
def environment_of(hub: Hub, handler: str) -> Iterator[dict[str, str]]:
    """The process environment of ``handler``'s function while inside."""
    from synchub_core.config import reset_settings

    env = spec(hub, handler).environment
    saved = dict(os.environ)
    os.environ.update(env)
    reset_settings()
    try:
        yield env
    finally:
        os.environ.clear()
        os.environ.update(saved)
        reset_settings()


def queue_of(hub: Hub, handler: str) -> str:
    """The friendly name of the queue that feeds ``handler``'s function."""
    fn = next(k for k, f in hub.dep.functions.items() if f.handler == handler)
    (arn,) = [s.source_arn for s in hub.dep.event_sources if s.kind == "sqs" and s.function == fn]
    return next(name for name, q in hub.dep.queues.items() if q["arn"] == arn)


def queue_named(hub: Hub, url: str) -> str:
    return next(name for name, q in hub.dep.queues.items() if q["url"] == url)


def peek(hub: Hub, url: str) -> list[dict[str, Any]]:
    """What waits on the queue at ``url`` (each message once), left there for its consumer."""
    messages = {m["MessageId"]: m for m in hub.receive(queue_named(hub, url), max_messages=100)}
    for m in messages.values():
        hub.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
    return list(messages.values())


@dataclass
class Recon:
    hub: Hub
    finance: FinanceAdmin
    env: dict[str, str]

    def run(self, **kw: Any) -> dict[str, Any]:
        from reconciliation import logic

        with environment_of(self.hub, RECONCILER):
            return logic.run(now=datetime.now(UTC) + LATER, **kw)

    def post(self, context: Any) -> int:
        """Publish the outbox (InvoiceIssued -> the finance queue) and run the finance poster on it."""
        from finance.handler import lambda_handler

        self.hub.publish_outbox()
        return self._drain(queue_of(self.hub, POSTER), POSTER, lambda_handler, context)

    def send_to_erp(self, context: Any) -> int:
        from erp.handler import orders_handler

        self.hub.publish_outbox()
        return self._drain(queue_of(self.hub, ERP_ORDERS), ERP_ORDERS, orders_handler, context)

    def _drain(self, queue: str, handler_name: str, handler: Callable, context: Any) -> int:
        """Run ``handler`` over ``queue`` until it is empty, as the Lambda SQS poller does (message
        attributes included: a re-post asks the poster to post again by one); messages handled."""
        handled = 0
        with environment_of(self.hub, handler_name):
            for _ in range(50):
                messages = self.hub.receive(queue)
                if not messages:
                    return handled
                event = self.hub.sqs_event(queue, messages)
                for record, m in zip(event["Records"], messages, strict=True):
                    record["messageAttributes"] = {
                        name: {"stringValue": a.get("StringValue"), "dataType": a["DataType"]}
                        for name, a in (m.get("MessageAttributes") or {}).items()
                    }
                result = handler(event, context)
                assert result.get("batchItemFailures") == [], result
                for m in messages:
                    self.hub.sqs.delete_message(QueueUrl=self.hub.queue(queue), ReceiptHandle=m["ReceiptHandle"])
                handled += len(messages)
        raise AssertionError(f"{queue} did not drain")


@pytest.fixture
def recon(hub: Hub, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Recon]:
    """moto with the stack, the finance stand-in its base URL parameter and credentials name, and the
    reconciler's environment."""
    from finance import client as finance_client

    env = spec(hub, RECONCILER).environment
    secret = boto3.client("secretsmanager", region_name=REGION).get_secret_value(
        SecretId=env["FINANCE_CREDENTIALS_SECRET_ARN"]
    )
    creds = json.loads(secret["SecretString"])
    proc: StandIn = start_finance(
        tmp_path / "finance", client_id=creds["client_id"], client_secret=creds["client_secret"], rate_limit=0
    )
    try:
        boto3.client("ssm", region_name=REGION).put_parameter(
            Name=env["FINANCE_BASE_URL_PARAMETER"], Value=str(proc.url), Type="String", Overwrite=True
        )
        finance_client.reset()
        yield Recon(hub, FinanceAdmin(proc.admin_url), env)
    finally:
        finance_client.reset()
        assert proc.stop() == 0


# -- the hub's side, made by its own code -----------------------------------------------------------


def accept_order(stock: bool = True) -> str:
    from inventory.logic import apply_report
    from inventory.models import PositionReport
    from orders.logic import accept
    from orders.models import OrderIn

    body = sample("api-post-order.json")
    body["channel_order_ref"] = f"WS-{uuid.uuid4().hex[:10]}"
    if stock:
        for sku in (FLOUR, YEAST):
            report = PositionReport(sku=sku, location_id="UTR-A01", on_hand=10_000, as_of=datetime.now(UTC))
            apply_report(report, time.time_ns(), str(uuid.uuid4()))
    created = accept(OrderIn.model_validate(body), f"idem-{uuid.uuid4().hex}", f"corr-{uuid.uuid4().hex[:8]}")
    assert created.created
    return created.order_id


def outbox_events(hub: Hub, event_type: str) -> list[dict[str, Any]]:
    items = hub.ddb.scan(
        TableName=hub.orders_table,
        FilterExpression="begins_with(pk, :o) AND detail_type = :t",
        ExpressionAttributeValues={":o": {"S": "OUTBOX#"}, ":t": {"S": event_type}},
    )["Items"]
    return [json.loads(i["detail"]["S"]) for i in items]


def invoiced_order(hub: Hub) -> dict[str, Any]:
    """An order accepted, reserved, shipped and invoiced by the hub's code; its invoice."""
    from invoicing.api import load_invoice
    from invoicing.logic import issue
    from reservation.logic import reserve
    from synchub_core.envelope import EventEnvelope

    order_id = accept_order()
    accepted = next(e for e in outbox_events(hub, "OrderAccepted") if e["entity_id"] == order_id)
    reserve(EventEnvelope.model_validate(accepted))
    from orders.api import load

    reserved = load(order_id)
    assert reserved is not None and reserved.allocations
    shipment_id = f"SHP-{uuid.uuid4().hex[:12]}"
    picks = [
        {"sku": a["sku"], "quantity": a["quantity"], "location_id": a["location_id"]} for a in reserved.allocations
    ]  # every reservation, picked where it was made
    issue(EventEnvelope.model_validate(shipment_detail(order_id, shipment_id, picks)))
    invoice = load_invoice(shipment_id)
    assert invoice is not None
    return invoice


def ack_file(hub: Hub, order_id: str, *, net_total: str, status: str = "ACCEPTED", unknown: str | None = None) -> None:
    """Play the ERP: acknowledge ``order_id``'s file (as the ERP stand-in writes it) and run the
    acknowledgement handler on the bucket's notification."""
    from erp import api as erp
    from erp.handler import acks_handler

    with environment_of(hub, ERP_ACKS) as env:
        ledger = erp.acknowledgements([order_id])[order_id]
        stem = ledger["file"].rsplit("/", 1)[-1].removesuffix(".csv")
        key = f"from-erp/acks/ACK-{stem.removeprefix('ORD-')}.csv"
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["order_id", "status", "erp_order_number", "reason", "currency", "net_total", "line_count"])
        writer.writerow([order_id, status, "SO-1234567", "", "EUR", net_total, 2])
        if unknown:  # the ERP acknowledges an order the hub never sent it
            writer.writerow([unknown, "ACCEPTED", "SO-7654321", "", "EUR", "10.00", 1])
        bucket = env["EXCHANGE_BUCKET"]
        boto3.client("s3", region_name=REGION).put_object(Bucket=bucket, Key=key, Body=out.getvalue().encode())
        done = hub.run_worker(queue_of(hub, ERP_ACKS), acks_handler, Context())  # the bucket's notification
        assert done["delivered"] >= 1 and done["batchItemFailures"] == []
        assert erp.acknowledgements([order_id])[order_id]["status"] == ("ACKED" if status == "ACCEPTED" else status)


def refs(result: dict[str, Any], side: str, category: str) -> list[str]:
    return result["references"][side][category]["references"]


def schema(name: str) -> dict[str, Any]:
    return json.loads((contracts.SCHEMAS / name).read_text())


# -- invoices against finance ------------------------------------------------------------------------


def test_a_lost_document_is_reposted_and_posted_again(recon: Recon, lambda_context: Context) -> None:
    invoices = [invoiced_order(recon.hub) for _ in range(3)]
    assert recon.post(lambda_context) == 3
    first = recon.run()
    assert first["invoices"]["matched"] == 3 and first["invoice_match_rate"] == "100.00"

    lost = invoices[1]["invoice_id"]
    recon.finance.delete_invoice(lost)
    second = recon.run()
    assert second["invoices"] == {
        "hub": 3, "finance": 2, "matched": 2, "missing": 1, "in_flight": 0, "rejected": 0, "extra": 0,
        "mismatched": 0, "reposted": 1,
    }  # fmt: skip
    assert refs(second, "invoices", "missing") == [lost]
    assert second["invoice_match_rate"] == "66.67"
    queued = peek(recon.hub, recon.env["FINANCE_QUEUE_URL"])
    assert [json.loads(m["Body"])["detail"]["entity_id"] for m in queued] == [lost]

    assert recon.post(lambda_context) == 1  # the poster takes the re-post...
    assert recon.finance.invoice(lost) is not None  # ...and finance holds the document again
    third = recon.run()
    assert third["invoices"]["matched"] == 3 and third["invoices"]["reposted"] == 0
    assert third["invoice_match_rate"] == "100.00"
    assert len(recon.finance.invoices()) == 3  # never a second document


def test_the_result_is_stored_with_its_event(recon: Recon, lambda_context: Context) -> None:
    from reconciliation.api import load_result

    invoiced_order(recon.hub)
    recon.post(lambda_context)
    result = recon.run()
    with environment_of(recon.hub, RECONCILER):
        assert load_result(result["run_id"]) == result
    (event,) = [e for e in outbox_events(recon.hub, "ReconciliationCompleted") if e["entity_id"] == result["run_id"]]
    assert event["data"]["invoices"] == result["invoices"] and event["data"]["erp_orders"] == result["erp_orders"]
    jsonschema.Draft202012Validator(schema("reconciliation-completed.schema.json")).validate(event)
    items = recon.hub.ddb.scan(
        TableName=recon.env["CONNECTORS_TABLE"],
        FilterExpression="begins_with(pk, :r)",
        ExpressionAttributeValues={":r": {"S": "RECON#"}},
    )["Items"]
    assert [i["pk"]["S"] for i in items] == [f"RECON#{result['run_id']}"]


def test_the_scheduled_function_stores_one_result_and_one_event_per_invocation(
    recon: Recon, lambda_context: Context
) -> None:
    """The schedule's invocation, retried by Lambda after a failure, runs again under the same run id:
    the first stored result and its event stand, the retry adds neither."""
    from reconciliation.handler import lambda_handler

    invoiced_order(recon.hub)
    recon.post(lambda_context)
    scheduled = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [],
        "detail": {},
    }
    with environment_of(recon.hub, RECONCILER):
        first = lambda_handler(scheduled, lambda_context)
        recon.finance.delete_invoice(recon.finance.invoices()[0]["external_reference"])  # it differs the 2nd time
        again = lambda_handler(scheduled, lambda_context)
    assert again == first and first["invoices"]["matched"] == 1
    events = [e for e in outbox_events(recon.hub, "ReconciliationCompleted") if e["entity_id"] == first["run_id"]]
    assert len(events) == 1 and events[0]["causation_id"] == scheduled["id"]
    items = recon.hub.ddb.scan(
        TableName=recon.env["CONNECTORS_TABLE"],
        FilterExpression="begins_with(pk, :r)",
        ExpressionAttributeValues={":r": {"S": "RECON#"}},
    )["Items"]
    assert [i["pk"]["S"] for i in items] == [f"RECON#{first['run_id']}"]


def test_a_changed_amount_is_one_business_exception(recon: Recon, lambda_context: Context) -> None:
    from connectors import api as connectors

    invoice = invoiced_order(recon.hub)
    recon.post(lambda_context)
    recon.finance.patch_invoice(invoice["invoice_id"], gross_total="40.00")
    first = recon.run()
    assert first["invoices"]["mismatched"] == 1 and first["invoices"]["matched"] == 0
    assert first["invoice_match_rate"] == "0.00"
    (detail,) = first["differences"]["invoices"]
    assert detail == {
        "reference": invoice["invoice_id"],
        "differences": f"gross_total {invoice['gross_total']} in the hub, 40.00 in finance",
    }
    second = recon.run()
    assert second["invoices"]["mismatched"] == 1
    with environment_of(recon.hub, RECONCILER):
        items, _ = connectors.list_exceptions(status="OPEN", target="finance")
    (exc,) = [e for e in items if e["entity_id"] == invoice["invoice_id"]]  # one, not one per run
    assert exc["code"] == "reconciliation-mismatch"
    assert f"gross_total {invoice['gross_total']} in the hub, 40.00 in finance" in exc["reason"]
    assert exc["resubmit_queue_url"] == recon.env["FINANCE_QUEUE_URL"]
    assert json.loads(exc["payload"])["detail"]["data"]["invoice_id"] == invoice["invoice_id"]
    assert exc["refs"]["order_id"] == invoice["references"]["order_id"]
    assert recon.hub.depth(queue_named(recon.hub, recon.env["FINANCE_QUEUE_URL"])) == 0  # nothing re-posted


def test_a_document_the_hub_never_sent_is_extra(recon: Recon, lambda_context: Context) -> None:
    invoiced_order(recon.hub)
    recon.post(lambda_context)
    recon.finance.inject_invoice(
        {
            "external_reference": "LEGACY-2026-0042",
            "document_type": "invoice",
            "document_number": "MAN-0042",
            "customer_account": "CUST-8812",
            "issue_date": datetime.now(UTC).date().isoformat(),
            "currency": "EUR",
            "lines": [],
            "net_total": "10.00",
            "tax_total": "0.90",
            "gross_total": "10.90",
        }
    )
    result = recon.run()
    assert result["invoices"]["extra"] == 1 and result["invoices"]["finance"] == 2
    assert refs(result, "invoices", "extra") == ["LEGACY-2026-0042"]
    assert result["invoice_match_rate"] == "100.00"  # extra is listed, not a hub invoice that failed


def test_while_finance_is_down_the_buffered_invoices_are_not_posted_twice(recon: Recon) -> None:
    """Finance's circuit is open: the invoice's InvoiceIssued waits in the poster's buffer, so the
    run lists it as missing (deferred) and adds no copy to the backlog."""
    from connectors.api import Breaker

    invoice = invoiced_order(recon.hub)
    recon.hub.publish_outbox()  # InvoiceIssued -> the finance queue, where the poster parks it
    with environment_of(recon.hub, POSTER):
        breaker = Breaker.from_env("finance")
        while breaker.state().get("state", "CLOSED") == "CLOSED":
            breaker.failure("finance answered 503 (unavailable)")
    queue = queue_named(recon.hub, recon.env["FINANCE_QUEUE_URL"])
    waiting = recon.hub.depth(queue)
    result = recon.run()
    assert result["invoices"]["missing"] == 1 and result["invoices"]["reposted"] == 0
    assert refs(result, "invoices", "deferred") == [invoice["invoice_id"]]
    assert recon.hub.depth(queue) == waiting == 1


def test_no_repair_reports_and_changes_nothing(recon: Recon, lambda_context: Context) -> None:
    invoice = invoiced_order(recon.hub)
    recon.post(lambda_context)
    recon.finance.delete_invoice(invoice["invoice_id"])
    result = recon.run(repair=False)
    assert result["repair"] is False and result["invoices"]["missing"] == 1 and result["invoices"]["reposted"] == 0
    assert recon.hub.depth(queue_named(recon.hub, recon.env["FINANCE_QUEUE_URL"])) == 0


# -- accepted orders against the ERP -----------------------------------------------------------------


def test_an_order_the_erp_never_acknowledged_is_sent_again(recon: Recon, lambda_context: Context) -> None:
    order_id = accept_order(stock=False)
    first = recon.run()
    assert first["erp_orders"]["missing"] == 1 and first["erp_orders"]["resent"] == 1
    assert refs(first, "erp_orders", "missing") == [order_id]
    (resent,) = peek(recon.hub, recon.env["ERP_QUEUE_URL"])
    body = json.loads(resent["Body"])
    assert (body["detail-type"], body["source"], body["detail"]["data"]["order_id"]) == (
        "OrderAccepted",
        "synchub.orders",
        order_id,
    )
    # the ERP connector takes the re-send (with the bus's own delivery, which the outbox adds)
    assert recon.send_to_erp(lambda_context) >= 1
    ack_file(recon.hub, order_id, net_total="113.10", unknown="ord_keyed_in_at_the_erp_0001")
    second = recon.run()
    assert second["erp_orders"]["matched"] == 1 and second["erp_orders"]["missing"] == 0
    assert second["erp_orders"]["resent"] == 0 and second["erp_match_rate"] == "100.00"
    assert second["erp_orders"]["extra"] == 1
    assert refs(second, "erp_orders", "extra") == ["ord_keyed_in_at_the_erp_0001"]


def test_an_acknowledgement_with_another_total_is_a_business_exception(recon: Recon, lambda_context: Context) -> None:
    from connectors import api as connectors

    order_id = accept_order(stock=False)
    recon.send_to_erp(lambda_context)
    ack_file(recon.hub, order_id, net_total="99.00")
    result = recon.run()
    assert result["erp_orders"]["mismatched"] == 1 and result["erp_orders"]["acknowledged"] == 1
    assert result["erp_match_rate"] == "0.00"
    assert result["differences"]["erp_orders"] == [
        {"reference": order_id, "differences": "net_total 113.10 in the hub, 99.00 in the ERP"}
    ]
    with environment_of(recon.hub, RECONCILER):
        items, _ = connectors.list_exceptions(status="OPEN", target="erp")
    (exc,) = [e for e in items if e["entity_id"] == order_id]
    assert exc["code"] == "reconciliation-mismatch" and exc["resubmit_queue_url"] == recon.env["ERP_QUEUE_URL"]
    assert json.loads(exc["payload"])["detail"]["data"]["order_id"] == order_id


# -- at volume ---------------------------------------------------------------------------------------


def _count_requests(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count every AWS API call made in this process from now on, by any client (botocore's)."""
    from botocore.client import BaseClient

    counts: dict[str, int] = {}
    original = BaseClient._make_api_call

    def counted(self: Any, operation: str, params: Any) -> Any:
        key = f"{self.meta.service_model.service_name}:{operation}"
        counts[key] = counts.get(key, 0) + 1
        return original(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counted)
    return counts


def test_2000_invoices_with_flat_memory_and_few_requests(
    recon: Recon,
    monkeypatch: pytest.MonkeyPatch,
    record_property: Callable[[str, Any], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """2,000 invoices of the hub over two days (written as invoicing writes them) against finance's
    2,000 documents. Memory is flat: reconciling both days instead of one (1,000 invoices more)
    raises the peak by a fraction of what those documents take (the run keeps ids and digests, the
    rest of its peak is one page of reads, whatever the window). The AWS requests stay a few dozen
    (BatchGetItem reads 100 invoices a call). Most of its minute is moto serializing the invoices."""
    from finance.api import invoice_document
    from invoicing.repository import _json, day_keys, invoice_key

    count = 2_000
    template = json.loads(json.dumps(sample("eventbridge-invoice-issued.json")["detail"]["data"]))
    today = datetime.now(UTC).replace(hour=8, minute=0, second=0, microsecond=0)
    first_day, second_day = today - timedelta(days=3), today - timedelta(days=2)
    docs: list[str] = []
    with environment_of(recon.hub, RECONCILER):
        for start in range(0, count, 25):
            batch = []
            for n in range(start, start + 25):
                invoice = json.loads(json.dumps(template))
                invoice["invoice_id"] = f"inv_vol{n:020d}"
                invoice["invoice_number"] = f"SH-202611-V{n:09d}"
                at = (first_day if n < count // 2 else second_day) + timedelta(seconds=n)
                invoice["issued_at"] = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
                invoice["references"]["shipment_id"] = f"SHP-VOL-{n:06d}"
                text = _json(invoice)
                docs.append(text)
                item = {
                    **invoice_key(invoice["references"]["shipment_id"]),
                    "item_type": "INVOICE",
                    "order_id": invoice["references"]["order_id"],
                    "invoice_id": invoice["invoice_id"],
                    **day_keys(invoice["issued_at"], invoice["invoice_id"]),
                    "doc": text,
                }
                batch.append({"PutRequest": {"Item": {k: {"S": v} for k, v in item.items()}}})
            recon.hub.ddb.batch_write_item(RequestItems={recon.hub.orders_table: batch})
    for text in docs:
        recon.finance.inject_invoice(invoice_document(json.loads(text)))

    def measured(last_day: datetime) -> tuple[dict[str, Any], int, dict[str, int], float]:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        with monkeypatch.context() as patch:
            counts = _count_requests(patch)
            started = time.perf_counter()
            result = recon.run(window_from=first_day.date(), window_to=last_day.date())
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        return result, peak - base, counts, seconds

    recon.run(window_from=today.date(), window_to=today.date())  # warm: imports, finance's client and token
    tracemalloc.start()
    try:
        held = [json.loads(text) for text in docs[: count // 2]]  # what holding a day's documents would take
        day_of_documents, _ = tracemalloc.get_traced_memory()
        del held
        one_day, one_day_peak, _, _ = measured(first_day)
        two_days, peak, counts, seconds = measured(second_day)
    finally:
        tracemalloc.stop()
    assert one_day["invoices"]["matched"] == count // 2
    assert two_days["invoices"]["matched"] == count and two_days["invoice_match_rate"] == "100.00"
    requests = sum(counts.values())
    growth = peak - one_day_peak
    record_property("reconcile_aws_requests", requests)
    record_property("reconcile_peak_bytes", peak)
    with capsys.disabled():
        print(
            f"\nreconciled {count} invoices in {seconds:.1f}s: {requests} AWS requests {dict(sorted(counts.items()))}; "
            f"peak {peak / 1e6:.1f} MB ({one_day_peak / 1e6:.1f} MB for the first 1,000: {growth / 1e6:+.2f} MB for "
            f"1,000 more, whose documents take {day_of_documents / 1e6:.1f} MB)"
        )
    # one BatchGetItem per 100 invoices (and one more where an index page ends mid-hundred), nothing per invoice
    assert counts["dynamodb:BatchGetItem"] <= count // 100 + counts["dynamodb:Query"]
    assert requests < count // 50
    assert growth < day_of_documents / 5


# -- synchub reconcile ---------------------------------------------------------------------------------


def test_the_cli_runs_the_function_code_against_the_hubs_environment(
    recon: Recon, lambda_context: Context, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``synchub reconcile`` with the environment a deployment describes (here moto's): the report,
    then ``--json`` (the stored result) and the exit status."""
    from reconciliation.api import load_result
    from synchub import cli, environment
    from synchub.environment import HubEnvironment

    dep = recon.hub.dep
    env = HubEnvironment(
        endpoint=None,
        region=REGION,
        queues={name: q["url"] for name, q in dep.queues.items()},
        tables=dep.tables,
        event_bus=dep.bus_name,
        buckets=dep.buckets,
        parameters=dep.parameters,
        secrets=dep.secrets,
    )
    monkeypatch.setattr(environment, "local", lambda state_file=None: env)
    monkeypatch.setenv("RECONCILE_GRACE_MINUTES", "0")  # the CLI runs at the real time: what was just issued counts
    invoices = [invoiced_order(recon.hub) for _ in range(2)]
    recon.post(lambda_context)
    recon.send_to_erp(lambda_context)
    for invoice in invoices:
        ack_file(recon.hub, invoice["references"]["order_id"], net_total="113.10")
    assert cli.main(["reconcile"]) == 0
    report = capsys.readouterr().out
    assert "Invoices: 2 in the hub, 2 finance documents, match rate 100.00%" in report
    assert "Accepted orders: 2 in the hub, 2 acknowledged by the ERP, match rate 100.00%" in report

    recon.finance.delete_invoice(invoices[0]["invoice_id"])
    recon.finance.patch_invoice(invoices[1]["invoice_id"], currency="USD")
    assert cli.main(["reconcile", "--no-repair", "--json"]) == 3  # discrepancies found
    result = json.loads(capsys.readouterr().out)
    assert result["repair"] is False and result["invoice_match_rate"] == "0.00"
    assert refs(result, "invoices", "missing") == [invoices[0]["invoice_id"]]
    assert result["differences"]["invoices"] == [
        {"reference": invoices[1]["invoice_id"], "differences": "currency EUR in the hub, USD in finance"}
    ]
    with environment_of(recon.hub, RECONCILER):
        assert load_result(result["run_id"]) == result
    assert recon.hub.depth(queue_named(recon.hub, recon.env["FINANCE_QUEUE_URL"])) == 0  # report only


# -- replaying the schedules' DLQs ------------------------------------------------------------------


def test_replaying_the_reconciler_and_watchdog_dlqs_runs_them_again(recon: Recon) -> None:
    """A failed hourly run (or a failed watchdog round) is replayed by running it again: the DLQ
    record is cleared and what the run repairs is reported."""
    from synchub import replay
    from synchub.environment import HubEnvironment

    hub = recon.hub
    invoiced_order(hub)  # never posted (no poster runs here): missing in finance
    env = HubEnvironment(
        endpoint=None,
        region=REGION,
        queues={k: v["url"] for k, v in hub.dep.queues.items()},
        tables=hub.dep.tables,
        event_bus=hub.dep.bus_name,
        connector_env={k: v for k, v in recon.env.items() if k.startswith(("FINANCE_", "ERP_", "CONNECTORS_"))},
    )
    failure = json.dumps({"requestPayload": {"detail-type": "Scheduled Event"}, "responseContext": {}})
    for dlq in ("ConnectorsReconcilerDeadLetterQueue", "ConnectorsErpWatchdogDeadLetterQueue"):
        hub.sqs.send_message(QueueUrl=hub.queue(dlq), MessageBody=failure)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RECONCILE_GRACE_MINUTES", "0")
        report = replay.replay(env, "ConnectorsReconcilerDeadLetterQueue")
    # the invoice was never posted, the order never sent to the ERP: both are sent again
    assert (report.target, report.moved, report.swept) == ("reconciliation", 1, 2)
    assert "2 invoice(s) and order(s) re-posted by a reconciliation run" in str(report)
    watchdog = replay.replay(env, "ConnectorsErpWatchdogDeadLetterQueue")
    assert (watchdog.target, watchdog.moved, watchdog.swept) == ("erp-watchdog", 1, 0)
    assert replay.replay(env, "ConnectorsReconcilerDeadLetterQueue").moved == 0
