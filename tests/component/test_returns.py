"""Returns and credit memos through the real chain in moto: a return authorized on a shipped order
(ReturnAuthorized), received by the warehouse (ReturnReceived on the bus, routed by the template's
rule to the returns worker): exactly one credit memo per return, against the invoice lines it
credits (oldest invoice first), gap-free CM numbers, the units back in stock (resaleable into
available, damaged into quality_hold), CreditMemoIssued and StockAvailable in the outbox once.
A receipt the authorization does not cover is dead-lettered with the reason and writes nothing.
(Posting the credit memo to finance: tests/component/test_finance_credit_memos.py.)"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from helpers import Hub
from helpers.lifecycle import (
    REFUSAL_REASON,
    authorize,
    dead_letters,
    documents,
    drain_returns,
    outbox_events,
    put_return,
    receive,
    reserve,
    return_envelope,
    scan,
    ship,
)
from helpers.reservation import FLOUR, YEAST, accept, position, stock

YEAR = datetime.now(UTC).year


@pytest.fixture
def shipped(hub: Hub) -> dict[str, Any]:
    """The sample order (FLOUR x4 at 18.40, YEAST x10 at 3.95, 9 % tax) reserved at UTR-A01 / UTR-B01
    and shipped in two shipments: FLOUR 3 + YEAST 10, then FLOUR 1 (INVOICED)."""
    stock(FLOUR, "UTR-A01", 50)
    stock(YEAST, "UTR-B01", 100)
    order_id = accept()
    assert reserve(hub, order_id) == "RESERVED"
    first = ship(
        order_id,
        [
            {"sku": FLOUR, "quantity": 3, "location_id": "UTR-A01"},
            {"sku": YEAST, "quantity": 10, "location_id": "UTR-B01"},
        ],
    )
    second = ship(order_id, [{"sku": FLOUR, "quantity": 1, "location_id": "UTR-A01"}])
    return {"order_id": order_id, "invoices": [first.invoice_id, second.invoice_id]}


def memo_of(order_id: str, rma_id: str) -> dict[str, Any]:
    from invoicing.api import load_credit_memo

    memo = load_credit_memo(order_id, rma_id)
    assert memo is not None
    return memo


def stored_order(order_id: str) -> Any:
    from orders.repository import load

    order = load(order_id)
    assert order is not None
    return order


def returned_stock(hub: Hub) -> list[dict[str, Any]]:
    """StockAvailable events a return caused (the stock reports of the set-up cause their own)."""
    return [e for e in outbox_events(hub, "StockAvailable") if e["data"]["cause"] == "return"]


def everything(hub: Hub) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    key = lambda i: (i["pk"], i["sk"])  # noqa: E731
    return sorted(scan(hub), key=key), sorted(scan(hub, hub.inventory_table), key=key)


def test_a_received_return_issues_one_credit_memo_against_the_invoice_lines_it_credits(
    hub: Hub, lambda_context: Any, shipped: dict[str, Any]
) -> None:
    order_id = shipped["order_id"]
    authorization, created = authorize(order_id, "RMA-1", [("1", 2), ("2", 3)])  # type: ignore[misc]
    assert created and authorization.status == "AUTHORIZED"
    (event,) = outbox_events(hub, "ReturnAuthorized")
    assert event["data"]["lines"] == [
        {"line_id": "1", "sku": FLOUR, "quantity": 2},
        {"line_id": "2", "sku": YEAST, "quantity": 3},
    ]
    assert event["source_system"] == "synchub.orders" and event["data"]["rma_id"] == "RMA-1"

    put_return(
        hub,
        return_envelope(order_id, "RMA-1", [(FLOUR, 2, "RESALEABLE", "UTR-A01"), (YEAST, 3, "DAMAGED", "UTR-Q01")]),
    )
    assert drain_returns(hub, lambda_context) == []

    memo = memo_of(order_id, "RMA-1")
    first_invoice = shipped["invoices"][0]
    assert memo["credit_memo_number"] == f"CM-SH01-{YEAR}-000001"
    assert (memo["legal_entity"], memo["fiscal_year"], memo["sequence"]) == ("SH01", YEAR, 1)
    assert memo["references"]["order_id"] == order_id and memo["references"]["rma_id"] == "RMA-1"
    assert [(li["invoice_id"], li["line_id"], li["sku"], li["quantity"], li["condition"]) for li in memo["lines"]] == [
        (first_invoice, "1", FLOUR, 2, "RESALEABLE"),
        (first_invoice, "2", YEAST, 3, "DAMAGED"),
    ]
    assert all(li["invoice_number"] == f"INV-SH01-{YEAR}-000001" for li in memo["lines"])
    # 2 x 18.40 = 36.80 + 3.31 tax; 3 x 3.95 = 11.85 + 1.07 tax
    assert (memo["net_total"], memo["tax_total"], memo["gross_total"]) == ("48.65", "4.38", "53.03")

    order = stored_order(order_id)
    (ret,) = order.returns
    assert ret["status"] == "RECEIVED" and ret["credit_memo_id"] == memo["credit_memo_id"]
    assert order.credit_memos == [memo["credit_memo_id"]]
    assert order.state.value == "INVOICED"  # a return does not change the order's state

    # resaleable units back into on_hand and available; damaged ones into on_hand and quality_hold
    flour = position(FLOUR, "UTR-A01")
    assert flour is not None
    assert (flour["on_hand"], flour["reserved"], flour["quality_hold"], flour["available"]) == (48, 0, 0, 48)
    damaged = position(YEAST, "UTR-Q01")
    assert damaged is not None
    assert (damaged["on_hand"], damaged["reserved"], damaged["quality_hold"], damaged["available"]) == (3, 0, 3, 0)
    yeast = position(YEAST, "UTR-B01")
    assert yeast is not None and (yeast["on_hand"], yeast["available"]) == (90, 90)

    (issued,) = outbox_events(hub, "CreditMemoIssued")
    assert issued["data"] == memo and issued["entity_id"] == memo["credit_memo_id"]
    assert issued["source_system"] == "synchub.invoicing"
    (available,) = returned_stock(hub)
    assert available["data"]["skus"] == [FLOUR]  # only resaleable units make stock available
    assert available["data"]["cause"] == "return" and available["causation_id"] == issued["event_id"]


def test_a_return_receipt_delivered_again_changes_nothing(
    hub: Hub, lambda_context: Any, shipped: dict[str, Any]
) -> None:
    order_id = shipped["order_id"]
    authorize(order_id, "RMA-1", [("1", 1)])
    receipt = return_envelope(order_id, "RMA-1", [(FLOUR, 1, "RESALEABLE", "UTR-A01")])
    put_return(hub, receipt)
    assert drain_returns(hub, lambda_context) == []
    before = everything(hub)

    put_return(hub, receipt)  # the same event again (EventBridge delivers at least once)
    put_return(hub, {**receipt, "event_id": "00000000-0000-4000-8000-000000000001"})  # the WMS sent it twice
    assert drain_returns(hub, lambda_context) == []
    assert everything(hub) == before
    assert len(documents(hub, "CREDIT_MEMO")) == 1
    assert len(outbox_events(hub, "CreditMemoIssued")) == 1 and len(returned_stock(hub)) == 1
    assert dead_letters(hub) == []


def test_credit_memos_are_numbered_without_gaps_and_credit_the_oldest_invoice_first(
    hub: Hub, lambda_context: Any, shipped: dict[str, Any]
) -> None:
    order_id = shipped["order_id"]
    first, second = shipped["invoices"]
    for n, quantity in enumerate([2, 1, 1], start=1):
        authorize(order_id, f"RMA-{n}", [("1", quantity)])
        put_return(hub, return_envelope(order_id, f"RMA-{n}", [(FLOUR, quantity, "RESALEABLE", "UTR-A01")]))
        assert drain_returns(hub, lambda_context) == []
    memos = [memo_of(order_id, f"RMA-{n}") for n in (1, 2, 3)]
    assert [m["credit_memo_number"] for m in memos] == [f"CM-SH01-{YEAR}-00000{n}" for n in (1, 2, 3)]
    assert [[(li["invoice_id"], li["quantity"]) for li in m["lines"]] for m in memos] == [
        [(first, 2)],
        [(first, 1)],  # the first invoice's third unit
        [(second, 1)],  # then the second invoice
    ]
    # everything returned: credited exactly what was invoiced for the line, to the cent
    invoiced = sum(
        Decimal(li["gross_amount"]) for inv in documents(hub, "INVOICE") for li in inv["lines"] if li["sku"] == FLOUR
    )
    assert sum(Decimal(m["gross_total"]) for m in memos) == invoiced
    # nothing more can be authorized for the line
    from orders.models import ReturnExceedsShipped

    with pytest.raises(ReturnExceedsShipped):
        authorize(order_id, "RMA-4", [("1", 1)])
    flour = position(FLOUR, "UTR-A01")
    assert flour is not None and (flour["on_hand"], flour["available"]) == (50, 50)


def test_a_receipt_for_an_rma_the_order_does_not_have_is_dead_lettered_with_the_reason(
    hub: Hub, lambda_context: Any, shipped: dict[str, Any]
) -> None:
    order_id = shipped["order_id"]
    before = everything(hub)
    put_return(hub, return_envelope(order_id, "RMA-404", [(FLOUR, 1, "RESALEABLE", "UTR-A01")]))
    assert drain_returns(hub, lambda_context) == []  # refused: dead-lettered at once, not retried
    (dead,) = dead_letters(hub)
    reason = dead["MessageAttributes"][REFUSAL_REASON]["StringValue"]
    assert "RMA-404" in reason and "no such return authorization" in reason
    assert everything(hub) == before


def test_a_receipt_of_more_than_was_authorized_is_dead_lettered_and_writes_nothing(
    hub: Hub, lambda_context: Any, shipped: dict[str, Any]
) -> None:
    order_id = shipped["order_id"]
    authorize(order_id, "RMA-1", [("1", 1)])
    before = everything(hub)
    put_return(
        hub,
        return_envelope(order_id, "RMA-1", [(FLOUR, 1, "RESALEABLE", "UTR-A01"), (FLOUR, 1, "DAMAGED", "UTR-Q01")]),
    )
    put_return(hub, return_envelope(order_id, "RMA-1", [(YEAST, 1, "RESALEABLE", "UTR-B01")]))  # not authorized
    assert drain_returns(hub, lambda_context) == []
    reasons = sorted(m["MessageAttributes"][REFUSAL_REASON]["StringValue"] for m in dead_letters(hub))
    assert len(reasons) == 2
    assert any(f"brings back 2 x {FLOUR}; 1 were authorized" in r for r in reasons)
    assert any(f"brings back 1 x {YEAST}; 0 were authorized" in r for r in reasons)
    assert everything(hub) == before
    # the return is still open: the right receipt is credited afterwards
    put_return(hub, return_envelope(order_id, "RMA-1", [(FLOUR, 1, "DAMAGED", "UTR-Q01")]))
    assert drain_returns(hub, lambda_context) == []
    assert memo_of(order_id, "RMA-1")["credit_memo_number"] == f"CM-SH01-{YEAR}-000001"


def test_a_receipt_from_another_site_or_about_another_site_s_location_is_refused(
    hub: Hub, lambda_context: Any, shipped: dict[str, Any]
) -> None:
    order_id = shipped["order_id"]
    authorize(order_id, "RMA-1", [("1", 1)])
    before = everything(hub)
    put_return(hub, return_envelope(order_id, "RMA-1", [(FLOUR, 1, "RESALEABLE", "UTR-A01")]), source="wms.tilburg")
    put_return(hub, return_envelope(order_id, "RMA-1", [(FLOUR, 1, "RESALEABLE", "TLB-A01")]))
    assert drain_returns(hub, lambda_context) == []
    reasons = sorted(m["MessageAttributes"][REFUSAL_REASON]["StringValue"] for m in dead_letters(hub))
    assert len(reasons) == 2
    assert any("names warehouse UTR, which is not its own" in r for r in reasons)
    assert any("names location TLB-A01" in r for r in reasons)
    assert everything(hub) == before


def test_a_partial_receipt_credits_only_what_came_back(hub: Hub, shipped: dict[str, Any]) -> None:
    """The warehouse may receive fewer units than authorized: the credit memo is for what arrived,
    and the return is closed with it (one credit memo per return)."""
    order_id = shipped["order_id"]
    authorize(order_id, "RMA-1", [("2", 5)])
    outcome = receive(return_envelope(order_id, "RMA-1", [(YEAST, 2, "RESALEABLE", "UTR-B01")]))
    assert outcome.created
    memo = memo_of(order_id, "RMA-1")
    assert [(li["sku"], li["quantity"]) for li in memo["lines"]] == [(YEAST, 2)]
    assert memo["gross_total"] == "8.61"  # 7.90 + 0.71
    # a later receipt under the same RMA is a duplicate: one credit memo per return
    assert not receive(return_envelope(order_id, "RMA-1", [(YEAST, 3, "RESALEABLE", "UTR-B01")])).created
    assert len(documents(hub, "CREDIT_MEMO")) == 1
    yeast = position(YEAST, "UTR-B01")
    assert yeast is not None and (yeast["on_hand"], yeast["available"]) == (92, 92)


def test_a_credit_memo_takes_the_legal_entity_of_the_invoice_it_credits(
    hub: Hub, shipped: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    order_id = shipped["order_id"]
    monkeypatch.setenv("LEGAL_ENTITY", "NL02")  # the hub's entity changed since the invoices
    authorize(order_id, "RMA-1", [("1", 1)])
    receive(return_envelope(order_id, "RMA-1", [(FLOUR, 1, "RESALEABLE", "UTR-A01")]))
    memo = memo_of(order_id, "RMA-1")
    assert memo["legal_entity"] == "SH01" and memo["credit_memo_number"] == f"CM-SH01-{YEAR}-000001"


def test_a_returned_lot_goes_back_into_its_own_position(hub: Hub, shipped: dict[str, Any]) -> None:
    from synchub_core import ddb
    from synchub_core.config import settings

    order_id = shipped["order_id"]
    authorize(order_id, "RMA-1", [("1", 2)])
    envelope = return_envelope(order_id, "RMA-1", [(FLOUR, 2, "DAMAGED", "UTR-Q02")])
    envelope["data"]["lines"][0] |= {"lot": "L-2026-11", "best_before": "2027-05-01"}
    assert receive(envelope).created
    lot = ddb.get(settings().inventory_table, {"pk": f"SKU#{FLOUR}", "sk": "LOC#UTR-Q02#LOT#L-2026-11"})
    assert lot is not None
    assert (lot["on_hand"], lot["quality_hold"], lot["available"], lot["best_before"]) == (2, 2, 0, "2027-05-01")
    assert returned_stock(hub) == []  # damaged units make nothing available
