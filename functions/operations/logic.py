"""The business exceptions API's rules, pure: who may call (operators only), which requests are
sound (the pre-flight: every bad request a 4xx problem before anything is read or written), the
paging cursor, and what an operator sees of an exception.

Order of the pre-flight checks: the event's shape (400 ``bad-request``), the principal (401
``unauthorized`` without one, 403 ``operators-only`` for a channel: a channel learns nothing, not
even whether a route or an id exists), the route (404 ``not-found``, 405 ``method-not-allowed``),
repeated query parameters (400 ``query-invalid``), and a discard's body (413, 415, 400
``body-not-utf8`` / ``body-not-json`` / ``body-not-object``, 422 ``discard-reason-invalid``).
The query's values, the cursor and the id are checked by the routes (400 ``query-invalid`` /
``cursor-invalid``, 404 ``exception-not-found``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from synchub_core.proxy_event import (
    JSON_MEDIA_TYPE,
    Refusal,
    base_path,
    malformed_proxy_event,
    media_type_is_json,
    safe_instance,
)

from .models import (
    EXCEPTION_ID,
    MAX_BODY_BYTES,
    MAX_CURSOR_CHARS,
    PRINCIPAL,
    CursorInvalid,
    DiscardRequest,
    ExceptionDetail,
    ExceptionRecord,
    ExceptionSummary,
    Principal,
)

LIST = "/exceptions"
ONE = "/exceptions/{exception_id}"
RESUBMIT = "/exceptions/{exception_id}/resubmit"
DISCARD = "/exceptions/{exception_id}/discard"
ROUTES: dict[str, tuple[str, ...]] = {LIST: ("GET",), ONE: ("GET",), RESUBMIT: ("POST",), DISCARD: ("POST",)}
WWW_AUTHENTICATE = 'Bearer realm="synchub"'
CURSOR_VERSION = 1
_B64URL = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Request:
    """A request that passed the pre-flight: ``event`` is what the resolver gets (the path within
    the API, a discard's body as checked UTF-8 JSON)."""

    event: dict[str, Any]
    principal: Principal
    route: str
    instance: str | None


# -- the principal ---------------------------------------------------------------------------------
def principal(event: Mapping[str, Any]) -> Principal | None:
    """Who the TOKEN authorizer authenticated: context ``channel`` (the client id) and ``role``
    (``channel`` or ``operator``; absent for a channel authorized before roles existed)."""
    context = event.get("requestContext")
    authorizer = context.get("authorizer") if isinstance(context, dict) else None
    if not isinstance(authorizer, dict):
        return None
    name, role = authorizer.get("channel"), authorizer.get("role")
    if not isinstance(name, str) or not PRINCIPAL.fullmatch(name):
        return None
    return Principal(name, role if isinstance(role, str) else None)


# -- paths -----------------------------------------------------------------------------------------
def _segments(path: str) -> list[str]:
    return path.strip("/").split("/") if path.strip("/") else []


def _matches(template: str, segments: list[str]) -> bool:
    parts = _segments(template)
    return len(parts) == len(segments) and all(
        (t.startswith("{") and s != "") or t == s for t, s in zip(parts, segments, strict=True)
    )


def resolve_route(event: Mapping[str, Any]) -> tuple[str, str] | None:
    """(route template, path within the API). API Gateway names the resource it matched; the path
    may carry a custom domain's base path before the API's own (cut off here)."""
    path = event.get("path")
    if not isinstance(path, str):
        return None
    segments = _segments(path)
    resource = event.get("resource")
    if isinstance(resource, str) and resource in ROUTES:
        size = len(_segments(resource))
        tail = segments[len(segments) - size :] if len(segments) >= size else []
        return (resource, "/" + "/".join(tail)) if _matches(resource, tail) else None
    for template in ROUTES:
        if _matches(template, segments):
            return template, "/" + "/".join(segments)
    return None


def public_path(event: Mapping[str, Any], within: str) -> str | None:
    """``within`` as the client called it (with the stage or base path before it), fit to echo as
    a problem's ``instance``; None when it is not."""
    return safe_instance(base_path(event, within) + within)


# -- the pre-flight --------------------------------------------------------------------------------
def _header(event: Mapping[str, Any], name: str) -> list[str]:
    lowered = name.lower()
    multi = event.get("multiValueHeaders")
    if isinstance(multi, dict) and multi:
        return [v for k, vs in multi.items() if k.lower() == lowered for v in vs]
    single = event.get("headers")
    return [v for k, v in single.items() if k.lower() == lowered] if isinstance(single, dict) else []


def _bad(detail: str) -> Refusal:
    return Refusal(400, "bad-request", "Bad request", detail)


def query_invalid(name: str, detail: str) -> Refusal:
    return Refusal(
        400,
        "query-invalid",
        "Query parameters are invalid",
        f"{name}: {detail}; nothing was read or written.",
        extensions={"invalid_params": [{"name": name, "reason": detail}]},
    )


def check(event: Any) -> Request | Refusal:
    """The pre-flight of one API Gateway proxy event (see the module docstring)."""
    malformed = malformed_proxy_event(event)
    if malformed is not None:
        return _bad(malformed)
    method = event["httpMethod"]
    who = principal(event)
    if who is None:
        return Refusal(
            401,
            "unauthorized",
            "Unauthorized",
            "Send an operator's access token from POST /oauth2/token as Authorization: Bearer <token>.",
            headers={"WWW-Authenticate": WWW_AUTHENTICATE},
        )
    if not who.operator:
        return Refusal(
            403,
            "operators-only",
            "Operators only",
            "Business exceptions are for operators: this access token belongs to a channel. An operator gets "
            "credentials with `synchub operators add <name>`.",
        )
    resolved = resolve_route(event)
    if resolved is None:
        return Refusal(404, "not-found", "Not found", "This API has no such resource.")
    route, within = resolved
    if method not in ROUTES[route]:
        allow = ", ".join(ROUTES[route])
        return Refusal(
            405, "method-not-allowed", "Method not allowed", f"{route} allows {allow} only.", headers={"Allow": allow}
        )
    multi_query = event.get("multiValueQueryStringParameters") or {}
    repeated = sorted(k for k, v in multi_query.items() if len(v) > 1)
    if route == LIST and repeated:
        return query_invalid(repeated[0], "given more than once: send each parameter once")
    cleaned = {**event, "path": within}
    if route == DISCARD:
        body = discard_body(event)
        if isinstance(body, Refusal):
            return body
        cleaned.update(body=body, isBase64Encoded=False)
        for name, multi in (("headers", False), ("multiValueHeaders", True)):
            given = event.get(name)
            if isinstance(given, dict) and given:
                kept = {k: v for k, v in given.items() if k.lower() != "content-type"}
                cleaned[name] = {**kept, "Content-Type": [JSON_MEDIA_TYPE] if multi else JSON_MEDIA_TYPE}
    return Request(cleaned, who, route, public_path(event, within))


def reason_problems(reason: Any) -> str | None:
    """Why ``reason`` is no discard reason, or None: a string of 1-500 characters (counted after
    trimming spaces) without control characters other than line breaks and tabs."""
    if not isinstance(reason, str):
        return "reason must be a string"
    trimmed = reason.strip()
    if not trimmed:
        return "reason is required: say why the exception is given up"
    if len(trimmed) > 500:
        return f"reason is {len(trimmed)} characters long; at most 500"
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in trimmed):
        return "reason has control characters"
    return None


def _reason_invalid(detail: str) -> Refusal:
    return Refusal(
        422,
        "discard-reason-invalid",
        "Discard needs a reason",
        f"{detail}; nothing was written.",
        extensions={"errors": [{"pointer": "/reason", "detail": detail}]},
    )


def discard_body(event: Mapping[str, Any]) -> str | Refusal:
    """A discard's body, as sound JSON text ``{"reason": "..."}``, or why it is refused."""
    content_types = _header(event, "Content-Type")
    if len(content_types) > 1 or (content_types and not media_type_is_json(content_types[0])):
        return Refusal(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            'Send the reason as JSON, {"reason": "..."}, with Content-Type: application/json.',
        )
    raw = event.get("body")
    raw = "" if raw is None else raw
    if not isinstance(raw, str):
        return _bad("The request body is not a string")
    too_large = Refusal(
        413,
        "payload-too-large",
        "Payload too large",
        f"The request body is larger than {MAX_BODY_BYTES} bytes; a discard carries one short reason.",
        extensions={"max_bytes": MAX_BODY_BYTES},
    )
    if len(raw) > MAX_BODY_BYTES * 2:
        return too_large
    try:
        data = base64.b64decode(raw, validate=True) if event.get("isBase64Encoded") is True else raw.encode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeEncodeError (lone surrogates) is a ValueError
        return Refusal(400, "body-not-utf8", "Request body is not UTF-8", "Send the body as UTF-8 encoded JSON.")
    if len(data) > MAX_BODY_BYTES:
        return too_large
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return Refusal(400, "body-not-utf8", "Request body is not UTF-8", "Send the body as UTF-8 encoded JSON.")
    if not text.strip():
        return _reason_invalid('reason is required: send {"reason": "..."}')
    try:
        document = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return Refusal(
            400, "body-not-json", "Request body is not JSON", "The request body is not a valid JSON document."
        )
    if not isinstance(document, dict):
        return Refusal(
            400, "body-not-object", "Request body is not a JSON object", 'Send one JSON object: {"reason": "..."}.'
        )
    extra = sorted(k for k in document if k != "reason")
    if extra:
        return Refusal(
            422,
            "discard-reason-invalid",
            "Discard needs a reason",
            f"Unknown member {extra[0]}: a discard takes only a reason; nothing was written.",
            extensions={"errors": [{"pointer": f"/{_pointer(k)}", "detail": "unknown member"} for k in extra]},
        )
    problem = reason_problems(document.get("reason"))
    if problem is not None:
        return _reason_invalid(problem)
    try:
        DiscardRequest.model_validate({"reason": document["reason"].strip()})
    except ValidationError:  # pragma: no cover - reason_problems states the same rules
        return _reason_invalid("reason is invalid")
    return json.dumps({"reason": document["reason"].strip()})


def _pointer(member: str) -> str:
    return member.replace("~", "~0").replace("/", "~1")[:64]


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# -- ids -------------------------------------------------------------------------------------------
def valid_id(exception_id: str) -> bool:
    return EXCEPTION_ID.fullmatch(exception_id) is not None


# -- the cursor ------------------------------------------------------------------------------------
def encode_cursor(status: str, target: str | None, inner: str) -> str:
    """An opaque cursor for the next page: the store's own cursor, bound to the query it pages
    (a cursor of one status or target used with another is refused, not misread)."""
    raw = json.dumps({"v": CURSOR_VERSION, "s": status, "t": target, "c": inner}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, status: str, target: str | None) -> str:
    """The store's cursor inside ``cursor``; :class:`CursorInvalid` for one this API did not return
    for this very query (status and target)."""
    if not (0 < len(cursor) <= MAX_CURSOR_CHARS) or not _B64URL.fullmatch(cursor) or len(cursor) % 4 == 1:
        raise CursorInvalid("not a cursor this API returned")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        document = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, RecursionError):
        raise CursorInvalid("not a cursor this API returned") from None
    if (
        not isinstance(document, dict)
        or set(document) != {"v", "s", "t", "c"}
        or document["v"] != CURSOR_VERSION
        or not isinstance(document["c"], str)
        or not document["c"]
    ):
        raise CursorInvalid("not a cursor this API returned")
    if document["s"] != status or document["t"] != target:
        raise CursorInvalid("the cursor pages another query: repeat its status and target, or start without cursor")
    return str(document["c"])


# -- what an operator sees -------------------------------------------------------------------------
def summary(item: Mapping[str, Any]) -> ExceptionSummary:
    """A list entry: no payload, no history, no queue URL."""
    return ExceptionSummary.model_validate(dict(item))


def record(item: Mapping[str, Any]) -> ExceptionRecord:
    """An exception with its history (the answer to resubmit and discard): no payload."""
    return ExceptionRecord.model_validate(dict(item))


def detail(item: Mapping[str, Any]) -> ExceptionDetail:
    """One exception in full: with its history and the payload a resubmission sends."""
    return ExceptionDetail.model_validate({**item, "payload": item.get("payload") or ""})
