"""Import a catalog file into the database (docs/catalog-format.md).

Rules:
- Everything is checked first — the JSON, every field, keys and skus, category references
  and parent cycles, sku ownership, every image file — and every problem is reported at
  once in :class:`CatalogImportError`. Nothing is written when there is any problem.
- Then one transaction upserts by key / sku: rows named in the file are created or
  updated; categories, products, variants and images *not* named in the file are left
  exactly as they are (never deleted or deactivated — hide something with
  ``"active": false``).
- A variant's ``stock``, when given, sets the sellable quantity (or ``"unlimited"``); when
  omitted an existing variant keeps its stock and a new one gets 0 (physical) or unlimited
  (other kinds). So a file without stock can update prices without touching inventory.
- A product's ``images``, when given, become its images in that order; a set whose bytes
  (SHA-256) are unchanged keeps its rows and cached Telegram file ids. Omitted: untouched.
- A sku already used by another product is refused (moving a variant is an admin action).
- ``position`` omitted means the item's index in its list; variant positions are always
  their index within the product.
- Re-importing the same file changes nothing (rows are only written when a value differs).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tgshop.db.engine import Database
from tgshop.db.models import Category, Media, Product, Variant
from tgshop.domain.catalog import ProductKind, StockMode, search_key
from tgshop.services.catalog_checks import (
    ExistingCatalog,
    check_references,
    inspect_images,
    load_existing,
    read_catalog_text,
)
from tgshop.services.catalog_export import (
    ExportReport,
    dumps_catalog,
    export_catalog,
    write_catalog_file,
)
from tgshop.services.catalog_format import (
    CatalogImportError,
    Indexed,
    ParsedCatalog,
    ProductSpec,
    VariantSpec,
    format_loc,
    parse_catalog_text,
    sort_problems,
)
from tgshop.services.catalog_images import ImageInfo, ImageProblem, read_checked
from tgshop.services.ports import Clock

__all__ = [
    "CatalogImportError",
    "EntityCounts",
    "ExportReport",
    "ImportReport",
    "dumps_catalog",
    "export_catalog",
    "import_catalog",
    "write_catalog_file",
]


@dataclass
class EntityCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def __str__(self) -> str:
        return f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged"


@dataclass
class ImportReport:
    """What an import did, per entity."""

    categories: EntityCounts = field(default_factory=EntityCounts)
    products: EntityCounts = field(default_factory=EntityCounts)
    variants: EntityCounts = field(default_factory=EntityCounts)
    images_added: int = 0
    images_removed: int = 0
    images_kept: int = 0

    @property
    def changed(self) -> bool:
        counts = (self.categories, self.products, self.variants)
        return any(c.created or c.updated for c in counts) or bool(
            self.images_added or self.images_removed
        )

    def __str__(self) -> str:
        return self.summary()

    def summary(self) -> str:
        return (
            f"categories: {self.categories}; products: {self.products}; "
            f"variants: {self.variants}; images: {self.images_added} added, "
            f"{self.images_removed} removed, {self.images_kept} kept"
        )


async def import_catalog(
    db: Database, path: Path, *, shop_currency: str, clock: Clock
) -> ImportReport:
    """Validate the catalog file at ``path`` and upsert it in one transaction.

    Raises :class:`CatalogImportError` listing every problem; nothing is written then.
    """
    text = await asyncio.to_thread(read_catalog_text, path)
    parsed = parse_catalog_text(text, shop_currency=shop_currency.upper())
    images = await asyncio.to_thread(inspect_images, parsed, path.parent)
    async with db.transaction() as session:
        existing = await load_existing(session, parsed)
        check_references(parsed, existing)
        if parsed.problems:
            raise CatalogImportError([str(p) for p in sort_problems(parsed.problems)])
        return await _write(session, parsed, images, existing, clock)


def _assign(row: object, values: dict[str, Any]) -> bool:
    """Set only the attributes that differ, so an unchanged row is never UPDATEd."""
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


def _count(counts: EntityCounts, *, created: bool, changed: bool) -> None:
    if created:
        counts.created += 1
    elif changed:
        counts.updated += 1
    else:
        counts.unchanged += 1


async def _write(
    session: AsyncSession,
    parsed: ParsedCatalog,
    images: dict[int, list[ImageInfo]],
    existing: ExistingCatalog,
    clock: Clock,
) -> ImportReport:
    report = ImportReport()
    now = clock.now()
    categories = existing.categories
    changed: dict[str, bool] = {}
    created: set[str] = set()
    for c in parsed.categories:
        spec = c.spec
        values = {
            "title": spec.title,
            "description": spec.description,
            "position": c.index if spec.position is None else spec.position,
            "is_active": spec.active,
        }
        row = categories.get(spec.key)
        if row is None:
            row = Category(key=spec.key, parent_id=None, created_at=now, updated_at=now, **values)
            session.add(row)
            categories[spec.key] = row
            created.add(spec.key)
        changed[spec.key] = _assign(row, values)
    await session.flush()  # new categories need ids before parents and products point at them
    for c in parsed.categories:
        row = categories[c.spec.key]
        parent_id = categories[c.spec.parent].id if c.spec.parent is not None else None
        changed[c.spec.key] |= _assign(row, {"parent_id": parent_id})
        if changed[c.spec.key] and c.spec.key not in created:
            row.updated_at = now
        _count(report.categories, created=c.spec.key in created, changed=changed[c.spec.key])

    for p in parsed.products:
        await _write_product(session, p, images.get(p.index), existing, report, now)
    await session.flush()
    return report


async def _write_product(
    session: AsyncSession,
    item: Indexed[ProductSpec],
    images: list[ImageInfo] | None,
    existing: ExistingCatalog,
    report: ImportReport,
    now: datetime,
) -> None:
    spec = item.spec
    category = existing.categories[spec.category] if spec.category is not None else None
    values: dict[str, Any] = {
        "category_id": category.id if category is not None else None,
        "kind": spec.kind,
        "title": spec.title,
        "description": spec.description,
        "position": item.index if spec.position is None else spec.position,
        "is_active": spec.active,
    }
    row = existing.products.get(spec.key)
    is_new = row is None
    if row is None:
        row = Product(key=spec.key, created_at=now, updated_at=now, variants=[], media=[])
        session.add(row)
    changed = _assign(row, values)
    by_sku = {v.sku: v for v in row.variants}
    for position, variant_spec in enumerate(spec.variants):
        _write_variant(row, by_sku.get(variant_spec.sku), variant_spec, position, report, now)
    if images is not None:
        changed |= await _write_media(row, images, item.index, report, now)
    variants = sorted(row.variants, key=lambda v: v.position)
    text = search_key(
        row.title, row.description, *(v.title for v in variants), *(v.sku for v in variants)
    )
    changed |= _assign(row, {"search_text": text})
    if changed and not is_new:
        row.updated_at = now
    _count(report.products, created=is_new, changed=changed)


def _write_variant(
    product: Product,
    row: Variant | None,
    spec: VariantSpec,
    position: int,
    report: ImportReport,
    now: datetime,
) -> None:
    values: dict[str, Any] = {
        "title": spec.title,
        "price_amount": spec.price.amount,
        "currency": spec.price.currency,
        "stars_price": spec.stars_price,
        "position": position,
        "is_active": spec.active,
    }
    stock = spec.stock
    if stock is None and row is None:
        # A new variant without stock: nothing physical to sell yet; other kinds are made on
        # demand.
        stock = 0 if product.kind == ProductKind.PHYSICAL else "unlimited"
    if stock == "unlimited":
        values.update(stock_mode=StockMode.UNLIMITED.value, stock_quantity=0)
    elif stock is not None:
        values.update(stock_mode=StockMode.TRACKED.value, stock_quantity=stock)
    if row is None:
        product.variants.append(Variant(sku=spec.sku, created_at=now, updated_at=now, **values))
        report.variants.created += 1
    elif _assign(row, values):
        row.updated_at = now
        report.variants.updated += 1
    else:
        report.variants.unchanged += 1


async def _write_media(
    product: Product, images: list[ImageInfo], index: int, report: ImportReport, now: datetime
) -> bool:
    """Make ``images`` the product's images; return whether anything changed."""
    current = sorted(product.media, key=lambda m: (m.position, m.id))
    if [m.sha256 for m in current] == [i.sha256 for i in images]:
        for media, info in zip(current, images, strict=True):
            if _assign(media, {"file_name": info.file_name}):
                media.updated_at = now
        report.images_kept += len(current)
        return False
    old = {m.sha256 for m in current}
    new = {i.sha256 for i in images}
    report.images_added += len(new - old)
    report.images_removed += len(old - new)
    report.images_kept += len(old & new)
    file_ids = {m.sha256: m.telegram_file_id for m in current if m.telegram_file_id}
    replacement = []
    for position, info in enumerate(images):
        try:
            data = await asyncio.to_thread(read_checked, info)
        except ImageProblem as problem:
            where = format_loc(("products", index, "images", position))
            raise CatalogImportError([f"{where}: {problem}"]) from None
        replacement.append(
            Media(
                position=position,
                file_name=info.file_name,
                mime=info.mime,
                size=info.size,
                sha256=info.sha256,
                width=info.width,
                height=info.height,
                data=data,
                telegram_file_id=file_ids.get(info.sha256),
                created_at=now,
                updated_at=now,
            )
        )
    product.media = replacement  # delete-orphan removes the old rows
    return True
