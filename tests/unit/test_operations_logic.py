"""The business exceptions API's pure rules (functions/operations/logic.py): who may call, the
pre-flight's verdict on every kind of bad request, the paging cursor, the discard reason and what
an operator sees of an exception (no payload in a list)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from helpers import api_event
from operations import logic
from operations.models import CursorInvalid
from synchub_core.proxy_event import Refusal

EXC = "exc_0123456789abcdef0123"


def event(
    method: str,
    path: str,
    body: Any = None,
    *,
    role: str | None = "operator",
    principal: str | None = "ops-alice",
    resource: str | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    e = api_event(method, path, body, headers, channel=principal, resource=resource)
    if principal is not None and role is not None:
        e["requestContext"]["authorizer"]["role"] = role
    if query is not None:
        e["multiValueQueryStringParameters"] = query
        e["queryStringParameters"] = {k: v[-1] for k, v in query.items()}
    return e


def refusal(e: dict[str, Any]) -> Refusal:
    checked = logic.check(e)
    assert isinstance(checked, Refusal), checked
    return checked


ITEM = {
    "exception_id": EXC,
    "target": "erp",
    "entity_type": "order",
    "entity_id": "ord_1",
    "code": "customer-blocked",
    "reason": "customer CUST-0013 is blocked in ERP (credit hold)",
    "status": "OPEN",
    "raised_at": "2026-01-02T03:04:05.000Z",
    "first_raised_at": "2026-01-02T03:04:05.000Z",
    "updated_at": "2026-01-02T03:04:05.000Z",
    "attempts": 1,
    "refs": {"order_id": "ord_1", "channel": "webshop-nl"},
    "payload": '{"detail": {"data": {"customer": {"name": "Jane Roe"}}}}',
    "resubmit_queue_url": "https://sqs.eu-west-1.amazonaws.com/123456789012/ErpOrders",
    "history": [{"at": "2026-01-02T03:04:05.000Z", "status": "OPEN", "reason": "blocked"}],
}


# -- the principal ---------------------------------------------------------------------------------
def test_an_operator_passes_with_its_name() -> None:
    checked = logic.check(event("GET", "/exceptions"))
    assert isinstance(checked, logic.Request)
    assert checked.principal.name == "ops-alice" and checked.principal.operator
    assert checked.route == logic.LIST


@pytest.mark.parametrize("role", ["channel", None, "OPERATOR", "admin", ""])
def test_anything_but_an_operator_is_refused_403_operators_only(role: str | None) -> None:
    for method, path, body in [
        ("GET", "/exceptions", None),
        ("GET", f"/exceptions/{EXC}", None),
        ("POST", f"/exceptions/{EXC}/resubmit", None),
        ("POST", f"/exceptions/{EXC}/discard", {"reason": "x"}),
        ("GET", "/exceptions/not-an-id", None),  # a channel learns nothing, not even which ids are valid
        ("DELETE", "/exceptions", None),
    ]:
        got = refusal(event(method, path, body, role=role, principal="webshop-nl"))
        assert (got.status, got.slug) == (403, "operators-only")


def test_a_role_that_is_no_string_is_no_operator() -> None:
    e = event("GET", "/exceptions")
    e["requestContext"]["authorizer"]["role"] = ["operator"]
    assert refusal(e).slug == "operators-only"


def test_no_authorizer_context_or_a_malformed_principal_is_401() -> None:
    got = refusal(event("GET", "/exceptions", principal=None))
    assert (got.status, got.slug) == (401, "unauthorized")
    assert got.headers == {"WWW-Authenticate": 'Bearer realm="synchub"'}
    e = event("GET", "/exceptions")
    e["requestContext"]["authorizer"]["channel"] = "Not A Name"
    assert refusal(e).status == 401


# -- routes ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "resource", "allow"),
    [
        ("POST", "/exceptions", "/exceptions", "GET"),
        ("DELETE", f"/exceptions/{EXC}", "/exceptions/{exception_id}", "GET"),
        ("GET", f"/exceptions/{EXC}/resubmit", "/exceptions/{exception_id}/resubmit", "POST"),
        ("PUT", f"/exceptions/{EXC}/discard", "/exceptions/{exception_id}/discard", "POST"),
    ],
)
def test_other_methods_are_405_with_allow(method: str, path: str, resource: str, allow: str) -> None:
    got = refusal(event(method, path, resource=resource))
    assert (got.status, got.slug, got.headers) == (405, "method-not-allowed", {"Allow": allow})


def test_unknown_paths_are_404() -> None:
    assert refusal(event("GET", "/exceptions/a/b/c/d")).status == 404
    assert refusal(event("GET", "/orders")).status == 404


def test_a_custom_domain_base_path_is_cut_off_and_kept_in_the_instance() -> None:
    e = event("GET", f"/exceptions/{EXC}", resource="/exceptions/{exception_id}")
    e["path"] = f"/ops/exceptions/{EXC}"
    e["requestContext"]["path"] = f"/ops/exceptions/{EXC}"
    checked = logic.check(e)
    assert isinstance(checked, logic.Request)
    assert checked.event["path"] == f"/exceptions/{EXC}"
    assert checked.instance == f"/ops/exceptions/{EXC}"


def test_the_stage_is_in_the_instance() -> None:
    checked = logic.check(event("GET", "/exceptions"))
    assert isinstance(checked, logic.Request) and checked.instance == "/v1/exceptions"


@pytest.mark.parametrize(
    "broken",
    [
        "not an event",
        {"httpMethod": "GET"},
        {"httpMethod": "GET", "path": "exceptions"},
        {"httpMethod": "GET", "path": "/exceptions", "headers": {"a": 1}},
        {"httpMethod": "GET", "path": "/exceptions", "multiValueQueryStringParameters": {"a": "b"}},
        {"httpMethod": "GET", "path": "/exceptions", "requestContext": []},
    ],
)
def test_events_api_gateway_never_sends_are_400_bad_request(broken: Any) -> None:
    got = refusal(broken)
    assert (got.status, got.slug) == (400, "bad-request")


def test_a_repeated_query_parameter_is_400() -> None:
    got = refusal(event("GET", "/exceptions", query={"status": ["OPEN", "DISCARDED"]}))
    assert (got.status, got.slug) == (400, "query-invalid")
    assert got.extensions is not None
    assert [p["name"] for p in got.extensions["invalid_params"]] == ["status"]


# -- a discard's body ------------------------------------------------------------------------------
def discard(body: Any, **kw: Any) -> dict[str, Any]:
    return event("POST", f"/exceptions/{EXC}/discard", body, resource="/exceptions/{exception_id}/discard", **kw)


def test_a_sound_discard_body_is_passed_on_trimmed() -> None:
    checked = logic.check(discard({"reason": "  customer cancelled by phone \n"}))
    assert isinstance(checked, logic.Request)
    assert json.loads(checked.event["body"]) == {"reason": "customer cancelled by phone"}


@pytest.mark.parametrize(
    ("body", "status", "slug"),
    [
        (None, 422, "discard-reason-invalid"),
        ("", 422, "discard-reason-invalid"),
        ({}, 422, "discard-reason-invalid"),
        ({"reason": ""}, 422, "discard-reason-invalid"),
        ({"reason": "   "}, 422, "discard-reason-invalid"),
        ({"reason": "x" * 501}, 422, "discard-reason-invalid"),
        ({"reason": 42}, 422, "discard-reason-invalid"),
        ({"reason": None}, 422, "discard-reason-invalid"),
        ({"reason": "bad\u0000byte"}, 422, "discard-reason-invalid"),
        ({"reason": "ok", "by": "someone-else"}, 422, "discard-reason-invalid"),
        ("{not json", 400, "body-not-json"),
        ("NaN", 400, "body-not-json"),
        ('["reason"]', 400, "body-not-object"),
        ("[" * 100_000, 413, "payload-too-large"),
        ({"reason": "x" * 5000}, 413, "payload-too-large"),
    ],
)
def test_a_bad_discard_body_is_refused(body: Any, status: int, slug: str) -> None:
    got = refusal(discard(body))
    assert (got.status, got.slug) == (status, slug)


def test_500_characters_are_enough_and_allowed() -> None:
    assert isinstance(logic.check(discard({"reason": "é" * 500})), logic.Request)


def test_a_discard_body_must_be_json_and_utf8() -> None:
    got = refusal(discard({"reason": "x"}, headers={"Content-Type": "text/plain"}))
    assert (got.status, got.slug) == (415, "unsupported-media-type")
    e = discard(None)
    e.update(body=base64.b64encode(b'{"reason": "\xff"}').decode(), isBase64Encoded=True)
    assert refusal(e).slug == "body-not-utf8"
    e.update(body="%%%not base64", isBase64Encoded=True)
    assert refusal(e).slug == "body-not-utf8"
    e.update(body=base64.b64encode(b'{"reason": "fine"}').decode(), isBase64Encoded=True)
    assert isinstance(logic.check(e), logic.Request)


def test_a_discard_without_content_type_is_taken() -> None:
    e = discard({"reason": "x"})
    e["headers"] = {}
    e["multiValueHeaders"] = {}
    assert isinstance(logic.check(e), logic.Request)


# -- ids and the cursor ----------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["exc_0123", "EXC_0123456789abcdef0123", "exc_0123456789ABCDEF0123", f"{EXC}0", ""])
def test_ids_follow_the_pattern(bad: str) -> None:
    assert logic.valid_id(EXC)
    assert not logic.valid_id(bad)


def test_a_cursor_round_trips_for_its_own_query_only() -> None:
    cursor = logic.encode_cursor("OPEN", "erp", "inner-cursor")
    assert logic.decode_cursor(cursor, "OPEN", "erp") == "inner-cursor"
    for status, target in [("DISCARDED", "erp"), ("OPEN", None), ("OPEN", "finance")]:
        with pytest.raises(CursorInvalid, match="another query"):
            logic.decode_cursor(cursor, status, target)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "x",
        "!!!!",
        "a" * 3000,
        base64.urlsafe_b64encode(b"not json").decode().rstrip("="),
        base64.urlsafe_b64encode(b'["a"]').decode().rstrip("="),
        base64.urlsafe_b64encode(b'{"v":2,"s":"OPEN","t":null,"c":"x"}').decode().rstrip("="),
        base64.urlsafe_b64encode(b'{"v":1,"s":"OPEN","t":null,"c":""}').decode().rstrip("="),
        base64.urlsafe_b64encode(b'{"v":1,"s":"OPEN","t":null,"c":{"pk":"x"}}').decode().rstrip("="),
        base64.urlsafe_b64encode(b'{"v":1,"s":"OPEN","t":null,"c":"x","extra":1}').decode().rstrip("="),
    ],
)
def test_anything_else_is_no_cursor(bad: str) -> None:
    with pytest.raises(CursorInvalid):
        logic.decode_cursor(bad, "OPEN", None)


# -- what an operator sees -------------------------------------------------------------------------
def test_a_list_entry_has_no_payload_no_history_and_no_queue_url() -> None:
    shown = json.loads(logic.summary(ITEM).model_dump_json())
    assert "payload" not in shown and "history" not in shown and "resubmit_queue_url" not in shown
    assert shown["exception_id"] == EXC and shown["refs"] == ITEM["refs"] and shown["attempts"] == 1
    assert "Jane Roe" not in json.dumps(shown)


def test_the_answer_to_resubmit_and_discard_has_history_but_no_payload() -> None:
    shown = json.loads(logic.record(ITEM).model_dump_json())
    assert shown["history"][0]["status"] == "OPEN" and "payload" not in shown


def test_one_exception_in_full_has_its_payload() -> None:
    shown = json.loads(logic.detail(ITEM).model_dump_json())
    assert shown["payload"] == ITEM["payload"] and "resubmit_queue_url" not in shown


@pytest.mark.parametrize(
    ("reason", "ok"),
    [("fixed in ERP", True), ("line\nbreak\tand tab", True), ("", False), (" ", False), ("\x07", False)],
)
def test_reason_rules(reason: str, ok: bool) -> None:
    assert (logic.reason_problems(reason) is None) is ok
