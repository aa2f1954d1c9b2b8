"""Powertools wiring every synchub function shares: one Logger/Tracer/Metrics triple per service,
batch handlers that report partial failures, and the correlation id of the envelope being
handled on every log line (one filter follows an order across every function's log)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from .envelope import EventEnvelope, from_message_body

METRICS_NAMESPACE = "synchub"

R = TypeVar("R")


@dataclass(frozen=True)
class Powertools:
    logger: Logger
    tracer: Tracer
    metrics: Metrics

    @classmethod
    def for_service(cls, service: str) -> Powertools:
        return cls(
            Logger(service=service), Tracer(service=service), Metrics(namespace=METRICS_NAMESPACE, service=service)
        )

    def handler(self, fn: Callable[[dict, Any], R], *, log_event: bool = False) -> Callable[[dict, Any], R]:
        """Wrap a Lambda entry point with context logging, tracing and metrics flushing."""
        return self.logger.inject_lambda_context(log_event=log_event)(
            self.tracer.capture_lambda_handler(self.metrics.log_metrics(fn))
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
        self, event_type: str, queue: str, handle: Callable[[EventEnvelope], None]
    ) -> Callable[[dict, Any], PartialItemFailureResponse]:
        """An SQS batch handler for queues that carry one event type: each record's envelope is
        parsed, refused if it is another type, and handled with its correlation id on every log
        line. A record that fails is logged (with the reason) and reported as a batch item failure."""

        def record_handler(record: SQSRecord) -> None:
            try:
                envelope = envelope_of(record, event_type, queue)
            except ValueError as exc:  # pydantic's ValidationError and json's JSONDecodeError too
                self.logger.warning(
                    "message refused", extra={"message_id": record.message_id, "reason": str(exc)[:500]}
                )
                raise
            with self.correlated(envelope.correlation_id, event_id=envelope.event_id, entity_id=envelope.entity_id):
                try:
                    handle(envelope)
                except Exception as exc:
                    self.logger.warning(
                        "event handling failed",
                        extra={"message_id": record.message_id, "error": type(exc).__name__, "reason": str(exc)[:500]},
                    )
                    raise

        return self.batch_handler(EventType.SQS, record_handler)


def envelope_of(record: SQSRecord, expected_type: str, queue: str) -> EventEnvelope:
    """The event in an SQS record, refusing any type this queue does not take."""
    envelope = from_message_body(record.body)
    if envelope.event_type != expected_type:
        raise ValueError(f"{queue} queue does not take {envelope.event_type}")
    return envelope
