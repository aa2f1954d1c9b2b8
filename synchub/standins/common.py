"""What both stand-ins share: a small JSON-over-HTTP server, sqlite storage, the ready file and
a clean exit on SIGTERM."""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import logging
import os
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl, unquote, urlsplit

MODES = ("down", "slow", "flaky", "duplicate-accept", "recover")
MAX_BODY = 10 * 1024 * 1024

log = logging.getLogger("synchub.standins")


class HttpError(Exception):
    """An error answer: ``{"error": code, "detail": detail, **extra}``."""

    def __init__(self, status: int, error: str, detail: str, headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail
        self.headers = headers or {}
        self.extra = extra

    def response(self) -> Response:
        return Response(self.status, {"error": self.error, "detail": self.detail, **self.extra}, dict(self.headers))


@dataclass
class Request:
    method: str
    path: str  # percent-decoded, without the query
    query: dict[str, str]
    headers: Message
    body: bytes

    def json(self) -> Any:
        if not self.body.strip():
            raise HttpError(422, "validation_error", "the request has no body: send a JSON object")
        try:
            return json.loads(self.body, parse_float=Decimal)
        except ValueError as exc:
            raise HttpError(422, "validation_error", f"the body is not valid JSON ({exc.__class__.__name__})") from None

    def json_object(self) -> dict[str, Any]:
        body = self.json()
        if not isinstance(body, dict):
            raise HttpError(422, "validation_error", "the body must be a JSON object")
        return body

    def form(self) -> dict[str, str]:
        try:
            return dict(parse_qsl(self.body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
        except UnicodeDecodeError:
            raise HttpError(400, "invalid_request", "the form is not UTF-8") from None


@dataclass
class Response:
    status: int
    body: Any = None  # JSON-able (Decimal allowed), or str for a text/html body
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # answer after this many seconds (the work is done already)
    drop: bool = False  # close the connection without any answer


def json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, default=_json_default, separators=(",", ":")).encode()


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


class App:
    """What a server answers; subclasses implement :meth:`handle`."""

    name = "standin"

    def handle(self, request: Request) -> Response:  # pragma: no cover - abstract
        raise NotImplementedError


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, port: int, app: App):
        self.app = app
        super().__init__(("127.0.0.1", port), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60  # an idle keep-alive connection is closed after this
    server: Server

    def version_string(self) -> str:
        return f"synchub-{self.server.app.name}-standin/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def _dispatch(self) -> None:
        length = self.headers.get("Content-Length")
        try:
            size = int(length) if length else 0
        except ValueError:
            size = -1
        if size < 0 or size > MAX_BODY:
            self._send(Response(413 if size > 0 else 400, {"error": "invalid_request", "detail": "bad Content-Length"}))
            self.close_connection = True
            return
        body = self.rfile.read(size) if size else b""
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=unquote(parts.path),
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers=self.headers,
            body=body,
        )
        try:
            response = self.server.app.handle(request)
        except HttpError as exc:
            response = exc.response()
        except Exception:
            log.exception("request failed")
            response = Response(500, {"error": "internal_error", "detail": "the stand-in failed; see its log"})
        if response.drop:  # accepted, but the client never hears of it
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.wfile.flush()
            return
        if response.delay > 0:
            time.sleep(response.delay)
        try:
            self._send(response)
        except OSError:  # the client gave up waiting (slow mode): nothing to answer to
            self.close_connection = True

    def _send(self, response: Response) -> None:
        if isinstance(response.body, str):
            payload, ctype = response.body.encode(), "text/html; charset=utf-8"
        elif response.body is None:
            payload, ctype = b"", ""
        else:
            payload, ctype = json_bytes(response.body), "application/json"
        self.send_response(response.status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        self.wfile.flush()


def split_path(path: str) -> list[str]:
    return [p for p in path.split("/") if p]


def open_db(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    return db


class Storage:
    """One sqlite connection shared by the threads of one process, one writer at a time."""

    def __init__(self, path: Path, schema: str):
        self.path = path
        self.db = open_db(path)
        self.lock = threading.RLock()
        self.db.executescript(
            "CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);\n" + schema
        )

    @contextlib.contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def read(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self.lock:
            return self.db.execute(sql, params).fetchall()

    def setting(self, key: str, default: str | None = None) -> str | None:
        rows = self.read("SELECT value FROM settings WHERE key = ?", (key,))
        return rows[0]["value"] if rows else default

    def set_setting(self, key: str, value: str, db: sqlite3.Connection | None = None) -> None:
        sql, params = "INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (key, value)
        if db is not None:
            db.execute(sql, params)
            return
        with self.tx() as tx:
            tx.execute(sql, params)

    def next_number(self, db: sqlite3.Connection, key: str, start: int) -> int:
        row = db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        n = int(row["value"]) + 1 if row else start
        db.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (key, str(n)))
        return n

    def close(self) -> None:
        with self.lock:
            self.db.close()


class FaultState:
    """The fault mode, kept in storage (a restart keeps it), and the 1-in-3 counter of flaky."""

    def __init__(self, storage: Storage, default_slow: float):
        self.storage = storage
        self.lock = threading.Lock()
        self.mode = storage.setting("mode", "recover") or "recover"
        self.slow_seconds = float(storage.setting("slow_seconds", str(default_slow)) or default_slow)
        self.flaky_count = 0

    def set(self, mode: str, slow_seconds: Any = None) -> dict[str, Any]:
        if mode not in MODES:
            raise HttpError(422, "validation_error", f"mode must be one of {', '.join(MODES)}")
        if slow_seconds is not None:
            try:
                seconds = float(slow_seconds)
            except (TypeError, ValueError):
                seconds = -1.0
            if not 0 <= seconds <= 600:
                raise HttpError(422, "validation_error", "slow_seconds must be a number of seconds (0-600)")
            self.slow_seconds = seconds
        with self.lock:
            self.mode = mode
            self.flaky_count = 0
        with self.storage.tx() as db:
            self.storage.set_setting("mode", mode, db)
            self.storage.set_setting("slow_seconds", str(self.slow_seconds), db)
        log.warning("fault mode %s", mode)
        return self.describe()

    def describe(self) -> dict[str, Any]:
        return {"mode": self.mode, "slow_seconds": self.slow_seconds}

    def flaky_hit(self) -> int:
        """0 when this call goes through; else the failing call's number (1st, 4th, 7th, ...)."""
        with self.lock:
            if self.mode != "flaky":
                return 0
            self.flaky_count += 1
            return self.flaky_count if self.flaky_count % 3 == 1 else 0


def write_json_atomic(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj))
    os.replace(tmp, path)


def lock_data_dir(data_dir: Path, name: str) -> IO[str]:
    """One process per data dir: a second one on the same dir would fork its state."""
    data_dir.mkdir(parents=True, exist_ok=True)
    handle = open(data_dir / f"{name}.lock", "w")  # noqa: SIM115 - held open for the process's life
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise SystemExit(f"{name} stand-in: {data_dir} is in use by another {name} stand-in") from None
    return handle


def common_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = any free port)")
    p.add_argument("--data-dir", required=True, help="where its sqlite storage lives (kept across restarts)")
    p.add_argument("--ready-file", default=None, help="written (JSON, atomically) once it listens")
    p.add_argument("--exit-with-parent", action="store_true", help="stop when the starting process goes away")
    p.add_argument("--verbose", action="store_true", help="log every request on stderr")


def configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )


def serve(
    server: Server,
    ready_file: str | None,
    ready: dict[str, Any],
    *,
    exit_with_parent: bool = False,
    on_stop: Callable[[], None] = lambda: None,
) -> int:
    """Serve until SIGTERM/SIGINT (or the parent goes away), then stop cleanly; returns 0."""
    stop = threading.Event()

    def on_signal(*_: object) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    parent = os.getppid()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    ready_path = Path(ready_file) if ready_file else None
    if ready_path is not None:
        write_json_atomic(ready_path, ready)
    log.info("%s stand-in listening on %s", server.app.name, server.url)
    while not stop.wait(0.5):
        if exit_with_parent and os.getppid() != parent:
            log.warning("parent process %s went away: stopping", parent)
            break
    server.shutdown()
    server.server_close()
    on_stop()
    if ready_path is not None:
        with contextlib.suppress(OSError):
            if json.loads(ready_path.read_text()).get("pid") == os.getpid():
                ready_path.unlink()
    log.info("%s stand-in stopped", server.app.name)
    return 0
