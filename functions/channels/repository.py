"""The channel store (DynamoDB, ``CHANNELS_TABLE``) and the token signing key (Secrets Manager,
``TOKEN_SIGNING_SECRET_ARN``).

| pk                | sk      | what                                                                            |
|-------------------|---------|---------------------------------------------------------------------------------|
| CHANNEL#<channel> | CHANNEL | secret_hash, status, ver, role, api_key_id/_value, usage_plan_id, times, shelf life |

``role`` is ``channel`` or ``operator`` (channels and operators share one id space); an item
without it is a channel (every item written before operators existed). ``min_shelf_life_days``
(absent: 0) is the channel's minimum remaining shelf life of a lot it is sold.

``ver`` (the credential version) goes up by one on every rotation and on revocation; tokens carry
the ``ver`` they were issued at. Reads are strongly consistent, so a revocation takes effect at
the next request. This module is the only one that knows these keys; the CLI reaches it through
``channels.api`` with a client and table of its own (:class:`ChannelStore`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from synchub_core.aws import client
from synchub_core.ddb import from_ddb, to_ddb, values

from .models import (
    DEFAULT_TOKEN_TTL_SECONDS,
    MIN_SIGNING_KEY_BYTES,
    Channel,
    ChannelExists,
    ChannelNotFound,
    ChannelRevoked,
    ChannelStatus,
    Role,
)

ITEM_TYPE = "CHANNEL"
KEY_CACHE_SECONDS = 300.0  # the signing key is read from Secrets Manager at most every 5 minutes
TTL_RANGE = (60, 86_400)


# -- configuration ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChannelSettings:
    """What the channels functions read from their environment (set by the CDK stack)."""

    channels_table: str
    signing_secret_arn: str
    token_ttl_seconds: int

    @classmethod
    def from_env(cls) -> ChannelSettings:
        missing = [k for k in ("CHANNELS_TABLE", "TOKEN_SIGNING_SECRET_ARN") if not os.environ.get(k)]
        if missing:
            raise RuntimeError(
                f"synchub channels function misconfigured: {', '.join(missing)} not set "
                "(the CDK stack sets them on the token and authorizer functions)"
            )
        raw_ttl = os.environ.get("TOKEN_TTL_SECONDS") or str(DEFAULT_TOKEN_TTL_SECONDS)
        try:
            ttl = int(raw_ttl)
        except ValueError:
            ttl = -1
        if not TTL_RANGE[0] <= ttl <= TTL_RANGE[1]:
            raise RuntimeError(
                f"synchub channels function misconfigured: TOKEN_TTL_SECONDS={raw_ttl!r} "
                f"is not a whole number of seconds from {TTL_RANGE[0]} to {TTL_RANGE[1]}"
            )
        return cls(
            channels_table=os.environ["CHANNELS_TABLE"],
            signing_secret_arn=os.environ["TOKEN_SIGNING_SECRET_ARN"],
            token_ttl_seconds=ttl,
        )


@lru_cache(maxsize=1)
def settings() -> ChannelSettings:
    return ChannelSettings.from_env()


# -- the signing key -------------------------------------------------------------------------------
_key_cache: dict[str, tuple[bytes, float]] = {}


def signing_key() -> bytes:
    """The HS256 key: the secret string of ``TOKEN_SIGNING_SECRET_ARN``, cached per process for
    :data:`KEY_CACHE_SECONDS` (a rotated key reaches every warm function within that time)."""
    arn = settings().signing_secret_arn
    now = time.monotonic()
    cached = _key_cache.get(arn)
    if cached is not None and now - cached[1] < KEY_CACHE_SECONDS:
        return cached[0]
    key = client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"].encode("utf-8")
    if len(key) < MIN_SIGNING_KEY_BYTES:
        raise RuntimeError(f"the token signing secret is shorter than {MIN_SIGNING_KEY_BYTES} bytes")
    _key_cache[arn] = (key, now)
    return key


def reset_caches() -> None:
    """Forget settings and the cached key (tests change the environment between cases)."""
    settings.cache_clear()
    _key_cache.clear()


# -- the channel store -----------------------------------------------------------------------------
def channel_key(channel: str) -> dict[str, str]:
    return {"pk": f"CHANNEL#{channel}", "sk": "CHANNEL"}


def to_item(channel: Channel) -> dict[str, Any]:
    return {
        **channel_key(channel.channel),
        "item_type": ITEM_TYPE,
        "channel": channel.channel,
        "secret_hash": channel.secret_hash,
        "status": channel.status.value,
        "ver": channel.ver,
        "role": channel.role.value,
        "api_key_id": channel.api_key_id,
        "api_key_value": channel.api_key_value,
        "usage_plan_id": channel.usage_plan_id,
        "created_at": channel.created_at,
        "updated_at": channel.updated_at,
        "revoked_at": channel.revoked_at,
        "min_shelf_life_days": channel.min_shelf_life_days,
    }


def from_item(item: dict[str, Any]) -> Channel:
    return Channel(
        channel=item["channel"],
        secret_hash=item["secret_hash"],
        status=ChannelStatus(item["status"]),
        ver=int(item["ver"]),
        created_at=item["created_at"],
        updated_at=item["updated_at"],
        api_key_id=item.get("api_key_id"),
        api_key_value=item.get("api_key_value"),
        usage_plan_id=item.get("usage_plan_id"),
        revoked_at=item.get("revoked_at"),
        role=Role(item.get("role") or Role.CHANNEL.value),
        min_shelf_life_days=int(item.get("min_shelf_life_days", 0)),
    )


_NAMES = {"#s": "status", "#v": "ver"}


class ChannelStore:
    """Channel items in one table. The functions use :func:`store`; the CLI passes the table and
    a DynamoDB client of the deployment it manages."""

    def __init__(self, table: str, ddb_client: Any | None = None) -> None:
        self.table = table
        self._client = ddb_client

    @property
    def ddb(self) -> Any:
        return self._client if self._client is not None else client("dynamodb")

    def get(self, channel: str) -> Channel | None:
        resp = self.ddb.get_item(TableName=self.table, Key=to_ddb(channel_key(channel)), ConsistentRead=True)
        item = from_ddb(resp.get("Item"))
        return from_item(item) if item else None

    def create(self, channel: Channel) -> None:
        """Store a new channel; :class:`ChannelExists` if the id is taken (revoked ids stay taken)."""
        try:
            self.ddb.put_item(
                TableName=self.table, Item=to_ddb(to_item(channel)), ConditionExpression="attribute_not_exists(pk)"
            )
        except self.ddb.exceptions.ConditionalCheckFailedException:
            raise ChannelExists(channel.channel) from None

    def _bump(self, channel: str, expression: str, **vals: Any) -> Channel | None:
        """Apply ``expression`` (plus ``ver + 1``) to an active channel; None if it is not active."""
        try:
            resp = self.ddb.update_item(
                TableName=self.table,
                Key=to_ddb(channel_key(channel)),
                UpdateExpression=f"SET {expression}, #v = #v + :one",
                ConditionExpression="attribute_exists(pk) AND #s = :active",
                ExpressionAttributeNames=_NAMES,
                ExpressionAttributeValues=values(one=1, active=ChannelStatus.ACTIVE.value, **vals),
                ReturnValues="ALL_NEW",
            )
        except self.ddb.exceptions.ConditionalCheckFailedException:
            return None
        return from_item(from_ddb(resp["Attributes"]))

    def rotate(self, channel: str, secret_hash: str, now: str) -> Channel:
        """A new secret and ``ver + 1``: tokens issued before stop working."""
        done = self._bump(channel, "secret_hash = :h, updated_at = :now", h=secret_hash, now=now)
        if done is not None:
            return done
        if self.get(channel) is None:
            raise ChannelNotFound(channel)
        raise ChannelRevoked(channel)

    def revoke(self, channel: str, now: str) -> Channel:
        """Status REVOKED and ``ver + 1``. Revoking a revoked channel changes nothing."""
        done = self._bump(
            channel, "#s = :revoked, updated_at = :now, revoked_at = :now", revoked=ChannelStatus.REVOKED.value, now=now
        )
        if done is not None:
            return done
        current = self.get(channel)
        if current is None:
            raise ChannelNotFound(channel)
        return current

    def set_shelf_life(self, channel: str, days: int, now: str) -> Channel:
        """The channel's minimum remaining shelf life, in days. Not a credential change: ``ver``
        stays, tokens keep working, and the authorizer passes the new value from the next request."""
        try:
            resp = self.ddb.update_item(
                TableName=self.table,
                Key=to_ddb(channel_key(channel)),
                UpdateExpression="SET min_shelf_life_days = :days, updated_at = :now",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues=values(days=days, now=now),
                ReturnValues="ALL_NEW",
            )
        except self.ddb.exceptions.ConditionalCheckFailedException:
            raise ChannelNotFound(channel) from None
        return from_item(from_ddb(resp["Attributes"]))

    def list(self) -> list[Channel]:
        """Every channel, sorted by id (a small table: one item per sales channel)."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": self.table, "ConsistentRead": True}
        while True:
            resp = self.ddb.scan(**kwargs)
            items.extend(from_ddb(i) for i in resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                break
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        return sorted((from_item(i) for i in items if i.get("item_type") == ITEM_TYPE), key=lambda c: c.channel)


def store() -> ChannelStore:
    """The channel store of this function's environment."""
    return ChannelStore(settings().channels_table)
