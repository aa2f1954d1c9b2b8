"""The shape of an API Gateway REST proxy event, as every API handler checks it first (pure: no
Powertools, no boto3)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

JSON_MEDIA_TYPE = "application/json"
_BASE_PATH = re.compile(r"(?:/[A-Za-z0-9._~\-]+)*")
_SAFE_INSTANCE = re.compile(r"[!-~]{1,2048}")  # printable ASCII, no spaces: fit to echo as `instance`


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


def media_type_is_json(value: str) -> bool:
    """``application/json``, optionally with ``charset=utf-8`` (the only encoding taken)."""
    media, _, params = value.partition(";")
    if media.strip().lower() != JSON_MEDIA_TYPE:
        return False
    for param in params.split(";"):
        name, _, val = param.partition("=")
        if name.strip().lower() == "charset" and val.strip().strip('"').lower() not in ("utf-8", "utf8"):
            return False
    return True


def base_path(event: Mapping[str, Any], within: str | None = None) -> str:
    """What stands before the API's own paths in the URL the client called: the stage
    (``/v1`` on the execute-api host) or a custom domain's base path mapping (``""`` for a root
    mapping). ``requestContext.path`` is the path as called, ``within`` the path within the API
    (default: the event's ``path``, once a pre-flight made it that); the base is the difference."""
    context = event.get("requestContext")
    called = context.get("path") if isinstance(context, dict) else None
    within = event.get("path") if within is None else within
    if not isinstance(called, str) or not isinstance(within, str):
        return ""
    called = called.rstrip("/") or "/"
    within = within.rstrip("/") or "/"
    if within == "/" or not called.endswith(within):
        return ""
    base = called[: len(called) - len(within)]
    return base if _BASE_PATH.fullmatch(base) else ""


def safe_instance(path: str) -> str | None:
    """``path`` if it is fit to echo as a problem's ``instance`` (printable ASCII, no spaces), else None."""
    return path if _SAFE_INSTANCE.fullmatch(path) else None
