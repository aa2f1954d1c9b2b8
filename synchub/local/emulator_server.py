"""The embedded emulator's HTTP server: moto's WSGI application behind a lean HTTP/1.1 keep-alive server.

moto's own ThreadedMotoServer runs werkzeug's development server, which closes the connection after
every response ("keep-alive connections aren't handled well by http.server"): every AWS call of the
hub's functions and pollers then pays a TCP connect, a new server thread and werkzeug's per-request
parsing. This server reads each request completely (Content-Length or chunked) before it answers,
so the connection can be reused safely, and hands the same WSGI environ to the same moto app.
"""

from __future__ import annotations

import io
import socket
import socketserver
import sys
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

MAX_LINE = 65536
MAX_HEADERS = 200
IDLE_TIMEOUT = 120.0


class _BadRequest(Exception):
    pass


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024
    block_on_close = False


class EmulatorServer:
    """Serve ``app`` (moto's DomainDispatcherApplication) on ``host:port`` from a background thread."""

    def __init__(self, app: Callable[..., Any], host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        server = self

        class Handler(socketserver.StreamRequestHandler):
            timeout = IDLE_TIMEOUT

            def handle(self) -> None:
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                try:
                    while server.serve_one(self.rfile, self.wfile, self.client_address):
                        pass
                except (OSError, _BadRequest):
                    pass  # the client went away or spoke no HTTP: drop the connection

        self.server = _Server((host, port), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, name="synchub-emulator", daemon=True
        )

    @property
    def host_and_port(self) -> tuple[str, int]:
        host, port = self.server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    # -- one request --------------------------------------------------------------------------
    def serve_one(self, rfile: io.BufferedIOBase, wfile: io.BufferedIOBase, client: tuple[str, int]) -> bool:
        """Answer one request; ``False`` when the connection is to be closed."""
        line = rfile.readline(MAX_LINE + 1)
        if not line:
            return False
        if len(line) > MAX_LINE:
            raise _BadRequest("request line too long")
        parts = line.decode("latin-1").rstrip("\r\n").split()
        if len(parts) != 3:
            raise _BadRequest("malformed request line")
        method, target, version = parts
        headers: list[tuple[str, str]] = []
        while True:
            raw = rfile.readline(MAX_LINE + 1)
            if raw in (b"\r\n", b"\n", b""):
                break
            if len(headers) >= MAX_HEADERS or len(raw) > MAX_LINE:
                raise _BadRequest("too many or too long headers")
            name, sep, value = raw.decode("latin-1").partition(":")
            if not sep:
                raise _BadRequest("malformed header")
            headers.append((name.strip(), value.strip()))
        lower = {k.lower(): v for k, v in headers}
        if lower.get("expect", "").lower() == "100-continue":
            wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = self._read_body(rfile, lower)
        environ = self._environ(method, target, version, headers, lower, body, client)
        status_headers: list[Any] = []

        def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status_headers[:] = [status, response_headers]
            return lambda data: chunks.append(data)

        chunks: list[bytes] = []
        result = self.app(environ, start_response)
        try:
            for data in result:
                chunks.append(data)
        finally:
            if hasattr(result, "close"):
                result.close()
        payload = b"".join(chunks)
        status, response_headers = status_headers
        keep_alive = version == "HTTP/1.1" and lower.get("connection", "").lower() != "close"
        out = [f"HTTP/1.1 {status}\r\n"]
        for name, value in response_headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                out.append(f"{name}: {value}\r\n")
        head_only = method == "HEAD"
        out.append(f"Content-Length: {len(payload)}\r\n")
        out.append("Connection: keep-alive\r\n\r\n" if keep_alive else "Connection: close\r\n\r\n")
        wfile.write("".join(out).encode("latin-1") + (b"" if head_only else payload))
        wfile.flush()
        return keep_alive

    @staticmethod
    def _read_body(rfile: io.BufferedIOBase, lower: dict[str, str]) -> bytes:
        if "chunked" in lower.get("transfer-encoding", "").lower():
            parts: list[bytes] = []
            while True:
                size_line = rfile.readline(MAX_LINE + 1)
                try:
                    size = int(size_line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise _BadRequest("malformed chunk") from None
                if size == 0:
                    while rfile.readline(MAX_LINE + 1) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(rfile.read(size))
                rfile.readline(MAX_LINE + 1)
        length = lower.get("content-length")
        if not length:
            return b""
        if not length.isdigit():
            raise _BadRequest("bad Content-Length")
        return rfile.read(int(length))

    def _environ(
        self,
        method: str,
        target: str,
        version: str,
        headers: list[tuple[str, str]],
        lower: dict[str, str],
        body: bytes,
        client: tuple[str, int],
    ) -> dict[str, Any]:
        path, _, query = target.partition("?")
        host, port = self.host_and_port
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(path, "latin-1"),
            "QUERY_STRING": query,
            "RAW_URI": target,
            "REQUEST_URI": target,
            "SERVER_PROTOCOL": version,
            "SERVER_NAME": host,
            "SERVER_PORT": str(port),
            "REMOTE_ADDR": client[0],
            "REMOTE_PORT": str(client[1]),
            "CONTENT_TYPE": lower.get("content-type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in headers:
            key = "HTTP_" + name.upper().replace("-", "_")
            if key in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                continue
            environ[key] = f"{environ[key]},{value}" if key in environ else value
        return environ
