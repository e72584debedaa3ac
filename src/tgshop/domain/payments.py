"""Payments: which gateway, what a payment may become, what Stars cost, and where money that
arrives too late goes.

Rules:
- a payment is asked for (``pending``) and then settles once: ``succeeded`` (money received),
  ``failed`` or ``cancelled`` (no money). A gateway may still report money for a payment we
  had given up on (a crypto invoice paid after we stopped waiting): money received always
  wins, so ``failed`` and ``cancelled`` may still become ``succeeded``; ``succeeded`` never
  changes again (a refund is a separate record);
- amounts and currencies of a payment come from our database when it is created; the
  provider's report must match them exactly, or the money is treated as money we did not
  expect (see :class:`LateMoneyPolicy`);
- the price in Telegram Stars is the variant's own Stars price when every line has one,
  otherwise the order total converted at the configured rate, always rounded up (a shop
  never undercharges by rounding); when the balance pays part of an order (a mixed
  payment), Stars pay their share of the rest, rounded up too;
- money that arrives for an order that can no longer take it (expired, cancelled, already
  paid) is still money received: it is credited to the customer's wallet or refunded, as
  configured, and the customer is told. It is never dropped.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal
from enum import StrEnum

from tgshop.domain.errors import IllegalTransition, InvalidRequest
from tgshop.domain.money import currency_exponent


class NotPayable(InvalidRequest):
    """The order cannot be paid this way now; ``reason`` is a short code front ends word:
    ``paid``, ``closed`` (expired or cancelled), ``no_stars_price``, ``switched_off``."""

    code = "not_payable"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Gateway(StrEnum):
    STARS = "stars"
    TELEGRAM = "telegram"  # cards through a Telegram Payments provider token
    CRYPTOBOT = "cryptobot"
    YOOKASSA = "yookassa"
    WALLET = "wallet"
    MANUAL = "manual"


class PaymentState(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class PaymentPurpose(StrEnum):
    ORDER = "order"
    TOPUP = "topup"


class LateMoneyPolicy(StrEnum):
    """What to do with money that arrives for an order that can no longer take it."""

    CREDIT = "credit"  # to the customer's wallet, in the shop currency
    REFUND = "refund"  # back through the gateway it came from


_SETTLES = {
    PaymentState.PENDING: frozenset(
        {PaymentState.SUCCEEDED, PaymentState.FAILED, PaymentState.CANCELLED}
    ),
    PaymentState.FAILED: frozenset({PaymentState.SUCCEEDED}),
    PaymentState.CANCELLED: frozenset({PaymentState.SUCCEEDED}),
    PaymentState.SUCCEEDED: frozenset(),
}


# The states in which a payment may still receive money.
RECEIVES_MONEY = frozenset(
    state for state, targets in _SETTLES.items() if PaymentState.SUCCEEDED in targets
)


def check_payment_change(source: PaymentState, target: PaymentState) -> None:
    """Raise IllegalTransition unless a payment may go from ``source`` to ``target``."""
    if target not in _SETTLES[source]:
        raise IllegalTransition(f"a payment cannot go from {source.value} to {target.value}")


def stars_for(amount: int, currency: str, stars_per_unit: Decimal) -> int:
    """Telegram Stars for ``amount`` minor units of ``currency`` at ``stars_per_unit`` Stars
    per whole unit, rounded up; at least one Star."""
    if currency == "XTR":
        return amount
    if stars_per_unit <= 0:
        raise InvalidRequest("the Stars rate must be positive")
    if amount <= 0:
        raise InvalidRequest("only a positive amount can be paid")
    units = Decimal(amount).scaleb(-currency_exponent(currency))
    stars = (units * stars_per_unit).to_integral_value(rounding=ROUND_CEILING)
    return max(int(stars), 1)


def order_stars_price(
    lines: list[tuple[int | None, int]],
    total: int,
    currency: str,
    stars_per_unit: Decimal | None,
) -> int:
    """The Stars price of an order: the sum of the lines' own Stars prices (``(stars price,
    quantity)`` per line) when every line has one, otherwise the total at the rate.

    Raises InvalidRequest when neither is possible (no Stars price and no rate configured).
    """
    if lines and all(price is not None and price > 0 for price, _ in lines):
        return sum(price * quantity for price, quantity in lines if price is not None)
    if stars_per_unit is None:
        raise NotPayable(
            "no_stars_price",
            "this order cannot be paid in Stars: not every item has a Stars price "
            "and no Stars rate is configured",
        )
    return stars_for(total, currency, stars_per_unit)


def stars_share(stars: int, part: int, whole: int) -> int:
    """The Stars for ``part`` of an amount ``whole`` that costs ``stars`` in all (a mixed
    payment: what the balance leaves), rounded up, at least one Star."""
    if not 0 < part <= whole:
        raise InvalidRequest("the part must be more than zero and at most the whole")
    return max(-(-stars * part // whole), 1)
