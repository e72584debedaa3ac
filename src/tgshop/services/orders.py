"""Orders after checkout: status changes, expiry, and reading them back.

Placing an order lives in :mod:`tgshop.services.order_placement`; this service exposes it.

Changing status (:meth:`OrderService.change_status`) follows domain.orders: illegal or
unauthorised moves are refused, the change is a conditional update (two staff pressing
buttons at once cannot both win), every change is recorded as an order event, cancelled and
expired orders give their reserved stock back, and the customer is notified via the outbox
(and the manager chat too when the customer made the change: staff see their own).
A change that loses a race raises :class:`ConcurrentChange`; expiry skips such orders.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Table, Update, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from tgshop.config import ShopSettings
from tgshop.db.engine import Database
from tgshop.db.models import Order, OrderEvent, OrderItem, Variant
from tgshop.domain.errors import ConcurrentChange, InvalidRequest, NotFound
from tgshop.domain.orders import Actor, OrderStatus, PaymentStatus, Transition, plan_transition
from tgshop.services.order_placement import (
    NOTIFY_MANAGER_NEW_ORDER,
    OrderLine,
    PlaceOrderRequest,
    build_statements,
    place_order,
)
from tgshop.services.order_views import OrderEventView, OrderItemView, OrderView, order_view
from tgshop.services.outbox import enqueue_many
from tgshop.services.ports import Clock

__all__ = [
    "NOTIFY_CUSTOMER_STATUS",
    "NOTIFY_MANAGER_NEW_ORDER",
    "NOTIFY_MANAGER_STATUS",
    "OrderEventView",
    "OrderItemView",
    "OrderLine",
    "OrderService",
    "OrderView",
    "PlaceOrderRequest",
]

NOTIFY_CUSTOMER_STATUS = "notify_customer_order_status"
NOTIFY_MANAGER_STATUS = "notify_manager_order_status"


async def apply_transition(
    session: AsyncSession,
    order: Order,
    transition: Transition,
    actor_user_id: int | None,
    note: str | None,
    now: datetime,
    tracking_number: str | None = None,
    payment_status: PaymentStatus | None = None,
) -> None:
    """:func:`write_transition` for a loaded order (with its items when the target
    releases stock); the order object is expired afterwards."""
    await write_transition(
        session,
        order.id,
        transition,
        actor_user_id,
        note,
        now,
        tracking_number=tracking_number,
        payment_status=payment_status,
        items=order.items if transition.releases_stock else (),
    )
    session.expire(order)


async def write_transition(
    session: AsyncSession,
    order_id: int,
    transition: Transition,
    actor_user_id: int | None,
    note: str | None,
    now: datetime,
    *,
    tracking_number: str | None = None,
    payment_status: PaymentStatus | None = None,
    items: Sequence[OrderItem] = (),
    tell_manager: bool | None = None,
) -> None:
    """Write one planned transition: the conditional status update (ConcurrentChange if the
    order moved on), the stock of ``items`` released when the target releases it, the order
    event, and the notifications as outbox jobs — all in the caller's unit of work.

    A ``payment_status`` is set in the same update (a payment that confirms the order). The
    manager hears of changes the customer made (``tell_manager`` overrides that)."""
    values: dict[str, Any] = {"status": transition.target.value, "updated_at": now}
    if payment_status is not None:
        values["payment_status"] = payment_status.value
    if tracking_number is not None:
        values["tracking_number"] = tracking_number.strip()
    if transition.target is not OrderStatus.AWAITING_PAYMENT:
        values["expires_at"] = None
    connection = await session.connection()
    changed = await connection.execute(
        _status_update(frozenset(values)),
        {**values, "_id": order_id, "_source": transition.source.value},
    )
    if changed.rowcount != 1:
        raise ConcurrentChange("the order changed meanwhile; look at it again")
    if transition.releases_stock:
        for item in items:
            if item.stock_reserved and item.variant_id is not None:
                await session.execute(
                    update(Variant)
                    .where(Variant.id == item.variant_id)
                    .values(stock_quantity=Variant.stock_quantity + item.stock_reserved)
                )
        await session.execute(
            update(OrderItem).where(OrderItem.order_id == order_id).values(stock_reserved=0)
        )
    await connection.execute(
        _EVENTS.insert(),
        {
            "order_id": order_id,
            "from_status": transition.source.value,
            "to_status": transition.target.value,
            "actor": transition.actor.value,
            "actor_user_id": actor_user_id,
            "note": note,
            "created_at": now,
        },
    )
    status = transition.target.value
    jobs = [
        (
            NOTIFY_CUSTOMER_STATUS,
            {"order_id": order_id, "status": status},
            f"order:{order_id}:status:{status}",
        )
    ]
    if tell_manager if tell_manager is not None else transition.actor is Actor.CUSTOMER:
        jobs.append(
            (
                NOTIFY_MANAGER_STATUS,
                {"order_id": order_id, "status": status},
                f"order:{order_id}:manager-status:{status}",
            )
        )
    await enqueue_many(session, jobs, now=now)


_ORDERS = cast(Table, Order.__table__)
_EVENTS = cast(Table, OrderEvent.__table__)


@lru_cache(maxsize=32)
def _status_update(columns: frozenset[str]) -> Update:
    """``UPDATE orders SET <columns> WHERE id = :_id AND status = :_source``, built once per
    set of columns (a status change is on the path of every payment)."""
    return (
        _ORDERS.update()
        .where(_ORDERS.c.id == bindparam("_id"), _ORDERS.c.status == bindparam("_source"))
        .values({name: bindparam(name, type_=_ORDERS.c[name].type) for name in sorted(columns)})
    )


class OrderService:
    def __init__(self, db: Database, clock: Clock, shop: ShopSettings) -> None:
        self._db = db
        self._clock = clock
        self._shop = shop
        self._placement = build_statements()

    async def place_order(self, request: PlaceOrderRequest) -> OrderView:
        """Create an order and reserve its stock atomically (see order_placement)."""
        async with self._db.transaction() as session:
            return await place_order(
                session, self._placement, request, self._shop, self._clock.now()
            )

    async def change_status(
        self,
        order_id: int,
        target: OrderStatus,
        *,
        actor: Actor,
        actor_user_id: int | None = None,
        note: str | None = None,
        tracking_number: str | None = None,
        expected_status: OrderStatus | None = None,
    ) -> OrderView:
        """Apply one transition of the order state machine (see module rules).

        A customer may only act on their own order; someone else's order is "not found".
        With ``expected_status`` (the status the person saw, e.g. when a button was drawn)
        the change is refused with ConcurrentChange if the order has moved on since.
        """
        if note is not None and len(note) > 1000:
            raise InvalidRequest("note must be at most 1000 characters")
        if tracking_number is not None:
            if actor is not Actor.STAFF or target is not OrderStatus.SHIPPED:
                raise InvalidRequest("a tracking number is given by staff when shipping")
            if not 1 <= len(tracking_number.strip()) <= 128:
                raise InvalidRequest("tracking number must be 1-128 characters")
        now = self._clock.now()
        async with self._db.transaction() as session:
            order = await self._load(session, order_id)
            if actor is Actor.CUSTOMER and order.user_id != actor_user_id:
                raise NotFound("no such order")
            if expected_status is not None and order.status != expected_status.value:
                raise ConcurrentChange(
                    f"the order is {order.status} now, no longer {expected_status.value}"
                )
            transition = plan_transition(
                OrderStatus(order.status), target, actor, PaymentStatus(order.payment_status)
            )
            await apply_transition(
                session, order, transition, actor_user_id, note, now, tracking_number
            )
            return order_view(await self._load(session, order_id))

    async def expire_unpaid(self, *, limit: int = 200) -> int:
        """Expire unpaid orders past their deadline and release their stock; return how many."""
        now = self._clock.now()
        async with self._db.read() as session:
            ids = list(
                (
                    await session.execute(
                        select(Order.id)
                        .where(
                            Order.status == OrderStatus.AWAITING_PAYMENT.value,
                            Order.expires_at <= now,
                        )
                        .order_by(Order.expires_at)
                        .limit(limit)
                    )
                ).scalars()
            )
        expired = 0
        for order_id in ids:
            try:
                async with self._db.transaction() as session:
                    order = await self._load(session, order_id)
                    if order.status != OrderStatus.AWAITING_PAYMENT.value:
                        continue  # paid or cancelled since we looked
                    transition = plan_transition(
                        OrderStatus(order.status), OrderStatus.EXPIRED, Actor.SYSTEM
                    )
                    await apply_transition(
                        session, order, transition, None, "not paid in time", now
                    )
                    expired += 1
            except ConcurrentChange:
                continue  # paid, cancelled or expired by another worker meanwhile
        return expired

    async def get(self, order_id: int, *, user_id: int | None = None) -> OrderView:
        """One order with items and history; with ``user_id``, only if it is theirs."""
        async with self._db.read() as session:
            order = await self._load(session, order_id)
            if user_id is not None and order.user_id != user_id:
                raise NotFound("no such order")
            return order_view(order)

    async def list_for_user(
        self, user_id: int, *, limit: int = 20, offset: int = 0
    ) -> list[OrderView]:
        """A customer's orders, newest first."""
        if not 1 <= limit <= 100 or offset < 0:
            raise InvalidRequest("limit must be 1-100 and offset not negative")
        async with self._db.read() as session:
            orders = (
                await session.execute(
                    select(Order)
                    .options(selectinload(Order.items), selectinload(Order.events))
                    .where(Order.user_id == user_id)
                    .order_by(Order.created_at.desc(), Order.id.desc())
                    .limit(limit)
                    .offset(offset)
                )
            ).scalars()
            return [order_view(o) for o in orders]

    @staticmethod
    async def _load(session: AsyncSession, order_id: int) -> Order:
        order = (
            await session.execute(
                select(Order)
                .options(selectinload(Order.items), selectinload(Order.events))
                .where(Order.id == order_id)
                .execution_options(populate_existing=True)
            )
        ).scalar_one_or_none()
        if order is None:
            raise NotFound("no such order")
        return order
