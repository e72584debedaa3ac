"""The order state machine.

Order status and payment status are separate axes: an order can be ``shipped`` and
``partially_refunded``. Every status change is a :class:`Transition` that a use case records
as an order event (who, when, note). A change that the table below does not allow — or that
the actor may not make — is refused with :class:`IllegalTransition`.

Rules:
- a new order starts ``awaiting_payment`` and holds its reserved stock until it is paid,
  cancelled or expires;
- only the system expires an order, and only while it is ``awaiting_payment``;
- a customer may cancel only their own order and only while it is ``awaiting_payment``;
- staff may confirm, ship, deliver and cancel; a shipped or delivered order cannot be
  cancelled (that is a refund, not a cancellation);
- ``cancelled`` and ``expired`` release the reserved stock; ``delivered``, ``cancelled`` and
  ``expired`` are final;
- an order that has been paid is not simply cancelled: the money has to go back first
  (a refund), so cancelling a paid order is refused; once it is refunded in full before
  shipping, the system cancels it and its stock goes back on sale.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tgshop.domain.errors import IllegalTransition


class OrderStatus(StrEnum):
    AWAITING_PAYMENT = "awaiting_payment"
    CONFIRMED = "confirmed"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class PaymentStatus(StrEnum):
    UNPAID = "unpaid"
    PAID = "paid"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


class Actor(StrEnum):
    CUSTOMER = "customer"
    STAFF = "staff"
    SYSTEM = "system"


S = OrderStatus

# (from, to) -> actors allowed to make that change.
_ALLOWED: dict[tuple[OrderStatus, OrderStatus], frozenset[Actor]] = {
    (S.AWAITING_PAYMENT, S.CONFIRMED): frozenset({Actor.STAFF, Actor.SYSTEM}),
    (S.AWAITING_PAYMENT, S.CANCELLED): frozenset({Actor.CUSTOMER, Actor.STAFF, Actor.SYSTEM}),
    (S.AWAITING_PAYMENT, S.EXPIRED): frozenset({Actor.SYSTEM}),
    (S.CONFIRMED, S.SHIPPED): frozenset({Actor.STAFF}),
    (S.CONFIRMED, S.DELIVERED): frozenset({Actor.STAFF, Actor.SYSTEM}),
    # The system cancels a confirmed order once it is refunded in full (services/refunds.py).
    (S.CONFIRMED, S.CANCELLED): frozenset({Actor.STAFF, Actor.SYSTEM}),
    (S.SHIPPED, S.DELIVERED): frozenset({Actor.STAFF, Actor.SYSTEM}),
}

FINAL_STATUSES = frozenset({S.DELIVERED, S.CANCELLED, S.EXPIRED})
RELEASES_STOCK = frozenset({S.CANCELLED, S.EXPIRED})


@dataclass(frozen=True)
class Transition:
    source: OrderStatus
    target: OrderStatus
    actor: Actor

    @property
    def releases_stock(self) -> bool:
        return self.target in RELEASES_STOCK


def allowed_targets(source: OrderStatus, actor: Actor) -> list[OrderStatus]:
    """Statuses ``actor`` may move an order to from ``source`` (for buttons and menus)."""
    return [to for (frm, to), actors in _ALLOWED.items() if frm is source and actor in actors]


def plan_transition(
    source: OrderStatus,
    target: OrderStatus,
    actor: Actor,
    payment: PaymentStatus = PaymentStatus.UNPAID,
) -> Transition:
    """Return the transition or raise IllegalTransition saying why it is refused."""
    if target is S.CANCELLED and payment is PaymentStatus.PAID:
        raise IllegalTransition("the order is paid: refund the payment instead of cancelling")
    if source is target:
        raise IllegalTransition(f"order is already {target.value}")
    actors = _ALLOWED.get((source, target))
    if actors is None:
        if source in FINAL_STATUSES:
            raise IllegalTransition(f"order is {source.value}; that is final")
        raise IllegalTransition(f"an order cannot go from {source.value} to {target.value}")
    if actor not in actors:
        raise IllegalTransition(
            f"{actor.value} may not move an order from {source.value} to {target.value}"
        )
    return Transition(source, target, actor)


def format_order_number(prefix: str, sequence: int) -> str:
    """Human order number: the shop prefix and a zero-padded sequence, e.g. ``A00042``."""
    if sequence < 1:
        raise ValueError("order sequence starts at 1")
    return f"{prefix}{sequence:05d}"
