"""API keys and usage plans as the local API Gateway enforces them.

Keys and plans live in the emulator's API Gateway, where ``synchub channels add`` creates them while the
hub runs; they are read from there (``get_api_keys(includeValues=True)``, ``get_usage_plans(keyId=...)``)
and cached for ``ttl`` seconds, so a new, disabled or re-planned key takes effect within that time, and
a key value not seen before triggers a reload at once (at most every ``miss_interval`` seconds).

A key is usable on this API when it is enabled and belongs to a usage plan naming this API's stage
(``apiStages``), as on AWS. The plan's throttle is a token bucket per key (``burstLimit`` tokens,
refilled at ``rateLimit`` per second); its quota counts requests per key in the current UTC day,
week (from Sunday) or month.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

log = logging.getLogger("synchub.local.apigw")

THROTTLED, QUOTA_EXCEEDED = "THROTTLED", "QUOTA_EXCEEDED"
KEYS_TTL = 2.0  # seconds a read of the emulator's keys and plans is used
MISS_INTERVAL = 0.25  # at most this often, an unknown key value reloads the keys at once


@dataclass(frozen=True)
class ApiKey:
    id: str
    value: str
    enabled: bool
    name: str | None = None


@dataclass(frozen=True)
class Plan:
    id: str
    rate: float | None = None  # throttle.rateLimit, requests per second
    burst: int | None = None  # throttle.burstLimit
    quota_limit: int | None = None
    quota_period: str = "DAY"  # DAY | WEEK | MONTH

    @classmethod
    def from_api(cls, plan: dict[str, Any]) -> Plan:
        throttle, quota = plan.get("throttle") or {}, plan.get("quota") or {}
        return cls(
            id=plan["id"],
            rate=float(throttle["rateLimit"]) if throttle.get("rateLimit") is not None else None,
            burst=int(throttle["burstLimit"]) if throttle.get("burstLimit") is not None else None,
            quota_limit=int(quota["limit"]) if quota.get("limit") is not None else None,
            quota_period=str(quota.get("period") or "DAY").upper(),
        )


def _pages(call: Callable[..., dict[str, Any]], **kwargs: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    position = None
    while True:
        page = call(**kwargs, limit=500, **({"position": position} if position else {}))
        items += page.get("items", [])
        position = page.get("position")
        if not position:
            return items


class ApiKeys:
    """The emulator's API keys and the usage plans of this API stage, cached (thread-safe)."""

    def __init__(
        self,
        client: Any,
        api_id: str,
        stage: str,
        *,
        ttl: float = KEYS_TTL,
        miss_interval: float = MISS_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client, self.api_id, self.stage = client, api_id, stage
        self.ttl, self.miss_interval, self._clock = ttl, miss_interval, clock
        self._keys: dict[str, ApiKey] = {}
        self._keys_at = -math.inf
        self._missed: dict[str, float] = {}  # unknown key value -> when it was last looked up
        self._plans: dict[str, tuple[float, Plan | None]] = {}
        self._lock = threading.Lock()

    def key(self, value: str) -> ApiKey | None:
        """The key with this value (enabled or not), None when there is none."""
        with self._lock:
            now = self._clock()
            if now - self._keys_at >= self.ttl or (
                value not in self._keys and now - self._missed.get(value, -math.inf) >= self.miss_interval
            ):
                # a value not seen before is looked up at once (a channel added a moment ago); the same
                # unknown value again only every miss_interval, so a flood of bad keys cannot hammer the emulator
                self._reload_keys()
                if value not in self._keys:
                    if len(self._missed) > 10_000:
                        self._missed.clear()
                    self._missed[value] = now
            return self._keys.get(value)

    def plan(self, key: ApiKey) -> Plan | None:
        """The usage plan that associates ``key`` with this API stage, None when none does."""
        with self._lock:
            cached = self._plans.get(key.id)
            if cached is not None and self._clock() - cached[0] < self.ttl:
                return cached[1]
            try:
                plans = _pages(self.client.get_usage_plans, keyId=key.id)
            except Exception:
                if cached is None:
                    raise
                log.warning("reading the usage plans of key %s failed; using the last ones read", key.id, exc_info=True)
                return cached[1]
            stage = {"apiId": self.api_id, "stage": self.stage}
            found = next(
                (Plan.from_api(p) for p in plans if any(_same_stage(s, stage) for s in p.get("apiStages") or [])),
                None,
            )
            self._plans[key.id] = (self._clock(), found)
            return found

    def _reload_keys(self) -> None:
        try:
            items = _pages(self.client.get_api_keys, includeValues=True)
        except Exception:
            if self._keys_at == -math.inf:
                raise
            log.warning("reading the API keys failed; using the last ones read", exc_info=True)
            self._keys_at = self._clock()
            return
        self._keys = {
            k["value"]: ApiKey(k["id"], k["value"], bool(k.get("enabled")), k.get("name"))
            for k in items
            if k.get("value")
        }
        self._keys_at = self._clock()


def _same_stage(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.get("apiId") == b["apiId"] and a.get("stage") == b["stage"]


def quota_window(period: str, now: datetime) -> date:
    """The first UTC day of the quota period ``now`` falls in."""
    today = now.astimezone(UTC).date()
    if period == "WEEK":
        return today - timedelta(days=(today.weekday() + 1) % 7)  # weeks start on Sunday
    if period == "MONTH":
        return today.replace(day=1)
    return today


@dataclass
class _Bucket:
    tokens: float
    at: float


class Meter:
    """Usage plan throttles (a token bucket per key) and quotas (a count per key and period); thread-safe."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._clock, self._now = clock, now
        self._buckets: dict[str, _Bucket] = {}
        self._used: dict[tuple[str, str], tuple[date, int]] = {}
        self._lock = threading.Lock()

    def admit(self, key_id: str, plan: Plan) -> str | None:
        """None when the request may go on, else THROTTLED or QUOTA_EXCEEDED. A request refused for either
        reason is not counted against the quota."""
        with self._lock:
            window, used = None, 0
            if plan.quota_limit is not None:
                window = quota_window(plan.quota_period, self._now())
                seen = self._used.get((key_id, plan.id))
                used = seen[1] if seen is not None and seen[0] == window else 0
                if used >= plan.quota_limit:
                    return QUOTA_EXCEEDED
            if plan.rate is not None:
                capacity = float(plan.burst if plan.burst is not None else max(1, math.ceil(plan.rate)))
                now = self._clock()
                bucket = self._buckets.get(key_id)
                if bucket is None:
                    bucket = self._buckets[key_id] = _Bucket(capacity, now)
                bucket.tokens = min(capacity, bucket.tokens + (now - bucket.at) * plan.rate)
                bucket.at = now
                if bucket.tokens < 1:
                    return THROTTLED
                bucket.tokens -= 1
            if window is not None:
                self._used[(key_id, plan.id)] = (window, used + 1)
            return None

    def used(self, key_id: str, plan: Plan) -> int:
        """Requests counted against ``plan``'s quota for ``key_id`` in the current period."""
        with self._lock:
            seen = self._used.get((key_id, plan.id))
            window = quota_window(plan.quota_period, self._now())
            return seen[1] if seen is not None and seen[0] == window else 0
