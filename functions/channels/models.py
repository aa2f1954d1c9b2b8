"""Sales channels as OAuth 2.0 clients: the stored channel, the token's constants and the errors
of the token endpoint and the authorizer (docs/decisions/0008-channel-authentication.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

CHANNEL_ID = re.compile(r"^[a-z0-9][a-z0-9\-]{1,31}$")  # the client_id; OrderIn.channel has the same pattern

TOKEN_ISSUER = "synchub"
TOKEN_AUDIENCE = "synchub-api"
TOKEN_ALGORITHM = "HS256"
TOKEN_TYPE = "Bearer"
GRANT_CLIENT_CREDENTIALS = "client_credentials"
CLOCK_LEEWAY_SECONDS = 30  # exp / iat / nbf tolerance for clocks that disagree a little
MAX_TOKEN_BYTES = 4096  # larger than any token the hub issues: refused before any parsing
MAX_SECRET_BYTES = 256  # a client_secret longer than this is not one the hub issued
MIN_SIGNING_KEY_BYTES = 32  # HS256 wants a key of at least the hash's size (RFC 7518 3.2)
DEFAULT_TOKEN_TTL_SECONDS = 3600
AUTHORIZER_ROLE_KEY = "role"  # the authorizer context's member naming the principal's Role (next to "channel")
# the authorizer context's member carrying a channel's minimum remaining shelf life in days (a string, as every
# API Gateway context value); absent means 0 (no minimum; operators, channels without one)
AUTHORIZER_SHELF_LIFE_KEY = "min_shelf_life_days"
MAX_SHELF_LIFE_DAYS = 3650


class ChannelStatus(str, Enum):
    ACTIVE = "ACTIVE"
    REVOKED = "REVOKED"


class Role(str, Enum):
    """What a principal may do: a sales ``channel`` submits and reads its orders; an ``operator``
    works the business exceptions (``/exceptions``) and may not submit orders. A stored record
    without a role is a channel (every record before operators existed)."""

    CHANNEL = "channel"
    OPERATOR = "operator"


@dataclass(frozen=True)
class Channel:
    """A sales channel's credentials and throttling identity, as stored.

    ``ver`` is the credential version: every token carries the ``ver`` it was issued at, and a
    rotation or revocation bumps it, so older tokens stop working at their next request."""

    channel: str
    secret_hash: str  # sha256 hex of the client_secret; the secret itself is never stored
    status: ChannelStatus
    ver: int
    created_at: str
    updated_at: str
    api_key_id: str | None = None
    api_key_value: str | None = None  # the usage identifier key the authorizer hands API Gateway
    usage_plan_id: str | None = None
    revoked_at: str | None = None
    role: Role = Role.CHANNEL  # tokens carry it as claim ``role``; the authorizer puts it into the context
    # a lot is sold to this channel only with at least this many days left to its best-before date
    # (availability counts shorter ones 0, reservation never allocates them); 0: no minimum
    min_shelf_life_days: int = 0

    @property
    def active(self) -> bool:
        return self.status is ChannelStatus.ACTIVE


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: str
    method: str  # "client_secret_basic" | "client_secret_post" (RFC 7591 names)


@dataclass(frozen=True)
class TokenRequest:
    grant_type: str
    credentials: ClientCredentials


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    jti: str

    def response(self) -> dict[str, object]:
        """The RFC 6749 5.1 response body."""
        return {"access_token": self.access_token, "token_type": TOKEN_TYPE, "expires_in": self.expires_in}


@dataclass(frozen=True)
class Decision:
    """The authorizer's answer for one request."""

    allow: bool
    channel: str  # the principal: a channel id or an operator's name
    reason: str  # for the log: "allowed", "revoked", "stale credential version", ...
    usage_key: str | None = None
    role: Role = Role.CHANNEL
    min_shelf_life_days: int = 0


OAUTH_ERROR_STATUS = {"invalid_request": 400, "unsupported_grant_type": 400, "invalid_client": 401}


class OAuthError(Exception):
    """A token request refused with an RFC 6749 5.2 error code."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description

    @property
    def status(self) -> int:
        return OAUTH_ERROR_STATUS[self.error]


class TokenInvalid(Exception):
    """A bearer token that is malformed, forged, expired or not meant for this API."""


class ChannelExists(Exception):
    """``add`` for a channel id that is already registered (active or revoked)."""


class ChannelNotFound(Exception):
    """No channel with this id."""


class ChannelRevoked(Exception):
    """The channel was revoked; its credentials cannot be rotated."""
