"""Catalog reads shared by the bot, the Mini App and the admin side.

Rules:
- only active categories, products and variants are shown to customers;
- the category filter includes every subcategory of the chosen category;
- search is case-insensitive in any language (matched against a casefolded copy of the
  title, description, variant titles and SKUs) and treats ``%`` and ``_`` literally;
- the price filter keeps a product when any active variant's price is within the range;
- "in stock" means some active variant is unlimited or has a positive quantity;
- products are ordered by position, then title, then id, so pages are stable; a product's
  variants and images by position, then id;
- an image uploaded to Telegram once is sent by its cached ``file_id`` afterwards (see
  :meth:`CatalogService.remember_telegram_file_id`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from sqlalchemy import (
    CursorResult,
    Integer,
    Row,
    Select,
    Table,
    and_,
    bindparam,
    exists,
    func,
    or_,
    select,
    update,
)

from tgshop.db.engine import Database
from tgshop.db.models import Category, Media, Product, Variant
from tgshop.domain.catalog import StockMode, escape_like, search_key
from tgshop.domain.errors import InvalidRequest, NotFound
from tgshop.domain.money import Money
from tgshop.services.change_notices import CATALOG_TOPIC, ChangeNotices
from tgshop.services.ports import Clock, SystemClock
from tgshop.services.read_cache import ReadCache

if TYPE_CHECKING:
    from tgshop.services.catalog_io import ImportReport

MAX_PER_PAGE = 100
MAX_FILE_ID_LENGTH = 256  # the media.telegram_file_id column
T = TypeVar("T")


@dataclass(frozen=True)
class CategoryNode:
    id: int
    key: str
    title: str
    description: str
    children: tuple[CategoryNode, ...] = ()


@dataclass(frozen=True)
class ProductQuery:
    search: str | None = None
    category_id: int | None = None
    min_price: int | None = None
    max_price: int | None = None
    in_stock: bool = False
    page: int = 1
    per_page: int = 20

    def validate(self) -> None:
        if self.page < 1:
            raise InvalidRequest("page must be 1 or more")
        if not 1 <= self.per_page <= MAX_PER_PAGE:
            raise InvalidRequest(f"per_page must be between 1 and {MAX_PER_PAGE}")
        for name in ("min_price", "max_price"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise InvalidRequest(f"{name} must not be negative")
        if (
            self.min_price is not None
            and self.max_price is not None
            and self.min_price > self.max_price
        ):
            raise InvalidRequest("min_price must not exceed max_price")
        if self.search is not None and len(self.search) > 200:
            raise InvalidRequest("search must be at most 200 characters")


@dataclass(frozen=True)
class ProductSummary:
    id: int
    key: str
    title: str
    kind: str
    category_id: int | None
    price_from: Money
    in_stock: bool
    image_id: int | None


@dataclass(frozen=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


@dataclass(frozen=True)
class VariantView:
    id: int
    sku: str
    title: str
    price: Money
    stars_price: int | None
    unlimited: bool
    available: int

    @property
    def in_stock(self) -> bool:
        return self.unlimited or self.available > 0


@dataclass(frozen=True)
class ProductDetail:
    id: int
    key: str
    title: str
    description: str
    kind: str
    category_id: int | None
    variants: tuple[VariantView, ...]
    image_ids: tuple[int, ...]


def _descendants(categories: Sequence[Row[Any]], root_id: int) -> set[int]:
    """``root_id`` and every category below it, from (id, parent_id) rows."""
    children: dict[int | None, list[int]] = {}
    for row in categories:
        children.setdefault(row.parent_id, []).append(row.id)
    found, stack = {root_id}, [root_id]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def _tables() -> tuple[Table, Table, Table, Table]:
    return (
        cast(Table, Category.__table__),
        cast(Table, Product.__table__),
        cast(Table, Variant.__table__),
        cast(Table, Media.__table__),
    )


@dataclass(frozen=True)
class _Shape:
    """Which filters a product query uses: one prepared statement pair per shape."""

    categories: bool
    search: bool
    min_price: bool
    max_price: bool
    in_stock: bool


def _page_statements(shape: _Shape) -> tuple[Select[Any], Select[Any]]:
    """A page of product summaries (with the total as a window count, so one round trip
    usually does) and a plain count for a page past the end, with bound parameters."""
    _, p, v, m = _tables()
    active_variant = and_(v.c.product_id == p.c.id, v.c.is_active.is_(True))
    where = [p.c.is_active.is_(True), exists().where(active_variant)]
    if shape.categories:
        where.append(p.c.category_id.in_(bindparam("categories", expanding=True)))
    if shape.search:
        where.append(p.c.search_text.like(bindparam("pattern"), escape="\\"))
    if shape.min_price or shape.max_price:
        price_ok = [active_variant]
        if shape.min_price:
            price_ok.append(v.c.price_amount >= bindparam("min_price"))
        if shape.max_price:
            price_ok.append(v.c.price_amount <= bindparam("max_price"))
        where.append(exists().where(*price_ok))
    in_stock = exists().where(
        active_variant,
        or_(v.c.stock_mode == StockMode.UNLIMITED.value, v.c.stock_quantity > 0),
    )
    if shape.in_stock:
        where.append(in_stock)
    cheapest = (
        select(v.c.price_amount, v.c.currency)
        .where(active_variant)
        .order_by(v.c.price_amount, v.c.position, v.c.id)
        .limit(1)
    )
    first_image = (
        select(m.c.id).where(m.c.product_id == p.c.id).order_by(m.c.position, m.c.id).limit(1)
    )
    page = (
        select(
            p.c.id,
            p.c.key,
            p.c.title,
            p.c.kind,
            p.c.category_id,
            cheapest.with_only_columns(v.c.price_amount).scalar_subquery(),
            cheapest.with_only_columns(v.c.currency).scalar_subquery(),
            in_stock,
            first_image.scalar_subquery(),
            func.count().over(),
        )
        .where(*where)
        .order_by(p.c.position, p.c.title, p.c.id)
        .offset(bindparam("offset", type_=Integer))
        .limit(bindparam("limit", type_=Integer))
    )
    count = select(func.count()).select_from(p).where(*where)
    return page, count


@dataclass(frozen=True)
class _Statements:
    """The statements of the reads that do not depend on a query's filters, built once."""

    tree: Select[Any]
    active_categories: Select[Any]
    product_by_id: Select[Any]
    product_by_key: Select[Any]
    product_images: Select[Any]


def _statements() -> _Statements:
    c, p, v, m = _tables()
    product = (
        select(
            p.c.id,
            p.c.key,
            p.c.title,
            p.c.description,
            p.c.kind,
            p.c.category_id,
            v.c.id,
            v.c.sku,
            v.c.title,
            v.c.price_amount,
            v.c.currency,
            v.c.stars_price,
            v.c.stock_mode,
            v.c.stock_quantity,
        )
        .join(v, and_(v.c.product_id == p.c.id, v.c.is_active.is_(True)))
        .where(p.c.is_active.is_(True))
        .order_by(v.c.position, v.c.id)
    )
    return _Statements(
        tree=select(c.c.id, c.c.parent_id, c.c.key, c.c.title, c.c.description)
        .where(c.c.is_active.is_(True))
        .order_by(c.c.position, c.c.title, c.c.id),
        active_categories=select(c.c.id, c.c.parent_id).where(c.c.is_active.is_(True)),
        product_by_id=product.where(p.c.id == bindparam("product_id")),
        product_by_key=product.where(p.c.key == bindparam("key")),
        product_images=select(m.c.id)
        .where(m.c.product_id == bindparam("product_id"))
        .order_by(m.c.position, m.c.id),
    )


class CatalogService:
    """Catalog reads, served from a short-lived memory when ``cache_seconds`` > 0.

    Rules of the memory (``TGSHOP_SHOP_CATALOG_CACHE_SECONDS``, default 5; 0 turns it off):

    - the category tree, each page of products (per query: every filter and the page) and
      each product card (by id or by key) may be up to ``cache_seconds`` old: browsing can
      show a price, a stock state, a product or a category that changed meanwhile, for at
      most that long. It is per process: each replica has its own;
    - every decision that matters reads the database and never these results: adding to
      the cart and changing quantities (:class:`~tgshop.services.cart.CartService` checks
      the variant is on sale and in stock), the cart's prices and totals, placing an order
      (it takes prices from the variants and reserves stock with conditional updates), and
      payment, which works on the order. So a stale screen can at worst offer something
      the next step refuses with a clear reason, or show a price the cart then shows as it
      is now;
    - a change made through this service (:meth:`import_catalog`, in this process or the
      ``tgshop catalog import`` command) is announced through
      :class:`~tgshop.services.change_notices.ChangeNotices`, so every process forgets
      everything at once (other processes when a relay carries the notice: Redis, or
      PostgreSQL); stock moved by orders and direct database edits are seen within
      ``cache_seconds``;
    - only results are remembered: a "no such product / category" answer is not, so what
      appears is seen as soon as the entries that hid it expire;
    - at most ``cache_entries`` results are kept, least recently used dropped first;
    - the results are frozen dataclasses holding tuples, shared by every caller: nothing can
      change them in place.

    Images (``media``) and Telegram file ids are always read from the database.
    """

    def __init__(
        self,
        db: Database,
        *,
        clock: Clock | None = None,
        cache_seconds: float = 0,
        cache_entries: int = 1000,
        notices: ChangeNotices | None = None,
    ) -> None:
        self._db = db
        self._clock = clock or SystemClock()
        self._cache = ReadCache(self._clock, cache_seconds, max_entries=cache_entries)
        self._notices = notices or ChangeNotices()
        self._notices.on(CATALOG_TOPIC, lambda _: self.forget_cached())
        self._statements = _statements()
        self._page_statements: dict[_Shape, tuple[Select[Any], Select[Any]]] = {}

    def forget_cached(self) -> None:
        """Drop every remembered read (after a change to the catalog made in this process)."""
        self._cache.clear()

    async def categories_tree(self) -> tuple[CategoryNode, ...]:
        """Active categories as a tree; a child of an inactive parent is hidden with it."""
        return await self._cache.get_or_load(("tree",), self._read_tree)

    async def _read_tree(self) -> tuple[CategoryNode, ...]:
        async with self._db.read() as session:
            rows = (await session.execute(self._statements.tree)).all()
        children: dict[int | None, list[Row[Any]]] = {}
        for row in rows:  # ordered by position, title, id: so is every list of children
            children.setdefault(row.parent_id, []).append(row)

        def node(row: Row[Any]) -> CategoryNode:
            below = tuple(node(child) for child in children.get(row.id, ()))
            return CategoryNode(row.id, row.key, row.title, row.description, below)

        # Only what hangs from a root is reachable: an inactive parent hides its subtree.
        return tuple(node(row) for row in children.get(None, ()))

    async def list_products(self, query: ProductQuery) -> Page[ProductSummary]:
        """A page of active products matching the query (see module rules)."""
        query.validate()
        return await self._cache.get_or_load(("page", query), lambda: self._read_page(query))

    async def _read_page(self, query: ProductQuery) -> Page[ProductSummary]:
        shape = _Shape(
            categories=query.category_id is not None,
            search=bool(query.search),
            min_price=query.min_price is not None,
            max_price=query.max_price is not None,
            in_stock=query.in_stock,
        )
        statements = self._page_statements.get(shape)
        if statements is None:
            statements = self._page_statements[shape] = _page_statements(shape)
        page_stmt, count_stmt = statements
        params: dict[str, Any] = {
            "offset": (query.page - 1) * query.per_page,
            "limit": query.per_page,
        }
        if query.search:
            params["pattern"] = f"%{escape_like(search_key(query.search.strip()))}%"
        if query.min_price is not None:
            params["min_price"] = query.min_price
        if query.max_price is not None:
            params["max_price"] = query.max_price
        async with self._db.read() as session:
            if query.category_id is not None:
                categories = (await session.execute(self._statements.active_categories)).all()
                if query.category_id not in {row.id for row in categories}:
                    raise NotFound("no such category")
                params["categories"] = sorted(_descendants(categories, query.category_id))
            rows = (await session.execute(page_stmt, params)).all()
            if rows:
                total = rows[0][-1]
            elif query.page == 1:
                total = 0
            else:  # past the end: no row carries the total
                total = (await session.execute(count_stmt, params)).scalar_one()
        items = tuple(
            ProductSummary(
                id=row[0],
                key=row[1],
                title=row[2],
                kind=row[3],
                category_id=row[4],
                price_from=Money(row[5], row[6]),
                in_stock=bool(row[7]),
                image_id=row[8],
            )
            for row in rows
        )
        return Page(items=items, total=total, page=query.page, per_page=query.per_page)

    async def product_detail(
        self, product_id: int | None = None, *, key: str | None = None
    ) -> ProductDetail:
        """One active product with its active variants and images, by id or by key; a
        product without an active variant is not for sale (NotFound)."""
        if (product_id is None) == (key is None):
            raise InvalidRequest("give exactly one of product_id and key")
        cache_key = ("product", product_id) if product_id is not None else ("product-key", key)
        return await self._cache.get_or_load(cache_key, lambda: self._read_product(product_id, key))

    async def _read_product(self, product_id: int | None, key: str | None) -> ProductDetail:
        async with self._db.read() as session:
            if product_id is not None:
                found = await session.execute(
                    self._statements.product_by_id, {"product_id": product_id}
                )
            else:
                found = await session.execute(self._statements.product_by_key, {"key": key})
            rows = found.all()
            if not rows:
                raise NotFound("no such product")
            images = await session.execute(
                self._statements.product_images, {"product_id": rows[0][0]}
            )
            image_ids = tuple(images.scalars())
        first = rows[0]
        return ProductDetail(
            id=first[0],
            key=first[1],
            title=first[2],
            description=first[3],
            kind=first[4],
            category_id=first[5],
            variants=tuple(_variant_view(row[6:]) for row in rows),
            image_ids=image_ids,
        )

    async def import_catalog(self, path: Path, *, shop_currency: str) -> ImportReport:
        """Import a catalog file (see :mod:`tgshop.services.catalog_io`), then tell every
        process to forget what it remembers of the catalog, so the new one shows at once."""
        from tgshop.services.catalog_io import import_catalog

        try:
            return await import_catalog(
                self._db, path, shop_currency=shop_currency, clock=self._clock
            )
        finally:
            await self._notices.announce(CATALOG_TOPIC, 0)

    async def media(self, media_id: int) -> tuple[str, bytes]:
        """The bytes and MIME type of one image."""
        async with self._db.read() as session:
            row = (
                await session.execute(select(Media.mime, Media.data).where(Media.id == media_id))
            ).first()
            if row is None:
                raise NotFound("no such image")
            return row[0], row[1]

    async def telegram_file_ids(self, media_ids: Sequence[int]) -> dict[int, str | None]:
        """The cached Telegram file_id of each known image (None: not uploaded yet); ids of
        images that no longer exist are left out."""
        if not media_ids:
            return {}
        async with self._db.read() as session:
            rows = await session.execute(
                select(Media.id, Media.telegram_file_id).where(Media.id.in_(media_ids))
            )
            return {media_id: file_id for media_id, file_id in rows}

    async def remember_telegram_file_id(self, media_id: int, file_id: str) -> bool:
        """Cache the file_id Telegram returned for an uploaded image, so later sends reuse it
        instead of uploading the bytes again.

        Rules: the file_id must be 1-256 characters; a newer file_id replaces an older one (a
        file_id is only valid for the bot that uploaded it: after a token change the front
        end uploads again and stores the new one); an image deleted meanwhile (a catalog
        re-import) is not an error. Returns whether an image was updated. (File ids are not
        part of the remembered reads, so this forgets nothing.)
        """
        if not file_id or len(file_id) > MAX_FILE_ID_LENGTH:
            raise InvalidRequest(f"file_id must be 1-{MAX_FILE_ID_LENGTH} characters")
        async with self._db.transaction() as session:
            result = cast(
                CursorResult[Any],
                await session.execute(
                    update(Media).where(Media.id == media_id).values(telegram_file_id=file_id)
                ),
            )
            return result.rowcount == 1


def _variant_view(row: Sequence[Any]) -> VariantView:
    """From (id, sku, title, price_amount, currency, stars_price, stock_mode, quantity)."""
    variant_id, sku, title, amount, currency, stars_price, stock_mode, quantity = row
    unlimited = stock_mode == StockMode.UNLIMITED
    return VariantView(
        id=variant_id,
        sku=sku,
        title=title,
        price=Money(amount, currency),
        stars_price=stars_price,
        unlimited=unlimited,
        available=0 if unlimited else quantity,
    )
