"""The catalog's short-lived memory (TGSHOP_SHOP_CATALOG_CACHE_SECONDS): browsing reads come
from memory for a few seconds, changes show once they are that old (or at once after an
import through the service), and adding to the cart still reads the database."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, update

from tests.integration.test_bot_catalog import alert, press
from tests.integration.test_bot_webhook import bot_settings, shop
from tests.support.factories import make_category, make_product
from tests.support.fakes import FrozenClock
from tests.support.sandbox import RunningSandbox
from tgshop.config import Settings
from tgshop.db.engine import Database
from tgshop.db.models import Category, Product, Variant
from tgshop.domain.errors import NotFound
from tgshop.sandbox.client import buttons
from tgshop.services.catalog import CatalogService, ProductQuery

pytestmark = pytest.mark.timeout(90)


@contextmanager
def selects(db: Database) -> Iterator[list[str]]:
    """Every SELECT the engine sends to the database while the block runs."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        statement = str(args[2])
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def set_values(db: Database, model: Any, row_id: int, **values: Any) -> None:
    """A change made behind the service's back (another process, a database tool)."""
    async with db.transaction() as session:
        await session.execute(update(model).where(model.id == row_id).values(**values))


@pytest.fixture
async def tea(db: Database) -> dict[str, Any]:
    tea = await make_category(db, "Tea")
    coffee = await make_category(db, "Coffee")
    sencha = await make_product(db, "Sencha", category_id=tea.id, variants=[("100 g", 990, 5)])
    chai = await make_product(db, "Chai", category_id=tea.id, variants=[("50 g", 500, 3)])
    return {"tea": tea.id, "coffee": coffee.id, "sencha": sencha, "chai": chai}


async def test_reads_within_the_seconds_do_not_touch_the_database(
    db: Database, clock: FrozenClock, tea: dict[str, Any]
) -> None:
    catalog = CatalogService(db, clock=clock, cache_seconds=5)
    query = ProductQuery(category_id=tea["tea"], per_page=1)

    async def browse() -> tuple[Any, ...]:
        return (
            await catalog.categories_tree(),
            await catalog.list_products(query),
            await catalog.product_detail(tea["sencha"].id),
            await catalog.product_detail(key=tea["chai"].key),
        )

    with selects(db) as seen:
        first = await browse()
    # One round trip for the tree; two for a page in a category (its subtree, then the
    # page with its total) and two for a card (the product with its variants, its images).
    assert len(seen) == 1 + 2 + 2 + 2
    clock.advance(seconds=4.9)
    with selects(db) as seen:
        again = await browse()
    assert seen == []
    assert again == first
    assert [p.title for p in first[1].items] == ["Chai"] and first[1].total == 2


async def test_every_field_of_a_query_is_part_of_its_key(
    db: Database, clock: FrozenClock, tea: dict[str, Any]
) -> None:
    catalog = CatalogService(db, clock=clock, cache_seconds=5)
    base = ProductQuery(category_id=tea["tea"], per_page=1)
    variations = {
        "search": ProductQuery(search="sencha", category_id=tea["tea"], per_page=1),
        "category_id": ProductQuery(category_id=tea["coffee"], per_page=1),
        "min_price": ProductQuery(category_id=tea["tea"], per_page=1, min_price=600),
        "max_price": ProductQuery(category_id=tea["tea"], per_page=1, max_price=600),
        "in_stock": ProductQuery(category_id=tea["tea"], per_page=1, in_stock=True),
        "page": ProductQuery(category_id=tea["tea"], per_page=1, page=2),
        "per_page": ProductQuery(category_id=tea["tea"], per_page=2),
    }
    assert set(variations) == {f.name for f in dataclasses.fields(ProductQuery)}
    expected = {
        "search": ["Sencha"],
        "category_id": [],
        "min_price": ["Sencha"],
        "max_price": ["Chai"],
        "in_stock": ["Chai"],
        "page": ["Sencha"],
        "per_page": ["Chai", "Sencha"],
    }
    await catalog.list_products(base)
    for name, query in variations.items():
        with selects(db) as seen:
            page = await catalog.list_products(query)
        assert seen, f"{name}: served the entry of another query"
        assert [p.title for p in page.items] == expected[name], name
    with selects(db) as seen:
        for query in [base, *variations.values()]:
            await catalog.list_products(query)
    assert seen == []


async def test_changes_made_elsewhere_show_once_the_seconds_are_up(
    db: Database, clock: FrozenClock, tea: dict[str, Any]
) -> None:
    catalog = CatalogService(db, clock=clock, cache_seconds=5)
    query = ProductQuery(category_id=tea["tea"])
    await catalog.categories_tree()
    await catalog.list_products(query)
    await catalog.product_detail(tea["chai"].id)

    await set_values(db, Variant, tea["sencha"].variants[0].id, price_amount=1290)
    await set_values(db, Product, tea["chai"].id, is_active=False)
    await set_values(db, Category, tea["coffee"], is_active=False)
    clock.advance(seconds=4.9)  # browsing may be this old (the documented rule)
    assert [c.title for c in await catalog.categories_tree()] == ["Coffee", "Tea"]
    stale = await catalog.list_products(query)
    assert [(p.title, str(p.price_from)) for p in stale.items] == [
        ("Chai", "5.00 USD"),
        ("Sencha", "9.90 USD"),
    ]
    assert (await catalog.product_detail(tea["chai"].id)).title == "Chai"

    clock.advance(seconds=0.1)
    assert [c.title for c in await catalog.categories_tree()] == ["Tea"]
    fresh = await catalog.list_products(query)
    assert [(p.title, str(p.price_from)) for p in fresh.items] == [("Sencha", "12.90 USD")]
    with pytest.raises(NotFound):
        await catalog.product_detail(tea["chai"].id)
    # "Not found" is not remembered: back on sale, it shows at the next read.
    await set_values(db, Product, tea["chai"].id, is_active=True)
    assert (await catalog.product_detail(tea["chai"].id)).title == "Chai"


def write_catalog(path: Path, price: str, *extra: dict[str, Any]) -> Path:
    products = [
        {
            "key": "sencha",
            "category": "tea",
            "kind": "physical",
            "title": "Sencha",
            "variants": [{"sku": "SEN-100", "title": "100 g", "price": price, "stock": 5}],
        },
        *extra,
    ]
    document = {"categories": [{"key": "tea", "title": "Tea"}], "products": products}
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


async def test_an_import_through_the_service_shows_at_once(
    db: Database, clock: FrozenClock, tmp_path: Path
) -> None:
    catalog = CatalogService(db, clock=clock, cache_seconds=5)
    path = tmp_path / "catalog.json"
    await catalog.import_catalog(write_catalog(path, "9.90"), shop_currency="USD")
    (tea,) = await catalog.categories_tree()
    assert str((await catalog.product_detail(key="sencha")).variants[0].price) == "9.90 USD"
    assert (await catalog.list_products(ProductQuery(category_id=tea.id))).total == 1

    matcha = {
        "key": "matcha",
        "category": "tea",
        "kind": "physical",
        "title": "Matcha",
        "variants": [{"sku": "MAT-30", "title": "30 g", "price": "15", "stock": 2}],
    }
    await catalog.import_catalog(write_catalog(path, "11.00", matcha), shop_currency="USD")
    assert str((await catalog.product_detail(key="sencha")).variants[0].price) == "11.00 USD"
    page = await catalog.list_products(ProductQuery(category_id=tea.id))
    assert [p.title for p in page.items] == ["Sencha", "Matcha"]  # in file order


async def test_at_most_the_bound_is_kept_least_recently_used_first(
    db: Database, clock: FrozenClock, tea: dict[str, Any]
) -> None:
    catalog = CatalogService(db, clock=clock, cache_seconds=5, cache_entries=2)
    sencha, chai = tea["sencha"].id, tea["chai"].id
    await catalog.product_detail(sencha)
    await catalog.product_detail(chai)
    await catalog.product_detail(sencha)  # sencha is now the more recent
    await catalog.categories_tree()  # a third entry: chai goes
    with selects(db) as seen:
        await catalog.product_detail(sencha)
        await catalog.categories_tree()
    assert seen == []
    with selects(db) as seen:
        await catalog.product_detail(chai)
    assert seen


async def test_the_bot_may_show_a_card_seconds_old_but_the_cart_reads_the_database(
    sandbox: RunningSandbox,
    make_settings: Callable[..., Settings],
    db: Database,
    db_url: str,
    clock: FrozenClock,
) -> None:
    gifts = await make_category(db, "Gifts")
    card = await make_product(db, "Gift card", category_id=gifts.id, variants=[("$10", 1000, 9)])
    settings = bot_settings(make_settings, sandbox, db_url)
    settings = dataclasses.replace(
        settings, shop=settings.shop.model_copy(update={"catalog_cache_seconds": 5})
    )
    async with shop(sandbox, settings, db, clock=clock):
        gina = await sandbox.client.user("Gina")
        await gina.send("/start")
        await gina.tap("Catalog")
        await gina.tap("Gifts")
        shown = await gina.tap("Gift card · from 10.00 USD")
        assert "Price: 10.00 USD" in shown.text

        await set_values(db, Variant, card.variants[0].id, price_amount=1200)  # elsewhere
        more = await gina.tap("+")
        assert "Price: 10.00 USD" in more.text  # the card from memory, seconds old
        added = await gina.tap("🛒 Add to cart")
        assert added.answer is not None and added.answer["text"] == "Added: 2 × Gift card"
        cart = await gina.tap("Cart")
        assert "2 × 12.00 USD = 24.00 USD" in cart.text  # the cart reads the database
        assert shown.last is not None

        await set_values(db, Product, card.id, is_active=False)
        refused = await press(gina, shown.last, "🛒 Add to cart")
        assert alert(refused) == "Sorry, this product is no longer available."
        cart = await gina.tap("Cart")
        assert "2 × 12.00 USD" in cart.text  # nothing was added

        clock.advance(seconds=5)
        gone = await press(gina, shown.last, "+")
        assert alert(gone) == "Sorry, this product is no longer available."
        assert "Nothing for sale here yet." in gone.text
        assert "Gift card · from 12.00 USD" not in buttons(gone.last)
