"""What the order use cases return: plain values, never ORM rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tgshop.db.models import Order
from tgshop.domain.money import Money
from tgshop.domain.orders import OrderStatus, PaymentStatus


@dataclass(frozen=True)
class OrderItemView:
    sku: str
    title: str
    variant_title: str
    kind: str
    quantity: int
    unit_price: Money
    total: Money


@dataclass(frozen=True)
class OrderEventView:
    from_status: str | None
    to_status: str
    actor: str
    actor_user_id: int | None
    note: str | None
    at: datetime


@dataclass(frozen=True)
class OrderView:
    id: int
    number: str
    user_id: int
    status: OrderStatus
    payment_status: PaymentStatus
    total: Money
    items: list[OrderItemView]
    events: list[OrderEventView]
    delivery: dict[str, Any]
    tracking_number: str | None
    created_at: datetime
    expires_at: datetime | None


def order_view(order: Order) -> OrderView:
    """Build the view of an order whose items and events are loaded."""
    return OrderView(
        id=order.id,
        number=order.number or "",
        user_id=order.user_id,
        status=OrderStatus(order.status),
        payment_status=PaymentStatus(order.payment_status),
        total=Money(order.total_amount, order.currency),
        items=[
            OrderItemView(
                i.sku,
                i.title,
                i.variant_title,
                i.kind,
                i.quantity,
                Money(i.unit_price_amount, order.currency),
                Money(i.total_amount, order.currency),
            )
            for i in order.items
        ],
        events=[
            OrderEventView(
                e.from_status, e.to_status, e.actor, e.actor_user_id, e.note, e.created_at
            )
            for e in order.events
        ],
        delivery=dict(order.delivery or {}),
        tracking_number=order.tracking_number,
        created_at=order.created_at,
        expires_at=order.expires_at,
    )
