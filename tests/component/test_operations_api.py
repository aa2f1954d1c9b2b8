"""The business exceptions API and ``synchub exceptions`` against moto: real exception records
(raised by the connectors' store), the operations handler invoked with API Gateway events whose
authorizer context names an operator or a channel, the resubmitted payload on its queue, and the
CLI's commands run in-process against the provisioned stack."""

from __future__ import annotations

import argparse
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from helpers import Hub, api_event
from synchub import exceptions as cli
from synchub.environment import HubEnvironment

FINANCE_QUEUE = "ConnectorsFinancePostingWorkerQueue"
ERP_QUEUE = "ConnectorsErpOrdersWorkerQueue"
PROBLEMS = "https://synchub.dev/problems/"
PAYLOAD_NAME = "Henrietta Quayle-Osei"  # a customer name only the payload holds


@pytest.fixture
def ops(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    """The environment the stack sets on the operations function."""
    from synchub_core.aws import reset_clients
    from synchub_core.config import reset_settings

    fn = next(f for f in hub.dep.functions.values() if f.handler == "operations.handler.lambda_handler")
    for key, value in fn.environment.items():
        monkeypatch.setenv(key, value)
    assert fn.environment["CONNECTORS_TABLE"] == hub.dep.tables["DataConnectorsTable"]
    reset_settings()
    reset_clients()
    yield hub
    reset_settings()
    reset_clients()


def payload(entity_id: str) -> str:
    return json.dumps({"detail": {"data": {"order_id": entity_id, "customer": {"name": PAYLOAD_NAME}}}})


def raise_one(
    hub: Hub, *, target: str = "erp", entity_id: str | None = None, code: str = "customer-blocked"
) -> tuple[str, str]:
    """A business exception as a connector raises it; (exception id, entity id)."""
    from connectors.api import raise_exception

    entity_id = entity_id or f"ord_{uuid.uuid4().hex}"
    queue = ERP_QUEUE if target == "erp" else FINANCE_QUEUE
    exc_id = raise_exception(
        target=target,
        entity_type="order" if target == "erp" else "invoice",
        entity_id=entity_id,
        code=code,
        reason="customer CUST-0013 is blocked in ERP (credit hold)"
        if target == "erp"
        else "finance has no account CUST-0199",
        payload=payload(entity_id),
        resubmit_queue_url=hub.queue(queue),
        refs={"order_id": entity_id, "channel": "webshop-nl"},
    )
    return exc_id, entity_id


def call(
    ctx: Any,
    method: str,
    path: str,
    body: Any = None,
    *,
    principal: str = "ops-alice",
    role: str | None = "operator",
    query: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    from operations.handler import lambda_handler

    parts = path.strip("/").split("/")
    resource = "/exceptions" + ("/{exception_id}" if len(parts) > 1 else "")
    resource += f"/{parts[2]}" if len(parts) > 2 else ""
    params = {"exception_id": parts[1]} if len(parts) > 1 else None
    event = api_event(method, path, body, channel=principal, resource=resource, path_params=params)
    if role is not None:
        event["requestContext"]["authorizer"]["role"] = role
    if query:
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    resp = lambda_handler(event, ctx)
    headers = dict(resp.get("headers") or {})
    headers.update({k: ", ".join(v) for k, v in (resp.get("multiValueHeaders") or {}).items()})
    return resp["statusCode"], headers, json.loads(resp["body"]) if resp.get("body") else None


def stored(hub: Hub, exc_id: str) -> dict[str, Any]:
    from synchub_core.ddb import from_ddb

    key = {"pk": {"S": f"EXCEPTION#{exc_id}"}, "sk": {"S": "EXCEPTION"}}
    item = hub.ddb.get_item(TableName=hub.dep.tables["DataConnectorsTable"], Key=key)["Item"]
    return from_ddb(item)


# -- the API ---------------------------------------------------------------------------------------
def test_an_operator_lists_open_exceptions_newest_first_without_payloads(ops: Hub, lambda_context: Any) -> None:
    first, _ = raise_one(ops)
    second, _ = raise_one(ops, target="finance", code="unknown-account")
    status, headers, body = call(lambda_context, "GET", "/exceptions")
    assert status == 200 and headers["Content-Type"] == "application/json"
    ids = [i["exception_id"] for i in body["items"]]
    assert set(ids) == {first, second} and body["next_cursor"] is None
    assert ids == sorted(ids, key=lambda i: next(x["raised_at"] for x in body["items"] if x["exception_id"] == i))[::-1]
    entry = next(i for i in body["items"] if i["exception_id"] == first)
    assert entry["target"] == "erp" and entry["status"] == "OPEN" and entry["code"] == "customer-blocked"
    assert entry["reason"] == "customer CUST-0013 is blocked in ERP (credit hold)" and entry["attempts"] == 1
    assert "payload" not in entry and PAYLOAD_NAME not in json.dumps(body)
    assert "resubmit_queue_url" not in entry
    status, _, only = call(lambda_context, "GET", "/exceptions", query={"target": "finance"})
    assert [i["exception_id"] for i in only["items"]] == [second]


def test_listing_is_paged_with_an_opaque_cursor(ops: Hub, lambda_context: Any) -> None:
    raised = {raise_one(ops)[0] for _ in range(5)}
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        status, _, body = call(lambda_context, "GET", "/exceptions", query=query)
        assert status == 200 and len(body["items"]) <= 2
        seen.extend(i["exception_id"] for i in body["items"])
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(raised) and pages == 3
    # a cursor is bound to its query, and a forged one is a 400, not a 500
    status, _, first = call(lambda_context, "GET", "/exceptions", query={"limit": "2"})
    for query in [
        {"limit": "2", "status": "DISCARDED", "cursor": first["next_cursor"]},
        {"cursor": "eyJwayI6IngifQ"},
        {"cursor": first["next_cursor"][:-3]},
    ]:
        status, _, problem = call(lambda_context, "GET", "/exceptions", query=query)
        assert (status, problem["type"]) == (400, PROBLEMS + "cursor-invalid"), query


def test_a_forged_inner_cursor_is_a_400(ops: Hub, lambda_context: Any) -> None:
    import base64

    from operations import logic

    raise_one(ops)
    forged_key = {"pk": "EXCEPTION#x", "sk": "OTHER", "exception_status": "RESOLVED", "raised_at": "z"}
    inner = base64.urlsafe_b64encode(json.dumps(forged_key).encode()).decode().rstrip("=")
    status, _, problem = call(
        lambda_context, "GET", "/exceptions", query={"cursor": logic.encode_cursor("OPEN", None, inner)}
    )
    assert status in (200, 400)  # moto may take the key; DynamoDB refuses it: never a 500
    if status == 400:
        assert problem["type"] == PROBLEMS + "cursor-invalid"


@pytest.mark.parametrize(
    "query", [{"status": "NEW"}, {"target": "wms"}, {"limit": "0"}, {"limit": "500"}, {"limit": "1.5"}]
)
def test_bad_queries_are_400(ops: Hub, lambda_context: Any, query: dict[str, str]) -> None:
    status, headers, problem = call(lambda_context, "GET", "/exceptions", query=query)
    assert status == 400 and headers["Content-Type"] == "application/problem+json"
    assert problem["type"] == PROBLEMS + "query-invalid" and problem["invalid_params"]


def test_show_has_the_payload_and_the_history(ops: Hub, lambda_context: Any) -> None:
    exc_id, entity_id = raise_one(ops)
    status, _, body = call(lambda_context, "GET", f"/exceptions/{exc_id}")
    assert status == 200
    assert body["payload"] == payload(entity_id) and PAYLOAD_NAME in body["payload"]
    assert body["entity_id"] == entity_id and body["refs"] == {"order_id": entity_id, "channel": "webshop-nl"}
    assert [h["status"] for h in body["history"]] == ["OPEN"]
    assert "resubmit_queue_url" not in body


def test_unknown_and_malformed_ids_are_404(ops: Hub, lambda_context: Any) -> None:
    for path in ["/exceptions/exc_00000000000000000000", "/exceptions/exc_nothex", "/exceptions/ord_1"]:
        status, _, problem = call(lambda_context, "GET", path)
        assert (status, problem["type"]) == (404, PROBLEMS + "exception-not-found"), path
    status, _, problem = call(lambda_context, "POST", "/exceptions/exc_00000000000000000000/resubmit")
    assert (status, problem["type"]) == (404, PROBLEMS + "exception-not-found")
    status, _, problem = call(lambda_context, "POST", "/exceptions/exc_00000000000000000000/discard", {"reason": "x"})
    assert (status, problem["type"]) == (404, PROBLEMS + "exception-not-found")


def test_resubmit_sends_the_payload_to_its_queue_once(ops: Hub, lambda_context: Any) -> None:
    exc_id, entity_id = raise_one(ops)
    status, _, body = call(lambda_context, "POST", f"/exceptions/{exc_id}/resubmit")
    assert status == 200 and body["status"] == "RESUBMITTED" and "payload" not in body
    assert body["history"][-1]["by"] == "ops-alice"
    (message,) = ops.receive(ERP_QUEUE)
    assert message["Body"] == payload(entity_id)
    assert message["MessageAttributes"]["synchub-resubmit-of"]["StringValue"] == exc_id
    assert stored(ops, exc_id)["exception_status"] == "RESUBMITTED"
    # a second resubmit (a double click, another operator) is a 409 and sends nothing
    status, _, problem = call(lambda_context, "POST", f"/exceptions/{exc_id}/resubmit", principal="ops-bob")
    assert (status, problem["type"]) == (409, PROBLEMS + "exception-not-open")
    assert problem["exception_status"] == "RESUBMITTED"
    assert problem["exception_id"] == exc_id
    assert ops.receive(ERP_QUEUE) == []
    status, _, listed = call(lambda_context, "GET", "/exceptions", query={"status": "RESUBMITTED"})
    assert [i["exception_id"] for i in listed["items"]] == [exc_id]


def test_an_exception_refused_again_reopens_and_can_be_resubmitted_again(ops: Hub, lambda_context: Any) -> None:
    exc_id, entity_id = raise_one(ops)
    assert call(lambda_context, "POST", f"/exceptions/{exc_id}/resubmit")[0] == 200
    assert raise_one(ops, entity_id=entity_id)[0] == exc_id  # the target refused the resubmission too
    _, _, body = call(lambda_context, "GET", f"/exceptions/{exc_id}")
    assert body["status"] == "OPEN" and body["attempts"] == 2
    assert [h["status"] for h in body["history"]] == ["OPEN", "RESUBMITTED", "OPEN"]
    assert call(lambda_context, "POST", f"/exceptions/{exc_id}/resubmit")[0] == 200
    assert len(ops.receive(ERP_QUEUE)) == 2


def test_discard_needs_a_reason_and_writes_nothing_without_one(ops: Hub, lambda_context: Any) -> None:
    exc_id, _ = raise_one(ops, target="finance")
    before = stored(ops, exc_id)
    bad = [(None, 422), ({}, 422), ({"reason": "  "}, 422), ({"reason": "x" * 501}, 422), ("[", 400)]
    for body, status_wanted in bad:
        status, _, problem = call(lambda_context, "POST", f"/exceptions/{exc_id}/discard", body)
        assert status == status_wanted, body
        assert problem["status"] == status_wanted
    assert stored(ops, exc_id) == before
    status, _, body = call(lambda_context, "POST", f"/exceptions/{exc_id}/discard", {"reason": "invoice voided"})
    assert status == 200 and body["status"] == "DISCARDED"
    last = body["history"][-1]
    assert (last["status"], last["by"], last["reason"]) == ("DISCARDED", "ops-alice", "invoice voided")
    assert ops.receive(FINANCE_QUEUE) == []  # nothing is sent
    for action, body_ in [("discard", {"reason": "again"}), ("resubmit", None)]:
        status, _, problem = call(lambda_context, "POST", f"/exceptions/{exc_id}/{action}", body_)
        assert (status, problem["exception_status"]) == (409, "DISCARDED")


def test_a_channel_token_cannot_see_or_act_on_exceptions(ops: Hub, lambda_context: Any) -> None:
    exc_id, _ = raise_one(ops)
    before = stored(ops, exc_id)
    for role in ("channel", None):
        for method, path, body in [
            ("GET", "/exceptions", None),
            ("GET", f"/exceptions/{exc_id}", None),
            ("POST", f"/exceptions/{exc_id}/resubmit", None),
            ("POST", f"/exceptions/{exc_id}/discard", {"reason": "not mine"}),
        ]:
            status, headers, problem = call(lambda_context, method, path, body, principal="webshop-nl", role=role)
            assert status == 403 and headers["Content-Type"] == "application/problem+json"
            assert problem["type"] == PROBLEMS + "operators-only"
            assert PAYLOAD_NAME not in json.dumps(problem) and exc_id not in json.dumps(problem.get("detail"))
    assert stored(ops, exc_id) == before
    assert ops.receive(ERP_QUEUE) == []


def test_without_an_authorizer_context_it_is_401(ops: Hub, lambda_context: Any) -> None:
    from operations.handler import lambda_handler

    resp = lambda_handler(api_event("GET", "/exceptions", channel=None), lambda_context)
    assert resp["statusCode"] == 401
    assert json.loads(resp["body"])["type"] == PROBLEMS + "unauthorized"


# -- synchub exceptions --------------------------------------------------------------------------
@pytest.fixture
def cli_env(hub: Hub) -> HubEnvironment:
    return HubEnvironment(
        endpoint=None,
        region="eu-west-1",
        queues={k: v["url"] for k, v in hub.dep.queues.items()},
        tables=hub.dep.tables,
        event_bus=hub.dep.bus_name,
    )


def run(env: HubEnvironment, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="synchub")
    cli.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return cli.command(env, args)


def test_cli_list_show_resubmit_and_discard(
    ops: Hub, cli_env: HubEnvironment, capsys: pytest.CaptureFixture[str]
) -> None:
    erp_id, order_id = raise_one(ops)
    fin_id, _ = raise_one(ops, target="finance", code="unknown-account")

    items, cursor = cli.list_exceptions(cli_env)
    assert {i["exception_id"] for i in items} == {erp_id, fin_id} and cursor is None
    assert all("payload" not in i for i in items)
    items, _ = cli.list_exceptions(cli_env, target="finance")
    assert [i["exception_id"] for i in items] == [fin_id]

    shown = cli.show(cli_env, erp_id)
    assert shown["payload"] == payload(order_id) and shown["status"] == "OPEN"

    done = cli.resubmit(cli_env, erp_id, by="cli:tester")
    assert done["status"] == "RESUBMITTED" and done["history"][-1]["by"] == "cli:tester"
    (message,) = ops.receive(ERP_QUEUE)
    assert message["Body"] == payload(order_id)
    assert message["MessageAttributes"]["synchub-resubmit-of"]["StringValue"] == erp_id

    done = cli.discard(cli_env, fin_id, "account closed", by="cli:tester")
    assert done["status"] == "DISCARDED"
    everything, _ = cli.list_exceptions(cli_env, status="all")
    assert {(i["exception_id"], i["status"]) for i in everything} == {(erp_id, "RESUBMITTED"), (fin_id, "DISCARDED")}
    assert cli.list_exceptions(cli_env)[0] == []

    with pytest.raises(cli.ExceptionsError, match="is RESUBMITTED, not OPEN"):
        cli.resubmit(cli_env, erp_id)
    with pytest.raises(cli.ExceptionsError, match="no business exception"):
        cli.show(cli_env, "exc_00000000000000000000")
    with pytest.raises(cli.ExceptionsError, match="not an exception id"):
        cli.show(cli_env, "ord_1")
    with pytest.raises(cli.ExceptionsError, match="reason"):
        cli.discard(cli_env, erp_id, "   ")
    with pytest.raises(cli.ExceptionsError, match="--status"):
        cli.list_exceptions(cli_env, status="NEW")


def test_cli_commands_print_and_exit(ops: Hub, cli_env: HubEnvironment, capsys: pytest.CaptureFixture[str]) -> None:
    exc_id, order_id = raise_one(ops)
    assert run(cli_env, "exceptions", "list") == 0
    out = capsys.readouterr().out
    assert exc_id in out and "customer CUST-0013 is blocked" in out and PAYLOAD_NAME not in out
    assert run(cli_env, "exceptions", "list", "--json", "--status", "open", "--target", "erp") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [i["exception_id"] for i in listed["items"]] == [exc_id] and listed["next_cursor"] is None
    assert run(cli_env, "exceptions", "show", exc_id) == 0
    out = capsys.readouterr().out
    assert PAYLOAD_NAME in out and "history" in out and order_id in out
    assert run(cli_env, "exceptions", "discard", exc_id, "--reason", "duplicate order") == 0
    assert "discarded" in capsys.readouterr().out
    assert run(cli_env, "exceptions", "resubmit", exc_id) == 2
    assert "DISCARDED" in capsys.readouterr().err
    assert run(cli_env, "exceptions", "show", exc_id, "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["status"] == "DISCARDED" and shown["history"][-1]["reason"] == "duplicate order"
    assert run(cli_env, "exceptions", "list") == 0
    assert "no OPEN business exceptions" in capsys.readouterr().out


def test_cli_pages_with_the_cursor_it_prints(ops: Hub, cli_env: HubEnvironment) -> None:
    raised = {raise_one(ops)[0] for _ in range(3)}
    first, cursor = cli.list_exceptions(cli_env, limit=2)
    assert len(first) == 2 and cursor
    second, cursor2 = cli.list_exceptions(cli_env, limit=2, cursor=cursor)
    assert {i["exception_id"] for i in first + second} == raised and cursor2 is None
    with pytest.raises(cli.ExceptionsError, match="--cursor"):
        cli.list_exceptions(cli_env, limit=2, cursor="garbage")


def test_cli_leaves_the_process_environment_as_it_was(ops: Hub, cli_env: HubEnvironment) -> None:
    import os

    before = dict(os.environ)
    cli.list_exceptions(cli_env)
    assert dict(os.environ) == before
