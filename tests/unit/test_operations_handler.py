"""The business exceptions API's handler (functions/operations/handler.py) against a fake exception
store: status codes, problem types and bodies, query validation, that a refused request never
reaches the store, and that nothing of a payload or a discard reason reaches the logs."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from connectors.models import ExceptionNotFound, ExceptionNotOpen
from helpers import Context, api_event

EXC = "exc_0123456789abcdef0123"
OTHER = "exc_ffffffffffffffffffff"
PAYLOAD = '{"customer": {"name": "Jane Roe", "email": "jane.roe@example.org"}}'


def item(exception_id: str = EXC, status: str = "OPEN", raised_at: str = "2026-01-02T03:04:05.000Z") -> dict[str, Any]:
    return {
        "exception_id": exception_id,
        "target": "finance",
        "entity_type": "invoice",
        "entity_id": "inv_1",
        "code": "unknown-account",
        "reason": "finance has no account CUST-0199",
        "status": status,
        "raised_at": raised_at,
        "updated_at": raised_at,
        "attempts": 1,
        "refs": {"invoice_id": "inv_1"},
        "payload": PAYLOAD,
        "resubmit_queue_url": "https://sqs.example/FinancePosting",
        "history": [{"at": raised_at, "status": "OPEN", "reason": "finance has no account CUST-0199"}],
    }


class FakeStore:
    """connectors.api's exception functions, in memory, recording every call."""

    ExceptionNotFound = ExceptionNotFound
    ExceptionNotOpen = ExceptionNotOpen

    def __init__(self) -> None:
        self.items = {EXC: item(), OTHER: item(OTHER, "DISCARDED")}
        self.calls: list[tuple[str, Any]] = []

    def list_exceptions(
        self, status: str = "OPEN", target: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        self.calls.append(("list", (status, target, limit, cursor)))
        if cursor is not None and cursor != "page-2":
            raise ValueError("cursor is not one this API returned")
        found = [i for i in self.items.values() if i["status"] == status and target in (None, i["target"])]
        if cursor is None and len(found) > limit:
            return found[:limit], "page-2"
        return found[limit:] if cursor else found, None

    def get_exception(self, exception_id: str) -> dict[str, Any]:
        self.calls.append(("get", exception_id))
        if exception_id not in self.items:
            raise ExceptionNotFound(exception_id)
        return dict(self.items[exception_id])

    def _move(self, exception_id: str, to: str, entry: dict[str, Any]) -> dict[str, Any]:
        found = self.items.get(exception_id)
        if found is None:
            raise ExceptionNotFound(exception_id)
        if found["status"] != "OPEN":
            raise ExceptionNotOpen(exception_id, found["status"])
        found.update(status=to, history=[*found["history"], entry])
        return dict(found)

    def resubmit(self, exception_id: str, by: str) -> dict[str, Any]:
        self.calls.append(("resubmit", (exception_id, by)))
        return self._move(exception_id, "RESUBMITTED", {"at": "now", "status": "RESUBMITTED", "by": by})

    def discard(self, exception_id: str, by: str, reason: str) -> dict[str, Any]:
        self.calls.append(("discard", (exception_id, by, reason)))
        return self._move(exception_id, "DISCARDED", {"at": "now", "status": "DISCARDED", "by": by, "reason": reason})


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> FakeStore:
    from operations import repository

    fake = FakeStore()
    monkeypatch.setattr(repository, "store", fake)
    return fake


def call(
    method: str,
    path: str,
    body: Any = None,
    *,
    role: str | None = "operator",
    query: dict[str, str] | None = None,
    resource: str | None = None,
    path_params: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    from operations.handler import lambda_handler

    e = api_event(method, path, body, channel="ops-alice", resource=resource, path_params=path_params)
    if role is not None:
        e["requestContext"]["authorizer"]["role"] = role
    if query is not None:
        e["queryStringParameters"] = query
        e["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    resp = lambda_handler(e, Context())
    headers = dict(resp.get("headers") or {})
    headers.update({k: ", ".join(v) for k, v in (resp.get("multiValueHeaders") or {}).items()})
    return resp["statusCode"], headers, json.loads(resp["body"]) if resp.get("body") else None


def one(exception_id: str, action: str | None = None) -> dict[str, Any]:
    suffix = f"/{action}" if action else ""
    return {
        "resource": "/exceptions/{exception_id}" + suffix,
        "path_params": {"exception_id": exception_id},
    }


def test_list_answers_a_page_without_payloads(store: FakeStore) -> None:
    status, headers, body = call("GET", "/exceptions")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert [i["exception_id"] for i in body["items"]] == [EXC] and body["next_cursor"] is None
    assert "payload" not in body["items"][0] and "Jane Roe" not in json.dumps(body)
    assert store.calls == [("list", ("OPEN", None, 50, None))]


def test_list_filters_and_pages_with_a_cursor_bound_to_its_query(store: FakeStore) -> None:
    store.items["exc_" + "1" * 20] = item("exc_" + "1" * 20, raised_at="2026-01-03T00:00:00.000Z")
    status, _, first = call("GET", "/exceptions", query={"status": "OPEN", "target": "finance", "limit": "1"})
    assert status == 200 and len(first["items"]) == 1 and first["next_cursor"]
    assert first["next_cursor"] != "page-2"  # opaque: the store's cursor is wrapped
    query = {"status": "OPEN", "target": "finance", "limit": "1", "cursor": first["next_cursor"]}
    status, _, second = call("GET", "/exceptions", query=query)
    assert status == 200 and len(second["items"]) == 1 and second["next_cursor"] is None
    assert store.calls[-1] == ("list", ("OPEN", "finance", 1, "page-2"))
    # the same cursor with another query is refused before the store sees it
    calls = len(store.calls)
    status, _, problem = call("GET", "/exceptions", query={**query, "target": "erp"})
    assert (status, problem["type"]) == (400, "https://synchub.dev/problems/cursor-invalid")
    assert len(store.calls) == calls


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ({"status": "open"}, "status"),
        ({"status": "all"}, "status"),
        ({"target": "sap"}, "target"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": ""}, "cursor"),
        ({"cursor": "c" * 2049}, "cursor"),
    ],
)
def test_bad_query_values_are_400_query_invalid(store: FakeStore, query: dict[str, str], name: str) -> None:
    status, headers, problem = call("GET", "/exceptions", query=query)
    assert status == 400 and headers["Content-Type"] == "application/problem+json"
    assert problem["type"] == "https://synchub.dev/problems/query-invalid"
    assert [p["name"] for p in problem["invalid_params"]] == [name]
    assert problem["instance"] == "/v1/exceptions"
    assert store.calls == []


@pytest.mark.parametrize("cursor", ["garbage", "Zm9v", "eyJ2IjoxfQ"])
def test_a_cursor_this_api_did_not_return_is_400(store: FakeStore, cursor: str) -> None:
    status, _, problem = call("GET", "/exceptions", query={"cursor": cursor})
    assert (status, problem["type"]) == (400, "https://synchub.dev/problems/cursor-invalid")
    assert store.calls == []


def test_a_cursor_the_store_refuses_is_400(store: FakeStore) -> None:
    from operations import logic

    status, _, problem = call("GET", "/exceptions", query={"cursor": logic.encode_cursor("OPEN", None, "forged")})
    assert (status, problem["type"]) == (400, "https://synchub.dev/problems/cursor-invalid")


def test_show_answers_the_exception_with_its_payload(store: FakeStore) -> None:
    status, _, body = call("GET", f"/exceptions/{EXC}", **one(EXC))
    assert status == 200
    assert body["payload"] == PAYLOAD and body["history"][0]["status"] == "OPEN"
    assert "resubmit_queue_url" not in body


def test_unknown_and_malformed_ids_are_404(store: FakeStore) -> None:
    unknown = "exc_" + "a" * 20
    status, _, problem = call("GET", f"/exceptions/{unknown}", **one(unknown))
    assert (status, problem["type"]) == (404, "https://synchub.dev/problems/exception-not-found")
    assert problem["exception_id"] == unknown
    calls = len(store.calls)
    for bad in ["exc_XYZ", "ord_123", "exc_" + "a" * 21]:
        for method, action, body in [
            ("GET", None, None),
            ("POST", "resubmit", None),
            ("POST", "discard", {"reason": "x"}),
        ]:
            path = f"/exceptions/{bad}" + (f"/{action}" if action else "")
            status, _, problem = call(method, path, body, **one(bad, action))
            assert (status, problem["type"]) == (404, "https://synchub.dev/problems/exception-not-found"), path
            assert "exception_id" not in problem
    assert len(store.calls) == calls  # a malformed id is never looked up


def test_resubmit_moves_an_open_exception_by_the_operator(store: FakeStore) -> None:
    status, _, body = call("POST", f"/exceptions/{EXC}/resubmit", **one(EXC, "resubmit"))
    assert status == 200 and body["status"] == "RESUBMITTED"
    assert body["history"][-1]["by"] == "ops-alice" and "payload" not in body
    assert store.calls == [("resubmit", (EXC, "ops-alice"))]
    status, _, problem = call("POST", f"/exceptions/{EXC}/resubmit", **one(EXC, "resubmit"))
    assert status == 409 and problem["type"] == "https://synchub.dev/problems/exception-not-open"
    assert problem["exception_status"] == "RESUBMITTED" and problem["exception_id"] == EXC
    assert problem["status"] == 409


def test_discard_needs_a_reason_and_an_open_exception(store: FakeStore) -> None:
    status, _, problem = call("POST", f"/exceptions/{EXC}/discard", {"reason": ""}, **one(EXC, "discard"))
    assert (status, problem["type"]) == (422, "https://synchub.dev/problems/discard-reason-invalid")
    assert problem["errors"][0]["pointer"] == "/reason"
    assert store.calls == []
    status, _, body = call("POST", f"/exceptions/{EXC}/discard", {"reason": " cancelled "}, **one(EXC, "discard"))
    assert status == 200 and body["status"] == "DISCARDED"
    assert store.calls == [("discard", (EXC, "ops-alice", "cancelled"))]
    status, _, problem = call("POST", f"/exceptions/{OTHER}/discard", {"reason": "again"}, **one(OTHER, "discard"))
    assert (status, problem["exception_status"]) == (409, "DISCARDED")


def test_a_channel_token_reaches_nothing(store: FakeStore) -> None:
    for method, path, body, extra in [
        ("GET", "/exceptions", None, {}),
        ("GET", f"/exceptions/{EXC}", None, one(EXC)),
        ("POST", f"/exceptions/{EXC}/resubmit", None, one(EXC, "resubmit")),
        ("POST", f"/exceptions/{EXC}/discard", {"reason": "x"}, one(EXC, "discard")),
    ]:
        for role in ("channel", None):
            status, headers, problem = call(method, path, body, role=role, **extra)
            assert status == 403 and headers["Content-Type"] == "application/problem+json"
            assert problem["type"] == "https://synchub.dev/problems/operators-only"
            assert problem["title"] == "Operators only"
    assert store.calls == []


def test_a_store_failure_is_a_500_problem_without_its_message(
    store: FakeStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(exception_id: str) -> dict[str, Any]:
        raise RuntimeError(f"boom {PAYLOAD}")

    monkeypatch.setattr(store, "get_exception", broken)
    with caplog.at_level(logging.INFO):
        status, _, problem = call("GET", f"/exceptions/{EXC}", **one(EXC))
    assert (status, problem["type"]) == (500, "https://synchub.dev/problems/internal-error")
    assert "Jane Roe" not in json.dumps(problem)
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "request failed" in logged and "RuntimeError" in logged and "Jane Roe" not in logged


def test_nothing_of_a_payload_or_a_reason_is_logged(store: FakeStore, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):  # the service's own log (Powertools' DEBUG internals are off in Lambda)
        call("GET", f"/exceptions/{EXC}", **one(EXC))
        call("POST", f"/exceptions/{EXC}/discard", {"reason": "Jane Roe called to cancel"}, **one(EXC, "discard"))
        call("GET", "/exceptions")
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "exception read" in logged and "exception discarded" in logged and "ops-alice" in logged
    assert "Jane Roe" not in logged and "jane.roe" not in logged
