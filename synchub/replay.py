"""Redrive a dead-letter queue safely, at any depth.

* A DLQ behind an SQS queue (the inventory, reservation and invoicing workers): every message is
  sent back to its source queue, body and attributes unchanged (plus a ``synchub-replay-count``
  attribute, incremented on every replay, the run's ``synchub-replay-run`` and who first sent it,
  ``synchub-original-sender``: the attribute if it has one, else its ``SenderId``, since the copy's
  own SenderId is the replayer's; minus a refusal's attributes, see below), and only then deleted
  from the DLQ. A crash between
  the two leaves a duplicate, which the idempotent consumers absorb. Messages go back ten at a
  time (SendMessageBatch, then DeleteMessageBatch for exactly the entries that were sent): an
  entry SQS refuses stays in the DLQ, visible again at the end of the run, and is reported.
* The outbox DLQs (stream on-failure records, failed sweeper runs) carry no event payload: the
  events themselves wait in the outbox table. Replaying them runs the outbox sweep without a
  grace period, publishing every still-pending event, then deletes the DLQ records. Likewise
  the backorder sweeper's DLQ: replaying it tries every open backorder again.

Bodies are opaque: a body that is not JSON is listed as it is and replayed like any other.

A message a worker *refused* (a forged or invalid event, dead-lettered at once instead of being
retried) carries the reason in its ``synchub-refusal-reason`` attribute and who refused it in
``synchub-refused-by``: a dry run lists both under the message, a replay counts them. Replaying a
refused message sends it through the same checks, so it is refused again (and comes back with the
same reason) unless what it was refused for has changed, e.g. a site registered since.

Replaying twice changes nothing: the second run finds an empty DLQ (or only duplicates).

**A run replays the DLQ as it was when the run started, and always ends.** Every received message
stays invisible (``HOLD_SECONDS``) until the run ends, so nothing is received twice and a dry run
sees each message once (de-duplicated by MessageId all the same, should a hold expire); at the end
every message that is still in the DLQ (listed by a dry run, refused by SQS, or held back as below)
is made visible again at once, so a replay right after a dry run finds them all. Messages that
reach the DLQ *during* the run are held back, not replayed:

* a copy this run sent back that fails again: SQS moves a message to its DLQ as the same message,
  with the **same MessageId** (and, for standard queues, the same ``SentTimestamp``). A copy sent
  by SendMessageBatch gets a *new* MessageId, returned in the batch result, so the run keeps the
  MessageIds it created and holds back any DLQ message carrying one of them. (The DLQ MessageIds
  the run has already seen would not do: the copy never had one of those.) This test is exact and
  needs no clock.
* a copy this run sent back that a worker *refused* again: the worker sends it to the DLQ itself,
  as a new message (new MessageId, new ``SentTimestamp``, within the clock allowance below), but
  with the copy's message attributes. Every copy carries the run's id (``synchub-replay-run``), so
  the run holds back any DLQ message carrying it: exact as well, and without it a run would chase
  its own refusals until the clock allowance ran out.
* anything else that arrived after the start: a message in the DLQ at the start was sent (to the
  source queue, or to the DLQ itself) before the start, and SQS keeps ``SentTimestamp`` across the
  move to a standard DLQ (a FIFO DLQ resets it to the move, which is just as good), so a message
  sent later than the start (plus ``CLOCK_SKEW_MS`` for the client's and SQS's clocks) is new
  traffic failing right now, not backlog.

The run stops at the first empty receive (a long poll, which asks every SQS server, so an empty
answer means nothing is visible) or after ``IDLE_RECEIVES`` receives in a row that returned only
held-back messages (failures flowing in faster than the run drains them). Every message it replays
was sent before the start (plus the allowance) and is replayed at most once, and between two
receives that replay something there are fewer than ``IDLE_RECEIVES`` that do not: the run is
bounded even if the consumers keep failing and new failures keep coming.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from synchub.environment import HubEnvironment

REPLAY_ATTRIBUTE = "synchub-replay-count"
RUN_ATTRIBUTE = "synchub-replay-run"  # the run that sent a copy back: a refusal of it comes back with it
REFUSAL_REASON = "synchub-refusal-reason"  # set by a worker that refused the message (synchub_core.lambda_support)
REFUSED_BY = "synchub-refused-by"
# who first sent the message: a copy replay sends carries the ReplayRole's SenderId, so it records the
# original one (the inventory worker takes a site's reports only from its producer role)
ORIGINAL_SENDER = "synchub-original-sender"
# a refusal's own attributes describe one delivery's verdict: not carried back to the source queue
# (a copy that then fails for another reason must not reach the DLQ with the old reason on it)
REFUSAL_ATTRIBUTES = (REFUSAL_REASON, REFUSED_BY, "synchub-source-queue")
BATCH = 10  # SQS batch APIs take at most 10 entries
MAX_BATCH_BYTES = 256 * 1024  # payload limit of one SendMessageBatch (bodies + message attributes)
HOLD_SECONDS = 900  # how long received messages stay invisible while the run lasts
WAIT_SECONDS = 1  # long poll: an empty receive then means no visible message on any SQS server
IDLE_RECEIVES = 3  # stop after this many receives in a row returning only held-back messages
CLOCK_SKEW_MS = 60_000  # allowance between this machine's clock and SQS's SentTimestamp
PROGRESS_EVERY = 500

Progress = Callable[[int, bool], None]  # (messages handled so far, run finished)


@dataclass
class ReplayReport:
    queue: str
    target: str
    moved: int = 0  # messages sent back (or, for the sweep DLQs, records cleared)
    swept: int = 0  # for DLQs replayed by re-running their sweep: events published / orders reserved
    messages: list[str] = field(default_factory=list)  # dry run: the bodies, each message once
    message_ids: list[str] = field(default_factory=list)  # dry run: their MessageIds, in the same order
    refusals: list[str | None] = field(default_factory=list)  # dry run: why a worker refused each, in order
    refused: int = 0  # replay: messages moved back that a worker had refused (see ``refusals``)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (MessageId, reason): refused, kept in the DLQ
    undeleted: int = 0  # sent back, but the DLQ delete failed: the next replay sends a duplicate
    returned: int = 0  # copies this run sent that failed again and came back: left in the DLQ
    arrived: int = 0  # messages sent after the run started: left in the DLQ
    hidden: int = 0  # could not be made visible again: they reappear within HOLD_SECONDS

    def __str__(self) -> str:
        if self.target in SWEEP_LABELS:
            text = f"{self.queue}: {self.moved} DLQ record(s) cleared, {self.swept} {SWEEP_LABELS[self.target]}"
        else:
            text = f"{self.queue}: {self.moved} message(s) moved back to {self.target}"
        return text + "".join(f"; {note}" for note in self.notes())

    def notes(self) -> list[str]:
        notes = []
        if self.refused:
            notes.append(
                f"{self.refused} had been refused by the worker (`synchub replay --dry-run` shows why): "
                "unless what they were refused for has changed, they are refused again"
            )
        if self.failed:
            notes.append(f"{len(self.failed)} could not be sent and stay in the DLQ")
        if self.undeleted:
            notes.append(f"{self.undeleted} sent but not deleted from the DLQ (the next replay sends a duplicate)")
        if self.returned:
            notes.append(f"{self.returned} failed again during the run and wait in the DLQ")
        if self.arrived:
            notes.append(f"{self.arrived} arrived after the run started and wait in the DLQ")
        if self.hidden:
            notes.append(
                f"{self.hidden} could not be made visible again (they reappear within {HOLD_SECONDS // 60} min)"
            )
        return notes


def resolve_queue(env: HubEnvironment, queue: str) -> tuple[str, str]:
    """Accept a friendly name (WorkersReservationWorkerDeadLetterQueue), a physical name or a URL."""
    for name, url in env.queues.items():
        if queue in (name, url, url.rsplit("/", 1)[-1]):
            return name, url
    known = ", ".join(n for n in env.queues if "DeadLetter" in n)
    raise SystemExit(f"unknown queue {queue!r}; dead-letter queues: {known}")


SWEEP_LABELS = {
    "outbox": "pending outbox event(s) published",
    "backorders": "backordered order(s) reserved",
    "erp-watchdog": "overdue ERP order(s) re-sent",
    "reconciliation": "invoice(s) and order(s) re-posted by a reconciliation run",
}


class _Run:
    """One pass over a DLQ: yields each message that was there at the start exactly once, keeps
    everything it received invisible until :meth:`release` (see the module docstring)."""

    def __init__(self, sqs: Any, url: str, report: ReplayReport, progress: Progress | None, every: int) -> None:
        self.sqs, self.url, self.report = sqs, url, report
        self.cutoff_ms = int(time.time() * 1000) + CLOCK_SKEW_MS
        self.held: dict[str, str] = {}  # DLQ MessageId -> latest receipt handle, for all not deleted
        self.seen: set[str] = set()  # every DLQ MessageId received
        self.created: set[str] = set()  # MessageIds of the copies this run sent to the source queue
        self.run_id = uuid.uuid4().hex  # on every copy it sends (RUN_ATTRIBUTE)
        self.progress, self.every, self.next_mark = progress, max(1, every), max(1, every)

    def batches(self) -> Iterator[list[dict[str, Any]]]:
        idle = 0
        while idle < IDLE_RECEIVES:
            got = self.sqs.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=BATCH,
                WaitTimeSeconds=WAIT_SECONDS,
                VisibilityTimeout=HOLD_SECONDS,
                AttributeNames=["All", "SenderId"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not got:
                return
            fresh = []
            for m in got:
                mid = m["MessageId"]
                if mid in self.seen:  # a hold expired: keep the newest handle, replay nothing twice
                    if mid in self.held:
                        self.held[mid] = m["ReceiptHandle"]
                    continue
                self.seen.add(mid)
                self.held[mid] = m["ReceiptHandle"]
                if mid in self.created or self.sent_by_this_run(m):
                    self.report.returned += 1
                elif int(m.get("Attributes", {}).get("SentTimestamp", "0")) > self.cutoff_ms:
                    self.report.arrived += 1
                else:
                    fresh.append(m)
            idle = 0 if fresh else idle + 1
            if fresh:
                yield fresh

    def sent_by_this_run(self, m: dict[str, Any]) -> bool:
        """A copy this run sent back, refused again by the worker (a new message, same attributes)."""
        return (m.get("MessageAttributes") or {}).get(RUN_ATTRIBUTE, {}).get("StringValue") == self.run_id

    def delete(self, messages: list[dict[str, Any]]) -> int:
        """DeleteMessageBatch; returns how many were deleted (the rest stay held, then released)."""
        deleted = 0
        for chunk in _chunks(messages, BATCH):
            result = self.sqs.delete_message_batch(
                QueueUrl=self.url,
                Entries=[{"Id": str(i), "ReceiptHandle": self.held[m["MessageId"]]} for i, m in enumerate(chunk)],
            )
            for ok in result.get("Successful", []):
                self.held.pop(chunk[int(ok["Id"])]["MessageId"], None)
                deleted += 1
        return deleted

    def release(self) -> None:
        """Make every message received and not deleted visible again, ten per call."""
        handles = list(self.held.values())
        for chunk in _chunks(handles, BATCH):
            try:
                result = self.sqs.change_message_visibility_batch(
                    QueueUrl=self.url,
                    Entries=[{"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0} for i, h in enumerate(chunk)],
                )
                self.report.hidden += len(result.get("Failed", []))
            except Exception:  # never mask the run's own outcome: they reappear anyway
                self.report.hidden += len(chunk)
        self.held.clear()

    def tick(self, count: int, done: bool = False) -> None:
        if self.progress is None:
            return
        if done:
            self.progress(count, True)
        elif count >= self.next_mark:
            self.progress(count, False)
            self.next_mark = (count // self.every + 1) * self.every


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def replay(
    env: HubEnvironment,
    queue: str,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
    progress_every: int = PROGRESS_EVERY,
) -> ReplayReport:
    """Replay (or, with ``dry_run``, list) what the DLQ ``queue`` holds now.

    ``progress(count, finished)`` is called every ``progress_every`` messages (listed, replayed or,
    for the sweep DLQs, collected) and once more with the final count."""
    name, url = resolve_queue(env, queue)
    sqs = env.clients()("sqs")
    sources = sqs.list_dead_letter_source_queues(QueueUrl=url).get("queueUrls", [])
    if len(sources) > 1:
        raise SystemExit(f"{name} is the DLQ of {len(sources)} queues; replay cannot tell where messages came from")
    target, sweep = (sources[0], None) if sources else sweep_for(name)
    report = ReplayReport(name, target if not sources or dry_run else target.rsplit("/", 1)[-1])
    run = _Run(sqs, url, report, progress, progress_every)
    try:
        if dry_run:
            for batch in run.batches():
                report.messages.extend(m["Body"] for m in batch)
                report.message_ids.extend(m["MessageId"] for m in batch)
                report.refusals.extend(refusal(m) for m in batch)
                run.tick(len(report.messages))
            run.tick(len(report.messages), done=True)
        elif sources:
            _redrive(run, sources[0])
        else:
            assert sweep is not None
            _replay_by_sweep(run, env, sweep)
    finally:
        run.release()
    return report


def _copy_attributes(m: dict[str, Any], run_id: str) -> dict[str, Any]:
    attrs = {
        k: {kk: vv for kk, vv in v.items() if kk in ("DataType", "StringValue", "BinaryValue")}
        for k, v in m.get("MessageAttributes", {}).items()
        if k not in REFUSAL_ATTRIBUTES
    }
    try:
        count = int(attrs.get(REPLAY_ATTRIBUTE, {}).get("StringValue", "0")) + 1
    except ValueError:
        count = 1
    attrs[REPLAY_ATTRIBUTE] = {"DataType": "Number", "StringValue": str(count)}
    attrs[RUN_ATTRIBUTE] = {"DataType": "String", "StringValue": run_id}
    sender = original_sender(m)
    if sender:
        attrs[ORIGINAL_SENDER] = {"DataType": "String", "StringValue": sender}
    return attrs


def original_sender(message: dict[str, Any]) -> str | None:
    """Who first sent a DLQ message: the ``synchub-original-sender`` it carries (set by the worker that
    refused it, or by an earlier replay), else its ``SenderId`` (a message moved by the redrive
    policy keeps the one it was sent with)."""
    recorded = ((message.get("MessageAttributes") or {}).get(ORIGINAL_SENDER) or {}).get("StringValue")
    if recorded:
        return str(recorded)
    sender = (message.get("Attributes") or {}).get("SenderId")
    return str(sender) if sender else None


def _size(entry: dict[str, Any]) -> int:
    size = len(entry["MessageBody"].encode())
    for key, value in entry["MessageAttributes"].items():
        size += len(key.encode()) + len(value["DataType"].encode())
        size += len(value["StringValue"].encode()) if "StringValue" in value else len(value.get("BinaryValue", b""))
    return size


def _send_chunks(entries: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """At most ten entries and MAX_BATCH_BYTES per SendMessageBatch (a larger message goes alone)."""
    from synchub_core.basics import batches  # the functions' code: the CLI puts functions/ on the path

    return batches(entries, _size, BATCH, MAX_BATCH_BYTES)


def _redrive(run: _Run, source: str) -> None:
    report = run.report
    for batch in run.batches():
        entries = [
            {"Id": str(i), "MessageBody": m["Body"], "MessageAttributes": _copy_attributes(m, run.run_id)}
            for i, m in enumerate(batch)
        ]
        sent: list[dict[str, Any]] = []
        for chunk in _send_chunks(entries):
            result = run.sqs.send_message_batch(QueueUrl=source, Entries=chunk)
            for ok in result.get("Successful", []):
                run.created.add(ok["MessageId"])
                sent.append(batch[int(ok["Id"])])
            for bad in result.get("Failed", []):
                reason = f"{bad.get('Code', 'Failed')}: {bad.get('Message', '')}".rstrip(": ")
                report.failed.append((batch[int(bad["Id"])]["MessageId"], reason))
        report.moved += len(sent)
        report.refused += sum(1 for m in sent if refusal(m) is not None)
        report.undeleted += len(sent) - run.delete(sent)
        run.tick(report.moved + len(report.failed))
    run.tick(report.moved + len(report.failed), done=True)


def _replay_by_sweep(run: _Run, env: HubEnvironment, sweep: Callable[[HubEnvironment], int]) -> None:
    collected: list[dict[str, Any]] = []
    for batch in run.batches():
        collected.extend(batch)
        run.tick(len(collected))
    # if the sweep raises, run.release() keeps the DLQ records, visible again for the next replay
    run.report.swept = sweep(env)
    run.report.moved = run.delete(collected)
    run.tick(run.report.moved, done=True)


def sweep_for(dlq_name: str) -> tuple[str, Callable[[HubEnvironment], int]]:
    """DLQs without a source queue hold records of scheduled or stream work whose state lives in
    DynamoDB: replaying them means running that work again."""
    if dlq_name.startswith("Outbox"):
        return "outbox", run_outbox_sweep
    if dlq_name.startswith("WorkersBackorder"):
        return "backorders", run_backorder_sweep
    if dlq_name.startswith("ConnectorsErpWatchdog"):
        return "erp-watchdog", run_erp_watchdog
    if dlq_name.startswith("ConnectorsReconciler"):
        return "reconciliation", run_reconciliation
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


def run_erp_watchdog(env: HubEnvironment) -> int:
    """Look for ERP order files unanswered too long, as the watchdog does every minute. Returns the
    orders re-sent."""

    def run() -> int:
        from erp.logic import watch

        return watch().resent

    return _with_function_env(env, run)


def run_reconciliation(env: HubEnvironment) -> int:
    """Reconcile the default window (the days of the last RECONCILE_WINDOW_HOURS) with repair on, as the
    hourly run does; a run that failed is simply run again (``synchub reconcile --from/--to`` for an
    older window). Returns what it re-posted and re-sent."""

    def run() -> int:
        from reconciliation.logic import run as reconcile

        result = reconcile(repair=True)
        return int(result["invoices"].get("reposted", 0)) + int(result["erp_orders"].get("resent", 0))

    return _with_function_env(env, run)


def _with_function_env(env: HubEnvironment, fn: Callable[[], int]) -> int:
    with env.running_functions():
        return fn()


def refusal(message: dict[str, Any]) -> str | None:
    """``refused by <worker>: <reason>`` for a message a worker refused, else None."""
    attrs = message.get("MessageAttributes") or {}
    reason = (attrs.get(REFUSAL_REASON) or {}).get("StringValue")
    if reason is None:
        return None
    by = (attrs.get(REFUSED_BY) or {}).get("StringValue") or "a worker"
    return f"refused by {by}: {reason}".translate(_CONTROL)


def preview(body: str, width: int = 200) -> str:
    """One line per message: JSON compacted, anything else shown as it is (control characters escaped)."""
    try:
        text = json.dumps(json.loads(body), ensure_ascii=False)
    except (ValueError, RecursionError):
        text = body.translate(_CONTROL)
    return text if len(text) <= width else text[: width - 3] + "..."


_CONTROL = {c: f"\\x{c:02x}" for c in range(32)} | {ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"}


def main_print(report: ReplayReport, dry_run: bool) -> None:
    if dry_run:
        print(f"{report.queue}: {len(report.messages)} message(s) would be replayed to {report.target}")
        ids = report.message_ids if len(report.message_ids) == len(report.messages) else [""] * len(report.messages)
        refusals = report.refusals if len(report.refusals) == len(report.messages) else [None] * len(report.messages)
        for message_id, body, refused in zip(ids, report.messages, refusals, strict=True):
            print(f"  {message_id}  {preview(body)}")
            if refused:
                print(f"      {refused}")
        for note in report.notes():
            print(f"  ({note})")
    else:
        print(report)
        for message_id, reason in report.failed:
            print(f"  not sent: {message_id}  {reason}")
