from __future__ import annotations

import pytest

from tests.support.factories import make_category, make_product
from tgshop.db.engine import Database
from tgshop.domain.errors import InvalidRequest, NotFound
from tgshop.services.catalog import CatalogService, ProductQuery


@pytest.fixture
async def shop(db: Database) -> dict[str, int]:
    tea = await make_category(db, "Tea")
    green = await make_category(db, "Green", parent_id=tea.id)
    coffee = await make_category(db, "Coffee")
    hidden = await make_category(db, "Hidden", is_active=False)
    ids = {"tea": tea.id, "green": green.id, "coffee": coffee.id, "hidden": hidden.id}
    ids["sencha"] = (
        await make_product(
            db, "Sencha", category_id=green.id, variants=[("100 g", 990, 5), ("250 g", 2190, 0)]
        )
    ).id
    ids["chai"] = (
        await make_product(
            db,
            "Зелёный Чай",
            category_id=tea.id,
            description="из Китая",
            variants=[("50 g", 500, 0)],
        )
    ).id
    ids["espresso"] = (
        await make_product(
            db, "Espresso 100%_pure", category_id=coffee.id, variants=[("1 kg", 3000, None)]
        )
    ).id
    ids["off"] = (await make_product(db, "Old tea", category_id=tea.id, is_active=False)).id
    return ids


async def _titles(catalog: CatalogService, **query: object) -> list[str]:
    page = await catalog.list_products(ProductQuery(**query))  # type: ignore[arg-type]
    return [p.title for p in page.items]


async def test_tree_hides_inactive(db: Database, shop: dict[str, int]) -> None:
    tree = await CatalogService(db).categories_tree()
    assert [c.title for c in tree] == ["Coffee", "Tea"]
    tea = next(c for c in tree if c.title == "Tea")
    assert [c.title for c in tea.children] == ["Green"]


async def test_category_filter_includes_subcategories(db: Database, shop: dict[str, int]) -> None:
    catalog = CatalogService(db)
    assert await _titles(catalog, category_id=shop["tea"]) == ["Sencha", "Зелёный Чай"]
    assert await _titles(catalog, category_id=shop["green"]) == ["Sencha"]
    with pytest.raises(NotFound):
        await catalog.list_products(ProductQuery(category_id=shop["hidden"]))


async def test_search_is_case_insensitive_in_any_language(
    db: Database, shop: dict[str, int]
) -> None:
    catalog = CatalogService(db)
    assert await _titles(catalog, search="зелёный чай") == ["Зелёный Чай"]
    assert await _titles(catalog, search="КИТАЯ") == ["Зелёный Чай"]
    assert await _titles(catalog, search="SENCHA") == ["Sencha"]
    assert await _titles(catalog, search="250 G") == ["Sencha"]  # variant titles are searchable
    assert await _titles(catalog, search="100%_") == ["Espresso 100%_pure"]
    assert await _titles(catalog, search="%") == ["Espresso 100%_pure"]  # literal, not a wildcard


async def test_price_and_stock_filters(db: Database, shop: dict[str, int]) -> None:
    catalog = CatalogService(db)
    assert await _titles(catalog, min_price=2000, max_price=2500) == ["Sencha"]
    assert await _titles(catalog, max_price=600) == ["Зелёный Чай"]
    assert await _titles(catalog, in_stock=True) == ["Espresso 100%_pure", "Sencha"]


async def test_pagination_and_summary(db: Database, shop: dict[str, int]) -> None:
    catalog = CatalogService(db)
    first = await catalog.list_products(ProductQuery(per_page=2, page=1))
    second = await catalog.list_products(ProductQuery(per_page=2, page=2))
    assert first.total == 3 and first.pages == 2
    assert [p.title for p in first.items + second.items] == [
        "Espresso 100%_pure",
        "Sencha",
        "Зелёный Чай",
    ]
    sencha = next(p for p in first.items if p.title == "Sencha")
    assert str(sencha.price_from) == "9.90 USD"
    assert sencha.in_stock


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"page": 0}, "page"),
        ({"per_page": 500}, "per_page"),
        ({"min_price": -1}, "min_price"),
        ({"min_price": 10, "max_price": 5}, "min_price must not exceed"),
    ],
)
async def test_bad_queries_are_refused(db: Database, query: dict[str, int], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        await CatalogService(db).list_products(ProductQuery(**query))  # type: ignore[arg-type]


async def test_product_detail(db: Database, shop: dict[str, int]) -> None:
    catalog = CatalogService(db)
    detail = await catalog.product_detail(shop["sencha"])
    assert [(v.title, v.available, v.in_stock) for v in detail.variants] == [
        ("100 g", 5, True),
        ("250 g", 0, False),
    ]
    espresso = await catalog.product_detail(shop["espresso"])
    assert espresso.variants[0].unlimited
    by_key = await catalog.product_detail(key=detail.key)
    assert by_key.id == detail.id
    with pytest.raises(NotFound):
        await catalog.product_detail(shop["off"])
    with pytest.raises(NotFound):
        await catalog.product_detail(999_999)


async def test_telegram_file_ids_are_remembered_per_image(db: Database) -> None:
    from tests.support.factories import make_images

    catalog = CatalogService(db)
    product = await make_product(db, "Sencha")
    first, second = await make_images(db, product.id, 2)
    assert await catalog.telegram_file_ids([first, second, 999_999]) == {
        first: None,
        second: None,
    }
    assert await catalog.remember_telegram_file_id(first, "AgACfirst")
    assert await catalog.remember_telegram_file_id(first, "AgACnewer")  # another bot's upload
    assert await catalog.telegram_file_ids([first, second]) == {first: "AgACnewer", second: None}
    assert not await catalog.remember_telegram_file_id(999_999, "AgACgone")  # deleted meanwhile
    with pytest.raises(InvalidRequest, match="file_id must be 1-256 characters"):
        await catalog.remember_telegram_file_id(first, "")
    with pytest.raises(InvalidRequest, match="file_id must be 1-256 characters"):
        await catalog.remember_telegram_file_id(first, "x" * 257)
    assert await catalog.telegram_file_ids([]) == {}
