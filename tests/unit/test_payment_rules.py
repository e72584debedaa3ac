from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tgshop.domain.errors import IllegalTransition, InvalidRequest
from tgshop.domain.payments import (
    PaymentState,
    check_payment_change,
    order_stars_price,
    stars_for,
)

P = PaymentState


def test_a_pending_payment_settles_once_and_money_received_is_final() -> None:
    for target in (P.SUCCEEDED, P.FAILED, P.CANCELLED):
        check_payment_change(P.PENDING, target)
    for target in (P.PENDING, P.FAILED, P.CANCELLED):
        with pytest.raises(IllegalTransition, match="from succeeded"):
            check_payment_change(P.SUCCEEDED, target)


def test_money_reported_after_we_gave_up_still_counts() -> None:
    check_payment_change(P.FAILED, P.SUCCEEDED)
    check_payment_change(P.CANCELLED, P.SUCCEEDED)
    with pytest.raises(IllegalTransition):
        check_payment_change(P.FAILED, P.CANCELLED)


def test_stars_are_rounded_up_never_down() -> None:
    # 1.01 USD at 50 Stars per dollar is 50.5 Stars: the customer pays 51.
    assert stars_for(101, "USD", Decimal("50")) == 51
    assert stars_for(100, "USD", Decimal("50")) == 50
    assert stars_for(1, "USD", Decimal("0.5")) == 1  # never zero Stars
    assert stars_for(1500, "JPY", Decimal("0.1")) == 150  # JPY has no minor units
    assert stars_for(42, "XTR", Decimal("7")) == 42  # already Stars


@given(
    amount=st.integers(min_value=1, max_value=10**9),
    rate=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1000"), places=2),
)
def test_the_stars_price_covers_the_amount(amount: int, rate: Decimal) -> None:
    stars = stars_for(amount, "USD", rate)
    assert Decimal(stars) >= Decimal(amount) / 100 * rate
    assert Decimal(stars - 1) < max(Decimal(amount) / 100 * rate, Decimal(1))


def test_refuses_a_rate_or_amount_that_makes_no_sense() -> None:
    with pytest.raises(InvalidRequest, match="rate"):
        stars_for(100, "USD", Decimal("0"))
    with pytest.raises(InvalidRequest, match="positive amount"):
        stars_for(0, "USD", Decimal("1"))


def test_an_order_uses_its_variants_stars_prices_when_all_have_one() -> None:
    assert order_stars_price([(30, 2), (5, 1)], 9999, "USD", None) == 65
    # One line without a Stars price: the whole total goes through the rate.
    assert order_stars_price([(30, 2), (None, 1)], 1000, "USD", Decimal("20")) == 200
    with pytest.raises(InvalidRequest, match="no Stars rate"):
        order_stars_price([(30, 2), (None, 1)], 1000, "USD", None)
