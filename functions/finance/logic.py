"""Posting invoices and credit memos to cloud finance, idempotently end to end.

An InvoiceIssued is booked as finance document type ``invoice``, a CreditMemoIssued (one per
received return) as a ``credit_note``: its amounts positive (the type says it is a credit), each
line naming the invoice it credits (``original_reference``). Both take the same path, told apart by
the event type (:class:`Subject`). The chain that makes a repeated, parked, redelivered or
timed-out post harmless:

1. the ledger (``POSTING#<invoice_id | credit_memo_id>``): POSTED -> nothing to do;
2. on a redelivery (receive count > 1, or a parked copy) the document is looked up by
   ``external_reference`` (= the hub's invoice or credit memo id) first: a post that timed out
   after finance accepted it is found, not posted again;
3. the POST carries ``Idempotency-Key: <external_reference>`` and finance books one document per
   ``external_reference`` (the same content again answers 200 with the existing document);
4. the ledger entry, the document's POSTED status and its InvoicePosted / CreditMemoPosted outbox
   event are one transaction, conditional on not being POSTED already.

Technical trouble (no answer, 5xx) counts against the shared breaker and fails the record (SQS
retries it); once the breaker is open, work is parked on the queue (``connectors.api.park``) and
never reaches the DLQ. A 429 parks for Retry-After. A refusal of the document itself (400, 409,
422) becomes a business exception, resubmittable once the cause is fixed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from connectors import api as connectors
from invoicing import api as invoicing
from synchub_core.envelope import EventEnvelope, Refused, deterministic_event_id, now_iso
from synchub_core.lambda_support import Delivery

from . import repository
from .client import FinanceClient
from .models import (
    BUSINESS_STATUSES,
    CREDIT_NOTE,
    DOCUMENT_TYPES,
    ENTITY_CREDIT_MEMO,
    ENTITY_TYPES,
    FINANCE_TARGET,
    INVOICE,
    POSTED,
    REJECTED,
    FinanceAuthFailed,
    FinanceRateLimited,
    FinanceRequestFailed,
    PostingFailed,
    PostingOutcome,
)

LINE_FIELDS = ("line_id", "sku", "quantity", "unit_price", "tax_rate", "net_amount", "tax_amount")
REFERENCE_FIELDS = ("order_id", "shipment_id", "channel", "channel_order_ref", "warehouse_id")
CREDIT_REFERENCE_FIELDS = ("order_id", "rma_id", "channel", "channel_order_ref", "warehouse_id")
POSTING_FIELDS = ("posting_status", "finance_document_id", "posted_at", "posting_rejection")


# -- the document finance gets -------------------------------------------------------------------


def document_type_for(event_type: str) -> str:
    try:
        return DOCUMENT_TYPES[event_type]
    except KeyError:
        raise Refused(f"finance posts no document for {event_type}") from None


def invoice_document(invoice: dict[str, Any], document_type: str | None = None) -> dict[str, Any]:
    """The finance document of a hub invoice (the body of ``POST /api/v1/invoices``): no personal
    data, only the customer's account, amounts as decimal strings."""
    references = invoice.get("references") or {}
    return {
        "external_reference": invoice["invoice_id"],
        "document_type": document_type or invoice.get("document_type") or INVOICE,
        "document_number": invoice["invoice_number"],
        "customer_account": (invoice.get("customer") or {}).get("customer_id"),
        "issue_date": str(invoice["issued_at"])[:10],
        "currency": invoice["currency"],
        "lines": [{k: line[k] for k in LINE_FIELDS if k in line} for line in invoice["lines"]],
        "net_total": str(invoice["net_total"]),
        "tax_total": str(invoice["tax_total"]),
        "gross_total": str(invoice["gross_total"]),
        "references": {k: references[k] for k in REFERENCE_FIELDS if references.get(k) is not None},
    }


def credit_note_document(memo: dict[str, Any]) -> dict[str, Any]:
    """The finance credit note of a hub credit memo (the body of ``POST /api/v1/invoices``, type
    ``credit_note``): amounts positive as the memo has them, no personal data. Its lines are
    numbered 1..n in the memo's order (a return may credit one order line from two invoices, or
    resaleable and damaged units of it apart, so the order line id alone does not name a line); each
    names the invoice line it credits: ``original_reference`` (the invoice id, finance's external
    reference of the invoice), ``original_document_number`` and ``original_line_id``."""
    references = memo.get("references") or {}
    return {
        "external_reference": memo["credit_memo_id"],
        "document_type": CREDIT_NOTE,
        "document_number": memo["credit_memo_number"],
        "customer_account": (memo.get("customer") or {}).get("customer_id"),
        "issue_date": str(memo["issued_at"])[:10],
        "currency": memo["currency"],
        "lines": [
            {
                "line_id": str(n),
                **{k: line[k] for k in LINE_FIELDS[1:] if k in line},
                "original_reference": line["invoice_id"],
                "original_document_number": line["invoice_number"],
                "original_line_id": line["line_id"],
            }
            for n, line in enumerate(memo["lines"], 1)
        ],
        "net_total": str(memo["net_total"]),
        "tax_total": str(memo["tax_total"]),
        "gross_total": str(memo["gross_total"]),
        "references": {k: references[k] for k in CREDIT_REFERENCE_FIELDS if references.get(k) is not None},
    }


def document_of(doc: dict[str, Any]) -> dict[str, Any]:
    """The finance document the hub posts for ``doc``, a hub invoice or credit memo."""
    return credit_note_document(doc) if "credit_memo_id" in doc else invoice_document(doc)


def _amount(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _same(a: Any, b: Any) -> bool:
    x, y = _amount(a), _amount(b)
    if x is not None and y is not None:
        return x == y
    return str(a) == str(b)


def differences(invoice: dict[str, Any], doc: dict[str, Any]) -> list[str]:
    """How finance's document ``doc`` differs from the hub's ``invoice`` (or credit memo), business
    readable ("gross_total 45.00 in the hub, 40.00 in finance"); [] when they agree."""
    hub = document_of(invoice)
    out = [
        f"{k} {hub.get(k)} in the hub, {doc.get(k)} in finance"
        for k in (
            "document_type",
            "document_number",
            "customer_account",
            "issue_date",
            "currency",
            "net_total",
            "tax_total",
            "gross_total",
        )
        if not _same(hub.get(k), doc.get(k))
    ]
    theirs = {str(line.get("line_id")): line for line in doc.get("lines") or [] if isinstance(line, dict)}
    for line in hub["lines"]:
        line_id = str(line["line_id"])
        other = theirs.pop(line_id, None)
        if other is None:
            out.append(f"line {line_id} ({line['sku']}) is not in finance")
            continue
        for k in ("sku", "quantity", "unit_price", "net_amount", "tax_amount", "original_reference"):
            if k in line and not _same(line.get(k), other.get(k)):
                out.append(f"line {line_id} {k} {line.get(k)} in the hub, {other.get(k)} in finance")
    for line_id, other in sorted(theirs.items()):
        out.append(f"line {line_id} ({other.get('sku')}) is in finance only")
    return out


def repost_message(invoice: dict[str, Any], region: str = "eu-west-1") -> str:
    """The SQS body of the InvoiceIssued event of ``invoice`` (or the CreditMemoIssued event of a
    credit memo) as the bus rule delivers it (a whole EventBridge event from synchub.invoicing), to
    send to the finance queue again (the envelope's id that of the original event): the poster dedupes
    by its ledger and finance by reference."""
    import json
    import uuid

    event_id, event_type, entity_id, issued_at, data = _reposted(
        {k: v for k, v in invoice.items() if k not in POSTING_FIELDS}
    )
    detail = {
        "event_id": event_id,
        "event_type": event_type,
        "event_version": "1",
        "occurred_at": issued_at,
        "correlation_id": f"repost-{entity_id}"[:128],
        "causation_id": None,
        "source_system": invoicing.INVOICE_SOURCE,
        "entity_id": entity_id,
        "sequence": 1,
        "data": data,
    }
    EventEnvelope.model_validate(detail)
    event = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": event_type,
        "source": invoicing.INVOICE_SOURCE,
        "time": now_iso(),
        "region": region,
        "resources": [],
        "detail": detail,
    }
    return json.dumps(event, separators=(",", ":"))


def _reposted(fields: dict[str, Any]) -> tuple[str, str, str, str, dict[str, Any]]:
    """(event id, event type, entity id, issued at, event data) of a stored invoice or credit memo."""
    if "credit_memo_id" in fields:
        memo = invoicing.CreditMemo.model_validate(fields)
        references = memo.references  # the original event's id, as for an invoice
        event_id = deterministic_event_id("credit-memo", references.order_id, references.rma_id)
        return event_id, invoicing.CREDIT_MEMO_ISSUED, memo.credit_memo_id, memo.issued_at, memo.model_dump(mode="json")
    invoice = invoicing.Invoice.model_validate(fields)
    event_id = deterministic_event_id("invoice", invoice.references.shipment_id)  # the original event's
    return event_id, invoicing.INVOICE_ISSUED, invoice.invoice_id, invoice.issued_at, invoice.model_dump(mode="json")


# -- what a refusal means to the business --------------------------------------------------------


def business_reason(code: str, status: int, body: dict[str, Any], document: dict[str, Any]) -> str:
    """A sentence an operator acts on: what finance refused, why, and what to do."""
    noun = "credit memo" if document.get("document_type") == CREDIT_NOTE else "invoice"
    number = document.get("document_number")
    account = body.get("customer_account") or document.get("customer_account")
    detail = str(body.get("detail") or "").strip()
    if code == "unknown_account":
        return (
            f"finance has no customer account {account} (unknown_account): create the account in finance, then resubmit"
        )
    if code == "duplicate_reference":
        existing = body.get("existing_id") or "a document"
        return (
            f"finance already holds {existing} for {noun} {number} with other content (duplicate_reference)"
            f"{': ' + detail if detail else ''}; correct the document in finance, then resubmit"
        )
    if code == "validation_error":
        return (
            f"finance refused {noun} {number} as invalid (validation_error)"
            f"{': ' + detail if detail else ''}; fix the {noun} data, then resubmit"
        )
    return f"finance refused {noun} {number} with {status} ({code}){': ' + detail if detail else ''}"


# -- posting -------------------------------------------------------------------------------------


@dataclass
class Runtime:
    """What one invocation posts with: the shared breaker and rate limiter, the queue to park on
    (its own), the finance client (made on first use) and the metrics to count on."""

    breaker: connectors.Breaker
    limiter: connectors.RateLimiter
    buffer_queue_url: str
    client: Callable[[], FinanceClient]
    metrics: Metrics | None = None


def _attribute(record: SQSRecord | None, name: str) -> str | None:
    if record is None:
        return None
    value = ((record.raw_event.get("messageAttributes") or {}).get(name) or {}).get("stringValue")
    return value if isinstance(value, str) and value else None


# on a parked copy: an earlier delivery may have reached finance (it sent the post, or it was itself a
# redelivery); a copy parked before any post was sent (breaker open, rate limit) does not carry it
MAYBE_SENT = "synchub-maybe-posted"


def redelivered(record: SQSRecord | None) -> bool:
    """Delivered before in a way that may have reached finance: a receive count above 1 (an earlier
    receive may have posted and then failed or crashed), or a parked copy marked :data:`MAYBE_SENT`.
    Only then is the document looked up before posting: a backlog parked while the breaker was open
    drains with one request per invoice. (Finance's idempotency on the reference covers the rest.)"""
    return record is not None and (connectors.receive_count(record) > 1 or _attribute(record, MAYBE_SENT) is not None)


def attempts_of(record: SQSRecord | None) -> int:
    return 1 if record is None else connectors.receive_count(record) + connectors.parked_count(record)


def _park(
    outcome: PostingOutcome, rt: Runtime, record: SQSRecord | None, seconds: int, reason: str, *, sent: bool = False
) -> PostingOutcome:
    """Park ``record``; ``sent``: this delivery sent the post (finance may have booked it)."""
    if record is None:  # pragma: no cover - every delivery from the batch handler has its record
        raise PostingFailed(f"cannot park without the record: {reason}", outcome)
    marks = {MAYBE_SENT: "1"} if sent or redelivered(record) else None
    connectors.park(record, rt.buffer_queue_url, seconds, reason, metrics=rt.metrics, marks=marks)
    outcome.status, outcome.park_seconds, outcome.reason = "parked", seconds, reason
    return outcome


@dataclass(frozen=True)
class Subject:
    """What one delivery posts: the hub's invoice or credit memo (``doc``, as its event carries it),
    the finance document type it is booked as, and the hub's side of each outcome (ledger entry,
    posting status, outbox event) for its kind."""

    kind: str  # ENTITY_INVOICE or ENTITY_CREDIT_MEMO: a business exception's entity_type
    document_type: str  # finance's: invoice or credit_note
    doc: dict[str, Any]

    @property
    def entity_id(self) -> str:
        return str(self.doc[f"{self.kind}_id"])

    @property
    def noun(self) -> str:
        return self.kind.replace("_", " ")

    def document(self) -> dict[str, Any]:
        """The body finance gets."""
        if self.kind == ENTITY_CREDIT_MEMO:
            return credit_note_document(self.doc)
        return invoice_document(self.doc, self.document_type)

    def posted_ops(
        self, document_id: str, posted_at: str, envelope: EventEnvelope, attempts: int
    ) -> list[dict[str, Any]]:
        """Ledger POSTED + the document POSTED + its InvoicePosted / CreditMemoPosted event."""
        ledger = repository.posted_op(self.doc, document_id, posted_at, attempts, self.kind)
        causes = {"correlation_id": envelope.correlation_id, "causation_id": envelope.event_id}
        posted_event = (
            invoicing.credit_memo_posted_event if self.kind == ENTITY_CREDIT_MEMO else invoicing.invoice_posted_event
        )
        event = posted_event(self.doc, document_id, posted_at, target=FINANCE_TARGET, **causes)
        return [ledger, *invoicing.posted_ops(self.doc, document_id, posted_at, event)]

    def reposted_ops(self, document_id: str, posted_at: str) -> list[dict[str, Any]]:
        """A POSTED document pointing at the document finance booked when it was posted again."""
        ledger = repository.reposted_op(self.entity_id, document_id, posted_at)
        return [ledger, *invoicing.reposted_ops(self.doc, document_id, posted_at)]

    def rejected_ops(self, code: str, at: str, attempts: int) -> list[dict[str, Any]]:
        """Ledger REJECTED + the document's posting status REJECTED (both cancelled if POSTED)."""
        ledger = repository.rejected_op(self.doc, code, at, attempts, self.kind)
        return [ledger, *invoicing.rejected_ops(self.doc, code, at)]

    def refs(self, document: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        """The business exception's references: what an operator searches and acts by."""
        references = self.doc["references"]
        common = {
            "order_id": references.get("order_id"),
            "channel": references.get("channel"),
            "customer_account": document.get("customer_account"),
            "finance_document_id": body.get("existing_id"),
        }
        if self.kind == ENTITY_CREDIT_MEMO:
            return {
                "credit_memo_id": self.entity_id,
                "credit_memo_number": self.doc["credit_memo_number"],
                "rma_id": references.get("rma_id"),
                **common,
            }
        return {
            "invoice_id": self.entity_id,
            "invoice_number": self.doc["invoice_number"],
            "shipment_id": references.get("shipment_id"),
            **common,
        }


def subject_of(envelope: EventEnvelope) -> Subject:
    """The invoice or credit memo of ``envelope``, validated; :class:`Refused` for any other event
    type, ``ValidationError`` (a ValueError) for data that is no invoice or credit memo."""
    document_type = document_type_for(envelope.event_type)
    model = invoicing.CreditMemo if document_type == CREDIT_NOTE else invoicing.Invoice
    doc = model.model_validate(envelope.data).model_dump(mode="json")
    return Subject(ENTITY_TYPES[document_type], document_type, doc)


def admit(delivery: Delivery) -> None:
    """Refuse what can never be posted: another event type, an invoice or credit memo that does not
    validate."""
    subject_of(delivery.envelope)


def post(delivery: Delivery, rt: Runtime) -> PostingOutcome:
    envelope, record = delivery.envelope, delivery.record
    subject = subject_of(envelope)
    entity_id = subject.entity_id
    outcome = PostingOutcome(entity_id, subject.kind)
    resubmission = _attribute(record, connectors.RESUBMIT_OF) is not None

    entry = repository.ledger(entity_id)
    status = entry.get("status") if entry else None
    if status == POSTED and not resubmission:
        outcome.status, outcome.finance_document_id = (
            "already-posted",
            entry.get("finance_document_id") if entry else None,
        )
        return outcome
    if status == REJECTED and not resubmission:  # an exception holds it until an operator resubmits
        outcome.status = "already-rejected"
        return outcome

    admission = rt.breaker.admit()
    if admission.change is not None:
        outcome.changes.append(admission.change)
    if not admission.allowed:
        return _park(outcome, rt, record, admission.retry_after, "finance circuit open")
    wait = rt.limiter.try_acquire()
    if wait:
        return _park(outcome, rt, record, wait, "finance rate limit")

    document = subject.document()
    try:
        client = rt.client()
        booked = client.find(entity_id) if redelivered(record) and status is None else None
        outcome.found_by_lookup = booked is not None
        if booked is None:
            result = client.post_invoice(document, idempotency_key=entity_id)
            if result.status in BUSINESS_STATUSES:
                _note(outcome, rt.breaker.success())  # finance answered: it is up
                return _reject(outcome, rt, record, subject, document, result)
            if result.status not in (200, 201):
                raise FinanceRequestFailed(f"finance answered {result.status} to a {subject.noun} post")
            booked = result.json()
    except FinanceRateLimited as exc:
        return _park(outcome, rt, record, exc.retry_after, "finance answered 429")
    except connectors.TargetUnavailable as exc:
        _note(outcome, rt.breaker.failure(exc.reason))
        open_for = rt.breaker.open_for()
        if open_for:  # opened now (or already): wait in the buffer, not in the retries
            return _park(outcome, rt, record, open_for, f"finance circuit open: {exc.reason}", sent=exc.after_send)
        raise PostingFailed(exc.reason, outcome) from None
    except (FinanceAuthFailed, FinanceRequestFailed) as exc:
        raise PostingFailed(str(exc), outcome) from None

    document_id = booked.get("id")
    if not isinstance(document_id, str) or not document_id:
        raise PostingFailed(f"finance booked the {subject.noun} but answered no document id", outcome)
    _note(outcome, rt.breaker.success())
    outcome.status, outcome.finance_document_id = "posted", document_id
    if status != POSTED:
        ops = subject.posted_ops(document_id, now_iso(), envelope, attempts_of(record))
        if not repository.commit(ops):
            again = repository.ledger(entity_id)
            if not again or again.get("status") != POSTED:
                raise PostingFailed(
                    f"{subject.noun} {entity_id} could not be marked posted (is it in the hub?)", outcome
                )
            outcome.status = "already-posted"  # a concurrent delivery recorded it first
    elif entry is not None and entry.get("finance_document_id") != document_id:
        # posted again on request (reconciliation found it missing in finance): point at the new document
        repository.commit(subject.reposted_ops(document_id, now_iso()))
    if status == REJECTED or resubmission:
        outcome.resolved = connectors.resolve(FINANCE_TARGET, subject.kind, entity_id)
    return outcome


def _note(outcome: PostingOutcome, change: connectors.BreakerChange | None) -> None:
    if change is not None:
        outcome.changes.append(change)


def _reject(
    outcome: PostingOutcome,
    rt: Runtime,
    record: SQSRecord | None,
    subject: Subject,
    document: dict[str, Any],
    result: connectors.HttpResult,
) -> PostingOutcome:
    body = result.json()
    code = str(body.get("error") or f"http_{result.status}")[:64]
    reason = business_reason(code, result.status, body, document)
    try:
        outcome.exception_id = connectors.raise_exception(
            target=FINANCE_TARGET,
            entity_type=subject.kind,
            entity_id=subject.entity_id,
            code=code,
            reason=reason,
            payload=record.body if record is not None else repost_message(subject.doc),
            resubmit_queue_url=rt.buffer_queue_url,
            refs=subject.refs(document, body),
            also=subject.rejected_ops(code, now_iso(), attempts_of(record)),
            metrics=rt.metrics,
        )
    except connectors.TransactionCancelled:
        again = repository.ledger(subject.entity_id)
        if again and again.get("status") == POSTED:
            outcome.status = "already-posted"
            return outcome
        raise PostingFailed(
            f"{subject.noun} {subject.entity_id} could not be marked rejected (is it in the hub?)", outcome
        ) from None
    outcome.status, outcome.code, outcome.reason = "rejected", code, reason
    return outcome
