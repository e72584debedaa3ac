"""The refund policy: windows per product kind, how much an order may be asked back, where
the money goes, and what a refund may become."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tgshop.domain.catalog import ProductKind
from tgshop.domain.errors import IllegalTransition
from tgshop.domain.orders import PaymentStatus
from tgshop.domain.refunds import (
    DEFAULT_WINDOW_DAYS,
    Ineligible,
    RefundLine,
    RefundState,
    check_refund_change,
    goes_to_balance,
    parse_windows,
    payment_status_after,
    refundable,
)

PAID = datetime(2026, 1, 1, 12, tzinfo=UTC)
WINDOWS = {**DEFAULT_WINDOW_DAYS}  # physical 14, service 7, subscription 3, digital 0
P, D, S = ProductKind.PHYSICAL, ProductKind.DIGITAL, ProductKind.SERVICE


def _ask(lines, *, days: float, total: int | None = None, held: int | None = None):
    subtotal = sum(line.total for line in lines)
    total = subtotal if total is None else total
    return refundable(
        lines,
        total=total,
        subtotal=subtotal,
        held=total if held is None else held,
        paid_at=PAID,
        now=PAID + timedelta(days=days),
        windows=WINDOWS,
    )


def test_inside_every_window_the_whole_remainder_is_asked() -> None:
    verdict = _ask([RefundLine(P, 2500), RefundLine(S, 1000)], days=6, held=3000)
    assert (verdict.amount, verdict.whole, verdict.refused) == (3000, True, None)


def test_some_lines_outside_ask_for_their_share_of_the_total() -> None:
    # Service window (7 days) closed, physical (14) open; a 10 % order discount spreads.
    verdict = _ask([RefundLine(P, 2500), RefundLine(S, 1000)], days=8, total=3150)
    assert (verdict.amount, verdict.whole) == (2250, False)


def test_no_window_open_says_when_the_last_one_closed() -> None:
    verdict = _ask([RefundLine(P, 2500), RefundLine(D, 500)], days=14)
    assert verdict.refused is Ineligible.WINDOW_CLOSED
    assert verdict.closed_at == PAID + timedelta(days=14)
    assert _ask([RefundLine(D, 500)], days=0).refused is Ineligible.WINDOW_CLOSED


def test_nothing_held_is_nothing_to_ask() -> None:
    assert _ask([RefundLine(P, 2500)], days=1, held=0).refused is Ineligible.REFUNDED


@given(
    lines=st.lists(
        st.tuples(st.sampled_from(list(ProductKind)), st.integers(1, 100_000)),
        min_size=1,
        max_size=6,
    ),
    discount=st.integers(0, 100),
    refunded=st.integers(0, 100),
    days=st.floats(0, 30),
)
def test_never_more_than_the_order_holds(
    lines: list[tuple[ProductKind, int]], discount: int, refunded: int, days: float
) -> None:
    refund_lines = [RefundLine(kind, total) for kind, total in lines]
    subtotal = sum(total for _, total in lines)
    total = max(subtotal * (100 - discount) // 100, 1)
    held = total * (100 - refunded) // 100
    verdict = _ask(refund_lines, days=days, total=total, held=held)
    if verdict.refused is None:
        assert 0 < verdict.amount <= held
    else:
        assert verdict.amount == 0
    open_kinds = [kind for kind, _ in lines if days < WINDOWS[kind]]
    if held > 0 and not open_kinds:
        assert verdict.refused is Ineligible.WINDOW_CLOSED


def test_windows_from_config_text() -> None:
    windows = parse_windows(" physical=30 , DIGITAL=1,")
    assert windows[P] == 30 and windows[D] == 1 and windows[S] == DEFAULT_WINDOW_DAYS[S]
    for bad, says in (
        ("toys=3", "not a product kind"),
        ("physical", "write kind=days"),
        ("physical=two", "whole number"),
        ("physical=-1", "0-3650"),
    ):
        with pytest.raises(ValueError, match=says):
            parse_windows(bad)


def test_where_the_money_goes() -> None:
    assert not goes_to_balance("stars", whole=True)
    assert goes_to_balance("stars", whole=False)  # Telegram refunds whole Stars payments only
    assert not goes_to_balance("yookassa", whole=False)
    for gateway in ("telegram", "cryptobot", "wallet", "manual"):
        assert goes_to_balance(gateway, whole=True)


def test_payment_status_follows_the_refunded_sum() -> None:
    assert payment_status_after(1000, 0) is PaymentStatus.PAID
    assert payment_status_after(1000, 999) is PaymentStatus.PARTIALLY_REFUNDED
    assert payment_status_after(1000, 1000) is PaymentStatus.REFUNDED


R = RefundState


def test_a_refund_is_decided_once() -> None:
    check_refund_change(R.REQUESTED, R.APPROVED)
    check_refund_change(R.APPROVED, R.PROCESSING)
    check_refund_change(R.PROCESSING, R.SUCCEEDED)
    for source, target in (
        (R.APPROVED, R.REJECTED),
        (R.REJECTED, R.APPROVED),
        (R.SUCCEEDED, R.FAILED),
    ):
        with pytest.raises(IllegalTransition):
            check_refund_change(source, target)
