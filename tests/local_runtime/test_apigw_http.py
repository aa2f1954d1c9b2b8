"""The local API Gateway's HTTP front: concurrency, keep-alive, request framing, and the answers the
gateway gives by itself (unknown routes and methods, bad framing, Lambda failures) without a Lambda."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from synchub.local.apigw import PAYLOAD_LIMIT, PROBLEM_BASE, ApiGateway
from synchub.local.functions import InvocationError
from synchub.local.provision import GatewayResponseSpec, RouteSpec

ROUTES = [RouteSpec("POST", "/orders", "OrdersFn"), RouteSpec("GET", "/orders/{order_id}", "OrdersFn")]
PROBLEM = "application/problem+json"


class FakeLambda:
    """Stands in for the function's worker pool: echoes the request, or misbehaves as the path asks."""

    def __init__(self, delay: float = 0.0) -> None:
        self.events: list[dict[str, Any]] = []
        self.delay = delay
        self.lock = threading.Lock()
        self.in_flight = self.max_in_flight = 0

    def __call__(self, fn: str, event: dict[str, Any]) -> Any:
        with self.lock:
            self.events.append(event)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(self.delay)
            order_id = (event["pathParameters"] or {}).get("order_id")
            if order_id == "boom":
                raise InvocationError(fn, {"errorType": "Boom", "errorMessage": "boom"})
            if order_id == "malformed":
                return {"statusCode": 200, "body": {"not": "a string"}}
            if order_id == "cookies":
                return {
                    "statusCode": 200,
                    "headers": {"X-One": "1", "Set-Cookie": "a=1"},
                    "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
                    "body": "ok",
                }
            if order_id == "empty":
                return {"statusCode": 204, "body": "ignored"}
            return {
                "statusCode": 200,
                "headers": {"Content-Type": "application/json"},
                "body": json.dumps(
                    {
                        "method": event["httpMethod"],
                        "body": event["body"],
                        "headers": sorted(k.lower() for k in event["headers"]),
                    }
                ),
            }
        finally:
            with self.lock:
                self.in_flight -= 1


@pytest.fixture(scope="module")
def stack_responses(cdk_out: Path) -> dict[str, GatewayResponseSpec]:
    """The gateway responses of the synthesized stack's API, read as the local runtime reads them."""
    from synchub.local.provision import _gateway_responses
    from synchub.local.template import Template

    by_api = _gateway_responses(Template.load(cdk_out, "Synchub", "eu-west-1"))
    assert len(by_api) == 1
    return next(iter(by_api.values()))


@dataclass
class Gw:
    api: ApiGateway
    fn: FakeLambda

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.api.server.server_address[:2]
        return host, port

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(*self.address, timeout=10)

    def raw(self) -> Raw:
        return Raw(socket.create_connection(self.address, timeout=3))


def _start(fn: FakeLambda, responses: dict[str, GatewayResponseSpec] | None, **kwargs: Any) -> ApiGateway:
    api = ApiGateway(ROUTES, fn, "v1", "eu-west-1", "123456789012", gateway_responses=responses, **kwargs)
    api.start()
    return api


@pytest.fixture
def gw(stack_responses: dict[str, GatewayResponseSpec]) -> Iterator[Gw]:
    fn = FakeLambda()
    api = _start(fn, stack_responses)
    yield Gw(api, fn)
    api.stop()


@dataclass
class Response:
    status: int
    header_lines: list[tuple[str, str]]
    body: bytes

    @property
    def headers(self) -> dict[str, str]:
        return {k.lower(): v for k, v in self.header_lines}

    def json(self) -> Any:
        return json.loads(self.body)


class Raw:
    """HTTP/1.1 over a bare socket: exact framing, no client-side forgiveness."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buf = sock, b""

    def send(self, data: bytes) -> Raw:
        self.sock.sendall(data)
        return self

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed")
        self.buf += chunk

    def response(self, head: bool = False) -> Response:
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        top, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status_line, *lines = top.decode("latin-1").split("\r\n")
        assert status_line.startswith("HTTP/1.1 "), status_line
        status = int(status_line.split()[1])
        header_lines = [(k, v) for k, _, v in (line.partition(": ") for line in lines)]
        headers = {k.lower(): v for k, v in header_lines}
        length = 0 if head or status in (100, 204, 304) else int(headers["content-length"])
        while len(self.buf) < length:
            self._fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        return Response(status, header_lines, body)

    def closed(self) -> bool:
        """True when the server closed the connection (and sent nothing more)."""
        assert self.buf == b""
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False

    def quiet(self, wait: float = 0.3) -> bool:
        """Nothing more arrives (no stray body bytes) and the connection stays open."""
        if self.buf:
            return False
        self.sock.settimeout(wait)
        try:
            self.sock.recv(1)  # a byte, or b"" for a close: either way not quiet
            return False
        except TimeoutError:
            return True
        finally:
            self.sock.settimeout(3)


def assert_problem(resp: Response, status: int) -> dict[str, Any]:
    assert resp.status == status, resp
    assert resp.headers["content-type"] == PROBLEM
    assert int(resp.headers["content-length"]) == len(resp.body)
    body = resp.json()
    assert body["type"].startswith(PROBLEM_BASE) and body["title"] and body["detail"], body
    assert body.get("status", status) == status
    return body


def get(path: str, *headers: str, method: str = "GET", body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: localhost", *headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# --------------------------------------------------------------------------------------------------
# problem type base, shared with the functions and the CDK templates
# --------------------------------------------------------------------------------------------------


def test_problem_base_is_the_functions_one() -> None:
    from infra.constructs.orders_api import PROBLEM_BASE as infra_base
    from synchub_core.problem import PROBLEM_BASE as functions_base

    assert PROBLEM_BASE == functions_base == infra_base


# --------------------------------------------------------------------------------------------------
# concurrency and stopping
# --------------------------------------------------------------------------------------------------


def _hammer(gw: Gw, clients: int, requests: int, keep_alive: bool) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(clients)

    def client(n: int) -> None:
        try:
            conn = gw.connection()
            barrier.wait(10)
            for i in range(requests):
                body = json.dumps({"client": n, "request": i})
                conn.request(
                    "POST",
                    "/orders",
                    body=body,
                    headers={"Content-Type": "application/json", **({} if keep_alive else {"Connection": "close"})},
                )
                resp = conn.getresponse()
                assert resp.status == 200, resp.status
                assert json.loads(resp.read())["body"] == body
            conn.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return errors


def test_64_concurrent_clients_get_no_connection_resets(stack_responses: dict[str, GatewayResponseSpec]) -> None:
    fn = FakeLambda(delay=0.02)
    api = _start(fn, stack_responses)
    try:
        gw = Gw(api, fn)
        assert api.server.request_queue_size >= 1024 and api.server.daemon_threads
        assert _hammer(gw, 64, 3, keep_alive=False) == []  # a new connection per request, 64 at once
        assert _hammer(gw, 64, 5, keep_alive=True) == []  # 64 keep-alive connections, 5 requests each
        assert len(fn.events) == 64 * 3 + 64 * 5
        assert fn.max_in_flight > 8, "requests were not served concurrently"
    finally:
        api.stop()


def test_stop_returns_fast_with_idle_keep_alive_connections_and_closes_everything(gw: Gw) -> None:
    idle = []
    for _ in range(8):
        conn = gw.connection()
        conn.request("GET", "/orders/ord_1")
        assert conn.getresponse().read()
        idle.append(conn)  # left open, idle
    started = time.monotonic()
    gw.api.stop()
    assert time.monotonic() - started < 1.0
    assert not gw.api.thread.is_alive()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(gw.address, timeout=1)
    for conn in idle:  # the server side of every idle connection was closed
        assert conn.sock is not None
        conn.sock.settimeout(1)
        try:
            assert conn.sock.recv(1) == b""
        except ConnectionResetError:
            pass
    gw.api.stop()  # idempotent


# --------------------------------------------------------------------------------------------------
# keep-alive and Content-Length
# --------------------------------------------------------------------------------------------------


def test_keep_alive_serves_many_requests_on_one_connection_even_after_errors(gw: Gw) -> None:
    conn = gw.connection()
    conn.request("GET", "/orders/ord_1")
    first = conn.getresponse()
    assert first.status == 200 and json.loads(first.read())["method"] == "GET"
    sock = conn.sock
    for method, path, body, status in [
        ("GET", "/nope", None, 404),  # unknown route
        ("POST", "/orders/ord_1", b'{"x": 1}', 405),  # known resource, wrong method, with a body to skip
        ("HEAD", "/orders/ord_1", None, 405),
        ("GET", "/orders/boom", None, 502),  # Lambda error
        ("POST", "/orders", b'{"y": 2}', 200),
        ("GET", "/orders/ord_2", None, 200),
    ]:
        conn.request(method, path, body=body)
        resp = conn.getresponse()
        data = resp.read()
        assert resp.status == status, (method, path, resp.status, data)
        assert resp.getheader("Content-Length") == str(len(data)) or method == "HEAD"
        assert not resp.will_close
        assert conn.sock is sock, "the connection was not kept alive"
    conn.close()


def test_content_length_is_exact_and_head_has_no_body(gw: Gw) -> None:
    raw = gw.raw()
    ok = raw.send(get("/orders/ord_1")).response()
    assert ok.status == 200 and int(ok.headers["content-length"]) == len(ok.body) and raw.quiet()
    head = raw.send(get("/orders/ord_1", method="HEAD")).response(head=True)
    assert head.status == 405 and head.headers["allow"] == "GET"
    assert int(head.headers["content-length"]) > 0 and raw.quiet(), "a HEAD response carried a body"
    empty = raw.send(get("/orders/empty")).response()
    assert empty.status == 204 and "content-length" not in empty.headers and raw.quiet()
    again = raw.send(get("/orders/ord_1")).response()
    assert again.status == 200 and again.headers["x-amzn-requestid"] != ok.headers["x-amzn-requestid"]


def test_connection_close_from_the_client_is_honoured(gw: Gw) -> None:
    raw = gw.raw()
    resp = raw.send(get("/orders/ord_1", "Connection: close")).response()
    assert resp.status == 200 and resp.headers["connection"] == "close" and raw.closed()
    raw = gw.raw()  # HTTP/1.0 without keep-alive closes; with keep-alive stays open
    resp = raw.send(b"GET /orders/ord_1 HTTP/1.0\r\n\r\n").response()
    assert resp.status == 200 and raw.closed()
    raw = gw.raw()
    resp = raw.send(b"GET /orders/ord_1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").response()
    assert resp.status == 200 and resp.headers["connection"] == "keep-alive" and raw.quiet()


# --------------------------------------------------------------------------------------------------
# request bodies: chunked, Content-Length, payload limit
# --------------------------------------------------------------------------------------------------


def test_chunked_bodies_reach_the_lambda_de_chunked(gw: Gw) -> None:
    conn = gw.connection()
    conn.request(
        "POST",
        "/orders",
        body=iter([b'{"order": ', b'"chunked"}']),
        encode_chunked=True,
        headers={"Transfer-Encoding": "chunked"},
    )
    resp = conn.getresponse()
    echoed = json.loads(resp.read())
    assert resp.status == 200 and echoed["body"] == '{"order": "chunked"}'
    assert "transfer-encoding" not in echoed["headers"]
    raw = gw.raw()  # chunk extensions and a trailer section, then another request on the same connection
    raw.send(
        b"POST /orders HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6 ;ext=1\r\n world\r\nA\r\n, chunked!\r\n0\r\nX-Trailer: t\r\n\r\n"
    )
    assert raw.response().json()["body"] == "hello world, chunked!"
    assert raw.send(get("/orders/ord_1")).response().status == 200


@pytest.mark.parametrize(
    "chunks",
    [
        b"zz\r\nhello\r\n0\r\n\r\n",  # not hex
        b"0x5\r\nhello\r\n0\r\n\r\n",  # int() would take it, HTTP does not
        b"-5\r\nhello\r\n0\r\n\r\n",
        b"5\r\nhelloXX0\r\n\r\n",  # data not followed by CRLF
        b"5\nhello\r\n0\r\n\r\n",  # bare LF
        b"5\r\nhel",  # the connection ends mid-chunk
        b"5\r\nhello\r\n0\r\nno colon here\r\n\r\n",  # bad trailer
    ],
)
def test_malformed_chunking_is_a_400(gw: Gw, chunks: bytes) -> None:
    raw = gw.raw()
    raw.send(b"POST /orders HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks)
    if chunks.endswith(b"hel"):
        raw.sock.shutdown(socket.SHUT_WR)
    resp = raw.response()
    assert_problem(resp, 400)
    assert resp.headers["connection"] == "close" and raw.closed()
    assert gw.fn.events == []


@pytest.mark.parametrize("value", ["-1", "abc", "1e3", "+5", "0x10", "5, 6", "", "²"])
def test_negative_or_non_numeric_content_length_is_a_400_at_once(gw: Gw, value: str) -> None:
    raw = gw.raw()  # no body follows: a hang waiting for one would time the socket out
    raw.send(f"POST /orders HTTP/1.1\r\nHost: x\r\nContent-Length: {value}\r\n\r\n".encode("latin-1"))
    started = time.monotonic()
    resp = raw.response()
    assert time.monotonic() - started < 1.0
    assert "Content-Length" in assert_problem(resp, 400)["detail"]
    assert raw.closed() and gw.fn.events == []


def test_a_body_over_the_10_mb_limit_is_a_413_before_it_is_read(gw: Gw) -> None:
    assert PAYLOAD_LIMIT == 10 * 1024 * 1024
    raw = gw.raw()
    raw.send(f"POST /orders HTTP/1.1\r\nHost: x\r\nContent-Length: {PAYLOAD_LIMIT + 1}\r\n\r\n".encode())
    raw.send(b"x" * 1000)  # some of it, not all
    started = time.monotonic()
    resp = raw.response()
    assert time.monotonic() - started < 1.0
    body = assert_problem(resp, 413)  # the stack's REQUEST_TOO_LARGE gateway response
    assert body["type"] == PROBLEM_BASE + "payload-too-large" and body["requestId"] == resp.headers["x-amzn-requestid"]
    assert resp.headers["connection"] == "close"
    conn = gw.connection()  # exactly the limit is fine
    conn.request("POST", "/orders", body=b"x" * PAYLOAD_LIMIT)
    resp2 = conn.getresponse()
    assert resp2.status == 200 and len(json.loads(resp2.read())["body"]) == PAYLOAD_LIMIT
    assert len(gw.fn.events) == 1


def test_a_chunked_body_over_the_limit_is_a_413(stack_responses: dict[str, GatewayResponseSpec]) -> None:
    fn = FakeLambda()
    api = _start(fn, stack_responses, payload_limit=10)
    try:
        raw = Gw(api, fn).raw()
        raw.send(
            b"POST /orders HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"6\r\nhello \r\n6\r\nworld!\r\n0\r\n\r\n"
        )
        assert_problem(raw.response(), 413)
        assert raw.closed() and fn.events == []
    finally:
        api.stop()


def test_expect_100_continue(gw: Gw) -> None:
    raw = gw.raw()
    raw.send(b"POST /orders HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
    assert raw.response().status == 100
    assert raw.send(b"{}").response().json()["body"] == "{}"
    raw = gw.raw()  # an error is answered at once, without asking for the body, then the connection closes
    raw.send(b"POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
    assert raw.response().status == 404 and raw.closed()
    assert len(gw.fn.events) == 1


# --------------------------------------------------------------------------------------------------
# methods, malformed requests
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["HEAD", "TRACE", "OPTIONS", "CONNECT", "DELETE", "PATCH", "FOO"])
def test_methods_a_resource_lacks_get_405_with_allow(gw: Gw, method: str) -> None:
    raw = gw.raw()
    resp = raw.send(get("/orders/ord_1", method=method)).response(head=method == "HEAD")
    assert resp.status == 405 and resp.headers["allow"] == "GET"
    if method == "HEAD":
        assert resp.body == b"" and raw.quiet()
    else:
        assert assert_problem(resp, 405)["type"] == PROBLEM_BASE + "method-not-allowed"
    resp = raw.send(get("/orders", method=method)).response(head=method == "HEAD")
    assert resp.status == 405 and resp.headers["allow"] == "POST"
    assert raw.send(get("/orders/ord_1")).response().status == 200  # still alive
    assert len(gw.fn.events) == 1


@pytest.mark.parametrize(
    "request_bytes, status",
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"   \r\n\r\n", 400),
        (b"GET /orders/ord_1 HTTP/1.x\r\n\r\n", 400),
        (b"GET /orders/ord_1\r\n", 400),  # HTTP/0.9
        (b"GET /orders/ord_1 HTTP/2.0\r\n\r\n", 505),
        (b"GE(T /orders/ord_1 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n", 400),
        (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", 414),
        (b"GET /orders/ord_1 HTTP/1.1\r\nX-Long: " + b"a" * 70000 + b"\r\n\r\n", 431),
        (b"GET /orders/ord_1 HTTP/1.1\r\n" + b"X-Many: 1\r\n" * 120 + b"\r\n", 431),
        (b"POST /orders HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        (b"POST /orders HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
        (b"POST /orders HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello", 400),
        (b"POST /orders HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        (b"POST /orders HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc", 400),
        (b"GET /orders/ord_1 HTTP/1.1\r\nExpect: the-unexpected\r\n\r\n", 417),
    ],
)
def test_malformed_requests_get_problem_json_never_html(gw: Gw, request_bytes: bytes, status: int) -> None:
    raw = gw.raw()
    resp = raw.send(request_bytes).response()
    assert_problem(resp, status)
    assert b"<html" not in resp.body.lower() and b"<!doctype" not in resp.body.lower()
    assert resp.headers["connection"] == "close" and raw.closed()
    assert gw.fn.events == []


# --------------------------------------------------------------------------------------------------
# unknown routes, Lambda failures and responses: as API Gateway with the stack's gateway responses
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method, path", [("GET", "/nope"), ("POST", "/"), ("GET", "/orders/a/b"), ("FOO", "/x")])
def test_unknown_routes_answer_the_stacks_gateway_response(gw: Gw, method: str, path: str) -> None:
    raw = gw.raw()
    resp = raw.send(get(path, "Accept: application/json", method=method, body=b"{}")).response()
    body = assert_problem(resp, 404)
    assert body["type"] == PROBLEM_BASE + "not-found" and body["status"] == 404
    assert body["requestId"] == resp.headers["x-amzn-requestid"]
    assert resp.headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"
    assert raw.quiet() and raw.send(get("/orders/ord_1")).response().status == 200  # the body was skipped
    assert len(gw.fn.events) == 1


def test_without_gateway_responses_unknown_routes_get_api_gateways_default() -> None:
    fn = FakeLambda()
    api = _start(fn, {})
    try:
        resp = Gw(api, fn).raw().send(get("/nope")).response()
        assert resp.status == 403 and resp.headers["content-type"] == "application/json"
        assert resp.json() == {"message": "Missing Authentication Token"}
        assert resp.headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"
    finally:
        api.stop()


def test_gateway_responses_reach_the_local_api_through_provisioning(hub: Any) -> None:
    dep = hub.dep
    assert dep.routes and all(r.gateway_responses for r in dep.routes)
    spec = dep.routes[0].gateway_responses["MISSING_AUTHENTICATION_TOKEN"]
    assert spec.status == 404 and spec.headers["Content-Type"] == f"'{PROBLEM}'"
    assert set(dep.routes[0].gateway_responses) >= {
        "MISSING_AUTHENTICATION_TOKEN",
        "REQUEST_TOO_LARGE",
        "DEFAULT_4XX",
        "DEFAULT_5XX",
        "UNAUTHORIZED",
        "ACCESS_DENIED",
        "THROTTLED",
        "QUOTA_EXCEEDED",
        "BAD_REQUEST_PARAMETERS",
        "INVALID_API_KEY",
    }
    fn = FakeLambda()
    api = ApiGateway(dep.routes, fn, dep.stage, "eu-west-1", "123456789012")  # as LocalHub builds it
    api.start()
    try:
        resp = Gw(api, fn).raw().send(get("/nope")).response()
        assert assert_problem(resp, 404)["type"] == PROBLEM_BASE + "not-found"
    finally:
        api.stop()


@pytest.mark.parametrize("order_id", ["boom", "malformed"])
def test_lambda_failures_answer_the_default_5xx_gateway_response(gw: Gw, order_id: str) -> None:
    resp = gw.raw().send(get(f"/orders/{order_id}")).response()
    body = assert_problem(resp, 502)
    assert body == {
        "type": PROBLEM_BASE + "gateway-error",
        "title": "API Gateway error",
        "detail": "Internal server error",
        "errorType": "DEFAULT_5XX",
        "requestId": resp.headers["x-amzn-requestid"],
    }


def test_lambda_headers_and_multi_value_headers_are_sent_as_api_gateway_merges_them(gw: Gw) -> None:
    resp = gw.raw().send(get("/orders/cookies")).response()
    assert resp.status == 200 and resp.body == b"ok"
    assert [v for k, v in resp.header_lines if k == "Set-Cookie"] == ["a=1", "b=2"]
    assert resp.headers["x-one"] == "1"


def test_gateway_response_templates_pick_the_accepted_content_type() -> None:
    responses = {
        "MISSING_AUTHENTICATION_TOKEN": GatewayResponseSpec(
            "MISSING_AUTHENTICATION_TOKEN",
            None,
            {"X-Static": "'yes'", "X-Echo": "method.request.header.X-In"},
            {
                "application/json": '{"m": $context.error.messageString, "s": "$context.stage"}',
                "text/plain": "$context.error.message at $context.path",
            },
        )
    }
    fn = FakeLambda()
    api = _start(fn, responses)
    try:
        raw = Gw(api, fn).raw()
        resp = raw.send(get("/nope", "X-In: hi")).response()
        assert resp.status == 403 and resp.json() == {"m": "Missing Authentication Token", "s": "v1"}
        assert resp.headers["content-type"] == "application/json"
        assert resp.headers["x-static"] == "yes" and resp.headers["x-echo"] == "hi"
        resp = raw.send(get("/nope", "Accept: text/html, text/plain;q=0.9")).response()
        assert resp.headers["content-type"] == "text/plain"
        assert resp.body == b"Missing Authentication Token at /v1/nope"
        assert "x-echo" not in resp.headers
    finally:
        api.stop()


def test_the_stage_prefix_of_the_deployed_url_is_served_too() -> None:
    """`Location: /v1/orders/...` (built from requestContext.path, right behind the deployed stage)
    resolves against the local hub as well: /v1/... and /... reach the same resource."""
    seen: list[dict] = []

    def invoke(function: str, event: dict) -> dict:
        seen.append(event)
        return {"statusCode": 200, "body": "{}"}

    gw = ApiGateway([RouteSpec("GET", "/orders/{order_id}", "Fn")], invoke, "v1", "eu-west-1", "123456789012")
    gw.start()
    try:
        for path in ("/v1/orders/ord_1", "/orders/ord_1"):
            with urllib.request.urlopen(gw.url + path, timeout=5) as resp:
                assert resp.status == 200
        assert [e["path"] for e in seen] == ["/orders/ord_1", "/orders/ord_1"]
        assert [e["requestContext"]["path"] for e in seen] == ["/v1/orders/ord_1", "/v1/orders/ord_1"]
        assert seen[0]["pathParameters"] == {"order_id": "ord_1"}
    finally:
        gw.stop()
