"""synchub_core.vocabulary: money is rounded to the cent half up (docs/decisions/0005), and the
shared identifiers have one spelling."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import TypeAdapter, ValidationError

from synchub_core.vocabulary import LocationId, Money, Rate, Sku, money


@pytest.mark.parametrize(
    "amount, rounded",
    [
        ("0.005", "0.01"),
        ("1.005", "1.01"),
        ("2.675", "2.68"),  # 2.67 as a float rounds it; Decimal does not
        ("0.125", "0.13"),  # half-even (banker's) rounding would give 0.12
        ("0.0049", "0.00"),
        ("18.4", "18.40"),
        ("7", "7.00"),
        ("999999999.995", "1000000000.00"),
    ],
)
def test_money_rounds_to_the_cent_half_up(amount: str, rounded: str) -> None:
    result = money(Decimal(amount))
    assert str(result) == rounded
    assert result.as_tuple().exponent == -2


def test_money_is_idempotent() -> None:
    for amount in ("0.005", "2.675", "10.01"):
        once = money(Decimal(amount))
        assert money(once) == once


@pytest.mark.parametrize(
    "kind, good, bad",
    [
        (Sku, ["FLOUR-T55-25KG", "A", "9.5_KG"], ["flour", "-FLOUR", "", "A" * 65, "FLOUR T55"]),
        (LocationId, ["UTR-A01", "X_1"], ["utr-a01", "UTR.A01", "A" * 33]),
    ],
)
def test_identifiers_have_one_spelling(kind: object, good: list[str], bad: list[str]) -> None:
    adapter = TypeAdapter(kind)
    for value in good:
        assert adapter.validate_python(value) == value
    for value in bad:
        with pytest.raises(ValidationError):
            adapter.validate_python(value)


def test_amounts_and_rates_have_bounds() -> None:
    amounts, rates = TypeAdapter(Money), TypeAdapter(Rate)
    assert amounts.validate_python("18.4000") == Decimal("18.40")
    assert rates.validate_python("0.21") == Decimal("0.21")
    for bad in ("-0.01", "1.00001", "1000000000.01"):
        with pytest.raises(ValidationError):
            amounts.validate_python(bad)
    for bad in ("-0.1", "1.01", "0.00001"):
        with pytest.raises(ValidationError):
            rates.validate_python(bad)
