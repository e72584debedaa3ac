"""Export the catalog in the import format (docs/catalog-format.md).

Rules:
- Everything is exported, inactive rows included, with every optional field written out
  (positions, active flags, stock), so importing an export reproduces the catalog and
  exporting again gives the identical document.
- Categories come parents first (tree order by position, key); products by position, key;
  variants and images in their stored order.
- Images: when an images folder is given, each image is written there as
  ``<product key>/<file name>`` and referenced relative to the folder's parent (where the
  JSON file goes). Without one (export to stdout) no image is written and each image is
  referenced by its stored file name only; such a document re-imports only once the image
  files are put next to it.
- Stock is exported as it is now (available units, or ``"unlimited"``); importing the file
  later sets it back to that figure.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from tgshop.db.engine import Database
from tgshop.db.models import Category, Media, Product
from tgshop.domain.catalog import StockMode
from tgshop.domain.money import Money
from tgshop.services.catalog_format import FORMAT_VERSION
from tgshop.services.catalog_images import safe_file_name


@dataclass(frozen=True)
class ExportReport:
    path: Path
    images_dir: Path
    categories: int
    products: int
    images_written: int


def dumps_catalog(document: dict[str, Any]) -> str:
    """The canonical text of a catalog document (UTF-8, indented, stable)."""
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def images_dir_for(out: Path) -> Path:
    """Where :func:`write_catalog_file` puts the images of ``out``: ``<stem>-images/``."""
    return out.parent / f"{out.stem}-images"


def count_image_refs(document: dict[str, Any]) -> int:
    return sum(len(p.get("images") or []) for p in document.get("products", []))


async def export_catalog(db: Database, *, images_dir: Path | None) -> dict[str, Any]:
    """The whole catalog as a document :func:`~tgshop.services.catalog_io.import_catalog`
    reads. With ``images_dir`` the image files are written into it (see module rules)."""
    async with db.read() as session:
        categories = list(await session.scalars(select(Category)))
        products = list(
            await session.scalars(
                select(Product)
                .options(selectinload(Product.variants), selectinload(Product.media))
                .order_by(Product.position, Product.key)
            )
        )
        keys = {c.id: c.key for c in categories}
        # Built inside the unit of work: rows are expired when the read session ends.
        return {
            "version": FORMAT_VERSION,
            "categories": [_category(c, keys) for c in _tree_order(categories)],
            "products": [await _product(session, p, keys, images_dir) for p in products],
        }


async def write_catalog_file(db: Database, out: Path) -> ExportReport:
    """Export to the file ``out`` and its images to ``<stem>-images/`` next to it.

    Existing files there are overwritten; nothing else in the folder is removed.
    """
    images_dir = images_dir_for(out)
    document = await export_catalog(db, images_dir=images_dir)
    await asyncio.to_thread(_write_text_atomically, out, dumps_catalog(document))
    return ExportReport(
        path=out,
        images_dir=images_dir,
        categories=len(document["categories"]),
        products=len(document["products"]),
        images_written=count_image_refs(document),
    )


def _write_text_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)  # a reader never sees half a catalog


def _tree_order(categories: list[Category]) -> list[Category]:
    children: dict[int | None, list[Category]] = {}
    for c in categories:
        children.setdefault(c.parent_id, []).append(c)
    ordered: list[Category] = []
    seen: set[int] = set()

    def visit(parent_id: int | None) -> None:
        for child in sorted(children.get(parent_id, []), key=lambda c: (c.position, c.key)):
            if child.id not in seen:
                seen.add(child.id)
                ordered.append(child)
                visit(child.id)

    visit(None)
    # Anything unreachable from a root (impossible with the foreign key) is still exported.
    ordered.extend(c for c in sorted(categories, key=lambda c: c.key) if c.id not in seen)
    return ordered


def _category(c: Category, keys: dict[int, str]) -> dict[str, Any]:
    return {
        "key": c.key,
        "title": c.title,
        "description": c.description,
        "parent": keys[c.parent_id] if c.parent_id is not None else None,
        "position": c.position,
        "active": c.is_active,
    }


async def _product(
    session: AsyncSession, p: Product, keys: dict[int, str], images_dir: Path | None
) -> dict[str, Any]:
    media = sorted(p.media, key=lambda m: (m.position, m.id))
    names = _unique_names(
        [safe_file_name(m.file_name, f"image-{i + 1}") for i, m in enumerate(media)]
    )
    refs = []
    for m, name in zip(media, names, strict=True):
        if images_dir is None:
            refs.append(name)
            continue
        data = await session.scalar(select(Media.data).where(Media.id == m.id))
        target = images_dir / p.key / name
        await asyncio.to_thread(_write_bytes, target, data or b"")
        refs.append(f"{images_dir.name}/{p.key}/{name}")
    variants = sorted(p.variants, key=lambda v: (v.position, v.id))
    return {
        "key": p.key,
        "category": keys[p.category_id] if p.category_id is not None else None,
        "kind": p.kind,
        "title": p.title,
        "description": p.description,
        "images": refs,
        "position": p.position,
        "active": p.is_active,
        "variants": [
            {
                "sku": v.sku,
                "title": v.title,
                "price": Money(v.price_amount, v.currency).to_decimal_string(),
                "currency": v.currency,
                "stars_price": v.stars_price,
                "stock": "unlimited" if v.stock_mode == StockMode.UNLIMITED else v.stock_quantity,
                "active": v.is_active,
            }
            for v in variants
        ],
    }


def _unique_names(names: list[str]) -> list[str]:
    """Two images of one product with the same name get ``-2``, ``-3`` … before the suffix."""
    used: set[str] = set()
    out = []
    for name in names:
        candidate, n = name, 1
        while candidate in used:
            n += 1
            stem, dot, suffix = name.rpartition(".")
            candidate = f"{stem}-{n}.{suffix}" if dot and stem else f"{name}-{n}"
        used.add(candidate)
        out.append(candidate)
    return out


def _write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
