"""masterdata: what makes a row of the ERP's product, customer and price files valid, and the
reasons a rejected row is reported with (read by the ERP team: business words, the field and the
value, never a customer's name)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from masterdata.files import RawRow
from masterdata.logic import validate
from masterdata.models import CustomerRow, Kind, PriceRow, ProductRow, Reject


def product(**changes: str) -> dict[str, str]:
    return {
        "sku": "FLOUR-T55-25KG",
        "description": "Wheat flour T55",
        "unit_of_measure": "BAG",
        "status": "ACTIVE",
    } | changes


def customer(**changes: str) -> dict[str, str]:
    base = {"customer_id": "CUST-8812", "name": "Bakkerij de Vries", "country": "NL", "status": "ACTIVE"}
    return base | {"price_group": "STANDARD"} | changes


def price(**changes: str) -> dict[str, str]:
    base = {"sku": "FLOUR-T55-25KG", "price_group": "STANDARD", "currency": "EUR", "unit_price": "18.40"}
    return base | {"valid_from": "2026-01-01", "valid_to": ""} | changes


def reason(kind: Kind, values: dict[str, str]) -> str:
    checked = validate(kind, RawRow(7, values))
    assert isinstance(checked, Reject), checked
    assert checked.row == 7
    return checked.reason


def test_good_rows_become_their_models_with_values_trimmed() -> None:
    row = validate(Kind.PRODUCTS, RawRow(1, product(sku=" FLOUR-T55-25KG ", description=" Flour ")))
    assert row == ProductRow(sku="FLOUR-T55-25KG", description="Flour", unit_of_measure="BAG", status="ACTIVE")
    assert row.key == "FLOUR-T55-25KG"
    assert validate(Kind.CUSTOMERS, RawRow(1, customer())) == CustomerRow(**customer())
    parsed = validate(Kind.PRICES, RawRow(1, price(valid_to="2026-12-31")))
    assert isinstance(parsed, PriceRow)
    assert (parsed.unit_price, parsed.valid_from, parsed.valid_to) == (
        Decimal("18.40"),
        date(2026, 1, 1),
        date(2026, 12, 31),
    )
    assert str(parsed.unit_price) == "18.40"  # the ERP's spelling kept
    assert parsed.key == "FLOUR-T55-25KG/STANDARD/EUR/2026-01-01"
    open_ended = validate(Kind.PRICES, RawRow(1, price()))
    assert isinstance(open_ended, PriceRow) and open_ended.valid_to is None


@pytest.mark.parametrize(
    "values, expected",
    [
        (product(sku="flour t55"), "sku 'flour t55' is not a valid SKU"),
        (product(sku="-FLOUR"), "sku '-FLOUR' is not a valid SKU"),
        (product(sku="A" * 65), "is not a valid SKU"),
        (product(sku=""), "sku is empty"),
        (product(description=""), "description is empty"),
        (product(description="x" * 201), "description is longer than 200 characters"),
        (product(description="bell\x07"), "description contains control characters"),
        (product(unit_of_measure="  "), "unit_of_measure is empty"),
        (product(status="active"), "status 'active' is not ACTIVE or DISCONTINUED"),
        (product(status=""), "status (empty) is not ACTIVE or DISCONTINUED"),
    ],
)
def test_product_rows(values: dict[str, str], expected: str) -> None:
    assert expected in reason(Kind.PRODUCTS, values)


def test_a_free_text_may_span_lines_a_key_may_not() -> None:
    assert isinstance(validate(Kind.PRODUCTS, RawRow(1, product(description="Butter\n250 g"))), ProductRow)
    assert "sku" in reason(Kind.PRODUCTS, product(sku="FLOUR\nT55"))


@pytest.mark.parametrize(
    "values, expected",
    [
        (customer(customer_id=""), "customer_id is empty"),
        (customer(customer_id="C" * 65), "is longer than 64 characters"),
        (customer(name=""), "name is empty"),
        (customer(country="NLD"), "country 'NLD' is not an ISO 3166-1 alpha-2 country code"),
        (customer(country="XX"), "country 'XX' is not an ISO 3166-1 alpha-2 country code"),
        (customer(country="nl"), "country 'nl' is not"),
        (customer(status="SUSPENDED"), "status 'SUSPENDED' is not ACTIVE or BLOCKED"),
        (customer(price_group="Whole sale"), "price_group 'Whole sale' is not 1-32 characters of A-Z 0-9 _"),
        (customer(price_group="G" * 33), "price_group"),
        (customer(price_group=""), "price_group (empty) is not"),
    ],
)
def test_customer_rows(values: dict[str, str], expected: str) -> None:
    assert expected in reason(Kind.CUSTOMERS, values)


def test_a_customers_name_is_never_quoted_in_a_reason() -> None:
    text = reason(Kind.CUSTOMERS, customer(name="Bakkerij de Vries " + "x" * 200))
    assert text == "name is longer than 200 characters"
    assert "Bakkerij" not in text


@pytest.mark.parametrize(
    "values, expected",
    [
        (price(sku="flour"), "sku 'flour' is not a valid SKU"),
        (price(currency="EUX"), "currency 'EUX' is not an ISO 4217 currency code"),
        (price(currency="XAU"), "currency 'XAU' is not an ISO 4217 currency code"),  # gold is no price currency
        (price(currency="eur"), "currency 'eur'"),
        (price(unit_price="0"), "unit_price '0' is not positive"),
        (price(unit_price="0.0000"), "is not positive"),
        (price(unit_price="-1"), "unit_price '-1' is not a decimal number like 18.40"),
        (price(unit_price="18,40"), "is not a decimal number"),
        (price(unit_price="1e3"), "is not a decimal number"),
        (price(unit_price="NaN"), "is not a decimal number"),
        (price(unit_price=""), "unit_price (empty) is not a decimal number"),
        (price(unit_price="1.00001"), "unit_price '1.00001' has more than 4 decimal places"),
        (price(unit_price="1000000000.01"), "is above 1,000,000,000"),
        (price(valid_from="2026-02-30"), "valid_from '2026-02-30' is not a date of the calendar"),
        (price(valid_from="01-01-2026"), "valid_from '01-01-2026' is not a date YYYY-MM-DD"),
        (price(valid_from=""), "valid_from (empty) is not a date YYYY-MM-DD"),
        (price(valid_to="2025-12-31"), "valid_to 2025-12-31 is before valid_from 2026-01-01"),
        (price(price_group="std"), "price_group 'std'"),
    ],
)
def test_price_rows(values: dict[str, str], expected: str) -> None:
    assert expected in reason(Kind.PRICES, values)


@pytest.mark.parametrize("value", ["0.0001", "18.4", "18.4000", "1000000000", "7"])
def test_price_amounts_taken(value: str) -> None:
    assert isinstance(validate(Kind.PRICES, RawRow(1, price(unit_price=value))), PriceRow)


def test_every_problem_of_a_row_is_in_its_reason_in_column_order() -> None:
    text = reason(Kind.PRICES, price(currency="EUX", unit_price="-1", valid_from="2026-02-30"))
    assert text == (
        "currency 'EUX' is not an ISO 4217 currency code (EUR, USD, ...); unit_price '-1' is not a decimal number "
        "like 18.40; valid_from '2026-02-30' is not a date of the calendar"
    )


def test_a_row_that_could_not_be_read_keeps_its_key_and_problem() -> None:
    checked = validate(Kind.PRICES, RawRow(3, price(), problem="the row has 5 value(s), the header 6"))
    assert checked == Reject(3, "FLOUR-T55-25KG/STANDARD/EUR/2026-01-01", "the row has 5 value(s), the header 6")
    assert validate(Kind.PRODUCTS, RawRow(4, None, "the row is not valid CSV (x)")) == Reject(
        4, "", "the row is not valid CSV (x)"
    )


def test_long_values_are_shortened_and_control_characters_shown_in_reasons() -> None:
    text = reason(Kind.PRODUCTS, product(status="X" * 100))
    assert "'" + "X" * 37 + "...'" in text
    assert "\\x00" in reason(Kind.PRICES, price(currency="E\x00R"))


def test_row_models_refuse_unknown_fields() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        ProductRow.model_validate(product() | {"colour": "white"})


def test_every_kind_has_a_model_with_the_files_columns() -> None:
    from masterdata.models import HEADERS, ROW_MODELS

    for kind in Kind:
        assert tuple(ROW_MODELS[kind].model_fields) == HEADERS[kind]
