"""Hardened input: every bad request to the orders Lambda is a 4xx problem+json that writes nothing,
never a 5xx; ``Location`` is right behind the stage or a custom domain; methods a route does not
take are 405 with ``Allow``; no personal data reaches the logs. Finally the handler is fuzzed
in-process with odd API Gateway events (hypothesis)."""

from __future__ import annotations

import base64
import copy
import io
import json
import logging
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from helpers import ROOT, Hub, api_event

PROBLEM = "application/problem+json"
BASE = "https://synchub.dev/problems/"
KEY = {"Idempotency-Key": "idem-key-0001"}


def call(ctx: Any, event: Any) -> tuple[int, dict[str, str], Any]:
    from orders.handler import lambda_handler

    resp = lambda_handler(event, ctx)
    headers = dict(resp.get("headers") or {})
    headers.update({k: ", ".join(v) for k, v in (resp.get("multiValueHeaders") or {}).items()})
    body = resp.get("body")
    return (
        resp["statusCode"],
        headers,
        json.loads(body) if body and headers.get("Content-Type") != "text/plain" else body,
    )


def item_count(hub: Hub) -> int:
    return hub.ddb.scan(TableName=hub.orders_table, Select="COUNT", ConsistentRead=True)["Count"]


def refused(ctx: Any, hub: Hub, event: Any, status: int, slug: str) -> dict[str, Any]:
    """Call the handler and check the answer is the problem ``slug`` and nothing was written."""
    before = item_count(hub)
    got, headers, problem = call(ctx, event)
    assert (got, problem.get("type") if isinstance(problem, dict) else problem) == (status, BASE + slug), problem
    assert headers["Content-Type"] == PROBLEM
    assert problem["status"] == status and problem["title"] and problem["detail"]
    assert item_count(hub) == before
    return headers


def order_post(body: Any, headers: dict[str, str] | None = None, **kwargs: Any) -> dict[str, Any]:
    return api_event("POST", "/orders", body, {**KEY, **(headers or {})}, **kwargs)


def nested(depth: int) -> str:
    """A JSON object whose ``x`` member nests ``depth`` levels in all."""
    return '{"x": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


# -- body size, encoding, syntax, nesting ----------------------------------------------------------------
def test_a_body_of_64_kib_is_read_and_one_byte_more_is_413(hub: Hub, lambda_context: Any, order_body: dict) -> None:
    from orders.preflight import MAX_BODY_BYTES

    def padded(size: int) -> str:
        text = json.dumps({**order_body, "padding": ""})
        return text.replace('"padding": ""', '"padding": "' + "x" * (size - len(text)) + '"')

    assert len(padded(MAX_BODY_BYTES).encode()) == MAX_BODY_BYTES == 65536
    status, _, problem = call(lambda_context, order_post(padded(MAX_BODY_BYTES)))
    assert (status, problem["type"]) == (400, BASE + "validation-error")  # read, and refused for `padding`
    headers = refused(lambda_context, hub, order_post(padded(MAX_BODY_BYTES + 1)), 413, "payload-too-large")
    assert "Retry-After" not in headers
    encoded = order_post(base64.b64encode(padded(MAX_BODY_BYTES + 1).encode()).decode())
    encoded["isBase64Encoded"] = True
    refused(lambda_context, hub, encoded, 413, "payload-too-large")
    refused(lambda_context, hub, order_post("x" * 10_000_000), 413, "payload-too-large")  # API Gateway's 10 MB


def test_multibyte_characters_count_as_bytes(hub: Hub, lambda_context: Any) -> None:
    from orders.preflight import MAX_BODY_BYTES

    body = '{"x": "' + "€" * (MAX_BODY_BYTES // 3) + '"}'  # fewer characters than the limit, more bytes
    assert len(body) < MAX_BODY_BYTES < len(body.encode())
    refused(lambda_context, hub, order_post(body), 413, "payload-too-large")


def test_a_base64_encoded_utf8_body_is_accepted(hub: Hub, lambda_context: Any, order_body: dict) -> None:
    event = order_post(base64.b64encode(json.dumps(order_body).encode()).decode())
    event["isBase64Encoded"] = True
    status, _, receipt = call(lambda_context, event)
    assert status == 202 and receipt["state"] == "ACCEPTED"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"channel_order_ref": "caf\xe9"}',  # latin-1
        b"\xff\xfe{\x00}\x00",  # UTF-16 with a byte order mark
        b'{"x": "\xed\xa0\x80"}',  # an encoded surrogate
        b"\xc3",  # truncated sequence
    ],
)
def test_a_body_that_is_not_utf8_is_400(hub: Hub, lambda_context: Any, raw: bytes) -> None:
    event = order_post(base64.b64encode(raw).decode())
    event["isBase64Encoded"] = True
    refused(lambda_context, hub, event, 400, "body-not-utf8")


def test_a_lone_surrogate_in_a_text_body_is_400(hub: Hub, lambda_context: Any) -> None:
    refused(lambda_context, hub, order_post('{"x": "\ud800"}'), 400, "body-not-utf8")


def test_a_body_that_is_not_base64_though_flagged_so_is_400(hub: Hub, lambda_context: Any) -> None:
    event = order_post("not base64!")
    event["isBase64Encoded"] = True
    refused(lambda_context, hub, event, 400, "bad-request")


@pytest.mark.parametrize(
    "body",
    [
        None,
        "",
        "   \n",
        "{not json",
        '{"a": 1,}',
        '{"a": NaN}',
        '{"a": Infinity}',
        '{"a": ' + "1" * 5000 + "}",  # more digits than Python converts: a ValueError, not a JSONDecodeError
        '{"a": 1} {"b": 2}',
        "\ufeff{}",  # a byte order mark
    ],
)
def test_a_body_that_is_not_json_is_400(hub: Hub, lambda_context: Any, body: str | None) -> None:
    refused(lambda_context, hub, order_post(body), 400, "body-not-json")


@pytest.mark.parametrize("body", ["[]", "[{}]", '"order"', "1", "true", "null"])
def test_a_body_that_is_not_an_object_is_400(hub: Hub, lambda_context: Any, body: str) -> None:
    refused(lambda_context, hub, order_post(body), 400, "body-not-object")


def test_nesting_up_to_16_levels_is_parsed_and_deeper_is_400(hub: Hub, lambda_context: Any) -> None:
    from orders.preflight import MAX_JSON_DEPTH

    assert MAX_JSON_DEPTH == 16
    status, _, problem = call(lambda_context, order_post(nested(16)))
    assert (status, problem["type"]) == (400, BASE + "validation-error")
    headers = refused(lambda_context, hub, order_post(nested(17)), 400, "json-too-deep")
    assert headers["Content-Type"] == PROBLEM


@pytest.mark.parametrize("depth", [10_000, 1_000_000])
def test_pathological_nesting_is_refused_without_recursion(hub: Hub, lambda_context: Any, depth: int) -> None:
    for body in ("[" * depth, "{" + '"a":[' * depth, "[" * depth + "]" * depth):
        event = order_post(body[:60_000])
        refused(lambda_context, hub, event, 400, "json-too-deep")


def test_brackets_inside_strings_do_not_count_as_nesting(hub: Hub, lambda_context: Any, order_body: dict) -> None:
    order_body["customer"]["name"] = '[[[[[[[[[[[[[[[[[[[[{{{{{{{{{{{{{{{{{{{{ \\" ]]]]'
    status, _, _ = call(lambda_context, order_post(order_body))
    assert status == 202


# -- headers -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonx",
        "application/json; charset=latin-1",
        "application/problem+json",
    ],
)
def test_a_body_not_sent_as_json_is_415(
    hub: Hub, lambda_context: Any, order_body: dict, content_type: str | None
) -> None:
    event = order_post(order_body)
    for name in ("headers", "multiValueHeaders"):
        event[name].pop("Content-Type")
        if content_type is not None:
            event[name]["Content-Type"] = content_type if name == "headers" else [content_type]
    refused(lambda_context, hub, event, 415, "unsupported-media-type")


@pytest.mark.parametrize(
    "content_type", ["Application/JSON", "application/json;charset=UTF-8", 'application/json; charset="utf-8"']
)
def test_json_media_types_are_taken_in_any_spelling(
    hub: Hub, lambda_context: Any, order_body: dict, content_type: str
) -> None:
    status, _, _ = call(lambda_context, order_post(order_body, {"Content-Type": content_type}))
    assert status == 202


def test_every_idempotency_key_length_the_docs_allow_works(hub: Hub, lambda_context: Any, order_body: dict) -> None:
    accepted = set()
    for length in range(8, 129):
        key = (string.ascii_letters + string.digits + "-_.:") * 2
        body = {**order_body, "channel_order_ref": f"{order_body['channel_order_ref']}-{length}"}
        status, _, receipt = call(lambda_context, order_post(body, {"Idempotency-Key": key[:length]}))
        assert status == 202, (length, receipt)
        accepted.add(receipt["order_id"])
    assert len(accepted) == 121


@pytest.mark.parametrize(
    "key",
    [
        "k" * 7,
        "k" * 129,
        "k" * 10_000,
        "has space",
        "idem-key-0001\n",
        "idem/key/0001",
        "ïdem-key-0001",
        "idem\x00key01",
    ],
)
def test_other_idempotency_keys_are_400(hub: Hub, lambda_context: Any, order_body: dict, key: str) -> None:
    refused(lambda_context, hub, order_post(order_body, {"Idempotency-Key": key}), 400, "idempotency-key-invalid")


def test_an_idempotency_key_sent_twice_is_400(hub: Hub, lambda_context: Any, order_body: dict) -> None:
    event = order_post(order_body)
    event["multiValueHeaders"]["Idempotency-Key"] = ["idem-key-0001", "idem-key-0002"]
    refused(lambda_context, hub, event, 400, "idempotency-key-invalid")


def test_a_missing_idempotency_key_is_400(hub: Hub, lambda_context: Any, order_body: dict) -> None:
    event = api_event("POST", "/orders", order_body)
    refused(lambda_context, hub, event, 400, "idempotency-key-missing")


class Logs:
    """Everything the orders function logs (its Logger and any other logger), as written."""

    def __init__(self) -> None:
        from orders.handler import pt

        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(pt.logger.registered_formatter)
        self.loggers = [logging.getLogger(pt.logger.name), logging.getLogger()]
        for std in self.loggers:
            std.addHandler(self.handler)

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line.startswith("{")]

    def close(self) -> None:
        for std in self.loggers:
            std.removeHandler(self.handler)


@pytest.fixture
def logs() -> Iterator[Logs]:
    captured = Logs()
    yield captured
    captured.close()


ODD_CORRELATION_IDS = [
    "",
    "x" * 129,
    "x" * 10_240,
    "has space",
    "ünïcode",
    "emoji-\U0001f600",
    "ctl\x00null",
    "ctl\x1bescape",
    "line\nbreak",
    "trailing-newline\n",
    "tab\there",
    "\x7f",
]


@pytest.mark.parametrize("sent", ODD_CORRELATION_IDS)
def test_an_odd_correlation_id_is_400_on_every_route_and_never_logged(
    hub: Hub, lambda_context: Any, order_body: dict, logs: Logs, sent: str
) -> None:
    post_event = order_post(order_body, {"X-Correlation-Id": sent})
    get_event = api_event(
        "GET",
        "/orders/ord_x",
        headers={"X-Correlation-Id": sent},
        resource="/orders/{order_id}",
        path_params={"order_id": "ord_x"},
    )
    for sent_event in (post_event, get_event):
        refused(lambda_context, hub, sent_event, 400, "correlation-id-invalid")
    lines = logs.lines()
    assert lines and all(line.get("correlation_id") == post_event["requestContext"]["requestId"] for line in lines)
    if sent:
        assert sent not in logs.stream.getvalue()


def test_a_correlation_id_sent_twice_is_400(hub: Hub, lambda_context: Any, order_body: dict) -> None:
    event = order_post(order_body)
    event["multiValueHeaders"]["X-Correlation-Id"] = ["one-id", "other-id"]
    refused(lambda_context, hub, event, 400, "correlation-id-invalid")


def test_an_odd_request_id_is_not_used_as_correlation_id(
    hub: Hub, lambda_context: Any, order_body: dict, logs: Logs
) -> None:
    event = order_post(order_body)
    event["requestContext"]["requestId"] = "odd\nrequest id " * 1000
    status, _, _ = call(lambda_context, event)
    assert status == 202
    [outbox] = [i for i in hub.ddb.scan(TableName=hub.orders_table)["Items"] if i["pk"]["S"].startswith("OUTBOX#")]
    correlation_id = json.loads(outbox["detail"]["S"])["correlation_id"]
    assert correlation_id.startswith("ord_") and "\n" not in correlation_id
    assert "odd\nrequest" not in logs.stream.getvalue()


def test_no_personal_data_in_the_logs(
    hub: Hub, lambda_context: Any, order_body: dict, logs: Logs, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")  # the handler turns it off explicitly
    order_body["customer"].update(name="Jan Zeldzaam-Persoonsgegeven", email="jan.zeldzaam@example.org")
    order_body["ship_to"]["line1"] = "Geheimstraat 99"
    _, _, receipt = call(lambda_context, order_post(order_body, {"X-Correlation-Id": "pii-check-1"}))
    call(lambda_context, order_post(order_body, {"X-Correlation-Id": "pii-check-1"}))  # a replay
    call(lambda_context, order_post({**order_body, "channel": "other-channel"}))  # a refusal
    call(lambda_context, order_post({**order_body, "lines": "x"}))  # a validation error
    status, _, order = call(
        lambda_context,
        api_event(
            "GET",
            f"/orders/{receipt['order_id']}",
            resource="/orders/{order_id}",
            path_params={"order_id": receipt["order_id"]},
        ),
    )
    assert status == 200 and order["customer"]["email"] == "jan.zeldzaam@example.org"
    written = logs.stream.getvalue() + capsys.readouterr().out
    assert "order intake" in written
    for secret in ("Zeldzaam", "jan.zeldzaam", "Geheimstraat", "Bakkerij", "Kerkstraat"):
        assert secret not in written


# -- routes, methods, Location -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "method, path, resource, allow",
    [
        ("GET", "/orders", "/orders", "POST"),
        ("PUT", "/orders", "/orders", "POST"),
        ("DELETE", "/orders", "/orders", "POST"),
        ("PATCH", "/orders", "/orders", "POST"),
        ("HEAD", "/orders", "/orders", "POST"),
        ("OPTIONS", "/orders", "/orders", "POST"),
        ("post", "/orders", "/orders", "POST"),  # methods are case-sensitive
        ("POST", "/orders/ord_x", "/orders/{order_id}", "GET"),
        ("PUT", "/orders/ord_x", "/orders/{order_id}", "GET"),
        ("DELETE", "/orders/ord_x", "/orders/{order_id}", "GET"),
        ("POST", "/openapi.json", "/openapi.json", "GET"),
        ("DELETE", "/openapi.json", "/openapi.json", "GET"),
    ],
)
def test_a_method_the_route_does_not_take_is_405_with_allow(
    hub: Hub, lambda_context: Any, order_body: dict, method: str, path: str, resource: str, allow: str
) -> None:
    event = api_event(method, path, order_body, KEY, resource=resource)
    headers = refused(lambda_context, hub, event, 405, "method-not-allowed")
    assert headers["Allow"] == allow


@pytest.mark.parametrize("path", ["/", "/order", "/orders/ord_x/history", "/v1/orders", "/openapi.yaml"])
def test_an_unknown_path_is_404(hub: Hub, lambda_context: Any, path: str) -> None:
    event = api_event("GET", path)
    event["resource"] = "/{proxy+}"
    refused(lambda_context, hub, event, 404, "not-found")


@pytest.mark.parametrize(
    "order_id", ["ord_x", "ord_" + "0" * 32, "x" * 5000, "ord_" + "A" * 32, "%00", "ORD_" + "0" * 32]
)
def test_a_malformed_or_unknown_order_id_is_404(hub: Hub, lambda_context: Any, order_id: str) -> None:
    event = api_event("GET", f"/orders/{order_id}", resource="/orders/{order_id}", path_params={"order_id": order_id})
    refused(lambda_context, hub, event, 404, "not-found")


@pytest.mark.parametrize(
    "where, called, prefix",
    [
        ({"stage": "v1"}, "/v1/orders", "/v1"),  # the execute-api URL: the stage before the path
        ({"stage": "prod"}, "/prod/orders", "/prod"),
        ({"base_path": "/shop"}, "/shop/orders", "/shop"),  # a custom domain's base path mapping
        ({"base_path": "/api/channels"}, "/api/channels/orders", "/api/channels"),
        ({"base_path": ""}, "/orders", ""),  # a custom domain's root mapping
    ],
)
def test_location_and_status_url_are_right_behind_the_stage_or_domain(
    hub: Hub, lambda_context: Any, order_body: dict, where: dict[str, str], called: str, prefix: str
) -> None:
    event = order_post(order_body, **where)
    assert event["requestContext"]["path"] == called
    status, headers, receipt = call(lambda_context, event)
    assert status == 202
    assert receipt["status_url"] == headers["Location"] == f"{prefix}/orders/{receipt['order_id']}"

    # the duplicate's status_url too, and the order is found where Location says
    status, _, problem = call(lambda_context, order_post(order_body, {"Idempotency-Key": "idem-key-0002"}, **where))
    assert status == 409 and problem["status_url"] == headers["Location"]
    assert problem["instance"] == f"{prefix}/orders"
    order_path = headers["Location"].removeprefix(prefix)
    get_event = api_event(
        "GET",
        order_path,
        resource="/orders/{order_id}",
        path_params={"order_id": receipt["order_id"]},
        **where,
    )
    assert call(lambda_context, get_event)[0] == 200


def test_openapi_json_needs_no_token_and_is_the_published_document(hub: Hub, lambda_context: Any) -> None:
    published = (ROOT / "openapi" / "synchub.json").read_text()
    for channel in (None, "webshop-nl"):
        event = api_event("GET", "/openapi.json", channel=channel)
        event["headers"].pop("Content-Type")
        event["multiValueHeaders"].pop("Content-Type")
        status, headers, document = call(lambda_context, event)
        assert status == 200 and headers["Content-Type"] == "application/json"
        assert document == json.loads(published)
    assert (Path(ROOT) / "functions" / "orders" / "openapi.json").read_text() == published


# -- fuzzing -----------------------------------------------------------------------------------------------
_text = st.text(st.characters(codec="utf-8"), max_size=40) | st.sampled_from(["", "\x00", "\ud800", "\u20ac" * 3000])
_json_scalar = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _text
_json = st.recursive(
    _json_scalar, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4), max_leaves=20
)
_odd = st.none() | st.integers() | _text | st.lists(_text, max_size=2) | st.dictionaries(_text, _text, max_size=2)


def _sometimes(draw: st.DrawFn, plausible: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> Any:
    """Mostly ``plausible``, one time in twelve ``odd``: every part of an event may be odd, and most
    events still get far enough to reach the resolver."""
    return draw(odd) if draw(st.integers(0, 11)) == 0 else draw(plausible)


@st.composite
def odd_events(draw: st.DrawFn, order_body: dict[str, Any], structural: bool) -> Any:
    """API Gateway events, most of them plausible, with odd parts drawn in: odd values (methods,
    paths, header values, bodies, channels) always; ``structural``: odd shapes too (an event that is
    no object, headers that are no map, a requestContext that is a string, ...)."""

    def shape(plausible: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> Any:
        return _sometimes(draw, plausible, odd) if structural else draw(plausible)

    if structural and draw(st.integers(0, 40)) == 0:
        return draw(_odd)
    order_id = "ord_" + "0" * 32
    route = draw(
        st.sampled_from(
            [
                ("/orders", "/orders"),
                ("/orders", "/orders"),
                (f"/orders/{order_id}", "/orders/{order_id}"),
                ("/openapi.json", "/openapi.json"),
            ]
        )
    )
    method = _sometimes(
        draw, st.just("GET" if route[0] != "/orders" else "POST"), st.sampled_from(["PUT", "HEAD", "x"]) | _text
    )
    path = _sometimes(
        draw, st.just(route[0]), st.sampled_from(["/orders/", "/", "/orders/a/b"]) | _text.map("/{}".format)
    )
    resource = shape(st.just(route[1]), st.sampled_from(["/{proxy+}", None]) | _odd)
    headers: dict[str, Any] = {
        "Content-Type": _sometimes(draw, st.just("application/json"), _text),
        "Idempotency-Key": _sometimes(draw, st.sampled_from(["idem-key-0001", "idem-key-0002"]), _text),
    }
    if draw(st.booleans()):
        headers["X-Correlation-Id"] = _sometimes(draw, st.just("corr-1"), _text)
    headers.update(draw(st.dictionaries(_text, _text, max_size=2)))
    document = copy.deepcopy(order_body)
    if draw(st.integers(0, 3)) == 0:
        document["lines"][0][draw(st.sampled_from(list(document["lines"][0])))] = draw(_json)
    if draw(st.integers(0, 3)) == 0:  # last: it may replace the lines
        document[draw(st.sampled_from(list(document)))] = draw(_json)
    if draw(st.integers(0, 3)) == 0:
        document["channel"] = draw(st.sampled_from(["webshop-nl", "other-channel"]) | _text)
    text = json.dumps(document)
    body = _sometimes(
        draw,
        st.just(text),
        _json.map(json.dumps) | _text | st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode()),
    )
    b64 = draw(st.booleans())
    if b64:
        body = base64.b64encode(body.encode("utf-8", "surrogatepass")).decode()
    event = api_event("GET", "/x", channel=_sometimes(draw, st.just("webshop-nl"), st.sampled_from(["other", None])))
    event.update(
        httpMethod=method,
        path=path,
        resource=resource,
        headers=shape(st.just(headers), st.none() | _odd),
        multiValueHeaders=shape(st.just({k: [v] for k, v in headers.items()}), st.none() | st.just({}) | _odd),
        body=shape(st.just(body), _odd),
        isBase64Encoded=shape(st.just(b64), _odd),
        pathParameters=shape(st.just({"order_id": order_id}), st.none() | _odd),
        queryStringParameters=shape(st.none(), _odd),
    )
    context = event["requestContext"]
    if structural and draw(st.integers(0, 11)) == 0:
        event["requestContext"] = draw(_odd)
    elif draw(st.integers(0, 3)) == 0:
        for key in draw(st.lists(st.sampled_from(["path", "requestId", "authorizer", "stage"]), max_size=2)):
            context[key] = draw(_odd)
    return event


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), structural=st.booleans())
def test_fuzzed_events_never_get_a_5xx(
    hub: Hub, lambda_context: Any, order_body: dict, data: st.DataObject, structural: bool
) -> None:
    """Every answer is a success or a 4xx problem that wrote nothing. (`--hypothesis-show-statistics`
    shows which answers the run reached.)"""
    odd = data.draw(odd_events(order_body, structural))
    before = item_count(hub)
    status, headers, body = call(lambda_context, odd)
    event(f"{status} {body.get('type', '').removeprefix(BASE) if isinstance(body, dict) else ''}")
    assert 200 <= status < 500, (status, body)
    if status >= 400:
        assert headers["Content-Type"] == PROBLEM
        assert body["status"] == status and body["type"].startswith(BASE)
        assert item_count(hub) == before
