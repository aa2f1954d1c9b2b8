"""The orders API's request pre-flight: every check a request passes before the resolver sees it.

API Gateway hands the Lambda what the client sent, within its own limits (10 MB, any bytes, any
header values), and the ``ANY`` fallback methods send it every method of a resource. Checking it
all here, in one place and before Powertools parses anything, keeps every bad request a 4xx
problem (RFC 9457) that writes nothing, and keeps the parsing the resolver does afterwards on
input already known to be sound. In order:

1. the event itself (shapes API Gateway always sends; anything else is 400 ``bad-request``);
2. the route: unknown path 404 ``not-found``; an operator's token on a route that needs a channel
   (403 ``operator-not-a-channel``: operators use the exceptions API); authentication for the
   routes that need it (401 ``unauthorized``); a method the route does not allow 405
   ``method-not-allowed`` + ``Allow``;
3. ``X-Correlation-Id`` (400 ``correlation-id-invalid``);
4. for a POST that takes a body (``/orders``, ``/orders/{id}/cancel`` (optional body),
   ``/orders/{id}/returns``, ``/availability/query``): ``Idempotency-Key`` where the route needs one
   (400 ``idempotency-key-missing`` / ``-invalid``),
   ``Content-Type`` (415 ``unsupported-media-type``), the body's size (413 ``payload-too-large``),
   encoding (400 ``body-not-utf8``), nesting (400 ``json-too-deep``, counted without recursion
   before any parser runs), syntax (400 ``body-not-json``) and top-level type (400 ``body-not-object``).

The channel comes from the credential only: ``requestContext.authorizer.channel``, set by the
TOKEN authorizer, next to the principal's ``role`` (``channel``, or ``operator`` for the operators
of the exceptions API, who are no sales channel). API Gateway never lets a protected request
through without it; if one came anyway, it is refused here (defence in depth), never guessed from
the body.

Pure functions of the event: no I/O, no logging (the handler logs the outcome).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from synchub_core.proxy_event import (
    JSON_MEDIA_TYPE,
    Refusal,
    base_path,
    malformed_proxy_event,
    media_type_is_json,
    safe_instance,
)

MAX_BODY_BYTES = 64 * 1024
MAX_JSON_DEPTH = 16
IDEMPOTENCY_KEY_CHARS = "A-Z a-z 0-9 - _ . :"
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9\-_.:]{8,128}")
CORRELATION_ID = re.compile(r"[A-Za-z0-9\-_.:/]{1,128}")
CHANNEL = re.compile(r"[a-z0-9][a-z0-9\-]{1,31}")
# a stage name or a custom domain's base path mapping: what may stand before the API's own paths
# a JSON string (possibly unterminated) or a bracket: strings are skipped whole, brackets counted
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)

WWW_AUTHENTICATE = 'Bearer realm="synchub"'


@dataclass(frozen=True)
class Route:
    """A resource of the API as API Gateway names it (``/orders/{order_id}``) and its methods.

    ``body``: what its POST takes: ``required`` (a JSON object), ``optional`` (a JSON object or
    nothing, which counts as ``{}``) or None (no POST). ``keyed``: its POST needs an Idempotency-Key."""

    template: str
    methods: tuple[str, ...]
    authenticated: bool
    body: str | None = None
    keyed: bool = False

    @property
    def segments(self) -> list[str]:
        return self.template.strip("/").split("/")

    def matches(self, segments: list[str]) -> bool:
        return len(segments) == len(self.segments) and all(
            (t.startswith("{") and t.endswith("}") and s != "") or t == s
            for t, s in zip(self.segments, segments, strict=True)
        )


ORDERS = Route("/orders", ("POST",), authenticated=True, body="required", keyed=True)
ORDER = Route("/orders/{order_id}", ("GET",), authenticated=True)
CANCEL = Route("/orders/{order_id}/cancel", ("POST",), authenticated=True, body="optional", keyed=True)
RETURNS = Route("/orders/{order_id}/returns", ("POST",), authenticated=True, body="required", keyed=True)
INVOICE = Route("/invoices/{invoice_id}", ("GET",), authenticated=True)
CREDIT_MEMO = Route("/credit-memos/{credit_memo_id}", ("GET",), authenticated=True)
AVAILABILITY = Route("/availability", ("GET",), authenticated=True)
AVAILABILITY_QUERY = Route("/availability/query", ("POST",), authenticated=True, body="required")
OPENAPI = Route("/openapi.json", ("GET",), authenticated=False)
ROUTES = (ORDERS, ORDER, CANCEL, RETURNS, INVOICE, CREDIT_MEMO, AVAILABILITY, AVAILABILITY_QUERY, OPENAPI)


@dataclass(frozen=True)
class Request:
    """A request that passed the pre-flight.

    ``event`` is what the resolver gets: the path relative to the API (a custom domain's base path
    mapping removed, no trailing slash), a ``POST`` body as checked UTF-8 text, ``Content-Type``
    normalised to ``application/json``.
    """

    event: dict[str, Any]
    route: Route
    channel: str | None
    correlation_id: str | None  # the client's X-Correlation-Id, when it sent a valid one
    idempotency_key: str | None


def _bad_event(detail: str) -> Refusal:
    return Refusal(400, "bad-request", "Bad request", detail)


def header_values(event: dict[str, Any], name: str) -> list[str]:
    """Every value of header ``name`` (any case), as the resolver reads it: ``multiValueHeaders``
    when the event has any, else ``headers``. (API Gateway sends both; ``headers`` keeps only the
    last of repeated values.)"""
    lowered = name.lower()
    multi = event.get("multiValueHeaders")
    if isinstance(multi, dict) and multi:
        return [v for k, vs in multi.items() if k.lower() == lowered for v in vs]
    single = event.get("headers")
    if isinstance(single, dict):
        return [v for k, v in single.items() if k.lower() == lowered]
    return []


def authenticated_channel(event: dict[str, Any]) -> str | None:
    """The channel the TOKEN authorizer authenticated (its context ``channel``), or None."""
    context = event.get("requestContext")
    authorizer = context.get("authorizer") if isinstance(context, dict) else None
    channel = authorizer.get("channel") if isinstance(authorizer, dict) else None
    return channel if isinstance(channel, str) and CHANNEL.fullmatch(channel) else None


OPERATOR_ROLE = "operator"


def min_shelf_life_days(event: dict[str, Any]) -> int:
    """The authenticated channel's minimum remaining shelf life for lots (authorizer context
    ``min_shelf_life_days``; 0 when it has none)."""
    context = event.get("requestContext")
    authorizer = context.get("authorizer") if isinstance(context, dict) else None
    value = authorizer.get("min_shelf_life_days") if isinstance(authorizer, dict) else None
    try:
        days = int(str(value)) if value is not None else 0
    except ValueError:
        return 0
    return days if 0 <= days <= 3650 else 0


def is_operator(event: dict[str, Any]) -> bool:
    """Whether the TOKEN authorizer authenticated an operator (its context ``role``), not a channel."""
    context = event.get("requestContext")
    authorizer = context.get("authorizer") if isinstance(context, dict) else None
    return isinstance(authorizer, dict) and authorizer.get("role") == OPERATOR_ROLE


def request_id(event: Any) -> str | None:
    """API Gateway's request id, if it has the shape of one (it seeds the correlation id)."""
    context = event.get("requestContext") if isinstance(event, dict) else None
    value = context.get("requestId") if isinstance(context, dict) else None
    return value if isinstance(value, str) and CORRELATION_ID.fullmatch(value) else None


def public_path(event: dict[str, Any], path: str) -> str:
    """``path`` (within the API) as the client reaches it: with the stage or base path before it."""
    return base_path(event) + path


def _resolve_route(event: dict[str, Any], path: str) -> tuple[Route, str] | None:
    """The route and the path within the API. API Gateway names the resource it matched
    (``resource``); the path may carry a custom domain's base path mapping before it
    (``/shop/orders/ord_1`` for the resource ``/orders/{order_id}``), which is cut off."""
    segments = path.strip("/").split("/") if path.strip("/") else []
    resource = event.get("resource")
    named = next((r for r in ROUTES if r.template == resource), None)
    if named is not None:
        tail = segments[len(segments) - len(named.segments) :] if len(segments) >= len(named.segments) else []
        if named.matches(tail):
            return named, "/" + "/".join(tail)
        return None
    found = next((r for r in ROUTES if r.matches(segments)), None)
    return (found, "/" + "/".join(segments)) if found else None


def json_too_deep(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``text`` nests arrays/objects deeper than ``limit``: a scan of brackets outside
    strings, no recursion and no parsing (so it is safe on any input, well-formed or not)."""
    depth = 0
    for token in _JSON_TOKEN.finditer(text):
        char = text[token.start()]
        if char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth = max(depth - 1, 0)
    return False


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _single_header(event: dict[str, Any], name: str) -> tuple[bool, str | None]:
    """(present, value): ``value`` is None when the header was sent more than once."""
    values = header_values(event, name)
    if not values:
        return False, None
    return True, values[0] if len(values) == 1 else None


def _decoded_body(event: dict[str, Any]) -> str | Refusal:
    raw = event.get("body")
    if raw is None:
        raw = ""
    if not isinstance(raw, str):
        return _bad_event("The request body is not a string")
    if event.get("isBase64Encoded") is True:
        if len(raw) > (MAX_BODY_BYTES + 2) // 3 * 4 + 4:
            return _too_large()
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            return _bad_event("The request body is not valid base64")
    else:
        if len(raw) > MAX_BODY_BYTES:  # at least one byte per character
            return _too_large()
        try:
            data = raw.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: the bytes sent were no UTF-8
            return _not_utf8()
    if len(data) > MAX_BODY_BYTES:
        return _too_large()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return _not_utf8()


def _too_large() -> Refusal:
    return Refusal(
        413,
        "payload-too-large",
        "Payload too large",
        f"The request body is larger than {MAX_BODY_BYTES} bytes; an order is far smaller.",
        extensions={"max_bytes": MAX_BODY_BYTES},
    )


def _not_utf8() -> Refusal:
    return Refusal(400, "body-not-utf8", "Request body is not UTF-8", "Send the order as UTF-8 encoded JSON.")


def _check_post(event: dict[str, Any], route: Route) -> tuple[str | None, str] | Refusal:
    """(Idempotency-Key, body text) of a POST to ``route``, or why it is refused."""
    key: str | None = None
    what = f"POST {route.template}"
    if route.keyed:
        present, key = _single_header(event, "Idempotency-Key")
        if not present:
            return Refusal(
                400,
                "idempotency-key-missing",
                "Idempotency-Key header required",
                f"Send a unique Idempotency-Key header (8-128 of {IDEMPOTENCY_KEY_CHARS}) with every POST /orders, "
                "POST /orders/{order_id}/cancel and POST /orders/{order_id}/returns; retries reuse the same key.",
            )
        if key is None or not IDEMPOTENCY_KEY.fullmatch(key):
            return Refusal(
                400,
                "idempotency-key-invalid",
                "Idempotency-Key header malformed",
                f"Idempotency-Key must be one header of 8-128 characters of {IDEMPOTENCY_KEY_CHARS}",
            )
    raw = event.get("body")
    if route.body == "optional" and (raw is None or raw == ""):
        return key, "{}"  # no body: the defaults
    _, content_type = _single_header(event, "Content-Type")
    if content_type is None or not media_type_is_json(content_type):
        return Refusal(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            f"{what} takes one JSON document: send Content-Type: application/json (UTF-8).",
        )
    text = _decoded_body(event)
    if isinstance(text, Refusal):
        return text
    if not text.strip():
        if route.body == "optional":
            return key, "{}"
        return Refusal(
            400, "body-not-json", "Request body is not JSON", f"The request body is empty: {what} takes a JSON object."
        )
    if json_too_deep(text):
        return Refusal(
            400,
            "json-too-deep",
            "Request body nested too deeply",
            f"The request body nests arrays and objects more than {MAX_JSON_DEPTH} levels deep.",
            extensions={"max_depth": MAX_JSON_DEPTH},
        )
    try:
        document = json.loads(text, parse_constant=_no_constants)
    except ValueError:  # JSONDecodeError, and integers longer than Python converts
        return Refusal(
            400, "body-not-json", "Request body is not JSON", "The request body is not a valid JSON document."
        )
    if not isinstance(document, dict):
        return Refusal(400, "body-not-object", "Request body is not a JSON object", f"{what} takes one JSON object.")
    return key, text


def _for_resolver(event: dict[str, Any], path: str, body: str | None) -> dict[str, Any]:
    cleaned = {**event, "path": path}
    if body is not None:
        cleaned.update(body=body, isBase64Encoded=False)
        for name, multi in (("headers", False), ("multiValueHeaders", True)):
            given = event.get(name)
            if isinstance(given, dict) and given:
                kept = {k: v for k, v in given.items() if k.lower() != "content-type"}
                cleaned[name] = {**kept, "Content-Type": [JSON_MEDIA_TYPE] if multi else JSON_MEDIA_TYPE}
    return cleaned


def check(event: Any) -> Request | Refusal:
    """Check a REST API proxy event; see the module docstring for what, and in which order."""
    malformed = malformed_proxy_event(event)
    if malformed is not None:
        return _bad_event(malformed)
    method, path = event["httpMethod"], event["path"]
    resolved = _resolve_route(event, path)
    if resolved is None:
        return Refusal(
            404, "not-found", "Not found", "This API has no such resource, or no such method on it", safe_instance(path)
        )
    route, within = resolved
    instance = safe_instance(public_path({**event, "path": within}, within))
    if route.authenticated and is_operator(event):
        return Refusal(
            403,
            "operator-not-a-channel",
            "Operator tokens cannot use the orders API",
            "This access token belongs to an operator: orders are submitted and read with a sales channel's "
            "token. Operators use the exceptions API.",
            instance,
        )
    channel = authenticated_channel(event) if route.authenticated else None
    if route.authenticated and channel is None:
        return Refusal(
            401,
            "unauthorized",
            "Unauthorized",
            "Send an access token from POST /oauth2/token as Authorization: Bearer <token>.",
            instance,
            headers={"WWW-Authenticate": WWW_AUTHENTICATE},
        )
    if method not in route.methods:
        allow = ", ".join(route.methods)
        return Refusal(
            405,
            "method-not-allowed",
            "Method not allowed",
            f"{route.template} allows {allow} only.",
            instance,
            headers={"Allow": allow},
        )
    present, correlation_id = _single_header(event, "X-Correlation-Id")
    if present and (correlation_id is None or not CORRELATION_ID.fullmatch(correlation_id)):
        return Refusal(
            400,
            "correlation-id-invalid",
            "X-Correlation-Id header malformed",
            "X-Correlation-Id must be one header of 1-128 characters of A-Z a-z 0-9 - _ . : /; "
            "omit it to use the request id.",
            instance,
        )
    key: str | None = None
    body: str | None = None
    if method == "POST" and route.body is not None:
        checked = _check_post(event, route)
        if isinstance(checked, Refusal):
            return Refusal(
                checked.status,
                checked.slug,
                checked.title,
                checked.detail,
                instance,
                checked.headers,
                checked.extensions,
            )
        key, body = checked
    return Request(_for_resolver(event, within, body), route, channel, correlation_id, key)
