"""channels.logic: JWT (HS256) issue and verification, client secrets, the client credentials
request (RFC 6749 2.3.1, 4.4.2) and the authorizer's policy. The handlers run against moto in
tests/component/test_channels_api.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from channels import logic
from channels.models import (
    MAX_TOKEN_BYTES,
    Channel,
    ChannelStatus,
    ClientCredentials,
    OAuthError,
    TokenInvalid,
)

KEY = b"k" * 32
NOW = 1_800_000_000
FORM = "application/x-www-form-urlencoded"


def channel(**changes: Any) -> Channel:
    fields: dict[str, Any] = {
        "channel": "webshop-nl",
        "secret_hash": logic.hash_secret("s3cret"),
        "status": ChannelStatus.ACTIVE,
        "ver": 3,
        "created_at": "2026-12-01T08:00:00.000Z",
        "updated_at": "2026-12-01T08:00:00.000Z",
        "api_key_id": "key-id",
        "api_key_value": "key-value-" + "x" * 30,
        "usage_plan_id": "plan-id",
    }
    return Channel(**{**fields, **changes})


def claims(**changes: Any) -> dict[str, Any]:
    base = {
        "iss": "synchub",
        "aud": "synchub-api",
        "sub": "webshop-nl",
        "iat": NOW,
        "exp": NOW + 3600,
        "jti": "j1",
        "ver": 3,
    }
    return {k: v for k, v in {**base, **changes}.items() if v is not None}


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def segments(token: str) -> list[str]:
    return token.split(".")


def basic(client_id: str, secret: str, encode: bool = True) -> str:
    user = f"{quote(client_id, safe='')}:{quote(secret, safe='')}" if encode else f"{client_id}:{secret}"
    return "Basic " + base64.b64encode(user.encode()).decode()


# -- JWT -------------------------------------------------------------------------------------------
def test_an_issued_token_verifies_and_carries_the_channel_and_its_credential_version() -> None:
    issued = logic.issue_token(channel(), KEY, now=NOW, ttl=900)
    assert issued.expires_in == 900
    assert issued.response() == {"access_token": issued.access_token, "token_type": "Bearer", "expires_in": 900}
    header = json.loads(base64.urlsafe_b64decode(segments(issued.access_token)[0] + "=="))
    assert header == {"alg": "HS256", "typ": "JWT"}
    got = logic.verify_jwt(issued.access_token, KEY, now=NOW + 10)
    assert got == {
        "iss": "synchub",
        "aud": "synchub-api",
        "sub": "webshop-nl",
        "iat": NOW,
        "exp": NOW + 900,
        "jti": issued.jti,
        "ver": 3,
        "role": "channel",
    }
    assert issued.jti != logic.issue_token(channel(), KEY, now=NOW, ttl=900).jti


def test_the_signature_is_hmac_sha256_over_header_and_payload() -> None:
    token = logic.encode_jwt(claims(), KEY)
    header, payload, signature = segments(token)
    expected = hmac.new(KEY, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert signature == b64(expected)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda h, p, s: (h, b64(json.dumps(claims(sub="other-shop")).encode()), s), id="payload"),
        pytest.param(lambda h, p, s: (h, b64(json.dumps(claims(ver=4)).encode()), s), id="version"),
        pytest.param(lambda h, p, s: (h, p, b64(b"\x00" * 32)), id="signature"),
        pytest.param(lambda h, p, s: (h, p, s[:-2]), id="truncated signature"),
        pytest.param(lambda h, p, s: (h, p, ""), id="no signature"),
    ],
)
def test_a_tampered_token_is_refused(tamper: Any) -> None:
    token = ".".join(tamper(*segments(logic.encode_jwt(claims(), KEY))))
    with pytest.raises(TokenInvalid):
        logic.verify_jwt(token, KEY, now=NOW)


def test_a_token_signed_with_another_key_is_refused() -> None:
    with pytest.raises(TokenInvalid, match="bad signature"):
        logic.verify_jwt(logic.encode_jwt(claims(), b"x" * 32), KEY, now=NOW)


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "none", "typ": "JWT"},
        {"alg": "None"},
        {"alg": "hs256"},
        {"alg": "HS512"},
        {"alg": "RS256"},
        {"typ": "JWT"},
        {"alg": ["HS256"]},
    ],
)
def test_only_hs256_is_accepted_whatever_the_header_says(header: dict[str, Any]) -> None:
    # correctly HMAC-signed with the right key, but the header names another algorithm (or none)
    token = logic.encode_jwt(claims(), KEY, header=header)
    with pytest.raises(TokenInvalid, match="algorithm"):
        logic.verify_jwt(token, KEY, now=NOW)


def test_an_unsigned_alg_none_token_is_refused() -> None:
    header, payload, _ = segments(logic.encode_jwt(claims(), KEY, header={"alg": "none"}))
    for token in (f"{header}.{payload}.", f"{header}.{payload}"):
        with pytest.raises(TokenInvalid):
            logic.verify_jwt(token, KEY, now=NOW)


@pytest.mark.parametrize(
    "header", [{"alg": "HS256", "typ": "JOSE+JSON"}, {"alg": "HS256", "crit": ["exp"]}], ids=["typ", "crit"]
)
def test_headers_the_hub_does_not_understand_are_refused(header: dict[str, Any]) -> None:
    with pytest.raises(TokenInvalid, match="unsupported header"):
        logic.verify_jwt(logic.encode_jwt(claims(), KEY, header=header), KEY, now=NOW)


@pytest.mark.parametrize(
    ("now", "ok"),
    [
        (NOW + 3600, True),
        (NOW + 3600 + 30, True),  # within the 30 s leeway
        (NOW + 3600 + 31, False),
        (NOW - 30, True),  # issued up to 30 s "in the future" (clock skew)
        (NOW - 31, False),
    ],
)
def test_expiry_and_issue_time_allow_30_seconds_of_clock_skew(now: int, ok: bool) -> None:
    token = logic.encode_jwt(claims(), KEY)
    if ok:
        assert logic.verify_jwt(token, KEY, now=now)["sub"] == "webshop-nl"
    else:
        with pytest.raises(TokenInvalid, match=r"expired|future"):
            logic.verify_jwt(token, KEY, now=now)


def test_not_before_is_honoured_when_present() -> None:
    with pytest.raises(TokenInvalid, match="not yet valid"):
        logic.verify_jwt(logic.encode_jwt(claims(nbf=NOW + 120), KEY), KEY, now=NOW)
    assert logic.verify_jwt(logic.encode_jwt(claims(nbf=NOW + 20), KEY), KEY, now=NOW)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"iss": "someone-else"}, "issuer"),
        ({"iss": None}, "issuer"),
        ({"aud": "another-api"}, "audience"),
        ({"aud": ["another-api"]}, "audience"),
        ({"aud": None}, "audience"),
        ({"exp": None}, "exp"),
        ({"exp": "1800003600"}, "exp"),
        ({"exp": True}, "exp"),
        ({"iat": None}, "iat"),
        ({"sub": None}, "sub"),
        ({"sub": "Not A Channel"}, "sub"),
        ({"ver": None}, "ver"),
        ({"ver": "3"}, "ver"),
        ({"ver": True}, "ver"),
    ],
)
def test_claims_are_checked(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(TokenInvalid, match=reason):
        logic.verify_jwt(logic.encode_jwt(claims(**changes), KEY), KEY, now=NOW)


def test_an_audience_list_naming_the_api_is_accepted() -> None:
    token = logic.encode_jwt(claims(aud=["other", "synchub-api"]), KEY)
    assert logic.verify_jwt(token, KEY, now=NOW)["aud"] == ["other", "synchub-api"]


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "eyJ.eyJ.sig!",  # not base64url
        "e.e.e",  # impossible base64 length
        "eyJhbGciOiJIUzI1NiJ9+.e30.AA",  # '+' is base64, not base64url
        "eyJhbGciOiJIUzI1NiJ9==.e30.AA",  # padded
        "bm90IGpzb24.e30.AA",  # header is not JSON
        "WzFd.e30.AA",  # header is a JSON array
        "/w.e30.AA",  # not UTF-8 (and not base64url)
        "ünïcode.x.y",
    ],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(TokenInvalid):
        logic.verify_jwt(token, KEY, now=NOW)


def test_base64url_must_be_canonical() -> None:
    assert logic.b64url_decode("QQ") == b"A"
    with pytest.raises(TokenInvalid):
        logic.b64url_decode("QR")  # decodes to b"A" too, with stray bits set


def test_a_payload_with_a_duplicate_claim_is_refused() -> None:
    header = b64(b'{"alg":"HS256","typ":"JWT"}')
    payload = b64(b'{"iss":"synchub","aud":"synchub-api","sub":"webshop-nl","iat":1,"exp":9999999999,"ver":3,"ver":4}')
    signature = b64(hmac.new(KEY, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    with pytest.raises(TokenInvalid, match="duplicate"):
        logic.verify_jwt(f"{header}.{payload}.{signature}", KEY, now=NOW)


def test_oversize_tokens_are_refused_before_parsing() -> None:
    token = logic.encode_jwt(claims(padding="p" * MAX_TOKEN_BYTES), KEY)
    assert len(token) > MAX_TOKEN_BYTES
    with pytest.raises(TokenInvalid, match="too large"):
        logic.verify_jwt(token, KEY, now=NOW)


# -- secrets ---------------------------------------------------------------------------------------
def test_secrets_are_random_url_safe_and_stored_as_sha256_hex() -> None:
    first, second = logic.new_secret(), logic.new_secret()
    assert first != second
    assert len(first) == 43 and quote(first, safe="") == first
    assert logic.hash_secret("s3cret") == hashlib.sha256(b"s3cret").hexdigest()
    assert logic.secret_matches("s3cret", logic.hash_secret("s3cret"))
    assert not logic.secret_matches("s3cret ", logic.hash_secret("s3cret"))


# -- the token request -----------------------------------------------------------------------------
def test_basic_client_authentication_url_decodes_id_and_secret() -> None:
    secret = "p@ss:w0rd+/=%é ok"
    request = logic.token_request(FORM, "grant_type=client_credentials", basic("webshop-nl", secret))
    assert request.grant_type == "client_credentials"
    assert request.credentials == ClientCredentials("webshop-nl", secret, "client_secret_basic")


def test_basic_credentials_with_unencoded_url_safe_secrets_work_as_curl_sends_them() -> None:
    secret = logic.new_secret()  # url-safe alphabet: `curl -u id:secret` needs no encoding
    request = logic.token_request(FORM, "grant_type=client_credentials", basic("webshop-nl", secret, encode=False))
    assert request.credentials.client_secret == secret


def test_the_basic_scheme_is_case_insensitive_and_charset_parameters_are_allowed() -> None:
    header = basic("webshop-nl", "s3cret").replace("Basic", "basic")
    request = logic.token_request(FORM + "; charset=UTF-8", "grant_type=client_credentials", header)
    assert request.credentials.client_id == "webshop-nl"


def test_form_client_authentication() -> None:
    body = urlencode({"grant_type": "client_credentials", "client_id": "webshop-nl", "client_secret": "a+b c"})
    request = logic.token_request(FORM, body, None)
    assert request.credentials == ClientCredentials("webshop-nl", "a+b c", "client_secret_post")


def test_basic_with_the_same_client_id_in_the_body_is_accepted() -> None:
    request = logic.token_request(
        FORM, "grant_type=client_credentials&client_id=webshop-nl", basic("webshop-nl", "s3cret")
    )
    assert request.credentials.method == "client_secret_basic"


@pytest.mark.parametrize(
    ("content_type", "body", "authorization", "error"),
    [
        # two authentication methods at once
        (
            FORM,
            "grant_type=client_credentials&client_id=webshop-nl&client_secret=x",
            basic("webshop-nl", "x"),
            "invalid_request",
        ),
        (FORM, "grant_type=client_credentials&client_id=other-shop", basic("webshop-nl", "x"), "invalid_request"),
        (FORM, "grant_type=client_credentials&client_secret=x", basic("webshop-nl", "x"), "invalid_request"),
        # malformed
        ("application/json", '{"grant_type":"client_credentials"}', basic("webshop-nl", "x"), "invalid_request"),
        (None, "grant_type=client_credentials", basic("webshop-nl", "x"), "invalid_request"),
        (FORM, "", basic("webshop-nl", "x"), "invalid_request"),
        (FORM, "grant_type=", basic("webshop-nl", "x"), "invalid_request"),
        (
            FORM,
            "grant_type=client_credentials&grant_type=client_credentials",
            basic("webshop-nl", "x"),
            "invalid_request",
        ),
        (FORM, "grant_type=client_credentials", "Basic not*base64", "invalid_request"),
        (FORM, "grant_type=client_credentials", "Basic " + base64.b64encode(b"no-colon").decode(), "invalid_request"),
        (FORM, "grant_type=client_credentials", "Basic " + base64.b64encode(b"\xff\xfe:x").decode(), "invalid_request"),
        (FORM, "grant_type=client_credentials", basic("webshop-nl", ""), "invalid_request"),
        (FORM, "grant_type=client_credentials", basic("", "x"), "invalid_request"),
        (FORM, "grant_type=client_credentials&" + "&".join(f"p{n}=1" for n in range(30)), None, "invalid_request"),
        (FORM, "grant_type=client_credentials&x=" + "a" * 9000, None, "invalid_request"),
        # other grants
        (FORM, "grant_type=password&username=a&password=b", basic("webshop-nl", "x"), "unsupported_grant_type"),
        (FORM, "grant_type=authorization_code&code=x", basic("webshop-nl", "x"), "unsupported_grant_type"),
        # no or unsupported client authentication
        (FORM, "grant_type=client_credentials", None, "invalid_client"),
        (FORM, "grant_type=client_credentials&client_id=webshop-nl", None, "invalid_client"),
        (FORM, "grant_type=client_credentials", "Bearer abc", "invalid_client"),
    ],
)
def test_refused_token_requests(content_type: str | None, body: str, authorization: str | None, error: str) -> None:
    with pytest.raises(OAuthError) as refused:
        logic.token_request(content_type, body, authorization)
    assert refused.value.error == error
    assert refused.value.status == (401 if error == "invalid_client" else 400)


# -- client authentication -------------------------------------------------------------------------
def creds(secret: str = "s3cret", client_id: str = "webshop-nl") -> ClientCredentials:
    return ClientCredentials(client_id, secret, "client_secret_basic")


def test_the_right_secret_of_an_active_channel_authenticates() -> None:
    assert logic.authenticate(creds(), channel()) == channel()


@pytest.mark.parametrize(
    ("credentials", "stored"),
    [
        (creds("wrong"), channel()),
        (creds(), None),
        (creds(), channel(status=ChannelStatus.REVOKED)),
        (creds("s" * 1000), channel()),
    ],
    ids=["wrong secret", "unknown channel", "revoked", "oversize secret"],
)
def test_failed_client_authentication_always_says_the_same(credentials: ClientCredentials, stored: Any) -> None:
    with pytest.raises(OAuthError) as refused:
        logic.authenticate(credentials, stored)
    assert (refused.value.error, refused.value.description) == ("invalid_client", "Client authentication failed.")


def test_only_well_formed_client_ids_are_looked_up() -> None:
    assert logic.plausible_client_id("webshop-nl")
    assert not logic.plausible_client_id("Webshop NL")
    assert not logic.plausible_client_id("x" * 40)


# -- the authorizer --------------------------------------------------------------------------------
@pytest.mark.parametrize("header", ["Bearer abc.def.ghi", "bearer abc.def.ghi", "  Bearer   abc.def.ghi "])
def test_the_bearer_token_is_taken_from_the_header(header: str) -> None:
    assert logic.bearer_token(header) == "abc.def.ghi"


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic abc", "abc.def.ghi", "Bearer a b"])
def test_anything_but_one_bearer_token_is_refused(header: str | None) -> None:
    with pytest.raises(TokenInvalid):
        logic.bearer_token(header)


@pytest.mark.parametrize(
    ("stored", "allow", "reason"),
    [
        (channel(), True, "allowed"),
        (channel(status=ChannelStatus.REVOKED, ver=4), False, "revoked"),
        (channel(ver=4), False, "stale credential version"),
        (None, False, "unknown channel"),
        (channel(api_key_value=None), False, "no API key"),
    ],
)
def test_the_decision_follows_the_stored_channel(stored: Channel | None, allow: bool, reason: str) -> None:
    decision = logic.decide(claims(), stored)
    assert (decision.allow, decision.reason, decision.channel) == (allow, reason, "webshop-nl")


METHOD_ARN = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/v1/POST/orders"


def test_allow_names_the_channel_and_its_api_key() -> None:
    response = logic.policy(logic.decide(claims(), channel()), METHOD_ARN)
    assert response == {
        "principalId": "webshop-nl",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": METHOD_ARN}],
        },
        "context": {"channel": "webshop-nl", "role": "channel"},
        "usageIdentifierKey": channel().api_key_value,
    }


def test_deny_carries_no_api_key() -> None:
    response = logic.policy(logic.decide(claims(), channel(status=ChannelStatus.REVOKED)), METHOD_ARN)
    assert response["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert response["principalId"] == "webshop-nl"
    assert "usageIdentifierKey" not in response


def test_allow_passes_a_channels_minimum_shelf_life_as_a_string() -> None:
    """API Gateway context values are strings; 0 (no minimum) is left out: a consumer reads absent as 0."""
    decision = logic.decide(claims(), channel(min_shelf_life_days=14))
    assert decision.min_shelf_life_days == 14
    assert logic.policy(decision, METHOD_ARN)["context"] == {
        "channel": "webshop-nl",
        "role": "channel",
        "min_shelf_life_days": "14",
    }
    assert "min_shelf_life_days" not in logic.policy(logic.decide(claims(), channel()), METHOD_ARN)["context"]
    denied = logic.decide(claims(), channel(min_shelf_life_days=14, status=ChannelStatus.REVOKED))
    assert "min_shelf_life_days" not in logic.policy(denied, METHOD_ARN)["context"]


def test_a_stored_channel_without_a_shelf_life_reads_as_zero() -> None:
    from channels.repository import from_item, to_item

    item = to_item(channel(min_shelf_life_days=7))
    assert item["min_shelf_life_days"] == 7 and from_item(item).min_shelf_life_days == 7
    del item["min_shelf_life_days"]  # every record written before the field existed
    assert from_item(item).min_shelf_life_days == 0
