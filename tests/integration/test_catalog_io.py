"""Catalog import / export and the demo catalog, on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select, text, update

from tests.support.databases import wipe
from tests.support.fakes import FrozenClock
from tgshop.db.engine import Database
from tgshop.db.models import Category, Media, Product, Variant
from tgshop.demo import load_demo_catalog
from tgshop.domain.catalog import search_key
from tgshop.services.catalog_io import (
    CatalogImportError,
    ImportReport,
    dumps_catalog,
    export_catalog,
    import_catalog,
    write_catalog_file,
)

TABLES = ("categories", "products", "variants", "media")


def png(color: str, size: tuple[int, int] = (40, 30), fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format=fmt)
    return out.getvalue()


def base_catalog() -> dict[str, Any]:
    return {
        "categories": [
            {"key": "tea", "title": "Tea", "parent": None},
            {"key": "green", "title": "Green tea", "parent": "tea", "description": "Steamed"},
            {"key": "gifts", "title": "Gifts", "parent": None, "active": False},
        ],
        "products": [
            {
                "key": "sencha",
                "category": "green",
                "kind": "physical",
                "title": "Sencha",
                "description": "Grassy",
                "images": ["img/sencha.png", "img/cup.jpg"],
                "variants": [
                    {"sku": "SEN-50", "title": "50 g", "price": "5.50", "stock": 10},
                    {"sku": "SEN-100", "title": "100 g", "price": "9.90", "stock": 25},
                ],
            },
            {
                "key": "ivan-chai",
                "category": "tea",
                "kind": "physical",
                "title": "Иван-чай",
                "description": "ФЕРМЕНТИРОВАННЫЙ",
                "variants": [{"sku": "IVN-1", "title": "Пачка", "price": "8.00", "stock": 0}],
            },
            {
                "key": "card",
                "category": "gifts",
                "kind": "digital",
                "title": "Gift card",
                "images": ["img/cup.jpg"],
                "variants": [
                    {
                        "sku": "GIFT-25",
                        "title": "$25",
                        "price": "25",
                        "currency": "USD",
                        "stars_price": 1300,
                        "stock": "unlimited",
                    },
                    {"sku": "GIFT-50", "title": "$50", "price": "50.00", "active": False},
                ],
            },
            {
                "key": "box",
                "kind": "subscription",
                "title": "Tea box",
                "position": 99,
                "active": False,
                "variants": [{"sku": "BOX-1M", "title": "1 month", "price": "19.00"}],
            },
        ],
    }


class Shop:
    """A folder with a catalog file and its images."""

    def __init__(self, root: Path, db: Database, clock: FrozenClock) -> None:
        self.root = root
        self.db = db
        self.clock = clock
        self.path = root / "catalog.json"
        (root / "img").mkdir(parents=True, exist_ok=True)
        (root / "img" / "sencha.png").write_bytes(png("green"))
        (root / "img" / "cup.jpg").write_bytes(png("white", (30, 40), "JPEG"))

    def write(self, doc: dict[str, Any] | str) -> Path:
        self.path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
        return self.path

    async def load(self, doc: dict[str, Any] | str | None = None) -> ImportReport:
        if doc is not None:
            self.write(doc)
        return await import_catalog(self.db, self.path, shop_currency="USD", clock=self.clock)


@pytest.fixture
def shop(tmp_path: Path, db: Database, clock: FrozenClock) -> Shop:
    return Shop(tmp_path / "shop", db, clock)


async def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every column of every catalog row, to prove a failed import wrote nothing."""
    async with db.read() as session:
        return {
            t: [tuple(r) for r in await session.execute(text(f"SELECT * FROM {t} ORDER BY id"))]
            for t in TABLES
        }


async def count(db: Database, model: Any) -> int:
    async with db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_import_creates_the_catalog(shop: Shop) -> None:
    report = await shop.load(base_catalog())
    assert (report.categories.created, report.products.created, report.variants.created) == (
        3,
        4,
        6,
    )
    assert report.images_added == 3  # images are per product: the cup is stored twice
    async with shop.db.read() as session:
        cats = {c.key: c for c in await session.scalars(select(Category))}
        assert cats["green"].parent_id == cats["tea"].id
        assert cats["green"].description == "Steamed"
        assert cats["gifts"].is_active is False
        assert [cats[k].position for k in ("tea", "green", "gifts")] == [0, 1, 2]
        products = {p.key: p for p in await session.scalars(select(Product))}
        sencha = products["sencha"]
        assert sencha.category_id == cats["green"].id
        assert products["box"].category_id is None
        assert (products["box"].position, products["box"].is_active) == (99, False)
        assert products["card"].position == 2
        variants = {v.sku: v for v in await session.scalars(select(Variant))}
        assert (variants["SEN-100"].price_amount, variants["SEN-100"].currency) == (990, "USD")
        assert variants["SEN-100"].position == 1
        assert (variants["SEN-100"].stock_mode, variants["SEN-100"].stock_quantity) == (
            "tracked",
            25,
        )
        assert variants["GIFT-25"].stars_price == 1300
        assert variants["GIFT-25"].stock_mode == "unlimited"
        # stock not given: a new digital / subscription variant is unlimited …
        assert variants["GIFT-50"].stock_mode == "unlimited"
        assert variants["GIFT-50"].is_active is False
        assert variants["BOX-1M"].stock_mode == "unlimited"
        media = list(
            await session.scalars(
                select(Media).where(Media.product_id == sencha.id).order_by(Media.position)
            )
        )
        assert [(m.file_name, m.mime, m.width, m.height) for m in media] == [
            ("sencha.png", "image/png", 40, 30),
            ("cup.jpg", "image/jpeg", 30, 40),
        ]
        data = await session.scalar(select(Media.data).where(Media.id == media[0].id))
        assert data == png("green")
        assert media[0].sha256 == hashlib.sha256(png("green")).hexdigest()
        assert media[0].size == len(png("green"))
        session.expunge_all()  # keep the loaded rows readable after the read ends
    # search text: casefolded title, description, variant titles and skus, any language
    assert search_key("иван-чай") in products["ivan-chai"].search_text
    assert "ферментированный" in products["ivan-chai"].search_text
    assert "пачка" in products["ivan-chai"].search_text
    assert "sen-100" in sencha.search_text
    assert "100 g" in sencha.search_text


async def test_new_physical_variant_without_stock_starts_at_zero(shop: Shop) -> None:
    doc = base_catalog()
    del doc["products"][0]["variants"][0]["stock"]
    await shop.load(doc)
    async with shop.db.read() as session:
        variant = await session.scalar(select(Variant).where(Variant.sku == "SEN-50"))
        session.expunge_all()
    assert variant is not None
    assert (variant.stock_mode, variant.stock_quantity) == ("tracked", 0)


async def test_reimporting_the_same_file_changes_nothing(shop: Shop) -> None:
    await shop.load(base_catalog())
    before = await snapshot(shop.db)
    shop.clock.advance(hours=1)
    report = await shop.load()
    assert not report.changed
    assert (report.categories.unchanged, report.products.unchanged) == (3, 4)
    assert report.variants.unchanged == 6
    assert report.images_kept == 3
    assert await snapshot(shop.db) == before  # not even updated_at moved


async def test_reimport_updates_instead_of_duplicating(shop: Shop) -> None:
    await shop.load(base_catalog())
    first_import = shop.clock.now()
    async with shop.db.transaction() as session:
        # An order took some stock; an admin added a variant the file does not know.
        await session.execute(
            update(Variant).where(Variant.sku == "SEN-50").values(stock_quantity=7)
        )
        product_id = await session.scalar(select(Product.id).where(Product.key == "sencha"))
        session.add(
            Variant(product_id=product_id, sku="SEN-1K", title="1 kg", price_amount=8000,
                    currency="USD", stock_quantity=1, position=5)
        )  # fmt: skip
    doc = base_catalog()
    sencha = doc["products"][0]
    sencha["title"] = "Sencha Superior"
    del sencha["variants"][0]["stock"]  # stock omitted: the current 7 stays
    sencha["variants"][1]["price"] = "10.50"
    sencha["variants"].append({"sku": "SEN-250", "title": "250 g", "price": "21.00", "stock": 4})
    del doc["products"][3]  # absent from the file: left alone
    doc["categories"][1]["parent"] = None
    shop.clock.advance(minutes=5)
    report = await shop.load(doc)
    assert (report.categories.created, report.categories.updated) == (0, 1)
    assert (report.products.created, report.products.updated, report.products.unchanged) == (
        0,
        1,
        2,
    )
    assert (report.variants.created, report.variants.updated, report.variants.unchanged) == (
        1,
        1,
        4,
    )
    assert await count(shop.db, Product) == 4
    assert await count(shop.db, Variant) == 8
    assert await count(shop.db, Category) == 3
    async with shop.db.read() as session:
        variants = {v.sku: v for v in await session.scalars(select(Variant))}
        product = await session.scalar(select(Product).where(Product.key == "sencha"))
        green = await session.scalar(select(Category).where(Category.key == "green"))
        session.expunge_all()
    assert variants["SEN-50"].stock_quantity == 7
    assert variants["GIFT-25"].updated_at == first_import  # untouched row
    assert variants["SEN-100"].price_amount == 1050
    assert variants["SEN-100"].updated_at == shop.clock.now()
    assert variants["SEN-1K"].price_amount == 8000  # not in the file: kept
    assert variants["BOX-1M"].is_active is True  # its product is not in the file: kept
    assert product is not None
    assert green is not None
    assert product.title == "Sencha Superior"
    assert "sencha superior" in product.search_text
    assert "sen-1k" in product.search_text  # every variant of the product is searchable
    assert product.updated_at == shop.clock.now()
    assert green.parent_id is None


async def test_images_are_kept_when_unchanged_and_replaced_when_changed(shop: Shop) -> None:
    await shop.load(base_catalog())
    async with shop.db.transaction() as session:
        await session.execute(update(Media).values(telegram_file_id="AgAC-cached"))
    before = await snapshot(shop.db)

    # The same bytes under another file name: rows and cached file ids stay.
    (shop.root / "img" / "sencha-copy.png").write_bytes(png("green"))
    doc = base_catalog()
    doc["products"][0]["images"][0] = "img/sencha-copy.png"
    report = await shop.load(doc)
    assert (report.images_added, report.images_removed, report.images_kept) == (0, 0, 3)
    async with shop.db.read() as session:
        names = list(await session.scalars(select(Media.file_name).order_by(Media.id)))
    assert names[0] == "sencha-copy.png"

    # A new picture first, the cup kept: the cup keeps its cached file id.
    (shop.root / "img" / "new.png").write_bytes(png("red"))
    doc["products"][0]["images"] = ["img/new.png", "img/cup.jpg"]
    report = await shop.load(doc)
    assert (report.images_added, report.images_removed, report.images_kept) == (1, 1, 2)
    async with shop.db.read() as session:
        sencha = await session.scalar(select(Product.id).where(Product.key == "sencha"))
        rows = list(
            await session.execute(
                select(Media.file_name, Media.telegram_file_id, Media.position)
                .where(Media.product_id == sencha)
                .order_by(Media.position)
            )
        )
    assert [tuple(r) for r in rows] == [("new.png", None, 0), ("cup.jpg", "AgAC-cached", 1)]

    # images omitted: untouched; an empty list: removed.
    del doc["products"][0]["images"]
    assert (await shop.load(doc)).images_removed == 0
    doc["products"][0]["images"] = []
    report = await shop.load(doc)
    assert report.images_removed == 2
    assert await count(shop.db, Media) == 1  # the gift card's cup
    assert before != await snapshot(shop.db)


def _set(doc: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = [int(p) if p.isdigit() else p for p in dotted.split(".")]
    node: Any = doc
    for part in parents:
        node = node[part]
    node[last] = value


BROKEN: dict[str, tuple[dict[str, Any], str]] = {
    "wrong type": ({"products.0.variants.0.stock": "25"}, "products[0].variants[0].stock: must"),
    "too many decimals": (
        {"products.0.variants.1.price": "9.999"},
        "products[0].variants[1].price: not a valid amount: '9.999' has more than 2 decimal "
        "places for USD",
    ),
    "not a number": (
        {"products.2.variants.0.price": "abc"},
        "products[2].variants[0].price: not a valid amount: 'abc'",
    ),
    "negative stock": (
        {"products.1.variants.0.stock": -3},
        "products[1].variants[0].stock: must not be negative (got -3)",
    ),
    "unknown category": (
        {"products.1.category": "coffee"},
        "products[1].category: unknown category 'coffee'",
    ),
    "unknown parent": (
        {"categories.1.parent": "herbal"},
        "categories[1].parent: unknown category 'herbal'",
    ),
    "duplicate sku": (
        {"products.3.variants.0.sku": "SEN-50"},
        "products[3].variants[0].sku: duplicate sku 'SEN-50' "
        "(first at products[0].variants[0].sku)",
    ),
    "missing image": (
        {"products.0.images.1": "img/nope.jpg"},
        "products[0].images[1]: file not found: ",
    ),
    "not an image": (
        {"products.2.images.0": "catalog.json"},
        "products[2].images[0]: not an image (or a damaged one): ",
    ),
    "cycle in parents": (
        {"categories.0.parent": "green"},
        "categories[0].parent: makes a cycle: tea → green → tea",
    ),
    "own parent": (
        {"categories.2.parent": "gifts"},
        "categories[2].parent: makes a cycle: gifts → gifts",
    ),
    "other currency": (
        {"products.0.variants.0.currency": "EUR"},
        "products[0].variants[0].currency: must be the shop currency USD (got EUR)",
    ),
    "no variants": ({"products.3.variants": []}, "products[3].variants: must have at least one"),
}


@pytest.mark.parametrize("case", list(BROKEN), ids=list(BROKEN))
async def test_a_broken_file_names_the_path_and_writes_nothing(shop: Shop, case: str) -> None:
    await shop.load(base_catalog())
    before = await snapshot(shop.db)
    edits, expected = BROKEN[case]
    doc = base_catalog()
    doc["products"][0]["title"] = "Changed, but must not be saved"
    for dotted, value in edits.items():
        _set(doc, dotted, value)
    with pytest.raises(CatalogImportError) as caught:
        await shop.load(doc)
    assert len(caught.value.errors) == 1, caught.value.errors
    assert caught.value.errors[0].startswith(expected), caught.value.errors
    assert await snapshot(shop.db) == before


async def test_invalid_json_reports_line_and_column_and_writes_nothing(shop: Shop) -> None:
    await shop.load(base_catalog())
    before = await snapshot(shop.db)
    broken = dumps_catalog(base_catalog()).replace('"Sencha",', '"Sencha"', 1)
    line = next(i for i, t in enumerate(broken.splitlines(), 1) if '"Sencha"' in t) + 1
    with pytest.raises(CatalogImportError) as caught:
        await shop.load(broken)
    assert caught.value.errors[0].startswith(f"invalid JSON at line {line}, column ")
    assert await snapshot(shop.db) == before


@pytest.mark.parametrize(
    ("content", "expected"),
    [(b"\xff\xfe{}", "not UTF-8 text"), (None, "file not found")],
)
async def test_an_unreadable_catalog_file(shop: Shop, content: bytes | None, expected: str) -> None:
    if content is not None:
        shop.path.write_bytes(content)
    with pytest.raises(CatalogImportError, match=expected):
        await shop.load()


async def test_a_cycle_through_the_database_tree_is_refused(shop: Shop) -> None:
    await shop.load(base_catalog())  # green's parent is tea
    doc = {"categories": [{"key": "tea", "title": "Tea", "parent": "green"}]}
    with pytest.raises(CatalogImportError) as caught:
        await shop.load(doc)
    assert caught.value.errors == ["categories[0].parent: makes a cycle: tea → green → tea"]


async def test_a_sku_of_another_product_is_refused(shop: Shop) -> None:
    await shop.load(base_catalog())
    doc = base_catalog()
    doc["products"][3]["variants"].append({"sku": "SEN-50", "title": "moved", "price": "1.00"})
    del doc["products"][0]
    with pytest.raises(CatalogImportError) as caught:
        await shop.load(doc)
    assert caught.value.errors == [
        "products[2].variants[1].sku: 'SEN-50' already belongs to product 'sencha'"
    ]


async def test_every_problem_is_reported_at_once(shop: Shop) -> None:
    (shop.root / "img" / "fake.png").write_bytes(b"not really a png")
    doc = base_catalog()
    doc["categories"][0]["parent"] = "green"
    doc["products"][0]["variants"][0]["price"] = "9.999"
    doc["products"][0]["images"] = ["img/fake.png", "img/missing.png"]
    doc["products"][1]["category"] = "coffee"
    doc["products"][2]["kind"] = "gadget"
    doc["products"][3]["variants"][0]["sku"] = "SEN-100"
    with pytest.raises(CatalogImportError) as caught:
        await shop.load(doc)
    errors = caught.value.errors
    assert [e.split(":")[0] for e in errors] == [
        "categories[0].parent",
        "products[0].variants[0].price",
        "products[0].images[0]",
        "products[0].images[1]",
        "products[1].category",
        "products[2].kind",
        "products[3].variants[0].sku",
    ]
    assert str(caught.value).startswith("the catalog has 7 problems; nothing was imported")
    assert await count(shop.db, Product) == 0


async def test_export_reimports_to_the_same_catalog(shop: Shop, tmp_path: Path) -> None:
    await shop.load(base_catalog())
    first = await write_catalog_file(shop.db, tmp_path / "a" / "export.json")
    assert (first.categories, first.products, first.images_written) == (3, 4, 3)
    exported = json.loads(first.path.read_text(encoding="utf-8"))
    assert exported["products"][0]["images"] == [
        "export-images/sencha/sencha.png",
        "export-images/sencha/cup.jpg",
    ]
    assert (first.images_dir / "sencha" / "sencha.png").read_bytes() == png("green")

    await wipe(shop.db)  # a fresh database
    await import_catalog(shop.db, first.path, shop_currency="USD", clock=shop.clock)
    second = await write_catalog_file(shop.db, tmp_path / "b" / "export.json")
    assert second.path.read_text(encoding="utf-8") == first.path.read_text(encoding="utf-8")
    for image in first.images_dir.rglob("*.*"):
        relative = image.relative_to(first.images_dir)
        assert (second.images_dir / relative).read_bytes() == image.read_bytes()
    # and importing the export over the catalog it came from changes nothing
    report = await import_catalog(shop.db, second.path, shop_currency="USD", clock=shop.clock)
    assert not report.changed


async def test_export_keeps_the_current_stock_and_every_field(shop: Shop) -> None:
    await shop.load(base_catalog())
    async with shop.db.transaction() as session:
        await session.execute(
            update(Variant).where(Variant.sku == "SEN-100").values(stock_quantity=24)
        )
    doc = await export_catalog(shop.db, images_dir=None)
    assert doc["version"] == 1
    assert [c["key"] for c in doc["categories"]] == ["tea", "green", "gifts"]
    assert doc["categories"][1] == {
        "key": "green",
        "title": "Green tea",
        "description": "Steamed",
        "parent": "tea",
        "position": 1,
        "active": True,
    }
    assert [p["key"] for p in doc["products"]] == ["sencha", "ivan-chai", "card", "box"]
    card = doc["products"][2]
    assert card["images"] == ["cup.jpg"]  # stdout mode: stored names, nothing written
    assert card["variants"][0] == {
        "sku": "GIFT-25",
        "title": "$25",
        "price": "25.00",
        "currency": "USD",
        "stars_price": 1300,
        "stock": "unlimited",
        "active": True,
    }
    assert doc["products"][0]["variants"][1]["stock"] == 24


async def test_the_demo_catalog_loads_and_is_idempotent(db: Database, clock: FrozenClock) -> None:
    report = await load_demo_catalog(db, shop_currency="USD", clock=clock)
    assert report.categories.created >= 5
    assert 8 <= report.products.created <= 12
    async with db.read() as session:
        products = list(await session.scalars(select(Product)))
        variants = list(await session.scalars(select(Variant)))
        subcategories = await session.scalar(
            select(func.count()).select_from(Category).where(Category.parent_id.is_not(None))
        )
        session.expunge_all()
    assert subcategories
    assert {p.kind for p in products} == {"physical", "digital", "subscription"}
    tracked = [v for v in variants if v.stock_mode == "tracked" and v.is_active]
    assert any(v.stock_quantity == 0 for v in tracked)  # sold out
    assert any(0 < v.stock_quantity <= 5 for v in tracked)  # running low
    assert any(v.stock_mode == "unlimited" for v in variants)
    assert any(v.stars_price for v in variants)
    assert any("<b>" in p.title and "&" in p.title for p in products)
    assert any(search_key("иван-чай") in p.search_text for p in products)
    assert await count(db, Media) >= len(products)

    before = await snapshot(db)
    clock.advance(days=1)
    again = await load_demo_catalog(db, shop_currency="USD", clock=clock)
    assert not again.changed
    assert await snapshot(db) == before


async def test_the_demo_refuses_another_shop_currency(db: Database, clock: FrozenClock) -> None:
    with pytest.raises(CatalogImportError, match="priced in USD but the shop currency is EUR"):
        await load_demo_catalog(db, shop_currency="eur", clock=clock)
    assert await count(db, Product) == 0


async def test_the_demo_export_round_trips(
    db: Database, clock: FrozenClock, tmp_path: Path
) -> None:
    await load_demo_catalog(db, shop_currency="USD", clock=clock)
    first = await write_catalog_file(db, tmp_path / "demo.json")
    await wipe(db)
    await import_catalog(db, first.path, shop_currency="USD", clock=clock)
    again = await export_catalog(db, images_dir=tmp_path / "again-images")
    original = json.loads(first.path.read_text(encoding="utf-8"))
    for product in again["products"]:
        product["images"] = [i.replace("again-images/", "demo-images/") for i in product["images"]]
    assert again == original
    assert copy.deepcopy(original) == json.loads(dumps_catalog(original))


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: p.write_bytes(png("blue", fmt="BMP")), "unsupported image format BMP"),
        (lambda p: p.write_bytes(png("blue", (10, 300))), "too narrow: "),
        (lambda p: p.write_bytes(b""), "empty file: "),
        (lambda p: p.write_bytes(png("blue")[:60]), "not an image (or a damaged one): "),
        (lambda p: p.mkdir(), "not a file: "),
    ],
    ids=["bmp", "narrow", "empty", "truncated", "directory"],
)
async def test_image_rules(shop: Shop, make: Callable[[Path], Any], expected: str) -> None:
    make(shop.root / "img" / "bad.png")
    doc = base_catalog()
    doc["products"][2]["images"] = ["img/bad.png"]
    with pytest.raises(CatalogImportError) as caught:
        await shop.load(doc)
    assert len(caught.value.errors) == 1
    assert caught.value.errors[0].startswith(f"products[2].images[0]: {expected}")
    assert await count(shop.db, Product) == 0
