"""Reconciliation: over a window of whole UTC days, what the hub holds against what the systems of
record hold, with an idempotent repair of what is missing and a business exception for what differs.

**Invoices against finance** (reference = the hub's invoice id = finance's ``external_reference``):
*matched*, *missing* (in the hub, not in finance; issued within the grace period: *in flight*),
*extra* (in finance, unknown to the hub), *mismatched* (``finance.api.differences``: amount,
currency, lines). **Accepted orders against the ERP's acknowledgements**: *matched*, *missing* (no
ACCEPTED acknowledgement; REJECTED ones are business exceptions already and counted as *rejected*),
*extra* (acknowledgements for orders the hub does not know), *mismatched* (``erp.api.differences``).

Memory stays flat, whatever the window holds:

* invoices: the hub's index lists them by time, finance lists its documents by reference, so a
  merge of two sorted streams would need the hub's ids sorted first (all of them in memory anyway).
  The run therefore keeps the hub's side as **ids only**: invoice id -> (shipment id, a 16-byte
  digest of the document finance should hold, two flags), about 250 bytes an invoice (measured:
  tests/component/test_reconciliation.py), never the documents. It streams the hub's invoices once
  to build that, then finance's documents page by page, checking each against the digest. Only a
  document whose digest differs (or a missing invoice, to re-post it) costs a second read of that
  one hub invoice. A matched invoice costs no read beyond the stream.
* ERP orders are streamed in chunks of 100 ids (one BatchGetItem of acknowledgements each): nothing
  of the window is held.

Repair (default on): every missing invoice is re-posted (``finance.api.repost_message`` to the
finance queue, marked ``synchub-resubmit-of`` so the poster posts it although its ledger says
POSTED: finance lost it; finance dedupes by reference, so a repeated re-post books nothing twice),
every missing ERP order sent again (``erp.api.resend_message``; the sender and the ERP dedupe by
order id), every mismatch raised as a business exception (its id derives from the entity, so a
second run finds it open and changes nothing). What is in flight (younger than the grace period)
or was refused for good (REJECTED: an exception already) is listed, not repaired; so is what was
never sent while the target's circuit is open (*deferred*: the original waits in the connector's
buffer, a copy would only double the backlog). The result is stored with its
``ReconciliationCompleted`` event in one transaction.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import partial
from typing import Any

from connectors.api import RESUBMIT_OF  # a message that asks to post again, whatever the ledger says
from synchub_core.envelope import EventEnvelope, deterministic_event_id, iso, new_event

from . import repository
from .models import (
    MAX_DETAILED,
    MAX_REASON_CHARS,
    RECONCILIATION_COMPLETED,
    RECONCILIATION_MISMATCH,
    RECONCILIATION_SOURCE,
    ErpOrderCounts,
    InvoiceCounts,
    Listed,
    Mismatch,
    ReconciliationCompletedData,
    ReconciliationFailed,
    WindowInvalid,
)

__all__ = [
    "HubOrder",
    "Ports",
    "ReconciliationFailed",
    "RunConfig",
    "WindowInvalid",
    "fingerprint",
    "match_rate",
    "resumable",
    "run",
    "window",
]

DEFAULT_WINDOW_HOURS = 24
DEFAULT_GRACE_MINUTES = 5
MAX_WINDOW_DAYS = 31  # a scheduled run has 5 minutes; a longer look back is several runs
ACK_CHUNK = 100  # order ids per BatchGetItem of acknowledgements
LIST_ATTEMPTS = 4  # finance's listing, read again after a 429 or an outage of a few seconds
MAX_LIST_PAUSE = 10.0
SEND_BATCH = 10  # SendMessageBatch's limit
SEND_BATCH_BYTES = 200_000  # below SQS's 256 KiB per batch
ACCEPTED, REJECTED, SENT = "ACKED", "REJECTED", "SENT"  # the ERP connector's ledger statuses
POSTED, POSTING_REJECTED = "POSTED", "REJECTED"  # invoicing.api's posting statuses of an invoice
REPAIRED_BY = "synchub-reconciliation-run"  # on every message a repair sends: the run that sent it


@dataclass(frozen=True)
class RunConfig:
    window_hours: int = DEFAULT_WINDOW_HOURS
    grace: timedelta = timedelta(minutes=DEFAULT_GRACE_MINUTES)
    finance_queue_url: str = ""
    erp_queue_url: str = ""

    @classmethod
    def from_env(cls) -> RunConfig:
        return cls(
            window_hours=int(os.environ.get("RECONCILE_WINDOW_HOURS") or DEFAULT_WINDOW_HOURS),
            grace=timedelta(minutes=int(os.environ.get("RECONCILE_GRACE_MINUTES") or DEFAULT_GRACE_MINUTES)),
            finance_queue_url=os.environ.get("FINANCE_QUEUE_URL", ""),
            erp_queue_url=os.environ.get("ERP_QUEUE_URL", ""),
        )


@dataclass(frozen=True)
class HubOrder:
    """An accepted order as the ERP side compares it: ``order`` is the OrderAccepted ``data``."""

    order: dict[str, Any]
    created_at: str


@dataclass
class Ports:
    """What a run reads and writes, as callables: the real modules by default (:func:`default_ports`),
    fakes in the unit tests."""

    issued_between: Callable[[datetime, datetime], Iterable[dict[str, Any]]]
    load_invoice: Callable[[str, str], dict[str, Any] | None]  # (invoice_id, shipment_id)
    finance_documents: Callable[[date, date], Iterable[dict[str, Any]]]
    invoice_document: Callable[[dict[str, Any]], dict[str, Any]]
    finance_differences: Callable[[dict[str, Any], dict[str, Any]], list[str]]
    repost_message: Callable[[dict[str, Any]], str]
    accepted_between: Callable[[datetime, datetime], Iterable[str]]
    load_order: Callable[[str], HubOrder | None]
    acknowledgements: Callable[[list[str]], Mapping[str, dict[str, Any]]]
    unknown_acks: Callable[[date], Iterable[dict[str, Any]]]
    erp_differences: Callable[[dict[str, Any], dict[str, Any]], list[str]]
    resend_message: Callable[[dict[str, Any]], str]
    raise_exception: Callable[..., str]
    send: Callable[[str, list[str], dict[str, str]], list[bool]]  # (queue url, bodies, attributes) -> sent?
    circuit_open: Callable[[str], bool]  # the target's breaker is not CLOSED: its buffer holds the work
    store: Callable[[dict[str, Any], EventEnvelope], dict[str, Any]]  # -> the stored result


def default_ports(metrics: Any = None) -> Ports:
    """The real modules (imported here, so the unit tests need none of them); ``metrics`` (Powertools')
    counts the business exceptions raised (``BusinessExceptionRaised``)."""
    from connectors import api as connectors
    from erp import api as erp
    from finance import api as finance
    from invoicing import api as invoicing
    from orders import api as orders

    client: list[Any] = []  # one finance client per run, made on first use
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "eu-west-1"

    def finance_documents(first: date, last: date) -> Iterator[dict[str, Any]]:
        if not client:
            client.append(finance.FinanceClient.from_env())
        return resumable(lambda: client[0].list_invoices(first, last), connectors.TargetUnavailable)

    def load_order(order_id: str) -> HubOrder | None:
        stored = orders.load(order_id)
        if stored is None:
            return None
        # the OrderAccepted data, and what erp.api reads besides: a re-send carries the order's date
        # and correlation id
        data = {
            **stored.doc,
            "order_id": stored.order_id,
            "created_at": stored.created_at,
            "correlation_id": stored.correlation_id,
        }
        return HubOrder(data, stored.created_at)

    return Ports(
        issued_between=invoicing.issued_between,
        load_invoice=invoicing.load_invoice_by_id,
        finance_documents=finance_documents,
        invoice_document=finance.invoice_document,
        finance_differences=finance.differences,
        repost_message=lambda invoice: finance.repost_message(invoice, region=region),
        accepted_between=orders.accepted_between,
        load_order=load_order,
        acknowledgements=erp.acknowledgements,
        unknown_acks=erp.unknown_acks,
        erp_differences=erp.differences,
        resend_message=erp.resend_message,
        raise_exception=partial(connectors.raise_exception, metrics=metrics),
        send=repository.send,
        store=repository.store,
        circuit_open=lambda target: connectors.Breaker.from_env(target).state().get("state", "CLOSED") != "CLOSED",
    )


def resumable(
    listing: Callable[[], Iterable[dict[str, Any]]],
    unavailable: type[Exception],
    *,
    attempts: int = LIST_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[dict[str, Any]]:
    """Finance's documents, listed again from the start where finance answers 429 (its
    ``retry_after``) or is briefly unavailable, skipping what was read already: the listing is
    ordered by reference, so everything up to the last reference yielded is skipped."""
    last: str | None = None
    for attempt in range(1, attempts + 1):
        try:
            for doc in listing():
                reference = str(doc.get("external_reference") or "")
                if last is not None and reference <= last:
                    continue
                last = reference
                yield doc
            return
        except Exception as exc:
            retry_after = getattr(exc, "retry_after", None)  # finance's rate limit (429)
            if attempt == attempts or not (isinstance(retry_after, int) or isinstance(exc, unavailable)):
                raise
            sleep(min(float(retry_after if isinstance(retry_after, int) else 2**attempt), MAX_LIST_PAUSE))


# -- the window --------------------------------------------------------------------------------


def window(window_from: date | None, window_to: date | None, now: datetime, hours: int) -> tuple[date, date]:
    """The UTC days to compare, first and last inclusive: those asked for, else the days the last
    ``hours`` hours touched. One bound alone: from that day to today, or that day only."""
    today = now.astimezone(UTC).date()
    if window_from is None and window_to is None:
        first, last = (now - timedelta(hours=max(hours, 1))).astimezone(UTC).date(), today
    elif window_from is None:
        first = last = window_to  # type: ignore[assignment]
    else:
        first, last = window_from, window_to or max(window_from, today)
    assert first is not None and last is not None
    if first > last:
        raise WindowInvalid(f"the window starts on {first}, after its end {last}")
    days = (last - first).days + 1
    if days > MAX_WINDOW_DAYS:
        raise WindowInvalid(f"the window spans {days} days; reconcile at most {MAX_WINDOW_DAYS} days per run")
    return first, last


def bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """The window as instants: from the first day's midnight (UTC) up to, not including, the
    midnight after the last day."""
    after = last + timedelta(days=1)
    return datetime(first.year, first.month, first.day, tzinfo=UTC), datetime(
        after.year, after.month, after.day, tzinfo=UTC
    )


def days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def new_run_id(now: datetime, seed: str | None = None) -> str:
    """``rec-<UTC time>-<8 hex>``: from ``seed`` (a scheduled invocation's event id, so its retries
    store one result and one event), else random."""
    suffix = hashlib.sha256(seed.encode()).hexdigest()[:8] if seed else uuid.uuid4().hex[:8]
    return f"rec-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{suffix}"


def _instant(value: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# -- comparing ----------------------------------------------------------------------------------


def _num(value: Any) -> str:
    try:
        return str(Decimal(str(value)).normalize())
    except (InvalidOperation, ValueError):
        return str(value)


def fingerprint(doc: Mapping[str, Any]) -> bytes:
    """A digest of what a finance document says (currency, totals, lines, number, account, date),
    insensitive to how a number is written ("18.4" = "18.40") and to the order of the lines. Computed
    for finance's document and for the document the hub would post (``invoice_document``): equal
    digests mean nothing to report; different ones are looked at with ``differences``."""
    lines = sorted(
        [
            str(line.get("line_id")),
            str(line.get("sku")),
            _num(line.get("quantity")),
            _num(line.get("unit_price")),
            _num(line.get("tax_rate")),
            _num(line.get("net_amount")),
            _num(line.get("tax_amount")),
        ]
        for line in (doc.get("lines") or [])
        if isinstance(line, Mapping)
    )
    key = [
        doc.get("document_type"),
        doc.get("document_number"),
        doc.get("customer_account"),
        doc.get("issue_date"),
        doc.get("currency"),
        _num(doc.get("net_total")),
        _num(doc.get("tax_total")),
        _num(doc.get("gross_total")),
        lines,
    ]
    return hashlib.blake2b(json.dumps(key, default=str).encode(), digest_size=16).digest()


def match_rate(matched: int, compared: int) -> str:
    """``matched / compared`` in percent, 2 places half up; ``100.00`` when nothing was compared."""
    if compared <= 0:
        return "100.00"
    rate = (Decimal(matched) * 100 / Decimal(compared)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{min(rate, Decimal(100)):.2f}"


# -- repairs ------------------------------------------------------------------------------------


class _Sender:
    """Messages to one queue, ten per SendMessageBatch, with ``attributes``; reports each reference it sent."""

    def __init__(
        self, send: Callable[[str, list[str], dict[str, str]], list[bool]], queue_url: str, attributes: dict[str, str]
    ) -> None:
        self._send, self._queue_url, self._attributes = send, queue_url, attributes
        self._pending: list[tuple[str, str]] = []
        self._bytes = 0
        self.sent: list[str] = []
        self.failed: list[str] = []

    def add(self, reference: str, body: str) -> None:
        size = len(body.encode())
        if self._pending and (len(self._pending) >= SEND_BATCH or self._bytes + size > SEND_BATCH_BYTES):
            self.flush()
        self._pending.append((reference, body))
        self._bytes += size

    def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending, self._bytes = self._pending, [], 0
        if not self._queue_url:
            raise ReconciliationFailed("cannot repair: the queue to re-send to is not configured on this function")
        outcome = self._send(self._queue_url, [body for _, body in batch], self._attributes)
        for (reference, _), ok in zip(batch, outcome, strict=True):
            (self.sent if ok else self.failed).append(reference)


class _Circuit:
    """Whether a target's breaker is open, asked once per run and only if something needs repair."""

    def __init__(self, circuit_open: Callable[[str], bool], target: str) -> None:
        self._ask, self._target = circuit_open, target
        self._open: bool | None = None

    @property
    def open(self) -> bool:
        if self._open is None:
            self._open = self._ask(self._target)
        return self._open


@dataclass
class _Side:
    """The categories of one side, as they are counted."""

    hub: int = 0
    other: int = 0  # finance documents / ACCEPTED acknowledgements
    matched: int = 0
    missing: Listed = field(default_factory=Listed)
    in_flight: Listed = field(default_factory=Listed)
    rejected: Listed = field(default_factory=Listed)
    extra: Listed = field(default_factory=Listed)
    mismatched: Listed = field(default_factory=Listed)
    details: list[Mismatch] = field(default_factory=list)
    repaired: int = 0
    repair_failed: Listed = field(default_factory=Listed)
    deferred: Listed = field(default_factory=Listed)  # missing, not re-sent: waiting in an open circuit's buffer
    exceptions: int = 0

    def mismatch(self, reference: str, differences: list[str]) -> None:
        self.mismatched.add(reference)
        if len(self.details) < MAX_DETAILED:
            self.details.append(Mismatch(reference, differences))

    @property
    def compared(self) -> int:
        return self.hub - self.in_flight.count - self.rejected.count

    def references(self) -> dict[str, Any]:
        return {
            "missing": self.missing.as_dict(),
            "in_flight": self.in_flight.as_dict(),
            "rejected": self.rejected.as_dict(),
            "extra": self.extra.as_dict(),
            "mismatched": self.mismatched.as_dict(),
            "repair_failed": self.repair_failed.as_dict(),
            "deferred": self.deferred.as_dict(),
        }

    def differences(self) -> list[dict[str, Any]]:
        return [{"reference": m.reference, "differences": _reason(m.differences)} for m in self.details]


def _reason(differences: list[str], limit: int = MAX_REASON_CHARS) -> str:
    text = "; ".join(differences) or "the documents differ"
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


# -- invoices against finance -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _HubInvoice:
    """What a run keeps of one hub invoice while it reads finance's side: ids and a digest."""

    shipment_id: str
    digest: bytes
    young: bool  # issued within the grace period
    posting: str  # its posting_status: "" (not posted yet), POSTED, REJECTED (refused for good: an exception)


def _invoices(first: date, last: date, now: datetime, cfg: RunConfig, ports: Ports, repair: bool, run_id: str) -> _Side:
    side = _Side()
    start, end = bounds(first, last)
    cutoff = now - cfg.grace
    hub: dict[str, _HubInvoice] = {}
    for invoice in ports.issued_between(start, end):
        issued = _instant(invoice.get("issued_at"))
        invoice_id = str(invoice.get("invoice_id") or "")
        if not invoice_id or issued is None or not start <= issued < end or invoice_id in hub:
            continue
        hub[invoice_id] = _HubInvoice(
            shipment_id=str((invoice.get("references") or {}).get("shipment_id") or ""),
            digest=fingerprint(ports.invoice_document(invoice)),
            young=issued > cutoff,
            posting=sys.intern(str(invoice.get("posting_status") or "")),
        )
    side.hub = len(hub)

    for doc in ports.finance_documents(first, last):
        side.other += 1
        reference = str(doc.get("external_reference") or "")
        entry = hub.pop(reference, None)
        if entry is None:  # unknown to the hub (or a second document for one reference)
            side.extra.add(reference or f"finance document {doc.get('id', '?')} without a reference")
            continue
        if entry.digest == fingerprint(doc):
            side.matched += 1
            continue
        stored = ports.load_invoice(reference, entry.shipment_id)
        differences = ports.finance_differences(stored, doc) if stored is not None else []
        if not differences:
            side.matched += 1  # written differently, meaning the same (or vanished since: nothing to say)
            continue
        side.mismatch(reference, differences)
        if repair and stored is not None:
            ports.raise_exception(
                target="finance",
                entity_type="invoice",
                entity_id=reference,
                code=RECONCILIATION_MISMATCH,
                reason=f"reconciliation {run_id}: {_reason(differences, 1000)}",
                payload=ports.repost_message(stored),
                resubmit_queue_url=cfg.finance_queue_url,
                refs=_invoice_refs(stored, doc, run_id),
            )
            side.exceptions += 1

    # the finance poster skips an invoice its ledger has POSTED, unless asked to post it again (as an
    # operator's resubmission does): finance lost it, and takes it once more under the same reference
    sender = _Sender(ports.send, cfg.finance_queue_url, {RESUBMIT_OF: f"reconciliation:{run_id}", REPAIRED_BY: run_id})
    circuit = _Circuit(ports.circuit_open, "finance")
    for invoice_id in sorted(hub):  # what finance does not hold
        entry = hub[invoice_id]
        if entry.posting == POSTING_REJECTED:
            side.rejected.add(invoice_id)
        elif entry.young:
            side.in_flight.add(invoice_id)
        else:
            side.missing.add(invoice_id)
            if repair and entry.posting != POSTED and circuit.open:
                side.deferred.add(invoice_id)  # never posted: its InvoiceIssued waits in the poster's buffer
            elif repair:
                stored = ports.load_invoice(invoice_id, entry.shipment_id)
                if stored is not None:
                    sender.add(invoice_id, ports.repost_message(stored))
    sender.flush()
    side.repaired = len(sender.sent)
    for reference in sender.failed:
        side.repair_failed.add(reference)
    return side


def _invoice_refs(invoice: Mapping[str, Any], doc: Mapping[str, Any], run_id: str) -> dict[str, str]:
    references = invoice.get("references") or {}
    refs = {
        "invoice_id": invoice.get("invoice_id"),
        "invoice_number": invoice.get("invoice_number"),
        "order_id": references.get("order_id"),
        "shipment_id": references.get("shipment_id"),
        "channel": references.get("channel"),
        "finance_document_id": doc.get("id"),
        "reconciliation_run": run_id,
    }
    return {k: str(v) for k, v in refs.items() if v}


# -- accepted orders against the ERP ------------------------------------------------------------


def _chunks(ids: Iterable[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for order_id in ids:
        chunk.append(order_id)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _erp_orders(
    first: date, last: date, now: datetime, cfg: RunConfig, ports: Ports, repair: bool, run_id: str
) -> _Side:
    side = _Side()
    start, end = bounds(first, last)
    cutoff = now - cfg.grace
    sender = _Sender(ports.send, cfg.erp_queue_url, {REPAIRED_BY: run_id})
    circuit = _Circuit(ports.circuit_open, "erp")
    for chunk in _chunks(ports.accepted_between(start, end), ACK_CHUNK):
        acks = ports.acknowledgements(chunk)
        for order_id in chunk:
            ack = acks.get(order_id)
            status = (ack or {}).get("status")
            if status == REJECTED:
                side.hub += 1
                side.rejected.add(order_id)
                continue
            hub_order = ports.load_order(order_id)
            if hub_order is None:  # listed by the index, gone from the table: nothing to compare
                continue
            side.hub += 1
            if ack is not None and status == ACCEPTED:
                side.other += 1
                differences = ports.erp_differences(hub_order.order, ack)
                if not differences:
                    side.matched += 1
                    continue
                side.mismatch(order_id, differences)
                if repair:
                    ports.raise_exception(
                        target="erp",
                        entity_type="order",
                        entity_id=order_id,
                        code=RECONCILIATION_MISMATCH,
                        reason=f"reconciliation {run_id}: {_reason(differences, 1000)}",
                        payload=ports.resend_message(hub_order.order),
                        resubmit_queue_url=cfg.erp_queue_url,
                        refs=_order_refs(hub_order.order, ack, run_id),
                    )
                    side.exceptions += 1
                continue
            created = _instant(hub_order.created_at)
            sent = _instant((ack or {}).get("sent_at")) if status == SENT else None
            if (created is not None and created > cutoff) or (sent is not None and sent > cutoff):
                side.in_flight.add(order_id)
                continue
            side.missing.add(order_id)
            if repair and status is None and circuit.open:
                side.deferred.add(order_id)  # never sent: its OrderAccepted waits in the ERP connector's buffer
            elif repair:
                sender.add(order_id, ports.resend_message(hub_order.order))
    sender.flush()
    side.repaired = len(sender.sent)
    for reference in sender.failed:
        side.repair_failed.add(reference)
    for day in days(first, last):
        for ack in ports.unknown_acks(day):
            side.extra.add(str(ack.get("order_id") or ack.get("sk") or "?"))
    return side


def _order_refs(order: Mapping[str, Any], ack: Mapping[str, Any], run_id: str) -> dict[str, str]:
    refs = {
        "order_id": order.get("order_id"),
        "channel": order.get("channel"),
        "channel_order_ref": order.get("channel_order_ref"),
        "erp_order_number": ack.get("erp_order_number"),
        "reconciliation_run": run_id,
    }
    return {k: str(v) for k, v in refs.items() if v}


# -- the run ------------------------------------------------------------------------------------


def run(
    window_from: date | None = None,
    window_to: date | None = None,
    *,
    repair: bool = True,
    now: datetime | None = None,
    run_id: str | None = None,
    causation_id: str | None = None,
    ports: Ports | None = None,
    config: RunConfig | None = None,
    metrics: Any = None,
) -> dict[str, Any]:
    """Reconcile the window and store the result with its ``ReconciliationCompleted`` event;
    returns the stored result (a retried run with the same ``run_id`` returns the one stored first).

    Raises :class:`WindowInvalid` for a window that is no range of days, and whatever a side raises
    when it cannot be read (nothing is stored then: the scheduled run fails into its DLQ)."""
    cfg = config or RunConfig.from_env()
    started = (now or datetime.now(UTC)).astimezone(UTC)
    first, last = window(window_from, window_to, started, cfg.window_hours)
    ports = ports or default_ports(metrics)
    run_id = run_id or new_run_id(started)
    invoices = _invoices(first, last, started, cfg, ports, repair, run_id)
    orders = _erp_orders(first, last, started, cfg, ports, repair, run_id)
    completed = datetime.now(UTC) if now is None else started
    completed_at = iso(completed)
    data = ReconciliationCompletedData(
        run_id=run_id,
        window_from=first,
        window_to=last,
        repair=repair,
        invoices=InvoiceCounts(
            hub=invoices.hub,
            finance=invoices.other,
            matched=invoices.matched,
            missing=invoices.missing.count,
            in_flight=invoices.in_flight.count,
            rejected=invoices.rejected.count,
            extra=invoices.extra.count,
            mismatched=invoices.mismatched.count,
            reposted=invoices.repaired,
        ),
        erp_orders=ErpOrderCounts(
            hub=orders.hub,
            acknowledged=orders.other,
            matched=orders.matched,
            missing=orders.missing.count,
            in_flight=orders.in_flight.count,
            rejected=orders.rejected.count,
            extra=orders.extra.count,
            mismatched=orders.mismatched.count,
            resent=orders.repaired,
        ),
        invoice_match_rate=match_rate(invoices.matched, invoices.compared),
        erp_match_rate=match_rate(orders.matched, orders.compared),
        completed_at=completed_at,
    )
    result = {
        **data.model_dump(mode="json"),
        "started_at": iso(started),
        "exceptions_raised": {"invoices": invoices.exceptions, "erp_orders": orders.exceptions},
        "references": {"invoices": invoices.references(), "erp_orders": orders.references()},
        "differences": {"invoices": invoices.differences(), "erp_orders": orders.differences()},
    }
    return ports.store(result, completed_event(data, causation_id, completed))


def completed_event(
    data: ReconciliationCompletedData, causation_id: str | None, occurred_at: datetime | None = None
) -> EventEnvelope:
    return new_event(
        RECONCILIATION_COMPLETED,
        entity_id=data.run_id,
        sequence=1,
        data=data.model_dump(mode="json"),
        correlation_id=data.run_id,
        causation_id=causation_id,
        source_system=RECONCILIATION_SOURCE,
        event_id=deterministic_event_id("reconciliation", data.run_id),
        occurred_at=occurred_at,
    )
