"""Event source emulation: SQS pollers, DynamoDB stream pollers and EventBridge schedules.

They follow the Lambda service's semantics: batch size and batching window, partial batch
failures (ReportBatchItemFailures), retries (SQS: the message becomes visible again and the
queue's redrive policy moves it to the DLQ after maxReceiveCount; streams: MaximumRetryAttempts,
then an on-failure record to the destination queue), and scheduled (asynchronous) invocations: a
function error is retried as the function's EventInvokeConfig says (MaximumRetryAttempts, default 2),
then Lambda's invocation record goes to its on-failure destination (without one, the event goes to the
rule target's DLQ, so that a failure is never dropped silently).

One deliberate local acceleration: a failed SQS message becomes visible again after
``retry_delay`` seconds instead of the queue's full visibility timeout.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .functions import FunctionPool, InvocationError
from .patterns import matches
from .provision import EventSourceSpec, ScheduleSpec

log = logging.getLogger("synchub.local")


class Poller(threading.Thread):
    def __init__(self, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.stopping = threading.Event()

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.poll_once()
            except Exception:  # keep polling; an emulator hiccup must not kill the source
                log.exception("%s: poll failed", self.name)
                self.stopping.wait(0.5)

    def poll_once(self) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError


def sqs_event_record(m: dict[str, Any], source_arn: str, region: str) -> dict[str, Any]:
    """A received SQS message (``ReceiveMessage`` with all attributes) as a record of the event
    Lambda's SQS event source mapping hands the function."""
    attrs = m.get("Attributes", {})
    return {
        "messageId": m["MessageId"],
        "receiptHandle": m["ReceiptHandle"],
        "body": m["Body"],
        "attributes": {
            k: attrs[k]
            for k in ("ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp")
            if k in attrs
        },
        "messageAttributes": {
            k: {
                "stringValue": v.get("StringValue"),
                "binaryValue": None,
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": v.get("DataType", "String"),
            }
            for k, v in m.get("MessageAttributes", {}).items()
        },
        "md5OfBody": m.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": source_arn,
        "awsRegion": region,
    }


class SqsPoller(Poller):
    def __init__(self, spec: EventSourceSpec, pool: FunctionPool, sqs: Any, region: str, retry_delay: float) -> None:
        super().__init__(f"sqs:{spec.logical_id}")
        self.spec, self.pool, self.sqs, self.region = spec, pool, sqs, region
        self.retry_delay = retry_delay

    def _receive(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + self.spec.batching_window
        while len(messages) < self.spec.batch_size and not self.stopping.is_set():
            resp = self.sqs.receive_message(
                QueueUrl=self.spec.queue_url,
                MaxNumberOfMessages=min(10, self.spec.batch_size - len(messages)),
                WaitTimeSeconds=0 if messages else 1,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            got = resp.get("Messages", [])
            messages.extend(got)
            if not got or time.monotonic() >= deadline:
                break
        return messages

    def _record(self, m: dict[str, Any]) -> dict[str, Any]:
        return sqs_event_record(m, self.spec.source_arn, self.region)

    def poll_once(self) -> bool:
        messages = self._receive()
        if not messages:
            return False
        try:
            result = self.pool.invoke({"Records": [self._record(m) for m in messages]})
            failed_ids = (
                {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
                if self.spec.report_failures
                else set()
            )
        except InvocationError as exc:
            log.warning(
                "%s: invocation failed, whole batch retried: %s (its log has the details)", self.name, exc.summary
            )
            failed_ids = {m["MessageId"] for m in messages}
        done = [m for m in messages if m["MessageId"] not in failed_ids]
        for start in range(0, len(done), 10):
            self.sqs.delete_message_batch(
                QueueUrl=self.spec.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start : start + 10])
                ],
            )
        for m in messages:
            if m["MessageId"] in failed_ids:
                self.sqs.change_message_visibility(
                    QueueUrl=self.spec.queue_url,
                    ReceiptHandle=m["ReceiptHandle"],
                    VisibilityTimeout=int(self.retry_delay),
                )
        return True


def _epoch(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


class StreamPoller(Poller):
    def __init__(
        self,
        spec: EventSourceSpec,
        pool: FunctionPool,
        streams: Any,
        sqs: Any,
        region: str,
        dlq_url: str | None,
        function_arn: str,
        retry_delay: float,
    ) -> None:
        super().__init__(f"stream:{spec.logical_id}")
        self.spec, self.pool, self.streams, self.sqs, self.region = spec, pool, streams, sqs, region
        self.dlq_url, self.function_arn, self.retry_delay = dlq_url, function_arn, retry_delay
        self.iterators: dict[str, str | None] = {}
        self.pending: dict[str, list[dict[str, Any]]] = {}
        self.attempts = 0
        self.batch_limit = spec.batch_size

    def _shards(self) -> None:
        desc = self.streams.describe_stream(StreamArn=self.spec.source_arn)["StreamDescription"]
        for shard in desc["Shards"]:
            if shard["ShardId"] not in self.iterators:
                self.iterators[shard["ShardId"]] = self.streams.get_shard_iterator(
                    StreamArn=self.spec.source_arn,
                    ShardId=shard["ShardId"],
                    ShardIteratorType=self.spec.starting_position,
                )["ShardIterator"]
                self.pending[shard["ShardId"]] = []

    def _record(self, r: dict[str, Any]) -> dict[str, Any]:
        d = dict(r["dynamodb"])
        if "ApproximateCreationDateTime" in d:
            d["ApproximateCreationDateTime"] = _epoch(d["ApproximateCreationDateTime"])
        return {
            "eventID": r["eventID"],
            "eventName": r["eventName"],
            "eventVersion": r.get("eventVersion", "1.1"),
            "eventSource": "aws:dynamodb",
            "awsRegion": self.region,
            "dynamodb": d,
            "eventSourceARN": self.spec.source_arn,
        }

    def _wanted(self, record: dict[str, Any]) -> bool:
        return not self.spec.filters or any(matches(f, record) for f in self.spec.filters)

    def poll_once(self) -> bool:
        if not self.iterators:
            self._shards()
        worked = False
        for shard_id in list(self.iterators):
            pending = self.pending[shard_id]
            if not pending and self.iterators[shard_id]:
                resp = self.streams.get_records(ShardIterator=self.iterators[shard_id], Limit=1000)
                self.iterators[shard_id] = resp.get("NextShardIterator")
                pending.extend(r for r in map(self._record, resp.get("Records", [])) if self._wanted(r))
            if pending:
                worked = True
                self._deliver(shard_id, pending)
        if not worked:
            self.stopping.wait(0.2)
        return worked

    def _deliver(self, shard_id: str, pending: list[dict[str, Any]]) -> None:
        batch = pending[: self.batch_limit]
        function_error = False
        try:
            result = self.pool.invoke({"Records": batch})
            failures = (
                [f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])]
                if self.spec.report_failures
                else []
            )
        except InvocationError as exc:
            log.warning("%s: invocation failed: %s (its log has the details)", self.name, exc.summary)
            failures, function_error = [batch[0]["dynamodb"]["SequenceNumber"]], True
        if not failures:
            del pending[: len(batch)]
            self.attempts, self.batch_limit = 0, self.spec.batch_size
            return
        seqs = [r["dynamodb"]["SequenceNumber"] for r in batch]
        first = min((seqs.index(s) for s in failures if s in seqs), default=0)
        del pending[:first]  # records before the first failure are checkpointed
        failed_batch = batch[first:]
        self.attempts += 1
        if self.spec.bisect and function_error and len(failed_batch) > 1:
            self.batch_limit = max(1, len(failed_batch) // 2)
            return  # like Lambda, a split batch does not consume a retry attempt
        if 0 <= self.spec.max_retries < self.attempts:
            self._dead_letter(shard_id, failed_batch)
            del pending[: len(failed_batch)]
            self.attempts, self.batch_limit = 0, self.spec.batch_size
            return
        self.stopping.wait(self.retry_delay)

    def _dead_letter(self, shard_id: str, batch: list[dict[str, Any]]) -> None:
        now = datetime.now(UTC).isoformat()
        record = {
            "requestContext": {
                "requestId": batch[0]["eventID"],
                "functionArn": self.function_arn,
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": self.attempts,
            },
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "version": "1.0",
            "timestamp": now,
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": batch[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": batch[-1]["dynamodb"]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": now,
                "approximateArrivalOfLastRecord": now,
                "batchSize": len(batch),
                "streamArn": self.spec.source_arn,
            },
        }
        log.error("%s: retries exhausted, %d record(s) sent to the on-failure destination", self.name, len(batch))
        if self.dlq_url:
            self.sqs.send_message(QueueUrl=self.dlq_url, MessageBody=json.dumps(record))


_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT = {"minute": 60, "hour": 3600, "day": 86400}


def schedule_seconds(expression: str) -> float | None:
    m = _RATE.match(expression)
    if not m:
        return None  # cron() schedules are not emulated
    return int(m.group(1)) * _UNIT[m.group(2).rstrip("s")]


def failure_record(
    request_id: str, function_arn: str, event: dict[str, Any], attempts: int, error: dict[str, Any]
) -> dict[str, Any]:
    """The record Lambda sends to an asynchronous invocation's on-failure destination."""
    return {
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "requestContext": {
            "requestId": request_id,
            "functionArn": f"{function_arn}:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": attempts,
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {k: error[k] for k in ("errorMessage", "errorType", "stackTrace") if k in error},
    }


class ScheduleRunner(Poller):
    def __init__(
        self,
        spec: ScheduleSpec,
        pool: FunctionPool,
        send_dlq: Callable[[str, str], None],
        region: str,
        account: str,
        interval: float,
        retry_delay: float,
        *,
        function_arn: str = "",
        send_failure: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        """``send_dlq(arn, body)`` sends to the rule target's DLQ; ``send_failure(arn, record)`` sends an
        invocation record to the function's on-failure destination (default: as a queue message)."""
        super().__init__(f"schedule:{spec.logical_id}")
        self.spec, self.pool, self.send_dlq, self.region, self.account = spec, pool, send_dlq, region, account
        self.interval, self.retry_delay = interval, retry_delay
        self.function_arn = function_arn or f"arn:aws:lambda:{region}:{account}:function:{spec.function}"
        self.send_failure = send_failure or (lambda arn, record: send_dlq(arn, json.dumps(record)))
        self._next_wait = interval

    def fire_soon(self) -> None:
        """Fire once right away (e.g. after a restart), then keep the interval."""
        self._next_wait = 0.0

    def poll_once(self) -> bool:
        wait, self._next_wait = self._next_wait, self.interval
        if self.stopping.wait(wait):
            return False
        self.fire()
        return True

    def fire(self) -> None:
        event = {
            "version": "0",
            "id": f"local-{time.time_ns()}",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self.account,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region,
            "resources": [f"arn:aws:events:{self.region}:{self.account}:rule/{self.spec.logical_id}"],
            "detail": {},
        }
        request_id = str(uuid.uuid4())  # one asynchronous invocation, however many attempts
        attempts = 1 + max(0, self.spec.async_retry_attempts)
        error: dict[str, Any] = {}
        for attempt in range(attempts):
            if attempt:
                self.stopping.wait(self.retry_delay)
            try:
                self.pool.invoke(event)
                return
            except InvocationError as exc:
                if exc.payload.get("errorType") == "Runtime.Shutdown":
                    return  # the hub is stopping, the function did not fail
                log.warning("%s: attempt %d of %d failed: %s", self.name, attempt + 1, attempts, exc)
                error = exc.payload
        if self.spec.on_failure_arn:
            log.error("%s: retries exhausted, invocation record sent to %s", self.name, self.spec.on_failure_arn)
            record = failure_record(request_id, self.function_arn, event, attempts, error)
            self.send_failure(self.spec.on_failure_arn, record)
        elif self.spec.dlq_arn:
            log.error("%s: retries exhausted, event sent to the target's DLQ %s", self.name, self.spec.dlq_arn)
            self.send_dlq(self.spec.dlq_arn, json.dumps(event))
        else:
            log.error("%s: retries exhausted and no destination: event dropped", self.name)
