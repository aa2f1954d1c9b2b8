"""The shape of an API Gateway REST proxy event, as every API handler checks it first (pure: no
Powertools, no boto3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Refusal:
    """A request refused before the resolver: the problem to answer with
    (``synchub_core.problem.refusal_response`` turns it into the proxy answer)."""

    status: int
    slug: str
    title: str
    detail: str
    instance: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, Any] = field(default_factory=dict)


def _string_map(value: Any, *, multi: bool) -> bool:
    """Whether ``value`` is None or a map of strings to strings (``multi``: to lists of strings)."""
    if value is None:
        return True
    if not isinstance(value, dict):
        return False
    return all(
        isinstance(k, str)
        and (isinstance(v, list) and all(isinstance(i, str) for i in v) if multi else isinstance(v, str))
        for k, v in value.items()
    )


def malformed_proxy_event(event: Any) -> str | None:
    """Why ``event`` is no well-formed API Gateway REST proxy event (method, path, headers and
    parameters as maps of strings, a request context), or None when it is one."""
    if not isinstance(event, dict):
        return "The event is not an API Gateway proxy event"
    method, path = event.get("httpMethod"), event.get("path")
    if not isinstance(method, str) or not isinstance(path, str) or not path.startswith("/"):
        return "The event is not an API Gateway proxy event"
    if not (
        _string_map(event.get("headers"), multi=False)
        and _string_map(event.get("multiValueHeaders"), multi=True)
        and _string_map(event.get("queryStringParameters"), multi=False)
        and _string_map(event.get("multiValueQueryStringParameters"), multi=True)
        and _string_map(event.get("pathParameters"), multi=False)
        and isinstance(event.get("requestContext", {}), dict)
    ):
        return "The request's headers or parameters are malformed"
    return None
