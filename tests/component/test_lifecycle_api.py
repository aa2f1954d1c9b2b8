"""The lifecycle routes of the orders API through the real Lambda handler (API Gateway proxy
events) against moto: POST /orders/{id}/cancel, POST /orders/{id}/returns, GET /invoices/{id},
GET /credit-memos/{id}, GET /availability, POST /availability/query, and what GET /orders/{id}
shows of an order's shipments, invoices, returns and credit memos. Every problem answer is
checked to write nothing (the item counts of both tables before and after)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from helpers import Hub, api_event
from helpers.lifecycle import authorize, counts, receive, reserve, return_envelope, ship, utrecht
from helpers.reservation import FLOUR, YEAST, accept, outbox, position, stock

OTHER = "marketplace-x"  # a channel that does not own the orders


def call(
    ctx: Any,
    method: str,
    path: str,
    body: Any = None,
    *,
    key: str | None = None,
    channel: str | None = "webshop-nl",
    resource: str | None = None,
    params: dict[str, str] | None = None,
    query: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    from orders.handler import lambda_handler

    hdrs = dict(headers or {})
    if key is not None:
        hdrs["Idempotency-Key"] = key
    event = api_event(method, path, body, hdrs, channel=channel, resource=resource, path_params=params)
    if query is not None:
        event["multiValueQueryStringParameters"] = query
        event["queryStringParameters"] = {k: v[-1] for k, v in query.items()}
    resp = lambda_handler(event, ctx)
    merged = dict(resp.get("headers") or {})
    merged.update({k: ", ".join(v) for k, v in (resp.get("multiValueHeaders") or {}).items()})
    return resp["statusCode"], merged, json.loads(resp["body"]) if resp.get("body") else None


def cancel(ctx: Any, order_id: str, body: Any = None, key: str | None = "cancel-key-0001", **kw: Any) -> Any:
    return call(
        ctx,
        "POST",
        f"/orders/{order_id}/cancel",
        body,
        key=key,
        resource="/orders/{order_id}/cancel",
        params={"order_id": order_id},
        **kw,
    )


def returns(ctx: Any, order_id: str, body: Any, key: str | None = "return-key-0001", **kw: Any) -> Any:
    return call(
        ctx,
        "POST",
        f"/orders/{order_id}/returns",
        body,
        key=key,
        resource="/orders/{order_id}/returns",
        params={"order_id": order_id},
        **kw,
    )


def get_order(ctx: Any, order_id: str, **kw: Any) -> Any:
    return call(ctx, "GET", f"/orders/{order_id}", resource="/orders/{order_id}", params={"order_id": order_id}, **kw)


def get_invoice(ctx: Any, invoice_id: str, **kw: Any) -> Any:
    return call(
        ctx,
        "GET",
        f"/invoices/{invoice_id}",
        resource="/invoices/{invoice_id}",
        params={"invoice_id": invoice_id},
        **kw,
    )


def get_credit_memo(ctx: Any, credit_memo_id: str, **kw: Any) -> Any:
    return call(
        ctx,
        "GET",
        f"/credit-memos/{credit_memo_id}",
        resource="/credit-memos/{credit_memo_id}",
        params={"credit_memo_id": credit_memo_id},
        **kw,
    )


def is_problem(status: int, headers: dict[str, str], body: Any, expected: int, slug: str) -> bool:
    assert status == expected, body
    assert headers["Content-Type"] == "application/problem+json"
    assert body["type"] == f"https://synchub.dev/problems/{slug}", body
    assert body["status"] == expected
    return True


@pytest.fixture
def stocked(hub: Hub) -> None:
    stock(FLOUR, "UTR-A01", 50)
    stock(YEAST, "UTR-B01", 100)


@pytest.fixture
def reserved(hub: Hub, stocked: None) -> str:
    order_id = accept()
    assert reserve(hub, order_id) == "RESERVED"
    return order_id


@pytest.fixture
def shipped(hub: Hub, reserved: str) -> dict[str, Any]:
    """The sample order shipped in part (FLOUR 3 of 4, YEAST 10 of 10): SHIPPED, one invoice."""
    outcome = ship(
        reserved,
        [
            {"sku": FLOUR, "quantity": 3, "location_id": "UTR-A01"},
            {"sku": YEAST, "quantity": 10, "location_id": "UTR-B01"},
        ],
    )
    return {"order_id": reserved, "invoice_id": outcome.invoice_id, "shipment_id": outcome.shipment_id}


def released(hub: Hub, order_id: str) -> None:
    from fulfilment.logic import release
    from synchub_core.envelope import EventEnvelope

    (item,) = [i for i in outbox(hub, "OrderReserved") if i["event"]["entity_id"] == order_id]
    assert release(EventEnvelope.model_validate(item["event"]), {"wms.utrecht": utrecht()}) == "RELEASED"


def warehouse_answer(order_id: str, outcome: str, reason: str | None = None) -> str:
    from fulfilment.logic import answer
    from synchub_core.envelope import EventEnvelope

    envelope = {
        "event_id": str(uuid.uuid4()),
        "event_type": "OrderCancellationAnswered",
        "event_version": "1",
        "occurred_at": "2026-11-24T10:00:00Z",
        "correlation_id": "corr-answer",
        "causation_id": None,
        "source_system": "wms.utrecht",
        "entity_id": order_id,
        "sequence": 1,
        "data": {
            "order_id": order_id,
            "warehouse_id": "UTR",
            "outcome": outcome,
            "reason": reason,
            "answered_at": "2026-11-24T10:00:00Z",
        },
    }
    return answer(EventEnvelope.model_validate(envelope), {"wms.utrecht": utrecht()})


RETURN = {"rma_id": "RMA-100045-1", "reason": "damaged in transit", "lines": [{"line_id": "1", "quantity": 2}]}


# -- POST /orders/{order_id}/cancel ---------------------------------------------------------------


def test_cancelling_an_accepted_order_cancels_it_at_once_and_again_is_a_no_op(
    hub: Hub, lambda_context: Any, stocked: None
) -> None:
    order_id = accept()
    status, _, order = cancel(lambda_context, order_id, {"reason": "customer changed their mind"})
    assert status == 200
    assert order["order_id"] == order_id and order["state"] == "CANCELLED"
    assert order["cancellation"]["status"] == "CANCELLED"
    assert order["cancellation"]["reason"] == "customer changed their mind"
    assert order["closed"] == {FLOUR: 4, YEAST: 10} and order["allocations"] == []
    assert order["history"][-1]["state"] == "CANCELLED"
    before = counts(hub)
    again = cancel(lambda_context, order_id, {"reason": "customer changed their mind"}, key="cancel-key-0002")
    assert again[0] == 200 and again[2]["state"] == "CANCELLED" and again[2]["version"] == order["version"]
    assert counts(hub) == before
    events = [i["event"] for i in outbox(hub, "OrderCancelled")]
    assert len(events) == 1 and events[0]["data"]["released"] == []


def test_cancel_without_a_body_uses_the_default_reason(hub: Hub, lambda_context: Any, stocked: None) -> None:
    order_id = accept()
    status, _, order = cancel(lambda_context, order_id, None)
    assert status == 200, order
    assert order["state"] == "CANCELLED" and order["cancellation"]["reason"] == "cancelled by the channel"


def test_cancelling_a_reserved_order_gives_its_reservation_back(hub: Hub, lambda_context: Any, reserved: str) -> None:
    flour = position(FLOUR, "UTR-A01")
    assert flour is not None and (flour["reserved"], flour["available"]) == (4, 46)
    status, _, order = cancel(lambda_context, reserved, {"reason": "duplicate order"})
    assert status == 200 and order["state"] == "CANCELLED"
    flour, yeast = position(FLOUR, "UTR-A01"), position(YEAST, "UTR-B01")
    assert flour is not None and (flour["reserved"], flour["available"]) == (0, 50)
    assert yeast is not None and (yeast["reserved"], yeast["available"]) == (0, 100)
    (cancelled,) = [i["event"] for i in outbox(hub, "OrderCancelled")]
    assert sorted((a["sku"], a["quantity"]) for a in cancelled["data"]["released"]) == [(FLOUR, 4), (YEAST, 10)]
    (available,) = [i["event"] for i in outbox(hub, "StockAvailable") if i["event"]["data"]["cause"] == "cancellation"]
    assert available["data"]["skus"] == sorted([FLOUR, YEAST])


def test_cancelling_a_released_order_asks_the_warehouse_202(hub: Hub, lambda_context: Any, reserved: str) -> None:
    released(hub, reserved)
    status, _, order = cancel(lambda_context, reserved, {"reason": "too late?"})
    assert status == 202
    assert order["state"] == "RELEASED" and order["cancellation"]["status"] == "REQUESTED"
    (requested,) = [i["event"] for i in outbox(hub, "OrderCancellationRequested")]
    assert requested["data"]["warehouse_ids"] == ["UTR"]
    assert cancel(lambda_context, reserved, {"reason": "too late?"}, key="cancel-key-0002")[0] == 202  # no-op
    assert len(outbox(hub, "OrderCancellationRequested")) == 1
    flour = position(FLOUR, "UTR-A01")
    assert flour is not None and flour["reserved"] == 4  # still reserved until the warehouse answers

    assert warehouse_answer(reserved, "CONFIRMED") == "CANCELLED"
    status, _, order = get_order(lambda_context, reserved)
    assert order["state"] == "CANCELLED"
    flour = position(FLOUR, "UTR-A01")
    assert flour is not None and flour["reserved"] == 0


def test_a_cancellation_the_warehouse_refused_is_409_with_its_reason(
    hub: Hub, lambda_context: Any, reserved: str
) -> None:
    released(hub, reserved)
    assert cancel(lambda_context, reserved)[0] == 202
    assert warehouse_answer(reserved, "REFUSED", "already picked") == "REFUSED"
    before = counts(hub)
    status, headers, problem = cancel(lambda_context, reserved, key="cancel-key-0002")
    assert is_problem(status, headers, problem, 409, "order-not-cancellable")
    assert "already picked" in problem["detail"] and problem["state"] == "RELEASED"
    assert counts(hub) == before


def test_a_shipped_order_is_not_cancellable(hub: Hub, lambda_context: Any, shipped: dict[str, Any]) -> None:
    before = counts(hub)
    status, headers, problem = cancel(lambda_context, shipped["order_id"])
    assert is_problem(status, headers, problem, 409, "order-not-cancellable")
    assert problem["state"] == "SHIPPED" and "authorize a return" in problem["detail"]
    assert problem["instance"] == f"/v1/orders/{shipped['order_id']}/cancel"
    assert counts(hub) == before


def test_cancel_refusals_write_nothing(hub: Hub, lambda_context: Any, stocked: None) -> None:
    order_id = accept()
    before = counts(hub)
    assert is_problem(*cancel(lambda_context, order_id, channel=OTHER), 404, "not-found")
    assert is_problem(*cancel(lambda_context, "ord_" + "0" * 32), 404, "not-found")
    assert is_problem(*cancel(lambda_context, "not-an-order"), 404, "not-found")
    assert is_problem(*cancel(lambda_context, order_id, {"reason": "x" * 201}), 400, "validation-error")
    assert is_problem(*cancel(lambda_context, order_id, {"why": "no"}), 400, "validation-error")
    assert is_problem(*cancel(lambda_context, order_id, {"reason": "x"}, key=None), 400, "idempotency-key-missing")
    assert is_problem(*cancel(lambda_context, order_id, {"reason": "x"}, key="short"), 400, "idempotency-key-invalid")
    assert is_problem(*cancel(lambda_context, order_id, "[1]"), 400, "body-not-object")
    assert is_problem(*cancel(lambda_context, order_id, "{"), 400, "body-not-json")
    assert is_problem(*cancel(lambda_context, order_id, channel=None), 401, "unauthorized")
    assert counts(hub) == before


# -- POST /orders/{order_id}/returns ------------------------------------------------------------


def test_a_return_is_authorized_201_and_the_same_request_again_answers_200(
    hub: Hub, lambda_context: Any, shipped: dict[str, Any]
) -> None:
    order_id = shipped["order_id"]
    status, headers, body = returns(lambda_context, order_id, RETURN)
    assert status == 201 and headers["Content-Type"] == "application/json"
    assert body["rma_id"] == RETURN["rma_id"] and body["status"] == "AUTHORIZED"
    assert body["lines"] == [{"line_id": "1", "sku": FLOUR, "quantity": 2}]
    assert "request_hash" not in body
    (event,) = [i["event"] for i in outbox(hub, "ReturnAuthorized")]
    assert event["data"]["order_id"] == order_id and event["data"]["channel"] == "webshop-nl"

    before = counts(hub)
    again = returns(lambda_context, order_id, json.loads(json.dumps(RETURN, sort_keys=True)), key="return-key-0002")
    assert again[0] == 200 and again[2] == body
    assert counts(hub) == before

    _, _, order = get_order(lambda_context, order_id)
    assert [r["rma_id"] for r in order["returns"]] == [RETURN["rma_id"]]
    assert order["returns"][0]["status"] == "AUTHORIZED" and "request_hash" not in order["returns"][0]


def test_return_problems_write_nothing(hub: Hub, lambda_context: Any, shipped: dict[str, Any]) -> None:
    order_id = shipped["order_id"]
    assert returns(lambda_context, order_id, RETURN)[0] == 201
    before = counts(hub)

    status, headers, problem = returns(lambda_context, order_id, {**RETURN, "reason": "another reason"})
    assert is_problem(status, headers, problem, 409, "rma-conflict")
    assert RETURN["rma_id"] in problem["detail"]

    too_many = {
        "rma_id": "RMA-2",
        "reason": "x",
        "lines": [{"line_id": "2", "quantity": 1}, {"line_id": "1", "quantity": 2}],
    }
    status, headers, problem = returns(lambda_context, order_id, too_many)
    assert is_problem(status, headers, problem, 422, "return-exceeds-shipped")
    # FLOUR: 3 shipped, 2 authorized for RMA-100045-1 already
    assert problem["errors"] == [{"pointer": "/lines/1/quantity", "detail": "at most 1"}]

    unknown = {"rma_id": "RMA-3", "reason": "x", "lines": [{"line_id": "9", "quantity": 1}]}
    status, headers, problem = returns(lambda_context, order_id, unknown)
    assert is_problem(status, headers, problem, 422, "unknown-order-line")
    assert problem["errors"] == [{"pointer": "/lines/0/line_id", "detail": "not on the order"}]

    assert is_problem(
        *returns(lambda_context, order_id, {**RETURN, "rma_id": "RMA-4"}, channel=OTHER), 404, "not-found"
    )
    assert is_problem(*returns(lambda_context, "ord_" + "f" * 32, RETURN), 404, "not-found")
    for invalid in (
        {**RETURN, "lines": []},
        {**RETURN, "lines": [{"line_id": "1", "quantity": 0}]},
        {**RETURN, "rma_id": "RMA 1"},
        {**RETURN, "extra": True},
        {"rma_id": "RMA-5", "lines": [{"line_id": "1", "quantity": 1}]},
    ):
        status, headers, problem = returns(lambda_context, order_id, invalid)
        assert is_problem(status, headers, problem, 400, "validation-error")
        assert problem["errors"]
    assert is_problem(*returns(lambda_context, order_id, None), 400, "body-not-json")  # the body is required
    assert is_problem(*returns(lambda_context, order_id, RETURN, key=None), 400, "idempotency-key-missing")
    assert counts(hub) == before


def test_an_order_that_has_not_shipped_is_not_returnable(hub: Hub, lambda_context: Any, reserved: str) -> None:
    before = counts(hub)
    status, headers, problem = returns(lambda_context, reserved, RETURN)
    assert is_problem(status, headers, problem, 409, "order-not-returnable")
    assert problem["state"] == "RESERVED"
    assert counts(hub) == before


@pytest.mark.parametrize(
    "method, path, resource, allow",
    [
        ("GET", "/orders/{id}/cancel", "/orders/{order_id}/cancel", "POST"),
        ("PUT", "/orders/{id}/returns", "/orders/{order_id}/returns", "POST"),
        ("DELETE", "/invoices/inv_1", "/invoices/{invoice_id}", "GET"),
        ("POST", "/credit-memos/cm_1", "/credit-memos/{credit_memo_id}", "GET"),
        ("POST", "/availability", "/availability", "GET"),
        ("GET", "/availability/query", "/availability/query", "POST"),
    ],
)
def test_other_methods_are_405_with_allow(
    hub: Hub, lambda_context: Any, method: str, path: str, resource: str, allow: str
) -> None:
    before = counts(hub)
    status, headers, problem = call(
        lambda_context, method, path.replace("{id}", "ord_" + "1" * 32), {}, resource=resource
    )
    assert is_problem(status, headers, problem, 405, "method-not-allowed")
    assert headers["Allow"] == allow
    assert counts(hub) == before


# -- billing documents --------------------------------------------------------------------------


@pytest.fixture
def credited(hub: Hub, shipped: dict[str, Any]) -> dict[str, Any]:
    from invoicing.logic import credit_memo_id_for

    order_id = shipped["order_id"]
    authorize(order_id, "RMA-1", [("1", 1), ("2", 2)])
    assert receive(
        return_envelope(order_id, "RMA-1", [(FLOUR, 1, "RESALEABLE", "UTR-A01"), (YEAST, 2, "DAMAGED", "UTR-Q01")])
    ).created
    return {**shipped, "credit_memo_id": credit_memo_id_for(order_id, "RMA-1")}


def test_an_invoice_and_a_credit_memo_are_read_by_the_channel_that_owns_them(
    hub: Hub, lambda_context: Any, credited: dict[str, Any]
) -> None:
    status, headers, invoice = get_invoice(lambda_context, credited["invoice_id"])
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert invoice["invoice_id"] == credited["invoice_id"]
    assert invoice["references"]["order_id"] == credited["order_id"]
    assert [(li["sku"], li["quantity"]) for li in invoice["lines"]] == [(FLOUR, 3), (YEAST, 10)]
    assert invoice["invoice_number"].startswith("INV-SH01-")

    status, _, memo = get_credit_memo(lambda_context, credited["credit_memo_id"])
    assert status == 200
    assert memo["credit_memo_id"] == credited["credit_memo_id"]
    assert memo["credit_memo_number"].startswith("CM-SH01-") and memo["credit_memo_number"].endswith("-000001")
    assert [(li["invoice_id"], li["sku"], li["quantity"], li["condition"]) for li in memo["lines"]] == [
        (credited["invoice_id"], FLOUR, 1, "RESALEABLE"),
        (credited["invoice_id"], YEAST, 2, "DAMAGED"),
    ]


def test_billing_documents_of_another_channel_or_of_the_other_kind_are_404(
    hub: Hub, lambda_context: Any, credited: dict[str, Any]
) -> None:
    invoice_id, memo_id = credited["invoice_id"], credited["credit_memo_id"]
    before = counts(hub)
    assert is_problem(*get_invoice(lambda_context, invoice_id, channel=OTHER), 404, "not-found")
    assert is_problem(*get_credit_memo(lambda_context, memo_id, channel=OTHER), 404, "not-found")
    assert is_problem(*get_invoice(lambda_context, memo_id), 404, "not-found")  # a credit memo is no invoice
    assert is_problem(*get_credit_memo(lambda_context, invoice_id), 404, "not-found")
    assert is_problem(*get_invoice(lambda_context, "inv_" + "0" * 24), 404, "not-found")
    assert is_problem(*get_credit_memo(lambda_context, "cm_" + "0" * 24), 404, "not-found")
    assert is_problem(*get_invoice(lambda_context, invoice_id, channel=None), 401, "unauthorized")
    assert counts(hub) == before


def test_get_order_shows_shipments_invoices_returns_and_credit_memos(
    hub: Hub, lambda_context: Any, credited: dict[str, Any]
) -> None:
    order_id = credited["order_id"]
    status, _, order = get_order(lambda_context, order_id)
    assert status == 200
    assert order["state"] == "SHIPPED"
    assert order["shipped"] == {FLOUR: 3, YEAST: 10}
    (allocation,) = order["allocations"]  # still to ship
    assert (allocation["sku"], allocation["location_id"], allocation["quantity"]) == (FLOUR, "UTR-A01", 1)
    assert allocation.get("lot") is None
    (shipment,) = order["shipments"]
    assert shipment["shipment_id"] == credited["shipment_id"] and shipment["invoice_id"] == credited["invoice_id"]
    assert shipment["warehouse_id"] == "UTR"
    assert [(li["sku"], li["quantity"], li["location_id"]) for li in shipment["lines"]] == [
        (FLOUR, 3, "UTR-A01"),
        (YEAST, 10, "UTR-B01"),
    ]
    (invoice,) = order["invoices"]  # the whole document, with its lines
    assert invoice["invoice_id"] == credited["invoice_id"] and len(invoice["lines"]) == 2
    (ret,) = order["returns"]
    assert ret["rma_id"] == "RMA-1" and ret["status"] == "RECEIVED"
    assert ret["credit_memo_id"] == credited["credit_memo_id"] and ret["received_at"]
    (memo,) = order["credit_memos"]
    assert memo["credit_memo_id"] == credited["credit_memo_id"]
    assert [li["invoice_id"] for li in memo["lines"]] == [credited["invoice_id"]] * 2
    assert any("return RMA-1 authorized" in h["reason"] for h in order["history"])
    assert any("credit memo CM-SH01-" in h["reason"] for h in order["history"])
    # the rest ships and closes the order: INVOICED, two invoices
    ship(order_id, [{"sku": FLOUR, "quantity": 1, "location_id": "UTR-A01"}])
    _, _, order = get_order(lambda_context, order_id)
    assert order["state"] == "INVOICED" and len(order["invoices"]) == 2 and len(order["shipments"]) == 2
    assert order["allocations"] == []


def test_an_order_without_billing_shows_empty_lists(hub: Hub, lambda_context: Any, stocked: None) -> None:
    order_id = accept()
    _, _, order = get_order(lambda_context, order_id)
    for field in ("shipments", "invoices", "returns", "credit_memos"):
        assert order[field] == []
    assert order["cancellation"] is None and order["closed"] == {} and order["releases"] == {}


# -- availability -------------------------------------------------------------------------------


def test_availability_of_skus_by_location_and_in_total(hub: Hub, lambda_context: Any, reserved: str) -> None:
    stock(FLOUR, "UTR-A02", 7, quality_hold=2)
    status, _, found = call(lambda_context, "GET", "/availability", query={"sku": [FLOUR, YEAST]})
    assert status == 200, found
    assert [entry["sku"] for entry in found] == [FLOUR, YEAST]
    flour = found[0]
    assert flour["total"]["on_hand"] == 57 and flour["total"]["reserved"] == 4
    assert flour["total"]["quality_hold"] == 2 and flour["total"]["available"] == 51
    by_location = {loc["location_id"]: loc["available"] for loc in flour["locations"]}
    assert by_location == {"UTR-A01": 46, "UTR-A02": 5}
    assert found[1]["total"]["available"] == 90


def test_a_basket_is_answered_line_by_line(hub: Hub, lambda_context: Any, reserved: str) -> None:
    body = {"lines": [{"sku": FLOUR, "quantity": 46}, {"sku": YEAST, "quantity": 91}]}
    before = counts(hub)
    status, _, answer = call(lambda_context, "POST", "/availability/query", body)
    assert status == 200, answer
    promised = {line["sku"]: (line["available"], line["promise_now"]) for line in answer["lines"]}
    assert promised == {FLOUR: (46, True), YEAST: (90, False)}
    assert counts(hub) == before  # an inquiry reserves nothing


def test_availability_requests_that_cannot_be_answered_are_400(hub: Hub, lambda_context: Any, stocked: None) -> None:
    before = counts(hub)
    # the contract itself says 1-50 SKUs of the SKU pattern: the resolver refuses the rest, with pointers
    for query in ({}, {"sku": ["bad sku"]}, {"sku": [f"SKU-{n}" for n in range(51)]}):
        status, headers, problem = call(lambda_context, "GET", "/availability", query=query)
        assert is_problem(status, headers, problem, 400, "validation-error")
        assert problem["errors"] and all(e["pointer"].startswith("/sku") for e in problem["errors"]), problem
    status, headers, problem = call(lambda_context, "GET", "/availability", query={"sku": [FLOUR], "by": ["tomorrow"]})
    assert is_problem(status, headers, problem, 400, "validation-error")
    for body in (
        {"lines": []},
        {"lines": [{"sku": FLOUR, "quantity": 0}]},
        {"lines": [{"sku": FLOUR}]},
        {"lines": [{"sku": FLOUR, "quantity": 1}], "by": 0},  # a date is text, never seconds since 1970
    ):
        status, headers, problem = call(lambda_context, "POST", "/availability/query", body)
        assert status == 400, problem
        assert problem["type"].rsplit("/", 1)[1] in ("validation-error", "availability-request-invalid")
    assert is_problem(
        *call(lambda_context, "GET", "/availability", query={"sku": [FLOUR]}, channel=None), 401, "unauthorized"
    )
    assert counts(hub) == before
