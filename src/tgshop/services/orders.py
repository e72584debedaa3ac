"""Placing orders and moving them through their life.

Placing an order (:meth:`OrderService.place_order`):
- the lines come from the customer's cart (or an explicit list for "buy now"); quantities
  are requests, prices and titles are read from the database and snapshotted on the order;
- stock of every tracked variant is reserved in the same transaction that creates the
  order, with a conditional ``UPDATE ... WHERE stock_quantity >= :n`` per variant in
  ascending id order (a fixed lock order, so concurrent buyers cannot deadlock); stock can
  never go negative and is never oversold;
- if any line cannot be served, nothing is reserved and :class:`OutOfStock` lists *every*
  short line at once, with what is left;
- the order gets a human number, starts ``awaiting_payment`` and expires after the shop's
  ``order_ttl_minutes`` unless paid; the cart lines that were ordered are removed;
- the manager notification is written to the outbox in the same transaction.

Changing status (:meth:`OrderService.change_status`) follows domain.orders: illegal or
unauthorised moves are refused, the change is a conditional update (two staff pressing
buttons at once cannot both win), every change is recorded as an order event, cancelled and
expired orders give their reserved stock back, and the customer is notified via the outbox.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from tgshop.config import ShopSettings
from tgshop.db.engine import Database
from tgshop.db.models import Cart, CartItem, Order, OrderEvent, OrderItem, User, Variant
from tgshop.domain.catalog import StockMode
from tgshop.domain.errors import EmptyCart, InvalidRequest, NotFound, OutOfStock, Shortage
from tgshop.domain.money import Money
from tgshop.domain.orders import (
    Actor,
    OrderStatus,
    PaymentStatus,
    Transition,
    format_order_number,
    plan_transition,
)
from tgshop.services.outbox import enqueue
from tgshop.services.ports import Clock

NOTIFY_MANAGER_NEW_ORDER = "notify_manager_new_order"
NOTIFY_CUSTOMER_STATUS = "notify_customer_order_status"


@dataclass(frozen=True)
class OrderLine:
    variant_id: int
    quantity: int


@dataclass(frozen=True)
class PlaceOrderRequest:
    user_id: int
    lines: list[OrderLine] | None = None  # None: order the whole cart
    delivery: dict[str, Any] = field(default_factory=dict)


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


def _view(order: Order) -> OrderView:
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


def _merge(lines: list[OrderLine]) -> dict[int, int]:
    merged: dict[int, int] = {}
    for line in lines:
        if line.quantity < 1:
            raise InvalidRequest("every quantity must be at least 1")
        merged[line.variant_id] = merged.get(line.variant_id, 0) + line.quantity
    return merged


class OrderService:
    def __init__(self, db: Database, clock: Clock, shop: ShopSettings) -> None:
        self._db = db
        self._clock = clock
        self._shop = shop

    async def place_order(self, request: PlaceOrderRequest) -> OrderView:
        """Create an order and reserve its stock atomically (see module rules)."""
        now = self._clock.now()
        async with self._db.transaction() as session:
            if await session.get(User, request.user_id) is None:
                raise NotFound("no such user")
            cart_id, wanted = await self._wanted(session, request)
            if not wanted:
                raise EmptyCart("the cart is empty")
            variants = await self._variants(session, sorted(wanted))
            await self._reserve(session, wanted, variants)

            order = Order(
                user_id=request.user_id,
                status=OrderStatus.AWAITING_PAYMENT.value,
                payment_status=PaymentStatus.UNPAID.value,
                currency=self._shop.currency,
                subtotal_amount=0,
                discount_amount=0,
                delivery_amount=0,
                total_amount=0,
                delivery=request.delivery,
                expires_at=now + timedelta(minutes=self._shop.order_ttl_minutes),
                created_at=now,
                updated_at=now,
            )
            subtotal = Money.zero(self._shop.currency)
            for variant_id in sorted(wanted):
                variant, quantity = variants[variant_id], wanted[variant_id]
                unit = Money(variant.price_amount, variant.currency)
                line_total = unit * quantity
                subtotal = subtotal + line_total
                order.items.append(
                    OrderItem(
                        variant_id=variant.id,
                        product_id=variant.product_id,
                        kind=variant.product.kind,
                        sku=variant.sku,
                        title=variant.product.title,
                        variant_title=variant.title,
                        unit_price_amount=unit.amount,
                        quantity=quantity,
                        total_amount=line_total.amount,
                        stock_reserved=quantity if variant.stock_mode == StockMode.TRACKED else 0,
                    )
                )
            order.subtotal_amount = order.total_amount = subtotal.amount
            order.events.append(
                OrderEvent(
                    from_status=None,
                    to_status=OrderStatus.AWAITING_PAYMENT.value,
                    actor=Actor.CUSTOMER.value,
                    actor_user_id=request.user_id,
                    note=None,
                    created_at=now,
                )
            )
            session.add(order)
            await session.flush()
            order.number = format_order_number(self._shop.order_number_prefix, order.id)
            if cart_id is not None:
                await session.execute(
                    delete(CartItem).where(
                        CartItem.cart_id == cart_id, CartItem.variant_id.in_(list(wanted))
                    )
                )
            await enqueue(
                session,
                NOTIFY_MANAGER_NEW_ORDER,
                {"order_id": order.id},
                now=now,
                dedup_key=f"order:{order.id}:new",
            )
            await session.flush()
            return _view(order)

    async def _wanted(
        self, session: AsyncSession, request: PlaceOrderRequest
    ) -> tuple[int | None, dict[int, int]]:
        if request.lines is not None:
            return None, _merge(request.lines)
        cart = (
            await session.execute(select(Cart).where(Cart.user_id == request.user_id))
        ).scalar_one_or_none()
        if cart is None:
            return None, {}
        items = (
            await session.execute(select(CartItem).where(CartItem.cart_id == cart.id))
        ).scalars()
        return cart.id, _merge([OrderLine(i.variant_id, i.quantity) for i in items])

    @staticmethod
    async def _variants(session: AsyncSession, ids: list[int]) -> dict[int, Variant]:
        rows = (
            await session.execute(
                select(Variant).options(selectinload(Variant.product)).where(Variant.id.in_(ids))
            )
        ).scalars()
        return {v.id: v for v in rows}

    @staticmethod
    async def _reserve(
        session: AsyncSession, wanted: dict[int, int], variants: dict[int, Variant]
    ) -> None:
        """Reserve every tracked line in id order; on any shortage raise with all of them."""
        shortages: list[Shortage] = []
        for variant_id in sorted(wanted):
            quantity = wanted[variant_id]
            variant = variants.get(variant_id)
            if variant is None or not (variant.is_active and variant.product.is_active):
                title = (
                    f"{variant.product.title} ({variant.title})"
                    if variant
                    else f"item {variant_id}"
                )
                shortages.append(Shortage(variant_id, title, quantity, 0))
                continue
            if variant.stock_mode != StockMode.TRACKED:
                continue
            result = await session.execute(
                update(Variant)
                .where(Variant.id == variant_id, Variant.stock_quantity >= quantity)
                .values(stock_quantity=Variant.stock_quantity - quantity)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                left = (
                    await session.execute(
                        select(Variant.stock_quantity).where(Variant.id == variant_id)
                    )
                ).scalar_one()
                shortages.append(
                    Shortage(
                        variant_id, f"{variant.product.title} ({variant.title})", quantity, left
                    )
                )
        if shortages:
            # The caller's transaction rolls back, releasing whatever was reserved above.
            raise OutOfStock(shortages)

    async def change_status(
        self,
        order_id: int,
        target: OrderStatus,
        *,
        actor: Actor,
        actor_user_id: int | None = None,
        note: str | None = None,
        tracking_number: str | None = None,
    ) -> OrderView:
        """Apply one transition of the order state machine (see module rules).

        A customer may only act on their own order; someone else's order is "not found".
        """
        if note is not None and len(note) > 1000:
            raise InvalidRequest("note must be at most 1000 characters")
        if tracking_number is not None and not 1 <= len(tracking_number.strip()) <= 128:
            raise InvalidRequest("tracking number must be 1-128 characters")
        now = self._clock.now()
        async with self._db.transaction() as session:
            order = await self._load(session, order_id)
            if actor is Actor.CUSTOMER and order.user_id != actor_user_id:
                raise NotFound("no such order")
            transition = plan_transition(OrderStatus(order.status), target, actor)
            await self._apply(session, order, transition, actor_user_id, note, now, tracking_number)
            return _view(await self._load(session, order_id))

    async def _apply(
        self,
        session: AsyncSession,
        order: Order,
        transition: Transition,
        actor_user_id: int | None,
        note: str | None,
        now: datetime,
        tracking_number: str | None = None,
    ) -> None:
        values: dict[str, Any] = {"status": transition.target.value, "updated_at": now}
        if tracking_number is not None:
            values["tracking_number"] = tracking_number.strip()
        if transition.target is not OrderStatus.AWAITING_PAYMENT:
            values["expires_at"] = None
        changed = await session.execute(
            update(Order)
            .where(Order.id == order.id, Order.status == transition.source.value)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if changed.rowcount != 1:  # type: ignore[attr-defined]
            raise InvalidRequest("the order changed meanwhile; look at it again")
        if transition.releases_stock:
            for item in order.items:
                if item.stock_reserved and item.variant_id is not None:
                    await session.execute(
                        update(Variant)
                        .where(Variant.id == item.variant_id)
                        .values(stock_quantity=Variant.stock_quantity + item.stock_reserved)
                    )
            await session.execute(
                update(OrderItem).where(OrderItem.order_id == order.id).values(stock_reserved=0)
            )
        session.add(
            OrderEvent(
                order_id=order.id,
                from_status=transition.source.value,
                to_status=transition.target.value,
                actor=transition.actor.value,
                actor_user_id=actor_user_id,
                note=note,
                created_at=now,
            )
        )
        await enqueue(
            session,
            NOTIFY_CUSTOMER_STATUS,
            {"order_id": order.id, "status": transition.target.value},
            now=now,
            dedup_key=f"order:{order.id}:status:{transition.target.value}",
        )
        await session.flush()
        session.expire(order)

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
            async with self._db.transaction() as session:
                order = await self._load(session, order_id)
                if order.status != OrderStatus.AWAITING_PAYMENT.value:
                    continue  # paid or cancelled since we looked
                transition = plan_transition(
                    OrderStatus(order.status), OrderStatus.EXPIRED, Actor.SYSTEM
                )
                await self._apply(session, order, transition, None, "not paid in time", now)
                expired += 1
        return expired

    async def get(self, order_id: int, *, user_id: int | None = None) -> OrderView:
        """One order with items and history; with ``user_id``, only if it is theirs."""
        async with self._db.read() as session:
            order = await self._load(session, order_id)
            if user_id is not None and order.user_id != user_id:
                raise NotFound("no such order")
            return _view(order)

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
            return [_view(o) for o in orders]

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
