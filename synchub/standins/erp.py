"""A local legacy ERP: a stand-in for the ERP the hub exchanges batch files with.

It polls the exchange bucket for order files (``to-erp/orders/*.csv``), books each order once
(idempotent on ``order_id``: a repeated order is ACCEPTED again with the same ``SO-`` number),
rejects orders of blocked or unknown customers and unknown or discontinued SKUs with the ERP's
reason, and answers every file with an ack file ``from-erp/acks/ACK-<stem>.csv``. Processed
files are moved to ``to-erp/processed/``. It exports its master data (products, customers,
prices) as CSV files into ``from-erp/master/...``. Fault modes and inspection through an admin
HTTP server on 127.0.0.1. Storage: ``erp.sqlite3`` in the data dir (WAL), kept across restarts.

    python -m synchub.standins.erp --data-dir DIR --s3-endpoint URL --region R --bucket B \\
        --port 0 --ready-file F [--poll-interval 1.0]
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from . import seed
from .common import (
    App,
    FaultState,
    HttpError,
    Request,
    Response,
    Server,
    Storage,
    common_arguments,
    configure_logging,
    lock_data_dir,
    serve,
    split_path,
)

ORDERS_PREFIX = "to-erp/orders/"
PROCESSED_PREFIX = "to-erp/processed/"
ACKS_PREFIX = "from-erp/acks/"
MASTER_PREFIX = "from-erp/master/"
ORDER_COLUMNS = [
    "order_id",
    "channel",
    "channel_order_ref",
    "customer_id",
    "order_date",
    "currency",
    "line_id",
    "sku",
    "quantity",
    "unit_price",
    "tax_rate",
]
ACK_COLUMNS = ["order_id", "status", "erp_order_number", "reason", "currency", "net_total", "line_count"]
MASTER_COLUMNS = {
    "products": ["sku", "description", "unit_of_measure", "status"],
    "customers": ["customer_id", "name", "country", "status", "price_group"],
    "prices": ["sku", "price_group", "currency", "unit_price", "valid_from", "valid_to"],
}
KINDS = tuple(MASTER_COLUMNS)
DEFAULT_SLOW_SECONDS = 20.0
CENT = Decimal("0.01")
FILE_REJECTED_REASON = "batch import aborted: the order interface is locked by another job; resend the file"

log = logging.getLogger("synchub.standins.erp")

SCHEMA = """
CREATE TABLE IF NOT EXISTS products (
    sku TEXT PRIMARY KEY, description TEXT NOT NULL, unit_of_measure TEXT NOT NULL, status TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS customers (
    customer_id TEXT PRIMARY KEY, name TEXT NOT NULL, country TEXT NOT NULL, status TEXT NOT NULL,
    price_group TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS prices (
    sku TEXT NOT NULL, price_group TEXT NOT NULL, currency TEXT NOT NULL, unit_price TEXT NOT NULL,
    valid_from TEXT NOT NULL, valid_to TEXT NOT NULL,
    PRIMARY KEY (sku, price_group, currency, valid_from)
);
CREATE TABLE IF NOT EXISTS orders (
    order_id TEXT PRIMARY KEY, erp_order_number TEXT NOT NULL UNIQUE, customer_id TEXT NOT NULL,
    channel TEXT NOT NULL, channel_order_ref TEXT NOT NULL, order_date TEXT NOT NULL,
    currency TEXT NOT NULL, net_total TEXT NOT NULL, line_count INTEGER NOT NULL,
    file TEXT NOT NULL, booked_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS order_lines (
    order_id TEXT NOT NULL, line_id TEXT NOT NULL, sku TEXT NOT NULL, quantity TEXT NOT NULL,
    unit_price TEXT NOT NULL, tax_rate TEXT NOT NULL, price_source TEXT NOT NULL,
    PRIMARY KEY (order_id, line_id)
);
CREATE TABLE IF NOT EXISTS rejections (
    order_id TEXT NOT NULL, file TEXT NOT NULL, reason TEXT NOT NULL, at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS files (
    name TEXT PRIMARY KEY, status TEXT NOT NULL, orders INTEGER NOT NULL, accepted INTEGER NOT NULL,
    rejected INTEGER NOT NULL, acks TEXT NOT NULL, processed_at TEXT NOT NULL, uploaded TEXT NOT NULL
);
"""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def money(value: Decimal) -> str:
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def decimal_or_none(value: str) -> Decimal | None:
    try:
        d = Decimal(value.strip())
    except (InvalidOperation, AttributeError):
        return None
    return d if d.is_finite() else None


class Stopping(Exception):
    """The stand-in is stopping: leave the file for the next start."""


class FileRejected(Exception):
    """The whole file is refused (FILE_REJECTED); the reason says why."""


@dataclass
class Order:
    order_id: str
    rows: list[dict[str, str]] = field(default_factory=list)


@dataclass
class Outcome:
    order_id: str
    status: str
    erp_order_number: str = ""
    reason: str = ""
    currency: str = ""
    net_total: str = ""
    line_count: int | str = ""

    def row(self) -> list[str]:
        return [
            self.order_id,
            self.status,
            self.erp_order_number,
            self.reason,
            self.currency,
            self.net_total,
            str(self.line_count),
        ]


class ErpStore(Storage):
    def __init__(self, path: Path):
        super().__init__(path, SCHEMA)
        columns = {row["name"] for row in self.read("PRAGMA table_info(files)")}
        if "uploaded" not in columns:  # storage of an earlier version
            with self.tx() as db:
                db.execute("ALTER TABLE files ADD COLUMN uploaded TEXT NOT NULL DEFAULT ''")
        if self.setting("seeded") is None:
            with self.tx() as db:
                db.executemany(
                    "INSERT OR IGNORE INTO products VALUES (?, ?, ?, ?)",
                    [(p.sku, p.description, p.unit_of_measure, p.status) for p in seed.products()],
                )
                db.executemany(
                    "INSERT OR IGNORE INTO customers VALUES (?, ?, ?, ?, ?)",
                    [(c.customer_id, c.name, c.country, c.status, c.price_group) for c in seed.customers()],
                )
                db.executemany(
                    "INSERT OR IGNORE INTO prices VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (p.sku, p.price_group, p.currency, str(p.unit_price), p.valid_from, p.valid_to)
                        for p in seed.prices()
                    ],
                )
                self.set_setting("seeded", now_iso(), db)

    def one(self, sql: str, params: tuple[Any, ...]) -> sqlite3.Row | None:
        rows = self.read(sql, params)
        return rows[0] if rows else None

    def count(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        return int(self.read(sql, params)[0][0])

    def order(self, order_id: str) -> dict[str, Any] | None:
        row = self.one("SELECT * FROM orders WHERE order_id = ?", (order_id,))
        if row is None:
            return None
        lines = self.read("SELECT * FROM order_lines WHERE order_id = ? ORDER BY rowid", (order_id,))
        return {**dict(row), "lines": [{k: v for k, v in dict(line).items() if k != "order_id"} for line in lines]}

    def price(self, sku: str, group: str, currency: str, on: str) -> Decimal | None:
        for g in dict.fromkeys((group, "STANDARD")):
            row = self.one(
                "SELECT unit_price FROM prices WHERE sku = ? AND price_group = ? AND currency = ? AND valid_from <= ? "
                "AND (valid_to = '' OR valid_to >= ?) ORDER BY valid_from DESC LIMIT 1",
                (sku, g, currency, on, on),
            )
            if row is not None:
                return Decimal(row["unit_price"])
        return None


class Erp:
    """The batch interface: polls the bucket, books orders, writes acks, exports master data."""

    def __init__(self, store: ErpStore, s3: Any, bucket: str, poll_interval: float = 1.0):
        self.store, self.s3, self.bucket = store, s3, bucket
        self.poll_interval = poll_interval
        self.fault = FaultState(store, DEFAULT_SLOW_SECONDS)
        self.stop = threading.Event()
        self.wake = threading.Event()
        self.book_lock = threading.Lock()
        self.export_lock = threading.Lock()
        self.last_error: str | None = None
        self.thread = threading.Thread(target=self._loop, name="erp-poller", daemon=True)

    # ------------------------------------------------------------------ the loop
    def start(self) -> None:
        self.thread.start()

    def close(self, timeout: float = 10.0) -> None:
        self.stop.set()
        self.wake.set()
        self.thread.join(timeout)

    def _loop(self) -> None:
        while not self.stop.is_set():
            try:
                self.poll_once()
                self.last_error = None
            except Stopping:
                break
            except Exception as exc:
                if self.last_error != repr(exc):
                    log.warning("poll failed: %r", exc)
                self.last_error = repr(exc)
            self.wake.wait(self.poll_interval)
            self.wake.clear()

    def pending(self) -> list[tuple[str, str]]:
        """Order files waiting in the bucket as (key, "LastModified|ETag"), oldest name first (names carry a
        timestamp)."""
        files: list[tuple[str, str]] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=ORDERS_PREFIX):
            for o in page.get("Contents", []):
                name = o["Key"][len(ORDERS_PREFIX) :]
                if name.endswith(".csv") and "/" not in name:
                    files.append((o["Key"], f"{o.get('LastModified', '')}|{o.get('ETag', '')}"))
        return sorted(files)

    def poll_once(self) -> int:
        """Process every waiting file (unless the ERP is down); returns how many were processed."""
        done = 0
        for key, uploaded in self.pending():
            if self.stop.is_set():
                raise Stopping
            if self.fault.mode == "down":
                break
            # a processed file is moved away at once: one still here is new, or a resend under the same
            # name (processed again: its orders are known, so the ack says the same)
            if self.fault.mode == "slow":
                self._linger()
                if self.fault.mode == "down":
                    break
            self.process(key, uploaded)
            done += 1
        return done

    def _linger(self) -> None:
        """The slow mode's wait before a file; cut short when the mode changes."""
        deadline = time.monotonic() + self.fault.slow_seconds
        while self.fault.mode == "slow" and (left := deadline - time.monotonic()) > 0:
            if self.stop.wait(min(left, 0.2)):
                raise Stopping

    # ------------------------------------------------------------------ one file
    def process(self, key: str, uploaded: str = "") -> None:
        name = key[len(ORDERS_PREFIX) :]
        stem = name[:-4] if name.endswith(".csv") else name
        counts = {"orders": 0, "ACCEPTED": 0, "REJECTED": 0}
        with tempfile.TemporaryFile() as ack:
            ack_text = io.TextIOWrapper(ack, encoding="utf-8", newline="")
            writer = csv.writer(ack_text, lineterminator="\n")
            writer.writerow(ACK_COLUMNS)
            status = "DONE"
            try:
                if self.fault.flaky_hit():
                    raise FileRejected(FILE_REJECTED_REASON)
                for outcome in self._outcomes(key, name):
                    writer.writerow(outcome.row())
                    counts["orders"] += 1
                    counts[outcome.status] += 1
            except FileRejected as exc:
                ack_text.seek(0)
                ack_text.truncate()
                writer.writerow(ACK_COLUMNS)
                writer.writerow(Outcome("*", "FILE_REJECTED", reason=str(exc)).row())
                status = "FILE_REJECTED"
                counts = {"orders": 0, "ACCEPTED": 0, "REJECTED": 0}
                log.warning("file %s rejected: %s", name, exc)
            ack_text.flush()
            ack_keys = [f"{ACKS_PREFIX}ACK-{stem}.csv"]
            if self.fault.mode == "duplicate-accept":
                ack_keys.append(f"{ACKS_PREFIX}ACK-{stem}-2.csv")
            for ack_key in ack_keys:
                ack.seek(0)
                self.s3.put_object(Bucket=self.bucket, Key=ack_key, Body=ack, ContentType="text/csv")
            ack_text.detach()
        with self.store.tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO files (name, status, orders, accepted, rejected, acks, processed_at, uploaded) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    status,
                    counts["orders"],
                    counts["ACCEPTED"],
                    counts["REJECTED"],
                    ",".join(ack_keys),
                    now_iso(),
                    uploaded,
                ),
            )
        log.info("file %s: %s, %s order(s), ack %s", name, status, counts["orders"], ack_keys[0])
        self._archive(key, name)

    def _archive(self, key: str, name: str) -> None:
        self.s3.copy_object(
            Bucket=self.bucket, Key=PROCESSED_PREFIX + name, CopySource={"Bucket": self.bucket, "Key": key}
        )
        self.s3.delete_object(Bucket=self.bucket, Key=key)

    def _outcomes(self, key: str, name: str) -> Iterator[Outcome]:
        """Stream the file: one order (its consecutive rows) in memory at a time."""
        with tempfile.TemporaryFile() as raw:
            self.s3.download_fileobj(self.bucket, key, raw)
            raw.seek(0)
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="strict", newline="")
            try:
                reader = csv.DictReader(text)
                header = reader.fieldnames or []
                missing = [c for c in ORDER_COLUMNS if c not in header]
                if missing:
                    raise FileRejected(f"the header lacks column(s) {', '.join(missing)}: not an order file")
                current: Order | None = None
                for row in reader:
                    if self.stop.is_set():
                        raise Stopping
                    oid = (row.get("order_id") or "").strip()
                    if current is not None and oid != current.order_id:
                        yield self.book(current, name)
                        current = None
                    if current is None:
                        current = Order(oid)
                    current.rows.append({k: (v or "").strip() for k, v in row.items() if isinstance(k, str)})
                if current is not None:
                    yield self.book(current, name)
            except UnicodeDecodeError:
                raise FileRejected("the file is not UTF-8 text") from None
            except csv.Error as exc:
                raise FileRejected(f"the file is not valid CSV ({exc})") from None
            finally:
                text.detach()

    # ------------------------------------------------------------------ booking
    def book(self, order: Order, file: str) -> Outcome:
        with self.book_lock:
            return self._book(order, file)

    def _book(self, order: Order, file: str) -> Outcome:
        oid = order.order_id
        first = order.rows[0]
        currency = first.get("currency", "")
        if not oid:
            return Outcome("", "REJECTED", reason="order_id is empty", currency=currency, line_count=len(order.rows))
        booked = self.store.one("SELECT * FROM orders WHERE order_id = ?", (oid,))
        if booked is not None:  # the same order again: the ERP knows it
            return Outcome(
                oid,
                "ACCEPTED",
                booked["erp_order_number"],
                "",
                booked["currency"],
                booked["net_total"],
                booked["line_count"],
            )
        reasons: list[str] = []
        for col in ("customer_id", "currency", "order_date", "channel"):
            if len({r.get(col, "") for r in order.rows}) > 1:
                reasons.append(f"the rows of the order disagree on {col}")
        cid = first.get("customer_id", "")
        customer = self.store.one("SELECT status, price_group FROM customers WHERE customer_id = ?", (cid,))
        if customer is None:
            reasons.append(f"customer {cid or '(empty)'} is not known in ERP")
        elif customer["status"] == "BLOCKED":
            reasons.append(f"customer {cid} is blocked in ERP (credit hold)")
        if currency not in seed.CURRENCIES:
            reasons.append(f"currency {currency or '(empty)'} is not supported by ERP")
        try:
            order_date = date.fromisoformat(first.get("order_date", "")[:10]).isoformat()
        except ValueError:
            order_date = ""
            reasons.append(f"order_date {first.get('order_date') or '(empty)'} is not a date")
        net = Decimal(0)
        lines: list[tuple[str, str, str, str, str, str]] = []
        seen: set[str] = set()
        for r in order.rows:
            line_id, sku = r.get("line_id", ""), r.get("sku", "")
            if not line_id or line_id in seen:
                reasons.append(f"line {line_id or '(empty)'}: line_id is empty or repeated")
            seen.add(line_id)
            product = self.store.one("SELECT status FROM products WHERE sku = ?", (sku,))
            if product is None:
                reasons.append(f"line {line_id}: sku {sku or '(empty)'} is not known in ERP")
            elif product["status"] != "ACTIVE":
                reasons.append(f"line {line_id}: sku {sku} is discontinued in ERP")
            qty = decimal_or_none(r.get("quantity", ""))
            if qty is None or qty <= 0:
                reasons.append(f"line {line_id}: quantity {r.get('quantity') or '(empty)'} is not a positive number")
                qty = Decimal(0)
            source = "order"
            price = decimal_or_none(r.get("unit_price", "")) if r.get("unit_price") else None
            if r.get("unit_price") and (price is None or price < 0):
                reasons.append(f"line {line_id}: unit_price {r.get('unit_price')} is not a price")
                price = Decimal(0)
            if price is None:  # no price on the order: the ERP prices it from its price list
                group = customer["price_group"] if customer is not None else "STANDARD"
                price = self.store.price(sku, group, currency, order_date) if order_date else None
                source = "erp"
                if price is None and product is not None:
                    reasons.append(f"line {line_id}: no {currency} price for sku {sku} on {order_date or '?'}")
                price = price or Decimal(0)
            net += qty * price
            lines.append((line_id, sku, r.get("quantity", ""), str(price), r.get("tax_rate", ""), source))
        if reasons:
            reason = "; ".join(dict.fromkeys(reasons))
            with self.store.tx() as db:
                db.execute("INSERT INTO rejections VALUES (?, ?, ?, ?)", (oid, file, reason, now_iso()))
            return Outcome(oid, "REJECTED", "", reason, currency, "", len(order.rows))
        with self.store.tx() as db:
            number = f"SO-{self.store.next_number(db, 'so_seq', 1000001):07d}"
            db.execute(
                "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    oid,
                    number,
                    cid,
                    first.get("channel", ""),
                    first.get("channel_order_ref", ""),
                    order_date,
                    currency,
                    money(net),
                    len(lines),
                    file,
                    now_iso(),
                ),
            )
            db.executemany("INSERT INTO order_lines VALUES (?, ?, ?, ?, ?, ?, ?)", [(oid, *line) for line in lines])
        return Outcome(oid, "ACCEPTED", number, "", currency, money(net), len(lines))

    # ------------------------------------------------------------------ master data export
    def export(self, kinds: list[str], bad_rows: bool = False) -> list[dict[str, Any]]:
        unknown = [k for k in kinds if k not in KINDS]
        if unknown or not kinds:
            raise HttpError(422, "validation_error", f"kinds must be a non-empty list of {', '.join(KINDS)}")
        with self.export_lock:
            stamp = self._stamp()
            return [self._export_one(kind, stamp, bad_rows) for kind in dict.fromkeys(kinds)]

    def _stamp(self) -> str:
        """YYYYMMDDHHMMSS, later than every earlier export's (two exports never share a name)."""
        now = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
        last = self.store.setting("export_stamp")
        if last is not None:
            now = max(now, datetime.strptime(last, "%Y%m%d%H%M%S") + timedelta(seconds=1))
        stamp = now.strftime("%Y%m%d%H%M%S")
        self.store.set_setting("export_stamp", stamp)
        return stamp

    def _export_one(self, kind: str, stamp: str, bad_rows: bool) -> dict[str, Any]:
        key = f"{MASTER_PREFIX}{kind}/{kind.upper()}-{stamp}.csv"
        bad = _bad_rows(kind) if bad_rows else []
        rows, bad_numbers = 0, []
        with tempfile.TemporaryFile() as out:
            text = io.TextIOWrapper(out, encoding="utf-8", newline="")
            writer = csv.writer(text, lineterminator="\n")
            writer.writerow(MASTER_COLUMNS[kind])
            for row in self._master_rows(kind):
                writer.writerow(row)
                rows += 1
                if bad and rows % 3 == 0:  # interleaved, as a real export's mistakes are
                    writer.writerow(bad.pop(0))
                    rows += 1
                    bad_numbers.append(rows)
            for row in bad:
                writer.writerow(row)
                rows += 1
                bad_numbers.append(rows)
            text.flush()
            out.seek(0)
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=out, ContentType="text/csv")
            text.detach()
        log.info("exported %s: %s row(s) to %s", kind, rows, key)
        return {"kind": kind, "key": key, "rows": rows, "bad_rows": bad_numbers}

    def _master_rows(self, kind: str) -> Iterator[list[str]]:
        cols = MASTER_COLUMNS[kind]
        order = {"products": "sku", "customers": "customer_id", "prices": "sku, price_group, currency, valid_from"}[
            kind
        ]
        with self.store.lock:
            cursor = self.store.db.execute(f"SELECT {', '.join(cols)} FROM {kind} ORDER BY {order}")
            while batch := cursor.fetchmany(500):
                for row in batch:
                    yield [str(row[c]) for c in cols]


def _bad_rows(kind: str) -> list[list[str]]:
    """Invalid rows a careless export contains (bad_rows=true), for demos of the reject report."""
    if kind == "products":
        return [
            ["", "Row without a SKU", "PCS", "ACTIVE"],
            ["SKU-BAD-STATUS", "Unknown status", "PCS", "OBSOLETE"],
            ["SKU-NO-UNIT", "No unit of measure", "", "ACTIVE"],
        ]
    if kind == "customers":
        return [
            ["", "Customer without an id", "NL", "ACTIVE", "STANDARD"],
            ["CUST-BAD-STATUS", "Unknown status", "NL", "SUSPENDED", "STANDARD"],
            ["CUST-NO-GROUP", "No price group", "DE", "ACTIVE", ""],
        ]
    return [
        ["FLOUR-T55-25KG", "STANDARD", "EUR", "-1.00", "2024-02-01", ""],
        ["YEAST-DRY-500G", "STANDARD", "XXX", "3.95", "2024-02-01", ""],
        ["SKU-00004", "STANDARD", "EUR", "5.123456", "2024-02-01", ""],
        ["SKU-00001", "STANDARD", "EUR", "abc", "2024-02-01", ""],
        ["SKU-00002", "STANDARD", "EUR", "5.00", "2024-13-45", ""],
        ["SKU-00003", "STANDARD", "EUR", "5.00", "2024-06-01", "2024-01-01"],
    ]


class ErpAdminApp(App):
    name = "erp"

    def __init__(self, erp: Erp):
        self.erp = erp
        self.store = erp.store

    def handle(self, request: Request) -> Response:
        parts = split_path(request.path)
        if parts[:1] != ["_admin"]:
            raise HttpError(404, "not_found", "the ERP speaks files; its admin API is under /_admin")
        parts, m = parts[1:], request.method
        if parts == ["fault"] and m == "POST":
            body = request.json_object()
            out = self.erp.fault.set(str(body.get("mode")), body.get("slow_seconds"))
            self.erp.wake.set()
            return Response(200, out)
        if parts == ["status"] and m == "GET":
            return Response(200, self.status())
        if parts == ["poll"] and m == "POST":
            self.erp.wake.set()
            return Response(202, {"polling": True})
        if parts == ["export"] and m == "POST":
            body = request.json_object() if request.body.strip() else {}
            kinds = body.get("kinds", list(KINDS))
            if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
                raise HttpError(422, "validation_error", "kinds must be a list of names")
            return Response(200, {"files": self.erp.export(kinds, bool(body.get("bad_rows", False)))})
        if parts[:1] == ["customers"] and len(parts) == 2:
            return self.customer(request, parts[1])
        if parts[:1] == ["products"] and len(parts) == 2 and m == "GET":
            row = self.store.one("SELECT * FROM products WHERE sku = ?", (parts[1],))
            if row is None:
                raise HttpError(404, "not_found", f"no product {parts[1]}")
            return Response(200, dict(row))
        if parts == ["orders"] and m == "GET":
            limit = int(request.query.get("limit") or 1000) if request.query.get("limit", "").isdigit() else 1000
            rows = self.store.read("SELECT * FROM orders ORDER BY erp_order_number LIMIT ?", (limit,))
            return Response(200, {"items": [dict(r) for r in rows]})
        if parts[:1] == ["orders"] and len(parts) == 2:
            return self.order(request, parts[1])
        if parts[:1] == ["files"] and len(parts) == 2 and m == "GET":
            row = self.store.one("SELECT * FROM files WHERE name = ?", (parts[1],))
            if row is None:
                raise HttpError(404, "not_found", f"no processed file {parts[1]}")
            return Response(200, dict(row))
        raise HttpError(404, "not_found", f"no admin resource {m} {request.path}")

    def status(self) -> dict[str, Any]:
        try:
            pending: int | None = len(self.erp.pending())
        except Exception:
            pending = None
        return {
            **self.erp.fault.describe(),
            "orders_booked": self.store.count("SELECT COUNT(*) FROM orders"),
            "orders_rejected": self.store.count("SELECT COUNT(*) FROM rejections"),
            "files_processed": self.store.count("SELECT COUNT(*) FROM files WHERE status = 'DONE'"),
            "files_rejected": self.store.count("SELECT COUNT(*) FROM files WHERE status = 'FILE_REJECTED'"),
            "files_pending": pending,
            "customers_blocked": self.store.count("SELECT COUNT(*) FROM customers WHERE status = 'BLOCKED'"),
            "bucket": self.erp.bucket,
            "last_error": self.erp.last_error,
        }

    def customer(self, request: Request, cid: str) -> Response:
        if request.method == "GET":
            row = self.store.one("SELECT * FROM customers WHERE customer_id = ?", (cid,))
            if row is None:
                raise HttpError(404, "not_found", f"no customer {cid}")
            return Response(200, dict(row))
        if request.method != "POST":
            raise HttpError(405, "method_not_allowed", "GET or POST")
        status = request.json_object().get("status")
        if status not in ("ACTIVE", "BLOCKED"):
            raise HttpError(422, "validation_error", "status must be ACTIVE or BLOCKED")
        with self.store.tx() as db:
            if not db.execute("UPDATE customers SET status = ? WHERE customer_id = ?", (status, cid)).rowcount:
                raise HttpError(404, "not_found", f"no customer {cid}")
        return Response(200, {"customer_id": cid, "status": status})

    def order(self, request: Request, oid: str) -> Response:
        m = request.method
        if m == "GET":
            order = self.store.order(oid)
            if order is None:
                rej = self.store.read("SELECT reason, file, at FROM rejections WHERE order_id = ? ORDER BY at", (oid,))
                detail = f"no booked order {oid}" + (f" (rejected: {rej[-1]['reason']})" if rej else "")
                raise HttpError(404, "not_found", detail, rejections=[dict(r) for r in rej])
            return Response(200, order)
        if m == "DELETE":  # inject "missing"
            with self.erp.book_lock, self.store.tx() as db:
                gone = db.execute("DELETE FROM orders WHERE order_id = ?", (oid,)).rowcount
                db.execute("DELETE FROM order_lines WHERE order_id = ?", (oid,))
            if not gone:
                raise HttpError(404, "not_found", f"no booked order {oid}")
            return Response(200, {"order_id": oid, "deleted": True})
        if m == "PATCH":  # inject a mismatch
            body = request.json_object()
            changes: dict[str, Any] = {}
            if "net_total" in body:
                net = decimal_or_none(str(body["net_total"]))
                if net is None:
                    raise HttpError(422, "validation_error", "net_total must be a decimal amount")
                changes["net_total"] = money(net)
            if "currency" in body:
                changes["currency"] = str(body["currency"])
            if "line_count" in body:
                changes["line_count"] = int(body["line_count"])
            if not changes:
                raise HttpError(422, "validation_error", "nothing to change: net_total, currency or line_count")
            with self.erp.book_lock, self.store.tx() as db:
                sets = ", ".join(f"{k} = ?" for k in changes)
                n = db.execute(f"UPDATE orders SET {sets} WHERE order_id = ?", (*changes.values(), oid)).rowcount
            if not n:
                raise HttpError(404, "not_found", f"no booked order {oid}")
            return Response(200, self.store.order(oid))
        raise HttpError(405, "method_not_allowed", "GET, PATCH or DELETE")


def s3_client(endpoint: str, region: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(
            s3={"addressing_style": "path"},
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=5,
            read_timeout=60,
        ),
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m synchub.standins.erp", description=(__doc__ or "").split("\n\n")[0])
    common_arguments(p)
    p.add_argument("--s3-endpoint", required=True, help="the emulator's S3 endpoint")
    p.add_argument("--region", default="eu-west-1")
    p.add_argument("--bucket", required=True, help="the exchange bucket")
    p.add_argument("--poll-interval", type=float, default=1.0, help="seconds between looks at the bucket")
    args = p.parse_args(argv)
    configure_logging(args.verbose)
    data_dir = Path(args.data_dir)
    lock = lock_data_dir(data_dir, "erp")
    store = ErpStore(data_dir / "erp.sqlite3")
    erp = Erp(store, s3_client(args.s3_endpoint, args.region), args.bucket, args.poll_interval)
    server = Server(args.port, ErpAdminApp(erp))
    erp.start()

    def on_stop() -> None:
        erp.close()
        store.close()

    code = serve(
        server,
        args.ready_file,
        {"admin_url": server.url, "pid": os.getpid()},
        exit_with_parent=args.exit_with_parent,
        on_stop=on_stop,
    )
    lock.close()
    return code


if __name__ == "__main__":
    raise SystemExit(main())
