"""Channel authentication, pure: JWT (HS256) issue and verification, client secret hashing,
OAuth 2.0 client credentials parsing (RFC 6749 2.3.1, 4.4) and the authorizer's IAM policy.

Nothing here does I/O: the handler passes the signing key, the stored channel and the clock in.
JWTs are handled with the standard library only (hmac, hashlib, base64, json), and strictly: one
algorithm (HS256, whatever the header asks for), canonical base64url, no duplicate JSON keys.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
import secrets
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from .models import (
    AUTHORIZER_ROLE_KEY,
    AUTHORIZER_SHELF_LIFE_KEY,
    CHANNEL_ID,
    CLOCK_LEEWAY_SECONDS,
    GRANT_CLIENT_CREDENTIALS,
    MAX_SECRET_BYTES,
    MAX_TOKEN_BYTES,
    TOKEN_ALGORITHM,
    TOKEN_AUDIENCE,
    TOKEN_ISSUER,
    Channel,
    ClientCredentials,
    Decision,
    IssuedToken,
    OAuthError,
    Role,
    TokenInvalid,
    TokenRequest,
)

_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")
_ROLES = frozenset(r.value for r in Role)
_HEADER = {"alg": TOKEN_ALGORITHM, "typ": "JWT"}
MAX_FORM_BYTES = 8192  # a token request is a few short fields
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
# what the hub compares a secret against when the client_id is unknown: the same work either way
_NO_SUCH_HASH = hashlib.sha256(b"synchub: no such channel").hexdigest()


# -- base64url and JSON ----------------------------------------------------------------------------
def b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Unpadded, canonical base64url (RFC 7515 2); anything else raises :class:`TokenInvalid`."""
    if not _B64URL.match(text) or len(text) % 4 == 1:
        raise TokenInvalid("malformed base64url")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise TokenInvalid("malformed base64url") from None
    if b64url_encode(raw) != text:  # stray bits in the last character: one value, one spelling
        raise TokenInvalid("malformed base64url")
    return raw


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise TokenInvalid("duplicate JSON member")
    return dict(pairs)


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, ValueError, RecursionError):  # JSONDecodeError is a ValueError
        raise TokenInvalid(f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise TokenInvalid(f"{what} is not a JSON object")
    return value


def _compact(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


# -- JWT -------------------------------------------------------------------------------------------
def _signature(signing_input: bytes, key: bytes) -> bytes:
    return hmac.new(key, signing_input, hashlib.sha256).digest()


def encode_jwt(claims: Mapping[str, Any], key: bytes, header: Mapping[str, Any] | None = None) -> str:
    """A compact JWS (HS256). ``header`` is for tests that need a token with another header."""
    signing_input = f"{b64url_encode(_compact(header or _HEADER))}.{b64url_encode(_compact(claims))}"
    return f"{signing_input}.{b64url_encode(_signature(signing_input.encode('ascii'), key))}"


def _numeric_date(claims: Mapping[str, Any], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TokenInvalid(f"{name} missing or not a NumericDate")
    return value


def verify_jwt(
    token: str,
    key: bytes,
    *,
    now: float,
    issuer: str = TOKEN_ISSUER,
    audience: str = TOKEN_AUDIENCE,
    leeway: int = CLOCK_LEEWAY_SECONDS,
) -> dict[str, Any]:
    """The claims of a token this hub issued, still valid at ``now``; else :class:`TokenInvalid`.

    The signature is checked (constant time) before any claim is read; the header must say
    ``alg`` HS256 exactly (``none``, ``hs256``, RS256 ... are refused) and carry nothing the hub
    does not understand (``crit``)."""
    if len(token) > MAX_TOKEN_BYTES:
        raise TokenInvalid("token too large")
    if not token.isascii():
        raise TokenInvalid("token is not ASCII")
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenInvalid("not a compact JWS (3 segments)")
    header_b64, payload_b64, signature_b64 = parts
    header = _json_object(b64url_decode(header_b64), "header")
    if header.get("alg") != TOKEN_ALGORITHM:
        raise TokenInvalid("algorithm not allowed")
    if header.get("typ", "JWT") != "JWT" or "crit" in header:
        raise TokenInvalid("unsupported header")
    signature = b64url_decode(signature_b64)
    expected = _signature(f"{header_b64}.{payload_b64}".encode("ascii"), key)
    if not hmac.compare_digest(signature, expected):
        raise TokenInvalid("bad signature")
    claims = _json_object(b64url_decode(payload_b64), "payload")
    if claims.get("iss") != issuer:
        raise TokenInvalid("wrong issuer")
    aud = claims.get("aud")
    if not (aud == audience or (isinstance(aud, list) and audience in aud)):
        raise TokenInvalid("wrong audience")
    if now > _numeric_date(claims, "exp") + leeway:
        raise TokenInvalid("expired")
    if _numeric_date(claims, "iat") > now + leeway:
        raise TokenInvalid("issued in the future")
    if "nbf" in claims and _numeric_date(claims, "nbf") > now + leeway:
        raise TokenInvalid("not yet valid")
    sub, ver = claims.get("sub"), claims.get("ver")
    if not isinstance(sub, str) or not CHANNEL_ID.match(sub):
        raise TokenInvalid("sub missing or not a channel id")
    if isinstance(ver, bool) or not isinstance(ver, int):
        raise TokenInvalid("ver missing or not an integer")
    role = claims.get("role", Role.CHANNEL.value)  # absent: a channel's token issued before roles
    if not isinstance(role, str) or role not in _ROLES:
        raise TokenInvalid("role not known")
    return claims


def token_role(claims: Mapping[str, Any]) -> Role:
    """The role a verified token claims: ``channel`` for a token without the claim (issued before
    operators existed, always to a channel)."""
    return Role(claims.get("role", Role.CHANNEL.value))


def issue_token(channel: Channel, key: bytes, *, now: int, ttl: int) -> IssuedToken:
    """An access token for an authenticated, active channel, bound to its credential version."""
    jti = uuid.uuid4().hex
    claims = {
        "iss": TOKEN_ISSUER,
        "aud": TOKEN_AUDIENCE,
        "sub": channel.channel,
        "iat": now,
        "exp": now + ttl,
        "jti": jti,
        "ver": channel.ver,
        "role": channel.role.value,
    }
    return IssuedToken(access_token=encode_jwt(claims, key), expires_in=ttl, jti=jti)


# -- client secrets --------------------------------------------------------------------------------
def new_secret() -> str:
    """A client secret: 32 random bytes, base64url (43 characters, none that needs URL-encoding)."""
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """What the channel store keeps of a secret: its sha256, hex. (The secret is 256 random bits,
    so a fast hash is enough: there is nothing to guess a dictionary of.)"""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def secret_matches(secret: str, secret_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), secret_hash)


# -- the token request -----------------------------------------------------------------------------
def parse_form(body: str) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body; a repeated parameter is refused (RFC 6749 3.2)."""
    if len(body.encode("utf-8")) > MAX_FORM_BYTES:
        raise OAuthError("invalid_request", "The request body is too large for a token request.")
    try:
        pairs = parse_qsl(body, keep_blank_values=True, max_num_fields=20)
    except ValueError:
        raise OAuthError("invalid_request", "The request body has too many parameters for a token request.") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise OAuthError("invalid_request", f"The parameter {name} appears more than once.")
        form[name] = value
    return form


def _basic(authorization: str) -> ClientCredentials | None:
    """HTTP Basic client authentication (RFC 6749 2.3.1): ``base64(urlencode(id):urlencode(secret))``.
    None when the header uses another scheme."""
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        raise OAuthError("invalid_request", "The Authorization header is not valid HTTP Basic credentials.") from None
    client_id, colon, client_secret = decoded.partition(":")
    if not colon:
        raise OAuthError("invalid_request", "The Authorization header is not valid HTTP Basic credentials.")
    return ClientCredentials(unquote_plus(client_id), unquote_plus(client_secret), "client_secret_basic")


def client_credentials(authorization: str | None, form: Mapping[str, str]) -> ClientCredentials:
    """The client's credentials, from the Basic header or the form (RFC 6749 2.3.1), never both."""
    basic = _basic(authorization) if authorization else None
    if authorization and basic is None:
        raise OAuthError(
            "invalid_client", "Unsupported client authentication: use HTTP Basic or client_id/client_secret."
        )
    if basic is not None:
        if "client_secret" in form or form.get("client_id", basic.client_id) != basic.client_id:
            raise OAuthError(
                "invalid_request",
                "Send the client credentials once: in the Authorization header or in the body, not both.",
            )
        found = basic
    elif "client_id" in form and "client_secret" in form:
        found = ClientCredentials(form["client_id"], form["client_secret"], "client_secret_post")
    else:
        raise OAuthError(
            "invalid_client",
            "Client authentication required: HTTP Basic (client_id:client_secret) or client_id and "
            "client_secret in the body.",
        )
    if not found.client_id or not found.client_secret:
        raise OAuthError("invalid_request", "client_id and client_secret must not be empty.")
    return found


def token_request(content_type: str | None, body: str, authorization: str | None) -> TokenRequest:
    """A client credentials grant request (RFC 6749 4.4.2), or :class:`OAuthError`."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != FORM_CONTENT_TYPE:
        raise OAuthError("invalid_request", f"Send the token request as {FORM_CONTENT_TYPE}.")
    form = parse_form(body)
    grant_type = form.get("grant_type")
    if not grant_type:
        raise OAuthError("invalid_request", "grant_type is required: grant_type=client_credentials.")
    if grant_type != GRANT_CLIENT_CREDENTIALS:
        raise OAuthError("unsupported_grant_type", "This token endpoint issues client_credentials grants only.")
    return TokenRequest(grant_type, client_credentials(authorization, form))


def plausible_client_id(client_id: str) -> bool:
    """Worth a lookup in the channel store at all."""
    return bool(CHANNEL_ID.match(client_id))


def authenticate(credentials: ClientCredentials, channel: Channel | None) -> Channel:
    """The channel the credentials prove, if it is active; else ``invalid_client``, always with the
    same description (an unknown id, a wrong secret and a revoked channel look alike)."""
    secret = credentials.client_secret
    too_long = len(secret.encode("utf-8")) > MAX_SECRET_BYTES
    matches = secret_matches("" if too_long else secret, channel.secret_hash if channel else _NO_SUCH_HASH)
    if channel is None or too_long or not matches or not channel.active:
        raise OAuthError("invalid_client", "Client authentication failed.")
    return channel


# -- the authorizer --------------------------------------------------------------------------------
def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header (RFC 6750 2.1)."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise TokenInvalid("no bearer token")
    return token


def decide(claims: Mapping[str, Any], channel: Channel | None) -> Decision:
    """Allow a verified token only while its principal is active at the token's credential version,
    in the role the token was issued for. The role passed on is the stored one: a token cannot
    claim more than its record says."""
    sub = str(claims["sub"])
    if channel is None:
        return Decision(False, sub, "unknown channel")
    if not channel.active:
        return Decision(False, sub, "revoked", role=channel.role)
    if claims["ver"] != channel.ver:
        return Decision(False, sub, "stale credential version", role=channel.role)
    if token_role(claims) is not channel.role:
        return Decision(False, sub, "role mismatch", role=channel.role)
    if not channel.api_key_value:
        return Decision(False, sub, "no API key", role=channel.role)
    return Decision(
        True,
        sub,
        "allowed",
        usage_key=channel.api_key_value,
        role=channel.role,
        min_shelf_life_days=channel.min_shelf_life_days,
    )


def policy(decision: Decision, method_arn: str) -> dict[str, Any]:
    """The TOKEN authorizer's response: an IAM policy on the method ARN, the principal (a channel or
    an operator) as principal and context (``channel``, and its ``role``: the orders routes serve
    channels only, the exceptions routes operators only), and (on Allow) the API key whose usage
    plan throttles it. A channel with a minimum shelf life gets it as ``min_shelf_life_days`` (a
    string: API Gateway passes context values as strings); without one the member is absent (0)."""
    context = {"channel": decision.channel, AUTHORIZER_ROLE_KEY: decision.role.value}
    if decision.allow and decision.min_shelf_life_days > 0:
        context[AUTHORIZER_SHELF_LIFE_KEY] = str(decision.min_shelf_life_days)
    response: dict[str, Any] = {
        "principalId": decision.channel,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": "Allow" if decision.allow else "Deny",
                    "Resource": method_arn,
                }
            ],
        },
        "context": context,
    }
    if decision.allow and decision.usage_key:
        response["usageIdentifierKey"] = decision.usage_key
    return response
