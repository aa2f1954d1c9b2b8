"""The ERP connector's rules: which orders go into a file, what an acknowledgement row does to the
ledger, what is resent, how a rejection reads to the business, how the hub's order and the ERP's
acknowledgement compare (pure functions, first), and the three flows built on them (sending a
batch, applying an acknowledgement file, the watchdog), which reach the tables, the bucket and the
queues through ``repository`` and the connectors core.

Breaker semantics for a file interface: the ERP never answers a file on the spot, so a *failure*
is a file it refused whole (FILE_REJECTED), a file it left unanswered past the timeout (the
watchdog) or a file the hub could not write; a *success* is any acknowledgement that is not a
refusal. A half-open breaker admits one file, the probe: its acknowledgement closes the breaker,
its timeout opens it again for longer."""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from itertools import islice
from typing import Any, TypeVar

from aws_lambda_powertools import Metrics

from connectors import api as connectors
from orders import api as orders
from synchub_core.envelope import Refused, deterministic_event_id, iso, new_event
from synchub_core.vocabulary import money

from . import files, repository
from .models import (
    CODE_ERP_REJECTED,
    ENTITY_ORDER,
    ERP_TARGET,
    ORDER_ACCEPTED,
    ORDERS_SOURCE,
    AckOutcome,
    AckRow,
    AckRowInvalid,
    AckStatus,
    ErpOrder,
    LedgerEntry,
    LedgerStatus,
    Pending,
    SendOutcome,
    WatchOutcome,
)

ACK_CHUNK = 100  # acknowledgement rows applied per ledger read (one BatchGetItem)
DEFAULT_FILES_PER_MINUTE = 30
DEFAULT_ACK_TIMEOUT_SECONDS = 120
WATCHDOG_PERIOD_SECONDS = 60  # the watchdog's schedule: rate(1 minute)

T = TypeVar("T")


# -- outbound ----------------------------------------------------------------------------------------


def to_send(order_ids: Iterable[str], ledger: dict[str, LedgerEntry]) -> tuple[list[str], list[str]]:
    """``(to send, already acknowledged)``, each order once, in the order they came.

    Only an ACKED order is left out: a SENT one is sent again (the watchdog or a FILE_REJECTED
    resends it; the ERP books an order id once and acknowledges a repeat with the same number), a
    REJECTED one is a resubmission after the master data was fixed."""
    send: list[str] = []
    acked: list[str] = []
    for order_id in dict.fromkeys(order_ids):
        entry = ledger.get(order_id)
        (acked if entry is not None and entry.status is LedgerStatus.ACKED else send).append(order_id)
    return send, acked


def order_date(occurred_at: datetime) -> str:
    """The order date the ERP books: the day (UTC) the hub accepted the order."""
    return occurred_at.astimezone(UTC).date().isoformat()


def resendable(entry: LedgerEntry | None, file: str) -> bool:
    """Whether an order of ``file`` is resent when the file is refused or overdue: only while it is
    still waiting on that very file (acknowledged, rejected or already in a newer file: no)."""
    return entry is not None and entry.status is LedgerStatus.SENT and entry.file == file


# -- inbound -----------------------------------------------------------------------------------------


class AckAction(Enum):
    ACCEPT = "accept"  # mark ACKED (resolving the order's business exception first, if it has one)
    REJECT = "reject"  # raise the business exception, then mark REJECTED
    CHECK_KNOWN = "check-known"  # no ledger entry: an order the hub knows (ack raced the ledger), or unknown
    DUPLICATE = "duplicate"  # nothing to do: this acknowledgement was applied before, or is stale


def ack_action(row: AckRow, entry: LedgerEntry | None, file: str) -> AckAction:
    """What an ACCEPTED or REJECTED row of ``file``'s acknowledgement does, given the ledger."""
    if entry is None:
        return AckAction.CHECK_KNOWN
    if entry.status is LedgerStatus.ACKED:
        return AckAction.DUPLICATE  # booked is final; a repeat acceptance changes nothing
    if row.status is AckStatus.ACCEPTED:
        return AckAction.ACCEPT  # the ERP booked it, whichever file it was in
    if entry.status is LedgerStatus.SENT and entry.file == file:
        return AckAction.REJECT
    # already rejected for this file, or sent again since in a newer file: a stale rejection
    return AckAction.DUPLICATE


def rejection_reason(order_id: str, channel: str, channel_order_ref: str, erp_reason: str) -> str:
    """The ERP's reason as the business reads it in the exceptions list (ids only)."""
    reason = " ".join(erp_reason.split()).rstrip(".") or "no reason given"
    return (
        f"The ERP rejected order {order_id} ({channel} order {channel_order_ref}): {reason}. "
        "Fix the customer or product in the ERP, then resubmit the order."
    )


def overdue_reason(file: str, seconds: int) -> str:
    return f"the ERP has not acknowledged {file} after {seconds} s"


def file_rejected_reason(file: str, erp_reason: str) -> str:
    reason = " ".join(erp_reason.split()) or "no reason given"
    return f"the ERP refused {file} as a whole: {reason}"


# -- comparison (reconciliation) ---------------------------------------------------------------------


def net_total(order: ErpOrder) -> Decimal:
    """The order's net total as the ERP computes it: quantity x unit price per line, summed,
    rounded to the cent half up."""
    return money(sum((line.quantity * (line.unit_price or Decimal(0)) for line in order.lines), Decimal(0)))


def differences(order: ErpOrder, ack: dict[str, Any]) -> list[str]:
    """How the ERP's acknowledgement (a ledger entry's ``ack_*``) differs from the hub's order, in
    business words; empty when they agree."""
    found: list[str] = []
    currency = ack.get("ack_currency")
    if currency and currency != order.currency:
        found.append(f"currency {order.currency} in the hub, {currency} in the ERP")
    erp_total = ack.get("ack_net_total")
    if erp_total is not None and erp_total != "":
        hub_total = net_total(order)
        if money(Decimal(str(erp_total))) != hub_total:
            found.append(f"net_total {hub_total} in the hub, {money(Decimal(str(erp_total)))} in the ERP")
    lines = ack.get("ack_line_count")
    if lines is not None and lines != "" and int(lines) != len(order.lines):
        found.append(f"{len(order.lines)} lines in the hub, {int(lines)} in the ERP")
    return found


# -- resending ---------------------------------------------------------------------------------------


def order_data(order: Any) -> tuple[dict[str, Any], str, str | None]:
    """``(OrderAccepted data, created_at, correlation_id)`` of an order given as ``orders.api``'s
    ``StoredOrder``, as a dict of one (``doc``, ``order_id``, ``created_at``...), or as the
    OrderAccepted data itself (with ``order_id``)."""
    if not isinstance(order, dict):  # a StoredOrder (duck-typed: logic imports no other domain)
        return {**order.doc, "order_id": order.order_id}, order.created_at, order.correlation_id
    if isinstance(order.get("doc"), dict | str):
        doc = order["doc"] if isinstance(order["doc"], dict) else json.loads(order["doc"])
        return {**doc, "order_id": order["order_id"]}, order.get("created_at") or "", order.get("correlation_id")
    data = {k: v for k, v in order.items() if k in _DATA_FIELDS}
    return data, order.get("created_at") or "", order.get("correlation_id")


# OrderAccepted ``data`` (orders.models.OrderAcceptedData): the accepted request plus its order id
_DATA_FIELDS = frozenset(
    {
        "order_id",
        "channel",
        "channel_order_ref",
        "currency",
        "customer",
        "ship_to",
        "requested_delivery_date",
        "lines",
    }
)


def resend_event(order: Any, region: str, account: str, now: datetime) -> dict[str, Any]:
    """The EventBridge event a rule would deliver for ``order``'s OrderAccepted, to put on the ERP
    orders queue again: the connector dedupes by order id (its ledger), the ERP by order_id."""
    data, created_at, correlation_id = order_data(order)
    order_id = str(data["order_id"])
    occurred = datetime.fromisoformat(created_at.replace("Z", "+00:00")) if created_at else now
    envelope = new_event(
        ORDER_ACCEPTED,
        entity_id=order_id,
        sequence=1,
        data=data,
        correlation_id=correlation_id or order_id,
        causation_id=None,
        source_system=ORDERS_SOURCE,
        event_id=deterministic_event_id("erp-resend", order_id),
        occurred_at=occurred,
    )
    return {
        "version": "0",
        "id": deterministic_event_id("erp-resend-bus", order_id),
        "detail-type": ORDER_ACCEPTED,
        "source": ORDERS_SOURCE,
        "account": account,
        "time": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [],
        "detail": envelope.to_detail(),
    }


def account_and_region() -> tuple[str, str]:
    """The account and region the resent events name (as EventBridge would): the region of the
    function, the account of its queues' URLs."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "eu-west-1"
    for name in ("ERP_QUEUE_URL", "BUFFER_QUEUE_URL"):
        match = re.search(r"/(\d{12})/", os.environ.get(name, ""))
        if match:
            return match.group(1), region
    return "000000000000", region


def resend_body(order: Any) -> str:
    """The SQS body that puts ``order`` on the ERP orders queue again (see :func:`resend_event`)."""
    account, region = account_and_region()
    event = resend_event(order, region, account, datetime.fromtimestamp(clock(), UTC))
    return json.dumps(event, separators=(",", ":"))


# == the flows ==========================================================================================

# the time every flow decides by (the breaker's, the rate windows', the files' names and ages);
# tests replace it to let minutes pass
clock: Callable[[], float] = time.time


def _now() -> float:
    return clock()


def _at(epoch: float) -> str:
    return iso(datetime.fromtimestamp(epoch, UTC))


def _env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise RuntimeError(f"synchub function misconfigured: {name} not set (the CDK stack sets it)")
    return value


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def ack_timeout() -> int:
    return _env_int("ERP_ACK_TIMEOUT_SECONDS", DEFAULT_ACK_TIMEOUT_SECONDS)


def breaker() -> connectors.Breaker:
    """The ERP's breaker (``BREAKER_*``), its half-open probe lease stretched to the acknowledgement
    timeout plus a watchdog round: the probe is a file, answered or found overdue only that late;
    a shorter lease would let a second probe file out while the first one is still undecided."""
    configured = connectors.Breaker.from_env(ERP_TARGET, now=_now).config
    return connectors.Breaker(
        ERP_TARGET,
        failure_threshold=configured.failure_threshold,
        open_seconds=configured.open_seconds,
        max_open_seconds=configured.max_open_seconds,
        probe_seconds=max(configured.probe_seconds, ack_timeout() + WATCHDOG_PERIOD_SECONDS),
        now=_now,
    )


def _batched(items: Iterable[T], n: int) -> Iterator[list[T]]:
    it = iter(items)
    while chunk := list(islice(it, n)):
        yield chunk


# -- sending a batch ---------------------------------------------------------------------------------


def send_batch(pending: list[Pending], metrics: Metrics | None = None) -> SendOutcome:
    """Write one order file with every order of the batch the ERP has not acknowledged yet, once the
    breaker and the file rate admit it; else park every record on its own queue (the buffer).

    After the file is in the bucket: its ERPFILE (OPEN) and each order's ERPORDER (SENT, attempts
    + 1; an ACKED one is never touched). A file that cannot be written is the ERP target's failure
    and every record fails (SQS delivers it again)."""
    outcome = SendOutcome()
    ledger = repository.ledger(p.order.order_id for p in pending)
    send_ids, acked = to_send((p.order.order_id for p in pending), ledger)
    outcome.already_acked = len(acked)
    if not send_ids:
        return outcome
    wanted = set(send_ids)
    pending = [p for p in pending if p.order.order_id in wanted]

    guard = breaker()
    admission = guard.admit()
    if admission.change is not None:
        outcome.changes.append(admission.change)
    if not admission.allowed:
        return _park(outcome, pending, admission.retry_after, "erp circuit open", metrics)
    per_minute = _env_int("ERP_FILES_PER_MINUTE", DEFAULT_FILES_PER_MINUTE)
    wait = connectors.RateLimiter(ERP_TARGET, per_minute=per_minute, now=_now).try_acquire()
    if wait:
        return _park(outcome, pending, wait, f"erp file rate ({per_minute} files a minute)", metrics)

    now = _now()
    first: dict[str, Pending] = {}
    for p in pending:
        first.setdefault(p.order.order_id, p)
    name = files.order_file_name(datetime.fromtimestamp(now, UTC), uuid.uuid4().hex[:8])
    key = files.order_file_key(name)
    body = files.render_orders((p.order, p.order_date) for p in first.values())
    try:
        repository.put_file(_env("EXCHANGE_BUCKET"), key, body)
    except Exception as exc:
        outcome.error = f"could not write {name} for the ERP: {type(exc).__name__}"
        change = guard.failure(outcome.error)
        if change is not None:
            outcome.changes.append(change)
        outcome.failed = [p.message_id for p in pending]
        return outcome

    sent_at = _at(now)
    if not repository.record_file(name, key, send_ids, sent_at, admission.probe):
        answered = repository.load_file(name) or {}
        if answered.get("rejected_at"):  # refused before it was even recorded: send them again
            outcome.error = f"the ERP refused {name} before it was recorded"
            outcome.failed = [p.message_id for p in pending]
            return outcome
    for order_id in send_ids:
        repository.record_sent(order_id, name, sent_at)
    outcome.file, outcome.sent, outcome.probe = name, send_ids, admission.probe
    return outcome


def _park(
    outcome: SendOutcome, pending: list[Pending], delay: int, reason: str, metrics: Metrics | None
) -> SendOutcome:
    """Park every record; one SQS does not take fails instead (it is delivered again)."""
    queue_url = _env("BUFFER_QUEUE_URL")
    outcome.parked_reason = reason
    for p in pending:
        try:
            connectors.park(p.record, queue_url, delay, reason, metrics=metrics)
            outcome.parked += 1
        except Exception:
            outcome.failed.append(p.message_id)
    return outcome


# -- applying an acknowledgement file -------------------------------------------------------------


def apply_ack_file(bucket: str, key: str, metrics: Metrics | None = None) -> AckOutcome:
    """Apply one acknowledgement file, streaming, each row once: ACCEPTED -> ACKED (resolving the
    order's business exception, if any); REJECTED -> a business exception, resubmittable, and
    REJECTED; FILE_REJECTED -> the file's waiting orders resent and a failure of the ERP; an order
    the hub does not know -> ERPUNKNOWN. Then the order file is closed, and any answer that is no
    refusal is the ERP's success. A duplicate acknowledgement file changes nothing.

    Raises :class:`AckFileInvalid` for an object that is no acknowledgement file, ``Refused`` for
    one that is gone."""
    file = files.acknowledged_file(key)
    outcome = AckOutcome(file=file, ack_file=key.rsplit("/", 1)[-1])
    at = _at(_now())
    body = repository.open_file(bucket, key)
    if body is None:
        raise Refused(f"acknowledgement file {key} is gone from the exchange bucket")
    refusal: AckRow | None = None
    for chunk in _batched(files.read_acks(files.chunked(body)), ACK_CHUNK):
        rows: list[AckRow] = []
        for r in chunk:
            if isinstance(r, AckRowInvalid):
                outcome.invalid.append(r)
            elif r.status is AckStatus.FILE_REJECTED:
                refusal = refusal or r
            else:
                rows.append(r)
        entries = repository.ledger(r.order_id for r in rows)
        for r in rows:
            _apply_row(r, entries.get(r.order_id), outcome, at, metrics)
    if refusal is not None:
        _file_rejected(outcome, refusal.reason, at)
    elif repository.close_file(file, outcome.ack_file, at):
        outcome.closed = True
        change = breaker().success()  # the ERP answered a file: it is up
        if change is not None:
            outcome.changes.append(change)
    return outcome


def _apply_row(row: AckRow, entry: LedgerEntry | None, outcome: AckOutcome, at: str, metrics: Metrics | None) -> None:
    action = ack_action(row, entry, outcome.file)
    order = None
    if action is AckAction.CHECK_KNOWN:
        order = orders.load(row.order_id)
        if order is None:
            repository.record_unknown(row, outcome.file, outcome.ack_file, _today(), at)
            outcome.unknown.append(row.order_id)
            return
        action = AckAction.ACCEPT if row.status is AckStatus.ACCEPTED else AckAction.REJECT
    if action is AckAction.DUPLICATE:
        outcome.duplicates += 1
        return
    if action is AckAction.ACCEPT:
        if entry is not None and entry.exception_id:
            # resolved before the ledger says ACKED: a retry after a crash resolves again (a no-op)
            connectors.resolve(ERP_TARGET, ENTITY_ORDER, row.order_id)
        if repository.mark_acked(row, outcome.file, at):
            outcome.acked += 1
        else:
            outcome.duplicates += 1
        return
    # REJECTED: the business exception first (raising an open one again changes nothing), then the ledger
    order = order or orders.load(row.order_id)
    if order is None:
        repository.record_unknown(row, outcome.file, outcome.ack_file, _today(), at)
        outcome.unknown.append(row.order_id)
        return
    doc = order.doc
    exception_id = connectors.raise_exception(
        target=ERP_TARGET,
        entity_type=ENTITY_ORDER,
        entity_id=row.order_id,
        code=CODE_ERP_REJECTED,
        reason=rejection_reason(row.order_id, doc["channel"], doc["channel_order_ref"], row.reason),
        payload=resend_body(order),
        resubmit_queue_url=_env("ERP_QUEUE_URL"),
        refs={
            "order_id": row.order_id,
            "channel": doc["channel"],
            "channel_order_ref": doc["channel_order_ref"],
            "customer_id": (doc.get("customer") or {}).get("customer_id"),
            "erp_file": outcome.file,
            "erp_reason": row.reason,
        },
        metrics=metrics,
    )
    if repository.mark_rejected(row, outcome.file, row.reason, exception_id, at):
        outcome.rejected += 1
        outcome.exceptions.append(exception_id)
    else:
        outcome.duplicates += 1


def _today() -> date:
    return datetime.fromtimestamp(_now(), UTC).date()


def _file_rejected(outcome: AckOutcome, reason: str, at: str) -> None:
    """The ERP refused the whole file: resend its orders still waiting on it, close it, count a
    failure. Resent first: a retry after a crash resends again (harmless: the ledger and the ERP
    dedupe); closed conditionally, so the failure counts once."""
    outcome.file_rejected = True
    recorded = repository.load_file(outcome.file)
    if recorded is not None and not recorded.get("file_status"):
        outcome.duplicates += 1  # answered before: nothing changes
        return
    if recorded is not None and recorded.get("file_status") == repository.FILE_OPEN:
        ids = [str(i) for i in recorded.get("order_ids", [])]
        outcome.resent = resend(waiting_on(outcome.file, ids), _env("ERP_QUEUE_URL"))
    before = repository.reject_file(outcome.file, outcome.ack_file, reason, at)
    if before is None:
        outcome.duplicates += 1
        return
    outcome.closed = True
    if before == repository.FILE_OPEN:  # an OVERDUE one was counted as a failure by the watchdog
        change = breaker().failure(file_rejected_reason(outcome.file, reason))
        if change is not None:
            outcome.changes.append(change)


def waiting_on(file: str, order_ids: list[str]) -> list[str]:
    """The orders of ``file`` still waiting on it (SENT in that very file)."""
    entries = repository.ledger(order_ids)
    return [i for i in dict.fromkeys(order_ids) if resendable(entries.get(i), file)]


def resend(order_ids: list[str], queue_url: str) -> int:
    """Put the orders on the ERP orders queue again, as their OrderAccepted; how many went."""
    bodies = []
    for order_id in order_ids:
        order = orders.load(order_id)
        if order is not None:
            bodies.append(resend_body(order))
    return repository.send_messages(queue_url, bodies) if bodies else 0


# -- the watchdog ------------------------------------------------------------------------------------


def watch(timeout_seconds: int | None = None) -> WatchOutcome:
    """Give up on every file unanswered for the timeout: resend its orders still waiting on it, mark
    it OVERDUE (once, conditionally) and count a failure of the ERP for it."""
    timeout = timeout_seconds if timeout_seconds is not None else ack_timeout()
    outcome = WatchOutcome()
    now = _now()
    for name in repository.overdue_files(_at(now - timeout)):
        recorded = repository.load_file(name)
        if recorded is None or recorded.get("file_status") != repository.FILE_OPEN:
            continue
        ids = [str(i) for i in recorded.get("order_ids", [])]
        # resent before marking: a crash in between resends again next minute (the ledger and the ERP dedupe)
        outcome.resent += resend(waiting_on(name, ids), _env("ERP_QUEUE_URL"))
        if repository.mark_overdue(name, _at(now)) is None:
            continue
        outcome.overdue.append(name)
        change = breaker().failure(overdue_reason(name, timeout))
        if change is not None:
            outcome.changes.append(change)
    return outcome
