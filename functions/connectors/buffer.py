"""The buffer: work a target cannot take now (breaker open, rate limit, 429) is *parked*: its
message is sent back to its own queue with a delay, and the caller reports the original handled.

A parked message is a new message, so the queue's receive count (and with it ``maxReceiveCount``
and the DLQ) is never spent on waiting: an outage of any length never reaches the DLQ. The copy
keeps the original's message attributes and carries ``synchub-parked`` (how often it was parked)
and ``synchub-parked-reason``. SQS delays at most 900 s; a longer wait parks again.
"""

from __future__ import annotations

import base64
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from . import logic, repository
from .models import PARKED, PARKED_REASON

MAX_MESSAGE_ATTRIBUTES = 10


def _raw(record: SQSRecord | dict[str, Any]) -> dict[str, Any]:
    return record.raw_event if isinstance(record, SQSRecord) else record


def parked_count(record: SQSRecord | dict[str, Any]) -> int:
    """How often the message of ``record`` was parked before (0 for a fresh one)."""
    attr = (_raw(record).get("messageAttributes") or {}).get(PARKED) or {}
    try:
        return int(attr.get("stringValue") or 0)
    except (TypeError, ValueError):
        return 0


def receive_count(record: SQSRecord | dict[str, Any]) -> int:
    try:
        return int((_raw(record).get("attributes") or {}).get("ApproximateReceiveCount") or 1)
    except (TypeError, ValueError):
        return 1


def kept_attributes(record: SQSRecord | dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The record's message attributes in SendMessage form (Lambda's record spells them in camelCase)."""
    kept: dict[str, dict[str, Any]] = {}
    for name, value in sorted((_raw(record).get("messageAttributes") or {}).items()):
        if not isinstance(value, dict) or name in (PARKED, PARKED_REASON):
            continue
        data_type = value.get("dataType") or value.get("DataType") or "String"
        string = value.get("stringValue", value.get("StringValue"))
        binary = value.get("binaryValue", value.get("BinaryValue"))
        if string is not None:
            kept[name] = {"DataType": data_type, "StringValue": string}
        elif binary is not None:
            kept[name] = {
                "DataType": data_type,
                "BinaryValue": base64.b64decode(binary) if isinstance(binary, str) else binary,
            }
    return kept


def park(
    record: SQSRecord | dict[str, Any],
    queue_url: str,
    delay_seconds: int,
    reason: str,
    *,
    metrics: Metrics | None = None,
    marks: dict[str, str] | None = None,
) -> str:
    """Send the record's body back to ``queue_url`` (its own queue) to be delivered again after
    ``delay_seconds`` (1 to 900); returns the new message id. The caller then reports the record
    handled. Raises whatever SQS raises (the record then fails and SQS redelivers it: nothing lost).

    ``marks``: string attributes the copy carries from now on (kept by later parks too), e.g. that
    an earlier delivery already sent it to the target."""
    if not queue_url:
        raise RuntimeError("no queue to park on: BUFFER_QUEUE_URL is not set on this function")
    raw = _raw(record)
    kept = kept_attributes(raw)
    ours = {
        PARKED: {"DataType": "Number", "StringValue": str(parked_count(raw) + 1)},
        PARKED_REASON: {"DataType": "String", "StringValue": (reason or "parked")[:256]},
        **{name: {"DataType": "String", "StringValue": value} for name, value in (marks or {}).items()},
    }
    # ours win; the others' ones beyond SQS's ten are dropped (the hub's own, synchub-*, first)
    room = MAX_MESSAGE_ATTRIBUTES - len(ours)
    ordered = sorted(kept, key=lambda n: (not n.startswith("synchub-"), n))[:room]
    attributes = {**{n: kept[n] for n in ordered}, **ours}
    message_id = repository.send(queue_url, str(raw.get("body") or ""), attributes, logic.park_delay(delay_seconds))
    if metrics is not None:
        metrics.add_metric(name="MessageParked", unit=MetricUnit.Count, value=1)
    return message_id
