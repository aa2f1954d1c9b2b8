"""Money in a currency's minor unit (ISO 4217): how many places each currency has, rounding half up
to exactly that unit, and the strings invoices and credit memos carry."""

from __future__ import annotations

from decimal import Decimal

import pytest

from synchub_core.vocabulary import format_money, minor_unit, minor_units, money


@pytest.mark.parametrize(
    ("currency", "digits"),
    [
        ("EUR", 2),
        ("USD", 2),
        ("GBP", 2),
        ("CHF", 2),
        ("JPY", 0),
        ("KRW", 0),
        ("ISK", 0),
        ("CLP", 0),
        ("XOF", 0),
        ("XPF", 0),
        ("BHD", 3),
        ("KWD", 3),
        ("TND", 3),
        ("CLF", 4),
        ("UYW", 4),
        ("jpy", 0),  # spelled in lower case by a careless caller: the same currency
    ],
)
def test_minor_units_per_iso_4217(currency: str, digits: int) -> None:
    assert minor_units(currency) == digits
    assert minor_unit(currency) == Decimal(1).scaleb(-digits)


def test_every_listed_currency_and_nothing_else_leaves_two_places() -> None:
    zero = [
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "ISK",
        "JPY",
        "KMF",
        "KRW",
        "PYG",
        "RWF",
        "UGX",
        "UYI",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    ]
    three = ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"]
    four = ["CLF", "UYW"]
    assert {c: minor_units(c) for c in zero + three + four} == {
        **dict.fromkeys(zero, 0),
        **dict.fromkeys(three, 3),
        **dict.fromkeys(four, 4),
    }
    assert minor_units("XXX") == 2  # an unknown code: the common case, 2 places


@pytest.mark.parametrize(
    ("amount", "currency", "rounded"),
    [
        # EUR: to the cent, half up (never half even)
        ("0.005", "EUR", "0.01"),
        ("0.015", "EUR", "0.02"),
        ("0.025", "EUR", "0.03"),
        ("2.675", "EUR", "2.68"),  # the classic binary-float trap: exact in Decimal
        ("1.004999", "EUR", "1.00"),
        ("10.9950", "EUR", "11.00"),
        ("18.4", "EUR", "18.40"),
        ("0", "EUR", "0.00"),
        # JPY: whole yen
        ("1000", "JPY", "1000"),
        ("999.5", "JPY", "1000"),
        ("1000.49", "JPY", "1000"),
        ("0.5", "JPY", "1"),
        ("2.5", "JPY", "3"),
        # BHD: to the fils (3 places)
        ("12.3445", "BHD", "12.345"),
        ("12.3444", "BHD", "12.344"),
        ("0.0005", "BHD", "0.001"),
        ("12.345", "BHD", "12.345"),
        ("7", "BHD", "7.000"),
        # CLF: 4 places
        ("1.00005", "CLF", "1.0001"),
    ],
)
def test_money_rounds_half_up_to_the_minor_unit(amount: str, currency: str, rounded: str) -> None:
    value = money(Decimal(amount), currency)
    assert value == Decimal(rounded)
    assert format_money(Decimal(amount), currency) == rounded
    assert value.as_tuple().exponent == -minor_units(currency)  # exactly the minor digits, no more, no less


def test_one_argument_keeps_two_places() -> None:
    """Every caller from before currencies (pricing, the ERP's totals) keeps rounding to the cent."""
    assert money(Decimal("1.005")) == Decimal("1.01")
    assert str(money(Decimal("3"))) == "3.00"
    assert money(Decimal("1.005")) == money(Decimal("1.005"), "EUR")


def test_format_money_writes_no_exponent_and_exactly_the_minor_digits() -> None:
    assert format_money(Decimal("1E+3"), "JPY") == "1000"
    assert format_money(Decimal("1.2E+5"), "EUR") == "120000.00"
    assert format_money(Decimal("0.1") + Decimal("0.2"), "EUR") == "0.30"
    assert format_money(Decimal("1000000000"), "BHD") == "1000000000.000"
    assert format_money(Decimal("5")) == "5.00"


def test_money_is_idempotent_in_every_currency() -> None:
    for currency in ("EUR", "JPY", "BHD", "CLF"):
        for amount in ("0.0049", "0.5", "1.23456", "99999.99995"):
            once = money(Decimal(amount), currency)
            assert money(once, currency) == once
            assert format_money(once, currency) == format_money(Decimal(amount), currency)


def test_a_sum_of_rounded_lines_keeps_the_minor_digits() -> None:
    """Totals are sums of rounded line amounts: they stay at the minor unit without rounding again."""
    lines = [money(Decimal("3") * Decimal("333.335"), "BHD"), money(Decimal("0.0015"), "BHD")]
    assert f"{sum(lines, Decimal(0)):f}" == "1000.007"
    assert f"{sum([money(Decimal('100.4'), 'JPY')] * 3, Decimal(0)):f}" == "300"
