"""The cart memory (services/cart.py): what a cart view may show from memory, and what
must show at once. One process here; test_change_notices.py has several."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import delete, select, update

from tests.support.factories import make_product, make_user
from tests.support.fakes import FrozenClock
from tgshop.app import Container, build_container
from tgshop.config import Settings
from tgshop.db.engine import Database
from tgshop.db.models import CartItem, Product, Variant
from tgshop.domain.delivery import DeliveryDetails
from tgshop.services.cart import CartService, LineProblem

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def container(
    make_settings: Callable[..., Settings], db: Database, db_url: str, clock: FrozenClock
) -> Container:
    settings = make_settings(
        database={"url": db_url},
        shop={"cart_cache_seconds": 60, "catalog_cache_seconds": 5},
    )
    return build_container(settings, db=db, clock=clock)


async def behind_its_back(db: Database, statement: object) -> None:
    """A change nobody announces (a direct database edit)."""
    async with db.transaction() as session:
        await session.execute(statement)  # type: ignore[call-overload]


async def one_tea_in_cart(carts: CartService, db: Database, quantity: int) -> tuple[int, int]:
    """A customer with ``quantity`` of a 9.90 tea (10 in stock) in the cart: (user, variant)."""
    user = await make_user(db)
    tea = await make_product(db, variants=[("100 g", 990, 10)])
    variant = tea.variants[0].id
    await carts.add(user.id, variant, quantity)
    return user.id, variant


async def test_the_customers_own_changes_show_at_once(container: Container) -> None:
    carts, db = container.carts, container.db
    user = await make_user(db)
    tea = await make_product(db, "Sencha", variants=[("100 g", 990, 10), ("250 g", 2190, 5)])
    small, large = (v.id for v in tea.variants)

    assert (await carts.view(user.id)).is_empty  # remembered: an empty cart
    await carts.add(user.id, small, 2)
    assert [(ln.variant_id, ln.quantity) for ln in (await carts.view(user.id)).lines] == [
        (small, 2)
    ]
    await carts.set_quantity(user.id, small, 3)
    await carts.add(user.id, large)
    seen = await carts.view(user.id)
    assert [(ln.variant_id, ln.quantity) for ln in seen.lines] == [(small, 3), (large, 1)]
    assert seen.total.amount == 3 * 990 + 2190
    await carts.remove(user.id, small)
    assert [ln.variant_id for ln in (await carts.view(user.id)).lines] == [large]
    await carts.clear(user.id)
    assert (await carts.view(user.id)).is_empty


async def test_lines_changed_behind_its_back_show_when_the_memory_runs_out(
    container: Container, clock: FrozenClock
) -> None:
    carts, db = container.carts, container.db
    user_id, _ = await one_tea_in_cart(carts, db, 2)
    assert (await carts.view(user_id)).item_count == 2

    await behind_its_back(db, update(CartItem).values(quantity=4))
    clock.advance(seconds=59)
    assert (await carts.view(user_id)).item_count == 2  # remembered for 60 s
    assert (await carts.view(user_id, fresh=True)).item_count == 4  # checkout's read
    clock.advance(seconds=2)
    assert (await carts.view(user_id)).item_count == 4


async def test_prices_and_stock_are_as_old_as_the_catalogs_at_most(
    container: Container, clock: FrozenClock
) -> None:
    carts, db = container.carts, container.db
    user_id, variant = await one_tea_in_cart(carts, db, 3)
    assert (await carts.view(user_id)).total.amount == 3 * 990

    await behind_its_back(
        db, update(Variant).where(Variant.id == variant).values(price_amount=1200, stock_quantity=2)
    )
    clock.advance(seconds=4)
    assert (await carts.view(user_id)).total.amount == 3 * 990
    clock.advance(seconds=2)  # past the catalog's 5 s: the lines are still remembered
    seen = await carts.view(user_id)
    assert (seen.lines[0].unit_price.amount, seen.lines[0].available) == (1200, 2)
    assert seen.lines[0].problem is LineProblem.INSUFFICIENT
    assert not seen.can_checkout

    its_product = select(Variant.product_id).where(Variant.id == variant).scalar_subquery()
    await behind_its_back(
        db, update(Product).where(Product.id == its_product).values(is_active=False)
    )
    clock.advance(seconds=6)
    assert (await carts.view(user_id)).lines[0].problem is LineProblem.UNAVAILABLE


async def test_a_variant_gone_from_the_database_is_read_afresh(
    container: Container, clock: FrozenClock
) -> None:
    carts, db = container.carts, container.db
    user = await make_user(db)
    tea = await make_product(db, variants=[("100 g", 990, 10), ("250 g", 2190, 5)])
    await carts.add(user.id, tea.variants[0].id)
    await carts.add(user.id, tea.variants[1].id)
    assert len((await carts.view(user.id)).lines) == 2

    await behind_its_back(db, delete(CartItem).where(CartItem.variant_id == tea.variants[1].id))
    await behind_its_back(db, delete(Variant).where(Variant.id == tea.variants[1].id))
    clock.advance(seconds=6)  # the facts expired, the lines did not: one variant is missing
    assert [ln.variant_id for ln in (await carts.view(user.id)).lines] == [tea.variants[0].id]


async def test_checkout_reads_the_cart_afresh_and_placing_an_order_empties_the_memory(
    container: Container,
) -> None:
    carts, db = container.carts, container.db
    user = await make_user(db)
    ebook = await make_product(db, "E-book", kind="digital", variants=[("PDF", 500, None)])
    variant = ebook.variants[0].id
    await carts.add(user.id, variant)
    assert (await carts.view(user.id)).total.amount == 500

    await behind_its_back(db, update(Variant).values(price_amount=700))
    review = await container.checkout.review(user.id)
    assert review.cart.total.amount == 700  # not the remembered 500
    await container.checkout.place(user.id, DeliveryDetails(), expected_total=700)
    assert (await carts.view(user.id)).is_empty


async def test_a_catalog_import_forgets_the_prices_at_once(container: Container) -> None:
    carts, db = container.carts, container.db
    user_id, _ = await one_tea_in_cart(carts, db, 1)
    assert (await carts.view(user_id)).total.amount == 990

    await behind_its_back(db, update(Variant).values(price_amount=1500))
    await container.notices.announce("catalog", 0)  # what import_catalog ends with
    assert (await carts.view(user_id)).total.amount == 1500


async def test_with_no_memory_every_view_reads_the_database(
    make_settings: Callable[..., Settings], db: Database, db_url: str, clock: FrozenClock
) -> None:
    settings = make_settings(database={"url": db_url}, shop={"cart_cache_seconds": 0})
    carts = build_container(settings, db=db, clock=clock).carts
    user_id, _ = await one_tea_in_cart(carts, db, 1)
    assert (await carts.view(user_id)).item_count == 1
    await behind_its_back(db, update(CartItem).values(quantity=5))
    assert (await carts.view(user_id)).item_count == 5
