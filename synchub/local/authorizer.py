"""Lambda TOKEN authorizers as API Gateway runs them: the authorizer's answer, its policy, its cache.

API Gateway sends ``{"type": "TOKEN", "authorizationToken": <header value>, "methodArn": <ARN>}`` and
expects ``{"principalId", "policyDocument", "context"?, "usageIdentifierKey"?}`` back. The request goes
on only when the policy allows ``execute-api:Invoke`` on the method's ARN and no statement denies it
(IAM evaluation: an explicit Deny wins, no matching Allow is an implicit deny). With a TTL above zero,
the answer is cached by token and evaluated again for every method: a cached policy that names one
method only denies the others, as on AWS.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

INVOKE_ACTION = "execute-api:Invoke"
ALLOW, EXPLICIT_DENY, IMPLICIT_DENY = "ALLOW", "EXPLICIT_DENY", "IMPLICIT_DENY"
CACHE_MAX_ENTRIES = 10_000


class MalformedAuthorizerResult(ValueError):
    """The authorizer's answer is not one API Gateway can use (AuthorizerConfigurationException, 500)."""


@dataclass(frozen=True)
class AuthorizerResult:
    principal_id: str
    policy: dict[str, Any]
    context: dict[str, str] = field(default_factory=dict)  # values as strings, as REST APIs pass them on
    usage_identifier_key: str | None = None


def method_arn(region: str, account: str, api_id: str, stage: str, method: str, path: str) -> str:
    """``arn:aws:execute-api:<region>:<account>:<apiId>/<stage>/<METHOD>/<path>`` (the request's own path)."""
    return f"arn:aws:execute-api:{region}:{account}:{api_id}/{stage}/{method}/{path.lstrip('/')}"


def token_event(token: str, arn: str) -> dict[str, Any]:
    return {"type": "TOKEN", "authorizationToken": token, "methodArn": arn}


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return str(value)


def parse_result(result: Any) -> AuthorizerResult:
    """The authorizer function's answer, checked as API Gateway checks it."""
    if not isinstance(result, dict):
        raise MalformedAuthorizerResult(f"the authorizer returned {type(result).__name__}, not an object")
    principal = result.get("principalId")
    if principal is None or isinstance(principal, (dict, list)):
        raise MalformedAuthorizerResult("the authorizer's answer has no principalId")
    policy = result.get("policyDocument")
    if not isinstance(policy, dict):
        raise MalformedAuthorizerResult("the authorizer's answer has no policyDocument")
    for statement in _statements(policy):
        _check_statement(statement)
    context = result.get("context") or {}
    if not isinstance(context, dict):
        raise MalformedAuthorizerResult("the authorizer's context is not an object")
    nested = [k for k, v in context.items() if isinstance(v, (dict, list))]
    if nested:  # API Gateway takes only strings, numbers and booleans
        raise MalformedAuthorizerResult(f"the authorizer's context has non-scalar values: {', '.join(nested)}")
    key = result.get("usageIdentifierKey")
    return AuthorizerResult(
        principal_id=_scalar(principal),
        policy=policy,
        context={str(k): _scalar(v) for k, v in context.items() if v is not None},
        usage_identifier_key=str(key) if key is not None else None,
    )


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(policy: dict[str, Any]) -> list[Any]:
    statements = policy.get("Statement")
    if statements is None:
        raise MalformedAuthorizerResult("the policy has no Statement")
    return _as_list(statements)


def _check_statement(statement: Any) -> None:
    if not isinstance(statement, dict):
        raise MalformedAuthorizerResult("a policy statement is not an object")
    if statement.get("Effect") not in ("Allow", "Deny"):
        raise MalformedAuthorizerResult(f"a policy statement's Effect is {statement.get('Effect')!r}")
    for positive, negative in (("Action", "NotAction"), ("Resource", "NotResource")):
        values = statement.get(positive, statement.get(negative))
        if values is None or not all(isinstance(v, str) for v in _as_list(values)):
            raise MalformedAuthorizerResult(f"a policy statement has no valid {positive} or {negative}")


@lru_cache(maxsize=1024)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """An IAM pattern: ``*`` any run of characters (``/`` and ``:`` included), ``?`` any one."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _applies(statement: dict[str, Any], positive: str, negative: str, value: str, ignore_case: bool) -> bool:
    if positive in statement:
        return any(_wildcard(p, ignore_case).fullmatch(value) for p in _as_list(statement[positive]))
    return not any(_wildcard(p, ignore_case).fullmatch(value) for p in _as_list(statement[negative]))


def evaluate(policy: dict[str, Any], arn: str, action: str = INVOKE_ACTION) -> str:
    """ALLOW, EXPLICIT_DENY or IMPLICIT_DENY for ``action`` on ``arn`` (actions match case-insensitively,
    resources case-sensitively; Condition blocks are not evaluated)."""
    allowed = False
    for statement in _statements(policy):
        _check_statement(statement)
        if _applies(statement, "Action", "NotAction", action, True) and _applies(
            statement, "Resource", "NotResource", arn, False
        ):
            if statement["Effect"] == "Deny":
                return EXPLICIT_DENY
            allowed = True
    return ALLOW if allowed else IMPLICIT_DENY


class ResultCache:
    """Authorizer answers by (authorizer, token) for their TTL; thread-safe, bounded."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_entries: int = CACHE_MAX_ENTRIES) -> None:
        self._clock, self._max = clock, max_entries
        self._entries: dict[tuple[str, str], tuple[float, AuthorizerResult]] = {}
        self._lock = threading.Lock()

    def get(self, authorizer: str, token: str) -> AuthorizerResult | None:
        with self._lock:
            entry = self._entries.get((authorizer, token))
            if entry is None:
                return None
            if entry[0] <= self._clock():
                del self._entries[(authorizer, token)]
                return None
            return entry[1]

    def put(self, authorizer: str, token: str, result: AuthorizerResult, ttl: float) -> None:
        if ttl <= 0:
            return
        with self._lock:
            now = self._clock()
            if len(self._entries) >= self._max:
                self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
                if len(self._entries) >= self._max:
                    self._entries.clear()
            self._entries[(authorizer, token)] = (now + ttl, result)

    def __len__(self) -> int:
        return len(self._entries)
