"""The published API contract: openapi/synchub.json is generated from the orders resolver's routes
(``make openapi``), the Lambda serves the same bytes, and it is a valid OpenAPI 3.1 document that
says what the API does: its routes, status codes, headers, problem schema and security."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from synchub import openapi

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# What an OpenAPI 3.1 document must have to be one, checked without openapi-spec-validator (not a
# dependency of ours): the structure of the objects this document uses, after the specification.
ESSENTIALS: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["openapi", "info", "paths"],
    "properties": {
        "openapi": {"const": "3.1.0"},
        "info": {
            "type": "object",
            "required": ["title", "version"],
            "properties": {
                "title": {"type": "string"},
                "version": {"type": "string"},
                "description": {"type": "string"},
            },
        },
        "servers": {"type": "array", "items": {"type": "object", "required": ["url"]}},
        "paths": {
            "type": "object",
            "propertyNames": {"pattern": "^/"},
            "additionalProperties": {"$ref": "#/$defs/pathItem"},
        },
        "components": {
            "type": "object",
            "properties": {
                "schemas": {"type": "object", "additionalProperties": {"type": ["object", "boolean"]}},
                "securitySchemes": {"type": "object", "additionalProperties": {"$ref": "#/$defs/securityScheme"}},
            },
        },
        "security": {"$ref": "#/$defs/security"},
        "tags": {"type": "array", "items": {"type": "object", "required": ["name"]}},
    },
    "$defs": {
        "pathItem": {
            "type": "object",
            "propertyNames": {"enum": [*METHODS, "summary", "description", "servers", "parameters", "$ref"]},
            "patternProperties": {f"^({'|'.join(METHODS)})$": {"$ref": "#/$defs/operation"}},
        },
        "operation": {
            "type": "object",
            "required": ["responses"],
            "properties": {
                "operationId": {"type": "string"},
                "summary": {"type": "string"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "parameters": {"type": "array", "items": {"$ref": "#/$defs/parameter"}},
                "requestBody": {
                    "type": "object",
                    "required": ["content"],
                    "properties": {"content": {"$ref": "#/$defs/content"}},
                },
                "responses": {
                    "type": "object",
                    "minProperties": 1,
                    "propertyNames": {"pattern": "^([1-5][0-9]{2}|[1-5]XX|default)$"},
                    "additionalProperties": {"$ref": "#/$defs/response"},
                },
                "security": {"$ref": "#/$defs/security"},
            },
        },
        "parameter": {
            "type": "object",
            "required": ["name", "in"],
            "properties": {
                "name": {"type": "string"},
                "in": {"enum": ["query", "header", "path", "cookie"]},
                "required": {"type": "boolean"},
                "schema": {"type": ["object", "boolean"]},
            },
            "if": {"properties": {"in": {"const": "path"}}},
            "then": {"required": ["required"], "properties": {"required": {"const": True}}},
        },
        "response": {
            "type": "object",
            "required": ["description"],
            "properties": {
                "description": {"type": "string"},
                "headers": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "properties": {"schema": {"type": ["object", "boolean"]}},
                    },
                },
                "content": {"$ref": "#/$defs/content"},
            },
        },
        "content": {
            "type": "object",
            "propertyNames": {"pattern": "^[a-z]+/[a-z0-9.+\\-*]+$"},
            "additionalProperties": {
                "type": "object",
                "properties": {"schema": {"type": ["object", "boolean"]}},
            },
        },
        "security": {
            "type": "array",
            "items": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
        },
        "securityScheme": {
            "type": "object",
            "required": ["type"],
            "properties": {"type": {"enum": ["apiKey", "http", "mutualTLS", "oauth2", "openIdConnect"]}},
            "allOf": [
                {"if": {"properties": {"type": {"const": "http"}}}, "then": {"required": ["scheme"]}},
                {
                    "if": {"properties": {"type": {"const": "oauth2"}}},
                    "then": {
                        "required": ["flows"],
                        "properties": {
                            "flows": {
                                "type": "object",
                                "properties": {
                                    "clientCredentials": {
                                        "type": "object",
                                        "required": ["tokenUrl", "scopes"],
                                        "properties": {"tokenUrl": {"type": "string"}, "scopes": {"type": "object"}},
                                    }
                                },
                            }
                        },
                    },
                },
            ],
        },
    },
}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi.generate()


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (path, method): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return ([node["$ref"]] if isinstance(node.get("$ref"), str) else []) + [
            r for v in node.values() for r in refs(v)
        ]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def standalone(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    """``schema`` as a JSON Schema of its own: the document's component schemas as its ``$defs``."""
    whole = {**schema, "$defs": document["components"]["schemas"]}
    return dict(json.loads(json.dumps(whole).replace("#/components/schemas/", "#/$defs/")))


def test_the_committed_document_and_the_lambdas_copy_are_generated_from_the_routes(document: dict[str, Any]) -> None:
    rendered = openapi.render(document)
    assert openapi.DOCUMENT.read_text() == rendered, "openapi/synchub.json is stale: run `make openapi`"
    assert openapi.LAMBDA_COPY.read_text() == rendered, "functions/orders/openapi.json is stale: run `make openapi`"


def test_the_rendering_is_stable_sorted_and_ends_with_a_newline(document: dict[str, Any]) -> None:
    text = openapi.render(document)
    assert text.endswith("}\n") and not text.endswith("\n\n")
    assert openapi.render(json.loads(text)) == text
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"
    assert openapi.render(openapi.generate()) == text  # generating twice gives the same bytes


def test_it_is_an_openapi_3_1_document(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    jsonschema.Draft202012Validator.check_schema(ESSENTIALS)
    jsonschema.Draft202012Validator(ESSENTIALS).validate(document)
    ids = [op["operationId"] for op in operations(document).values()]
    assert len(ids) == len(set(ids))
    for ref in refs(document):  # every reference resolves inside the document
        target: Any = document
        assert ref.startswith("#/"), ref
        for part in ref.removeprefix("#/").split("/"):
            assert isinstance(target, dict) and part in target, ref
            target = target[part]
    for (path, _), operation in operations(document).items():
        declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        assert declared == {seg[1:-1] for seg in path.split("/") if seg.startswith("{")}, path
    schemes = set(document["components"]["securitySchemes"])
    for requirement in [
        *document["security"],
        *(r for op in operations(document).values() for r in op.get("security", [])),
    ]:
        assert set(requirement) <= schemes


def test_every_schema_in_it_is_a_valid_json_schema(document: dict[str, Any]) -> None:
    from helpers import sample

    for schema in document["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)
    order_in = jsonschema.Draft202012Validator(standalone(document["components"]["schemas"]["OrderIn"], document))
    body = sample("api-post-order.json")
    order_in.validate(body)
    order_in.validate({k: v for k, v in body.items() if k != "channel"})  # the channel is optional


def test_the_full_specification_validator_accepts_it_where_installed(document: dict[str, Any]) -> None:
    validator = pytest.importorskip("openapi_spec_validator")  # installed with moto, not a dependency of ours
    validator.validate(document)


def test_the_routes_are_the_resolvers_and_the_preflights(document: dict[str, Any]) -> None:
    from operations import logic as operations_logic
    from orders import preflight

    documented = {(path, method.upper()) for path, method in operations(document) if path != openapi.TOKEN_PATH}
    assert documented == {(r.template, m) for r in preflight.ROUTES for m in r.methods} | {
        (t, m) for t, methods in operations_logic.ROUTES.items() for m in methods
    }


def test_real_status_codes_per_route(document: dict[str, Any]) -> None:
    ops = operations(document)
    statuses = {key: set(op["responses"]) for key, op in ops.items()}
    assert statuses[("/orders", "post")] == {"202", "400", "401", "403", "409", "413", "415", "422", "429"}
    assert statuses[("/orders/{order_id}", "get")] == {"200", "400", "401", "403", "404", "429"}
    assert statuses[("/openapi.json", "get")] == {"200", "400", "429"}
    assert statuses[("/oauth2/token", "post")] == {"200", "400", "401", "429"}
    for (_, _), op in ops.items():
        for status, response in op["responses"].items():
            if status.startswith(("4", "5")):
                assert response["content"] == {"application/problem+json": {"schema": openapi.PROBLEM_REF}}
            if status == "401":
                assert "WWW-Authenticate" in response["headers"]
            if status == "429":
                assert "Retry-After" in response["headers"]
    accepted = ops[("/orders", "post")]["responses"]["202"]
    assert set(accepted["headers"]) == {"Location", "Idempotent-Replayed"}
    assert accepted["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/OrderReceipt"}
    assert ops[("/orders/{order_id}", "get")]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Order"
    }


def test_the_lifecycle_routes_document_their_outcomes(document: dict[str, Any]) -> None:
    ops = operations(document)
    statuses = {key: set(op["responses"]) for key, op in ops.items()}
    assert statuses[("/orders/{order_id}/cancel", "post")] == {
        "200", "202", "400", "401", "403", "404", "409", "415", "429"
    }  # fmt: skip
    assert statuses[("/orders/{order_id}/returns", "post")] == {
        "200", "201", "400", "401", "403", "404", "409", "415", "422", "429"
    }  # fmt: skip
    for path in ("/invoices/{invoice_id}", "/credit-memos/{credit_memo_id}"):
        assert statuses[(path, "get")] == {"200", "400", "401", "403", "404", "429"}
    assert statuses[("/availability", "get")] == {"200", "400", "401", "403", "429"}
    assert statuses[("/availability/query", "post")] == {"200", "400", "401", "403", "415", "429"}

    def schema(path: str, method: str, status: str) -> Any:
        return ops[(path, method)]["responses"][status]["content"]["application/json"]["schema"]

    assert schema("/orders/{order_id}/cancel", "post", "200") == {"$ref": "#/components/schemas/Order"}
    assert schema("/orders/{order_id}/cancel", "post", "202") == {"$ref": "#/components/schemas/Order"}
    for status in ("200", "201"):
        assert schema("/orders/{order_id}/returns", "post", status) == {
            "$ref": "#/components/schemas/ReturnAuthorization"
        }
    assert schema("/invoices/{invoice_id}", "get", "200") == {"$ref": "#/components/schemas/Invoice"}
    assert schema("/credit-memos/{credit_memo_id}", "get", "200") == {"$ref": "#/components/schemas/CreditMemo"}
    # the keyed POSTs require an Idempotency-Key; the problems they answer are named
    for path in ("/orders/{order_id}/cancel", "/orders/{order_id}/returns"):
        headers = {p["name"].lower(): p for p in ops[(path, "post")]["parameters"] if p["in"] == "header"}
        assert headers["idempotency-key"]["required"] is True
    returns = ops[("/orders/{order_id}/returns", "post")]["responses"]
    assert "order-not-returnable" in returns["409"]["description"] and "rma-conflict" in returns["409"]["description"]
    assert "return-exceeds-shipped" in returns["422"]["description"]
    assert "unknown-order-line" in returns["422"]["description"]
    assert "order-not-cancellable" in ops[("/orders/{order_id}/cancel", "post")]["responses"]["409"]["description"]
    assert "availability-request-invalid" in ops[("/availability", "get")]["responses"]["400"]["description"]
    # what GET /orders/{id} shows of the lifecycle
    order = document["components"]["schemas"]["Order"]["properties"]
    assert {"shipments", "invoices", "returns", "credit_memos", "closed", "cancellation", "releases"} <= set(order)
    memo = document["components"]["schemas"]["CreditMemo"]
    assert {"credit_memo_id", "credit_memo_number", "lines", "gross_total"} <= set(memo["required"])


def test_the_problem_schema_is_rfc_9457_with_extensions(document: dict[str, Any]) -> None:
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "instance"} <= set(problem["properties"])
    assert problem["additionalProperties"] is True
    assert problem["properties"]["status"]["type"] == "integer"
    validator = jsonschema.Draft202012Validator(standalone(problem, document))
    validator.validate(
        {"type": "https://synchub.dev/problems/not-found", "title": "Not found", "status": 404, "detail": "x"}
    )
    validator.validate({"type": "t", "title": "t", "detail": "d", "errorType": "THROTTLED", "requestId": "r"})


def test_headers_are_documented_as_parameters(document: dict[str, Any]) -> None:
    ops = operations(document)
    post = {p["name"].lower(): p for p in ops[("/orders", "post")]["parameters"] if p["in"] == "header"}
    assert post["idempotency-key"]["required"] is True
    assert post["idempotency-key"]["schema"]["pattern"] == "^[A-Za-z0-9\\-_.:]{8,128}$"
    assert post["x-correlation-id"]["required"] is False
    get = {p["name"].lower() for p in ops[("/orders/{order_id}", "get")]["parameters"] if p["in"] == "header"}
    assert get == {"x-correlation-id"}


def test_security_is_oauth2_client_credentials_with_a_bearer_jwt(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["oauth2"]["flows"]["clientCredentials"]["tokenUrl"] == "/v1/oauth2/token"
    assert schemes["bearerJwt"] == {**schemes["bearerJwt"], "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert document["servers"][0]["url"] == "/v1"
    assert document["security"] == [{"oauth2": []}, {"bearerJwt": []}]
    ops = operations(document)
    assert ops[("/openapi.json", "get")]["security"] == []  # no token needed
    token = ops[("/oauth2/token", "post")]
    assert "application/x-www-form-urlencoded" in token["requestBody"]["content"]
    assert token["security"] == [{"clientBasic": []}, {}]
    assert "orders" not in json.dumps(token)  # the token endpoint is not an orders route


def test_the_limits_the_document_states_are_the_code_s(document: dict[str, Any]) -> None:
    from orders import preflight

    description = document["info"]["description"]
    assert f"({preflight.MAX_BODY_BYTES} bytes)" in description
    assert f"more than {preflight.MAX_JSON_DEPTH} levels" in description
    assert "8-128" in description
    assert str(preflight.MAX_BODY_BYTES) in json.dumps(operations(document)[("/orders", "post")]["responses"]["413"])
