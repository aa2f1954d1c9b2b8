"""Channel authentication against moto: channels registered with ``synchub channels`` (the Python
API and the command line), tokens from the token endpoint's handler, requests judged by the TOKEN
authorizer's handler, revocation and rotation taking effect at the next request."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from helpers import REGION, Hub, sample
from synchub import channels as cli_channels
from synchub.environment import HubEnvironment

STAGE = "v1"
TOKEN_URL = "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/v1/oauth2/token"
FORM = "application/x-www-form-urlencoded"
ENV_KEYS = ("CHANNELS_TABLE", "TOKEN_SIGNING_SECRET_ARN", "TOKEN_TTL_SECONDS")


@pytest.fixture
def env(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubEnvironment]:
    """The environment the stack sets on the token and authorizer functions (channels table,
    signing secret, token lifetime), and a HubEnvironment for the CLI naming the provisioned API."""
    from channels.repository import reset_caches

    fn = next(f for f in hub.dep.functions.values() if f.handler == "channels.handler.authorizer_handler")
    token_fn = next(f for f in hub.dep.functions.values() if f.handler == "channels.handler.token_handler")
    assert {k: token_fn.environment.get(k) for k in ENV_KEYS} == {k: fn.environment.get(k) for k in ENV_KEYS}
    for key in ENV_KEYS:
        monkeypatch.setenv(key, fn.environment[key])
    assert hub.dep.api_id and hub.dep.stage == STAGE
    reset_caches()
    yield HubEnvironment(
        endpoint=None,
        region=REGION,
        queues={},
        tables=hub.dep.tables,
        event_bus=hub.dep.bus_name,
        api_url=TOKEN_URL.removesuffix("/oauth2/token"),
        api_id=hub.dep.api_id,
        stage=hub.dep.stage,
        token_url=TOKEN_URL,
    )
    reset_caches()


def test_the_stack_defines_the_channels_table_and_signing_secret(env: HubEnvironment) -> None:
    import os

    table = env.clients()("dynamodb").describe_table(TableName=env.channels_table)["Table"]
    assert os.environ["CHANNELS_TABLE"] == env.channels_table
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {"pk": "HASH", "sk": "RANGE"}
    assert len(signing_key()) >= 32


@pytest.fixture
def creds(env: HubEnvironment) -> cli_channels.Credentials:
    return cli_channels.add_channel(env, "webshop-nl")


def signing_key() -> bytes:
    from channels.repository import signing_key

    return signing_key()


# -- playing API Gateway -------------------------------------------------------------------------------
def token_event(
    body: str | None, headers: dict[str, str] | None = None, method: str = "POST", path: str = "/oauth2/token"
) -> dict[str, Any]:
    event = sample("apigw-post-order-event.json")
    event.update(
        httpMethod=method,
        path=path,
        resource=path,
        headers={"Content-Type": FORM, **(headers or {})},
        multiValueHeaders=None,
        body=body,
    )
    event["requestContext"] = {**event["requestContext"], "httpMethod": method, "resourcePath": path}
    return event


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def call_token(ctx: Any, event: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    from channels.handler import token_handler

    resp = token_handler(event, ctx)
    headers = dict(resp.get("headers") or {})
    headers.update({k: ", ".join(v) for k, v in (resp.get("multiValueHeaders") or {}).items()})
    return resp["statusCode"], headers, json.loads(resp["body"]) if resp.get("body") else None


def get_token(ctx: Any, creds: cli_channels.Credentials) -> str:
    status, _, body = call_token(
        ctx, token_event("grant_type=client_credentials", basic(creds.client_id, creds.client_secret))
    )
    assert status == 200, body
    return str(body["access_token"])


METHOD_ARN = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/v1/POST/orders"


def authorize(ctx: Any, authorization: str | None) -> dict[str, Any]:
    from channels.handler import authorizer_handler

    event: dict[str, Any] = {"type": "TOKEN", "methodArn": METHOD_ARN}
    if authorization is not None:
        event["authorizationToken"] = authorization
    return dict(authorizer_handler(event, ctx))


def effect(policy: dict[str, Any]) -> str:
    return str(policy["policyDocument"]["Statement"][0]["Effect"])


def api_key(env: HubEnvironment, key_id: str) -> dict[str, Any]:
    return dict(env.clients()("apigateway").get_api_key(apiKey=key_id, includeValue=True))


def stored(env: HubEnvironment, name: str) -> Any:
    return cli_channels.store(env).get(name)


# -- the token endpoint ----------------------------------------------------------------------------
def test_a_channel_gets_a_token_with_http_basic(env: HubEnvironment, creds: Any, lambda_context: Any) -> None:
    from channels.logic import verify_jwt

    status, headers, body = call_token(
        lambda_context, token_event("grant_type=client_credentials", basic("webshop-nl", creds.client_secret))
    )
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert headers["Cache-Control"] == "no-store"
    ttl = int(env_ttl())
    assert body["token_type"] == "Bearer" and body["expires_in"] == ttl
    assert set(body) == {"access_token", "token_type", "expires_in"}
    claims = verify_jwt(body["access_token"], signing_key(), now=time.time())
    assert claims["sub"] == "webshop-nl" and claims["ver"] == 1
    assert claims["iss"] == "synchub" and claims["aud"] == "synchub-api"
    assert claims["exp"] - claims["iat"] == ttl


def env_ttl() -> str:
    import os

    return os.environ.get("TOKEN_TTL_SECONDS", "3600")


def test_a_channel_gets_a_token_with_form_credentials(creds: Any, lambda_context: Any) -> None:
    body = urlencode(
        {"grant_type": "client_credentials", "client_id": "webshop-nl", "client_secret": creds.client_secret}
    )
    status, _, got = call_token(lambda_context, token_event(body))
    assert status == 200 and got["token_type"] == "Bearer"


def test_a_base64_encoded_body_is_decoded(creds: Any, lambda_context: Any) -> None:
    event = token_event(
        base64.b64encode(b"grant_type=client_credentials").decode(), basic("webshop-nl", creds.client_secret)
    )
    event["isBase64Encoded"] = True
    assert call_token(lambda_context, event)[0] == 200


@pytest.mark.parametrize(
    ("client_id", "secret"),
    [("webshop-nl", "wrong-secret"), ("unknown-shop", "whatever"), ("Not A Channel", "x")],
    ids=["wrong secret", "unknown channel", "malformed id"],
)
def test_bad_client_credentials_are_401_invalid_client(
    creds: Any, lambda_context: Any, client_id: str, secret: str
) -> None:
    status, headers, body = call_token(
        lambda_context, token_event("grant_type=client_credentials", basic(client_id, secret))
    )
    assert status == 401
    assert headers["Content-Type"] == "application/problem+json"
    assert headers["WWW-Authenticate"] == 'Basic realm="synchub"'
    assert headers["Cache-Control"] == "no-store"
    assert body["type"] == "https://synchub.dev/problems/invalid-client"
    assert body["status"] == 401
    assert body["error"] == "invalid_client"
    assert body["error_description"] == "Client authentication failed."
    assert secret not in json.dumps(body)


def test_an_unsupported_grant_is_400(creds: Any, lambda_context: Any) -> None:
    status, headers, body = call_token(
        lambda_context,
        token_event("grant_type=password&username=a&password=b", basic("webshop-nl", creds.client_secret)),
    )
    assert status == 400
    assert headers["Content-Type"] == "application/problem+json"
    assert body["error"] == "unsupported_grant_type"
    assert body["type"] == "https://synchub.dev/problems/unsupported-grant-type"


def test_credentials_in_header_and_body_at_once_are_400_invalid_request(creds: Any, lambda_context: Any) -> None:
    body = urlencode(
        {"grant_type": "client_credentials", "client_id": "webshop-nl", "client_secret": creds.client_secret}
    )
    status, _, got = call_token(lambda_context, token_event(body, basic("webshop-nl", creds.client_secret)))
    assert status == 400
    assert got["error"] == "invalid_request"
    assert got["type"] == "https://synchub.dev/problems/invalid-token-request"


def test_a_json_token_request_is_400_invalid_request(creds: Any, lambda_context: Any) -> None:
    event = token_event(
        json.dumps({"grant_type": "client_credentials"}),
        {"Content-Type": "application/json", **basic("webshop-nl", creds.client_secret)},
    )
    status, _, got = call_token(lambda_context, event)
    assert status == 400 and got["error"] == "invalid_request"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_on_the_token_endpoint_are_405(env: HubEnvironment, lambda_context: Any, method: str) -> None:
    status, headers, body = call_token(lambda_context, token_event(None, method=method))
    assert status == 405
    assert headers["Allow"] == "POST"
    assert headers["Content-Type"] == "application/problem+json"
    assert body["type"] == "https://synchub.dev/problems/method-not-allowed"


def test_neither_secrets_nor_tokens_are_logged(
    creds: Any, lambda_context: Any, caplog: pytest.LogCaptureFixture
) -> None:
    token = get_token(lambda_context, creds)
    call_token(lambda_context, token_event("grant_type=client_credentials", basic("webshop-nl", "wrong-secret")))
    assert effect(authorize(lambda_context, f"Bearer {token}")) == "Allow"
    with pytest.raises(Exception, match="Unauthorized"):
        authorize(lambda_context, f"Bearer {token}x")
    # every record with its extras (what the JSON log line carries), and nothing at ERROR level
    logged = "\n".join(json.dumps(vars(r), default=str) for r in caplog.records)
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    assert "token issued" in logged and "token refused" in logged and "request authorized" in logged
    for secret in (creds.client_secret, "wrong-secret", token, token.split(".")[2]):
        assert secret not in logged


# -- the authorizer --------------------------------------------------------------------------------
def test_a_valid_token_is_allowed_with_the_channel_and_its_api_key(
    env: HubEnvironment, creds: Any, lambda_context: Any
) -> None:
    policy = authorize(lambda_context, f"Bearer {get_token(lambda_context, creds)}")
    channel = stored(env, "webshop-nl")
    assert effect(policy) == "Allow"
    assert policy["policyDocument"]["Statement"][0]["Resource"] == METHOD_ARN
    assert policy["principalId"] == "webshop-nl"
    assert policy["context"] == {"channel": "webshop-nl", "role": "channel"}
    assert policy["usageIdentifierKey"] == api_key(env, channel.api_key_id)["value"]


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer garbage", "Bearer a.b.c", "Basic d2Vic2hvcC1ubDp4", "Bearer " + "x" * 5000],
)
def test_garbage_is_unauthorized(env: HubEnvironment, lambda_context: Any, authorization: str | None) -> None:
    with pytest.raises(Exception) as raised:
        authorize(lambda_context, authorization)
    assert str(raised.value) == "Unauthorized"  # the message API Gateway turns into a 401


def test_forged_expired_and_alg_none_tokens_are_unauthorized(env: HubEnvironment, lambda_context: Any) -> None:
    from channels.logic import encode_jwt

    now = int(time.time())
    claims = {"iss": "synchub", "aud": "synchub-api", "sub": "webshop-nl", "iat": now, "exp": now + 600, "ver": 1}
    tokens = [
        encode_jwt(claims, b"not-the-key-" * 4),
        encode_jwt({**claims, "iat": now - 4000, "exp": now - 60}, signing_key()),
        encode_jwt(claims, signing_key(), header={"alg": "none", "typ": "JWT"}),
        encode_jwt({**claims, "aud": "another-api"}, signing_key()),
    ]
    for token in tokens:
        with pytest.raises(Exception, match=r"^Unauthorized$"):
            authorize(lambda_context, f"Bearer {token}")


def test_a_token_within_the_clock_leeway_is_allowed(env: HubEnvironment, creds: Any, lambda_context: Any) -> None:
    from channels.logic import encode_jwt

    now = int(time.time())
    claims = {"iss": "synchub", "aud": "synchub-api", "sub": "webshop-nl", "iat": now - 700, "exp": now - 10, "ver": 1}
    assert effect(authorize(lambda_context, f"Bearer {encode_jwt(claims, signing_key())}")) == "Allow"


def test_revocation_denies_existing_tokens_and_refuses_new_ones(
    env: HubEnvironment, creds: Any, lambda_context: Any
) -> None:
    token = get_token(lambda_context, creds)
    assert effect(authorize(lambda_context, f"Bearer {token}")) == "Allow"

    revoked = cli_channels.revoke(env, "webshop-nl")
    assert revoked.status.value == "REVOKED" and revoked.ver == 2 and revoked.revoked_at

    policy = authorize(lambda_context, f"Bearer {token}")
    assert effect(policy) == "Deny"
    assert "usageIdentifierKey" not in policy
    status, _, body = call_token(
        lambda_context, token_event("grant_type=client_credentials", basic("webshop-nl", creds.client_secret))
    )
    assert (status, body["error"]) == (401, "invalid_client")
    assert api_key(env, revoked.api_key_id)["enabled"] is False
    # revoking again changes nothing
    assert cli_channels.revoke(env, "webshop-nl").ver == 2


def test_rotation_invalidates_the_old_secret_and_the_old_tokens(
    env: HubEnvironment, creds: Any, lambda_context: Any
) -> None:
    old_token = get_token(lambda_context, creds)
    rotated = cli_channels.rotate(env, "webshop-nl")
    assert rotated.ver == 2 and rotated.client_secret != creds.client_secret

    assert effect(authorize(lambda_context, f"Bearer {old_token}")) == "Deny"
    status, _, _ = call_token(
        lambda_context, token_event("grant_type=client_credentials", basic("webshop-nl", creds.client_secret))
    )
    assert status == 401
    new_token = get_token(lambda_context, rotated)
    assert effect(authorize(lambda_context, f"Bearer {new_token}")) == "Allow"
    assert stored(env, "webshop-nl").status.value == "ACTIVE"


def test_a_token_of_a_deleted_channel_is_denied(env: HubEnvironment, creds: Any, lambda_context: Any) -> None:
    token = get_token(lambda_context, creds)
    env.clients()("dynamodb").delete_item(
        TableName=env.channels_table, Key={"pk": {"S": "CHANNEL#webshop-nl"}, "sk": {"S": "CHANNEL"}}
    )
    assert effect(authorize(lambda_context, f"Bearer {token}")) == "Deny"


# -- synchub channels: the Python API --------------------------------------------------------------
def test_add_creates_key_usage_plan_and_channel_with_only_the_secret_hash(
    env: HubEnvironment, creds: cli_channels.Credentials
) -> None:
    from channels.logic import hash_secret

    assert creds.as_json() == {"client_id": "webshop-nl", "client_secret": creds.client_secret, "token_url": TOKEN_URL}
    channel = stored(env, "webshop-nl")
    assert channel.secret_hash == hash_secret(creds.client_secret)
    assert (channel.status.value, channel.ver) == ("ACTIVE", 1)
    item = env.clients()("dynamodb").get_item(
        TableName=env.channels_table, Key={"pk": {"S": "CHANNEL#webshop-nl"}, "sk": {"S": "CHANNEL"}}
    )["Item"]
    assert creds.client_secret not in json.dumps(item)
    apigw = env.clients()("apigateway")
    key = api_key(env, channel.api_key_id)
    assert key["enabled"] is True and key["name"] == "synchub-webshop-nl" and len(key["value"]) >= 20
    plan = apigw.get_usage_plan(usagePlanId=channel.usage_plan_id)
    assert plan["name"] == "synchub-webshop-nl"
    assert plan["apiStages"] == [{"apiId": env.api_id, "stage": STAGE}]
    assert plan["throttle"] == {"rateLimit": 50.0, "burstLimit": 100}
    assert plan["quota"] == {"limit": 100000, "period": "DAY"}
    assert [p["id"] for p in apigw.get_usage_plans(keyId=channel.api_key_id)["items"]] == [channel.usage_plan_id]


def test_adding_a_channel_twice_is_refused_and_leaves_nothing_behind(
    env: HubEnvironment, creds: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(cli_channels.ChannelError, match="already exists"):
        cli_channels.add_channel(env, "webshop-nl")
    # a race: the channel appears between the check and the conditional put
    monkeypatch.setattr(cli_channels.ChannelStore, "get", lambda self, name: None)
    with pytest.raises(cli_channels.ChannelError, match="already exists"):
        cli_channels.add_channel(env, "webshop-nl")
    apigw = env.clients()("apigateway")
    assert [k["name"] for k in apigw.get_api_keys()["items"]] == ["synchub-webshop-nl"]
    assert [p["name"] for p in apigw.get_usage_plans()["items"]] == ["synchub-webshop-nl"]


@pytest.mark.parametrize("name", ["Webshop", "x", "a" * 33, "-shop", "shop_nl"])
def test_channel_ids_follow_the_order_channel_pattern(env: HubEnvironment, name: str) -> None:
    with pytest.raises(cli_channels.ChannelError, match="not a channel id"):
        cli_channels.add_channel(env, name)


def test_rotate_and_revoke_of_unknown_or_revoked_channels_are_refused(env: HubEnvironment, creds: Any) -> None:
    with pytest.raises(cli_channels.ChannelError, match="no channel"):
        cli_channels.rotate(env, "unknown-shop")
    with pytest.raises(cli_channels.ChannelError, match="no channel"):
        cli_channels.revoke(env, "unknown-shop")
    cli_channels.revoke(env, "webshop-nl")
    with pytest.raises(cli_channels.ChannelError, match="revoked"):
        cli_channels.rotate(env, "webshop-nl")


def test_list_shows_status_and_limits_without_secrets(env: HubEnvironment, creds: Any) -> None:
    cli_channels.add_channel(env, "marketplace-de", rate=5, burst=10, quota=1000, quota_period="WEEK")
    cli_channels.revoke(env, "marketplace-de")
    infos = cli_channels.list_channels(env)
    assert [(i.channel, i.status, i.ver) for i in infos] == [
        ("marketplace-de", "REVOKED", 2),
        ("webshop-nl", "ACTIVE", 1),
    ]
    assert infos[0].limits == cli_channels.Limits(rate=5.0, burst=10, quota=1000, quota_period="WEEK")
    assert creds.client_secret not in repr(infos)


# -- synchub channels: the command line ------------------------------------------------------------
@pytest.fixture
def state_dir(env: HubEnvironment, tmp_path: Path) -> Path:
    """A local hub's state file naming moto in-process (endpoint null) and the channels table."""
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
    from synchub.cli import main

    return main([*argv, "--state-dir", str(state_dir)])


def test_cli_add_json_gives_working_credentials(
    state_dir: Path, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert synchub(state_dir, "channels", "add", "webshop-nl", "--json") == 0
    got = json.loads(capsys.readouterr().out)
    assert set(got) == {"client_id", "client_secret", "token_url"}
    assert got["client_id"] == "webshop-nl"
    assert got["token_url"] == "http://127.0.0.1:3000/oauth2/token"
    creds = cli_channels.Credentials(got["client_id"], got["client_secret"], got["token_url"], 1)
    assert effect(authorize(lambda_context, f"Bearer {get_token(lambda_context, creds)}")) == "Allow"


def test_cli_add_prints_the_secret_once_with_a_curl_line(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert synchub(state_dir, "channels", "add", "webshop-nl", "--rate", "5", "--burst", "10") == 0
    out = capsys.readouterr().out
    assert "client_id      webshop-nl" in out
    assert "5 req/s, burst 10, quota 100000 per DAY" in out
    secret = next(line.split()[1] for line in out.splitlines() if line.strip().startswith("client_secret"))
    assert (
        f"curl -s -u 'webshop-nl:{secret}' -d grant_type=client_credentials 'http://127.0.0.1:3000/oauth2/token'" in out
    )

    assert synchub(state_dir, "channels", "add", "webshop-nl") == 2
    captured = capsys.readouterr()
    assert "channel webshop-nl already exists" in captured.err and captured.out == ""


def test_cli_rotate_list_and_revoke(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert synchub(state_dir, "channels", "add", "webshop-nl", "--json") == 0
    first = json.loads(capsys.readouterr().out)
    assert synchub(state_dir, "channels", "rotate", "webshop-nl", "--json") == 0
    rotated = json.loads(capsys.readouterr().out)
    assert rotated["client_secret"] != first["client_secret"]

    assert synchub(state_dir, "channels", "list") == 0
    listing = capsys.readouterr().out
    assert "webshop-nl" in listing and "ACTIVE" in listing and "100000/DAY" in listing
    assert first["client_secret"] not in listing and rotated["client_secret"] not in listing

    assert synchub(state_dir, "channels", "revoke", "webshop-nl") == 0
    assert "revoked" in capsys.readouterr().out
    assert synchub(state_dir, "channels", "list", "--json") == 0
    (info,) = json.loads(capsys.readouterr().out)
    assert (info["channel"], info["status"], info["ver"]) == ("webshop-nl", "REVOKED", 3)

    assert synchub(state_dir, "channels", "rotate", "nobody-here") == 2
    assert "no channel nobody-here" in capsys.readouterr().err


def test_a_deployed_stack_is_found_through_its_outputs(hub: Hub) -> None:
    """`--stack NAME`: the CLI reads ApiId, ApiStage, TokenUrl and ChannelsTableName from CloudFormation."""
    import boto3

    from synchub.environment import from_stack

    template = {
        "Resources": {
            "DataChannelsTable0A1B2C3D": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "TableName": "synchub-prod-channels",
                    "KeySchema": [
                        {"AttributeName": "pk", "KeyType": "HASH"},
                        {"AttributeName": "sk", "KeyType": "RANGE"},
                    ],
                    "AttributeDefinitions": [
                        {"AttributeName": "pk", "AttributeType": "S"},
                        {"AttributeName": "sk", "AttributeType": "S"},
                    ],
                    "BillingMode": "PAY_PER_REQUEST",
                },
            }
        },
        "Outputs": {
            "ApiUrl": {"Value": "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/"},
            "ApiId": {"Value": "abc123"},
            "ApiStage": {"Value": "v1"},
            "TokenUrl": {"Value": "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/oauth2/token"},
            "ChannelsTableName": {"Value": "synchub-prod-channels"},
        },
    }
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName="synchub-prod", TemplateBody=json.dumps(template)
    )
    env = from_stack("synchub-prod", REGION)
    assert (env.api_id, env.stage, env.channels_table) == ("abc123", "v1", "synchub-prod-channels")
    assert env.token_url == "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/oauth2/token"
    assert env.api_url == "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/"


# -- minimum shelf life ----------------------------------------------------------------------------
def channels_cli(state_dir: Path, *argv: str) -> int:
    """``synchub channels ...`` through the parser synchub/channels.py defines (the one synchub/cli.py wires)."""
    import argparse

    parser = argparse.ArgumentParser(prog="synchub")
    cli_channels.add_channels_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["channels", *argv, "--state-dir", str(state_dir)])
    return int(args.fn(args))


def test_a_channel_without_a_minimum_shelf_life_has_none_in_its_context(
    env: HubEnvironment, creds: Any, lambda_context: Any
) -> None:
    assert stored(env, "webshop-nl").min_shelf_life_days == 0
    policy = authorize(lambda_context, f"Bearer {get_token(lambda_context, creds)}")
    assert "min_shelf_life_days" not in policy["context"]  # absent: 0, no minimum


def test_the_authorizer_passes_the_minimum_shelf_life_from_the_next_request(
    env: HubEnvironment, lambda_context: Any
) -> None:
    creds = cli_channels.add_channel(env, "freshmarket", min_shelf_life_days=10)
    token = get_token(lambda_context, creds)
    policy = authorize(lambda_context, f"Bearer {token}")
    assert effect(policy) == "Allow"
    assert policy["context"] == {"channel": "freshmarket", "role": "channel", "min_shelf_life_days": "10"}

    changed = cli_channels.set_shelf_life(env, "freshmarket", 21)
    assert (changed.min_shelf_life_days, changed.ver) == (21, 1)  # not a credential change: the token still works
    assert authorize(lambda_context, f"Bearer {token}")["context"]["min_shelf_life_days"] == "21"
    cli_channels.set_shelf_life(env, "freshmarket", 0)
    assert "min_shelf_life_days" not in authorize(lambda_context, f"Bearer {token}")["context"]


def test_shelf_life_is_refused_out_of_range_for_unknown_channels_and_for_operators(env: HubEnvironment) -> None:
    with pytest.raises(cli_channels.ChannelError, match="0 to 3650 days, not -1"):
        cli_channels.add_channel(env, "freshmarket", min_shelf_life_days=-1)
    assert stored(env, "freshmarket") is None  # refused before anything was created
    with pytest.raises(cli_channels.ChannelError, match="no channel nobody-here"):
        cli_channels.set_shelf_life(env, "nobody-here", 5)
    cli_channels.add_operator(env, "ops-alice")
    with pytest.raises(cli_channels.ChannelError, match="ops-alice is an operator, not a channel"):
        cli_channels.set_shelf_life(env, "ops-alice", 5)
    cli_channels.add_channel(env, "freshmarket")
    with pytest.raises(cli_channels.ChannelError, match="not 4000"):
        cli_channels.set_shelf_life(env, "freshmarket", 4000)
    assert stored(env, "freshmarket").min_shelf_life_days == 0


def test_cli_add_with_shelf_life_set_it_and_list_it(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert channels_cli(state_dir, "add", "freshmarket", "--min-shelf-life-days", "14") == 0
    assert "minimum shelf life 14 days" in capsys.readouterr().out
    assert channels_cli(state_dir, "list", "--json") == 0
    (info,) = json.loads(capsys.readouterr().out)
    assert info["min_shelf_life_days"] == 14

    assert channels_cli(state_dir, "set-shelf-life", "freshmarket", "30") == 0
    assert "freshmarket: minimum shelf life 30 days" in capsys.readouterr().out
    assert channels_cli(state_dir, "list") == 0
    listing = capsys.readouterr().out
    assert "SHELF LIFE" in listing and "30d" in listing

    assert channels_cli(state_dir, "set-shelf-life", "freshmarket", "-3") == 2
    assert "0 to 3650 days, not -3" in capsys.readouterr().err
