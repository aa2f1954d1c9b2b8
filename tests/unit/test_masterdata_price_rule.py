"""The price rule and the order check (pure: what the master data says about an order, from what
was read of it), and how the order intake fixes the prices on the order's lines.

Price rule: a line with ``unit_price`` keeps the channel's price; a line without one gets the ERP
price list's price for the customer's price group, else STANDARD, in the order's currency, valid on
the day of acceptance (``valid_from <= day <= valid_to``; an empty ``valid_to`` is open ended; of
several, the latest ``valid_from``)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from masterdata.logic import check, erp_price
from masterdata.models import Kind, PriceEntry

DAY = date(2026, 12, 2)
ALL = {Kind.PRODUCTS, Kind.CUSTOMERS, Kind.PRICES}


def entry(group: str, price: str, start: str, end: str | None = None) -> PriceEntry:
    return PriceEntry(group, "EUR", Decimal(price), date.fromisoformat(start), date.fromisoformat(end) if end else None)


FLOUR_PRICES = [
    entry("STANDARD", "17.90", "2025-01-01", "2025-12-31"),
    entry("STANDARD", "18.40", "2026-01-01"),
    entry("STANDARD", "18.90", "2026-12-01", "2026-12-02"),  # a December promotion... at a higher price
    entry("STANDARD", "19.10", "2027-01-01"),
    entry("WHOLESALE", "16.56", "2026-01-01", "2026-12-01"),
]


def test_the_latest_price_valid_on_the_day_wins() -> None:
    assert erp_price(FLOUR_PRICES, "STANDARD", DAY) == Decimal("18.90")  # valid_to is inclusive
    assert erp_price(FLOUR_PRICES, "STANDARD", date(2026, 12, 3)) == Decimal("18.40")
    assert erp_price(FLOUR_PRICES, "STANDARD", date(2025, 6, 1)) == Decimal("17.90")
    assert erp_price(FLOUR_PRICES, "STANDARD", date(2027, 1, 1)) == Decimal("19.10")
    assert erp_price(FLOUR_PRICES, "STANDARD", date(2024, 12, 31)) is None


def test_the_customers_group_first_then_standard() -> None:
    assert erp_price(FLOUR_PRICES, "WHOLESALE", date(2026, 12, 1)) == Decimal("16.56")
    assert erp_price(FLOUR_PRICES, "WHOLESALE", DAY) == Decimal("18.90")  # its WHOLESALE price ended yesterday
    assert erp_price(FLOUR_PRICES, "RETAIL", DAY) == Decimal("18.90")  # a group without prices: STANDARD
    assert erp_price([entry("WHOLESALE", "1", "2026-01-01")], "RETAIL", DAY) is None  # no STANDARD to fall back on
    assert erp_price([], "STANDARD", DAY) is None


def lines(*specs: tuple[str, str | None]) -> list[dict[str, Any]]:
    return [{"line_id": str(n), "sku": sku, "unit_price": price} for n, (sku, price) in enumerate(specs, start=1)]


def product(status: str = "ACTIVE") -> dict[str, Any]:
    return {"status": status}


def verdict(
    order_lines: list[dict[str, Any]],
    customer: dict[str, Any] | None = None,
    products: dict[str, dict[str, Any]] | None = None,
    prices: dict[str, list[PriceEntry]] | None = None,
    loaded: set[Kind] = ALL,
) -> Any:
    return check("CUST-1", "EUR", order_lines, DAY, customer, products or {}, prices or {}, loaded)


ACTIVE_CUSTOMER = {"status": "ACTIVE", "price_group": "WHOLESALE"}


def test_a_sound_order_gets_erp_prices_for_the_lines_without_one() -> None:
    result = verdict(
        lines(("FLOUR", None), ("YEAST", "3.95")),
        customer=ACTIVE_CUSTOMER,
        products={"FLOUR": product(), "YEAST": product()},
        prices={"FLOUR": FLOUR_PRICES},
    )
    assert result.problems == []
    assert result.prices == {"1": Decimal("18.90")}  # no line 2: the channel's price stands
    assert result.price_group == "WHOLESALE"


def test_every_problem_is_found_with_its_line() -> None:
    result = verdict(
        lines(("GONE", None), ("OLD", "1.00"), ("FLOUR", None), ("YEAST", None)),
        customer={"status": "BLOCKED", "price_group": "STANDARD"},
        products={"OLD": product("DISCONTINUED"), "FLOUR": product(), "YEAST": product()},
        prices={"FLOUR": FLOUR_PRICES, "YEAST": []},
    )
    assert result.problems == [
        ("customer-blocked", None, "Customer CUST-1 is blocked in the ERP"),
        ("unknown-sku", "1", "SKU GONE is not in the ERP product list"),  # no price looked for either
        ("unknown-sku", "2", "SKU OLD is discontinued in the ERP product list"),
        (
            "no-price",
            "4",
            "SKU YEAST has no unit_price and the ERP price list has no EUR price for it "
            "(price group STANDARD) valid on 2026-12-02",
        ),
    ]
    assert result.prices == {}  # nothing is priced for an order that is refused


def test_an_unknown_customer_is_priced_as_standard_when_customers_are_not_enforced() -> None:
    refused = verdict(lines(("FLOUR", "1")), customer=None, products={"FLOUR": product()})
    assert refused.problems == [("unknown-customer", None, "Customer CUST-1 is not in the ERP customer list")]
    taken = verdict(lines(("FLOUR", None)), prices={"FLOUR": FLOUR_PRICES}, loaded={Kind.PRICES})
    assert taken.problems == [] and taken.prices == {"1": Decimal("18.90")} and taken.price_group == "STANDARD"


def test_nothing_is_enforced_of_a_kind_the_erp_never_sent() -> None:
    assert verdict(lines(("ANYTHING", "1")), loaded=set()).problems == []
    # but a line without a price needs a price list all the same
    (problem,) = verdict(lines(("ANYTHING", None)), loaded=set()).problems
    assert problem[0] == "no-price"


def test_a_no_price_detail_names_both_groups_tried() -> None:
    (problem,) = verdict(
        lines(("FLOUR", None)), customer=ACTIVE_CUSTOMER, products={"FLOUR": product()}, prices={"FLOUR": []}
    ).problems
    assert "(price group WHOLESALE or STANDARD)" in problem[2]


# -- the order intake ------------------------------------------------------------------------------


def order_line(**changes: Any) -> Any:
    from orders.models import OrderLine

    return OrderLine.model_validate(
        {"line_id": "1", "sku": "FLOUR-T55-25KG", "quantity": 4, "tax_rate": "0.09"} | changes
    )


def test_a_channel_may_leave_unit_price_out_but_an_accepted_line_has_one() -> None:
    from orders.models import AcceptedLine

    assert order_line().unit_price is None
    assert order_line(unit_price="18.40").unit_price == Decimal("18.40")
    with pytest.raises(ValidationError, match="unit_price"):
        AcceptedLine.model_validate({"line_id": "1", "sku": "FLOUR-T55-25KG", "quantity": 4})
    with pytest.raises(ValidationError):  # a channel cannot claim an ERP price
        order_line(unit_price="1", price_source="erp")


def test_intake_fixes_the_erp_price_on_the_lines_without_one() -> None:
    from orders.logic import priced

    accepted = priced(
        [order_line(unit_price="3.95", line_id="1"), order_line(line_id="2", sku="YEAST-DRY-500G")],
        {"2": Decimal("18.40")},
    )
    assert [a.model_dump(mode="json") for a in accepted] == [
        {
            "line_id": "1",
            "sku": "FLOUR-T55-25KG",
            "quantity": 4,
            "unit_price": "3.95",
            "tax_rate": "0.09",
            "price_source": "channel",
        },
        {
            "line_id": "2",
            "sku": "YEAST-DRY-500G",
            "quantity": 4,
            "unit_price": "18.40",
            "tax_rate": "0.09",
            "price_source": "erp",
        },
    ]
    with pytest.raises(ValueError, match="no unit_price and no ERP price"):
        priced([order_line()], {})


def test_the_invoice_prices_an_erp_priced_line_like_any_other() -> None:
    from invoicing.logic import price
    from invoicing.models import ShipmentConfirmed
    from orders.logic import priced

    (line,) = priced([order_line()], {"1": Decimal("18.40")})
    shipment = ShipmentConfirmed.model_validate(
        {
            "shipment_id": "SHP-1",
            "order_id": "ord_1",
            "warehouse_id": "UTR",
            "shipped_at": "2026-12-02T10:00:00Z",
            "lines": [{"sku": "FLOUR-T55-25KG", "quantity": 4}],
        }
    )
    invoice = price("ord_1", [line.model_dump(mode="json")], {}, shipment)
    assert (invoice["lines"][0]["unit_price"], invoice["net_total"], invoice["gross_total"]) == (
        "18.40",
        "73.60",
        "80.22",
    )


def test_problems_are_ranked_customer_first_then_skus_then_prices() -> None:
    from orders.logic import ranked

    problems: list[tuple[str, str | None, str]] = [
        ("no-price", "3", "c"),
        ("unknown-sku", "2", "b"),
        ("unknown-sku", "1", "a"),
        ("customer-blocked", None, "x"),
    ]
    assert [p[2] for p in ranked(problems)] == ["x", "b", "a", "c"]
    assert ranked([("unknown-customer", None, "u"), ("unknown-sku", "1", "s")])[0][0] == "unknown-customer"


def test_a_request_without_prices_hashes_apart_from_one_with_them() -> None:
    from helpers import sample
    from orders.logic import request_hash
    from orders.models import OrderIn

    priced_body = sample("api-post-order.json")
    unpriced_body = sample("api-post-order.json")
    for line in unpriced_body["lines"]:
        del line["unit_price"]
    explicit_null = sample("api-post-order.json")
    for line in explicit_null["lines"]:
        line["unit_price"] = None
    digest = request_hash(OrderIn.model_validate(unpriced_body))
    assert digest != request_hash(OrderIn.model_validate(priced_body))
    assert digest == request_hash(OrderIn.model_validate(explicit_null))
