"""The finance stand-in run in-process and the finance poster run the way the Lambda SQS poller
runs it, for the component tests of the finance connector (invoices and credit memos). They need
the ``hub`` fixture's moto.

:func:`running_finance` starts ``synchub.standins.finance`` on 127.0.0.1 with the provisioned
secret's credentials, points the base URL parameter at it and sets the finance function's
environment (breaker timings shortened for the tests); :class:`Poller` hands the finance queue's
messages to ``finance.handler.lambda_handler``: handled records deleted, failed ones visible again
(SQS's visibility timeout, not waited for) with their receive count spent, the DLQ reached through
the queue's redrive policy."""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from helpers import Hub, sample

FINANCE_QUEUE = "ConnectorsFinancePostingWorkerQueue"
FINANCE_DLQ = "ConnectorsFinancePostingWorkerDeadLetterQueue"
FINANCE_HANDLER = "finance.handler.lambda_handler"
UNKNOWN_ACCOUNT = "CUST-0199"  # every seeded customer has a finance account but this one
INVOICING_QUEUE = "WorkersInvoicingWorkerQueue"
RESERVATION_QUEUE = "WorkersReservationWorkerQueue"
RETURNS_QUEUE = "WorkersInvoicingReturnsWorkerQueue"
LOCATION = "UTR-A-01"  # where the orders are reserved and returns are put back


@dataclass
class Finance:
    """The finance stand-in, in this process."""

    app: Any
    url: str
    env: dict[str, str]

    def fault(self, mode: str, slow_seconds: float | None = None) -> None:
        self.app.fault.set(mode, slow_seconds)

    def documents(self) -> list[dict[str, Any]]:
        return list(self.app.store.page("", "9999-99-99", "", 100_000))

    def by_reference(self) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for doc in self.documents():
            out.setdefault(doc["external_reference"], []).append(doc)
        return out

    def add_account(self, account: str) -> None:
        with self.app.store.tx() as db:
            db.execute("INSERT OR IGNORE INTO accounts (account, added_at) VALUES (?, 'now')", (account,))

    def rate_limit(self, rate: float) -> None:
        from synchub.standins.finance import RateLimiter

        self.app.limiter = RateLimiter(rate)

    @property
    def responses(self) -> Counter[str]:
        return Counter(self.app.responses)


def function_env(hub: Hub, handler: str) -> dict[str, str]:
    (fn,) = [f for f in hub.dep.functions.values() if f.handler == handler]
    return dict(fn.environment)


@contextmanager
def running_finance(hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Finance]:
    """The stand-in with the provisioned secret's credentials, the base URL parameter pointing at it
    and the finance function's environment (breaker timings shortened for the tests)."""
    import boto3

    from finance import client as finance_client
    from synchub.standins.common import Server
    from synchub.standins.finance import FinanceApp, FinanceStore
    from synchub_core.config import reset_settings

    env = function_env(hub, FINANCE_HANDLER)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("BREAKER_OPEN_SECONDS", "1")
    monkeypatch.setenv("BREAKER_MAX_OPEN_SECONDS", "2")
    monkeypatch.setenv("BREAKER_PROBE_SECONDS", "5")
    monkeypatch.setenv("HTTP_READ_TIMEOUT", "1")
    reset_settings()
    secrets = boto3.client("secretsmanager", region_name="eu-west-1")
    credentials = json.loads(secrets.get_secret_value(SecretId=env["FINANCE_CREDENTIALS_SECRET_ARN"])["SecretString"])
    store = FinanceStore(tmp_path / "finance.sqlite3")
    app = FinanceApp(store, credentials["client_id"], credentials["client_secret"])
    server = Server(0, app)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    boto3.client("ssm", region_name="eu-west-1").put_parameter(
        Name=env["FINANCE_BASE_URL_PARAMETER"], Value=server.url, Type="String", Overwrite=True
    )
    finance_client.reset()
    try:
        yield Finance(app, server.url, env)
    finally:
        server.shutdown()
        server.server_close()
        store.close()
        finance_client.reset()


def lambda_attributes(message: dict[str, Any]) -> dict[str, Any]:
    """A received message's attributes as Lambda's SQS record spells them."""
    return {
        name: {
            "stringValue": value.get("StringValue"),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value["DataType"],
        }
        for name, value in (message.get("MessageAttributes") or {}).items()
    }


@dataclass
class Poller:
    """Plays the Lambda SQS poller for the finance queue."""

    hub: Hub
    ctx: Any
    deliveries: Counter[str] = field(default_factory=Counter)  # entity id -> records handed to the handler
    failures: int = 0

    def run_once(self, visibility: int = 1) -> int:
        from finance.handler import lambda_handler

        messages = self.hub.sqs.receive_message(
            QueueUrl=self.hub.queue(FINANCE_QUEUE),
            MaxNumberOfMessages=10,
            VisibilityTimeout=visibility,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        event = self.hub.sqs_event(FINANCE_QUEUE, messages)
        for record, message in zip(event["Records"], messages, strict=True):
            record["messageAttributes"] = lambda_attributes(message)  # hub.sqs_event leaves them out
            self.deliveries[json.loads(message["Body"])["detail"]["entity_id"]] += 1
        try:
            result = lambda_handler(event, self.ctx)
            failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        except BatchProcessingError:  # every record failed: the invocation fails, Lambda retries them all
            failed = {m["MessageId"] for m in messages}
        self.failures += len(failed)
        for m in messages:
            if m["MessageId"] in failed:  # visible again at once: the test does not wait out the timeout
                self.hub.sqs.change_message_visibility(
                    QueueUrl=self.hub.queue(FINANCE_QUEUE), ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
                )
            else:
                self.hub.sqs.delete_message(QueueUrl=self.hub.queue(FINANCE_QUEUE), ReceiptHandle=m["ReceiptHandle"])
        return len(messages)

    def drain(self, until: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not until():
            assert time.monotonic() < deadline, "the finance queue did not drain in time"
            if not self.run_once():
                time.sleep(0.2)  # parked messages are delayed


def depth(hub: Hub, name: str = FINANCE_QUEUE) -> int:
    """Messages on the queue: visible, in flight and delayed (parked ones wait delayed)."""
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    attrs = hub.sqs.get_queue_attributes(QueueUrl=hub.queue(name), AttributeNames=names)["Attributes"]
    return sum(int(attrs.get(n, 0)) for n in names)


def scan(hub: Hub, table: str) -> list[dict[str, Any]]:
    from synchub_core.ddb import from_ddb

    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        resp = hub.ddb.scan(**kwargs)
        items.extend(from_ddb(i) for i in resp["Items"])
        if "LastEvaluatedKey" not in resp:
            return items
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def outbox(hub: Hub, detail_type: str) -> list[dict[str, Any]]:
    items = [
        i for i in scan(hub, hub.orders_table) if i["pk"].startswith("OUTBOX#") and i["detail_type"] == detail_type
    ]
    return sorted((json.loads(i["detail"]) for i in items), key=lambda e: (e["entity_id"], e["sequence"]))


def connectors_table(hub: Hub) -> str:
    return str(hub.dep.tables["DataConnectorsTable"])


def ledger(hub: Hub, entity_id: str) -> dict[str, Any] | None:
    """The finance ledger entry of an invoice or credit memo."""
    from synchub_core.ddb import get

    return get(connectors_table(hub), {"pk": f"POSTING#{entity_id}", "sk": "POSTING"})


def breaker_state(hub: Hub) -> dict[str, Any]:
    from synchub_core.ddb import get

    return get(connectors_table(hub), {"pk": "BREAKER#finance", "sk": "BREAKER"}) or {"state": "CLOSED"}


# -- documents issued by the real chain ----------------------------------------------------------


_report_sequence = itertools.count(1)


def accept_order(customer_id: str = "CUST-8812") -> str:
    from orders.logic import accept
    from orders.models import OrderIn

    body = sample("api-post-order.json")
    body["channel_order_ref"] = f"{body['channel_order_ref']}-{uuid.uuid4().hex[:8]}"
    body["customer"]["customer_id"] = customer_id
    result = accept(OrderIn.model_validate(body), f"idem-{uuid.uuid4().hex}", correlation_id="corr-finance")
    assert result.created
    return result.order_id


def reserve_orders(hub: Hub, ctx: Any, n: int, customer_id: str = "CUST-8812") -> list[str]:
    """``n`` orders of the sample (FLOUR x4, YEAST x10) accepted and reserved at one Utrecht location
    (a shipment is invoiced only for an order whose stock the hub reserved)."""
    from helpers.reservation import FLOUR, YEAST, stock
    from helpers.reservation import run as run_reservation

    sequence = next(_report_sequence)
    for sku in (FLOUR, YEAST):
        stock(sku, LOCATION, 100_000, sequence=sequence)
    order_ids = [accept_order(customer_id) for _ in range(n)]
    hub.publish_outbox()
    while hub.depth(RESERVATION_QUEUE):
        assert run_reservation(hub, ctx)["batchItemFailures"] == []
    return order_ids


def issue_invoices(hub: Hub, ctx: Any, n: int, customer_id: str = "CUST-8812") -> list[dict[str, Any]]:
    """``n`` invoices issued by the real chain; their InvoiceIssued events wait on the finance queue."""
    from helpers.reservation import FLOUR, YEAST
    from helpers.shipments import handler as invoicing_worker
    from helpers.shipments import put_shipment, shipment_detail
    from invoicing.api import load_invoice

    shipments = []
    for order_id in reserve_orders(hub, ctx, n, customer_id):
        shipment_id = f"SHP-{uuid.uuid4().hex[:12].upper()}"
        # everything from the one location it is reserved at (the sample ships from several)
        lines = [
            {"sku": FLOUR, "quantity": 4, "location_id": LOCATION},
            {"sku": YEAST, "quantity": 10, "location_id": LOCATION},
        ]
        put_shipment(hub, shipment_detail(order_id, shipment_id, lines))
        shipments.append(shipment_id)
    worker = invoicing_worker(hub)
    while hub.depth(INVOICING_QUEUE):
        assert hub.run_worker(INVOICING_QUEUE, worker, ctx)["batchItemFailures"] == []
    hub.publish_outbox()
    invoices = [load_invoice(s) for s in shipments]
    assert all(invoices)
    assert depth(hub) == n  # the template's InvoiceIssued rule routed every one
    return [i for i in invoices if i is not None]


def issue_credit_memo(
    hub: Hub, ctx: Any, invoice: dict[str, Any], returned: list[tuple[str, int, str]], rma_id: str | None = None
) -> dict[str, Any]:
    """The credit memo of a return of ``invoice``'s order, issued by the real chain: the return
    authorized (``orders.logic.authorize_return``), received by the warehouse (ReturnReceived from
    wms.utrecht on the bus, ``returned``: ``(line_id, quantity, condition)``), the returns worker,
    the outbox publisher; its CreditMemoIssued waits on the finance queue (with what else is there)."""
    from helpers.reservation import deployed
    from invoicing.api import load_credit_memo
    from invoicing.handler import returns_handler
    from orders.logic import authorize_return
    from orders.models import ReturnIn
    from synchub_core.envelope import now_iso

    references = invoice["references"]
    order_id, rma_id = references["order_id"], rma_id or f"RMA-{uuid.uuid4().hex[:10].upper()}"
    skus = {line["line_id"]: line["sku"] for line in invoice["lines"]}
    request = ReturnIn.model_validate(
        {
            "rma_id": rma_id,
            "reason": "damaged in transit",
            "lines": [{"line_id": line_id, "quantity": quantity} for line_id, quantity, _ in returned],
        }
    )
    authorized = authorize_return(order_id, references["channel"], request, "corr-return", f"idem-{rma_id}")
    assert authorized is not None and authorized[1]
    data = {
        "order_id": order_id,
        "rma_id": rma_id,
        "warehouse_id": references["warehouse_id"],
        "received_at": now_iso(),
        "lines": [
            {"sku": skus[line_id], "quantity": quantity, "condition": condition, "location_id": f"{LOCATION}{n}"}
            for n, (line_id, quantity, condition) in enumerate(returned)
        ],
    }
    envelope = {
        "event_id": str(uuid.uuid4()),
        "event_type": "ReturnReceived",
        "event_version": "1",
        "occurred_at": data["received_at"],
        "correlation_id": "corr-return",
        "causation_id": None,
        "source_system": "wms.utrecht",
        "entity_id": rma_id,
        "sequence": 1,
        "data": data,
    }
    resp = hub.events.put_events(
        Entries=[
            {
                "Source": "wms.utrecht",
                "DetailType": "ReturnReceived",
                "Detail": json.dumps(envelope),
                "EventBusName": hub.dep.bus_name or "synchub-bus",
            }
        ]
    )
    assert resp["FailedEntryCount"] == 0
    worker = deployed(hub, RETURNS_QUEUE, returns_handler)
    while hub.depth(RETURNS_QUEUE):
        assert hub.run_worker(RETURNS_QUEUE, worker, ctx)["batchItemFailures"] == []
    hub.publish_outbox()
    memo = load_credit_memo(order_id, rma_id)
    assert memo is not None, "the returns worker issued no credit memo"
    return memo
