from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tgshop.domain.money import CurrencyMismatch, Money, currency_exponent


@pytest.mark.parametrize(
    ("text", "currency", "amount"),
    [
        ("9.90", "USD", 990),
        ("0", "USD", 0),
        ("12", "EUR", 1200),
        ("150", "JPY", 150),
        ("25", "XTR", 25),
        (" 1.5 ", "RUB", 150),
    ],
)
def test_parse_to_minor_units(text: str, currency: str, amount: int) -> None:
    assert Money.parse(text, currency) == Money(amount, currency)


@pytest.mark.parametrize(
    ("text", "currency", "message"),
    [
        ("9.999", "USD", "more than 2 decimal places"),
        ("abc", "USD", "not a valid amount"),
        ("1.5", "XTR", "more than 0 decimal places"),
        ("NaN", "USD", "not a valid amount"),
        ("Infinity", "USD", "not a valid amount"),
    ],
)
def test_parse_refuses_bad_amounts(text: str, currency: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Money.parse(text, currency)


def test_unknown_currency_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown currency 'ABC'"):
        Money(1, "ABC")
    with pytest.raises(ValueError, match="unknown currency"):
        currency_exponent("usd1")


def test_floats_are_not_money() -> None:
    with pytest.raises(TypeError):
        Money(9.9, "USD")  # type: ignore[arg-type]


def test_currencies_do_not_mix() -> None:
    with pytest.raises(CurrencyMismatch):
        Money(1, "USD") + Money(1, "EUR")
    with pytest.raises(CurrencyMismatch):
        _ = Money(1, "USD") < Money(1, "EUR")


def test_formatting() -> None:
    assert str(Money(990, "USD")) == "9.90 USD"
    assert Money(5, "USD").to_decimal_string() == "0.05"
    assert Money(-150, "EUR").to_decimal_string() == "-1.50"
    assert Money(42, "XTR").to_decimal_string() == "42"


@given(
    st.integers(min_value=-(10**15), max_value=10**15),
    st.sampled_from(["USD", "JPY", "XTR", "RUB"]),
)
def test_format_parse_round_trip(amount: int, currency: str) -> None:
    money = Money(amount, currency)
    assert Money.parse(money.to_decimal_string(), currency) == money


@given(st.lists(st.integers(min_value=0, max_value=10**9), max_size=20), st.integers(1, 1000))
def test_sum_and_multiply_are_exact(amounts: list[int], factor: int) -> None:
    total = Money.zero("USD")
    for a in amounts:
        total = total + Money(a, "USD")
    assert (total * factor).amount == sum(amounts) * factor
