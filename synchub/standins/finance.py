"""A local cloud finance service: a stand-in for the finance SaaS the hub posts invoices to.

REST/JSON on 127.0.0.1, OAuth 2.0 client credentials (opaque tokens, 1 hour), documents
idempotent on ``external_reference`` (``document_type`` ``invoice``, or ``credit_note``: amounts
positive, every line naming the invoice it credits in ``original_reference``; ``GET
/api/v1/invoices?document_type=`` lists one type), a rate limit answering 429 + ``Retry-After``, fault modes
(``down``, ``slow``, ``flaky``, ``duplicate-accept``, ``recover``) and admin endpoints under
``/_admin`` (no auth) to inspect it and to inject drift. Storage: ``finance.sqlite3`` in the data
dir (WAL), kept across restarts, fault mode included.

    python -m synchub.standins.finance --port 0 --data-dir DIR --client-id ID --client-secret S \\
        --ready-file F [--rate-limit 50]
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import json
import math
import os
import re
import secrets
import sqlite3
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
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

SECRET_ENV = "FINANCE_STANDIN_CLIENT_SECRET"
TOKEN_TTL = 3600
DEFAULT_RATE = 50.0
DEFAULT_SLOW_SECONDS = 8.0
MAX_PAGE = 500
DEFAULT_PAGE = 100
_AMOUNT = re.compile(r"^-?\d{1,15}(\.\d{1,6})?$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_LINE_AMOUNTS = ("quantity", "unit_price", "tax_rate", "net_amount", "tax_amount")
INVOICE, CREDIT_NOTE = "invoice", "credit_note"
DOCUMENT_TYPES = (INVOICE, CREDIT_NOTE)
_TOTALS = ("net_total", "tax_total", "gross_total")

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    external_reference TEXT PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    issue_date TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_by_issue_date ON documents (issue_date, external_reference);
CREATE TABLE IF NOT EXISTS accounts (account TEXT PRIMARY KEY, added_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (token_hash TEXT PRIMARY KEY, client_id TEXT NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY, external_reference TEXT NOT NULL, created_at TEXT NOT NULL
);
"""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def amount(value: Any) -> Decimal | None:
    """A decimal amount from a JSON string or number (never a bool); None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        value = str(value)
    if not isinstance(value, str) or not _AMOUNT.match(value):
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        return None


def _canon(value: Any) -> str:
    d = amount(value)
    return format(d.normalize(), "f") if d is not None else str(value)


def _line_key(line: dict[str, Any]) -> list[str]:
    key = [str(line.get("line_id")), str(line.get("sku"))] + [_canon(line.get(k)) for k in _LINE_AMOUNTS]
    # a credit note line's invoice (only when present: the fingerprints of documents booked before
    # credit notes existed stay what they were)
    return [*key, str(line["original_reference"])] if line.get("original_reference") is not None else key


def fingerprint(doc: dict[str, Any]) -> str:
    """What "the same content" means: type, account, currency, totals and lines (by line_id, with the
    invoice a credit note line credits)."""
    raw = doc.get("lines")
    lines: list[Any] = raw if isinstance(raw, list) else []
    content = {
        "document_type": doc.get("document_type"),
        "customer_account": doc.get("customer_account"),
        "currency": doc.get("currency"),
        **{k: _canon(doc.get(k)) for k in _TOTALS},
        "lines": sorted(_line_key(line) for line in lines if isinstance(line, dict)),
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    out = [
        f"{k} {old.get(k)} booked, {new.get(k)} sent"
        for k in ("document_type", "customer_account", "currency", *_TOTALS)
        if _canon(old.get(k)) != _canon(new.get(k))
    ]
    if out == [] and fingerprint(old) != fingerprint(new):
        out.append("lines differ")
    return out


def validate(body: dict[str, Any]) -> list[str]:
    """Every problem of an invoice/credit note body, business readable ([] = valid)."""
    errors: list[str] = []

    def text(name: str, value: Any, max_len: int = 128) -> None:
        if not isinstance(value, str) or not value.strip() or len(value) > max_len:
            errors.append(f"{name} must be a non-empty string (at most {max_len} characters)")

    text("external_reference", body.get("external_reference"))
    if body.get("document_type") not in DOCUMENT_TYPES:
        errors.append("document_type must be 'invoice' or 'credit_note'")
    credit = body.get("document_type") == CREDIT_NOTE
    text("document_number", body.get("document_number"), 64)
    text("customer_account", body.get("customer_account"), 64)
    issue_date = body.get("issue_date")
    try:
        if not isinstance(issue_date, str) or len(issue_date) != 10:
            raise ValueError
        date.fromisoformat(issue_date)
    except ValueError:
        errors.append("issue_date must be a date YYYY-MM-DD")
    if not isinstance(body.get("currency"), str) or not _CURRENCY.match(body["currency"]):
        errors.append("currency must be an ISO 4217 code (3 capital letters)")
    totals = {k: amount(body.get(k)) for k in _TOTALS}
    for k, v in totals.items():
        if v is None:
            errors.append(f"{k} must be a decimal amount")
        elif credit and v < 0:
            errors.append(f"{k} of a credit note must not be negative (the type makes it a credit)")
    lines = body.get("lines")
    net_sum: Decimal | None = Decimal(0)
    if not isinstance(lines, list) or not lines or len(lines) > 1000:
        errors.append("lines must be a list of 1 to 1000 lines")
        lines, net_sum = [], None
    seen: set[str] = set()
    for n, line in enumerate(lines, 1):
        if not isinstance(line, dict):
            errors.append(f"line {n} must be an object")
            net_sum = None
            continue
        line_id = line.get("line_id")
        if not isinstance(line_id, str | int) or isinstance(line_id, bool) or str(line_id) == "":
            errors.append(f"line {n}: line_id is missing")
        elif str(line_id) in seen:
            errors.append(f"line {n}: line_id {line_id} is repeated")
        else:
            seen.add(str(line_id))
        if not isinstance(line.get("sku"), str) or not line["sku"]:
            errors.append(f"line {n}: sku is missing")
        for k in _LINE_AMOUNTS:
            value = amount(line.get(k))
            if value is None:
                errors.append(f"line {n}: {k} must be a decimal amount")
            elif credit and value < 0:
                errors.append(f"line {n}: {k} of a credit note must not be negative (the type makes it a credit)")
        if credit:
            original = line.get("original_reference")
            if not isinstance(original, str) or not original.strip() or len(original) > 128:
                errors.append(f"line {n}: original_reference (the invoice it credits) is missing")
        net = amount(line.get("net_amount"))
        if net is None or net_sum is None:
            net_sum = None
        else:
            net_sum += net
    refs = body.get("references")
    if refs is not None and not isinstance(refs, dict):
        errors.append("references must be an object")
    net, tax, gross = totals["net_total"], totals["tax_total"], totals["gross_total"]
    if net is not None and tax is not None and gross is not None and net + tax != gross:
        errors.append(f"gross_total {gross} is not net_total {net} + tax_total {tax}")
    if net is not None and net_sum is not None and net_sum != net:
        errors.append(f"net_total {net} is not the sum of the lines' net_amount ({net_sum})")
    return errors


class RateLimiter:
    """A token bucket: ``rate`` requests per second, bursts up to ``rate``; 0 = no limit."""

    def __init__(self, rate: float):
        self.rate = rate
        self.tokens = rate
        self.at = time.monotonic()
        self.lock = threading.Lock()

    def acquire(self) -> int:
        """0 when admitted, else the seconds to wait (>= 1)."""
        if self.rate <= 0:
            return 0
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.rate, self.tokens + (now - self.at) * self.rate)
            self.at = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0
            return max(1, math.ceil((1 - self.tokens) / self.rate))


class FinanceStore(Storage):
    def __init__(self, path: Path):
        super().__init__(path, SCHEMA)
        if self.setting("seeded") is None:
            with self.tx() as db:
                at = now_iso()
                db.executemany(
                    "INSERT OR IGNORE INTO accounts (account, added_at) VALUES (?, ?)",
                    [(a, at) for a in seed.finance_accounts()],
                )
                self.set_setting("seeded", at, db)

    # documents
    def find(self, external_reference: str) -> dict[str, Any] | None:
        rows = self.read("SELECT doc FROM documents WHERE external_reference = ?", (external_reference,))
        return json.loads(rows[0]["doc"]) if rows else None

    def find_id(self, doc_id: str) -> dict[str, Any] | None:
        rows = self.read("SELECT doc FROM documents WHERE id = ?", (doc_id,))
        return json.loads(rows[0]["doc"]) if rows else None

    def insert(self, db: sqlite3.Connection, body: dict[str, Any]) -> dict[str, Any]:
        seq = self.next_number(db, "document_seq", 1)
        doc = {
            **body,
            "id": f"FIN-{seq:08d}",
            "external_reference": body["external_reference"],
            "status": "booked",
            "booked_at": now_iso(),
        }
        db.execute(
            "INSERT INTO documents (external_reference, id, issue_date, fingerprint, doc) VALUES (?, ?, ?, ?, ?)",
            (doc["external_reference"], doc["id"], str(doc.get("issue_date") or ""), fingerprint(doc), _dump(doc)),
        )
        return doc

    def page(
        self, issued_from: str, issued_to: str, after: str, limit: int, document_type: str | None = None
    ) -> list[dict[str, Any]]:
        """Documents by external reference; of ``document_type`` only if given (untyped ones, as an
        injected "extra" may be, count as invoices)."""
        typed = " AND COALESCE(json_extract(doc, '$.document_type'), 'invoice') = ?" if document_type else ""
        rows = self.read(
            "SELECT doc FROM documents WHERE issue_date >= ? AND issue_date <= ? AND external_reference > ?"
            f"{typed} ORDER BY external_reference LIMIT ?",
            (issued_from, issued_to, after, *([document_type] if document_type else []), limit),
        )
        return [json.loads(r["doc"]) for r in rows]

    def count(self, table: str) -> int:
        return int(self.read(f"SELECT COUNT(*) AS n FROM {table}")[0]["n"])

    # accounts
    def has_account(self, account: str) -> bool:
        return bool(self.read("SELECT 1 FROM accounts WHERE account = ?", (account,)))

    # tokens
    def issue_token(self, client_id: str, ttl: int) -> str:
        token = secrets.token_urlsafe(32)
        now = time.time()
        with self.tx() as db:
            db.execute("DELETE FROM tokens WHERE expires_at < ?", (now,))
            db.execute(
                "INSERT INTO tokens (token_hash, client_id, expires_at) VALUES (?, ?, ?)",
                (_token_hash(token), client_id, now + ttl),
            )
        return token

    def token_valid(self, token: str) -> bool:
        rows = self.read("SELECT expires_at FROM tokens WHERE token_hash = ?", (_token_hash(token),))
        return bool(rows) and float(rows[0]["expires_at"]) > time.time()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _dump(doc: dict[str, Any]) -> str:
    return json.dumps(doc, default=str, sort_keys=True)


def _page_token(after: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode().rstrip("=")


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value else default
    except ValueError:
        raise HttpError(422, "validation_error", f"{value!r} is not a number") from None


def _after(token: str) -> str:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if isinstance(data, dict) and isinstance(data.get("after"), str):
            return str(data["after"])
    except (ValueError, binascii.Error):
        pass
    raise HttpError(422, "validation_error", "page_token is not one this API handed out")


class FinanceApp(App):
    name = "finance"

    def __init__(
        self,
        store: FinanceStore,
        client_id: str,
        client_secret: str,
        rate_limit: float = DEFAULT_RATE,
        token_ttl: int = TOKEN_TTL,
    ):
        self.store = store
        self.client_id, self.client_secret = client_id, client_secret
        self.limiter = RateLimiter(rate_limit)
        self.token_ttl = token_ttl
        self.fault = FaultState(store, DEFAULT_SLOW_SECONDS)
        self.post_lock = threading.Lock()  # one booking decision at a time per process
        self.requests = 0
        self.responses: Counter[str] = Counter()
        self.count_lock = threading.Lock()

    def handle(self, request: Request) -> Response:
        parts = split_path(request.path)
        if parts[:1] == ["_admin"]:
            return self.admin(request, parts[1:])
        with self.count_lock:
            self.requests += 1
        response = self.api(request, parts)
        with self.count_lock:
            self.responses["dropped" if response.drop else str(response.status)] += 1
        return response

    # ---------------------------------------------------------------- the API
    def api(self, request: Request, parts: list[str]) -> Response:
        mode = self.fault.mode
        if mode == "down":
            return Response(503, {"error": "unavailable", "detail": "the finance service is down for maintenance"})
        wait = self.limiter.acquire()
        if wait:
            return Response(
                429,
                {"error": "rate_limited", "detail": f"over {self.limiter.rate:g} requests per second"},
                {"Retry-After": str(wait)},
            )
        hit = self.fault.flaky_hit()
        if hit:
            if (hit // 3) % 2 == 0:
                return Response(500, {"error": "internal_error", "detail": "unexpected error, try again"})
            return Response(502, "<html><body><h1>502 Bad Gateway</h1></body></html>")
        try:
            response = self.route(request, parts)
        except HttpError as exc:
            response = exc.response()
        if mode == "slow" and not response.drop:
            response.delay = self.fault.slow_seconds
        return response

    def route(self, request: Request, parts: list[str]) -> Response:
        if parts == ["oauth2", "token"]:
            self._method(request, "POST")
            return self.token(request)
        if parts[:3] == ["api", "v1", "invoices"] and len(parts) <= 4:
            self.authorize(request)
            if len(parts) == 4:
                self._method(request, "GET")
                doc = self.store.find_id(parts[3])
                if doc is None:
                    raise HttpError(404, "not_found", f"no document {parts[3]}")
                return Response(200, doc)
            if request.method == "POST":
                return self.post_invoice(request)
            self._method(request, "GET")
            return self.list_invoices(request)
        raise HttpError(404, "not_found", f"no resource {request.path}")

    @staticmethod
    def _method(request: Request, *allowed: str) -> None:
        if request.method not in allowed:
            raise HttpError(
                405, "method_not_allowed", f"{request.method} is not allowed here", {"Allow": ", ".join(allowed)}
            )

    def token(self, request: Request) -> Response:
        form = request.form()
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        auth = request.headers.get("Authorization", "")
        if auth.lower().startswith("basic "):
            try:
                client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
            except (ValueError, binascii.Error):
                pass
        if form.get("grant_type") != "client_credentials":
            raise HttpError(400, "unsupported_grant_type", "grant_type must be client_credentials")
        ok = hmac.compare_digest(client_id.encode(), self.client_id.encode()) and hmac.compare_digest(
            client_secret.encode(), self.client_secret.encode()
        )
        if not ok:
            raise HttpError(401, "invalid_client", "unknown client or wrong secret")
        token = self.store.issue_token(client_id, self.token_ttl)
        return Response(
            200,
            {"access_token": token, "token_type": "Bearer", "expires_in": self.token_ttl},
            {"Cache-Control": "no-store"},
        )

    def authorize(self, request: Request) -> None:
        auth = request.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip() or not self.store.token_valid(token.strip()):
            raise HttpError(
                401,
                "invalid_token",
                "missing, unknown or expired access token: get one at /oauth2/token",
                {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )

    def post_invoice(self, request: Request) -> Response:
        body = request.json_object()
        errors = validate(body)
        if errors:
            raise HttpError(422, "validation_error", "; ".join(errors[:5]), errors=errors)
        ref = str(body["external_reference"])
        key = (request.headers.get("Idempotency-Key") or "").strip()
        with self.post_lock, self.store.tx() as db:
            if key:
                row = db.execute("SELECT external_reference FROM idempotency WHERE key = ?", (key,)).fetchone()
                if row is not None and row["external_reference"] != ref:
                    raise HttpError(
                        409,
                        "idempotency_key_reused",
                        f"Idempotency-Key {key} was used for external_reference {row['external_reference']}",
                    )
                if row is None:
                    db.execute(
                        "INSERT INTO idempotency (key, external_reference, created_at) VALUES (?, ?, ?)",
                        (key, ref, now_iso()),
                    )
            row = db.execute(
                "SELECT id, fingerprint, doc FROM documents WHERE external_reference = ?", (ref,)
            ).fetchone()
            if row is not None:
                existing = json.loads(row["doc"])
                if row["fingerprint"] == fingerprint(body):
                    return Response(200, existing)
                raise HttpError(
                    409,
                    "duplicate_reference",
                    f"external_reference {ref} is booked as {row['id']} with other content: "
                    + "; ".join(differences(existing, body)),
                    existing_id=row["id"],
                )
            account = str(body["customer_account"])
            if db.execute("SELECT 1 FROM accounts WHERE account = ?", (account,)).fetchone() is None:
                raise HttpError(
                    422,
                    "unknown_account",
                    f"customer account {account} does not exist in finance: create the account, then post again",
                    customer_account=account,
                )
            doc = self.store.insert(db, body)
        if self.fault.mode == "duplicate-accept":
            return Response(201, doc, drop=True)  # booked; the answer is lost on the way
        return Response(201, doc, {"Location": f"/api/v1/invoices/{doc['id']}"})

    def list_invoices(self, request: Request) -> Response:
        q = request.query
        if q.get("external_reference"):
            doc = self.store.find(q["external_reference"])
            return Response(200, {"items": [doc] if doc else [], "next_page_token": None})
        try:
            issued_from = date.fromisoformat(q.get("issued_from") or "0001-01-01").isoformat()
            issued_to = date.fromisoformat(q.get("issued_to") or "9999-12-31").isoformat()
            limit = int(q.get("limit") or DEFAULT_PAGE)
        except ValueError:
            raise HttpError(
                422, "validation_error", "issued_from/issued_to must be YYYY-MM-DD and limit a number"
            ) from None
        if not 1 <= limit <= MAX_PAGE:
            raise HttpError(422, "validation_error", f"limit must be 1 to {MAX_PAGE}")
        document_type = q.get("document_type") or None
        if document_type is not None and document_type not in DOCUMENT_TYPES:
            raise HttpError(422, "validation_error", "document_type must be 'invoice' or 'credit_note'")
        after = _after(q["page_token"]) if q.get("page_token") else ""
        items = self.store.page(issued_from, issued_to, after, limit + 1, document_type)
        more = len(items) > limit
        items = items[:limit]
        token = _page_token(items[-1]["external_reference"]) if more else None
        return Response(200, {"items": items, "next_page_token": token})

    # ---------------------------------------------------------------- admin
    def admin(self, request: Request, parts: list[str]) -> Response:
        m = request.method
        if parts == ["fault"] and m == "POST":
            body = request.json_object()
            return Response(200, self.fault.set(str(body.get("mode")), body.get("slow_seconds")))
        if parts == ["status"] and m == "GET":
            with self.count_lock:
                requests, responses = self.requests, dict(self.responses)
            return Response(
                200,
                {
                    **self.fault.describe(),
                    "documents": self.store.count("documents"),
                    "requests": requests,
                    "accounts": self.store.count("accounts"),
                    "responses": responses,
                    "rate_limit": self.limiter.rate,
                },
            )
        if parts == ["accounts"] and m == "POST":
            account = request.json_object().get("account")
            if not isinstance(account, str) or not account.strip():
                raise HttpError(422, "validation_error", "account must be a non-empty string")
            with self.store.tx() as db:
                db.execute("INSERT OR IGNORE INTO accounts (account, added_at) VALUES (?, ?)", (account, now_iso()))
            return Response(201, {"account": account})
        if parts[:1] == ["accounts"] and len(parts) == 2:
            if m == "GET":
                if not self.store.has_account(parts[1]):
                    raise HttpError(404, "not_found", f"no account {parts[1]}")
                return Response(200, {"account": parts[1]})
            if m == "DELETE":
                with self.store.tx() as db:
                    gone = db.execute("DELETE FROM accounts WHERE account = ?", (parts[1],)).rowcount
                if not gone:
                    raise HttpError(404, "not_found", f"no account {parts[1]}")
                return Response(200, {"account": parts[1], "removed": True})
        if parts == ["tokens", "revoke"] and m == "POST":
            with self.store.tx() as db:
                n = db.execute("DELETE FROM tokens").rowcount
            return Response(200, {"revoked": n})
        if parts == ["invoices"] and m == "GET":
            ref = request.query.get("external_reference")
            if ref:
                doc = self.store.find(ref)
                return Response(200, {"items": [doc] if doc else []})
            limit = _int(request.query.get("limit"), 1000)
            return Response(200, {"items": self.store.page("", "9999-99-99", "", limit)})
        if parts == ["invoices"] and m == "POST":  # inject "extra": a document the hub never sent
            body = request.json_object()
            if not isinstance(body.get("external_reference"), str) or not body["external_reference"]:
                raise HttpError(422, "validation_error", "external_reference is required")
            body.setdefault("issue_date", date.today().isoformat())
            with self.post_lock, self.store.tx() as db:
                if db.execute(
                    "SELECT 1 FROM documents WHERE external_reference = ?", (body["external_reference"],)
                ).fetchone():
                    raise HttpError(409, "duplicate_reference", "that external_reference is booked already")
                doc = self.store.insert(db, body)
            return Response(201, doc)
        if parts[:1] == ["invoices"] and len(parts) == 2:
            ref = parts[1]
            if m == "GET":
                doc = self.store.find(ref)
                if doc is None:
                    raise HttpError(404, "not_found", f"no document with external_reference {ref}")
                return Response(200, doc)
            if m == "DELETE":  # inject "missing"
                with self.store.tx() as db:
                    gone = db.execute("DELETE FROM documents WHERE external_reference = ?", (ref,)).rowcount
                if not gone:
                    raise HttpError(404, "not_found", f"no document with external_reference {ref}")
                return Response(200, {"external_reference": ref, "deleted": True})
            if m == "PATCH":  # inject "mismatched"
                changes = request.json_object()
                for fixed in ("id", "external_reference", "booked_at"):
                    changes.pop(fixed, None)
                with self.post_lock, self.store.tx() as db:
                    row = db.execute("SELECT doc FROM documents WHERE external_reference = ?", (ref,)).fetchone()
                    if row is None:
                        raise HttpError(404, "not_found", f"no document with external_reference {ref}")
                    doc = {**json.loads(row["doc"]), **changes}
                    db.execute(
                        "UPDATE documents SET doc = ?, fingerprint = ?, issue_date = ? WHERE external_reference = ?",
                        (_dump(doc), fingerprint(doc), str(doc.get("issue_date") or ""), ref),
                    )
                return Response(200, json.loads(_dump(doc)))
        raise HttpError(404, "not_found", f"no admin resource {m} {request.path}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m synchub.standins.finance", description=(__doc__ or "").split("\n\n")[0])
    common_arguments(p)
    p.add_argument("--client-id", required=True)
    p.add_argument(
        "--client-secret",
        default=os.environ.get(SECRET_ENV),
        help=f"the client's secret (default: ${SECRET_ENV}, which keeps it out of the process list)",
    )
    p.add_argument("--rate-limit", type=float, default=DEFAULT_RATE, help="API requests per second (0 = none)")
    p.add_argument("--token-ttl", type=int, default=TOKEN_TTL, help="access token lifetime in seconds")
    args = p.parse_args(argv)
    if not args.client_secret:
        p.error(f"--client-secret (or ${SECRET_ENV}) is required")
    configure_logging(args.verbose)
    data_dir = Path(args.data_dir)
    lock = lock_data_dir(data_dir, "finance")
    store = FinanceStore(data_dir / "finance.sqlite3")
    app = FinanceApp(store, args.client_id, args.client_secret, args.rate_limit, args.token_ttl)
    server = Server(args.port, app)
    ready = {"url": server.url, "admin_url": server.url, "pid": os.getpid()}
    code = serve(server, args.ready_file, ready, exit_with_parent=args.exit_with_parent, on_stop=store.close)
    lock.close()
    return code


if __name__ == "__main__":
    raise SystemExit(main())
