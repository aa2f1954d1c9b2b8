"""The published API contract: ``openapi/synchub.json``, an OpenAPI 3.1 document generated from the
orders resolver's routes and the operations resolver's (the operators' ``/exceptions`` routes, merged
in: one API, one contract) (Powertools: summaries, ``responses=``, ``Header()`` parameters, the
pydantic models) plus the token endpoint described below, so the contract and the code cannot drift
apart. ``python -m synchub.openapi`` (``make openapi``) rewrites it, and the copy the orders Lambda
serves at ``GET /openapi.json`` (``functions/orders/openapi.json``, inside the code asset);
tests/unit/test_openapi.py fails when either is stale.

What Powertools emits is adjusted where it cannot say what the API does:

* Powertools adds a 422 ``HTTPValidationError`` response to every route when validation is on; this
  API answers validation errors 400 problem+json, so that response goes (``POST /orders`` keeps its
  own 422, ``idempotency-key-reused``) and so do the components only it used;
* ``GET /openapi.json`` needs no token: ``security: []`` (Powertools cannot emit an empty list);
* whole-number bounds Powertools writes as floats (``599.0``) are integers again;
* the token endpoint belongs to the channels domain (its own Lambda, no Powertools routes of its
  own to generate from); it is described here, from :data:`TOKEN_ENDPOINT`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "functions") not in sys.path:
    sys.path.insert(0, str(ROOT / "functions"))

DOCUMENT = ROOT / "openapi" / "synchub.json"
LAMBDA_COPY = ROOT / "functions" / "orders" / "openapi.json"
OPENAPI_VERSION = "3.1.0"
API_VERSION = "1"
STAGE = "/v1"
TOKEN_PATH = "/oauth2/token"
# Relative references in a Security Scheme resolve like any URL in the document: against the host
# serving it, not against `servers` paths. So the token URL names the stage too.
TOKEN_URL = STAGE + TOKEN_PATH
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
HTTP_VALIDATION_ERROR_REF = "#/components/schemas/HTTPValidationError"


DESCRIPTION = """\
The synchub API: sales channels submit orders and follow them.

**Authentication.** Each channel is an OAuth 2.0 client (client credentials grant). `POST /oauth2/token`
with the channel's `client_id` (the channel id) and `client_secret` returns a JWT access token; send it as
`Authorization: Bearer <token>`. The order belongs to the channel the token names: two channels may use
the same Idempotency-Key and the same channel order reference, and a channel never sees another's orders.

**Errors** are RFC 9457 problem details (`application/problem+json`); `type` is
`https://synchub.dev/problems/<slug>`:

| status | type slug | when |
|---|---|---|
| 400 | `validation-error` | the order does not match the schema (`errors`: pointer + detail) |
| 400 | `idempotency-key-missing` | no Idempotency-Key header |
| 400 | `idempotency-key-invalid` | not one Idempotency-Key of 8-128 characters of `A-Z a-z 0-9 - _ . :` |
| 400 | `correlation-id-invalid` | not one X-Correlation-Id of 1-128 characters of `A-Z a-z 0-9 - _ . : /` |
| 400 | `body-not-utf8` | the body is not UTF-8 |
| 400 | `body-not-json` | the body is empty or not JSON |
| 400 | `body-not-object` | the body is JSON but not an object |
| 400 | `json-too-deep` | arrays/objects nested more than 16 levels |
| 400 | `bad-request` | malformed headers or parameters (the event API Gateway passed on is not sound) |
| 401 | `unauthorized` | no valid access token |
| 403 | `channel-mismatch` | the body's `channel` is not the token's channel |
| 403 | `operator-not-a-channel` | the token is an operator's: operators use the exceptions API, not the orders API |
| 404 | `not-found` | no such resource, or no such order for this channel |
| 405 | `method-not-allowed` | the resource does not take the method (`Allow` lists those it takes) |
| 409 | `duplicate-channel-order` | the channel order reference was accepted under another key |
| 413 | `payload-too-large` | the body is larger than 64 KiB (65536 bytes) |
| 415 | `unsupported-media-type` | the body is not sent as `Content-Type: application/json` |
| 422 | `idempotency-key-reused` | the key was used before for a different order body |
| 422 | `order-unprocessable` | two lines share a line_id or a sku (`errors`) |
| 422 | `customer-blocked` | the customer is blocked in the ERP |
| 422 | `unknown-customer` | the customer is not in the ERP's customer list |
| 422 | `unknown-sku` | a line's SKU is not in the ERP's product list, or is discontinued there |
| 422 | `no-price` | a line without `unit_price` has no price in the ERP's price list |
| 429 | (API Gateway) | the channel's rate or quota is used up: retry after `Retry-After` seconds |

Nothing is written for any 4xx answer.

**Master data.** Once the ERP has sent its product, customer or price list, orders are checked against it
(a kind the ERP never sent is not checked). An order the master data refuses is one 422 problem typed by the
first that applies of `customer-blocked`, `unknown-customer`, `unknown-sku`, `no-price`; its `errors` list
every problem found, each with a pointer (`/customer/customer_id`, `/lines/<n>/sku`, `/lines/<n>/unit_price`).

**Prices.** `unit_price` is optional. A line with one keeps the channel's price. A line without one gets the
ERP price list's price for the customer's price group (else the STANDARD group) in the order's currency,
valid on the day the order is accepted; it is fixed on the order line (`price_source: "erp"`) and the
invoice carries it, whatever the price list says later. A retry under the same Idempotency-Key answers the
order accepted before, even if the master data changed in between.

**Business exceptions (operators).** What finance or the ERP refuses for good (an unknown account, a blocked
customer, a validation error) is kept as a business exception until an operator fixes the cause and resubmits
it, or discards it. The `/exceptions` routes take an operator's access token only: an operator is an OAuth 2.0
client like a channel (`synchub operators add <name>`), its token carries `role: operator`; a channel's token
gets 403 `operators-only` there, and an operator's gets 403 `operator-not-a-channel` on the orders routes.
Lists are newest first and paged (`limit` 1-100, `next_cursor`); a list never carries an exception's
`payload` (the order or invoice as it was refused, which may hold personal data), `GET /exceptions/{id}` does.

| status | type slug | when |
|---|---|---|
| 400 | `query-invalid` | `status`, `target` or `limit` is not a value it takes, or repeated (`invalid_params`) |
| 400 | `cursor-invalid` | the cursor is not one this API returned for the same status and target |
| 403 | `operators-only` | the token is a channel's |
| 404 | `exception-not-found` | no exception with this id (an id is `exc_` and 20 hex digits) |
| 409 | `exception-not-open` | resubmit or discard of an exception not OPEN (`exception_id`, `exception_status`) |
| 413 | `payload-too-large` | a discard body larger than 4096 bytes |
| 415 | `unsupported-media-type` | a discard body not sent as `Content-Type: application/json` |
| 422 | `discard-reason-invalid` | the discard's `reason` is missing, blank, over 500 characters, ... (`errors`) |

A discard's body that is not UTF-8, not JSON or not an object is 400 `body-not-utf8`, `body-not-json`,
`body-not-object`. Nothing is read or written for any 4xx answer of these routes.
"""

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "oauth2": {
        "type": "oauth2",
        "description": "OAuth 2.0 client credentials: the channel id is the client_id.",
        "flows": {"clientCredentials": {"tokenUrl": TOKEN_URL, "scopes": {}}},
    },
    "bearerJwt": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "The access token from POST /oauth2/token (HS256 JWT, `sub` = the channel).",
    },
    "clientBasic": {
        "type": "http",
        "scheme": "basic",
        "description": "Token endpoint client authentication: client_id:client_secret (client_secret_basic).",
    },
}
API_SECURITY: list[dict[str, list[str]]] = [{"oauth2": []}, {"bearerJwt": []}]


def _problem(description: str, **headers: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/problem+json": {"schema": PROBLEM_REF}},
    }
    if headers:
        response["headers"] = headers
    return response


_NO_STORE = {"description": "no-store: never cache a token", "schema": {"type": "string"}}

# POST /oauth2/token, as channels.handler.token_handler answers it (spec: the auth mechanism).
TOKEN_ENDPOINT: dict[str, Any] = {
    "post": {
        "tags": ["auth"],
        "summary": "Get an access token",
        "description": "OAuth 2.0 client credentials grant (RFC 6749 4.4). Authenticate the client with HTTP Basic "
        "(client_secret_basic) or with client_id and client_secret in the form (client_secret_post). Errors carry "
        "RFC 6749's `error` and `error_description` inside the problem.",
        "operationId": "getToken",
        "security": [{"clientBasic": []}, {}],
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": ["grant_type"],
                        "properties": {
                            "grant_type": {"type": "string", "const": "client_credentials"},
                            "client_id": {
                                "type": "string",
                                "pattern": "^[a-z0-9][a-z0-9\\-]{1,31}$",
                                "description": "The channel id (client_secret_post; omit with HTTP Basic)",
                            },
                            "client_secret": {
                                "type": "string",
                                "description": "The channel's secret (client_secret_post; omit with HTTP Basic)",
                            },
                        },
                    }
                }
            },
        },
        "responses": {
            "200": {
                "description": "An access token",
                "headers": {"Cache-Control": _NO_STORE},
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["access_token", "token_type", "expires_in"],
                            "properties": {
                                "access_token": {"type": "string", "description": "A JWT (HS256)"},
                                "token_type": {"type": "string", "const": "Bearer"},
                                "expires_in": {"type": "integer", "description": "Seconds the token is valid"},
                            },
                        }
                    }
                },
            },
            "400": _problem(
                "invalid-token-request (`error`: invalid_request) or unsupported-grant-type "
                "(`error`: unsupported_grant_type)",
                **{"Cache-Control": _NO_STORE},
            ),
            "401": _problem(
                "invalid-client (`error`: invalid_client): unknown client, wrong secret or revoked channel",
                **{
                    "WWW-Authenticate": {"description": 'Basic realm="synchub"', "schema": {"type": "string"}},
                    "Cache-Control": _NO_STORE,
                },
            ),
            "429": _problem(
                "Too many requests; retry after `Retry-After` seconds",
                **{"Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "string"}}},
            ),
        },
    }
}


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node)) if node else set()
    return set()


def _prune_components(document: dict[str, Any]) -> None:
    """Drop component schemas nothing refers to (any more), transitively."""
    schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
    prefix = "#/components/schemas/"
    outside = {k: v for k, v in document.items() if k != "components"}
    live: set[str] = set()
    todo = {r.removeprefix(prefix) for r in _refs(outside) if r.startswith(prefix)}
    while todo:
        name = todo.pop()
        if name in live or name not in schemas:
            continue
        live.add(name)
        todo |= {r.removeprefix(prefix) for r in _refs(schemas[name]) if r.startswith(prefix)}
    for name in list(schemas):
        if name not in live:
            del schemas[name]


def _integral(node: Any) -> Any:
    """Powertools' schema model types numeric bounds as floats (``maximum: 599.0``): whole numbers
    are written as integers again, as the pydantic models state them."""
    if isinstance(node, dict):
        return {k: _integral(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_integral(v) for v in node]
    if isinstance(node, float) and node.is_integer():
        return int(node)
    return node


def generate() -> dict[str, Any]:
    """The OpenAPI document, as a JSON-compatible dict."""
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")  # importing the handler makes a Tracer
    from aws_lambda_powertools.event_handler.openapi.models import Server, Tag

    from orders.handler import app

    document: dict[str, Any] = json.loads(
        app.get_openapi_json_schema(
            title="synchub API",
            version=API_VERSION,
            openapi_version=OPENAPI_VERSION,
            description=DESCRIPTION,
            servers=[
                Server(
                    url=STAGE,
                    description="The v1 stage on the API's host (CloudFormation output ApiUrl: "
                    "https://<api-id>.execute-api.<region>.amazonaws.com/v1)",
                )
            ],
            tags=[
                Tag(name="orders", description="Submit and follow orders"),
                Tag(name="auth", description="Access tokens for channels"),
                Tag(name="exceptions", description="Business exceptions, for operators"),
                Tag(name="meta", description="This document"),
            ],
            security_schemes=SECURITY_SCHEMES,  # type: ignore[arg-type]  # plain dicts; Powertools' models accept them
            security=API_SECURITY,
        )
    )
    _merge(document, _operations_document())
    if document.get("openapi") != OPENAPI_VERSION:  # Powertools emits 3.1.0 (pydantic v2 has no 3.0 schemas)
        raise RuntimeError(f"Powertools emitted OpenAPI {document.get('openapi')}, not {OPENAPI_VERSION}")
    for item in document["paths"].values():
        for operation in item.values():
            responses = operation["responses"]
            for status in [s for s, r in responses.items() if HTTP_VALIDATION_ERROR_REF in _refs(r)]:
                del responses[status]
    document["paths"]["/openapi.json"]["get"]["security"] = []
    document["paths"][TOKEN_PATH] = TOKEN_ENDPOINT
    _prune_components(document)
    return dict(_integral(document))


def _operations_document() -> dict[str, Any]:
    """The operations resolver's routes (``/exceptions``, functions/operations/handler.py) as an
    OpenAPI document of their own, to merge into the API's."""
    from operations.handler import app as operations_app

    return dict(
        json.loads(
            operations_app.get_openapi_json_schema(
                title="synchub API",
                version=API_VERSION,
                openapi_version=OPENAPI_VERSION,
                security_schemes=SECURITY_SCHEMES,  # type: ignore[arg-type]  # plain dicts, as above
                security=API_SECURITY,
            )
        )
    )


def _merge(document: dict[str, Any], other: dict[str, Any]) -> None:
    """Add ``other``'s paths and component schemas to ``document``. Both come from the same API, so
    a path is defined once and a schema both use (``Problem``) must come out the same."""
    for path, item in other.get("paths", {}).items():
        if path in document["paths"]:
            raise RuntimeError(f"{path} is defined by two resolvers")
        document["paths"][path] = item
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in other.get("components", {}).get("schemas", {}).items():
        if name in schemas and schemas[name] != schema:
            raise RuntimeError(f"the component schema {name} differs between the resolvers")
        schemas[name] = schema


def render(document: dict[str, Any]) -> str:
    """Stable text: sorted keys, two-space indent, a trailing newline."""
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def main() -> None:
    text = render(generate())
    for path in (DOCUMENT, LAMBDA_COPY):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
