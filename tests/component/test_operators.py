"""Operators against moto: registered with ``synchub operators`` (the Python API and the command
line) like channels, with role ``operator`` on the record, in the token (claim ``role``) and in
the authorizer's context; their tokens open the business exceptions API and a channel's do not.
Channel records written before roles existed keep working as channels."""

from __future__ import annotations

import argparse
import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import REGION, Hub, api_event, sample
from synchub import channels as cli_channels
from synchub.environment import HubEnvironment

STAGE = "v1"
TOKEN_URL = "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/v1/oauth2/token"
ENV_KEYS = ("CHANNELS_TABLE", "TOKEN_SIGNING_SECRET_ARN", "TOKEN_TTL_SECONDS")
EXCEPTIONS_ARN = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/v1/GET/exceptions"
ORDERS_ARN = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/v1/POST/orders"


@pytest.fixture
def env(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubEnvironment]:
    """The token and authorizer functions' environment, the operations function's, and a
    HubEnvironment for the CLI naming the provisioned API."""
    from channels.repository import reset_caches
    from synchub_core.aws import reset_clients
    from synchub_core.config import reset_settings

    auth = next(f for f in hub.dep.functions.values() if f.handler == "channels.handler.authorizer_handler")
    ops = next(f for f in hub.dep.functions.values() if f.handler == "operations.handler.lambda_handler")
    for key, value in ops.environment.items():
        monkeypatch.setenv(key, value)
    for key in ENV_KEYS:
        monkeypatch.setenv(key, auth.environment[key])
    reset_caches()
    reset_settings()
    reset_clients()
    yield HubEnvironment(
        endpoint=None,
        region=REGION,
        queues={k: v["url"] for k, v in hub.dep.queues.items()},
        tables=hub.dep.tables,
        event_bus=hub.dep.bus_name,
        api_url=TOKEN_URL.removesuffix("/oauth2/token"),
        api_id=hub.dep.api_id,
        stage=hub.dep.stage,
        token_url=TOKEN_URL,
    )
    reset_caches()
    reset_settings()


def signing_key() -> bytes:
    from channels.repository import signing_key

    return signing_key()


def token_for(ctx: Any, client_id: str, secret: str) -> str:
    from channels.handler import token_handler

    event = sample("apigw-post-order-event.json")
    auth = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    event.update(
        httpMethod="POST",
        path="/oauth2/token",
        resource="/oauth2/token",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Authorization": auth},
        multiValueHeaders=None,
        body="grant_type=client_credentials",
    )
    event["requestContext"] = {**event["requestContext"], "httpMethod": "POST", "resourcePath": "/oauth2/token"}
    resp = token_handler(event, ctx)
    assert resp["statusCode"] == 200, resp["body"]
    return str(json.loads(resp["body"])["access_token"])


def authorize(ctx: Any, token: str, method_arn: str = EXCEPTIONS_ARN) -> dict[str, Any]:
    from channels.handler import authorizer_handler

    event = {"type": "TOKEN", "methodArn": method_arn, "authorizationToken": f"Bearer {token}"}
    return dict(authorizer_handler(event, ctx))


def effect(policy: dict[str, Any]) -> str:
    return str(policy["policyDocument"]["Statement"][0]["Effect"])


def as_api_gateway_would(ctx: Any, policy: dict[str, Any], method: str, path: str, body: Any = None) -> dict[str, Any]:
    """Invoke the operations function with the authorizer's context, as API Gateway passes it on."""
    from operations.handler import lambda_handler

    assert effect(policy) == "Allow"
    event = api_event(method, path, body, channel=None, resource=path)
    event["requestContext"]["authorizer"] = {"principalId": policy["principalId"], **policy["context"]}
    resp = lambda_handler(event, ctx)
    return {"status": resp["statusCode"], "body": json.loads(resp["body"])}


# -- operators add, end to end ---------------------------------------------------------------------
def test_an_operator_is_registered_like_a_channel_with_role_operator(env: HubEnvironment, lambda_context: Any) -> None:
    creds = cli_channels.add_operator(env, "ops-alice")
    record = cli_channels.store(env).get("ops-alice")
    assert record is not None and record.role.value == "operator" and record.ver == 1
    raw = env.clients()("dynamodb").get_item(
        TableName=env.channels_table, Key={"pk": {"S": "CHANNEL#ops-alice"}, "sk": {"S": "CHANNEL"}}
    )["Item"]
    assert raw["role"] == {"S": "operator"}
    assert creds.client_secret not in json.dumps(raw)
    apigw = env.clients()("apigateway")
    key = apigw.get_api_key(apiKey=record.api_key_id, includeValue=True)
    assert key["enabled"] and key["name"] == "synchub-ops-alice" and key["tags"]["synchub-role"] == "operator"
    plan = apigw.get_usage_plan(usagePlanId=record.usage_plan_id)
    assert plan["apiStages"] == [{"apiId": env.api_id, "stage": STAGE}]
    assert plan["throttle"] == {"rateLimit": 10.0, "burstLimit": 20}

    from channels.logic import verify_jwt

    token = token_for(lambda_context, "ops-alice", creds.client_secret)
    claims = verify_jwt(token, signing_key(), now=time.time())
    assert claims["sub"] == "ops-alice" and claims["role"] == "operator" and claims["ver"] == 1

    policy = authorize(lambda_context, token)
    assert effect(policy) == "Allow" and policy["principalId"] == "ops-alice"
    assert policy["context"] == {"channel": "ops-alice", "role": "operator"}
    assert policy["usageIdentifierKey"] == key["value"]

    got = as_api_gateway_would(lambda_context, policy, "GET", "/exceptions")
    assert got == {"status": 200, "body": {"items": [], "next_cursor": None}}


def test_a_channel_token_carries_role_channel_and_gets_403_on_exceptions(
    env: HubEnvironment, lambda_context: Any
) -> None:
    creds = cli_channels.add_channel(env, "webshop-nl")
    token = token_for(lambda_context, "webshop-nl", creds.client_secret)
    policy = authorize(lambda_context, token)
    assert policy["context"] == {"channel": "webshop-nl", "role": "channel"}
    got = as_api_gateway_would(lambda_context, policy, "GET", "/exceptions")
    assert got["status"] == 403 and got["body"]["type"] == "https://synchub.dev/problems/operators-only"


def test_an_operator_token_is_no_channel_for_the_orders_api(env: HubEnvironment, lambda_context: Any) -> None:
    """The authorizer names the operator's role; the orders function refuses it (403
    operator-not-a-channel) instead of taking an order from it."""
    from orders.handler import lambda_handler as orders_handler

    creds = cli_channels.add_operator(env, "ops-alice")
    policy = authorize(lambda_context, token_for(lambda_context, "ops-alice", creds.client_secret), ORDERS_ARN)
    assert policy["context"]["role"] == "operator"
    event = api_event("POST", "/orders", sample("api-post-order.json"), {"Idempotency-Key": "ops-alice-order-1"})
    event["requestContext"]["authorizer"] = {"principalId": "ops-alice", **policy["context"]}
    resp = orders_handler(event, lambda_context)
    assert resp["statusCode"] == 403, resp["body"]
    assert json.loads(resp["body"])["type"] == "https://synchub.dev/problems/operator-not-a-channel"


def test_a_channel_record_written_before_roles_is_a_channel(env: HubEnvironment, lambda_context: Any) -> None:
    """Records without ``role`` (every channel before operators) and tokens without the claim."""
    from channels.logic import encode_jwt

    creds = cli_channels.add_channel(env, "legacy-shop")
    ddb = env.clients()("dynamodb")
    key = {"pk": {"S": "CHANNEL#legacy-shop"}, "sk": {"S": "CHANNEL"}}
    ddb.update_item(
        TableName=env.channels_table, Key=key, UpdateExpression="REMOVE #r", ExpressionAttributeNames={"#r": "role"}
    )
    assert "role" not in ddb.get_item(TableName=env.channels_table, Key=key)["Item"]
    record = cli_channels.store(env).get("legacy-shop")
    assert record is not None and record.role.value == "channel"
    assert [i.channel for i in cli_channels.list_channels(env)] == ["legacy-shop"]

    policy = authorize(lambda_context, token_for(lambda_context, "legacy-shop", creds.client_secret))
    assert effect(policy) == "Allow" and policy["context"] == {"channel": "legacy-shop", "role": "channel"}
    now = int(time.time())
    claims = {"iss": "synchub", "aud": "synchub-api", "sub": "legacy-shop", "iat": now, "exp": now + 600, "ver": 1}
    old_token = encode_jwt(claims, signing_key())  # as the token endpoint issued them before roles
    policy = authorize(lambda_context, old_token)
    assert effect(policy) == "Allow" and policy["context"]["role"] == "channel"


def test_a_token_cannot_claim_another_role_than_its_record(env: HubEnvironment, lambda_context: Any) -> None:
    from channels.logic import encode_jwt

    cli_channels.add_channel(env, "webshop-nl")
    cli_channels.add_operator(env, "ops-alice")
    now = int(time.time())
    base = {"iss": "synchub", "aud": "synchub-api", "iat": now, "exp": now + 600, "ver": 1}
    promoted = encode_jwt({**base, "sub": "webshop-nl", "role": "operator"}, signing_key())
    assert effect(authorize(lambda_context, promoted)) == "Deny"
    no_claim = encode_jwt({**base, "sub": "ops-alice"}, signing_key())  # an operator's token always says so
    assert effect(authorize(lambda_context, no_claim)) == "Deny"
    for role in ("admin", 7, ["operator"]):
        with pytest.raises(Exception, match=r"^Unauthorized$"):
            authorize(lambda_context, encode_jwt({**base, "sub": "ops-alice", "role": role}, signing_key()))


def test_rotate_and_revoke_an_operator(env: HubEnvironment, lambda_context: Any) -> None:
    creds = cli_channels.add_operator(env, "ops-alice")
    old = token_for(lambda_context, "ops-alice", creds.client_secret)
    rotated = cli_channels.rotate_operator(env, "ops-alice")
    assert rotated.ver == 2 and rotated.client_secret != creds.client_secret
    assert effect(authorize(lambda_context, old)) == "Deny"
    new = token_for(lambda_context, "ops-alice", rotated.client_secret)
    assert effect(authorize(lambda_context, new)) == "Allow"
    revoked = cli_channels.revoke_operator(env, "ops-alice")
    assert revoked.status.value == "REVOKED" and revoked.role.value == "operator"
    assert effect(authorize(lambda_context, new)) == "Deny"
    record = cli_channels.store(env).get("ops-alice")
    assert record is not None
    assert not env.clients()("apigateway").get_api_key(apiKey=record.api_key_id)["enabled"]


def test_channels_and_operators_commands_keep_to_their_own_role(env: HubEnvironment) -> None:
    cli_channels.add_channel(env, "webshop-nl")
    cli_channels.add_operator(env, "ops-alice")
    assert [i.channel for i in cli_channels.list_channels(env)] == ["webshop-nl"]
    assert [(i.channel, i.role) for i in cli_channels.list_operators(env)] == [("ops-alice", "operator")]
    with pytest.raises(cli_channels.ChannelError, match="ops-alice is an operator, not a channel"):
        cli_channels.revoke(env, "ops-alice")
    with pytest.raises(cli_channels.ChannelError, match="ops-alice is an operator"):
        cli_channels.rotate(env, "ops-alice")
    with pytest.raises(cli_channels.ChannelError, match="webshop-nl is a channel, not an operator"):
        cli_channels.revoke_operator(env, "webshop-nl")
    with pytest.raises(cli_channels.ChannelError, match="webshop-nl is a channel"):
        cli_channels.add_operator(env, "webshop-nl")
    with pytest.raises(cli_channels.ChannelError, match="no operator nobody"):
        cli_channels.rotate_operator(env, "nobody")
    with pytest.raises(cli_channels.ChannelError, match="not an operator id"):
        cli_channels.add_operator(env, "Ops Alice")
    record = cli_channels.store(env).get("ops-alice")
    assert record is not None and record.active  # nothing was changed by the refused commands


# -- synchub operators: the command line -----------------------------------------------------------
@pytest.fixture
def state_dir(env: HubEnvironment, tmp_path: Path) -> Path:
    state = {
        "endpoint": None,
        "region": REGION,
        "queues": {},
        "tables": env.tables,
        "event_bus": env.event_bus,
        "api_url": "http://127.0.0.1:3000",
        "api_id": env.api_id,
        "stage": STAGE,
    }
    (tmp_path / "local.json").write_text(json.dumps(state))
    return tmp_path


def synchub(state_dir: Path, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="synchub")
    cli_channels.add_operators_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args([*argv, "--state-dir", str(state_dir)])
    return int(args.fn(args))


def test_cli_operators_add_rotate_list_revoke(
    state_dir: Path, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert synchub(state_dir, "operators", "add", "ops-alice") == 0
    out = capsys.readouterr().out
    assert "operator ops-alice added: 10 req/s, burst 20" in out
    secret = next(line.split()[1] for line in out.splitlines() if line.strip().startswith("client_secret"))
    assert f"curl -s -u 'ops-alice:{secret}' -d grant_type=client_credentials" in out
    assert "'http://127.0.0.1:3000/exceptions'" in out and "Authorization: Bearer $TOKEN" in out
    policy = authorize(lambda_context, token_for(lambda_context, "ops-alice", secret))
    assert policy["context"] == {"channel": "ops-alice", "role": "operator"}
    capsys.readouterr()  # the functions' metrics (EMF on stdout)

    assert synchub(state_dir, "operators", "add", "ops-bob", "--json", "--rate", "2") == 0
    bob = json.loads(capsys.readouterr().out)
    assert set(bob) == {"client_id", "client_secret", "token_url"} and bob["client_id"] == "ops-bob"

    assert synchub(state_dir, "operators", "rotate", "ops-alice", "--json") == 0
    assert json.loads(capsys.readouterr().out)["client_secret"] != secret
    assert synchub(state_dir, "operators", "list") == 0
    listing = capsys.readouterr().out
    assert "OPERATOR" in listing and "ops-alice" in listing and "ops-bob" in listing and secret not in listing
    assert synchub(state_dir, "operators", "revoke", "ops-bob") == 0
    assert "operator ops-bob revoked" in capsys.readouterr().out
    assert synchub(state_dir, "operators", "list", "--json") == 0
    infos = json.loads(capsys.readouterr().out)
    assert [(i["channel"], i["status"], i["role"]) for i in infos] == [
        ("ops-alice", "ACTIVE", "operator"),
        ("ops-bob", "REVOKED", "operator"),
    ]
    assert synchub(state_dir, "operators", "add", "ops-alice") == 2
    assert "operator ops-alice already exists" in capsys.readouterr().err
    assert synchub(state_dir, "operators", "revoke", "nobody-here") == 2
    assert "no operator nobody-here" in capsys.readouterr().err
