"""Sales figures for staff (/admin): how a day went.

Rules:
- a day is a UTC calendar day, taken from the service clock; an order belongs to the day it
  was placed (``created_at``), whatever happened to it later;
- orders fall into three groups by their current status: awaiting payment; accepted
  (confirmed, shipped or delivered — paid, or accepted by staff for payment on delivery);
  and closed (cancelled or expired);
- revenue is the total of the accepted group;
- amounts are summed per currency, the shop's currency first (and always shown, zero on a
  quiet day); an order in another currency (the shop changed currency) is never converted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from sqlalchemy import func, select

from tgshop.config import ShopSettings
from tgshop.db.engine import Database
from tgshop.db.models import Order
from tgshop.domain.money import Money
from tgshop.domain.orders import OrderStatus
from tgshop.services.ports import Clock


class StatusGroup(StrEnum):
    AWAITING_PAYMENT = "awaiting_payment"
    ACCEPTED = "accepted"
    CLOSED = "closed"


GROUP_OF_STATUS: dict[str, StatusGroup] = {
    OrderStatus.AWAITING_PAYMENT.value: StatusGroup.AWAITING_PAYMENT,
    OrderStatus.CONFIRMED.value: StatusGroup.ACCEPTED,
    OrderStatus.SHIPPED.value: StatusGroup.ACCEPTED,
    OrderStatus.DELIVERED.value: StatusGroup.ACCEPTED,
    OrderStatus.CANCELLED.value: StatusGroup.CLOSED,
    OrderStatus.EXPIRED.value: StatusGroup.CLOSED,
}


@dataclass
class GroupFigures:
    orders: int = 0
    totals: list[Money] = field(default_factory=list)  # one per currency, shop's first


@dataclass(frozen=True)
class DayStats:
    day: date
    orders: int
    groups: dict[StatusGroup, GroupFigures]

    @property
    def revenue(self) -> list[Money]:
        return self.groups[StatusGroup.ACCEPTED].totals


class SalesStatsService:
    def __init__(self, db: Database, clock: Clock, shop: ShopSettings) -> None:
        self._db = db
        self._clock = clock
        self._currency = shop.currency

    async def today(self) -> DayStats:
        """The current UTC day so far (see module rules)."""
        return await self.day(self._clock.now().astimezone(UTC).date())

    async def day(self, day: date) -> DayStats:
        start = datetime.combine(day, time.min, tzinfo=UTC)
        rows = await self._rows(start, start + timedelta(days=1))
        sums: dict[StatusGroup, dict[str, int]] = {g: {self._currency: 0} for g in StatusGroup}
        counts = dict.fromkeys(StatusGroup, 0)
        for status, currency, count, total in rows:
            group = GROUP_OF_STATUS.get(status, StatusGroup.CLOSED)
            counts[group] += count
            sums[group][currency] = sums[group].get(currency, 0) + total
        groups = {
            g: GroupFigures(
                counts[g],
                [Money(amount, code) for code, amount in sums[g].items()],
            )
            for g in StatusGroup
        }
        return DayStats(day=day, orders=sum(counts.values()), groups=groups)

    async def _rows(self, start: datetime, end: datetime) -> list[tuple[str, str, int, int]]:
        async with self._db.read() as session:
            result = await session.execute(
                select(
                    Order.status,
                    Order.currency,
                    func.count(Order.id),
                    func.coalesce(func.sum(Order.total_amount), 0),
                )
                .where(Order.created_at >= start, Order.created_at < end)
                .group_by(Order.status, Order.currency)
                .order_by(Order.status, Order.currency)
            )
            return [(s, c, int(n), int(t)) for s, c, n, t in result.all()]
