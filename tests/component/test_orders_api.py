"""POST /orders and GET /orders/{id} through the real Lambda handler (API Gateway proxy events)."""

from __future__ import annotations

import copy
import json
import threading
from typing import Any

import pytest

from helpers import Hub, api_event


def _headers(resp: dict[str, Any]) -> dict[str, str]:
    """API Gateway merges headers and multiValueHeaders; so do we."""
    merged = dict(resp.get("headers") or {})
    merged.update({k: ", ".join(v) for k, v in (resp.get("multiValueHeaders") or {}).items()})
    return merged


def post(
    ctx: Any, body: Any, key: str | None = "idem-key-0001", channel: str = "webshop-nl", **headers: str
) -> tuple[int, dict, Any]:
    from orders.handler import lambda_handler

    hdrs = dict(headers)
    if key is not None:
        hdrs["Idempotency-Key"] = key
    resp = lambda_handler(api_event("POST", "/orders", body, hdrs, channel=channel), ctx)
    return resp["statusCode"], _headers(resp), json.loads(resp["body"]) if resp.get("body") else None


def get(ctx: Any, order_id: str, channel: str = "webshop-nl") -> tuple[int, dict, Any]:
    from orders.handler import lambda_handler

    resp = lambda_handler(
        api_event(
            "GET",
            f"/orders/{order_id}",
            channel=channel,
            resource="/orders/{order_id}",
            path_params={"order_id": order_id},
        ),
        ctx,
    )
    return resp["statusCode"], _headers(resp), json.loads(resp["body"])


def table_items(hub: Hub) -> list[dict[str, Any]]:
    return hub.ddb.scan(TableName=hub.orders_table)["Items"]


def test_post_creates_order_history_and_outbox_event(hub: Hub, lambda_context: Any, order_body: dict) -> None:
    status, headers, body = post(lambda_context, order_body)
    assert status == 202
    assert body["state"] == "ACCEPTED"
    assert body["status_url"] == f"/v1/orders/{body['order_id']}"  # as called: on the v1 stage
    assert headers["Location"] == body["status_url"]
    assert headers["Idempotent-Replayed"] == "false"

    status, _, order = get(lambda_context, body["order_id"])
    assert status == 200
    assert order["state"] == "ACCEPTED"
    assert order["channel_order_ref"] == order_body["channel_order_ref"]
    assert [h["state"] for h in order["history"]] == ["SUBMITTED", "ACCEPTED"]
    assert [line["sku"] for line in order["lines"]] == [line["sku"] for line in order_body["lines"]]

    outbox = [i for i in table_items(hub) if i["pk"]["S"].startswith("OUTBOX#")]
    assert len(outbox) == 1
    detail = json.loads(outbox[0]["detail"]["S"])
    assert detail["event_type"] == "OrderAccepted"
    assert detail["entity_id"] == body["order_id"] and detail["sequence"] == 1
    assert detail["data"]["order_id"] == body["order_id"]
    assert outbox[0]["outbox_status"]["S"] == "PENDING"


def test_same_key_same_body_returns_same_answer_and_writes_once(
    hub: Hub, lambda_context: Any, order_body: dict
) -> None:
    first = post(lambda_context, order_body)
    reordered = json.loads(json.dumps(order_body, sort_keys=True))  # same content, other key order
    reordered["lines"][0]["unit_price"] = str(reordered["lines"][0]["unit_price"]) + "0"  # 18.40 == 18.400
    second = post(lambda_context, reordered)
    assert first[0] == second[0] == 202
    assert first[2] == second[2]
    assert second[1]["Idempotent-Replayed"] == "true"
    items = table_items(hub)
    assert sum(i["pk"]["S"].startswith("ORDER#") and i["sk"]["S"] == "ORDER" for i in items) == 1
    assert sum(i["pk"]["S"].startswith("OUTBOX#") for i in items) == 1


def test_same_key_different_body_is_422_and_writes_nothing(hub: Hub, lambda_context: Any, order_body: dict) -> None:
    post(lambda_context, order_body)
    before = table_items(hub)
    changed = copy.deepcopy(order_body)
    changed["lines"][0]["quantity"] += 1
    status, headers, problem = post(lambda_context, changed)
    assert status == 422
    assert headers["Content-Type"] == "application/problem+json"
    assert problem["type"].endswith("/idempotency-key-reused")
    assert problem["status"] == 422
    assert table_items(hub) == before


def test_same_channel_order_under_new_key_is_409(hub: Hub, lambda_context: Any, order_body: dict) -> None:
    _, _, first = post(lambda_context, order_body, key="idem-key-A001")
    before = table_items(hub)
    status, _, problem = post(lambda_context, order_body, key="idem-key-B002")
    assert status == 409
    assert problem["order_id"] == first["order_id"]
    assert table_items(hub) == before


def test_concurrent_identical_requests_create_exactly_one_order(
    hub: Hub, lambda_context: Any, order_body: dict
) -> None:
    results: list[tuple[int, dict, Any]] = []
    barrier = threading.Barrier(8)

    def call() -> None:
        barrier.wait()
        results.append(post(lambda_context, order_body, key="idem-key-concurrent"))

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r[0] for r in results] == [202] * 8
    assert len({r[2]["order_id"] for r in results}) == 1
    assert sorted(r[1]["Idempotent-Replayed"] for r in results) == ["false"] + ["true"] * 7
    items = table_items(hub)
    assert sum(i["sk"]["S"] == "ORDER" for i in items) == 1
    assert sum(i["pk"]["S"].startswith("OUTBOX#") for i in items) == 1


@pytest.mark.parametrize(
    "mutate, pointer",
    [
        (lambda b: b.pop("lines"), "/lines"),
        (lambda b: b["lines"][0].update(quantity=0), "/lines/0/quantity"),
        (lambda b: b["lines"][0].update(sku="bad sku"), "/lines/0/sku"),
        (lambda b: b.update(currency="euro"), "/currency"),
        (lambda b: b["ship_to"].update(country="Netherlands"), "/ship_to/country"),
        (lambda b: b.update(unexpected="field"), "/unexpected"),
        (lambda b: b["lines"][0].update(unit_price="-1"), "/lines/0/unit_price"),
    ],
)
def test_invalid_body_is_400_problem_json_and_writes_nothing(
    hub: Hub, lambda_context: Any, order_body: dict, mutate: Any, pointer: str
) -> None:
    mutate(order_body)
    status, headers, problem = post(lambda_context, order_body)
    assert status == 400
    assert headers["Content-Type"] == "application/problem+json"
    assert problem["type"].endswith("/validation-error") and problem["status"] == 400
    assert any(e["pointer"].startswith(pointer) for e in problem["errors"]), problem["errors"]
    assert table_items(hub) == []


def test_lines_sharing_a_sku_are_422_unprocessable_and_write_nothing(
    hub: Hub, lambda_context: Any, order_body: dict
) -> None:
    """Every field is valid, the order as a whole is not: the rule JSON Schema cannot state (one
    line per sku and line_id) is the contract's 422, not its schema's 400."""
    order_body["lines"].append(dict(order_body["lines"][0]))
    status, headers, problem = post(lambda_context, order_body)
    assert status == 422 and headers["Content-Type"] == "application/problem+json"
    assert problem["type"].endswith("/order-unprocessable") and problem["status"] == 422
    assert problem["errors"] and all(e["pointer"] == "/" for e in problem["errors"])
    assert table_items(hub) == []


def test_malformed_json_is_400(hub: Hub, lambda_context: Any) -> None:
    status, headers, _problem = post(lambda_context, "{not json")
    assert status == 400 and headers["Content-Type"] == "application/problem+json"
    assert table_items(hub) == []


@pytest.mark.parametrize(
    "key, slug",
    [
        (None, "idempotency-key-missing"),
        ("short", "idempotency-key-invalid"),
        ("has spaces in it", "idempotency-key-invalid"),
    ],
)
def test_idempotency_key_required_and_well_formed(
    hub: Hub, lambda_context: Any, order_body: dict, key: str | None, slug: str
) -> None:
    status, _headers, problem = post(lambda_context, order_body, key=key)
    assert status == 400
    assert problem["type"].endswith("/" + slug)
    assert table_items(hub) == []


def test_get_unknown_order_is_404_problem(hub: Hub, lambda_context: Any) -> None:
    status, headers, problem = get(lambda_context, "ord_doesnotexist")
    assert status == 404
    assert headers["Content-Type"] == "application/problem+json"
    assert problem["status"] == 404
