from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from tests.support import databases
from tests.support.factories import make_product, make_user, stock_of
from tests.support.fakes import FrozenClock
from tgshop.config import ShopSettings
from tgshop.db.engine import Database
from tgshop.db.models import OutboxJob, Variant
from tgshop.domain.errors import (
    EmptyCart,
    IllegalTransition,
    InvalidRequest,
    NotFound,
    OutOfStock,
    PriceChanged,
)
from tgshop.domain.orders import Actor, OrderStatus, PaymentStatus
from tgshop.services.cart import CartService
from tgshop.services.orders import OrderLine, OrderService, PlaceOrderRequest

SHOP = ShopSettings(order_ttl_minutes=30, order_number_prefix="T")


@pytest.fixture
def orders(db: Database, clock: FrozenClock) -> OrderService:
    return OrderService(db, clock, SHOP)


@pytest.fixture
def carts(db: Database, clock: FrozenClock) -> CartService:
    return CartService(db, clock, SHOP)


async def _jobs(db: Database) -> list[tuple[str, str | None]]:
    async with db.read() as session:
        rows = (await session.execute(select(OutboxJob).order_by(OutboxJob.id))).scalars()
        return [(j.kind, j.dedup_key) for j in rows]


async def test_place_order_from_cart(
    db: Database, orders: OrderService, carts: CartService, clock: FrozenClock
) -> None:
    user = await make_user(db)
    tea = await make_product(db, "Sencha", variants=[("100 g", 990, 5)])
    ebook = await make_product(db, "Guide", kind="digital", variants=[("PDF", 500, None)])
    await carts.add(user.id, tea.variants[0].id, 2)
    await carts.add(user.id, ebook.variants[0].id, 1)
    order = await orders.place_order(PlaceOrderRequest(user.id, delivery={"name": "Alice"}))

    assert order.number == f"T{order.id:05d}"
    assert order.status is OrderStatus.AWAITING_PAYMENT
    assert order.payment_status is PaymentStatus.UNPAID
    assert str(order.total) == "24.80 USD"
    assert [(i.title, i.quantity, str(i.unit_price)) for i in order.items] == [
        ("Sencha", 2, "9.90 USD"),
        ("Guide", 1, "5.00 USD"),
    ]
    assert order.expires_at is not None and (order.expires_at - clock.now()).total_seconds() == 1800
    assert [(e.from_status, e.to_status, e.actor) for e in order.events] == [
        (None, "awaiting_payment", "customer")
    ]
    assert await stock_of(db, tea.variants[0].id) == 3
    assert (await carts.view(user.id)).is_empty
    assert await _jobs(db) == [("notify_manager_new_order", f"order:{order.id}:new")]


async def test_a_confirmed_total_that_is_no_longer_true_places_nothing(
    db: Database, orders: OrderService, carts: CartService
) -> None:
    user = await make_user(db)
    tea = await make_product(db, "Sencha", variants=[("100 g", 990, 5)])
    await carts.add(user.id, tea.variants[0].id, 2)
    shown = (await carts.view(user.id)).total.amount
    async with db.transaction() as session:  # the merchant raises the price meanwhile
        (await session.get(Variant, tea.variants[0].id)).price_amount = 1090  # type: ignore[union-attr]
    with pytest.raises(PriceChanged, match=r"21\.80 USD"):
        await orders.place_order(PlaceOrderRequest(user.id, expected_total=shown))
    assert await stock_of(db, tea.variants[0].id) == 5
    assert len((await carts.view(user.id)).lines) == 1  # the cart is kept to look at again
    order = await orders.place_order(PlaceOrderRequest(user.id, expected_total=2180))
    assert str(order.total) == "21.80 USD"


async def test_snapshots_survive_catalog_changes(db: Database, orders: OrderService) -> None:
    user = await make_user(db)
    tea = await make_product(db, "Sencha", variants=[("100 g", 990, 5)])
    order = await orders.place_order(PlaceOrderRequest(user.id, [OrderLine(tea.variants[0].id, 1)]))
    async with db.transaction() as session:
        variant = await session.get(Variant, tea.variants[0].id)
        assert variant is not None
        variant.price_amount, variant.title = 5000, "renamed"
    again = await orders.get(order.id)
    assert (again.items[0].variant_title, again.items[0].unit_price.amount) == ("100 g", 990)


async def test_every_shortage_is_reported_at_once_and_nothing_is_reserved(
    db: Database, orders: OrderService
) -> None:
    user = await make_user(db)
    a = await make_product(db, "A", variants=[("x", 100, 5)])
    b = await make_product(db, "B", variants=[("y", 100, 1)])
    c = await make_product(db, "C", variants=[("z", 100, 0)])
    hidden = await make_product(db, "Gone", variants=[("w", 100, 9)], is_active=False)
    lines = [
        OrderLine(a.variants[0].id, 2),
        OrderLine(b.variants[0].id, 3),
        OrderLine(c.variants[0].id, 1),
        OrderLine(hidden.variants[0].id, 1),
    ]
    with pytest.raises(OutOfStock) as error:
        await orders.place_order(PlaceOrderRequest(user.id, lines))
    assert {(s.title, s.requested, s.available) for s in error.value.shortages} == {
        ("B (y)", 3, 1),
        ("C (z)", 1, 0),
        ("Gone (w)", 1, 0),
    }
    assert await stock_of(db, a.variants[0].id) == 5  # A's reservation rolled back
    assert await _jobs(db) == []


async def test_empty_cart_and_unknown_user(db: Database, orders: OrderService) -> None:
    user = await make_user(db)
    with pytest.raises(EmptyCart):
        await orders.place_order(PlaceOrderRequest(user.id))
    with pytest.raises(NotFound):
        await orders.place_order(PlaceOrderRequest(999_999, [OrderLine(1, 1)]))


async def test_duplicate_lines_are_merged_against_stock(db: Database, orders: OrderService) -> None:
    user = await make_user(db)
    tea = await make_product(db, variants=[("x", 100, 3)])
    vid = tea.variants[0].id
    with pytest.raises(OutOfStock):
        await orders.place_order(PlaceOrderRequest(user.id, [OrderLine(vid, 2), OrderLine(vid, 2)]))
    order = await orders.place_order(
        PlaceOrderRequest(user.id, [OrderLine(vid, 1), OrderLine(vid, 2)])
    )
    assert order.items[0].quantity == 3 and await stock_of(db, vid) == 0


async def test_lifecycle_records_every_transition(db: Database, orders: OrderService) -> None:
    user = await make_user(db)
    staff = await make_user(db, first_name="Staff")
    tea = await make_product(db, variants=[("x", 100, 3)])
    order = await orders.place_order(PlaceOrderRequest(user.id, [OrderLine(tea.variants[0].id, 1)]))
    await orders.change_status(
        order.id,
        OrderStatus.CONFIRMED,
        actor=Actor.STAFF,
        actor_user_id=staff.id,
        note="paid in cash",
    )
    shipped = await orders.change_status(
        order.id,
        OrderStatus.SHIPPED,
        actor=Actor.STAFF,
        actor_user_id=staff.id,
        tracking_number=" RR123 ",
    )
    assert shipped.tracking_number == "RR123" and shipped.expires_at is None
    done = await orders.change_status(
        order.id, OrderStatus.DELIVERED, actor=Actor.STAFF, actor_user_id=staff.id
    )
    assert [(e.from_status, e.to_status, e.actor_user_id) for e in done.events] == [
        (None, "awaiting_payment", user.id),
        ("awaiting_payment", "confirmed", staff.id),
        ("confirmed", "shipped", staff.id),
        ("shipped", "delivered", staff.id),
    ]
    assert done.events[1].note == "paid in cash"
    with pytest.raises(IllegalTransition, match="final"):
        await orders.change_status(order.id, OrderStatus.CANCELLED, actor=Actor.STAFF)
    assert await stock_of(db, tea.variants[0].id) == 2  # delivered goods stay sold
    kinds = [k for k, _ in await _jobs(db)]
    assert kinds.count("notify_customer_order_status") == 3


async def test_customer_cancels_own_unpaid_order_and_stock_returns(
    db: Database, orders: OrderService
) -> None:
    alice = await make_user(db)
    mallory = await make_user(db, first_name="Mallory")
    tea = await make_product(db, variants=[("x", 100, 3)])
    order = await orders.place_order(
        PlaceOrderRequest(alice.id, [OrderLine(tea.variants[0].id, 2)])
    )
    with pytest.raises(NotFound):
        await orders.change_status(
            order.id, OrderStatus.CANCELLED, actor=Actor.CUSTOMER, actor_user_id=mallory.id
        )
    with pytest.raises(NotFound):
        await orders.get(order.id, user_id=mallory.id)
    cancelled = await orders.change_status(
        order.id, OrderStatus.CANCELLED, actor=Actor.CUSTOMER, actor_user_id=alice.id
    )
    assert cancelled.status is OrderStatus.CANCELLED
    assert await stock_of(db, tea.variants[0].id) == 3
    with pytest.raises(IllegalTransition):
        await orders.change_status(order.id, OrderStatus.CANCELLED, actor=Actor.STAFF)
    assert await stock_of(db, tea.variants[0].id) == 3  # released once only


async def test_unpaid_orders_expire_and_release_stock(
    db: Database, orders: OrderService, clock: FrozenClock
) -> None:
    user = await make_user(db)
    tea = await make_product(db, variants=[("x", 100, 3)])
    old = await orders.place_order(PlaceOrderRequest(user.id, [OrderLine(tea.variants[0].id, 1)]))
    clock.advance(minutes=20)
    fresh = await orders.place_order(PlaceOrderRequest(user.id, [OrderLine(tea.variants[0].id, 1)]))
    paid = await orders.place_order(PlaceOrderRequest(user.id, [OrderLine(tea.variants[0].id, 1)]))
    await orders.change_status(paid.id, OrderStatus.CONFIRMED, actor=Actor.STAFF)
    assert await stock_of(db, tea.variants[0].id) == 0
    clock.advance(minutes=15)  # old is 35 min old, fresh 15
    assert await orders.expire_unpaid() == 1
    assert (await orders.get(old.id)).status is OrderStatus.EXPIRED
    assert (await orders.get(fresh.id)).status is OrderStatus.AWAITING_PAYMENT
    assert await stock_of(db, tea.variants[0].id) == 1
    clock.advance(minutes=60)
    assert await orders.expire_unpaid() == 1
    assert await orders.expire_unpaid() == 0
    assert (await orders.get(paid.id)).status is OrderStatus.CONFIRMED
    assert await stock_of(db, tea.variants[0].id) == 2


async def test_list_for_user_newest_first(
    db: Database, orders: OrderService, clock: FrozenClock
) -> None:
    alice = await make_user(db)
    bob = await make_user(db, first_name="Bob")
    tea = await make_product(db, variants=[("x", 100, None)])
    first = await orders.place_order(
        PlaceOrderRequest(alice.id, [OrderLine(tea.variants[0].id, 1)])
    )
    clock.advance(seconds=1)
    second = await orders.place_order(
        PlaceOrderRequest(alice.id, [OrderLine(tea.variants[0].id, 1)])
    )
    await orders.place_order(PlaceOrderRequest(bob.id, [OrderLine(tea.variants[0].id, 1)]))
    assert [o.id for o in await orders.list_for_user(alice.id)] == [second.id, first.id]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([(0, 1000)], "at most 999 per order"),
        ([(0, 600), (0, 600)], "at most 999 per order"),
        ([(0, 0)], "lines\\[0\\].quantity"),
        ([(0, True)], "whole number"),
        ([(0, 3_000_000_000)], "at most 999"),
    ],
)
async def test_buy_now_is_held_to_cart_limits(
    db: Database, orders: OrderService, lines: list[tuple[int, int]], message: str
) -> None:
    user = await make_user(db)
    ebook = await make_product(db, "E-book", kind="digital", variants=[("PDF", 500, None)])
    request = [OrderLine(ebook.variants[i].id, q) for i, q in lines]
    with pytest.raises(InvalidRequest, match=message):
        await orders.place_order(PlaceOrderRequest(user.id, request))


async def test_buy_now_line_count_limit(db: Database, clock: FrozenClock) -> None:
    user = await make_user(db)
    product = await make_product(db, variants=[(f"v{i}", 100, None) for i in range(3)])
    small = OrderService(db, clock, ShopSettings(max_cart_lines=2))
    with pytest.raises(InvalidRequest, match="at most 2 different items"):
        await small.place_order(
            PlaceOrderRequest(user.id, [OrderLine(v.id, 1) for v in product.variants])
        )


@pytest.mark.parametrize(
    ("delivery", "message"),
    [
        ({"address": "x" * 1001}, "delivery.address is longer"),
        ({"flag": True}, "text or a number"),
        ({f"k{i}": "v" for i in range(21)}, "more than 20 fields"),
        ({"": "x"}, "1-32 characters"),
        ({"nested": {"a": 1}}, "text or a number"),
    ],
)
async def test_delivery_details_are_bounded(
    db: Database, orders: OrderService, delivery: dict[str, object], message: str
) -> None:
    user = await make_user(db)
    tea = await make_product(db, variants=[("x", 100, 3)])
    with pytest.raises(InvalidRequest, match=message):
        await orders.place_order(
            PlaceOrderRequest(user.id, [OrderLine(tea.variants[0].id, 1)], delivery)
        )
    assert await stock_of(db, tea.variants[0].id) == 3


async def test_tracking_number_only_when_staff_ships(db: Database, orders: OrderService) -> None:
    user = await make_user(db)
    tea = await make_product(db, variants=[("x", 100, 3)])
    order = await orders.place_order(PlaceOrderRequest(user.id, [OrderLine(tea.variants[0].id, 1)]))
    with pytest.raises(InvalidRequest, match="given by staff when shipping"):
        await orders.change_status(
            order.id,
            OrderStatus.CANCELLED,
            actor=Actor.CUSTOMER,
            actor_user_id=user.id,
            tracking_number="X1",
        )
    await orders.change_status(order.id, OrderStatus.CONFIRMED, actor=Actor.STAFF)
    with pytest.raises(InvalidRequest, match="1-128"):
        await orders.change_status(
            order.id, OrderStatus.SHIPPED, actor=Actor.STAFF, tracking_number="  "
        )


async def test_items_priced_in_another_currency_are_not_sold(
    db: Database, orders: OrderService, carts: CartService
) -> None:
    user = await make_user(db)
    euro = await make_product(db, "Euro tea", variants=[("x", 100, 5)], currency="EUR")
    usd = await make_product(db, "Dollar tea", variants=[("y", 100, 5)])
    with pytest.raises(NotFound, match="not available"):
        await carts.add(user.id, euro.variants[0].id)
    with pytest.raises(OutOfStock) as error:
        await orders.place_order(
            PlaceOrderRequest(
                user.id, [OrderLine(euro.variants[0].id, 1), OrderLine(usd.variants[0].id, 1)]
            )
        )
    assert [(s.title, s.available) for s in error.value.shortages] == [("Euro tea (x)", 0)]
    assert await stock_of(db, usd.variants[0].id) == 5


async def test_expiry_skips_orders_changed_by_someone_else(
    db: Database, db_url: str, clock: FrozenClock
) -> None:
    """Two workers expiring at once: every order expires once, neither run fails."""
    user = await make_user(db)
    tea = await make_product(db, variants=[("x", 100, 40)])
    first = OrderService(db, clock, SHOP)
    for _ in range(20):
        await first.place_order(PlaceOrderRequest(user.id, [OrderLine(tea.variants[0].id, 2)]))
    clock.advance(hours=1)
    other_db = databases.database_for(db_url)
    try:
        second = OrderService(other_db, clock, SHOP)
        counts = await asyncio.gather(first.expire_unpaid(), second.expire_unpaid())
    finally:
        await other_db.dispose()
    assert sum(counts) == 20
    assert await stock_of(db, tea.variants[0].id) == 40
