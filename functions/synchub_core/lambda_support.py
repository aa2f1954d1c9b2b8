"""Powertools wiring every synchub function shares: one Logger/Tracer/Metrics triple per service,
batch handlers that report partial failures, and the correlation id of the envelope being
handled on every log line (one filter follows an order across every function's log).

Worker queues carry envelopes. A record is either

* **handled** (deleted from the queue);
* **refused** (:class:`Refused`, or a body that is no valid event): a permanent verdict on the
  message itself. The worker sends the body to its own DLQ (env ``DEAD_LETTER_QUEUE_URL``) with
  the reason in the message attribute ``synchub-refusal-reason``, logs it and reports the record
  handled: no retries are spent on a message that can never succeed. The DLQ copy records who first
  sent the message in ``synchub-original-sender`` (:func:`original_sender`), since its own
  SenderId is now the worker's. Should that send fail, the
  record is reported failed instead (nothing is lost: SQS retries it, then dead-letters it);
* **failed** (any other exception): transient, retried by SQS up to ``maxReceiveCount``, then
  moved to the same DLQ by its redrive policy.
"""

from __future__ import annotations

import base64
import os
import sys
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from .aws import client
from .basics import Refused
from .config import replay_role_id

if TYPE_CHECKING:  # imported by the first envelope_batch_handler: pydantic only where envelopes are read
    from .envelope import BusEvent, EventEnvelope

__all__ = [
    "ORIGINAL_SENDER",
    "REFUSAL_REASON",
    "REFUSED_BY",
    "SOURCE_QUEUE",
    "Delivery",
    "Feed",
    "Powertools",
    "RefusalNotDeadLettered",
    "Refused",
    "explain",
]

METRICS_NAMESPACE = "synchub"
DEAD_LETTER_QUEUE_ENV = "DEAD_LETTER_QUEUE_URL"
REFUSAL_REASON = "synchub-refusal-reason"  # message attributes a refused message carries in the DLQ
REFUSED_BY = "synchub-refused-by"
SOURCE_QUEUE = "synchub-source-queue"
# who first sent the message (its SQS SenderId): set by the refusal path and by ``synchub replay``, whose
# own sends carry their role's SenderId (a replayed copy is judged by the sender it records)
ORIGINAL_SENDER = "synchub-original-sender"
MAX_REASON_CHARS = 1000
MAX_MESSAGE_ATTRIBUTES = 10  # SQS's limit per message
# what the functions' X-Ray subsegments cover: every AWS call (botocore); connectors add "httplib"
TRACED_LIBRARIES = ("botocore",)

R = TypeVar("R")


@dataclass(frozen=True)
class Powertools:
    logger: Logger
    tracer: Tracer
    metrics: Metrics

    @classmethod
    def for_service(cls, service: str, *, traced: Collection[str] = TRACED_LIBRARIES) -> Powertools:
        """``traced``: the libraries the X-Ray SDK patches (Powertools' default patches every one it
        knows, importing ``requests``, ``sqlite3``, ``httplib``... on every cold start)."""
        return cls(
            Logger(service=service),
            Tracer(service=service, patch_modules=tuple(traced)),
            Metrics(namespace=METRICS_NAMESPACE, service=service),
        )

    def handler(self, fn: Callable[[dict, Any], R], *, log_event: bool = False) -> Callable[[dict, Any], R]:
        """Wrap a Lambda entry point with context logging, tracing and metrics flushing."""
        return self.logger.inject_lambda_context(log_event=log_event)(
            self.tracer.capture_lambda_handler(capture_response=False)(self.metrics.log_metrics(fn))
        )

    def batch_handler(
        self, event_type: EventType, record_handler: Callable[[Any], Any]
    ) -> Callable[[dict, Any], PartialItemFailureResponse]:
        """A handler for SQS / DynamoDB Streams batches reporting ``batchItemFailures``."""
        processor = BatchProcessor(event_type=event_type)

        def handler(event: dict, context: Any) -> PartialItemFailureResponse:
            return process_partial_response(
                event=event, record_handler=record_handler, processor=processor, context=context
            )

        return self.handler(handler)

    @contextmanager
    def correlated(self, correlation_id: str | None, **keys: Any) -> Iterator[None]:
        """Every log line inside carries ``correlation_id`` (and ``keys``); cleared on the way out
        so the next record of the batch does not inherit them."""
        self.logger.set_correlation_id(correlation_id)
        self.logger.append_keys(**keys)
        try:
            yield
        finally:
            self.logger.remove_keys([*keys, "correlation_id"])

    def envelope_batch_handler(
        self,
        event_type: str | Collection[str],
        queue: str,
        handle: Callable[[Delivery], None],
        *,
        feed: Feed,
        sources: Collection[str] | None = None,
        admit: Callable[[Delivery], None] | None = None,
    ) -> Callable[[dict, Any], PartialItemFailureResponse]:
        """An SQS batch handler for a queue that carries one event type (or each of a few:
        ``handle`` then tells them apart by ``delivery.envelope.event_type``).

        Each record is parsed as its ``feed`` delivers it (whole EventBridge events on a bus-fed
        queue, bare envelopes on a producer-fed one), refused if it is another type, comes from
        none of ``sources`` (bus-fed only) or ``admit`` raises :class:`Refused` or a
        ``ValueError``, and otherwise handled with its correlation id on every log line. A record
        ``handle`` fails is logged and reported as a batch item failure; one it refuses is
        dead-lettered (see the module docstring)."""
        by = self.logger.service
        from . import envelope as _  # noqa: F401  # at init (this runs when the handler module is imported)

        def record_handler(record: SQSRecord) -> None:
            try:
                delivery = _delivery(record, feed, event_type, queue, sources)
            except (Refused, ValueError) as exc:
                self.refuse(record, explain(exc), by)
                return
            envelope = delivery.envelope
            with self.correlated(envelope.correlation_id, event_id=envelope.event_id, entity_id=envelope.entity_id):
                try:
                    if admit is not None:
                        admit(delivery)
                except (Refused, ValueError) as exc:
                    self.refuse(record, explain(exc), by)
                    return
                try:
                    handle(delivery)
                except Refused as exc:
                    self.refuse(record, explain(exc), by)
                except Exception as exc:
                    self.logger.warning(
                        "event handling failed",
                        extra={"message_id": record.message_id, "error": type(exc).__name__, "reason": str(exc)[:500]},
                    )
                    raise

        return self.batch_handler(EventType.SQS, record_handler)

    def refuse(self, record: SQSRecord, reason: str, by: str) -> None:
        """Dead-letter ``record`` at once with ``reason``; raises :class:`RefusalNotDeadLettered`
        (the record is then a batch item failure, retried by SQS) if the DLQ cannot take it."""
        reason = sendable(reason)[:MAX_REASON_CHARS] or "refused"
        function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        refused_by = f"{by} ({function})" if function else by
        # the reason and ids only: bodies carry customers' names and addresses
        extra = {"message_id": record.message_id, "reason": reason, "refused_by": refused_by}
        self.logger.warning("message refused", extra=extra)
        dlq = os.environ.get(DEAD_LETTER_QUEUE_ENV)
        try:
            if not dlq:
                raise RefusalNotDeadLettered(f"{DEAD_LETTER_QUEUE_ENV} is not set on this function")
            client("sqs").send_message(
                QueueUrl=dlq,
                MessageBody=record.body,
                MessageAttributes=refusal_attributes(record, reason, refused_by),
            )
        except Exception as exc:
            self.logger.error(
                "refused message could not be dead-lettered: left on the queue to be retried",
                extra={**extra, "error": type(exc).__name__, "detail": str(exc)[:300]},
            )
            self.metrics.add_metric(name="MessageRefusalNotDeadLettered", unit=MetricUnit.Count, value=1)
            if isinstance(exc, RefusalNotDeadLettered):
                raise
            raise RefusalNotDeadLettered(f"{type(exc).__name__} sending to the DLQ") from exc
        self.metrics.add_metric(name="MessageRefused", unit=MetricUnit.Count, value=1)


class Feed(Enum):
    """How a queue is fed, which decides what a message on it must look like."""

    BUS = "bus"  # only an EventBridge rule sends to it: whole events, their source checked
    PRODUCER = "producer"  # producers send bare envelopes to it themselves


@dataclass(frozen=True)
class Delivery:
    """One record's event: the envelope, and the EventBridge event around it on a bus-fed queue."""

    envelope: EventEnvelope
    message_id: str
    bus: BusEvent | None = None
    sender_id: str | None = None  # the record's SenderId (SQS vouches for it): <RoleId>:<session> for a role
    recorded_sender: str | None = None  # its ``synchub-original-sender`` attribute: anyone can set one
    # the raw SQS record (for parking it back on its queue, its ApproximateReceiveCount, its attributes)
    record: SQSRecord | None = None

    @property
    def source(self) -> str | None:
        """The EventBridge ``source`` (which IAM and the bus policy vouch for); None off the bus."""
        return self.bus.source if self.bus is not None else None


class RefusalNotDeadLettered(Exception):
    """A refused message the DLQ did not take: reported failed, so SQS keeps it."""


def _delivery(
    record: SQSRecord, feed: Feed, event_type: str | Collection[str], queue: str, sources: Collection[str] | None
) -> Delivery:
    from .envelope import from_bus_message, from_producer_message

    sender, recorded = sender_of(record), recorded_sender_of(record)
    if feed is Feed.BUS:
        bus = from_bus_message(record.body)
        delivery = Delivery(bus.detail, record.message_id, bus, sender, recorded, record)
    else:
        delivery = Delivery(from_producer_message(record.body), record.message_id, None, sender, recorded, record)
    envelope = delivery.envelope
    taken = {event_type} if isinstance(event_type, str) else set(event_type)
    if envelope.event_type not in taken:
        raise Refused(f"the {queue} queue does not take {envelope.event_type} (event {envelope.event_id})")
    if sources is not None and delivery.source not in sources:
        raise Refused(
            f"{envelope.event_type} {envelope.event_id} from source {delivery.source!r}: the {queue} queue takes "
            f"{envelope.event_type} only from {', '.join(sorted(sources))}"
        )
    return delivery


def sender_of(record: SQSRecord) -> str | None:
    """The record's ``SenderId`` system attribute, if it has one."""
    value = (record.raw_event.get("attributes") or {}).get("SenderId")
    return value if isinstance(value, str) and value else None


def recorded_sender_of(record: SQSRecord) -> str | None:
    """The record's ``synchub-original-sender`` message attribute, if it has one (unchecked)."""
    value = ((record.raw_event.get("messageAttributes") or {}).get(ORIGINAL_SENDER) or {}).get("stringValue")
    return value if isinstance(value, str) and value else None


def original_sender(record: SQSRecord) -> str | None:
    """Who first sent ``record``: the sender a copy sent by ``synchub replay`` records, else its own
    SenderId. Where ``REPLAY_ROLE_ID`` is set, a recorded sender counts only on a record the
    ReplayRole sent (anyone else's is a claim and is replaced by the real sender)."""
    sender, recorded = sender_of(record), recorded_sender_of(record)
    replay_role = replay_role_id()
    if replay_role:
        replayed = sender is not None and sender.startswith(f"{replay_role}:")
        return (recorded or sender) if replayed else sender
    return recorded or sender


def explain(exc: Exception) -> str:
    """A refusal reason for ``exc``: the sentence of a :class:`Refused`; for a pydantic error each
    field and complaint, without the input values (which may be personal data)."""
    if isinstance(exc, Refused):
        return exc.reason
    pydantic = sys.modules.get("pydantic")  # no pydantic error where pydantic was never imported
    if pydantic is not None and isinstance(exc, pydantic.ValidationError):
        complaints = []
        for e in exc.errors(include_url=False, include_input=False, include_context=False):
            where = ".".join(str(p) for p in e["loc"])
            what = e["msg"].removeprefix("Value error, ")
            complaints.append(f"{where}: {what}" if where else what)
        return f"invalid {exc.title}: {'; '.join(complaints)}"
    if isinstance(exc, ValueError) and type(exc).__name__ == "JSONDecodeError":
        return f"not JSON: {exc}"
    return f"{type(exc).__name__}: {exc}"


def sendable(text: str) -> str:
    """``text`` with what SQS does not take in an attribute value escaped (control characters,
    surrogates: a reason quotes ids a producer chose)."""
    return "".join(
        c
        if c in "\t\n\r" or (" " <= c < "\ud800") or ("\ue000" <= c <= "\ufffd") or c >= "\U00010000"
        else f"\\x{ord(c):02x}"
        for c in text
    )


def refusal_attributes(record: SQSRecord, reason: str, refused_by: str) -> dict[str, dict[str, Any]]:
    """The record's own message attributes (so ``synchub replay`` keeps counting and recognises
    its own copies), with the refusal's; the refusal's win over stale ones and over others beyond
    SQS's ten."""
    ours = {
        REFUSAL_REASON: {"DataType": "String", "StringValue": reason},
        REFUSED_BY: {"DataType": "String", "StringValue": refused_by},
        SOURCE_QUEUE: {"DataType": "String", "StringValue": record.raw_event.get("eventSourceARN") or "unknown"},
    }
    # the DLQ copy's own SenderId is this function's: keep who first sent it, so a replay keeps it too
    sender = original_sender(record)
    if sender is not None:
        ours[ORIGINAL_SENDER] = {"DataType": "String", "StringValue": sendable(sender)}
    kept: dict[str, dict[str, Any]] = {}
    # the hub's own first (synchub-replay-run lets a replay recognise its own copy refused again)
    attributes = (record.raw_event.get("messageAttributes") or {}).items()
    for name, value in sorted(attributes, key=lambda a: (not a[0].startswith("synchub-"), a[0])):
        if (
            name in ours
            or name == ORIGINAL_SENDER
            or len(kept) + len(ours) >= MAX_MESSAGE_ATTRIBUTES
            or not isinstance(value, dict)
        ):
            continue
        data_type = value.get("dataType") or "String"
        if value.get("stringValue") is not None:
            kept[name] = {"DataType": data_type, "StringValue": value["stringValue"]}
        elif value.get("binaryValue") is not None:
            kept[name] = {"DataType": data_type, "BinaryValue": base64.b64decode(value["binaryValue"])}
    return {**kept, **ours}
