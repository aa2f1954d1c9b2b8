"""invoicing.logic.credit_lines: which invoice lines a return credits, and for how much; and the
return-quantity rules of orders.logic (what a channel may authorize for return).

The returns worker's component tests (tests/component/test_returns.py) run the same decisions
through moto; here the rules are checked case by case and as a property: a credit never exceeds
what was invoiced, in units or in money, however the returns are cut.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from invoicing.logic import credit_lines
from invoicing.models import ReturnReceived, ReturnRejected
from orders.logic import _return_lines, return_hash
from orders.models import (
    OrderState,
    ReturnExceedsShipped,
    ReturnIn,
    StoredOrder,
    UnknownOrderLine,
)
from synchub_core.vocabulary import format_money, money

FLOUR, YEAST = "FLOUR-T55-25KG", "YEAST-DRY-500G"


def order(
    lines: list[tuple[str, str, int, str, str]] | None = None,
    *,
    currency: str = "EUR",
    shipped: dict[str, int] | None = None,
    returns: list[dict[str, Any]] | None = None,
    credited: dict[str, dict[str, Any]] | None = None,
) -> StoredOrder:
    """A stored order; ``lines`` as ``(line_id, sku, quantity, unit_price, tax_rate)``."""
    lines = lines or [("1", FLOUR, 4, "18.40", "0.09"), ("2", YEAST, 10, "3.95", "0.09")]
    return StoredOrder(
        order_id="ord_" + "0" * 32,
        state=OrderState.SHIPPED,
        version=3,
        doc={
            "channel": "webshop-nl",
            "channel_order_ref": "WS-1",
            "currency": currency,
            "lines": [
                {"line_id": lid, "sku": sku, "quantity": q, "unit_price": p, "tax_rate": r}
                for lid, sku, q, p, r in lines
            ],
        },
        shipped=shipped or {},
        returns=returns or [],
        credited=credited or {},
    )


def invoice(
    invoice_id: str,
    lines: list[tuple[str, str, int, str, str]],
    *,
    currency: str = "EUR",
    issued_at: str = "2026-11-24T10:00:00.000Z",
    net: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An invoice priced like invoicing.logic.price (per line, half up, tax on the rounded net);
    ``net`` overrides a line's net amount (by line id)."""
    out = []
    for lid, sku, q, unit, rate in lines:
        line_net = Decimal((net or {}).get(lid) or money(Decimal(unit) * q, currency))
        tax = money(line_net * Decimal(rate), currency)
        out.append(
            {
                "line_id": lid,
                "sku": sku,
                "quantity": q,
                "unit_price": unit,
                "tax_rate": rate,
                "net_amount": format_money(line_net, currency),
                "tax_amount": format_money(tax, currency),
                "gross_amount": format_money(line_net + tax, currency),
            }
        )
    return {
        "invoice_id": invoice_id,
        "invoice_number": f"INV-SH01-2026-{invoice_id[-6:]}",
        "issued_at": issued_at,
        "lines": out,
    }


def receipt(*lines: tuple[str, int, str, str], rma_id: str = "RMA-1") -> ReturnReceived:
    """A return receipt; ``lines`` as ``(sku, quantity, condition, location_id)``."""
    return ReturnReceived.model_validate(
        {
            "order_id": "ord_" + "0" * 32,
            "rma_id": rma_id,
            "warehouse_id": "UTR",
            "received_at": "2026-11-27T09:41:00Z",
            "lines": [{"sku": sku, "quantity": q, "condition": c, "location_id": loc} for sku, q, c, loc in lines],
        }
    )


def units(lines: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    return [(line["invoice_id"], line["line_id"], line["quantity"]) for line in lines]


# -- credit_lines ------------------------------------------------------------------------------


def test_a_return_is_credited_at_the_invoiced_price_with_its_tax() -> None:
    inv = invoice("inv_000001", [("1", FLOUR, 4, "18.40", "0.09"), ("2", YEAST, 10, "3.95", "0.09")])
    lines, credited = credit_lines(order(), [inv], receipt((FLOUR, 1, "RESALEABLE", "UTR-A01")))
    assert lines == [
        {
            "invoice_id": "inv_000001",
            "invoice_number": "INV-SH01-2026-000001",
            "line_id": "1",
            "sku": FLOUR,
            "quantity": 1,
            "unit_price": "18.40",
            "tax_rate": "0.09",
            "net_amount": "18.40",
            "tax_amount": "1.66",
            "gross_amount": "20.06",
            "condition": "RESALEABLE",
        }
    ]
    assert credited == {"inv_000001#1": {"quantity": 1, "net": "18.40", "tax": "1.66"}}


def test_the_oldest_invoice_is_credited_first_and_then_the_next() -> None:
    first = invoice("inv_000001", [("1", FLOUR, 3, "18.40", "0.09")], issued_at="2026-11-24T10:00:00.000Z")
    second = invoice("inv_000002", [("1", FLOUR, 1, "18.40", "0.09")], issued_at="2026-11-25T10:00:00.000Z")
    lines, _ = credit_lines(order(), [first, second], receipt((FLOUR, 2, "RESALEABLE", "UTR-A01")))
    assert units(lines) == [("inv_000001", "1", 2)]
    lines, credited = credit_lines(order(), [first, second], receipt((FLOUR, 4, "RESALEABLE", "UTR-A01")))
    assert units(lines) == [("inv_000001", "1", 3), ("inv_000002", "1", 1)]
    assert credited["inv_000001#1"]["quantity"] == 3 and credited["inv_000002#1"]["quantity"] == 1


def test_units_credited_before_are_not_credited_again() -> None:
    first = invoice("inv_000001", [("1", FLOUR, 3, "18.40", "0.09")])
    second = invoice("inv_000002", [("1", FLOUR, 1, "18.40", "0.09")], issued_at="2026-11-25T10:00:00.000Z")
    before = {"inv_000001#1": {"quantity": 3, "net": "55.20", "tax": "4.97"}}
    lines, credited = credit_lines(order(credited=before), [first, second], receipt((FLOUR, 1, "DAMAGED", "UTR-Q01")))
    assert units(lines) == [("inv_000002", "1", 1)]
    assert credited["inv_000001#1"] == before["inv_000001#1"]  # untouched
    assert credited["inv_000002#1"] == {"quantity": 1, "net": "18.40", "tax": "1.66"}


def test_the_order_s_credited_state_is_not_changed_in_place() -> None:
    inv = invoice("inv_000001", [("1", FLOUR, 4, "18.40", "0.09")])
    before = {"inv_000001#1": {"quantity": 1, "net": "18.40", "tax": "1.66"}}
    stored = order(credited=before)
    credit_lines(stored, [inv], receipt((FLOUR, 2, "RESALEABLE", "UTR-A01")))
    assert stored.credited == {"inv_000001#1": {"quantity": 1, "net": "18.40", "tax": "1.66"}}


def test_more_than_invoiced_and_not_yet_credited_is_refused() -> None:
    inv = invoice("inv_000001", [("1", FLOUR, 3, "18.40", "0.09")])
    with pytest.raises(ReturnRejected, match="1 more than were invoiced"):
        credit_lines(order(), [inv], receipt((FLOUR, 4, "RESALEABLE", "UTR-A01")))
    before = {"inv_000001#1": {"quantity": 3, "net": "55.20", "tax": "4.97"}}
    with pytest.raises(ReturnRejected):
        credit_lines(order(credited=before), [inv], receipt((FLOUR, 1, "RESALEABLE", "UTR-A01")))


def test_a_sku_never_invoiced_is_refused() -> None:
    inv = invoice("inv_000001", [("1", FLOUR, 3, "18.40", "0.09")])
    with pytest.raises(ReturnRejected, match=YEAST):
        credit_lines(order(), [inv], receipt((YEAST, 1, "RESALEABLE", "UTR-A01")))


def test_the_last_units_of_a_line_get_exactly_what_is_left_of_it() -> None:
    # 3 x 0.335 = 1.005 -> 1.01 invoiced; one unit is 0.34 (rounded up): the third gets 0.33
    inv = invoice("inv_000001", [("1", FLOUR, 3, "0.335", "0.21")])
    assert inv["lines"][0]["net_amount"] == "1.01" and inv["lines"][0]["tax_amount"] == "0.21"
    stored = order([("1", FLOUR, 3, "0.335", "0.21")])
    nets, taxes = [], []
    for n in range(3):
        lines, stored.credited = credit_lines(
            stored, [inv], receipt((FLOUR, 1, "RESALEABLE", "UTR-A01"), rma_id=f"RMA-{n}")
        )
        nets.append(lines[0]["net_amount"])
        taxes.append(lines[0]["tax_amount"])
    assert nets == ["0.34", "0.34", "0.33"]
    assert taxes == ["0.07", "0.07", "0.07"]
    assert sum(map(Decimal, nets)) == Decimal("1.01") and sum(map(Decimal, taxes)) == Decimal("0.21")
    assert stored.credited["inv_000001#1"] == {"quantity": 3, "net": "1.01", "tax": "0.21"}


def test_a_credit_is_capped_at_what_is_left_of_the_line_s_amounts() -> None:
    # an invoice line worth less than its units at list price (e.g. a rounding or a discount): the
    # credit takes at most what is left of it, never the list price
    inv = invoice("inv_000001", [("1", FLOUR, 3, "0.335", "0.21")], net={"1": "0.50"})
    stored = order([("1", FLOUR, 3, "0.335", "0.21")])
    lines, stored.credited = credit_lines(stored, [inv], receipt((FLOUR, 2, "RESALEABLE", "UTR-A01")))
    assert lines[0]["net_amount"] == "0.50"
    lines, stored.credited = credit_lines(stored, [inv], receipt((FLOUR, 1, "RESALEABLE", "UTR-A01")))
    assert lines[0]["net_amount"] == "0.00" and lines[0]["tax_amount"] == "0.00"


def test_all_units_at_once_credit_the_whole_line() -> None:
    inv = invoice("inv_000001", [("1", FLOUR, 3, "0.335", "0.21")])
    lines, _ = credit_lines(order(), [inv], receipt((FLOUR, 3, "DAMAGED", "UTR-Q01")))
    assert (lines[0]["net_amount"], lines[0]["tax_amount"], lines[0]["gross_amount"]) == ("1.01", "0.21", "1.22")


def test_resaleable_and_damaged_units_of_one_sku_are_credited_on_their_own_lines() -> None:
    inv = invoice("inv_000001", [("1", FLOUR, 4, "18.40", "0.09"), ("2", YEAST, 10, "3.95", "0.09")])
    lines, credited = credit_lines(
        order(),
        [inv],
        receipt(
            (FLOUR, 2, "RESALEABLE", "UTR-A01"),
            (FLOUR, 1, "DAMAGED", "UTR-Q01"),
            (YEAST, 3, "DAMAGED", "UTR-Q01"),
        ),
    )
    assert [(line["sku"], line["quantity"], line["condition"]) for line in lines] == [
        (FLOUR, 2, "RESALEABLE"),
        (FLOUR, 1, "DAMAGED"),
        (YEAST, 3, "DAMAGED"),
    ]
    assert credited["inv_000001#1"] == {"quantity": 3, "net": "55.20", "tax": "4.97"}  # 3.31 + 1.66
    assert credited["inv_000001#2"] == {"quantity": 3, "net": "11.85", "tax": "1.07"}


def test_a_currency_without_minor_units_is_credited_in_whole_units() -> None:
    inv = invoice("inv_000001", [("1", FLOUR, 3, "1001", "0.10")], currency="JPY")
    assert inv["lines"][0]["net_amount"] == "3003" and inv["lines"][0]["tax_amount"] == "300"
    stored = order([("1", FLOUR, 3, "1001", "0.10")], currency="JPY")
    lines, stored.credited = credit_lines(stored, [inv], receipt((FLOUR, 1, "RESALEABLE", "UTR-A01")))
    assert (lines[0]["net_amount"], lines[0]["tax_amount"], lines[0]["gross_amount"]) == ("1001", "100", "1101")
    lines, _ = credit_lines(stored, [inv], receipt((FLOUR, 2, "RESALEABLE", "UTR-A01")))
    assert (lines[0]["net_amount"], lines[0]["tax_amount"]) == ("2002", "200")


@settings(max_examples=150, deadline=None)
@given(
    data=st.data(),
    invoiced=st.lists(st.integers(1, 7), min_size=1, max_size=4),
    unit=st.decimals("0.01", "9.99", places=3),
    rate=st.sampled_from(["0", "0.09", "0.21", "0.195"]),
)
def test_credits_never_exceed_the_invoices_however_the_returns_are_cut(
    data: st.DataObject, invoiced: list[int], unit: Decimal, rate: str
) -> None:
    invoices = [
        invoice(f"inv_{n:06d}", [("1", FLOUR, q, str(unit), rate)], issued_at=f"2026-11-{n + 10:02d}T10:00:00.000Z")
        for n, q in enumerate(invoiced)
    ]
    total = sum(invoiced)
    stored = order([("1", FLOUR, total, str(unit), rate)])
    left = total
    while left:
        q = data.draw(st.integers(1, left))
        lines, stored.credited = credit_lines(stored, invoices, receipt((FLOUR, q, "RESALEABLE", "UTR-A01")))
        assert sum(line["quantity"] for line in lines) == q
        # oldest first: no line credits a later invoice while an earlier one has units left
        left -= q
    for inv in invoices:
        line = inv["lines"][0]
        done = stored.credited[f"{inv['invoice_id']}#1"]
        # everything returned: each line credited exactly its units and amounts, to the cent
        assert done["quantity"] == line["quantity"]
        assert Decimal(done["net"]) == Decimal(line["net_amount"])
        assert Decimal(done["tax"]) == Decimal(line["tax_amount"])
    with pytest.raises(ReturnRejected):
        credit_lines(stored, invoices, receipt((FLOUR, 1, "RESALEABLE", "UTR-A01")))


@settings(max_examples=100, deadline=None)
@given(
    data=st.data(),
    invoiced=st.lists(st.integers(1, 5), min_size=1, max_size=3),
    unit=st.decimals("0.01", "5.00", places=3),
)
def test_a_partial_return_credits_the_oldest_invoice_lines_first(
    data: st.DataObject, invoiced: list[int], unit: Decimal
) -> None:
    invoices = [
        invoice(f"inv_{n:06d}", [("1", FLOUR, q, str(unit), "0.21")], issued_at=f"2026-11-{n + 10:02d}T10:00:00.000Z")
        for n, q in enumerate(invoiced)
    ]
    q = data.draw(st.integers(1, sum(invoiced)))
    lines, _ = credit_lines(order(), invoices, receipt((FLOUR, q, "RESALEABLE", "UTR-A01")))
    expected, need = [], q
    for inv, n in zip(invoices, invoiced, strict=True):
        if need:
            expected.append((inv["invoice_id"], "1", min(n, need)))
            need -= min(n, need)
    assert units(lines) == expected
    for line in lines:
        inv = next(i for i in invoices if i["invoice_id"] == line["invoice_id"])["lines"][0]
        assert Decimal(line["net_amount"]) <= Decimal(inv["net_amount"])
        assert Decimal(line["tax_amount"]) <= Decimal(inv["tax_amount"])
        assert Decimal(line["gross_amount"]) == Decimal(line["net_amount"]) + Decimal(line["tax_amount"])


# -- return quantities (orders.logic) -----------------------------------------------------------


def return_in(*lines: tuple[str, int], rma_id: str = "RMA-1", reason: str = "wrong item") -> ReturnIn:
    return ReturnIn.model_validate(
        {"rma_id": rma_id, "reason": reason, "lines": [{"line_id": lid, "quantity": q} for lid, q in lines]}
    )


def authorized(rma_id: str, *lines: tuple[str, str, int]) -> dict[str, Any]:
    return {
        "rma_id": rma_id,
        "reason": "earlier",
        "status": "AUTHORIZED",
        "lines": [{"line_id": lid, "sku": sku, "quantity": q} for lid, sku, q in lines],
        "authorized_at": "2026-11-25T10:00:00.000Z",
    }


def test_a_return_may_take_back_what_shipped() -> None:
    shipped = order(shipped={FLOUR: 3, YEAST: 10})
    assert _return_lines(shipped, return_in(("1", 3), ("2", 4))) == [
        {"line_id": "1", "sku": FLOUR, "quantity": 3},
        {"line_id": "2", "sku": YEAST, "quantity": 4},
    ]


def test_a_return_of_more_than_shipped_is_refused_with_what_is_returnable() -> None:
    with pytest.raises(ReturnExceedsShipped) as refused:
        _return_lines(order(shipped={FLOUR: 3}), return_in(("1", 4)))
    assert (refused.value.line_id, refused.value.requested, refused.value.returnable) == ("1", 4, 3)


def test_a_line_that_did_not_ship_cannot_be_returned() -> None:
    with pytest.raises(ReturnExceedsShipped) as refused:
        _return_lines(order(shipped={FLOUR: 3}), return_in(("2", 1)))
    assert refused.value.returnable == 0


def test_earlier_returns_count_against_what_shipped() -> None:
    earlier = [authorized("RMA-0", ("1", FLOUR, 2)), authorized("RMA-00", ("1", FLOUR, 1), ("2", YEAST, 10))]
    stored = order(shipped={FLOUR: 4, YEAST: 10}, returns=earlier)
    assert _return_lines(stored, return_in(("1", 1))) == [{"line_id": "1", "sku": FLOUR, "quantity": 1}]
    with pytest.raises(ReturnExceedsShipped) as refused:
        _return_lines(stored, return_in(("1", 2)))
    assert refused.value.returnable == 1
    with pytest.raises(ReturnExceedsShipped) as refused:
        _return_lines(stored, return_in(("2", 1)))
    assert refused.value.returnable == 0


def test_an_unknown_line_is_named() -> None:
    with pytest.raises(UnknownOrderLine) as unknown:
        _return_lines(order(shipped={FLOUR: 3}), return_in(("1", 1), ("9", 1)))
    assert unknown.value.line_id == "9"


@pytest.mark.parametrize(
    "body",
    [
        {"rma_id": "RMA-1", "reason": "x", "lines": []},
        {"rma_id": "RMA-1", "reason": "x", "lines": [{"line_id": "1", "quantity": 0}]},
        {"rma_id": "RMA 1", "reason": "x", "lines": [{"line_id": "1", "quantity": 1}]},
        {"rma_id": "RMA-1", "reason": "", "lines": [{"line_id": "1", "quantity": 1}]},
        {"rma_id": "RMA-1", "reason": "x", "lines": [{"line_id": "1", "quantity": 1}, {"line_id": "1", "quantity": 2}]},
        {"rma_id": "RMA-1", "reason": "x", "lines": [{"line_id": "1", "quantity": 1, "sku": FLOUR}]},
    ],
)
def test_a_malformed_return_request_is_invalid(body: dict[str, Any]) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        ReturnIn.model_validate(body)


def test_the_request_hash_ignores_spelling_but_not_content() -> None:
    a = ReturnIn.model_validate({"rma_id": "RMA-1", "reason": "x", "lines": [{"line_id": "1", "quantity": 2}]})
    b = ReturnIn.model_validate({"lines": [{"quantity": 2, "line_id": "1"}], "reason": " x ", "rma_id": "RMA-1"})
    c = ReturnIn.model_validate({"rma_id": "RMA-1", "reason": "x", "lines": [{"line_id": "1", "quantity": 3}]})
    assert return_hash(a) == return_hash(b) != return_hash(c)
