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
