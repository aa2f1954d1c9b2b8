"""The orders API's identity is the credential: the channel comes from the TOKEN authorizer's
context, never from the body. Orders, Idempotency-Keys and channel order references belong to the
authenticated channel, and no answer shows one channel anything of another's."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from helpers import Hub, api_event

WEBSHOP, MARKETPLACE = "webshop-nl", "bol-marketplace"


def call(ctx: Any, event: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    from orders.handler import lambda_handler

    resp = lambda_handler(event, ctx)
    headers = dict(resp.get("headers") or {})
    headers.update({k: ", ".join(v) for k, v in (resp.get("multiValueHeaders") or {}).items()})
    return resp["statusCode"], headers, json.loads(resp["body"]) if resp.get("body") else None


def post(ctx: Any, body: Any, channel: str | None, key: str = "shared-key-0001") -> tuple[int, dict[str, str], Any]:
    return call(ctx, api_event("POST", "/orders", body, {"Idempotency-Key": key}, channel=channel))


def get(ctx: Any, order_id: str, channel: str | None) -> tuple[int, dict[str, str], Any]:
    event = api_event(
        "GET", f"/orders/{order_id}", channel=channel, resource="/orders/{order_id}", path_params={"order_id": order_id}
    )
    return call(ctx, event)


def items(hub: Hub) -> list[dict[str, Any]]:
    return hub.ddb.scan(TableName=hub.orders_table, ConsistentRead=True)["Items"]


def outbox_details(hub: Hub) -> list[dict[str, Any]]:
    return [json.loads(i["detail"]["S"]) for i in items(hub) if i["pk"]["S"].startswith("OUTBOX#")]


def without_channel(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "channel"}


def test_two_channels_may_use_the_same_key_and_reference(hub: Hub, lambda_context: Any, order_body: dict) -> None:
    body = without_channel(order_body)
    webshop = post(lambda_context, body, WEBSHOP)
    marketplace = post(lambda_context, body, MARKETPLACE)
    assert webshop[0] == marketplace[0] == 202
    assert webshop[1]["Idempotent-Replayed"] == marketplace[1]["Idempotent-Replayed"] == "false"
    assert webshop[2]["order_id"] != marketplace[2]["order_id"]

    assert get(lambda_context, webshop[2]["order_id"], WEBSHOP)[2]["channel"] == WEBSHOP
    assert get(lambda_context, marketplace[2]["order_id"], MARKETPLACE)[2]["channel"] == MARKETPLACE
    accepted = {d["data"]["order_id"]: d["data"]["channel"] for d in outbox_details(hub)}
    assert accepted == {webshop[2]["order_id"]: WEBSHOP, marketplace[2]["order_id"]: MARKETPLACE}
    keys = sorted(i["pk"]["S"] for i in items(hub) if i["pk"]["S"].startswith(("IDEMP#", "CHANREF#")))
    ref = order_body["channel_order_ref"]
    assert keys == [
        f"CHANREF#{MARKETPLACE}#{ref}",
        f"CHANREF#{WEBSHOP}#{ref}",
        f"IDEMP#{MARKETPLACE}#shared-key-0001",
        f"IDEMP#{WEBSHOP}#shared-key-0001",
    ]


def test_a_retry_is_answered_from_the_own_channels_key_only(hub: Hub, lambda_context: Any, order_body: dict) -> None:
    body = without_channel(order_body)
    first = post(lambda_context, body, WEBSHOP)
    other = post(lambda_context, body, MARKETPLACE)
    retry = post(lambda_context, body, MARKETPLACE)
    assert retry[0] == 202 and retry[1]["Idempotent-Replayed"] == "true"
    assert retry[2] == other[2] and retry[2]["order_id"] != first[2]["order_id"]


@pytest.mark.parametrize("sent", [None, WEBSHOP])
def test_the_stored_order_and_its_event_carry_the_authenticated_channel(
    hub: Hub, lambda_context: Any, order_body: dict, sent: str | None
) -> None:
    body = without_channel(order_body) if sent is None else {**order_body, "channel": sent}
    status, _, receipt = post(lambda_context, body, WEBSHOP)
    assert status == 202
    assert get(lambda_context, receipt["order_id"], WEBSHOP)[2]["channel"] == WEBSHOP
    [event] = outbox_details(hub)
    assert event["data"]["channel"] == WEBSHOP


def test_a_body_naming_another_channel_is_403_and_writes_nothing(
    hub: Hub, lambda_context: Any, order_body: dict
) -> None:
    body = {**order_body, "channel": MARKETPLACE}
    status, headers, problem = post(lambda_context, body, WEBSHOP)
    assert status == 403
    assert headers["Content-Type"] == "application/problem+json"
    assert problem["type"] == "https://synchub.dev/problems/channel-mismatch" and problem["status"] == 403
    assert items(hub) == []


def test_with_and_without_the_body_channel_is_the_same_request(hub: Hub, lambda_context: Any, order_body: dict) -> None:
    first = post(lambda_context, {**order_body, "channel": WEBSHOP}, WEBSHOP)
    again = post(lambda_context, without_channel(order_body), WEBSHOP)
    assert again[0] == 202 and again[1]["Idempotent-Replayed"] == "true"
    assert again[2] == first[2]


def test_another_channels_order_is_not_found_exactly_like_a_missing_one(
    hub: Hub, lambda_context: Any, order_body: dict
) -> None:
    _, _, receipt = post(lambda_context, without_channel(order_body), WEBSHOP)
    order_id = receipt["order_id"]
    missing_id = "ord_" + "0" * 32
    foreign = get(lambda_context, order_id, MARKETPLACE)
    missing = get(lambda_context, missing_id, MARKETPLACE)
    assert foreign[0] == missing[0] == 404
    assert foreign[1] == missing[1]
    assert json.dumps(foreign[2]).replace(order_id, "<id>") == json.dumps(missing[2]).replace(missing_id, "<id>")
    assert get(lambda_context, order_id, WEBSHOP)[0] == 200


def test_conflicts_never_show_another_channels_order(hub: Hub, lambda_context: Any, order_body: dict) -> None:
    body = without_channel(order_body)
    _, _, theirs = post(lambda_context, body, WEBSHOP, key="their-key-0001")

    # the same key with another body, and the same reference under another key: no conflict with
    # the other channel's order at all
    changed = copy.deepcopy(body)
    changed["lines"][0]["quantity"] += 1
    mine = post(lambda_context, changed, MARKETPLACE, key="their-key-0001")
    assert mine[0] == 202
    again = post(lambda_context, body, MARKETPLACE, key="mine-key-0002")
    assert again[0] == 409  # the reference is taken, by this channel's own order
    assert again[2]["order_id"] == mine[2]["order_id"]
    reused = post(lambda_context, body, MARKETPLACE, key="their-key-0001")
    assert reused[0] == 422

    for _, headers, problem in (again, reused):
        text = json.dumps(problem) + json.dumps(headers)
        assert theirs["order_id"] not in text
        assert WEBSHOP not in text


@pytest.mark.parametrize(
    "authorizer",
    [
        None,  # no authorizer context at all
        {},
        {"principalId": "webshop-nl"},  # no channel in the context
        {"channel": ""},
        {"channel": "Not A Channel"},
        {"channel": ["webshop-nl"]},
    ],
)
def test_no_authenticated_channel_is_401_problem_and_writes_nothing(
    hub: Hub, lambda_context: Any, order_body: dict, authorizer: dict[str, Any] | None
) -> None:
    post_event = api_event("POST", "/orders", order_body, {"Idempotency-Key": "idem-key-0001"}, channel=None)
    get_event = api_event(
        "GET", "/orders/ord_x", channel=None, resource="/orders/{order_id}", path_params={"order_id": "ord_x"}
    )
    for event in (post_event, get_event):
        if authorizer is not None:
            event["requestContext"]["authorizer"] = authorizer
        status, headers, problem = call(lambda_context, event)
        assert status == 401
        assert headers["Content-Type"] == "application/problem+json"
        assert headers["WWW-Authenticate"] == 'Bearer realm="synchub"'
        assert problem["type"] == "https://synchub.dev/problems/unauthorized"
    assert items(hub) == []
