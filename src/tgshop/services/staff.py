"""Shop staff in Telegram: who they are, what they see of an order, what they may do to it.

Rules:
- a person is staff when their Telegram id is listed in ``TGSHOP_STAFF_IDS`` or they have a
  ``staff_members`` row (role owner, admin or manager). Roles do not differ in the chat yet:
  any staff member may move any order. The answer is cached per process for
  ``cache_seconds`` (10 by default), so a row added or removed is noticed within that time;
- staff move orders along the state machine as ``Actor.STAFF``, recorded with their user id;
- a press carries the status the order had when the staff member looked at it, and is refused
  with ConcurrentChange if the order has moved on since (another staff member was quicker, the
  customer cancelled, the order expired): they must look again before acting;
- a tracking number is one line of 1-128 characters; ``-`` means "shipped without one".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from tgshop.config import TelegramSettings
from tgshop.db.engine import Database
from tgshop.db.models import Order, StaffMember, User
from tgshop.domain.errors import DomainError, InvalidRequest, NotFound
from tgshop.domain.money import Money
from tgshop.domain.orders import Actor, OrderStatus, PaymentStatus, allowed_targets
from tgshop.services.orders import OrderService
from tgshop.services.users import UserView

STAFF_ROLES = frozenset({"owner", "admin", "manager"})
NO_TRACKING_NUMBER = "-"
MAX_TRACKING_NUMBER = 128
_CACHE_LIMIT = 10_000


class NotStaff(DomainError):
    """Only shop staff may do this."""

    code = "not_staff"


class TrackingProblem(StrEnum):
    EMPTY = "empty"
    TOO_LONG = "too_long"
    NOT_ONE_LINE = "not_one_line"


class InvalidTrackingNumber(InvalidRequest):
    def __init__(self, problem: TrackingProblem) -> None:
        super().__init__(
            {
                TrackingProblem.EMPTY: "the tracking number is empty",
                TrackingProblem.TOO_LONG: f"a tracking number is at most {MAX_TRACKING_NUMBER}"
                " characters",
                TrackingProblem.NOT_ONE_LINE: "a tracking number is one line of text",
            }[problem]
        )
        self.problem = problem


def parse_tracking_number(text: str) -> str | None:
    """A staff member's answer to "tracking number?": the number, or None for ``-``."""
    value = text.strip()
    if value == NO_TRACKING_NUMBER:
        return None
    if not value:
        raise InvalidTrackingNumber(TrackingProblem.EMPTY)
    if not value.isprintable():  # newlines, tabs, control characters
        raise InvalidTrackingNumber(TrackingProblem.NOT_ONE_LINE)
    if len(value) > MAX_TRACKING_NUMBER:
        raise InvalidTrackingNumber(TrackingProblem.TOO_LONG)
    return value


@dataclass(frozen=True)
class CardLine:
    title: str
    variant_title: str
    quantity: int
    unit_price: Money
    total: Money


@dataclass(frozen=True)
class CardCustomer:
    first_name: str
    last_name: str | None
    username: str | None
    telegram_id: int

    @property
    def name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)


@dataclass(frozen=True)
class CardEvent:
    """A status change after placement: who (actor, and the person when staff) and when."""

    to_status: str
    actor: str
    by_name: str | None
    by_username: str | None
    note: str | None
    at: datetime


@dataclass(frozen=True)
class OrderCard:
    """Everything the manager chat shows of an order (plain values, no ORM rows)."""

    id: int
    number: str
    status: OrderStatus
    payment_status: PaymentStatus
    subtotal: Money
    discount: Money
    delivery_cost: Money
    total: Money
    lines: list[CardLine]
    delivery: dict[str, Any]
    tracking_number: str | None
    customer: CardCustomer
    history: list[CardEvent] = field(default_factory=list)

    @property
    def staff_targets(self) -> list[OrderStatus]:
        """What staff may move the order to now (the buttons under the card)."""
        return allowed_targets(self.status, Actor.STAFF)


async def load_order_card(session: AsyncSession, order_id: int) -> OrderCard:
    """Read an order as the manager chat shows it; NotFound if it does not exist."""
    order = await session.get(
        Order,
        order_id,
        options=[selectinload(Order.items), selectinload(Order.events)],
        populate_existing=True,
    )
    if order is None:
        raise NotFound(f"order {order_id} does not exist")
    customer = await session.get(User, order.user_id)
    if customer is None:  # the foreign key forbids it; say so rather than crash obscurely
        raise NotFound(f"order {order_id} has no user {order.user_id}")
    actor_ids = {e.actor_user_id for e in order.events if e.actor_user_id is not None}
    actors: dict[int, User] = {}
    if actor_ids:
        rows = await session.execute(select(User).where(User.id.in_(actor_ids)))
        actors = {u.id: u for u in rows.scalars()}

    def money(amount: int) -> Money:
        return Money(amount, order.currency)

    history = []
    for event in order.events:
        if event.from_status is None:
            continue  # placement itself: the card is the announcement of that
        person = actors.get(event.actor_user_id) if event.actor_user_id is not None else None
        history.append(
            CardEvent(
                to_status=event.to_status,
                actor=event.actor,
                by_name=(
                    " ".join(p for p in (person.first_name, person.last_name) if p)
                    or str(person.telegram_id)
                )
                if person
                else None,
                by_username=person.username if person else None,
                note=event.note,
                at=event.created_at,
            )
        )
    return OrderCard(
        id=order.id,
        number=order.number or f"#{order.id}",
        status=OrderStatus(order.status),
        payment_status=PaymentStatus(order.payment_status),
        subtotal=money(order.subtotal_amount),
        discount=money(order.discount_amount),
        delivery_cost=money(order.delivery_amount),
        total=money(order.total_amount),
        lines=[
            CardLine(
                i.title,
                i.variant_title,
                i.quantity,
                money(i.unit_price_amount),
                money(i.total_amount),
            )
            for i in order.items
        ],
        delivery=dict(order.delivery or {}),
        tracking_number=order.tracking_number,
        customer=CardCustomer(
            customer.first_name, customer.last_name, customer.username, customer.telegram_id
        ),
        history=history,
    )


class StaffService:
    def __init__(
        self,
        db: Database,
        orders: OrderService,
        telegram: TelegramSettings,
        *,
        cache_seconds: float = 10.0,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._orders = orders
        self._configured = frozenset(telegram.staff_ids)
        self._cache_seconds = cache_seconds
        self._timer = timer
        self._cache: dict[int, tuple[bool, float]] = {}

    async def is_staff(self, telegram_id: int) -> bool:
        """Listed in TGSHOP_STAFF_IDS or a staff_members row (see module rules)."""
        if telegram_id in self._configured:
            return True
        now = self._timer()
        cached = self._cache.get(telegram_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        async with self._db.read() as session:
            role = (
                await session.execute(
                    select(StaffMember.role)
                    .join(User, User.id == StaffMember.user_id)
                    .where(User.telegram_id == telegram_id)
                )
            ).scalar_one_or_none()
        answer = role in STAFF_ROLES
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()  # crude, but bounded; only staff-facing paths ask
        self._cache[telegram_id] = (answer, now + self._cache_seconds)
        return answer

    def forget(self) -> None:
        """Drop cached answers (after staff_members changed in this process)."""
        self._cache.clear()

    async def order_card(self, order_id: int) -> OrderCard:
        async with self._db.read() as session:
            return await load_order_card(session, order_id)

    async def change_order_status(
        self,
        order_id: int,
        *,
        seen_status: OrderStatus,
        target: OrderStatus,
        by: UserView,
        tracking_number: str | None = None,
    ) -> OrderCard:
        """A staff member moves an order from ``seen_status`` (what they looked at) to
        ``target``.

        NotStaff if they are not staff; ConcurrentChange if the order is no longer
        ``seen_status``; IllegalTransition if staff may not make that move; NotFound for an
        unknown order. The customer is notified through the outbox by OrderService."""
        if not await self.is_staff(by.telegram_id):
            raise NotStaff("only shop staff can change orders")
        await self._orders.change_status(
            order_id,
            target,
            actor=Actor.STAFF,
            actor_user_id=by.id,
            tracking_number=tracking_number,
            expected_status=seen_status,
        )
        return await self.order_card(order_id)
