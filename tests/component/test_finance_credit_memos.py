"""The finance connector posting credit memos: a return's CreditMemoIssued (issued by the real chain:
order, reservation, shipment, invoice, return authorized and received) reaches the finance queue
through the template's rule and is booked in the finance stand-in as a credit note, once, with the
same idempotency chain as an invoice (ledger, lookup on redelivery, Idempotency-Key, one transaction
of ledger + credit memo POSTED + CreditMemoPosted); a refusal becomes a business exception."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
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
    depth,
    issue_credit_memo,
    issue_invoices,
    ledger,
    outbox,
    running_finance,
)


@pytest.fixture
def finance(hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Finance]:
    with running_finance(hub, tmp_path, monkeypatch) as running:
        yield running


def invoiced_and_posted(hub: Hub, ctx: Any, customer_id: str = "CUST-8812") -> dict[str, Any]:
    (invoice,) = issue_invoices(hub, ctx, 1, customer_id)
    poller = Poller(hub, ctx)
    assert poller.run_once() == 1 and poller.failures == 0
    return invoice


def assert_memo_posted_once(hub: Hub, finance: Finance, memo: dict[str, Any]) -> dict[str, Any]:
    """The memo booked once as a credit note, POSTED in the hub under that document, its ledger entry
    and exactly one CreditMemoPosted; returns finance's document."""
    from invoicing.api import load_credit_memo_by_id

    (doc,) = finance.by_reference()[memo["credit_memo_id"]]
    stored = load_credit_memo_by_id(memo["credit_memo_id"])
    assert stored is not None
    assert (stored["posting_status"], stored["finance_document_id"]) == ("POSTED", doc["id"])
    entry = ledger(hub, memo["credit_memo_id"])
    assert entry is not None
    assert (entry["status"], entry["document_kind"], entry["finance_document_id"]) == (
        "POSTED",
        "credit_memo",
        doc["id"],
    )
    (event,) = [e for e in outbox(hub, "CreditMemoPosted") if e["entity_id"] == memo["credit_memo_id"]]
    assert event["data"]["finance_document_id"] == doc["id"] and event["data"]["target"] == "finance"
    assert event["data"]["credit_memo_number"] == memo["credit_memo_number"]
    assert event["data"]["gross_total"] == memo["gross_total"]
    return doc


def test_a_credit_memo_is_booked_once_as_a_credit_note_of_its_invoice(
    hub: Hub, lambda_context: Any, finance: Finance
) -> None:
    from finance.api import differences, repost_message

    invoice = invoiced_and_posted(hub, lambda_context)
    memo = issue_credit_memo(hub, lambda_context, invoice, [("1", 2, "RESALEABLE"), ("2", 3, "DAMAGED")])
    assert depth(hub) == 1  # the template's CreditMemoIssued rule routed it to the finance queue
    poller = Poller(hub, lambda_context)
    assert poller.run_once() == 1 and poller.failures == 0 and depth(hub) == 0
    doc = assert_memo_posted_once(hub, finance, memo)

    assert doc["document_type"] == "credit_note" and doc["document_number"] == memo["credit_memo_number"]
    assert doc["customer_account"] == invoice["customer"]["customer_id"]
    assert Decimal(doc["gross_total"]) > 0 and doc["gross_total"] == memo["gross_total"]
    assert {line["original_reference"] for line in doc["lines"]} == {invoice["invoice_id"]}
    assert sorted(line["sku"] for line in doc["lines"]) == sorted(line["sku"] for line in invoice["lines"])
    assert all(Decimal(str(line["net_amount"])) > 0 for line in doc["lines"])
    assert differences(memo, doc) == []
    assert "name" not in json.dumps(doc["references"])  # no personal data goes to finance
    assert doc["references"]["rma_id"] == memo["references"]["rma_id"]

    # the invoice and the credit note are apart in finance: invoices are what reconciliation lists
    from finance.api import CREDIT_NOTE, FinanceClient

    client = FinanceClient.from_env()
    today = date.today()
    around = (date(today.year - 1, 1, 1), date(today.year + 1, 12, 31))
    assert [d["external_reference"] for d in client.list_invoices(*around)] == [invoice["invoice_id"]]
    assert [d["external_reference"] for d in client.list_invoices(*around, document_type=CREDIT_NOTE)] == [
        memo["credit_memo_id"]
    ]
    assert len(list(client.list_invoices(*around, document_type=None))) == 2

    # the same CreditMemoIssued again: the ledger answers, finance is not called
    requests = finance.app.requests
    hub.sqs.send_message(QueueUrl=hub.queue(FINANCE_QUEUE), MessageBody=repost_message(memo))
    assert poller.run_once() == 1 and poller.failures == 0
    assert finance.app.requests == requests
    assert_memo_posted_once(hub, finance, memo)


def test_a_timeout_after_accept_never_books_a_credit_note_twice(
    hub: Hub, lambda_context: Any, finance: Finance
) -> None:
    invoice = invoiced_and_posted(hub, lambda_context)
    memo = issue_credit_memo(hub, lambda_context, invoice, [("1", 1, "RESALEABLE")])
    poller = Poller(hub, lambda_context)
    finance.fault("duplicate-accept")  # booked, then the connection closed without an answer
    assert poller.run_once() == 1 and poller.failures == 1
    assert memo["credit_memo_id"] in finance.by_reference()
    assert outbox(hub, "CreditMemoPosted") == []

    finance.fault("recover")
    created = finance.responses["201"]
    poller.drain(lambda: depth(hub) == 0)
    assert_memo_posted_once(hub, finance, memo)
    assert finance.responses["201"] == created  # the redelivery looked it up instead of posting again


def test_a_refused_credit_memo_is_an_exception_resubmitted_once_fixed(
    hub: Hub, lambda_context: Any, finance: Finance
) -> None:
    from connectors.api import get_exception, list_exceptions, resubmit
    from invoicing.api import load_credit_memo_by_id

    (invoice,) = issue_invoices(hub, lambda_context, 1, customer_id=UNKNOWN_ACCOUNT)
    poller = Poller(hub, lambda_context)
    assert poller.run_once() == 1  # the invoice is refused too (no account): its own exception
    memo = issue_credit_memo(hub, lambda_context, invoice, [("2", 4, "RESALEABLE")])
    assert poller.run_once() == 1 and poller.failures == 0
    assert depth(hub) == 0 and depth(hub, FINANCE_DLQ) == 0
    assert memo["credit_memo_id"] not in finance.by_reference()

    listed, _ = list_exceptions(status="OPEN", target="finance")
    (exc,) = [e for e in listed if e["entity_type"] == "credit_memo"]
    assert exc["entity_id"] == memo["credit_memo_id"] and exc["code"] == "unknown_account"
    assert exc["refs"]["credit_memo_number"] == memo["credit_memo_number"]
    assert exc["refs"]["rma_id"] == memo["references"]["rma_id"]
    assert json.loads(exc["payload"])["detail-type"] == "CreditMemoIssued"
    stored = load_credit_memo_by_id(memo["credit_memo_id"])
    assert stored is not None and stored["posting_status"] == "REJECTED"
    assert ledger(hub, memo["credit_memo_id"])["status"] == "REJECTED"  # type: ignore[index]

    finance.add_account(UNKNOWN_ACCOUNT)
    resubmit(exc["exception_id"], by="ops-anna")
    assert poller.run_once() == 1 and poller.failures == 0
    assert_memo_posted_once(hub, finance, memo)
    assert get_exception(exc["exception_id"])["status"] == "RESOLVED"


def test_the_stand_in_takes_credit_notes_only_positive_and_with_their_invoice() -> None:
    from finance.api import credit_note_document
    from synchub.standins.finance import fingerprint, validate

    memo = {
        "credit_memo_id": "cm_1",
        "credit_memo_number": "CM-SH01-2026-000001",
        "issued_at": "2026-03-02T10:00:00Z",
        "currency": "JPY",
        "customer": {"customer_id": "CUST-8812"},
        "references": {"order_id": "ord_1", "rma_id": "RMA-1"},
        "lines": [
            {
                "invoice_id": "inv_1",
                "invoice_number": "INV-SH01-2026-000001",
                "line_id": "1",
                "sku": "SKU-1",
                "quantity": 1,
                "unit_price": "1000",
                "tax_rate": "0.10",
                "net_amount": "1000",
                "tax_amount": "100",
            }
        ],
        "net_total": "1000",
        "tax_total": "100",
        "gross_total": "1100",
    }
    doc = credit_note_document(memo)
    assert validate(doc) == []
    negative = {**doc, "net_total": "-1000", "tax_total": "-100", "gross_total": "-1100"}
    negative["lines"] = [{**doc["lines"][0], "net_amount": "-1000"}]
    assert "net_total of a credit note must not be negative (the type makes it a credit)" in validate(negative)
    assert "line 1: net_amount of a credit note must not be negative (the type makes it a credit)" in validate(negative)
    unlinked = {**doc, "lines": [{k: v for k, v in doc["lines"][0].items() if k != "original_reference"}]}
    assert validate(unlinked) == ["line 1: original_reference (the invoice it credits) is missing"]
    # the invoice a line credits is part of "the same content"; an invoice's fingerprint is unchanged by it
    other = {**doc, "lines": [{**doc["lines"][0], "original_reference": "inv_2"}]}
    assert fingerprint(other) != fingerprint(doc)
    assert fingerprint({**doc, "lines": unlinked["lines"]}) == fingerprint(unlinked)
