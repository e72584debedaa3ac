"""Refunds: which orders a customer may ask back, for how much, and what a refund may become.

Rules:
- a customer may ask for a refund of their own order that was paid (``paid`` or
  ``partially_refunded``) and still holds money (paid minus what was refunded or is being
  refunded), with no other request of theirs for it waiting on staff;
- the shop sets a policy window in days per product kind (``0`` = that kind is not
  refunded on request). The window runs from the moment the order was paid. A line is
  *inside* while its kind's window is open;
- when every line is inside, the request asks for all the order still holds; when only some
  are, it asks for those lines' share of the order total (their subtotal, less their part of
  the order discount, rounded down), never more than the order still holds; when none is,
  the request is refused and the customer is told when the window closed;
- staff approve in full or in part (any positive amount up to what was asked) or reject with
  a reason; a decision is made once;
- a refund moves ``requested → approved | rejected``, then ``approved → processing →
  succeeded``, ``approved → succeeded`` or ``failed``;
- once refunds that succeeded add up to the order total its payment status is
  ``refunded``, before that ``partially_refunded``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from tgshop.domain.catalog import ProductKind
from tgshop.domain.errors import IllegalTransition
from tgshop.domain.orders import PaymentStatus

DEFAULT_WINDOW_DAYS: Mapping[ProductKind, int] = {
    ProductKind.PHYSICAL: 14,
    ProductKind.SERVICE: 7,
    ProductKind.SUBSCRIPTION: 3,
    ProductKind.DIGITAL: 0,
}


class RefundState(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


R = RefundState
_MOVES: dict[RefundState, frozenset[RefundState]] = {
    R.REQUESTED: frozenset({R.APPROVED, R.REJECTED}),
    R.APPROVED: frozenset({R.PROCESSING, R.SUCCEEDED, R.FAILED}),
    R.PROCESSING: frozenset({R.SUCCEEDED, R.FAILED}),
    R.REJECTED: frozenset(),
    R.SUCCEEDED: frozenset(),
    R.FAILED: frozenset(),
}

# Refunds whose money is gone from the order or on its way out.
HOLDS_MONEY = frozenset({R.APPROVED, R.PROCESSING, R.SUCCEEDED})
# A request that waits for staff: a second one for the same order is refused.
OPEN = frozenset({R.REQUESTED})


def check_refund_change(source: RefundState, target: RefundState) -> None:
    """Raise IllegalTransition unless a refund may go from ``source`` to ``target``."""
    if target not in _MOVES[source]:
        raise IllegalTransition(f"a refund cannot go from {source.value} to {target.value}")


class Ineligible(StrEnum):
    """Why an order cannot be asked back (front ends word these codes)."""

    NOT_FOUND = "not_found"  # no such order, or someone else's
    NOT_PAID = "not_paid"
    REFUNDED = "refunded"  # nothing left to give back
    PENDING = "pending"  # a request for it already waits for staff
    WINDOW_CLOSED = "window_closed"


@dataclass(frozen=True)
class RefundLine:
    kind: ProductKind
    total: int  # the line total, minor units


@dataclass(frozen=True)
class Eligibility:
    """What may be asked back now: ``amount`` > 0, or ``refused`` says why not (with
    ``closed_at``, when the last window shut, for ``window_closed``)."""

    amount: int = 0
    refused: Ineligible | None = None
    closed_at: datetime | None = None
    whole: bool = False  # every line is still inside its window


def refundable(
    lines: Sequence[RefundLine],
    *,
    total: int,
    subtotal: int,
    held: int,
    paid_at: datetime,
    now: datetime,
    windows: Mapping[ProductKind, int],
) -> Eligibility:
    """How much of a paid order may be asked back at ``now`` (see module rules). ``held`` is
    what the order still holds: its total less refunds approved, processing or done."""
    if held <= 0:
        return Eligibility(refused=Ineligible.REFUNDED)
    closes = [paid_at + timedelta(days=windows.get(line.kind, 0)) for line in lines]
    inside = [line for line, end in zip(lines, closes, strict=True) if now < end]
    if not inside:
        return Eligibility(refused=Ineligible.WINDOW_CLOSED, closed_at=max(closes, default=paid_at))
    if len(inside) == len(lines):
        return Eligibility(amount=held, whole=True)
    share = sum(line.total for line in inside)
    # The order discount and delivery spread over lines in proportion to their subtotal.
    amount = share * total // subtotal if subtotal > 0 else 0
    amount = min(amount, held)
    if amount <= 0:
        return Eligibility(refused=Ineligible.REFUNDED)
    return Eligibility(amount=amount)


# Gateways that can send money back themselves; the rest refund to the customer's balance.
_BACK_THROUGH_GATEWAY = frozenset({"stars", "yookassa"})


def goes_to_balance(gateway: str, whole: bool) -> bool:
    """Whether a refund is credited to the customer's balance rather than sent back through
    ``gateway``: CryptoBot, Telegram Payments cards, the wallet and manual payments have no
    way back, and Telegram Stars return whole payments only (``whole``: the refund is the
    entire payment)."""
    if gateway == "stars":
        return not whole
    return gateway not in _BACK_THROUGH_GATEWAY


def payment_status_after(total: int, refunded: int) -> PaymentStatus:
    """The order's payment status once ``refunded`` of its ``total`` went back."""
    if refunded <= 0:
        return PaymentStatus.PAID
    return PaymentStatus.REFUNDED if refunded >= total else PaymentStatus.PARTIALLY_REFUNDED


def parse_windows(text: str) -> dict[ProductKind, int]:
    """``physical=14,digital=0`` → a window per kind; kinds not named keep their default.
    Raises ValueError naming the bad part."""
    windows = dict(DEFAULT_WINDOW_DAYS)
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, days = part.partition("=")
        if not sep:
            raise ValueError(f"{part!r}: write kind=days, e.g. physical=14")
        try:
            kind = ProductKind(name.strip().lower())
        except ValueError:
            kinds = ", ".join(k.value for k in ProductKind)
            raise ValueError(f"{name.strip()!r} is not a product kind ({kinds})") from None
        try:
            value = int(days.strip())
        except ValueError:
            raise ValueError(f"{part!r}: days must be a whole number") from None
        if not 0 <= value <= 3650:
            raise ValueError(f"{part!r}: days must be 0-3650")
        windows[kind] = value
    return windows
