"""Operator principals in the channels domain, pure: the role on the stored record, in the token
(claim ``role``) and in the authorizer's context; records and tokens from before roles existed
are channels; a token never gets more than its record says."""

from __future__ import annotations

from typing import Any

import pytest

from channels import logic
from channels.models import Channel, ChannelStatus, Role, TokenInvalid
from channels.repository import from_item, to_item

KEY = b"k" * 32
NOW = 1_800_000_000
METHOD_ARN = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/v1/GET/exceptions"


def principal(name: str = "ops-alice", role: Role = Role.OPERATOR, **changes: Any) -> Channel:
    fields: dict[str, Any] = {
        "channel": name,
        "secret_hash": logic.hash_secret("s3cret"),
        "status": ChannelStatus.ACTIVE,
        "ver": 2,
        "created_at": "2026-12-01T08:00:00.000Z",
        "updated_at": "2026-12-01T08:00:00.000Z",
        "api_key_id": "key-id",
        "api_key_value": "key-value-" + "x" * 30,
        "usage_plan_id": "plan-id",
        "role": role,
    }
    return Channel(**{**fields, **changes})


def claims(**changes: Any) -> dict[str, Any]:
    base = {"iss": "synchub", "aud": "synchub-api", "sub": "ops-alice", "iat": NOW, "exp": NOW + 600, "ver": 2}
    return {k: v for k, v in {**base, **changes}.items() if v is not None}


def test_an_operators_token_says_role_operator_and_a_channels_role_channel() -> None:
    issued = logic.issue_token(principal(), KEY, now=NOW, ttl=600)
    assert logic.verify_jwt(issued.access_token, KEY, now=NOW)["role"] == "operator"
    issued = logic.issue_token(principal("webshop-nl", Role.CHANNEL), KEY, now=NOW, ttl=600)
    assert logic.verify_jwt(issued.access_token, KEY, now=NOW)["role"] == "channel"


def test_a_token_without_role_is_a_channels() -> None:
    token = logic.encode_jwt(claims(sub="webshop-nl"), KEY)
    got = logic.verify_jwt(token, KEY, now=NOW)
    assert "role" not in got and logic.token_role(got) is Role.CHANNEL


@pytest.mark.parametrize("role", ["admin", "Operator", "", 1, True, None, ["operator"], {"r": 1}])
def test_an_unknown_role_claim_is_an_invalid_token(role: Any) -> None:
    token = logic.encode_jwt({**claims(), "role": role}, KEY)
    with pytest.raises(TokenInvalid, match="role"):
        logic.verify_jwt(token, KEY, now=NOW)


def test_the_authorizer_context_carries_the_records_role() -> None:
    decision = logic.decide(claims(role="operator"), principal())
    assert decision.allow and decision.role is Role.OPERATOR
    policy = logic.policy(decision, METHOD_ARN)
    assert policy["context"] == {"channel": "ops-alice", "role": "operator"}
    assert policy["principalId"] == "ops-alice"
    channel = logic.decide(claims(sub="webshop-nl"), principal("webshop-nl", Role.CHANNEL))
    assert logic.policy(channel, METHOD_ARN)["context"] == {"channel": "webshop-nl", "role": "channel"}


@pytest.mark.parametrize(
    ("claimed", "record"),
    [("operator", Role.CHANNEL), (None, Role.OPERATOR), ("channel", Role.OPERATOR)],
)
def test_a_token_claiming_another_role_than_its_record_is_denied(claimed: str | None, record: Role) -> None:
    decision = logic.decide(claims(role=claimed), principal(role=record))
    assert not decision.allow and decision.reason == "role mismatch"
    assert logic.policy(decision, METHOD_ARN)["policyDocument"]["Statement"][0]["Effect"] == "Deny"


def test_revoked_and_stale_operators_are_denied_like_channels() -> None:
    assert logic.decide(claims(role="operator"), principal(status=ChannelStatus.REVOKED)).reason == "revoked"
    assert logic.decide(claims(role="operator", ver=1), principal()).reason == "stale credential version"


def test_the_record_keeps_the_role_and_one_without_it_is_a_channel() -> None:
    item = to_item(principal())
    assert item["role"] == "operator"
    assert from_item(item).role is Role.OPERATOR
    legacy = {k: v for k, v in to_item(principal("webshop-nl", Role.CHANNEL)).items() if k != "role"}
    assert from_item(legacy).role is Role.CHANNEL
