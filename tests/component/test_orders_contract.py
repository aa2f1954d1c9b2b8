"""The orders Lambda keeps the published contract (openapi/synchub.json): requests schemathesis
generates from the document, valid and invalid, go through the handler as API Gateway events, and
every answer has a status the document lists for the operation, with a body its schema takes."""

from __future__ import annotations

import base64
import json
from typing import Any

import jsonschema
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from helpers import ROOT, Hub, api_event

DOCUMENT: dict[str, Any] = json.loads((ROOT / "openapi" / "synchub.json").read_text())
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
OPERATIONS = {(op.method.upper(), op.path): op for op in (r.ok() for r in SCHEMA.get_all_operations())}
RESOURCES = {"/orders": "/orders", "/orders/{order_id}": "/orders/{order_id}", "/openapi.json": "/openapi.json"}


def body_schema(method: str, path: str, status: int, media_type: str) -> dict[str, Any]:
    response = DOCUMENT["paths"][path][method.lower()]["responses"][str(status)]
    schema = {**response["content"][media_type]["schema"], "$defs": DOCUMENT["components"]["schemas"]}
    return dict(json.loads(json.dumps(schema).replace("#/components/schemas/", "#/$defs/")))


def send(ctx: Any, case: Any) -> tuple[int, dict[str, str], Any]:
    from orders.handler import lambda_handler

    headers = {str(k): str(v) for k, v in (case.headers or {}).items()}
    if case.media_type:
        headers["Content-Type"] = case.media_type
    raw = isinstance(case.body, bytes)  # a negative case's body may be bytes of no particular encoding
    body = base64.b64encode(case.body).decode() if raw else json.dumps(case.body) if case.media_type else None
    event = api_event(
        case.method.upper(),
        case.formatted_path,
        body,
        headers,
        resource=RESOURCES[case.path],
        path_params=case.path_parameters or None,
    )
    event["isBase64Encoded"] = raw
    if not case.media_type:
        event["headers"].pop("Content-Type")
        event["multiValueHeaders"].pop("Content-Type")
    resp = lambda_handler(event, ctx)
    merged = dict(resp.get("headers") or {})
    merged.update({k: ", ".join(v) for k, v in (resp.get("multiValueHeaders") or {}).items()})
    return resp["statusCode"], merged, json.loads(resp["body"]) if resp.get("body") else None


def cases(method: str, path: str) -> st.SearchStrategy[Any]:
    operation = OPERATIONS[(method, path)]
    return st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )


@pytest.mark.parametrize("method, path", [("POST", "/orders"), ("GET", "/orders/{order_id}"), ("GET", "/openapi.json")])
def test_answers_are_what_the_document_says(hub: Hub, lambda_context: Any, method: str, path: str) -> None:
    documented = {int(s) for s in DOCUMENT["paths"][path][method.lower()]["responses"]}

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=cases(method, path))
    def check(case: Any) -> None:
        status, headers, body = send(lambda_context, case)
        assert status in documented, (status, body)
        media_type = headers["Content-Type"]
        jsonschema.Draft202012Validator(body_schema(method, path, status, media_type)).validate(body)
        if status == 202:
            assert headers["Location"] == body["status_url"]

    check()


def test_the_sample_order_is_accepted_as_documented(hub: Hub, lambda_context: Any, order_body: dict) -> None:
    case = OPERATIONS[("POST", "/orders")].Case(
        body=order_body, headers={"Idempotency-Key": "contract-key-0001"}, media_type="application/json"
    )
    status, _, body = send(lambda_context, case)
    assert status == 202
    jsonschema.Draft202012Validator(body_schema("POST", "/orders", 202, "application/json")).validate(body)
    order_id = body["order_id"]
    case = OPERATIONS[("GET", "/orders/{order_id}")].Case(path_parameters={"order_id": order_id})
    status, _, order = send(lambda_context, case)
    assert status == 200
    jsonschema.Draft202012Validator(body_schema("GET", "/orders/{order_id}", 200, "application/json")).validate(order)
