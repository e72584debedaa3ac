"""No oversell under real concurrency: on PostgreSQL, where rows are locked and transactions
really overlap, and on SQLite, where writers queue for the database lock."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from tests.support import databases
from tests.support.factories import make_product, make_user, stock_of
from tests.support.fakes import FrozenClock
from tgshop.config import ShopSettings
from tgshop.db.engine import Database
from tgshop.db.models import Order
from tgshop.domain.errors import EmptyCart, OutOfStock
from tgshop.services.cart import CartService
from tgshop.services.orders import OrderService, PlaceOrderRequest


async def test_200_buyers_50_units(db: Database, db_url: str, clock: FrozenClock) -> None:
    product = await make_product(db, "Limited", variants=[("one", 1000, 50)])
    variant_id = product.variants[0].id
    users = [await make_user(db, telegram_id=500_000 + i) for i in range(200)]
    # A pool big enough that buyers really overlap inside the database.
    crowd = databases.database_for(db_url, pool_size=40, max_overflow=0)
    try:
        carts = CartService(crowd, clock, ShopSettings())
        orders = OrderService(crowd, clock, ShopSettings())
        for user in users:
            await carts.add(user.id, variant_id, 1)

        async def buy(user_id: int) -> str:
            try:
                await orders.place_order(PlaceOrderRequest(user_id))
                return "won"
            except OutOfStock as exc:
                told = exc.shortages[0].available == 0 and "0 left" in exc.message
                return "told why" if told else f"told something else: {exc.message}"

        outcomes = await asyncio.gather(*(buy(u.id) for u in users))
    finally:
        await crowd.dispose()
    assert outcomes.count("won") == 50
    assert outcomes.count("told why") == 150
    assert await stock_of(db, variant_id) == 0
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(Order))).scalar_one() == 50


async def test_concurrent_multi_line_orders_do_not_deadlock(db: Database, db_url: str) -> None:
    """Buyers take the same two variants in opposite orders; locks in id order prevent deadlock."""
    clock = FrozenClock()
    a = await make_product(db, "A", variants=[("a", 100, 40)])
    b = await make_product(db, "B", variants=[("b", 100, 40)])
    users = [await make_user(db, telegram_id=600_000 + i) for i in range(60)]
    crowd = databases.database_for(db_url, pool_size=30, max_overflow=0)
    try:
        carts = CartService(crowd, clock, ShopSettings())
        orders = OrderService(crowd, clock, ShopSettings())
        for i, user in enumerate(users):
            first, second = (a, b) if i % 2 else (b, a)
            await carts.add(user.id, first.variants[0].id)
            await carts.add(user.id, second.variants[0].id)

        async def buy(user_id: int) -> bool:
            try:
                await orders.place_order(PlaceOrderRequest(user_id))
                return True
            except OutOfStock:
                return False

        won = sum(await asyncio.gather(*(buy(u.id) for u in users)))
    finally:
        await crowd.dispose()
    assert won == 40
    assert await stock_of(db, a.variants[0].id) == 0
    assert await stock_of(db, b.variants[0].id) == 0


async def test_concurrent_cart_changes_are_not_lost(db: Database, db_url: str) -> None:
    """A double tap, or the bot and the Mini App at once: every add counts, one cart."""
    clock = FrozenClock()
    tea = await make_product(db, "Tea", variants=[("x", 100, None)])
    newcomer = await make_user(db, telegram_id=700_001)
    regular = await make_user(db, telegram_id=700_002)
    crowd = databases.database_for(db_url, pool_size=12, max_overflow=0)
    try:
        carts = CartService(crowd, clock, ShopSettings())
        await carts.add(regular.id, tea.variants[0].id, 1)
        await asyncio.gather(
            *(carts.add(newcomer.id, tea.variants[0].id, 1) for _ in range(5)),
            *(carts.add(regular.id, tea.variants[0].id, 1) for _ in range(5)),
        )
        assert [line.quantity for line in (await carts.view(newcomer.id)).lines] == [5]
        assert [line.quantity for line in (await carts.view(regular.id)).lines] == [6]
    finally:
        await crowd.dispose()


async def test_a_double_tap_on_checkout_places_one_order(db: Database, db_url: str) -> None:
    """Two checkouts of one cart at once (a double tap, or the bot and the Mini App): one
    order; the other finds the cart already ordered instead of reserving the stock twice."""
    clock = FrozenClock()
    tea = await make_product(db, "Tea", variants=[("x", 100, 10)])
    buyer = await make_user(db, telegram_id=710_001)
    crowd = databases.database_for(db_url, pool_size=8, max_overflow=0)
    try:
        await CartService(crowd, clock, ShopSettings()).add(buyer.id, tea.variants[0].id, 3)
        orders = OrderService(crowd, clock, ShopSettings())

        async def checkout() -> str:
            try:
                await orders.place_order(PlaceOrderRequest(buyer.id))
                return "placed"
            except EmptyCart:
                return "already ordered"

        outcomes = await asyncio.gather(*(checkout() for _ in range(6)))
    finally:
        await crowd.dispose()
    assert sorted(outcomes) == ["already ordered"] * 5 + ["placed"]
    assert await stock_of(db, tea.variants[0].id) == 7
