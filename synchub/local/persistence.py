"""The local hub keeps its data: DynamoDB items, SQS messages, S3 objects and unread stream records survive
a restart.

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
* ``objects/<sha256[:2]>/<sha256>``: the content of S3 objects, one file per distinct content, written
  (and fsynced) before the journal block that names it; the snapshot and journal records of an object
  key hold its versions' metadata (version id, ETag, last modified, user metadata, delete markers)
  and the content's hash. Compaction deletes the files no version in the snapshot names.
* ``control.json``: secrets, SSM parameters, buckets (versioning, notification configuration), RestApi
  ids, API keys and usage plans (:mod:`.control_state`), written whole when they changed, at the same
  pace as the journal; put back before provisioning.

A clean stop (Ctrl-C, SIGTERM) loses nothing. ``kill -9`` loses at most the changes of the last
``interval`` seconds, and whole DynamoDB transactions only: a flush reads its items under the
emulator's lock, so it never holds half a transaction; an S3 object and the notification S3 sent
for it are kept together (the write and its notification happen under the same lock). Compaction
starts a new journal generation before it writes the snapshot, so a crash at any point leaves a
snapshot plus the journals that follow it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from . import moto_isolation
from .control_state import ControlState

log = logging.getLogger("synchub.local")
FORMAT = "synchub-local-state"
VERSION = 1
COMPACT_MIN_BYTES = 64 * 1024 * 1024
BLOB_CHUNK = 1024 * 1024


@dataclass
class RestoreReport:
    items: int = 0
    messages: int = 0
    stream_records: int = 0
    objects: int = 0  # S3 object keys (with all their versions)
    skipped: dict[str, int] = field(default_factory=dict)  # unknown table/queue -> records
    torn_blocks: int = 0
    control: dict[str, int] = field(default_factory=dict)  # secrets, rest_apis, api_keys, usage_plans

    def __bool__(self) -> bool:
        return bool(self.items or self.messages or self.stream_records or self.objects)

    def __str__(self) -> str:
        text = f"{self.items} item(s), {self.messages} queued message(s), {self.stream_records} stream record(s)"
        if self.objects:
            text += f", {self.objects} S3 object(s)"
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
        self._dirty_objects: set[tuple[str, str]] = set()  # (bucket, object key)
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

    @property
    def _s3(self) -> Any:
        from moto.s3.models import s3_backends

        return s3_backends[self.account]["aws"]

    # -- change listener (called by the emulator, often under its lock) ------------------------------
    def item_changed(self, table: str, key: dict[str, Any]) -> None:
        with self._lock:
            self._dirty_items[(table, _key_id(key))] = key

    def message_changed(self, message_id: str, queue: str | None) -> None:
        with self._lock:
            self._dirty_messages[message_id] = queue
            if queue is not None:
                self._where[message_id] = queue

    def object_changed(self, bucket: str, key: str) -> None:
        with self._lock:
            self._dirty_objects.add((bucket, key))

    # -- files --------------------------------------------------------------------------------
    @property
    def snapshot_path(self) -> Path:
        return self.dir / "snapshot.jsonl"

    @property
    def streams_path(self) -> Path:
        return self.dir / "streams.json"

    @property
    def objects_dir(self) -> Path:
        return self.dir / "objects"

    def _blob_path(self, digest: str) -> Path:
        return self.objects_dir / digest[:2] / digest

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
        shutil.rmtree(self.objects_dir, ignore_errors=True)
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
            self._dirty_objects.clear()
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
        elif "b" in record:
            self._apply_object(record, report)

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

    def _apply_object(self, record: dict[str, Any], report: RestoreReport) -> None:
        """Put an object key's versions (``v``, oldest first; empty: the key is gone) into its bucket."""
        from moto.s3.models import FakeDeleteMarker, FakeKey
        from moto.utilities.utils import LowercaseDict

        bucket = self._s3.buckets.get(record["b"])
        if bucket is None:
            report.skipped[record["b"]] = report.skipped.get(record["b"], 0) + 1
            return
        name = record["o"]
        existed = bool(dict.get(bucket.keys, name))
        versions: list[Any] = []
        for saved in record["v"]:
            if saved.get("dm"):
                marker: Any = object.__new__(FakeDeleteMarker)
                marker.key, marker.name = (versions[-1] if versions else None), name
                marker.last_modified = _parse_time(saved.get("lm"))
                marker._version_id = saved["vid"]
                versions.append(marker)
                continue
            blob = self._blob_path(saved["blob"])
            if not blob.exists():
                log.warning("the content of s3://%s/%s (%s) is missing; version left out", record["b"], name, blob)
                report.skipped[record["b"]] = report.skipped.get(record["b"], 0) + 1
                continue
            lock_mode, legal, until = saved.get("lock") or (None, None, None)
            fk: Any = FakeKey(
                name=name,
                value=b"",
                account_id=self.account,
                region_name=bucket.region_name,
                storage=saved.get("sc"),
                etag=saved.get("etag"),
                is_versioned=bool(saved.get("ver")),
                version_id=saved.get("vid"),
                bucket_name=bucket.name,
                encryption=saved.get("enc"),
                kms_key_id=saved.get("kms"),
                bucket_key_enabled=saved.get("bke"),
                lock_mode=lock_mode,
                lock_legal_status=legal,
                lock_until=until,
                checksum_value=saved.get("cv"),
            )
            with blob.open("rb") as fh:  # streamed: a large object never sits in memory twice
                shutil.copyfileobj(fh, fk._value_buffer, BLOB_CHUNK)
            fk.contentsize = fk._value_buffer.tell()
            fk.last_modified = _parse_time(saved.get("lm"))
            metadata = LowercaseDict()
            metadata.update(saved.get("meta") or {})
            fk._metadata = metadata
            fk.checksum_algorithm = saved.get("ca")
            fk.website_redirect_location = saved.get("wrl")
            fk._synchub_blob = saved["blob"]
            versions.append(fk)
        for old in dict.get(bucket.keys, name) or []:
            if old not in versions and hasattr(old, "dispose"):
                old.dispose()
        if versions:
            dict.__setitem__(bucket.keys, name, versions)
        else:
            dict.pop(bucket.keys, name, None)
        report.objects += int(bool(versions)) - int(existed)

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

    def _cut_objects(self) -> list[tuple[str, str, list[Any]]]:
        """The changed object keys and their versions as they are now (call with the emulator locked: S3
        writes and the notifications they send happen under the same lock)."""
        with self._lock:
            changed, self._dirty_objects = self._dirty_objects, set()
        buckets = self._s3.buckets
        out = []
        for bucket_name, name in sorted(changed):
            bucket = buckets.get(bucket_name)
            versions = list(dict.get(bucket.keys, name) or []) if bucket is not None else []
            out.append((bucket_name, name, [(_version_json(v), v) for v in versions]))
        return out

    def _object_lines(self, cut: list[tuple[str, str, list[Any]]]) -> list[bytes]:
        """Journal lines for a cut of object keys; their content is written to the object files first.
        A version whose content is gone (replaced and released since the cut) is written by the next
        flush, which the change that replaced it has already scheduled."""
        lines: list[bytes] = []
        dirs: set[Path] = set()
        for bucket_name, name, versions in cut:
            saved = []
            for meta, version in versions:
                if not meta.get("dm"):
                    digest = self._write_blob(version, dirs)
                    if digest is None:
                        break
                    meta["blob"] = digest
                saved.append(meta)
            else:
                lines.append(json.dumps({"b": bucket_name, "o": name, "v": saved}, default=str).encode() + b"\n")
        for d in dirs:
            _fsync_path(d)
        return lines

    def _write_blob(self, version: Any, dirs: set[Path]) -> str | None:
        """The content file of an object version (written once per version: its hash is remembered on it)."""
        digest = getattr(version, "_synchub_blob", None)
        if digest is not None:
            return str(digest)
        self.objects_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.objects_dir / f".tmp-{uuid.uuid4().hex}"
        h = hashlib.sha256()
        try:
            with version.lock, tmp.open("wb") as out:
                buffer = version._value_buffer
                buffer.seek(0)
                while chunk := buffer.read(BLOB_CHUNK):
                    h.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
        except ValueError:  # its buffer was closed: the version was replaced meanwhile
            tmp.unlink(missing_ok=True)
            return None
        digest = h.hexdigest()
        path = self._blob_path(digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            tmp.unlink()
        else:
            os.replace(tmp, path)
            dirs.add(path.parent)
        version._synchub_blob = digest
        return digest

    def flush(self) -> int:
        """Append what changed since the last flush as one committed block; returns the records written."""
        with moto_isolation.lock():
            lines = self._collect()
            cut = self._cut_objects()
        lines += self._object_lines(cut)
        if not lines:
            return 0
        self.flushes += 1
        lines.append(json.dumps({"commit": self.flushes, "at": time.time()}).encode() + b"\n")
        self._journal.write(b"".join(lines))
        self._journal.flush()
        os.fsync(self._journal.fileno())
        return len(lines) - 1

    def compact(self) -> None:
        """Write a full snapshot and drop the journals it includes (and the object files it does not name)."""
        with moto_isolation.lock():
            lines = self._collect()
            cut = self._cut_objects()
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
            all_objects = [
                (bucket.name, name, [(_version_json(v), v) for v in versions])
                for bucket in list(self._s3.buckets.values())
                for name, versions in _entries(bucket.keys)
            ]
        lines += self._object_lines(cut)
        if lines:  # the changes of the closing generation are in the snapshot; keep them in its journal too
            old_journal.write(b"".join(lines) + json.dumps({"commit": -1}).encode() + b"\n")
        old_journal.flush()
        os.fsync(old_journal.fileno())
        old_journal.close()
        self._journal = self._journal_path(self.generation).open("ab")
        object_lines = self._object_lines(all_objects)  # a version replaced since: the next journal has it
        tmp = self.snapshot_path.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            fh.write(b"".join(snapshot))
            fh.writelines(object_lines)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.snapshot_path)
        self._fsync_dir()
        for generation, path in self._journals():
            if generation <= old_generation:
                path.unlink(missing_ok=True)
        self._collect_garbage(object_lines)

    def _collect_garbage(self, snapshot_object_lines: list[bytes]) -> None:
        """Delete the object files neither the snapshot nor the current journal names."""
        if not self.objects_dir.exists():
            return
        keep: set[str] = set()
        for line in snapshot_object_lines:
            keep.update(v["blob"] for v in json.loads(line)["v"] if "blob" in v)
        for record in self._read_lines(self._journal_path(self.generation)):
            keep.update(v["blob"] for v in record.get("v", []) if "blob" in v)
        for path in self.objects_dir.glob("*/*"):
            if path.name not in keep:
                path.unlink(missing_ok=True)
        for path in self.objects_dir.glob(".tmp-*"):
            path.unlink(missing_ok=True)

    def _fsync_dir(self) -> None:
        _fsync_path(self.dir)

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


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _entries(store: dict[str, Any]) -> list[tuple[str, list[Any]]]:
    """A copy of a bucket's key -> versions map that request threads may be changing."""
    for _ in range(10):
        try:
            return [(k, list(v)) for k, v in dict.items(store)]
        except RuntimeError:  # changed size during iteration
            continue
    return [(k, list(v)) for k, v in dict.items(store)]


def _version_json(v: Any) -> dict[str, Any]:
    """An S3 object version's metadata (its content goes to an object file)."""
    if not hasattr(v, "_value_buffer"):  # a delete marker
        return {"dm": True, "vid": v.version_id, "lm": _time_text(v.last_modified)}
    return {
        "vid": v._version_id,
        "ver": v._is_versioned,
        "etag": v._etag,
        "lm": _time_text(v.last_modified),
        "size": v.contentsize,
        "meta": dict(v._metadata),
        "sc": v._storage_class,
        "enc": v.encryption,
        "kms": v.kms_key_id,
        "bke": v.bucket_key_enabled,
        "lock": [v.lock_mode, v.lock_legal_status, v.lock_until],
        "ca": v.checksum_algorithm,
        "cv": v.checksum_value,
        "wrl": v.website_redirect_location,
    }


def _time_text(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else (str(value) if value is not None else None)


def _parse_time(text: str | None) -> datetime:
    from moto.core.utils import utcnow

    if not text:
        return utcnow()
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return utcnow()


def _epoch(value: Any) -> Any:
    return value.timestamp() if hasattr(value, "timestamp") else str(value)
