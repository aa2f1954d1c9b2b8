"""Redrive a dead-letter queue safely.

* A DLQ behind an SQS queue (the inventory, reservation and invoicing workers): every message is
  sent back to its source queue, body and attributes unchanged, and only then deleted from the
  DLQ. A crash between the two leaves a duplicate, which the idempotent consumers absorb.
* The outbox DLQs (stream on-failure records, failed sweeper runs) carry no event payload: the
  events themselves wait in the outbox table. Replaying them runs the outbox sweep without a
  grace period, publishing every still-pending event, then deletes the DLQ records. Likewise
  the backorder sweeper's DLQ: replaying it tries every open backorder again.

Replaying twice changes nothing: the second run finds an empty DLQ (or only duplicates).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable

from synchub.environment import HubEnvironment

REPLAY_ATTRIBUTE = "synchub-replay-count"


@dataclass
class ReplayReport:
    queue: str
    target: str
    moved: int = 0
    swept: int = 0  # for DLQs replayed by re-running their sweep: events published / orders reserved
    messages: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        if self.target in SWEEP_LABELS:
            return f"{self.queue}: {self.moved} DLQ record(s) cleared, {self.swept} {SWEEP_LABELS[self.target]}"
        return f"{self.queue}: {self.moved} message(s) moved back to {self.target}"


def resolve_queue(env: HubEnvironment, queue: str) -> tuple[str, str]:
    """Accept a friendly name (WorkersReservationWorkerDeadLetterQueue), a physical name or a URL."""
    for name, url in env.queues.items():
        if queue in (name, url, url.rsplit("/", 1)[-1]):
            return name, url
    known = ", ".join(n for n in env.queues if "DeadLetter" in n)
    raise SystemExit(f"unknown queue {queue!r}; dead-letter queues: {known}")


def _receive_all(sqs: Any, url: str, visibility: int = 60) -> Any:
    while True:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                   VisibilityTimeout=visibility, AttributeNames=["All"],
                                   MessageAttributeNames=["All"]).get("Messages", [])
        if not msgs:
            return
        yield from msgs


SWEEP_LABELS = {"outbox": "pending outbox event(s) published", "backorders": "backordered order(s) reserved"}


def replay(env: HubEnvironment, queue: str, *, dry_run: bool = False) -> ReplayReport:
    name, url = resolve_queue(env, queue)
    sqs = env.clients()("sqs")
    sources = sqs.list_dead_letter_source_queues(QueueUrl=url).get("queueUrls", [])
    if len(sources) > 1:
        raise SystemExit(f"{name} is the DLQ of {len(sources)} queues; replay cannot tell where messages came from")
    target, sweep = (sources[0], None) if sources else sweep_for(name)
    if dry_run:
        report = ReplayReport(name, target)
        for m in _receive_all(sqs, url, visibility=1):
            report.messages.append(m["Body"])
        return report
    if sources:
        return _redrive(sqs, name, url, sources[0])
    assert sweep is not None
    return _replay_by_sweep(sqs, env, name, url, target, sweep)


def _redrive(sqs: Any, name: str, url: str, source: str) -> ReplayReport:
    report = ReplayReport(name, source.rsplit("/", 1)[-1])
    for m in _receive_all(sqs, url):
        attrs = dict(m.get("MessageAttributes", {}))
        count = int(attrs.get(REPLAY_ATTRIBUTE, {}).get("StringValue", "0")) + 1
        attrs[REPLAY_ATTRIBUTE] = {"DataType": "Number", "StringValue": str(count)}
        clean = {k: {kk: vv for kk, vv in v.items() if kk in ("DataType", "StringValue", "BinaryValue")}
                 for k, v in attrs.items()}
        sqs.send_message(QueueUrl=source, MessageBody=m["Body"], MessageAttributes=clean)
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        report.moved += 1
    return report


def _replay_by_sweep(sqs: Any, env: HubEnvironment, name: str, url: str, target: str,
                     sweep: Callable[[HubEnvironment], int]) -> ReplayReport:
    report = ReplayReport(name, target)
    handles = [m["ReceiptHandle"] for m in _receive_all(sqs, url)]
    try:
        report.swept = sweep(env)
    except Exception:
        for handle in handles:  # keep the DLQ records, visible again for the next replay
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
        raise
    for handle in handles:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
        report.moved += 1
    return report


def sweep_for(dlq_name: str) -> tuple[str, Callable[[HubEnvironment], int]]:
    """DLQs without a source queue hold records of scheduled or stream work whose state lives in
    DynamoDB: replaying them means running that work again."""
    if dlq_name.startswith("Outbox"):
        return "outbox", run_outbox_sweep
    if dlq_name.startswith("WorkersBackorder"):
        return "backorders", run_backorder_sweep
    raise SystemExit(f"{dlq_name} has no source queue and no known replay")


def run_outbox_sweep(env: HubEnvironment) -> int:
    """Run the sweeper's own code against ``env`` (grace 0: publish everything still pending)."""
    from datetime import timedelta

    def run() -> int:
        from outbox.handler import sweep

        return sweep(timedelta(0))["published"]

    return _with_function_env(env, run)


def run_backorder_sweep(env: HubEnvironment) -> int:
    """Try every open backorder again, as the scheduled sweeper does. Returns the orders reserved."""
    def run() -> int:
        from reservation.logic import sweep_backorders

        return sweep_backorders(causation_id="synchub-replay")["reserved"]

    return _with_function_env(env, run)


def _with_function_env(env: HubEnvironment, fn: Callable[[], int]) -> int:
    saved = dict(os.environ)
    os.environ.update(env.function_env())
    try:
        from synchub_core.aws import reset_clients
        from synchub_core.config import reset_settings

        reset_clients()
        reset_settings()
        return fn()
    finally:
        os.environ.clear()
        os.environ.update(saved)
        reset_clients()
        reset_settings()


def main_print(report: ReplayReport, dry_run: bool) -> None:
    if dry_run:
        print(f"{report.queue}: {len(report.messages)} message(s) would be replayed to {report.target}")
        for body in report.messages:
            print("  " + json.dumps(json.loads(body))[:200])
    else:
        print(report)
