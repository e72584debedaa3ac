from __future__ import annotations

import pytest

from tgshop.domain.errors import IllegalTransition
from tgshop.domain.orders import (
    Actor,
    OrderStatus,
    allowed_targets,
    format_order_number,
    plan_transition,
)

S = OrderStatus


@pytest.mark.parametrize(
    ("source", "target", "actor"),
    [
        (S.AWAITING_PAYMENT, S.CONFIRMED, Actor.STAFF),
        (S.AWAITING_PAYMENT, S.CANCELLED, Actor.CUSTOMER),
        (S.AWAITING_PAYMENT, S.EXPIRED, Actor.SYSTEM),
        (S.CONFIRMED, S.SHIPPED, Actor.STAFF),
        (S.SHIPPED, S.DELIVERED, Actor.STAFF),
        (S.CONFIRMED, S.CANCELLED, Actor.STAFF),
        (S.CONFIRMED, S.CANCELLED, Actor.SYSTEM),  # refunded in full before shipping
    ],
)
def test_legal_transitions(source: S, target: S, actor: Actor) -> None:
    transition = plan_transition(source, target, actor)
    assert (transition.source, transition.target) == (source, target)


def test_cancelled_and_expired_release_stock_others_do_not() -> None:
    assert plan_transition(S.AWAITING_PAYMENT, S.CANCELLED, Actor.STAFF).releases_stock
    assert plan_transition(S.AWAITING_PAYMENT, S.EXPIRED, Actor.SYSTEM).releases_stock
    assert not plan_transition(S.CONFIRMED, S.SHIPPED, Actor.STAFF).releases_stock


@pytest.mark.parametrize(
    ("source", "target", "actor", "reason"),
    [
        (S.SHIPPED, S.CANCELLED, Actor.STAFF, "cannot go from shipped to cancelled"),
        (S.DELIVERED, S.SHIPPED, Actor.STAFF, "delivered; that is final"),
        (S.EXPIRED, S.CONFIRMED, Actor.STAFF, "expired; that is final"),
        (S.CONFIRMED, S.CANCELLED, Actor.CUSTOMER, "customer may not"),
        (S.AWAITING_PAYMENT, S.EXPIRED, Actor.STAFF, "staff may not"),
        (S.AWAITING_PAYMENT, S.SHIPPED, Actor.STAFF, "cannot go from awaiting_payment to shipped"),
        (S.CONFIRMED, S.CONFIRMED, Actor.STAFF, "already confirmed"),
    ],
)
def test_illegal_transitions_say_why(source: S, target: S, actor: Actor, reason: str) -> None:
    with pytest.raises(IllegalTransition, match=reason):
        plan_transition(source, target, actor)


def test_every_status_pair_is_either_planned_or_refused() -> None:
    for source in S:
        for actor in Actor:
            allowed = set(allowed_targets(source, actor))
            for target in S:
                if target in allowed:
                    assert plan_transition(source, target, actor).target is target
                else:
                    with pytest.raises(IllegalTransition):
                        plan_transition(source, target, actor)


def test_order_numbers() -> None:
    assert format_order_number("A", 42) == "A00042"
    assert format_order_number("", 1234567) == "1234567"
    with pytest.raises(ValueError, match="starts at 1"):
        format_order_number("A", 0)
