"""API Gateway (REST, Lambda proxy) emulation over plain HTTP on 127.0.0.1."""
from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from .functions import InvocationError
from .provision import RouteSpec

Invoker = Callable[[str, dict[str, Any]], Any]


def _compile(resource: str) -> re.Pattern[str]:
    parts = []
    for seg in resource.strip("/").split("/"):
        m = re.fullmatch(r"\{(\w+)\+?\}", seg)
        parts.append(f"(?P<{m.group(1)}>[^/]+)" if m else re.escape(seg))
    return re.compile("^/" + "/".join(parts) + "/?$")


class ApiGateway:
    def __init__(self, routes: list[RouteSpec], invoke: Invoker, stage: str, region: str, account: str,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.routes = [(r, _compile(r.resource)) for r in routes]
        self.invoke, self.stage, self.region, self.account = invoke, stage, region, account
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt: str, *args: Any) -> None:  # keep the console for the demo
                pass

            def _handle(self) -> None:
                gateway.handle(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _handle

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="apigw", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _send(self, h: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes) -> None:
        h.send_response(status)
        for k, v in headers.items():
            if k.lower() not in ("content-length", "connection"):
                h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        split = urlsplit(h.path)
        path = split.path
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        match = None
        for route, pattern in self.routes:
            m = pattern.match(path)
            if m and route.method == h.command:
                match = (route, m)
                break
        if match is None:
            allowed = any(p.match(path) for _, p in self.routes)
            status, message = (405, "Method Not Allowed") if allowed else (403, "Missing Authentication Token")
            self._send(h, status, {"Content-Type": "application/json", "x-amzn-ErrorType": "MissingAuthenticationTokenException"},
                       json.dumps({"message": message}).encode())
            return
        route, m = match
        event = self.event(h, route, path, split.query, raw, m.groupdict())
        try:
            result = self.invoke(route.function, event)
        except InvocationError:
            self._send(h, 502, {"Content-Type": "application/json"},
                       json.dumps({"message": "Internal server error"}).encode())
            return
        headers = dict(result.get("headers") or {})
        for k, vs in (result.get("multiValueHeaders") or {}).items():
            headers[k] = ", ".join(vs)
        body = result.get("body") or ""
        data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
        self._send(h, int(result.get("statusCode", 200)), headers, data)

    def event(self, h: BaseHTTPRequestHandler, route: RouteSpec, path: str, query: str, raw: bytes,
              params: dict[str, str]) -> dict[str, Any]:
        headers: dict[str, str] = {}
        multi: dict[str, list[str]] = {}
        for k, v in h.headers.items():
            headers[k] = v
            multi.setdefault(k, []).append(v)
        qs = parse_qs(query, keep_blank_values=True)
        try:
            body: str | None = raw.decode() if raw else None
            b64 = False
        except UnicodeDecodeError:
            body, b64 = base64.b64encode(raw).decode(), True
        return {
            "resource": route.resource, "path": path, "httpMethod": h.command,
            "headers": headers, "multiValueHeaders": multi,
            "queryStringParameters": {k: v[-1] for k, v in qs.items()} or None,
            "multiValueQueryStringParameters": qs or None,
            "pathParameters": params or None, "stageVariables": None,
            "requestContext": {
                "resourcePath": route.resource, "httpMethod": h.command, "path": f"/{self.stage}{path}",
                "stage": self.stage, "requestId": str(uuid.uuid4()), "accountId": self.account,
                "apiId": "local", "protocol": "HTTP/1.1", "requestTimeEpoch": int(time.time() * 1000),
                "identity": {"sourceIp": h.client_address[0], "userAgent": h.headers.get("User-Agent")},
            },
            "body": body, "isBase64Encoded": b64,
        }
