"""Staff use cases on SQLite and PostgreSQL: who is staff, staff moving orders, the
maintenance switch and the day's sales figures."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import delete, select

from tests.support.factories import make_product, make_user
from tests.support.fakes import FrozenClock
from tgshop.app import Container, build_container
from tgshop.config import Settings
from tgshop.db.engine import Database
from tgshop.db.models import AuditLog, Order, OrderEvent, Setting, StaffMember, User
from tgshop.domain.errors import ConcurrentChange, IllegalTransition, NotFound
from tgshop.domain.money import Money
from tgshop.domain.orders import Actor, OrderStatus
from tgshop.services.maintenance import MaintenanceService
from tgshop.services.orders import OrderLine, OrderView, PlaceOrderRequest
from tgshop.services.sales_stats import StatusGroup
from tgshop.services.staff import NotStaff, StaffService
from tgshop.services.users import UserView

CONFIGURED_STAFF = 700_001


class Timer:
    """A monotonic clock the test moves (the caches read one)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def container(
    make_settings: Callable[..., Settings], db: Database, clock: FrozenClock
) -> Container:
    settings = make_settings(telegram={"staff_ids": str(CONFIGURED_STAFF)})
    return build_container(settings, db=db, clock=clock)


async def add_staff(db: Database, user: User, role: str) -> None:
    async with db.transaction() as session:
        session.add(StaffMember(user_id=user.id, role=role, permissions=[]))


def view_of(user: User) -> UserView:
    return UserView(
        user.id, user.telegram_id, user.first_name, None, None, "en", False, user.referral_code
    )


async def place(container: Container, user: User, variant_id: int, quantity: int) -> OrderView:
    return await container.orders.place_order(
        PlaceOrderRequest(user_id=user.id, lines=[OrderLine(variant_id, quantity)])
    )


# ------------------------------------------------------------------------ who is staff


async def test_staff_are_the_configured_ids_and_the_staff_members(
    db: Database, container: Container
) -> None:
    owner = await make_user(db, first_name="Olga")
    manager = await make_user(db, first_name="Max")
    viewer = await make_user(db, first_name="Vic")
    customer = await make_user(db, first_name="Cid")
    await add_staff(db, owner, "owner")
    await add_staff(db, manager, "manager")
    await add_staff(db, viewer, "viewer")  # not a role that may act

    staff = container.staff
    assert await staff.is_staff(CONFIGURED_STAFF)  # no user row needed
    assert await staff.is_staff(owner.telegram_id)
    assert await staff.is_staff(manager.telegram_id)
    assert not await staff.is_staff(viewer.telegram_id)
    assert not await staff.is_staff(customer.telegram_id)
    assert not await staff.is_staff(123)  # nobody at all


async def test_a_removed_staff_member_is_noticed_within_the_cache_time(
    db: Database, container: Container
) -> None:
    timer = Timer()
    staff = StaffService(
        db, container.orders, container.settings.telegram, cache_seconds=10, timer=timer
    )
    manager = await make_user(db, first_name="Max")
    await add_staff(db, manager, "manager")
    assert await staff.is_staff(manager.telegram_id)

    async with db.transaction() as session:
        await session.execute(delete(StaffMember).where(StaffMember.user_id == manager.id))
    timer.now += 9
    assert await staff.is_staff(manager.telegram_id)  # cached
    timer.now += 2
    assert not await staff.is_staff(manager.telegram_id)


# ------------------------------------------------------------------ staff moving orders


async def test_staff_move_an_order_as_they_saw_it(db: Database, container: Container) -> None:
    customer = await make_user(db, first_name="Cid")
    manager = await make_user(db, first_name="Max <b>", username="max")
    await add_staff(db, manager, "manager")
    variant = (await make_product(db)).variants[0]
    order = await place(container, customer, variant.id, 1)

    card = await container.staff.change_order_status(
        order.id,
        seen_status=OrderStatus.AWAITING_PAYMENT,
        target=OrderStatus.CONFIRMED,
        by=view_of(manager),
    )
    assert card.status is OrderStatus.CONFIRMED
    assert card.staff_targets == [
        OrderStatus.SHIPPED,
        OrderStatus.DELIVERED,
        OrderStatus.CANCELLED,
    ]
    [event] = card.history
    assert (event.to_status, event.actor, event.by_name, event.by_username) == (
        "confirmed",
        "staff",
        "Max <b>",
        "max",
    )

    # Pressed on a card drawn before the confirmation: refused, nothing changes.
    with pytest.raises(ConcurrentChange):
        await container.staff.change_order_status(
            order.id,
            seen_status=OrderStatus.AWAITING_PAYMENT,
            target=OrderStatus.CANCELLED,
            by=view_of(manager),
        )
    assert (await container.staff.order_card(order.id)).status is OrderStatus.CONFIRMED

    card = await container.staff.change_order_status(
        order.id,
        seen_status=OrderStatus.CONFIRMED,
        target=OrderStatus.SHIPPED,
        by=view_of(manager),
        tracking_number="TRK-1",
    )
    assert (card.status, card.tracking_number) == (OrderStatus.SHIPPED, "TRK-1")
    with pytest.raises(IllegalTransition):
        await container.staff.change_order_status(
            order.id,
            seen_status=OrderStatus.SHIPPED,
            target=OrderStatus.CANCELLED,
            by=view_of(manager),
        )
    with pytest.raises(NotFound):
        await container.staff.order_card(order.id + 1000)


async def test_someone_who_is_not_staff_cannot_move_an_order(
    db: Database, container: Container
) -> None:
    customer = await make_user(db, first_name="Cid")
    variant = (await make_product(db)).variants[0]
    order = await place(container, customer, variant.id, 1)

    with pytest.raises(NotStaff):
        await container.staff.change_order_status(
            order.id,
            seen_status=OrderStatus.AWAITING_PAYMENT,
            target=OrderStatus.CANCELLED,
            by=view_of(customer),
        )
    async with db.read() as session:
        statuses = (await session.execute(select(OrderEvent.to_status))).scalars().all()
    assert statuses == ["awaiting_payment"]


# ------------------------------------------------------------------------- maintenance


async def test_maintenance_is_stored_with_who_and_audited_once_per_change(
    db: Database, clock: FrozenClock, container: Container
) -> None:
    maria = await make_user(db, first_name="Maria")
    service = container.maintenance
    assert not await service.is_on()
    assert (await service.state()).enabled is False

    state = await service.set(True, by_user_id=maria.id)
    assert (state.enabled, state.updated_by, state.updated_at) == (True, maria.id, clock.now())
    assert await service.is_on()
    clock.advance(minutes=5)
    again = await service.set(True, by_user_id=maria.id)  # a double tap
    assert again.updated_at == state.updated_at
    await service.set(False, by_user_id=maria.id)
    assert not await service.is_on()

    async with db.read() as session:
        value = (
            await session.execute(select(Setting.value).where(Setting.key == "maintenance"))
        ).scalar_one()
        audit = (
            await session.execute(
                select(AuditLog.action, AuditLog.actor_user_id, AuditLog.data).order_by(AuditLog.id)
            )
        ).all()
    assert value == {"enabled": False}
    assert [tuple(a) for a in audit] == [
        ("maintenance.on", maria.id, {"enabled": True}),
        ("maintenance.off", maria.id, {"enabled": False}),
    ]


async def test_another_process_sees_the_switch_within_its_cache_time(
    db: Database, clock: FrozenClock
) -> None:
    timer = Timer()
    here = MaintenanceService(db, clock, cache_seconds=2, timer=timer)
    elsewhere = MaintenanceService(db, clock, cache_seconds=2, timer=timer)
    assert not await elsewhere.is_on()

    await here.set(True, by_user_id=None)
    assert await here.is_on()  # the process that switched knows at once
    timer.now += 1.5
    assert not await elsewhere.is_on()  # cached
    timer.now += 1
    assert await elsewhere.is_on()


# ----------------------------------------------------------------------- sales figures


async def test_the_day_counts_orders_placed_that_utc_day_by_status_group(
    db: Database, clock: FrozenClock, container: Container
) -> None:
    customer = await make_user(db, first_name="Cid")
    variant = (await make_product(db, variants=[("100 g", 990, 100)])).variants[0]
    orders = container.orders

    async def at(when: datetime, quantity: int) -> OrderView:
        clock._now = when
        return await place(container, customer, variant.id, quantity)

    await at(datetime(2026, 1, 14, 23, 59, 59, tzinfo=UTC), 7)  # yesterday
    await at(datetime(2026, 1, 16, 0, 0, tzinfo=UTC), 8)  # tomorrow
    await at(datetime(2026, 1, 15, 0, 0, tzinfo=UTC), 1)  # awaiting payment
    confirmed = await at(datetime(2026, 1, 15, 8, 0, tzinfo=UTC), 2)
    await orders.change_status(confirmed.id, OrderStatus.CONFIRMED, actor=Actor.STAFF)
    delivered = await at(datetime(2026, 1, 15, 9, 0, tzinfo=UTC), 3)
    await orders.change_status(delivered.id, OrderStatus.CONFIRMED, actor=Actor.STAFF)
    await orders.change_status(delivered.id, OrderStatus.DELIVERED, actor=Actor.STAFF)
    async with db.transaction() as session:  # from before the shop switched to USD
        when = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
        session.add(
            Order(
                user_id=customer.id,
                number="OLD1",
                status="confirmed",
                payment_status="paid",
                currency="EUR",
                subtotal_amount=2500,
                total_amount=2500,
                delivery={},
                created_at=when,
                updated_at=when,
            )
        )
    cancelled = await at(datetime(2026, 1, 15, 23, 59, 59, tzinfo=UTC), 4)
    await orders.change_status(cancelled.id, OrderStatus.CANCELLED, actor=Actor.STAFF)

    clock._now = datetime(2026, 1, 15, 23, 59, 59, tzinfo=UTC)
    stats = await container.sales_stats.today()
    assert (stats.day, stats.orders) == (date(2026, 1, 15), 5)
    groups = {g: (f.orders, f.totals) for g, f in stats.groups.items()}
    assert groups == {
        StatusGroup.AWAITING_PAYMENT: (1, [Money(990, "USD")]),
        StatusGroup.ACCEPTED: (3, [Money(4950, "USD"), Money(2500, "EUR")]),
        StatusGroup.CLOSED: (1, [Money(3960, "USD")]),
    }
    assert stats.revenue == [Money(4950, "USD"), Money(2500, "EUR")]

    quiet = await container.sales_stats.day(date(2026, 1, 10))
    assert quiet.orders == 0
    assert all(f.totals == [Money(0, "USD")] for f in quiet.groups.values())
