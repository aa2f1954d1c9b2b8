"""Powertools wiring every synchub function shares: one Logger/Tracer/Metrics triple per service
and batch handlers that report partial failures."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from .envelope import EventEnvelope, from_message_body

METRICS_NAMESPACE = "synchub"


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

    def handler(self, fn: Callable[[dict, Any], Any], *, log_event: bool = False) -> Callable[[dict, Any], Any]:
        """Wrap a Lambda entry point with context logging, tracing and metrics flushing."""
        return self.logger.inject_lambda_context(log_event=log_event)(
            self.tracer.capture_lambda_handler(self.metrics.log_metrics(fn))
        )

    def batch_handler(self, event_type: EventType, record_handler: Callable[[Any], Any]) -> Callable[[dict, Any], dict]:
        """A handler for SQS / DynamoDB Streams batches reporting ``batchItemFailures``."""
        processor = BatchProcessor(event_type=event_type)

        def handler(event: dict, context: Any) -> dict:
            return process_partial_response(
                event=event, record_handler=record_handler, processor=processor, context=context
            )

        return self.handler(handler)


def envelope_of(record: SQSRecord, expected_type: str, queue: str) -> EventEnvelope:
    """The event in an SQS record, refusing any type this queue does not take."""
    envelope = from_message_body(record.body)
    if envelope.event_type != expected_type:
        raise ValueError(f"{queue} queue does not take {envelope.event_type}")
    return envelope
