"""Checks of a catalog file that need the disk or the database.

- the catalog file must exist and be UTF-8;
- every image named by a product must be a usable image file (:mod:`.catalog_images`);
- every category a product or a category refers to must exist, in the file or in the shop;
- the file's parents applied over the shop's category tree must leave a tree (no cycle);
- a sku may not already belong to another product.

Each problem is added to the :class:`~.catalog_format.ParsedCatalog` being checked, so the
caller reports all of them at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from tgshop.db.models import Category, Product, Variant
from tgshop.services.catalog_format import CatalogImportError, ParsedCatalog
from tgshop.services.catalog_images import ImageInfo, ImageProblem, inspect_image

_IN_CHUNK = 500  # bound the parameters of one IN (...) on both databases


@dataclass
class ExistingCatalog:
    categories: dict[str, Category]  # every category (references may name any)
    products: dict[str, Product]  # the file's products, with variants and media loaded
    sku_owners: dict[str, str]  # the file's skus that exist → their product's key


def read_catalog_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise CatalogImportError([f"{path}: file not found"]) from None
    except IsADirectoryError:
        raise CatalogImportError([f"{path}: is a directory, not a catalog file"]) from None
    except UnicodeDecodeError as exc:
        raise CatalogImportError(
            [f"{path}: not UTF-8 text (bad byte at offset {exc.start})"]
        ) from None
    except OSError as exc:
        raise CatalogImportError([f"{path}: cannot read: {exc.strerror or exc}"]) from None


def inspect_images(parsed: ParsedCatalog, base_dir: Path) -> dict[int, list[ImageInfo]]:
    """Check every image named in the file; return the images of each valid product whose
    images are all good, by product index."""
    seen: dict[str, ImageInfo | ImageProblem] = {}
    good: dict[int, list[ImageInfo]] = {}
    for index, refs in parsed.refs.images.items():
        infos: list[ImageInfo] = []
        for j, ref in refs:
            if not ref:
                continue  # an empty reference is a field error already
            if ref not in seen:
                try:
                    seen[ref] = inspect_image(base_dir, ref)
                except ImageProblem as problem:
                    seen[ref] = problem
            outcome = seen[ref]
            if isinstance(outcome, ImageProblem):
                parsed.add(("products", index, "images", j), str(outcome))
            else:
                infos.append(outcome)
        good[index] = infos
    result: dict[int, list[ImageInfo]] = {}
    for item in parsed.products:
        images = item.spec.images
        if images is not None and len(good.get(item.index, [])) == len(images):
            result[item.index] = good[item.index]
    return result


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), _IN_CHUNK):
        yield values[start : start + _IN_CHUNK]


async def load_existing(session: AsyncSession, parsed: ParsedCatalog) -> ExistingCatalog:
    categories = {c.key: c for c in await session.scalars(select(Category))}
    products: dict[str, Product] = {}
    keys = sorted({item.spec.key for item in parsed.products})
    for chunk in _chunks(keys):
        query = (
            select(Product)
            .where(Product.key.in_(chunk))
            .options(selectinload(Product.variants), selectinload(Product.media))
        )
        products.update((p.key, p) for p in await session.scalars(query))
    owners: dict[str, str] = {}
    skus = sorted({ref.sku for ref in parsed.refs.skus})
    for chunk in _chunks(skus):
        rows = await session.execute(
            select(Variant.sku, Product.key).join(Product).where(Variant.sku.in_(chunk))
        )
        owners.update((sku, key) for sku, key in rows)
    return ExistingCatalog(categories, products, owners)


def check_references(parsed: ParsedCatalog, existing: ExistingCatalog) -> None:
    refs = parsed.refs
    known = refs.category_keys | set(existing.categories)
    for index, _key, parent in refs.parents:
        if parent is not None and parent not in known:
            parsed.add(("categories", index, "parent"), f"unknown category {parent!r}")
    for index, category in refs.categories:
        if category not in known:
            parsed.add(("products", index, "category"), f"unknown category {category!r}")
    for ref in refs.skus:
        owner = existing.sku_owners.get(ref.sku)
        if owner is not None and owner != ref.product_key:
            parsed.add(
                ("products", ref.product_index, "variants", ref.variant_index, "sku"),
                f"{ref.sku!r} already belongs to product {owner!r}",
            )
    _check_cycles(parsed, existing)


def _check_cycles(parsed: ParsedCatalog, existing: ExistingCatalog) -> None:
    """The file's parents applied over the database's tree must still be a tree."""
    by_id = {c.id: c.key for c in existing.categories.values()}
    parents: dict[str, str | None] = {
        c.key: by_id.get(c.parent_id) if c.parent_id is not None else None
        for c in existing.categories.values()
    }
    parents.update({key: parent for _index, key, parent in parsed.refs.parents})
    reported: set[frozenset[str]] = set()
    for index, key, _parent in parsed.refs.parents:
        chain = [key]
        current = parents.get(key)
        while current is not None and current not in chain:
            chain.append(current)
            current = parents.get(current)
        if current != key:
            continue  # no cycle, or a cycle further up that its own members report
        members = frozenset(chain)
        if members not in reported:
            reported.add(members)
            path = " → ".join([*chain, key])
            parsed.add(("categories", index, "parent"), f"makes a cycle: {path}")
