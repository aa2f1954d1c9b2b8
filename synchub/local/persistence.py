"""The local hub keeps its data: DynamoDB items, SQS messages and unread stream records survive a restart.

Layout under ``<state dir>/data/``:

* ``snapshot.jsonl``: a full copy of the state, written now and then (compaction), atomically
  (temporary file, fsync, rename). Its first line names the journal generation it includes.
* ``journal-<generation>.jsonl``: what changed since, appended every ``interval`` seconds (1 s by
  default) and fsynced. Each flush is one block of records ending in a commit line; a block
  without its commit line (the process died while writing it) is ignored. Only the items and
  messages that changed are written, so a flush costs what changed, not what the hub holds.
* ``streams.json``: the DynamoDB stream records no consumer had read yet, written at a clean stop
  and put back on the next start (after a crash they are gone; the outbox sweeper publishes what
  they would have carried).
* ``control.json``: secrets, RestApi ids, API keys and usage plans (:mod:`.control_state`), written
  whole when they changed, at the same pace as the journal; put back before provisioning.

A clean stop (Ctrl-C, SIGTERM) loses nothing. ``kill -9`` loses at most the changes of the last
``interval`` seconds, and whole DynamoDB transactions only: a flush reads its items under the
emulator's lock, so it never holds half a transaction. Compaction starts a new journal
generation before it writes the snapshot, so a crash at any point leaves a snapshot plus the
journals that follow it.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import moto_isolation
from .control_state import ControlState

log = logging.getLogger("synchub.local")
FORMAT = "synchub-local-state"
VERSION = 1
COMPACT_MIN_BYTES = 64 * 1024 * 1024


@dataclass
class RestoreReport:
    items: int = 0
    messages: int = 0
    stream_records: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # unknown table/queue -> records
    torn_blocks: int = 0
    control: dict[str, int] = field(default_factory=dict)  # secrets, rest_apis, api_keys, usage_plans

    def __bool__(self) -> bool:
        return bool(self.items or self.messages or self.stream_records)

    def __str__(self) -> str:
        text = f"{self.items} item(s), {self.messages} queued message(s), {self.stream_records} stream record(s)"
        if self.skipped:
            text += "; not in the template any more: " + ", ".join(f"{k} ({v})" for k, v in self.skipped.items())
        if self.torn_blocks:
            text += f"; {self.torn_blocks} incomplete journal block(s) from a crash ignored"
        if any(self.control.values()):
            text += "; " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in self.control.items() if v)
        return text


class _RestoredStreamRecord:
    def __init__(self, record: dict[str, Any], at: float) -> None:
        self.record = record
        self._synchub_at = at

    def to_json(self) -> dict[str, Any]:
        return self.record


def _message_json(m: Any) -> dict[str, Any]:
    return {
        "body": m.body,
        "attrs": m.message_attributes,
        "sys": m.system_attributes,
        "sent": m.sent_timestamp,
        "count": m.approximate_receive_count,
        "first": m.approximate_first_receive_timestamp,
        "group": m.group_id,
        "dedup": m.deduplication_id,
        "seq": m.sequence_number,
        "sender": m.sender_id,
    }


def _key_id(key: dict[str, Any]) -> str:
    return json.dumps(key, sort_keys=True, separators=(",", ":"))


class Store(moto_isolation.ChangeListener):
    """Journal + snapshot persistence of the embedded moto's DynamoDB and SQS state."""

    def __init__(
        self,
        directory: Path,
        account: str,
        region: str,
        interval: float = 1.0,
        compact_min_bytes: int = COMPACT_MIN_BYTES,
    ) -> None:
        self.dir = directory
        self.account, self.region, self.interval = account, region, interval
        self.compact_min_bytes = compact_min_bytes
        self._lock = threading.Lock()
        self._dirty_items: dict[tuple[str, str], dict[str, Any]] = {}
        self._dirty_messages: dict[str, str | None] = {}  # message id -> queue it was added to
        self._where: dict[str, str] = {}  # message id -> queue holding it
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._journal: Any = None
        self.generation = 0
        self.flushes = 0
        self.control = ControlState(directory / "control.json", account, region)
        self._control_counts: dict[str, int] = {}

    # -- moto backends ------------------------------------------------------------------------
    @property
    def _ddb(self) -> Any:
        from moto.dynamodb.models import dynamodb_backends

        return dynamodb_backends[self.account][self.region]

    @property
    def _sqs(self) -> Any:
        from moto.sqs.models import sqs_backends

        return sqs_backends[self.account][self.region]

    # -- change listener (called by the emulator, often under its lock) ------------------------------
    def item_changed(self, table: str, key: dict[str, Any]) -> None:
        with self._lock:
            self._dirty_items[(table, _key_id(key))] = key

    def message_changed(self, message_id: str, queue: str | None) -> None:
        with self._lock:
            self._dirty_messages[message_id] = queue
            if queue is not None:
                self._where[message_id] = queue

    # -- files --------------------------------------------------------------------------------
    @property
    def snapshot_path(self) -> Path:
        return self.dir / "snapshot.jsonl"

    @property
    def streams_path(self) -> Path:
        return self.dir / "streams.json"

    def _journal_path(self, generation: int) -> Path:
        return self.dir / f"journal-{generation:08d}.jsonl"

    def _journals(self) -> list[tuple[int, Path]]:
        found = []
        for p in self.dir.glob("journal-*.jsonl"):
            try:
                found.append((int(p.stem.split("-", 1)[1]), p))
            except ValueError:
                continue
        return sorted(found)

    def wipe(self) -> None:
        for p in [self.snapshot_path, self.streams_path, *(p for _, p in self._journals())]:
            p.unlink(missing_ok=True)
        self.control.wipe()

    def restore_control(self) -> dict[str, int]:
        """Put secrets, RestApis, API keys and usage plans back (before the template is provisioned)."""
        try:
            self._control_counts = self.control.restore()
        except Exception:  # never prevent starting: provisioning makes what the template needs
            log.exception("restoring the secrets and API keys failed; they start afresh")
            self._control_counts = {}
        return self._control_counts

    # -- restore ------------------------------------------------------------------------------
    def restore(self) -> RestoreReport:
        """Load the snapshot, the journals after it and the saved stream records into the emulator."""
        self.dir.mkdir(parents=True, exist_ok=True)
        report = RestoreReport()
        base = 0
        if self.snapshot_path.exists():
            lines = self._read_lines(self.snapshot_path)
            header = next(lines, None)
            if header and header.get("format") == FORMAT:
                base = int(header["generation"])
                for record in lines:
                    self._apply(record, report)
            else:
                log.warning("%s is not a synchub state snapshot; ignored", self.snapshot_path)
        for generation, path in self._journals():
            if generation < base:
                path.unlink(missing_ok=True)  # already in the snapshot (a compaction was cut short)
                continue
            block: list[dict[str, Any]] = []
            for record in self._read_lines(path):
                if "commit" in record:
                    for r in block:
                        self._apply(r, report)
                    block = []
                else:
                    block.append(record)
            if block:
                report.torn_blocks += 1
        if self.streams_path.exists():
            try:
                for table, records in json.loads(self.streams_path.read_text()).items():
                    report.stream_records += self._restore_stream(table, records, report)
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("saved stream records unreadable (%s); the outbox sweeper covers them", exc)
            self.streams_path.unlink()
        self.generation = max([base, *(g for g, _ in self._journals())]) + 1
        with self._lock:  # restoring is not a change
            self._dirty_items.clear()
            self._dirty_messages.clear()
        report.control = dict(self._control_counts)
        return report

    @staticmethod
    def _read_lines(path: Path) -> Iterator[dict[str, Any]]:
        with path.open("rb") as fh:
            for raw in fh:
                try:
                    yield json.loads(raw)
                except ValueError:
                    return  # a torn last line: the rest of the file was never committed

    def _apply(self, record: dict[str, Any], report: RestoreReport) -> None:
        from moto.dynamodb.models.dynamo_type import DynamoType, Item

        if "t" in record:
            table = self._ddb.tables.get(record["t"])
            if table is None:
                report.skipped[record["t"]] = report.skipped.get(record["t"], 0) + 1
                return
            key = record["k"]
            h = DynamoType(key[table.hash_key_attr])
            r = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
            exists = (table.items.get(h, {}).get(r) if r is not None else table.items.get(h)) is not None
            moto_isolation.place_item(table, h, r, Item(h, r, record["i"]) if record["i"] is not None else None)
            report.items += int(not exists) if record["i"] is not None else -int(exists)
        elif "id" in record:
            self._apply_message(record, report)

    def _apply_message(self, record: dict[str, Any], report: RestoreReport) -> None:
        from moto.sqs.models import Message

        message_id = record["id"]
        previous = self._where.pop(message_id, None)
        if previous is not None:
            queue = self._sqs.queues.get(previous)
            if queue is not None:
                queue._messages = [m for m in queue._messages if m.id != message_id]
                report.messages -= 1
        data = record.get("m")
        if data is None:
            return
        queue = self._sqs.queues.get(record["q"])
        if queue is None:
            report.skipped[record["q"]] = report.skipped.get(record["q"], 0) + 1
            return
        m = Message(message_id, data["body"], data.get("sys") or {})
        m.message_attributes = data.get("attrs") or {}
        m.sent_timestamp = data.get("sent")
        m.approximate_receive_count = int(data.get("count") or 0)
        m.approximate_first_receive_timestamp = data.get("first")
        m.group_id, m.deduplication_id, m.sequence_number = data.get("group"), data.get("dedup"), data.get("seq")
        m.sender_id = data.get("sender") or m.sender_id
        queue._messages.append(m)
        self._where[message_id] = queue.name
        report.messages += 1

    def _restore_stream(self, table_name: str, records: list[dict[str, Any]], report: RestoreReport) -> int:
        table = self._ddb.tables.get(table_name)
        if table is None or table.stream_shard is None:
            report.skipped[table_name] = report.skipped.get(table_name, 0) + len(records)
            return 0
        shard = table.stream_shard
        for saved in records:
            record = saved["record"]
            record["dynamodb"]["SequenceNumber"] = str(shard.starting_sequence_number + len(shard.items))
            shard.items.append(_RestoredStreamRecord(record, saved["at"]))
        return len(records)

    # -- writing ------------------------------------------------------------------------------
    def start(self) -> None:
        """Listen for changes and flush them every ``interval`` seconds."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self._journal = self._journal_path(self.generation).open("ab")
        moto_isolation.set_change_listener(self)
        self._thread = threading.Thread(target=self._run, name="synchub-persistence", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.control.save()
            except Exception:
                log.exception("saving the secrets and API keys failed")
            try:
                self.flush()
                if self._journal.tell() > max(self.compact_min_bytes, 2 * self._snapshot_size()):
                    self.compact()
            except Exception:  # keep the hub serving; the next flush tries again
                log.exception("persisting the local hub's state failed")

    def _snapshot_size(self) -> int:
        try:
            return self.snapshot_path.stat().st_size
        except FileNotFoundError:
            return 0

    def _collect(self) -> list[bytes]:
        """Lines for everything that changed since the last flush (call with the emulator locked)."""
        with self._lock:
            items, self._dirty_items = self._dirty_items, {}
            messages, self._dirty_messages = self._dirty_messages, {}
            where = {mid: self._where.get(mid) for mid in messages}
        lines = []
        tables = self._ddb.tables
        for (table_name, _), key in items.items():
            table = tables.get(table_name)
            if table is None:
                continue
            key = moto_isolation.table_key(table, key)
            current = self._ddb.get_item(table_name, key)
            lines.append(
                json.dumps(
                    {"t": table_name, "k": key, "i": current.to_json()["Attributes"] if current is not None else None}
                )
            )
        by_queue: dict[str, dict[str, Any]] = {}
        for message_id, queue_name in where.items():
            found = None
            if queue_name is not None:
                if queue_name not in by_queue:
                    queue = self._sqs.queues.get(queue_name)
                    by_queue[queue_name] = {m.id: m for m in queue._messages} if queue is not None else {}
                found = by_queue[queue_name].get(message_id)
            if found is None:
                with self._lock:
                    if self._where.get(message_id) == queue_name:
                        self._where.pop(message_id, None)
            lines.append(
                json.dumps(
                    {"id": message_id, "q": queue_name, "m": _message_json(found) if found is not None else None},
                    default=str,
                )
            )
        return [line.encode() + b"\n" for line in lines]

    def flush(self) -> int:
        """Append what changed since the last flush as one committed block; returns the records written."""
        with moto_isolation.lock():
            lines = self._collect()
        if not lines:
            return 0
        self.flushes += 1
        lines.append(json.dumps({"commit": self.flushes, "at": time.time()}).encode() + b"\n")
        self._journal.write(b"".join(lines))
        self._journal.flush()
        os.fsync(self._journal.fileno())
        return len(lines) - 1

    def compact(self) -> None:
        """Write a full snapshot and drop the journals it includes."""
        with moto_isolation.lock():
            lines = self._collect()
            old_journal, old_generation = self._journal, self.generation
            self.generation += 1
            snapshot = [
                json.dumps(
                    {"format": FORMAT, "version": VERSION, "generation": self.generation, "at": time.time()}
                ).encode()
                + b"\n"
            ]
            for table in list(self._ddb.tables.values()):
                for item in moto_isolation.items_of(table):  # unsorted: less work under the lock
                    attrs = item.to_json()["Attributes"]
                    snapshot.append(
                        json.dumps({"t": table.name, "k": moto_isolation.table_key(table, attrs), "i": attrs}).encode()
                        + b"\n"
                    )
            for queue in list(self._sqs.queues.values()):
                for m in list(queue._messages):
                    snapshot.append(
                        json.dumps({"id": m.id, "q": queue.name, "m": _message_json(m)}, default=str).encode() + b"\n"
                    )
        if lines:  # the changes of the closing generation are in the snapshot; keep them in its journal too
            old_journal.write(b"".join(lines) + json.dumps({"commit": -1}).encode() + b"\n")
        old_journal.flush()
        os.fsync(old_journal.fileno())
        old_journal.close()
        self._journal = self._journal_path(self.generation).open("ab")
        tmp = self.snapshot_path.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            fh.write(b"".join(snapshot))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.snapshot_path)
        self._fsync_dir()
        for generation, path in self._journals():
            if generation <= old_generation:
                path.unlink(missing_ok=True)

    def _fsync_dir(self) -> None:
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def save_streams(self) -> int:
        """Write the stream records no consumer has read (call once the consumers have stopped)."""
        saved: dict[str, list[dict[str, Any]]] = {}
        with moto_isolation.lock():
            for table in self._ddb.tables.values():
                shard = table.stream_shard
                if shard is None or not shard.items:
                    continue
                saved[table.name] = [
                    {"record": r.to_json(), "at": getattr(r, "_synchub_at", time.time())} for r in shard.items
                ]
        if not saved:
            return 0
        tmp = self.streams_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(saved, default=_epoch))
        os.replace(tmp, self.streams_path)
        return sum(len(v) for v in saved.values())

    def stop(self, save_streams: bool = True) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        moto_isolation.set_change_listener(None)
        try:
            self.control.save()
        except Exception:
            log.exception("saving the secrets and API keys failed")
        if self._journal is not None:
            self.flush()
            self._journal.close()
            self._journal = None
        if save_streams:
            self.save_streams()


def _epoch(value: Any) -> Any:
    return value.timestamp() if hasattr(value, "timestamp") else str(value)
