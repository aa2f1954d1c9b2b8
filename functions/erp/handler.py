"""The legacy ERP connector's three functions (the flows are in ``logic``).

* ``orders_handler``: the ErpOrders queue (rule OrderAccepted from synchub.orders: whole EventBridge
  events, batches of up to 100): one order file per invocation with every order of the batch the
  ERP has not acknowledged yet, once the breaker and the file rate admit it; otherwise every record
  is parked on its own queue (an ERP outage never spends a retry, never reaches the DLQ). Other
  messages are refused (dead-lettered with the reason) as by every bus-fed worker.
* ``acks_handler``: the ErpAcks queue (S3 ObjectCreated notifications of ``from-erp/acks/``): each
  acknowledgement file applied once, row by row.
* ``watchdog_handler``: every minute: files unanswered for ``ERP_ACK_TIMEOUT_SECONDS``.

Logs carry ids and counts only: the orders carry customers' names and addresses.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.batch import EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

import synchub_core
from synchub_core.envelope import Refused, from_bus_message
from synchub_core.lambda_support import METRICS_NAMESPACE, Powertools, RefusalNotDeadLettered, explain

from . import logic
from .models import (
    ACK_FILE_PREFIX,
    ERP_TARGET,
    ORDER_ACCEPTED,
    ORDERS_QUEUE,
    ORDERS_SOURCE,
    AckFileInvalid,
    ErpOrder,
    Pending,
)

SERVICE = "erp"
pt = Powertools.for_service(SERVICE)


def _count(name: str, value: int = 1) -> None:
    if value:
        pt.metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def _circuit(changes: Iterable[Any]) -> None:
    """Each breaker state change: its metric (CircuitOpened / CircuitHalfOpened / CircuitClosed) with
    dimension target, and a log line (the CircuitStateChanged event went out with the change)."""
    for change in changes:
        pt.logger.warning(
            "erp circuit changed",
            extra={"target": ERP_TARGET, "previous": change.previous, "state": change.state, "reason": change.reason},
        )
        with single_metric(
            name=change.metric,
            unit=MetricUnit.Count,
            value=1,
            namespace=METRICS_NAMESPACE,
            default_dimensions={"service": SERVICE, "target": ERP_TARGET},
        ):
            pass


def _refused(record: SQSRecord, exc: Exception) -> bool:
    """Dead-letter ``record`` with the reason; False when the DLQ did not take it (it then fails)."""
    try:
        pt.refuse(record, explain(exc), SERVICE)
    except RefusalNotDeadLettered:
        return False
    return True


# -- orders out --------------------------------------------------------------------------------------


def parse(record: SQSRecord) -> Pending:
    """The order in a record of the ErpOrders queue: a whole EventBridge OrderAccepted from
    synchub.orders; raises ``Refused`` / ``ValueError`` (pydantic's) for anything else."""
    bus = from_bus_message(record.body)
    envelope = bus.detail
    if envelope.event_type != ORDER_ACCEPTED:
        raise Refused(f"the {ORDERS_QUEUE} queue does not take {envelope.event_type} (event {envelope.event_id})")
    if bus.source != ORDERS_SOURCE:
        raise Refused(
            f"{ORDER_ACCEPTED} {envelope.event_id} from source {bus.source!r}: the {ORDERS_QUEUE} queue takes "
            f"{ORDER_ACCEPTED} only from {ORDERS_SOURCE}"
        )
    order = ErpOrder.model_validate(envelope.data)
    return Pending(record, order, logic.order_date(envelope.occurred_at), record.message_id)


def _orders(event: dict[str, Any], context: Any) -> dict[str, Any]:
    failed: list[str] = []
    pending: list[Pending] = []
    for raw in event.get("Records") or []:
        record = SQSRecord(raw)
        try:
            pending.append(parse(record))
        except (Refused, ValueError) as exc:
            if not _refused(record, exc):
                failed.append(record.message_id)
    if pending:
        try:
            outcome = logic.send_batch(pending, pt.metrics)
        except Exception as exc:  # the ledger could not be read or written: SQS delivers the batch again
            pt.logger.warning("erp batch failed", extra={"orders": len(pending), "error": type(exc).__name__})
            failed += [p.message_id for p in pending]
        else:
            _circuit(outcome.changes)
            failed += outcome.failed
            _count("ErpOrderAlreadyAcked", outcome.already_acked)
            if outcome.file:
                _count("ErpFileSent")
                _count("ErpOrderSent", len(outcome.sent))
            extra = {
                "file": outcome.file,
                "orders": len(outcome.sent),
                "already_acked": outcome.already_acked,
                "parked": outcome.parked,
                "parked_reason": outcome.parked_reason,
                "probe": outcome.probe,
                "failed": len(outcome.failed),
            }
            if outcome.error:
                pt.logger.warning("erp order file not sent", extra={**extra, "reason": outcome.error})
            else:
                pt.logger.info("erp orders", extra=extra)
    return {"batchItemFailures": [{"itemIdentifier": m} for m in dict.fromkeys(failed)]}


orders_handler = pt.handler(_orders)


# -- acknowledgements in -----------------------------------------------------------------------------


def s3_objects(body: str) -> list[tuple[str, str]]:
    """``(bucket, key)`` of every object an S3 ObjectCreated notification announces (keys URL-decoded);
    empty for S3's ``s3:TestEvent``. Raises ``Refused`` / ``ValueError`` for anything else."""
    message = json.loads(body)
    if not isinstance(message, dict):
        raise Refused("not an S3 notification: the body is no JSON object")
    if message.get("Event") == "s3:TestEvent":
        return []
    records = message.get("Records")
    if not isinstance(records, list):
        raise Refused("not an S3 notification: no Records")
    found = []
    for r in records:
        s3 = (r.get("s3") if isinstance(r, dict) else None) or {}
        bucket = (s3.get("bucket") or {}).get("name")
        key = (s3.get("object") or {}).get("key")
        if not isinstance(bucket, str) or not isinstance(key, str):
            raise Refused("not an S3 notification: a record without bucket name or object key")
        if str(r.get("eventName", "ObjectCreated")).startswith("ObjectCreated"):
            found.append((bucket, unquote_plus(key)))
    return found


def _ack(record: SQSRecord) -> None:
    try:
        objects = s3_objects(record.body)
        bucket_name = os.environ.get("EXCHANGE_BUCKET")
        for bucket, key in objects:
            if bucket_name and bucket != bucket_name:
                raise Refused(f"acknowledgement {key} from bucket {bucket}, not the exchange bucket")
            if not key.startswith(ACK_FILE_PREFIX):
                raise Refused(f"{key} is not under {ACK_FILE_PREFIX}")
        outcomes = [logic.apply_ack_file(bucket, key, pt.metrics) for bucket, key in objects]
    except (Refused, AckFileInvalid, ValueError) as exc:
        if not _refused(record, exc):
            raise
        return
    except Exception as exc:
        pt.logger.warning(
            "erp acknowledgement failed",
            extra={"message_id": record.message_id, "error": type(exc).__name__, "reason": str(exc)[:300]},
        )
        raise
    for o in outcomes:
        _circuit(o.changes)
        for invalid in o.invalid:
            pt.logger.warning(
                "erp acknowledgement row skipped",
                extra={"ack_file": o.ack_file, "row": invalid.row, "reason": invalid.reason},
            )
        for order_id in o.unknown:
            pt.logger.warning("erp acknowledged an order the hub does not know", extra={"order_id": order_id})
        _count("ErpOrderAcked", o.acked)
        _count("ErpOrderRejected", o.rejected)
        _count("ErpAckDuplicateIgnored", o.duplicates)
        _count("ErpAckUnknownOrder", len(o.unknown))
        _count("ErpAckRowInvalid", len(o.invalid))
        _count("ErpFileRejected", int(o.file_rejected and o.closed))
        _count("ErpOrderResent", o.resent)
        pt.logger.info(
            "erp acknowledgement applied",
            extra={
                "file": o.file,
                "ack_file": o.ack_file,
                "acked": o.acked,
                "rejected": o.rejected,
                "exceptions": o.exceptions,
                "duplicates": o.duplicates,
                "unknown": len(o.unknown),
                "invalid": len(o.invalid),
                "file_rejected": o.file_rejected,
                "resent": o.resent,
                "closed": o.closed,
            },
        )


acks_handler = pt.batch_handler(EventType.SQS, _ack)


# -- the watchdog ------------------------------------------------------------------------------------


def _watchdog(event: dict[str, Any], context: Any) -> dict[str, Any]:
    outcome = logic.watch()
    _circuit(outcome.changes)
    _count("ErpFileOverdue", len(outcome.overdue))
    _count("ErpOrderResent", outcome.resent)
    if outcome.overdue:
        pt.logger.warning("erp files overdue", extra={"files": outcome.overdue, "resent": outcome.resent})
    return {"overdue": len(outcome.overdue), "resent": outcome.resent}


watchdog_handler = pt.handler(_watchdog)

synchub_core.init_done()  # the end of this function's init: see synchub_core/__init__.py
