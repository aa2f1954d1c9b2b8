"""orders: what a channel may post (OrderIn) and the request hash idempotency compares. The API
handler is tested through moto in tests/component/test_orders_api.py."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from pydantic import ValidationError

from helpers import sample
from orders.logic import request_hash
from orders.models import MAX_LINES, OrderIn


def body() -> dict[str, Any]:
    return sample("api-post-order.json")


def order(document: dict[str, Any]) -> OrderIn:
    return OrderIn.model_validate(document)


def with_lines(count: int) -> dict[str, Any]:
    document = body()
    template = document["lines"][0]
    document["lines"] = [{**template, "line_id": f"L{n}", "sku": f"SKU-{n}"} for n in range(count)]
    return document


def test_the_hash_ignores_key_order_whitespace_and_number_spelling() -> None:
    reference = request_hash(order(body()))
    reordered = json.loads(json.dumps(body(), sort_keys=True))
    reordered["lines"] = [dict(reversed(list(line.items()))) for line in reordered["lines"]]
    respelled = body()
    respelled["lines"][0]["unit_price"] = "18.4"  # 18.40 in the sample
    respelled["lines"][0]["tax_rate"] = "0.090"
    respelled["lines"][1]["unit_price"] = 3.95  # a JSON number instead of a string
    padded = body()
    padded["ship_to"]["city"] = "  Utrecht "
    assert request_hash(order(reordered)) == reference
    assert request_hash(order(respelled)) == reference
    assert request_hash(order(padded)) == reference


def test_an_omitted_tax_rate_hashes_like_an_explicit_zero() -> None:
    omitted, explicit = body(), body()
    for line in omitted["lines"]:
        del line["tax_rate"]
    for line in explicit["lines"]:
        line["tax_rate"] = "0.00"
    assert request_hash(order(omitted)) == request_hash(order(explicit))


@pytest.mark.parametrize(
    "change",
    [
        lambda b: b["lines"][0].update(quantity=5),
        lambda b: b["lines"][0].update(unit_price="18.41"),
        lambda b: b.update(channel_order_ref="WS-100046"),
        lambda b: b["ship_to"].update(line2="2nd floor"),
        lambda b: b.update(requested_delivery_date="2026-12-02"),
        lambda b: b["lines"].reverse(),  # line order is part of the order
    ],
)
def test_a_different_request_has_a_different_hash(change: Any) -> None:
    changed = copy.deepcopy(body())
    change(changed)
    assert request_hash(order(changed)) != request_hash(order(body()))


def test_the_hash_is_a_stable_sha256_hex_digest() -> None:
    digest = request_hash(order(body()))
    assert digest == request_hash(order(body()))
    assert len(digest) == 64 and int(digest, 16) >= 0


@pytest.mark.parametrize(
    "field, value, complaint",
    [
        ("line_id", "1", "line_id values must be unique"),
        ("sku", "FLOUR-T55-25KG", "each sku may appear on one line only; merge the quantities"),
    ],
)
def test_duplicate_line_ids_or_skus_are_refused(field: str, value: str, complaint: str) -> None:
    document = body()
    document["lines"][1][field] = value
    with pytest.raises(ValidationError, match=complaint):
        order(document)


def test_an_order_has_between_one_and_max_lines_lines() -> None:
    assert len(order(with_lines(MAX_LINES)).lines) == MAX_LINES == 40
    with pytest.raises(ValidationError, match=f"at most {MAX_LINES} items"):
        order(with_lines(MAX_LINES + 1))
    with pytest.raises(ValidationError, match="at least 1 item"):
        order(with_lines(0))


@pytest.mark.parametrize(
    "path, value",
    [
        (("lines", 0, "quantity"), 0),
        (("lines", 0, "unit_price"), "-1.00"),
        (("lines", 0, "unit_price"), "1.00001"),  # more than 4 decimals
        (("lines", 0, "tax_rate"), "1.5"),
        (("currency",), "eur"),
        (("ship_to", "country"), "NLD"),
        (("coupon",), "FREE"),  # unknown fields are refused, not ignored
    ],
)
def test_malformed_orders_are_refused(path: tuple[Any, ...], value: Any) -> None:
    document = body()
    target: Any = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ValidationError):
        order(document)


# -- the channel: from the credential, optional in the body ------------------------------------------------
def test_the_body_may_leave_the_channel_out_but_the_event_data_may_not() -> None:
    from orders.models import OrderAcceptedData

    document = body()
    del document["channel"]
    assert order(document).channel is None
    with pytest.raises(ValidationError):
        order({**body(), "channel": "Not A Channel"})
    with pytest.raises(ValidationError, match="channel"):
        OrderAcceptedData.model_validate({**document, "order_id": "ord_1"})


def test_an_order_naming_another_channel_is_refused_before_anything_is_written() -> None:
    from orders.logic import accept
    from orders.models import ChannelMismatch

    with pytest.raises(ChannelMismatch) as refused:
        accept(order(body()), "idem-key-0001", "corr", channel="other-channel")  # no table: refused before I/O
    assert (refused.value.sent, refused.value.authenticated) == ("webshop-nl", "other-channel")
    anonymous = body()
    del anonymous["channel"]
    with pytest.raises(ValueError, match="needs a channel"):
        accept(order(anonymous), "idem-key-0001", "corr")


def test_the_causation_id_fits_the_envelope_for_every_key_length() -> None:
    from orders.logic import causation_id
    from orders.preflight import IDEMPOTENCY_KEY

    for length in range(8, 129):
        key = ("k" * 200)[:length]
        assert IDEMPOTENCY_KEY.fullmatch(key)
        cause = causation_id(key)
        assert len(cause) <= 128
        assert cause == f"idempotency-key:{key}" if length <= 112 else cause.startswith("idempotency-key-sha256:")
    assert causation_id("k" * 113) != causation_id("k" * 114)


@pytest.mark.parametrize(
    "value, valid",
    [("ord_" + "0123456789abcdef" * 2, True), ("ord_" + "0" * 31, False), ("ord_" + "A" * 32, False), ("x", False)],
)
def test_order_ids_have_one_shape(value: str, valid: bool) -> None:
    from orders.logic import is_order_id, new_order_id

    assert is_order_id(new_order_id())
    assert is_order_id(value) is valid
    assert is_order_id(value + "\n") is False


# -- the pre-flight (orders/preflight.py): pure checks on the API Gateway event ---------------------------
def event(method: str = "POST", path: str = "/orders", **changes: Any) -> dict[str, Any]:
    base = sample("apigw-post-order-event.json")
    base.update(httpMethod=method, path=path, resource=changes.pop("resource", path))
    base["requestContext"] = {**base["requestContext"], "path": "/v1" + path}
    base.update(changes)
    return base


def test_a_sound_post_passes_with_the_channel_key_and_correlation_id() -> None:
    from orders.preflight import ORDERS, Request, check

    checked = check(event())
    assert isinstance(checked, Request)
    assert (checked.route, checked.channel) == (ORDERS, "webshop-nl")
    assert (checked.idempotency_key, checked.correlation_id) == ("webshop-nl-WS-100045-1", "WS-100045")
    assert json.loads(checked.event["body"])["channel_order_ref"] == "WS-100045"


@pytest.mark.parametrize(
    "text, too_deep",
    [
        ("{}", False),
        ('{"a": ' + "[" * 15 + "]" * 15 + "}", False),  # 16 levels
        ('{"a": ' + "[" * 16 + "]" * 16 + "}", True),  # 17 levels
        ('{"a": "' + "[" * 100 + '"}', False),  # brackets in a string
        ('{"a": "\\"' + "[" * 100 + '"}', False),  # after an escaped quote, still in the string
        ('{"a": "\\\\"' + ', "b": ' + "[" * 20 + "]" * 20 + "}", True),  # an escaped backslash ends the string
        ("[" * 1_000_000, True),
        ('"' + "[" * 1000, False),  # an unterminated string: no brackets at all
        ("]]]]" + "[" * 16, False),  # unbalanced closers do not go below zero
        ("]]]]" + "[" * 17, True),
    ],
)
def test_nesting_is_measured_without_parsing(text: str, too_deep: bool) -> None:
    from orders.preflight import json_too_deep

    assert json_too_deep(text) is too_deep


@pytest.mark.parametrize(
    "content_type, json_",
    [
        ("application/json", True),
        ("APPLICATION/JSON", True),
        ("application/json; charset=utf-8", True),
        ('application/json;charset="UTF8"', True),
        ("application/json; charset=iso-8859-1", False),
        ("application/json-patch+json", False),
        ("text/json", False),
        ("", False),
    ],
)
def test_only_utf8_json_is_taken(content_type: str, json_: bool) -> None:
    from synchub_core.proxy_event import media_type_is_json

    assert media_type_is_json(content_type) is json_


@pytest.mark.parametrize(
    "called, within, base",
    [
        ("/v1/orders", "/orders", "/v1"),
        ("/v1/orders/", "/orders", "/v1"),
        ("/shop/orders", "/orders", "/shop"),
        ("/orders", "/orders", ""),
        ("/somewhere/else", "/orders", ""),  # not a suffix: no base rather than a wrong one
        ('/v1"><script>/orders', "/orders", ""),  # nothing odd goes into a Location header
    ],
)
def test_the_base_path_is_what_stands_before_the_api_path(called: str, within: str, base: str) -> None:
    from synchub_core.proxy_event import base_path

    assert base_path({"path": within, "requestContext": {"path": called}}) == base


def test_a_custom_domains_base_path_is_cut_from_the_path_the_resolver_routes() -> None:
    from orders.preflight import ORDER, Request, check

    checked = check(
        event(
            "GET",
            "/shop/orders/ord_1",
            resource="/orders/{order_id}",
            body=None,
            requestContext={"path": "/shop/orders/ord_1", "authorizer": {"channel": "webshop-nl"}},
        )
    )
    assert isinstance(checked, Request) and checked.route is ORDER
    assert checked.event["path"] == "/orders/ord_1"


@pytest.mark.parametrize(
    "change, status, slug",
    [
        (lambda e: e.update(httpMethod="DELETE"), 405, "method-not-allowed"),
        (lambda e: e["requestContext"].pop("authorizer"), 401, "unauthorized"),
        (lambda e: e.update(path="/nowhere", resource="/{proxy+}"), 404, "not-found"),
        (lambda e: e.update(headers={"X": 1}, multiValueHeaders=None), 400, "bad-request"),
        (lambda e: e.update(multiValueHeaders={"Idempotency-Key": "not-a-list"}), 400, "bad-request"),
        (lambda e: e.update(requestContext="odd"), 400, "bad-request"),
        (lambda e: e["headers"].pop("Idempotency-Key"), 400, "idempotency-key-missing"),
        (lambda e: e["headers"].update({"X-Correlation-Id": "a\tb"}), 400, "correlation-id-invalid"),
        (lambda e: e["headers"].update({"Content-Type": "text/plain"}), 415, "unsupported-media-type"),
        (lambda e: e.update(body="x" * 70_000), 413, "payload-too-large"),
        (lambda e: e.update(body="/w==", isBase64Encoded=True), 400, "body-not-utf8"),
        (lambda e: e.update(body="[" * 17), 400, "json-too-deep"),
        (lambda e: e.update(body="{"), 400, "body-not-json"),
        (lambda e: e.update(body="[]"), 400, "body-not-object"),
    ],
)
def test_each_refusal_and_the_order_they_come_in(change: Any, status: int, slug: str) -> None:
    from orders.preflight import Refusal, check

    sent = event()
    change(sent)
    refused = check(sent)
    assert isinstance(refused, Refusal)
    assert (refused.status, refused.slug) == (status, slug)


def test_events_that_are_no_proxy_events_are_refused_not_raised() -> None:
    from orders.preflight import Refusal, check

    for odd in (None, [], "event", {}, {"httpMethod": 1, "path": "/orders"}, {"httpMethod": "GET", "path": "orders"}):
        refused = check(odd)
        assert isinstance(refused, Refusal) and refused.status == 400
