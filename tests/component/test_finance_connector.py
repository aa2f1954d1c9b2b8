"""The finance connector against the local finance stand-in (``synchub.standins.finance``, run
in-process on 127.0.0.1) and moto provisioned from the template.

Invoices are issued by the real chain (order intake, WMS ShipmentConfirmed on the bus, the invoicing
worker, the outbox publisher) and reach the finance queue through the template's InvoiceIssued rule;
the finance worker's Lambda handler is run on SQS events built by ``hub.sqs_event`` the way the
Lambda poller runs it: handled records deleted, failed ones visible again (SQS's visibility timeout,
not waited for) with their receive count spent, the DLQ reached through the queue's redrive policy.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import Hub
from helpers.finance import (
    FINANCE_DLQ,
    FINANCE_QUEUE,
    UNKNOWN_ACCOUNT,
    Finance,
    Poller,
    breaker_state,
    depth,
    issue_invoices,
    ledger,
    outbox,
    running_finance,
)

# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture
def finance(hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Finance]:
    with running_finance(hub, tmp_path, monkeypatch) as running:
        yield running


# ------------------------------------------------------------------------------------------ helpers


def assert_posted_once(hub: Hub, finance: Finance, invoices: list[dict[str, Any]]) -> None:
    """Every invoice booked exactly once in finance, POSTED in the hub with that document's id, and
    exactly one InvoicePosted event for it."""
    from invoicing.api import load_invoice

    booked = finance.by_reference()
    assert sorted(booked) == sorted(i["invoice_id"] for i in invoices)
    assert all(len(docs) == 1 for docs in booked.values())
    assert len(finance.documents()) == len(invoices)
    posted = {e["entity_id"]: e for e in outbox(hub, "InvoicePosted")}
    assert len(outbox(hub, "InvoicePosted")) == len(invoices)
    for invoice in invoices:
        (doc,) = booked[invoice["invoice_id"]]
        stored = load_invoice(invoice["references"]["shipment_id"])
        assert stored is not None
        assert stored["posting_status"] == "POSTED"
        assert stored["finance_document_id"] == doc["id"]
        entry = ledger(hub, invoice["invoice_id"])
        assert entry is not None and entry["status"] == "POSTED" and entry["finance_document_id"] == doc["id"]
        event = posted[invoice["invoice_id"]]
        assert event["data"]["finance_document_id"] == doc["id"]
        assert event["data"]["target"] == "finance"
        assert event["data"]["gross_total"] == invoice["gross_total"]
        assert doc["gross_total"] == invoice["gross_total"]
        assert doc["customer_account"] == invoice["customer"]["customer_id"]


# ---------------------------------------------------------------------------------------------- tests


def test_invoices_are_posted_once_with_the_finance_reference(hub: Hub, lambda_context: Any, finance: Finance) -> None:
    invoices = issue_invoices(hub, lambda_context, 3)
    poller = Poller(hub, lambda_context)
    assert poller.run_once() == 3
    assert poller.failures == 0 and depth(hub) == 0
    assert_posted_once(hub, finance, invoices)
    doc = finance.by_reference()[invoices[0]["invoice_id"]][0]
    from finance.api import differences, invoice_document

    assert differences(invoices[0], doc) == []
    assert {k: doc[k] for k in invoice_document(invoices[0])} == invoice_document(invoices[0])
    assert doc["document_type"] == "invoice" and doc["customer_account"] == "CUST-8812"
    assert "name" not in json.dumps(doc["references"])  # no personal data goes to finance

    # the same InvoiceIssued again (the bus delivers at least once): the ledger answers, no call
    before = finance.app.requests
    hub.publish_outbox()
    from finance.api import repost_message

    hub.sqs.send_message(QueueUrl=hub.queue(FINANCE_QUEUE), MessageBody=repost_message(invoices[0]))
    assert poller.run_once() == 1 and poller.failures == 0
    assert finance.app.requests == before
    assert_posted_once(hub, finance, invoices)


def test_an_outage_longer_than_every_retry_loses_nothing_and_posts_nothing_twice(
    hub: Hub, lambda_context: Any, finance: Finance
) -> None:
    invoices = issue_invoices(hub, lambda_context, 4)
    finance.fault("down")
    poller = Poller(hub, lambda_context)
    max_receive = json.loads(
        hub.sqs.get_queue_attributes(QueueUrl=hub.queue(FINANCE_QUEUE), AttributeNames=["RedrivePolicy"])["Attributes"][
            "RedrivePolicy"
        ]
    )["maxReceiveCount"]

    # the outage: every invoice is handed to the handler more often than the queue's maxReceiveCount
    deadline = time.monotonic() + 30
    while min(poller.deliveries[i["invoice_id"]] for i in invoices) <= max_receive:
        assert time.monotonic() < deadline
        if not poller.run_once():
            time.sleep(0.2)
    assert breaker_state(hub)["state"] in ("OPEN", "HALF_OPEN")
    # the failures before the breaker opened were retried by SQS (threshold 5: four records failed, the
    # fifth failure opened it and was parked, like every delivery after it, failed probes included) ...
    assert poller.failures == 4
    assert depth(hub, FINANCE_DLQ) == 0  # ... and then the buffer: parked, never dead-lettered
    assert finance.documents() == []
    assert outbox(hub, "InvoicePosted") == []

    # finance recovers: the breaker half-opens, its probe succeeds, it closes and the backlog drains
    finance.fault("recover")
    poller.drain(lambda: depth(hub) == 0 and len(finance.documents()) == len(invoices))
    assert depth(hub, FINANCE_DLQ) == 0
    assert_posted_once(hub, finance, invoices)
    assert breaker_state(hub)["state"] == "CLOSED"

    changes = [(e["data"]["previous"], e["data"]["state"]) for e in outbox(hub, "CircuitStateChanged")]
    assert changes[0] == ("CLOSED", "OPEN")
    assert changes[-1] == ("HALF_OPEN", "CLOSED")
    assert ("OPEN", "HALF_OPEN") in changes
    assert ("HALF_OPEN", "OPEN") in changes  # a probe during the outage failed and opened it again
    # every change is one outbox event with an id derived from the breaker's version
    events = outbox(hub, "CircuitStateChanged")
    assert len({e["event_id"] for e in events}) == len(events)
    assert all(e["source_system"] == "synchub.connectors" for e in events)


def test_a_timeout_after_accept_never_duplicates(hub: Hub, lambda_context: Any, finance: Finance) -> None:
    invoices = issue_invoices(hub, lambda_context, 2)
    poller = Poller(hub, lambda_context)
    finance.fault("duplicate-accept")  # booked, then the connection is closed without an answer
    assert poller.run_once() == 2
    assert poller.failures == 2  # no answer: a technical failure, retried
    assert len(finance.documents()) == 2  # ... but finance has booked both
    assert outbox(hub, "InvoicePosted") == []

    finance.fault("recover")
    posts_before = finance.responses
    poller.drain(lambda: depth(hub) == 0)
    assert_posted_once(hub, finance, invoices)
    # the redelivery looked the documents up by reference instead of posting them again
    assert finance.responses["201"] == posts_before["201"]


def test_a_slow_answer_after_the_read_timeout_never_duplicates(hub: Hub, lambda_context: Any, finance: Finance) -> None:
    (invoice,) = issue_invoices(hub, lambda_context, 1)
    poller = Poller(hub, lambda_context)
    from finance.client import FinanceClient

    FinanceClient.from_env()._token()  # a token first: the slow answer is the invoice post's
    finance.fault("slow", slow_seconds=1.5)  # longer than the connector's read timeout (1 s here)
    assert poller.run_once() == 1 and poller.failures == 1
    time.sleep(0.8)  # the stand-in finishes answering the request it booked
    assert len(finance.documents()) == 1

    finance.fault("recover")
    poller.drain(lambda: depth(hub) == 0)
    assert_posted_once(hub, finance, [invoice])


def test_a_repeated_post_without_the_lookup_gets_the_existing_document(
    hub: Hub, lambda_context: Any, finance: Finance
) -> None:
    """Even a copy that looks fresh (no receive count, no parked mark) cannot book twice: the
    Idempotency-Key and the external reference make finance answer 200 with the first document."""
    from finance.client import FinanceClient
    from finance.logic import invoice_document

    (invoice,) = issue_invoices(hub, lambda_context, 1)
    client = FinanceClient.from_env()
    first = client.post_invoice(invoice_document(invoice), idempotency_key=invoice["invoice_id"])
    assert first.status == 201
    poller = Poller(hub, lambda_context)
    assert poller.run_once() == 1 and poller.failures == 0
    assert_posted_once(hub, finance, [invoice])
    assert finance.by_reference()[invoice["invoice_id"]][0]["id"] == first.json()["id"]


def test_a_429_parks_the_message_for_the_retry_after(hub: Hub, lambda_context: Any, finance: Finance) -> None:
    invoices = issue_invoices(hub, lambda_context, 2)
    poller = Poller(hub, lambda_context)
    from finance.client import FinanceClient

    FinanceClient.from_env()._token()  # a token first: the 429 answers the invoice post itself
    finance.rate_limit(0.25)  # a quarter request a second: Retry-After 3
    assert poller.run_once() == 2
    assert poller.failures == 0  # parked, not failed
    assert finance.responses["429"] == 2
    assert finance.documents() == []
    assert breaker_state(hub)["state"] == "CLOSED"  # a rate limit is no outage
    assert breaker_state(hub).get("failures", 0) == 0
    # the parked copies wait out the Retry-After on the queue
    assert depth(hub) == 2
    assert poller.run_once() == 0
    time.sleep(3.2)
    messages = hub.sqs.receive_message(
        QueueUrl=hub.queue(FINANCE_QUEUE), MaxNumberOfMessages=10, VisibilityTimeout=0, MessageAttributeNames=["All"]
    )["Messages"]
    assert len(messages) == 2
    for m in messages:
        assert m["MessageAttributes"]["synchub-parked"]["StringValue"] == "1"
        assert "429" in m["MessageAttributes"]["synchub-parked-reason"]["StringValue"]

    finance.rate_limit(50)
    poller.drain(lambda: depth(hub) == 0)
    assert_posted_once(hub, finance, invoices)


def test_an_unknown_account_becomes_an_exception_that_is_fixed_and_resubmitted(
    hub: Hub, lambda_context: Any, finance: Finance
) -> None:
    from connectors.api import ExceptionNotOpen, discard, get_exception, list_exceptions, resubmit
    from invoicing.api import load_invoice

    bad, other = issue_invoices(hub, lambda_context, 2, customer_id=UNKNOWN_ACCOUNT)
    poller = Poller(hub, lambda_context)
    assert poller.run_once() == 2
    assert poller.failures == 0  # a business refusal is not retried
    assert depth(hub) == 0 and depth(hub, FINANCE_DLQ) == 0
    assert finance.documents() == []

    listed, cursor = list_exceptions(status="OPEN", target="finance")
    assert cursor is None
    by_entity = {e["entity_id"]: e for e in listed}
    assert set(by_entity) == {bad["invoice_id"], other["invoice_id"]}
    exc = by_entity[bad["invoice_id"]]
    assert exc["target"] == "finance" and exc["entity_type"] == "invoice"
    assert exc["code"] == "unknown_account"
    assert exc["reason"] == (
        f"finance has no customer account {UNKNOWN_ACCOUNT} (unknown_account): "
        "create the account in finance, then resubmit"
    )
    assert exc["refs"]["invoice_id"] == bad["invoice_id"] and exc["refs"]["order_id"] == bad["references"]["order_id"]
    assert exc["status"] == "OPEN" and exc["attempts"] == 1
    assert json.loads(exc["payload"])["detail"]["entity_id"] == bad["invoice_id"]
    assert ledger(hub, bad["invoice_id"])["status"] == "REJECTED"  # type: ignore[index]
    stored = load_invoice(bad["references"]["shipment_id"])
    assert stored is not None and stored["posting_status"] == "REJECTED"
    assert breaker_state(hub)["state"] == "CLOSED"

    # a redelivery of the rejected invoice leaves it to the exception (no call to finance)
    requests = finance.app.requests
    from finance.api import repost_message

    hub.sqs.send_message(QueueUrl=hub.queue(FINANCE_QUEUE), MessageBody=repost_message(stored))
    assert poller.run_once() == 1 and finance.app.requests == requests

    # resubmitted before the account exists: refused again, the same exception re-opened
    resubmit(exc["exception_id"], by="ops-anna")
    assert get_exception(exc["exception_id"])["status"] == "RESUBMITTED"
    assert poller.run_once() == 1 and poller.failures == 0
    again = get_exception(exc["exception_id"])
    assert again["status"] == "OPEN" and again["attempts"] == 2

    # the account is created in finance; the resubmission posts the invoice and resolves it
    finance.add_account(UNKNOWN_ACCOUNT)
    resubmitted = resubmit(exc["exception_id"], by="ops-anna")
    assert resubmitted["status"] == "RESUBMITTED"
    with pytest.raises(ExceptionNotOpen) as not_open:
        resubmit(exc["exception_id"], by="ops-bob")  # never twice
    assert not_open.value.status == "RESUBMITTED"
    assert poller.run_once() == 1 and poller.failures == 0
    assert_posted_once(hub, finance, [bad])
    resolved = get_exception(exc["exception_id"])
    assert resolved["status"] == "RESOLVED"
    assert [h["status"] for h in resolved["history"]] == ["OPEN", "RESUBMITTED", "OPEN", "RESUBMITTED", "RESOLVED"]
    assert list_exceptions(status="RESOLVED")[0][0]["exception_id"] == exc["exception_id"]

    # the other one is discarded: nothing is sent, and it cannot be resubmitted any more
    discarded = discard(by_entity[other["invoice_id"]]["exception_id"], by="ops-anna", reason="customer left")
    assert discarded["status"] == "DISCARDED"
    with pytest.raises(ExceptionNotOpen):
        resubmit(discarded["exception_id"], by="ops-anna")
    with pytest.raises(ExceptionNotOpen):
        resubmit(exc["exception_id"], by="ops-anna")  # RESOLVED
    assert list_exceptions(status="OPEN", target="finance") == ([], None)
    assert depth(hub) == 0


def test_aws_requests_per_posted_invoice(hub: Hub, lambda_context: Any, finance: Finance) -> None:
    """The cost of posting: AWS requests the handler makes per invoice, counted with a botocore
    event hook on the function's clients (a warm container: parameter and secret cached)."""
    from finance.client import FinanceClient
    from synchub_core.aws import client

    invoices = issue_invoices(hub, lambda_context, 10)
    FinanceClient.from_env()._token()  # warm: base URL, credentials and token cached
    calls: Counter[str] = Counter()

    def count(event_name: str, **_: Any) -> None:
        calls[event_name.split(".", 1)[1]] += 1

    for service in ("dynamodb", "sqs", "ssm", "secretsmanager", "events"):
        client(service).meta.events.register("before-call.*.*", count)
    poller = Poller(hub, lambda_context)
    started = time.monotonic()
    assert poller.run_once() == 10 and poller.failures == 0
    elapsed = time.monotonic() - started
    per_invoice = sum(calls.values()) / len(invoices)
    measured = dict(calls)
    assert_posted_once(hub, finance, invoices)
    print(f"AWS requests per posted invoice: {per_invoice:.2f} {measured} in {elapsed:.2f} s")
    # the breaker is read once per invocation, and again after a second (a CLOSED read is reused that long)
    breaker_reads = measured.pop("dynamodb.GetItem") - 10  # and the ledger once per invoice
    assert 1 <= breaker_reads <= 1 + int(elapsed)
    assert measured == {
        "dynamodb.UpdateItem": 10,  # the shared rate limit's window
        "dynamodb.TransactWriteItems": 10,  # ledger + invoice POSTED + InvoicePosted: one transaction
    }
    assert per_invoice <= 3 + (1 + int(elapsed)) / len(invoices)


def test_a_repost_of_an_invoice_finance_lost_books_it_again_and_points_the_hub_at_it(
    hub: Hub, lambda_context: Any, finance: Finance
) -> None:
    """Reconciliation re-posts a POSTED invoice finance no longer holds with ``synchub-resubmit-of``
    (the ledger alone would skip it): finance books it again, the hub points at the new document."""
    from finance.api import repost_message
    from invoicing.api import load_invoice

    (invoice,) = issue_invoices(hub, lambda_context, 1)
    poller = Poller(hub, lambda_context)
    poller.run_once()
    (first,) = finance.documents()
    with finance.app.store.tx() as db:  # finance loses it (the stand-in's "missing" injection)
        db.execute("DELETE FROM documents WHERE external_reference = ?", (invoice["invoice_id"],))
    stored = load_invoice(invoice["references"]["shipment_id"])
    assert stored is not None
    hub.sqs.send_message(
        QueueUrl=hub.queue(FINANCE_QUEUE),
        MessageBody=repost_message(stored),
        MessageAttributes={"synchub-resubmit-of": {"DataType": "String", "StringValue": "reconciliation:run-1"}},
    )
    assert poller.run_once() == 1 and poller.failures == 0
    (second,) = finance.documents()
    assert second["id"] != first["id"]
    again = load_invoice(invoice["references"]["shipment_id"])
    assert again is not None and (again["posting_status"], again["finance_document_id"]) == ("POSTED", second["id"])
    entry = ledger(hub, invoice["invoice_id"])
    assert entry is not None and entry["finance_document_id"] == second["id"] and entry["reposted"] is True
    (event,) = outbox(hub, "InvoicePosted")  # announced once, when it was first posted
    assert event["data"]["finance_document_id"] == first["id"]

    # posted again while finance still holds it: the same document answers, nothing changes
    hub.sqs.send_message(
        QueueUrl=hub.queue(FINANCE_QUEUE),
        MessageBody=repost_message(stored),
        MessageAttributes={"synchub-resubmit-of": {"DataType": "String", "StringValue": "reconciliation:run-2"}},
    )
    assert poller.run_once() == 1 and poller.failures == 0
    assert [d["id"] for d in finance.documents()] == [second["id"]]


def test_issued_between_lists_the_invoices_of_a_window_through_the_day_index(
    hub: Hub, lambda_context: Any, finance: Finance
) -> None:
    from datetime import UTC, datetime, timedelta

    from invoicing.api import issued_between

    invoices = issue_invoices(hub, lambda_context, 3)
    now = datetime.now(UTC)
    found = list(issued_between(now - timedelta(days=2), now + timedelta(minutes=1)))
    assert sorted(i["invoice_id"] for i in found) == sorted(i["invoice_id"] for i in invoices)
    assert found == sorted(found, key=lambda i: i["issued_at"])
    assert list(issued_between(now - timedelta(days=3), now - timedelta(days=2))) == []
    last = max(i["issued_at"] for i in invoices)
    after_last = datetime.fromisoformat(last.replace("Z", "+00:00")) + timedelta(milliseconds=1)
    assert list(issued_between(after_last, now + timedelta(minutes=1))) == []  # [start, end): by issued_at

    Poller(hub, lambda_context).run_once()
    posted = list(issued_between(now - timedelta(hours=1), now + timedelta(minutes=1)))
    assert {i["posting_status"] for i in posted} == {"POSTED"}
    assert all(i["finance_document_id"].startswith("FIN-") for i in posted)
