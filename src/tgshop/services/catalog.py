"""Catalog reads shared by the bot, the Mini App and the admin side.

Rules:
- only active categories, products and variants are shown to customers;
- the category filter includes every subcategory of the chosen category;
- search is case-insensitive in any language (matched against a casefolded copy of the
  title, description, variant titles and SKUs) and treats ``%`` and ``_`` literally;
- the price filter keeps a product when any active variant's price is within the range;
- "in stock" means some active variant is unlimited or has a positive quantity;
- products are ordered by position, then title, then id, so pages are stable;
- an image uploaded to Telegram once is sent by its cached ``file_id`` afterwards (see
  :meth:`CatalogService.remember_telegram_file_id`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import CursorResult, Select, and_, exists, func, or_, select, update
from sqlalchemy.orm import selectinload

from tgshop.db.engine import Database
from tgshop.db.models import Category, Media, Product, Variant
from tgshop.domain.catalog import StockMode, escape_like, search_key
from tgshop.domain.errors import InvalidRequest, NotFound
from tgshop.domain.money import Money

MAX_PER_PAGE = 100
MAX_FILE_ID_LENGTH = 256  # the media.telegram_file_id column
T = TypeVar("T")


@dataclass(frozen=True)
class CategoryNode:
    id: int
    key: str
    title: str
    description: str
    children: list[CategoryNode] = field(default_factory=list)


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
    items: list[T]
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
    variants: list[VariantView]
    image_ids: list[int]


def _variant_view(variant: Variant) -> VariantView:
    unlimited = variant.stock_mode == StockMode.UNLIMITED
    return VariantView(
        id=variant.id,
        sku=variant.sku,
        title=variant.title,
        price=Money(variant.price_amount, variant.currency),
        stars_price=variant.stars_price,
        unlimited=unlimited,
        available=0 if unlimited else variant.stock_quantity,
    )


def _descendants(categories: list[Category], root_id: int) -> set[int]:
    children: dict[int | None, list[int]] = {}
    for category in categories:
        children.setdefault(category.parent_id, []).append(category.id)
    found, stack = {root_id}, [root_id]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


class CatalogService:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def categories_tree(self) -> list[CategoryNode]:
        """Active categories as a tree; a child of an inactive parent is hidden with it."""
        async with self._db.read() as session:
            rows = (
                await session.execute(
                    select(Category)
                    .where(Category.is_active.is_(True))
                    .order_by(Category.position, Category.title, Category.id)
                )
            ).scalars()
            nodes: dict[int, CategoryNode] = {}
            parents: dict[int, int | None] = {}
            for c in rows:
                nodes[c.id] = CategoryNode(c.id, c.key, c.title, c.description)
                parents[c.id] = c.parent_id
            roots: list[CategoryNode] = []
            for cid, node in nodes.items():
                parent = parents[cid]
                if parent is None:
                    roots.append(node)
                elif parent in nodes:
                    nodes[parent].children.append(node)
            return roots

    def _filtered(self, query: ProductQuery, category_ids: set[int] | None) -> Select[Any]:
        active_variant = and_(Variant.product_id == Product.id, Variant.is_active.is_(True))
        stmt = select(Product.id).where(Product.is_active.is_(True), exists().where(active_variant))
        if category_ids is not None:
            stmt = stmt.where(Product.category_id.in_(category_ids))
        if query.search:
            pattern = f"%{escape_like(search_key(query.search.strip()))}%"
            stmt = stmt.where(Product.search_text.like(pattern, escape="\\"))
        if query.min_price is not None or query.max_price is not None:
            price_ok = [active_variant]
            if query.min_price is not None:
                price_ok.append(Variant.price_amount >= query.min_price)
            if query.max_price is not None:
                price_ok.append(Variant.price_amount <= query.max_price)
            stmt = stmt.where(exists().where(*price_ok))
        if query.in_stock:
            stmt = stmt.where(
                exists().where(
                    active_variant,
                    or_(
                        Variant.stock_mode == StockMode.UNLIMITED.value, Variant.stock_quantity > 0
                    ),
                )
            )
        return stmt

    async def list_products(self, query: ProductQuery) -> Page[ProductSummary]:
        """A page of active products matching the query (see module rules)."""
        query.validate()
        async with self._db.read() as session:
            category_ids = None
            if query.category_id is not None:
                all_categories = list(
                    (
                        await session.execute(select(Category).where(Category.is_active.is_(True)))
                    ).scalars()
                )
                if query.category_id not in {c.id for c in all_categories}:
                    raise NotFound("no such category")
                category_ids = _descendants(all_categories, query.category_id)
            ids = self._filtered(query, category_ids).subquery()
            total = (await session.execute(select(func.count()).select_from(ids))).scalar_one()
            products = (
                await session.execute(
                    select(Product)
                    .where(Product.id.in_(select(ids.c.id)))
                    .order_by(Product.position, Product.title, Product.id)
                    .offset((query.page - 1) * query.per_page)
                    .limit(query.per_page)
                    .options(selectinload(Product.variants), selectinload(Product.media))
                )
            ).scalars()
            items = [self._summary(p) for p in products]
        return Page(items=items, total=total, page=query.page, per_page=query.per_page)

    @staticmethod
    def _summary(product: Product) -> ProductSummary:
        variants = [_variant_view(v) for v in product.variants if v.is_active]
        cheapest = min(variants, key=lambda v: v.price.amount)
        return ProductSummary(
            id=product.id,
            key=product.key,
            title=product.title,
            kind=product.kind,
            category_id=product.category_id,
            price_from=cheapest.price,
            in_stock=any(v.in_stock for v in variants),
            image_id=product.media[0].id if product.media else None,
        )

    async def product_detail(
        self, product_id: int | None = None, *, key: str | None = None
    ) -> ProductDetail:
        """One active product with its active variants and images, by id or by key."""
        if (product_id is None) == (key is None):
            raise InvalidRequest("give exactly one of product_id and key")
        async with self._db.read() as session:
            stmt = select(Product).options(
                selectinload(Product.variants), selectinload(Product.media)
            )
            stmt = (
                stmt.where(Product.id == product_id)
                if product_id is not None
                else stmt.where(Product.key == key)
            )
            product = (
                await session.execute(stmt.where(Product.is_active.is_(True)))
            ).scalar_one_or_none()
            variants = (
                [_variant_view(v) for v in product.variants if v.is_active] if product else []
            )
            if product is None or not variants:
                raise NotFound("no such product")
            return ProductDetail(
                id=product.id,
                key=product.key,
                title=product.title,
                description=product.description,
                kind=product.kind,
                category_id=product.category_id,
                variants=variants,
                image_ids=[m.id for m in product.media],
            )

    async def media(self, media_id: int) -> tuple[str, bytes]:
        """The bytes and MIME type of one image."""
        async with self._db.read() as session:
            row = (
                await session.execute(select(Media.mime, Media.data).where(Media.id == media_id))
            ).first()
            if row is None:
                raise NotFound("no such image")
            return row[0], row[1]

    async def telegram_file_ids(self, media_ids: list[int]) -> dict[int, str | None]:
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
        re-import) is not an error. Returns whether an image was updated.
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
