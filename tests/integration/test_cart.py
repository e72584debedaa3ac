from __future__ import annotations

import pytest

from tests.support.factories import make_product, make_user
from tests.support.fakes import FrozenClock
from tgshop.config import ShopSettings
from tgshop.db.engine import Database
from tgshop.db.models import Variant
from tgshop.domain.errors import InvalidRequest, NotFound, OutOfStock
from tgshop.services.cart import CartService, LineProblem


@pytest.fixture
def carts(db: Database, clock: FrozenClock) -> CartService:
    return CartService(db, clock, ShopSettings(max_cart_lines=3, max_line_quantity=20))


async def test_add_set_remove_clear_with_totals_from_the_database(
    db: Database, carts: CartService
) -> None:
    user = await make_user(db)
    tea = await make_product(db, "Tea", variants=[("100 g", 990, 10), ("250 g", 2190, 10)])
    small, big = tea.variants
    await carts.add(user.id, small.id, 2)
    view = await carts.add(user.id, small.id, 1)
    assert [(line.quantity, str(line.line_total)) for line in view.lines] == [(3, "29.70 USD")]
    view = await carts.add(user.id, big.id)
    assert str(view.total) == "51.60 USD" and view.item_count == 4
    # A price change shows at once: the cart stores no prices.
    async with db.transaction() as session:
        (await session.get(Variant, big.id)).price_amount = 2000  # type: ignore[union-attr]
    assert str((await carts.view(user.id)).total) == "49.70 USD"
    view = await carts.set_quantity(user.id, small.id, 1)
    assert str(view.total) == "29.90 USD"
    view = await carts.set_quantity(user.id, small.id, 0)
    assert [line.variant_id for line in view.lines] == [big.id]
    view = await carts.remove(user.id, big.id)
    assert view.is_empty
    await carts.add(user.id, small.id)
    assert (await carts.clear(user.id)).is_empty


async def test_cannot_add_more_than_stock(db: Database, carts: CartService) -> None:
    user = await make_user(db)
    tea = await make_product(db, variants=[("100 g", 990, 2)])
    await carts.add(user.id, tea.variants[0].id, 2)
    with pytest.raises(OutOfStock) as error:
        await carts.add(user.id, tea.variants[0].id, 1)
    assert error.value.shortages[0].available == 2
    assert "asked 3, 2 left" in error.value.message


async def test_unlimited_has_no_stock_cap_but_line_limit_applies(
    db: Database, carts: CartService
) -> None:
    user = await make_user(db)
    ebook = await make_product(db, "E-book", kind="digital", variants=[("PDF", 500, None)])
    view = await carts.add(user.id, ebook.variants[0].id, 20)
    assert view.lines[0].available is None
    with pytest.raises(InvalidRequest, match="between 1 and 20"):
        await carts.add(user.id, ebook.variants[0].id, 1)


@pytest.mark.parametrize("quantity", [0, -1, 21])
async def test_bad_quantities(db: Database, carts: CartService, quantity: int) -> None:
    user = await make_user(db)
    tea = await make_product(db)
    with pytest.raises(InvalidRequest, match="quantity must be between"):
        await carts.add(user.id, tea.variants[0].id, quantity)


async def test_inactive_or_unknown_items_cannot_be_added(db: Database, carts: CartService) -> None:
    user = await make_user(db)
    hidden = await make_product(db, is_active=False)
    with pytest.raises(NotFound):
        await carts.add(user.id, hidden.variants[0].id)
    with pytest.raises(NotFound):
        await carts.add(user.id, 987654)
    with pytest.raises(NotFound, match="no such user"):
        await carts.add(424242, hidden.variants[0].id)


async def test_line_count_limit(db: Database, carts: CartService) -> None:
    user = await make_user(db)
    product = await make_product(db, variants=[(f"v{i}", 100, 5) for i in range(4)])
    for variant in product.variants[:3]:
        await carts.add(user.id, variant.id)
    with pytest.raises(InvalidRequest, match="at most 3 different items"):
        await carts.add(user.id, product.variants[3].id)


async def test_lines_that_became_unavailable_are_flagged_and_not_totalled(
    db: Database, carts: CartService
) -> None:
    user = await make_user(db)
    product = await make_product(db, variants=[("a", 100, 5), ("b", 200, 5)])
    a, b = product.variants
    await carts.add(user.id, a.id, 4)
    await carts.add(user.id, b.id, 1)
    async with db.transaction() as session:
        (await session.get(Variant, a.id)).stock_quantity = 1  # type: ignore[union-attr]
        (await session.get(Variant, b.id)).is_active = False  # type: ignore[union-attr]
    view = await carts.view(user.id)
    assert [line.problem for line in view.lines] == [
        LineProblem.INSUFFICIENT,
        LineProblem.UNAVAILABLE,
    ]
    assert view.total.amount == 0 and not view.can_checkout
