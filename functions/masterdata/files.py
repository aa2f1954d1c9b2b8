"""The ERP's master data files as files: S3 event notifications, file names, the CSV stream and the
reject report. No I/O here: the bytes come from and go to :mod:`masterdata.repository`.

* Notifications: an SQS record carries an S3 event notification (``Records[].s3``, keys
  URL-encoded); S3's ``s3:TestEvent`` carries none.
* Names: ``from-erp/master/<kind>/<KIND>-<YYYYMMDDHHMMSS>.csv``; the timestamp orders the files of
  a kind.
* CSV: UTF-8 (a BOM is skipped), ``,`` separated, RFC 4180 quoting (a quoted value may span
  lines), header row first, read line by line from the stream so memory does not grow with the
  file. Blank lines are no rows. Row numbers count data rows from 1.
* Report: ``row,key,reason``, written to a temporary file (a file may reject every one of its
  100,000 rows) and put into the bucket as ``to-erp/reports/<stem>.report.csv``.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any
from urllib.parse import unquote_plus

from .models import FILE_NAME, HEADERS, MASTER_PREFIX, REPORT_HEADER, Kind, Reject

FIELD_LIMIT = 64 * 1024  # a value longer than this is no master data: the row is rejected, memory stays bounded
_NAME = re.compile(r"(?P<prefix>[A-Z]+)-(?P<ts>[0-9]{14})\.csv")


class FileRefused(Exception):
    """The file as a whole cannot be applied (its name, its header, its encoding): ``reason`` says
    why, in words for the ERP team."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ObjectCreated:
    """One object an S3 event notification announces."""

    bucket: str
    key: str
    etag: str | None
    size: int | None


def parse_notification(body: str) -> list[ObjectCreated]:
    """The objects an SQS message body's S3 event notification announces (none for
    ``s3:TestEvent``). Raises ``ValueError`` for a body that is no S3 event notification."""
    document = json.loads(body)
    if not isinstance(document, dict):
        raise ValueError("the message is not an S3 event notification (not a JSON object)")
    if document.get("Event") == "s3:TestEvent":
        return []
    records = document.get("Records")
    if not isinstance(records, list):
        raise ValueError("the message is not an S3 event notification (no Records)")
    found = []
    for record in records:
        s3 = record.get("s3") if isinstance(record, dict) else None
        bucket = (s3 or {}).get("bucket", {}).get("name") if isinstance(s3, dict) else None
        obj = (s3 or {}).get("object") if isinstance(s3, dict) else None
        key = obj.get("key") if isinstance(obj, dict) else None
        if not isinstance(bucket, str) or not isinstance(key, str) or not bucket or not key:
            raise ValueError("the message is not an S3 event notification (a record without bucket and key)")
        event_name = record.get("eventName", "")
        if isinstance(event_name, str) and event_name and not event_name.startswith("ObjectCreated:"):
            continue  # only created objects are files to apply
        etag = obj.get("eTag") if isinstance(obj, dict) else None
        size = obj.get("size") if isinstance(obj, dict) else None
        found.append(
            ObjectCreated(
                bucket=bucket,
                key=unquote_plus(key),
                etag=etag.strip('"') if isinstance(etag, str) and etag else None,
                size=size if isinstance(size, int) else None,
            )
        )
    return found


@dataclass(frozen=True)
class FileName:
    kind: Kind
    ts: str
    stem: str


def stem_of(key: str) -> str:
    """The file's name without folder and ``.csv``: what its report is named after."""
    name = key.rsplit("/", 1)[-1]
    stem = name[:-4] if name.lower().endswith(".csv") else name
    return stem or "unnamed"


def is_master_data_key(key: str) -> bool:
    """Whether ``key`` is an object in the master data drop at all (folders are not)."""
    return key.startswith(MASTER_PREFIX) and not key.endswith("/")


def file_name(key: str) -> FileName:
    """Kind, timestamp and stem of a master data file. Raises :class:`FileRefused` for a name that
    is not ``from-erp/master/<kind>/<KIND>-<YYYYMMDDHHMMSS>.csv``."""
    rest = key.removeprefix(MASTER_PREFIX)
    folder, _, name = rest.partition("/")
    kind = next((k for k in Kind if k.value == folder), None)
    if kind is None or "/" in name:
        folders = ", ".join(f"{MASTER_PREFIX}{k.value}/" for k in Kind)
        raise FileRefused(f"{key} is not in a master data folder: drop files in {folders}")
    expected = f"{FILE_NAME[kind]}-<YYYYMMDDHHMMSS>.csv"
    match = _NAME.fullmatch(name)
    if match is None or match["prefix"] != FILE_NAME[kind]:
        raise FileRefused(f"file name {name} is not {expected} (the {kind.value} folder takes {kind.value} files)")
    try:
        datetime.strptime(match["ts"], "%Y%m%d%H%M%S")
    except ValueError:
        raise FileRefused(f"file name {name}: {match['ts']} is not a timestamp YYYYMMDDHHMMSS") from None
    return FileName(kind, match["ts"], stem_of(key))


MAX_LINE = 1024 * 1024  # bytes without a line end passed on as one line (the CSV reader then rejects it)


def lines_of(chunks: Iterable[bytes], max_line: int = MAX_LINE) -> Iterator[bytes]:
    """Lines (line ends kept, so a quoted value may span them) from the chunks of a stream, never
    holding more than one chunk plus one line, however large the file."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        lines = pending.splitlines(keepends=True)
        pending = lines.pop() if lines and not lines[-1].endswith((b"\n", b"\r")) else b""
        yield from lines
        if len(pending) > max_line:
            yield pending
            pending = b""
    if pending:
        yield pending


def _decoded(lines: Iterable[bytes]) -> Iterator[str]:
    """Lines as text. A line that is not UTF-8 is passed on with U+FFFD in place of the bad bytes
    (the row it belongs to is then rejected as not UTF-8); a BOM before the header is skipped."""
    first = True
    for raw in lines:
        if first:
            raw = raw.removeprefix(codecs.BOM_UTF8)
            first = False
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            yield raw.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class RawRow:
    """A data row as read: its number and values by column, or why it could not be read."""

    number: int
    values: dict[str, str] | None
    problem: str | None = None


def _header(record: list[str], kind: Kind) -> list[str]:
    expected = HEADERS[kind]
    columns = [c.strip().lower() for c in record]
    wanted = ",".join(expected)
    if any("\ufffd" in c for c in columns):
        raise FileRefused(f"the header is not valid UTF-8; expected {wanted}")
    missing = [c for c in expected if c not in columns]
    unknown = [c for c in columns if c not in expected]
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if missing or unknown or repeated:
        parts = []
        if missing:
            parts.append(f"lacks column(s) {', '.join(missing)}")
        if unknown:
            parts.append(f"has unknown column(s) {', '.join(c or '(empty)' for c in unknown)}")
        if repeated:
            parts.append(f"repeats column(s) {', '.join(repeated)}")
        raise FileRefused(f"the header {' and '.join(parts)}: a {kind.value} file's header is {wanted}")
    return columns


def read_rows(lines: Iterable[bytes], kind: Kind) -> Iterator[RawRow]:
    """The data rows of a ``kind`` file, from its lines (bytes, line ends kept, as
    ``StreamingBody.iter_lines(keepends=True)`` yields them). Checks the header first: raises
    :class:`FileRefused` for an empty file or a wrong header (before any row is yielded)."""
    csv.field_size_limit(FIELD_LIMIT)
    reader = csv.reader(_decoded(lines), strict=True)
    columns: list[str] | None = None
    number = 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            if columns is None:
                raise FileRefused(f"the header is not valid CSV ({exc})") from None
            number += 1
            yield RawRow(number, None, f"the row is not valid CSV ({_csv_problem(exc)})")
            continue
        if not any(v.strip() for v in record):
            continue  # a blank line is no row
        if columns is None:
            columns = _header(record, kind)
            continue
        number += 1
        if len(record) != len(columns):
            partial = dict(zip(columns, record, strict=False))  # for the key the report names the row by
            yield RawRow(number, partial, f"the row has {len(record)} value(s), the header {len(columns)}")
            continue
        values = dict(zip(columns, record, strict=True))
        if any("\ufffd" in v for v in record):
            yield RawRow(number, values, "the row is not valid UTF-8")
            continue
        yield RawRow(number, values)
    if columns is None:
        raise FileRefused(f"the file is empty: a {kind.value} file starts with the header {','.join(HEADERS[kind])}")


def _csv_problem(exc: csv.Error) -> str:
    text = str(exc)
    if "field larger than field limit" in text:
        return f"a value longer than {FIELD_LIMIT} characters, or a quote that is never closed"
    return text


class ReportWriter:
    """The reject report, ``row,key,reason``, in a temporary file until it is put into the bucket."""

    def __init__(self) -> None:
        self._file: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115  (closed by close())
        self._text = io.TextIOWrapper(self._file, encoding="utf-8", newline="")
        self._csv = csv.writer(self._text, lineterminator="\n")
        self._csv.writerow(REPORT_HEADER)

    def add(self, reject: Reject) -> None:
        self._csv.writerow((reject.row, reject.key, reject.reason))

    def body(self) -> IO[bytes]:
        """The report so far, positioned at its start, to be read once."""
        self._text.flush()
        self._file.seek(0)
        return self._file

    def close(self) -> None:
        self._text.close()

    def __enter__(self) -> ReportWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
