"""Every caller authenticated and confined, over HTTP through the local hub's API Gateway, with the
stack's own authorizer, API keys and usage plans (as a channel meets them in AWS)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from helpers import sample
from helpers.local_hub import intake_items
from synchub import channels, environment
from synchub.client import ChannelClient, TokenError, http

ChannelFactory = Callable[..., ChannelClient]  # the `new_channel` fixture (tests/e2e/conftest.py)
PROBLEM = "application/problem+json"


def order(ref: str | None = None) -> dict[str, Any]:
    body = sample("api-post-order.json")
    del body["channel"]
    body["channel_order_ref"] = ref or f"SEC-{uuid.uuid4().hex[:10]}"
    return body


def test_no_valid_credential_no_access(env: environment.HubEnvironment, webshop: ChannelClient) -> None:
    assert env.api_url
    missing = http("POST", env.api_url + "/orders", order(), {"Idempotency-Key": "no-token-0001"})
    assert missing.status == 401 and missing.header("Content-Type") == PROBLEM
    assert (missing.header("WWW-Authenticate") or "").startswith("Bearer")
    for bad in ("Bearer nonsense", "Bearer a.b.c", "Basic d2ViOnNob3A=", f"Bearer {webshop.token()}x"):
        resp = http("GET", env.api_url + "/orders/ord_x", headers={"Authorization": bad})
        assert resp.status == 401, (bad, resp.status, resp.body)
        assert resp.body["status"] == 401
    wrong = ChannelClient(env.api_url, "webshop-nl", "not-the-secret")
    try:
        wrong.fetch_token()
        raise AssertionError("a wrong secret got a token")
    except TokenError as err:
        assert err.status == 401 and err.problem["error"] == "invalid_client"


def test_revocation_and_rotation_take_effect_on_the_next_request(
    env: environment.HubEnvironment, new_channel: ChannelFactory
) -> None:
    client = new_channel()
    assert client.post_order(order(), f"rev-{uuid.uuid4().hex}").status == 202
    old_token = client.token()
    rotated = channels.rotate(env, client.client_id)
    assert env.api_url
    stale = http("GET", env.api_url + "/orders/ord_x", headers={"Authorization": f"Bearer {old_token}"})
    assert stale.status == 403 and stale.header("Content-Type") == PROBLEM
    renewed = ChannelClient(env.api_url, rotated.client_id, rotated.client_secret)
    assert renewed.post_order(order(), f"rev-{uuid.uuid4().hex}").status == 202
    channels.revoke(env, client.client_id)
    token = renewed.token()
    refused = http(
        "POST",
        env.api_url + "/orders",
        order(),
        {"Authorization": f"Bearer {token}", "Idempotency-Key": "rev-after-0001"},
    )
    assert refused.status == 403 and refused.body["status"] == 403
    try:
        renewed.fetch_token()
        raise AssertionError("a revoked channel got a token")
    except TokenError as err:
        assert err.status == 401


def test_channels_are_isolated(env: environment.HubEnvironment, new_channel: ChannelFactory) -> None:
    a, b = new_channel(), new_channel()
    key, ref = f"shared-key-{uuid.uuid4().hex[:8]}", f"SHARED-{uuid.uuid4().hex[:8]}"
    first, second = a.post_order(order(ref), key), b.post_order(order(ref), key)
    # the same Idempotency-Key and channel order reference in two channels: two orders
    assert first.status == second.status == 202
    assert first.body["order_id"] != second.body["order_id"]
    mine = a.get_order(first.body["order_id"])
    assert mine.status == 200 and mine.body["channel"] == a.client_id
    # another channel's order is indistinguishable from a missing one
    theirs = a.get_order(second.body["order_id"])
    missing = a.get_order("ord_" + uuid.uuid4().hex)
    assert theirs.status == missing.status == 404
    assert {k: v for k, v in theirs.body.items() if k not in ("detail", "instance")} == {
        k: v for k, v in missing.body.items() if k not in ("detail", "instance")
    }
    assert second.body["order_id"] not in json.dumps(theirs.body).replace(f"/orders/{second.body['order_id']}", "")
    # a body naming another channel: 403, nothing written
    before = len(intake_items(env))
    forged = a.post_order({**order(), "channel": b.client_id}, f"forge-{uuid.uuid4().hex}")
    assert forged.status == 403 and forged.header("Content-Type") == PROBLEM
    assert len(intake_items(env)) == before
    # a duplicate reference answers 409 with the caller's own order only
    dup = a.post_order(order(ref), f"other-key-{uuid.uuid4().hex[:8]}")
    assert dup.status == 409
    assert second.body["order_id"] not in json.dumps(dup.body)
    assert b.client_id not in json.dumps(dup.body)


def test_each_channel_has_its_own_throttle(new_channel: ChannelFactory) -> None:
    slow, busy = new_channel(rate=1.0, burst=3), new_channel()
    slow.token(), busy.token()  # tokens first: the throttle counts API calls, not token requests

    def get(client: ChannelClient) -> Any:
        return client.get_order("ord_" + uuid.uuid4().hex)

    with ThreadPoolExecutor(16) as pool:
        slow_answers = list(pool.map(get, [slow] * 20))
        busy_answers = list(pool.map(get, [busy] * 20))
    throttled = [r for r in slow_answers if r.status == 429]
    assert throttled, [r.status for r in slow_answers]
    assert {r.status for r in slow_answers} <= {404, 429}
    assert all(r.header("Retry-After") and int(r.header("Retry-After")) >= 1 for r in throttled)
    assert all(r.header("Content-Type") == PROBLEM for r in throttled)
    # the other channel, at the same time, was not held back by the first one's plan
    assert {r.status for r in busy_answers} == {404}


def test_many_channels_in_parallel_each_sees_only_its_own(new_channel: ChannelFactory) -> None:
    clients = [new_channel() for _ in range(4)]
    jobs = [(c, n) for c in clients for n in range(25)]

    def post(job: tuple[ChannelClient, int]) -> tuple[str, str]:
        client, n = job
        resp = client.post_order(order(f"PAR-{n}"), f"par-{n:04d}-key")  # same refs and keys in every channel
        assert resp.status == 202, resp.body
        return client.client_id, resp.body["order_id"]

    with ThreadPoolExecutor(16) as pool:
        created = list(pool.map(post, jobs))
    assert len({oid for _, oid in created}) == len(jobs)
    by_id = {c.client_id: c for c in clients}
    with ThreadPoolExecutor(16) as pool:
        seen = list(pool.map(lambda co: (co[0], by_id[co[0]].get_order(co[1])), created))
    assert all(r.status == 200 and r.body["channel"] == cid for cid, r in seen)
