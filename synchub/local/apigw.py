"""API Gateway (REST, Lambda proxy) emulation over plain HTTP on 127.0.0.1.

The HTTP front is a threading server (one daemon thread per connection, a listen backlog of 1024)
speaking HTTP/1.1 with keep-alive. Whatever the gateway answers by itself never reaches a Lambda:

* a path no resource of the API has: the API's MISSING_AUTHENTICATION_TOKEN gateway response, read from
  the synthesized template (status, headers and body template, so the same as deployed); without one,
  API Gateway's own 403 ``{"message": "Missing Authentication Token"}``;
* a method a resource does not have (HEAD, OPTIONS, TRACE, CONNECT, FOO ...): 405 with an ``Allow`` header;
* a body over API Gateway's 10 MB payload limit: REQUEST_TOO_LARGE (413);
* a method with a CUSTOM (Lambda TOKEN) authorizer: no identity header, or one its validation expression
  rejects: UNAUTHORIZED (401) without calling the authorizer; the authorizer raising "Unauthorized": 401;
  any other authorizer failure or a malformed answer: AUTHORIZER_CONFIGURATION_ERROR (500); a policy that
  does not allow ``execute-api:Invoke`` on the method's ARN: ACCESS_DENIED (403);
* a method requiring an API key (from ``x-api-key``, or the authorizer's ``usageIdentifierKey`` with
  ApiKeySourceType AUTHORIZER): a missing, unknown or disabled key, or one no usage plan of this stage
  holds: INVALID_API_KEY (403 "Forbidden"); over the plan's throttle: THROTTLED (429); over its quota:
  QUOTA_EXCEEDED (429);
* a required request parameter missing or blank (methods with a parameter-validating request validator):
  BAD_REQUEST_PARAMETERS (400);
* a Lambda error or a malformed proxy response: DEFAULT_5XX (502 "Internal server error");
* bad framing (negative or non-numeric Content-Length, malformed chunked body, Content-Length together
  with Transfer-Encoding, malformed request line or headers ...): 400 / 414 / 431 / 501 / 505, after
  which the connection is closed.

Errors of the gateway's own are RFC 9457 ``application/problem+json`` like the functions' problems.
Chunked request bodies are de-chunked before the Lambda sees them, as API Gateway does.

The checks run in API Gateway's order: resource and method, authorizer, API key and usage plan, request
parameters, then the integration, whose event carries ``requestContext.authorizer`` (the authorizer's
context and principalId) and ``requestContext.identity.apiKey``/``apiKeyId``.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .authorizer import (
    ALLOW,
    EXPLICIT_DENY,
    AuthorizerResult,
    MalformedAuthorizerResult,
    ResultCache,
    evaluate,
    method_arn,
    parse_result,
    token_event,
)
from .functions import InvocationError
from .provision import GatewayResponseSpec, RouteSpec
from .usage_plans import QUOTA_EXCEEDED, THROTTLED, ApiKey, ApiKeys, Meter

Invoker = Callable[[str, dict[str, Any]], Any]
log = logging.getLogger("synchub.local.apigw")

# The `type` base of the functions' RFC 9457 problems (PROBLEM_BASE in functions/synchub_core/problem.py).
# Not imported from there: synchub_core is not on synchub's import path and pulls in the Lambda-only
# Powertools; tests/test_apigw_http.py checks that the two agree.
PROBLEM_BASE = "https://synchub.dev/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"
PAYLOAD_LIMIT = 10 * 1024 * 1024  # API Gateway's maximum payload (10 MB)
MAX_LINE = 65536  # request line and header lines, as http.server reads them
MAX_CHUNK_LINE = 4096  # a chunk-size line with its extensions
MAX_TRAILERS = 100
IDLE_TIMEOUT = 60.0  # seconds a connection may wait on the client (idle keep-alive, slow body)
LINGER = 1.0  # seconds to drain unread request bytes before closing, so the client reads the error, not a reset
POLL_INTERVAL = 0.05  # how often serve_forever checks for stop()

TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token: methods, header names
DIGITS = re.compile(r"[0-9]{1,18}")
CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\r\n]*)?\r\n")  # chunk-size [ chunk-ext ] CRLF
CONTEXT_VAR = re.compile(
    r"\$(?:\{(context\.[\w.]+)\}|(context(?:\.\w+)+)|\{(stageVariables\.\w+)\}|"
    r"(stageVariables\.\w+))"
)
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "upgrade",
    "te",
    "trailer",
    "proxy-connection",
}
NO_BODY = {204, 304}

# what API Gateway answers for its own errors when the API has no gateway response for them
DEFAULT_TEMPLATE = {"application/json": '{"message":$context.error.messageString}'}
# the x-amzn-ErrorType API Gateway sends with its errors
ERROR_TYPES = {
    "MISSING_AUTHENTICATION_TOKEN": "MissingAuthenticationTokenException",
    "DEFAULT_5XX": "InternalServerErrorException",
    "UNAUTHORIZED": "UnauthorizedException",
    "ACCESS_DENIED": "AccessDeniedException",
    "AUTHORIZER_CONFIGURATION_ERROR": "AuthorizerConfigurationException",
    "INVALID_API_KEY": "ForbiddenException",
    "THROTTLED": "TooManyRequestsException",
    "QUOTA_EXCEEDED": "LimitExceededException",
    "BAD_REQUEST_PARAMETERS": "BadRequestException",
}
# the methods an ANY method stands for
STANDARD_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
PROBLEMS = {  # the gateway's own problems: status -> (type slug, title)
    400: ("bad-request", "Bad request"),
    405: ("method-not-allowed", "Method not allowed"),
    413: ("payload-too-large", "Payload too large"),
    414: ("uri-too-long", "URI too long"),
    417: ("expectation-failed", "Expectation failed"),
    431: ("header-fields-too-large", "Request header fields too large"),
    500: ("internal-error", "Internal error"),
    501: ("not-implemented", "Not implemented"),
    505: ("http-version-not-supported", "HTTP version not supported"),
}


class HttpError(Exception):
    """A request the gateway answers itself. ``response_type`` names the gateway response that renders it;
    without one it is answered as a problem of the gateway's own. The connection is closed afterwards
    when the request's framing can no longer be trusted (``close``)."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        close: bool = True,
        response_type: str | None = None,
        message: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.close = status, detail, close
        self.response_type, self.message = response_type, message or detail


class Rejected(Exception):
    """A request the gateway refuses before the integration (authorizer, API key, usage plan, parameters):
    answered with the gateway response ``response_type``. ``message`` None renders as JSON null, as API
    Gateway's AUTHORIZER_CONFIGURATION_ERROR does."""

    def __init__(self, response_type: str, status: int, message: str | None) -> None:
        super().__init__(f"{response_type}: {message}")
        self.response_type, self.status, self.message = response_type, status, message


def problem_body(status: int, detail: str) -> bytes:
    slug, title = PROBLEMS.get(status) or (
        re.sub(r"[^a-z0-9]+", "-", _reason(status).lower()).strip("-") or "error",
        _reason(status) or "Error",
    )
    return json.dumps({"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail}).encode()


def render_template(template: str, context: Mapping[str, str]) -> str:
    """Substitute a gateway response template's ``$context.x`` (and ``$stageVariables.x``) variables.

    Gateway response templates are not VTL: plain substitution. Unknown variables render empty."""

    def sub(m: re.Match[str]) -> str:
        name = next(g for g in m.groups() if g)
        return context.get(name.removeprefix("context."), "") if name.startswith("context.") else ""

    return CONTEXT_VAR.sub(sub, template)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _compile(resource: str) -> re.Pattern[str]:
    parts = []
    for seg in resource.strip("/").split("/"):
        m = re.fullmatch(r"\{(\w+)(\+?)\}", seg)
        if m:
            parts.append(f"(?P<{m.group(1)}>{'.+' if m.group(2) else '[^/]+'})")  # {proxy+} is greedy
        else:
            parts.append(re.escape(seg))
    return re.compile("^/" + "/".join(parts) + "/?$")


def _rank(resource: str) -> tuple[int, ...]:
    """API Gateway prefers the most specific resource: a literal segment over {param} over {greedy+}."""
    return tuple(2 if s.endswith("+}") else 1 if s.startswith("{") else 0 for s in resource.strip("/").split("/"))


@dataclass
class _Resource:
    path: str
    pattern: re.Pattern[str]
    methods: dict[str, RouteSpec] = field(default_factory=dict)

    def route(self, method: str) -> RouteSpec | None:
        return self.methods.get(method) or (self.methods.get("ANY") if method in STANDARD_METHODS else None)

    @property
    def allow(self) -> str:
        methods = set(self.methods) - {"ANY"} | (set(STANDARD_METHODS) if "ANY" in self.methods else set())
        return ", ".join(sorted(methods))


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # an idle keep-alive connection never holds up the process
    block_on_close = False  # server_close() does not join connection threads
    request_queue_size = 1024  # listen backlog: bursts of clients queue instead of being reset
    server_address: tuple[str, int]  # AF_INET, bound from a str host (the base class allows bytes / AF_UNIX)

    def __init__(self, address: tuple[str, int], gateway: ApiGateway) -> None:
        self.gateway = gateway
        self.connections: set[socket.socket] = set()
        self.lock = threading.Lock()
        self.closing = False
        super().__init__(address, _Handler)

    def track(self, sock: socket.socket) -> None:
        with self.lock:
            self.connections.add(sock)
            closing = self.closing
        if closing:
            _shutdown(sock)

    def untrack(self, sock: socket.socket) -> None:
        with self.lock:
            self.connections.discard(sock)

    def close_connections(self) -> None:
        with self.lock:
            self.closing = True
            open_ = list(self.connections)
        for sock in open_:  # wakes the connection threads blocked on an idle keep-alive read
            _shutdown(sock)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection from %s failed", client_address, exc_info=True)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _linger(sock: socket.socket) -> None:
    """Close gently after an error: stop sending, then drain what the client still sends for a moment.
    Closing with unread bytes would make the kernel send a reset that can destroy the error response."""
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(0.1)
        deadline = time.monotonic() + LINGER
        while time.monotonic() < deadline:
            try:
                if not sock.recv(65536):
                    return
            except TimeoutError:
                continue
    except OSError:
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # so that even a malformed request line is answered with a status line and headers (http.server
    # assumes HTTP/0.9 until it has parsed the version, and HTTP/0.9 responses have neither)
    default_request_version = "HTTP/1.0"
    timeout = IDLE_TIMEOUT
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.linger = False
        self.responded = False
        self.request_id = ""
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            if self.linger:
                _linger(self.connection)
            self.server.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:  # keep the console for the demo
        pass

    def handle_one_request(self) -> None:
        self.request_id, self.responded = str(uuid.uuid4()), False
        self.command = None  # type: ignore[assignment]  # http.server resets it to None too; typeshed says str
        self.requestline, self.request_version = "", self.default_request_version
        try:
            line = self.rfile.readline(MAX_LINE + 1)
            for _ in range(8):  # RFC 9112 2.2: ignore empty lines before a request line
                if line not in (b"\r\n", b"\n"):
                    break
                line = self.rfile.readline(MAX_LINE + 1)
            self.raw_requestline = line
            if not line:
                self.close_connection = True
                return
            if len(line) > MAX_LINE:
                self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG, "The request line is longer than 64 KiB")
                return
            if len(line.split()) == 2:  # http.server would take it, then wait for headers HTTP/0.9 never sends
                self.requestline = line.decode("latin-1").rstrip("\r\n")
                self.send_error(HTTPStatus.BAD_REQUEST, "HTTP/0.9 requests are not supported")
                return
            if not self.parse_request():  # answered through send_error, except for an empty request line
                if not self.responded:
                    self.send_error(HTTPStatus.BAD_REQUEST, "Empty request line")
                return
            self.server.gateway.serve(self)
            self.wfile.flush()
        except (TimeoutError, ConnectionError):
            self.close_connection = True
        except Exception:
            log.exception("local API Gateway failed on %r", self.requestline)
            if not self.responded:
                try:
                    self.send_error(HTTPStatus.INTERNAL_SERVER_ERROR, "The local API Gateway failed")
                except OSError:
                    pass
            self.close_connection = True

    def handle_expect_100(self) -> bool:
        return True  # the gateway sends 100 Continue itself, once it knows it wants the body

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Every error http.server detects itself (bad request line, headers) as problem+json, then close."""
        self.close_connection = True
        self.linger = True
        detail = "; ".join(p for p in (message, explain) if p) or _reason(code)
        self.reply(int(code), [("Content-Type", PROBLEM_CONTENT_TYPE)], problem_body(int(code), detail))

    def reply(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        """Write a whole response; Content-Length is always the body's, HEAD gets none of the body."""
        lines = [f"HTTP/1.1 {status} {_reason(status)}".rstrip(), f"Date: {self.date_time_string()}"]
        names = set()
        for k, v in headers:
            if k.lower() not in HOP_BY_HOP:
                lines.append(f"{k}: {v}")
                names.add(k.lower())
        if "x-amzn-requestid" not in names:
            lines.append(f"x-amzn-RequestId: {self.request_id}")
        if status not in NO_BODY:
            lines.append(f"Content-Length: {len(body)}")
        if self.close_connection:
            lines.append("Connection: close")
        elif self.request_version == "HTTP/1.0":
            lines.append("Connection: keep-alive")
        send_body = status not in NO_BODY and self.command != "HEAD"
        self.responded = True
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body if send_body else b""))


class ApiGateway:
    def __init__(
        self,
        routes: list[RouteSpec],
        invoke: Invoker,
        stage: str,
        region: str,
        account: str,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        gateway_responses: Mapping[str, GatewayResponseSpec] | None = None,
        payload_limit: int = PAYLOAD_LIMIT,
        api_id: str = "local",
        api_keys: ApiKeys | None = None,
        meter: Meter | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``api_keys`` reads keys and usage plans from the emulator; without it, a method requiring an API
        key refuses every request (INVALID_API_KEY). ``clock`` times the authorizer cache."""
        resources: dict[str, _Resource] = {}
        for r in routes:
            resources.setdefault(r.resource, _Resource(r.resource, _compile(r.resource))).methods[r.method] = r
        self.resources = list(resources.values())
        if gateway_responses is None:  # the LocalHub hands over the routes only; they carry their API's
            gateway_responses = {k: v for r in routes for k, v in r.gateway_responses.items()}
        self.gateway_responses = dict(gateway_responses)
        self.invoke, self.stage, self.region, self.account = invoke, stage, region, account
        self.payload_limit = payload_limit
        self.api_id, self.api_keys = api_id, api_keys
        self.meter = meter or Meter(clock)
        self.authorizer_cache = ResultCache(clock)
        self.server = _Server((host, port), self)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": POLL_INTERVAL}, name="apigw", daemon=True
        )
        self._stopped = False

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """Stop accepting, close the listening socket and every open (even idle keep-alive) connection."""
        if self._stopped:
            return
        self._stopped = True
        if self.thread.is_alive():
            self.server.shutdown()  # returns within POLL_INTERVAL
        self.server.server_close()
        self.server.close_connections()

    # -- one request ---------------------------------------------------------------------------
    def within_stage(self, path: str) -> str:
        """The path within the API. The deployed API is reached at ``https://<api>.execute-api.../<stage>/...``
        and the local one at ``http://127.0.0.1:<port>/...``; both are served here, so URLs the functions
        build from ``requestContext.path`` (``Location: /v1/orders/...``) work against the local hub too."""
        prefix = f"/{self.stage}" if self.stage else ""
        if prefix and (path == prefix or path.startswith(prefix + "/")) and not self.resource(path):
            return path[len(prefix) :] or "/"
        return path

    def resource(self, path: str) -> tuple[_Resource, re.Match[str]] | None:
        found = [(r, m) for r in self.resources if (m := r.pattern.match(path))]
        return min(found, key=lambda rm: _rank(rm[0].path)) if found else None

    def serve(self, h: _Handler) -> None:
        try:
            self._serve(h)
        except HttpError as err:
            if err.close:
                h.close_connection = True
                h.linger = True
            if err.response_type:
                self.gateway_error(h, err.response_type, err.status, err.message)
            else:
                self.problem(h, err.status, err.detail)

    def _serve(self, h: _Handler) -> None:
        if not TOKEN.fullmatch(h.command or ""):
            raise HttpError(400, f"{h.command!r} is not a valid method")
        connection = {t.strip().lower() for v in h.headers.get_all("Connection") or [] for t in v.split(",")}
        if "close" in connection:
            h.close_connection = True
        split = urlsplit(h.path)
        if h.path.startswith("/"):
            path = split.path
        elif split.scheme in ("http", "https") and split.netloc:  # absolute-form
            path = split.path or "/"
        else:
            raise HttpError(400, "The request target must be a path")
        path = self.within_stage(path)
        expect = (h.headers.get("Expect") or "").strip().lower()
        if expect and expect != "100-continue":
            raise HttpError(417, f"Expect: {expect} is not supported")
        length = self._framing(h)  # None: chunked
        found = self.resource(path)
        route = found[0].route(h.command) if found else None
        if found is None or route is None:
            # answered by the gateway itself, no Lambda; the body is read (and dropped) only to keep the
            # connection usable, unless the client is still waiting for 100 Continue before sending it
            if expect and h.request_version == "HTTP/1.1":
                h.close_connection = True
                h.linger = True
            else:
                self._body(h, length)
            if found is None:
                self.gateway_error(h, "MISSING_AUTHENTICATION_TOKEN", 403, "Missing Authentication Token")
            else:
                allow = found[0].allow
                self.problem(
                    h, 405, f"{h.command} is not a method of {found[0].path}; it has {allow}", [("Allow", allow)]
                )
            return
        if expect and h.request_version == "HTTP/1.1":
            h.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        raw = self._body(h, length)
        params = found[1].groupdict()
        try:
            authorized = self.authorize(h, route, path)
            key = self.api_key(h, route, authorized[0] if authorized else None)
            self.validate_parameters(h, route, split.query, params)
        except Rejected as rejected:
            self.gateway_error(h, rejected.response_type, rejected.status, rejected.message)
            return
        event = self.event(h, route, path, split.query, raw, params, authorized=authorized, api_key=key)
        try:
            result = self.invoke(route.function, event)
        except InvocationError as err:
            log.debug("function %s failed: %s", route.function, err)
            self.gateway_error(h, "DEFAULT_5XX", 502, "Internal server error")
            return
        except Exception:
            log.exception("invoking %s failed", route.function)
            self.gateway_error(h, "DEFAULT_5XX", 502, "Internal server error")
            return
        response = _proxy_response(result)
        if response is None:
            log.warning("function %s returned a malformed Lambda proxy response: %.200r", route.function, result)
            self.gateway_error(h, "DEFAULT_5XX", 502, "Internal server error")
            return
        h.reply(*response)

    def _framing(self, h: _Handler) -> int | None:
        """The declared body length, or None for a chunked body; HttpError when it cannot be trusted."""
        if h.headers.get_all("Transfer-Encoding"):
            codings = [
                c.strip().lower()
                for v in h.headers.get_all("Transfer-Encoding") or []
                for c in v.split(",")
                if c.strip()
            ]
            if h.headers.get_all("Content-Length"):
                raise HttpError(400, "A request must not carry both Transfer-Encoding and Content-Length")
            if h.request_version != "HTTP/1.1":
                raise HttpError(400, f"Transfer-Encoding is not defined for {h.request_version}")
            if not codings or codings[-1] != "chunked" or "chunked" in codings[:-1]:
                raise HttpError(400, "chunked must be the final transfer coding, applied once")
            if len(codings) > 1:
                raise HttpError(501, f"Transfer coding {codings[0]!r} is not supported, only chunked")
            return None
        values = {v.strip() for item in h.headers.get_all("Content-Length") or [] for v in item.split(",")}
        if not values:
            return 0
        if len(values) > 1 or not DIGITS.fullmatch(next(iter(values))):
            raise HttpError(400, f"Content-Length must be one non-negative integer, not {', '.join(sorted(values))}")
        length = int(values.pop())
        if length > self.payload_limit:
            raise self._too_large()
        return length

    def _too_large(self) -> HttpError:
        return HttpError(
            413,
            f"The request is larger than the {self.payload_limit} bytes API Gateway accepts",
            response_type="REQUEST_TOO_LARGE",
            message="Request Too Long",
        )

    def _body(self, h: _Handler, length: int | None) -> bytes:
        if length is None:
            return self._dechunk(h.rfile)
        raw = h.rfile.read(length) if length else b""
        if len(raw) < length:
            raise HttpError(400, "The connection ended before the body did")
        return raw

    def _dechunk(self, rfile: BufferedIOBase) -> bytes:
        body = bytearray()
        while True:
            line = rfile.readline(MAX_CHUNK_LINE + 1)
            m = CHUNK_SIZE.fullmatch(line)
            if not m:
                raise HttpError(
                    400,
                    "Malformed chunked body: bad chunk-size line"
                    if line
                    else "The connection ended before the chunked body did",
                )
            size = int(m.group(1), 16)
            if size == 0:
                break
            if len(body) + size > self.payload_limit:
                raise self._too_large()
            data = rfile.read(size)
            if len(data) < size:
                raise HttpError(400, "The connection ended before the chunked body did")
            body += data
            if rfile.read(2) != b"\r\n":
                raise HttpError(400, "Malformed chunked body: chunk data not followed by CRLF")
        for _ in range(MAX_TRAILERS):  # the trailer section, dropped: API Gateway has no use for it either
            line = rfile.readline(MAX_LINE + 1)
            if line == b"\r\n":
                return bytes(body)
            if not line.endswith(b"\r\n") or b":" not in line:
                raise HttpError(400, "Malformed chunked body: bad trailer section")
        raise HttpError(400, "Malformed chunked body: too many trailer fields")

    # -- access: authorizer, API key and usage plan, request parameters ---------------------------
    def authorize(self, h: _Handler, route: RouteSpec, path: str) -> tuple[AuthorizerResult, int] | None:
        """Run the method's Lambda TOKEN authorizer: its answer and how long it took (ms), or Rejected."""
        auth = route.authorizer
        if route.authorization_type != "CUSTOM" or auth is None:
            return None
        token = h.headers.get(auth.header)
        if not token or (auth.validation_expression and not re.fullmatch(auth.validation_expression, token)):
            raise Rejected("UNAUTHORIZED", 401, "Unauthorized")
        arn = method_arn(self.region, self.account, self.api_id, self.stage, h.command, path)
        started = time.monotonic()
        result = self.authorizer_cache.get(auth.logical_id, token) if auth.ttl > 0 else None
        if result is None:
            try:
                result = parse_result(self.invoke(auth.function, token_event(token, arn)))
            except InvocationError as err:
                if err.payload.get("errorMessage") == "Unauthorized":
                    raise Rejected("UNAUTHORIZED", 401, "Unauthorized") from None
                log.warning("authorizer %s failed: %s", auth.function, err)
                raise Rejected("AUTHORIZER_CONFIGURATION_ERROR", 500, None) from None
            except MalformedAuthorizerResult as err:
                log.warning("authorizer %s answered what API Gateway cannot use: %s", auth.function, err)
                raise Rejected("AUTHORIZER_CONFIGURATION_ERROR", 500, None) from None
            except Exception:
                log.exception("invoking the authorizer %s failed", auth.function)
                raise Rejected("AUTHORIZER_CONFIGURATION_ERROR", 500, None) from None
            self.authorizer_cache.put(auth.logical_id, token, result, auth.ttl)
        decision = evaluate(result.policy, arn)
        if decision != ALLOW:
            explicit = " with an explicit deny" if decision == EXPLICIT_DENY else ""
            raise Rejected("ACCESS_DENIED", 403, f"User is not authorized to access this resource{explicit}")
        return result, int((time.monotonic() - started) * 1000)

    def api_key(self, h: _Handler, route: RouteSpec, authorized: AuthorizerResult | None) -> ApiKey | None:
        """The request's API key when the method requires one, admitted by its usage plan; else Rejected."""
        if not route.api_key_required:
            return None
        if route.api_key_source == "AUTHORIZER":
            value = authorized.usage_identifier_key if authorized else None
        else:
            value = h.headers.get("x-api-key")
        if self.api_keys is None:
            log.warning("%s %s requires an API key, and this gateway has no API keys", route.method, route.resource)
        key = self.api_keys.key(value) if value and self.api_keys is not None else None
        plan = self.api_keys.plan(key) if key is not None and key.enabled and self.api_keys is not None else None
        if key is None or plan is None:
            raise Rejected("INVALID_API_KEY", 403, "Forbidden")
        verdict = self.meter.admit(key.id, plan)
        if verdict == THROTTLED:
            raise Rejected("THROTTLED", 429, "Too Many Requests")
        if verdict == QUOTA_EXCEEDED:
            raise Rejected("QUOTA_EXCEEDED", 429, "Limit Exceeded")
        return key

    def validate_parameters(self, h: _Handler, route: RouteSpec, query: str, params: dict[str, str]) -> None:
        """Required request parameters must be there and not blank (a parameter-validating request validator)."""
        qs = parse_qs(query, keep_blank_values=True)
        missing = []
        for location, name in route.required_parameters:
            if location == "header":
                value = h.headers.get(name)
            elif location == "querystring":
                value = qs[name][-1] if name in qs else None
            else:
                value = params.get(name)
            if value is None or not value.strip():
                missing.append(name)
        if missing:
            raise Rejected(
                "BAD_REQUEST_PARAMETERS", 400, f"Missing required request parameters: [{', '.join(missing)}]"
            )

    # -- answers of the gateway's own ----------------------------------------------------------
    def problem(self, h: _Handler, status: int, detail: str, headers: list[tuple[str, str]] | None = None) -> None:
        h.reply(status, [("Content-Type", PROBLEM_CONTENT_TYPE), *(headers or [])], problem_body(status, detail))

    def gateway_error(self, h: _Handler, response_type: str, status: int, message: str | None) -> None:
        """Answer as API Gateway does for one of its own errors: the API's gateway response for this type,
        else its DEFAULT_4XX / DEFAULT_5XX one (whose status code, when set, applies to all of them), else
        API Gateway's built-in ``{"message": ...}``."""
        spec = self.gateway_responses.get(response_type) or self.gateway_responses.get(
            "DEFAULT_4XX" if status < 500 else "DEFAULT_5XX"
        )
        status = (spec.status if spec else None) or status
        headers: list[tuple[str, str]] = []
        for name, mapping in (spec.headers if spec else {}).items():
            value = self._mapping(h, mapping)
            if value is not None:
                headers.append((name, value))
        names = {k.lower() for k, _ in headers}
        templates = (spec.templates if spec else None) or DEFAULT_TEMPLATE
        content_type = self._pick(templates, h.headers.get("Accept") if self._parsed(h) else None)
        if "content-type" not in names:
            headers.append(("Content-Type", content_type))
        if response_type in ERROR_TYPES and "x-amzn-errortype" not in names:
            headers.append(("x-amzn-ErrorType", ERROR_TYPES[response_type]))
        context = {
            "error.message": message or "",
            "error.messageString": json.dumps(message),
            "error.responseType": response_type,
            "requestId": h.request_id,
            "extendedRequestId": h.request_id,
            "httpMethod": h.command or "",
            "stage": self.stage,
            "accountId": self.account,
            "apiId": self.api_id,
            "path": f"/{self.stage}{self.within_stage(urlsplit(h.path).path)}" if h.command else "",
            "protocol": "HTTP/1.1",
            "requestTimeEpoch": str(int(time.time() * 1000)),
            "identity.sourceIp": h.client_address[0],
        }
        h.reply(status, headers, render_template(templates[content_type], context).encode())

    @staticmethod
    def _parsed(h: _Handler) -> bool:
        return getattr(h, "headers", None) is not None

    @staticmethod
    def _pick(templates: Mapping[str, str], accept: str | None) -> str:
        """API Gateway picks the template the request's Accept names, else application/json's."""
        by_type = {k.lower(): k for k in templates}
        for media in (accept or "").split(","):
            key = by_type.get(media.split(";")[0].strip().lower())
            if key:
                return key
        return by_type.get("application/json") or next(iter(templates))

    @staticmethod
    def _mapping(h: _Handler, mapping: str) -> str | None:
        """A gateway response header mapping: 'static' or method.request.header|querystring.<name>."""
        if len(mapping) >= 2 and mapping[0] == mapping[-1] == "'":
            return mapping[1:-1]
        kind, _, name = mapping.removeprefix("method.request.").partition(".")
        if kind == "header":
            return h.headers.get(name)
        if kind == "querystring":
            values = parse_qs(urlsplit(h.path).query).get(name)
            return values[-1] if values else None
        return None  # method.request.path.* and the like have no value for a request without a resource

    # -- the Lambda proxy event ----------------------------------------------------------------
    def event(
        self,
        h: BaseHTTPRequestHandler,
        route: RouteSpec,
        path: str,
        query: str,
        raw: bytes,
        params: dict[str, str],
        *,
        authorized: tuple[AuthorizerResult, int] | None = None,
        api_key: ApiKey | None = None,
    ) -> dict[str, Any]:
        headers: dict[str, str] = {}
        multi: dict[str, list[str]] = {}
        for k, v in h.headers.items():
            if k.lower() == "transfer-encoding":  # the body is de-chunked, as API Gateway passes it on
                continue
            headers[k] = v
            multi.setdefault(k, []).append(v)
        qs = parse_qs(query, keep_blank_values=True)
        try:
            body: str | None = raw.decode() if raw else None
            b64 = False
        except UnicodeDecodeError:
            body, b64 = base64.b64encode(raw).decode(), True
        context: dict[str, Any] = {
            "resourcePath": route.resource,
            "httpMethod": h.command,
            "path": f"/{self.stage}{path}",
            "stage": self.stage,
            "requestId": getattr(h, "request_id", None) or str(uuid.uuid4()),
            "accountId": self.account,
            "apiId": self.api_id,
            "protocol": "HTTP/1.1",
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {
                "sourceIp": h.client_address[0],
                "userAgent": h.headers.get("User-Agent"),
                "apiKey": api_key.value if api_key else None,
                "apiKeyId": api_key.id if api_key else None,
            },
        }
        if authorized is not None:
            result, latency = authorized
            context["authorizer"] = {
                **result.context,
                "principalId": result.principal_id,
                "integrationLatency": latency,
            }
        return {
            "resource": route.resource,
            "path": path,
            "httpMethod": h.command,
            "headers": headers,
            "multiValueHeaders": multi,
            "queryStringParameters": {k: v[-1] for k, v in qs.items()} or None,
            "multiValueQueryStringParameters": qs or None,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": context,
            "body": body,
            "isBase64Encoded": b64,
        }


def _proxy_response(result: Any) -> tuple[int, list[tuple[str, str]], bytes] | None:
    """A Lambda proxy integration response as (status, headers, body); None when API Gateway would call it
    malformed (and answer 502)."""
    if not isinstance(result, dict):
        return None
    try:
        status = int(result.get("statusCode", 200))
    except (TypeError, ValueError):
        return None
    body = result.get("body")
    single, multi = result.get("headers") or {}, result.get("multiValueHeaders") or {}
    if (
        not 200 <= status <= 599
        or not isinstance(body, (str, type(None)))
        or not isinstance(single, dict)
        or not isinstance(multi, dict)
    ):
        return None
    headers: list[tuple[str, str]] = []
    for k, vs in multi.items():
        if not isinstance(vs, list):
            return None
        headers += [(str(k), _header_value(v)) for v in vs]
    # both given: API Gateway merges them, a pair present in both only once
    seen = {(k.lower(), v) for k, v in headers}
    headers += [(str(k), _header_value(v)) for k, v in single.items() if (str(k).lower(), _header_value(v)) not in seen]
    for k, v in headers:
        if not TOKEN.fullmatch(k) or any(c in v for c in "\r\n\0"):
            return None
        try:
            v.encode("latin-1")
        except UnicodeEncodeError:
            return None
    try:
        data = base64.b64decode(body or "", validate=True) if result.get("isBase64Encoded") else (body or "").encode()
    except ValueError:
        return None
    return status, headers, data


def _header_value(v: Any) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else str(v)
