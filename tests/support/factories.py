"""Test data written straight into the database (the importer has tests of its own)."""

from __future__ import annotations

import hashlib
import io
import itertools
from datetime import UTC, datetime

from PIL import Image
from sqlalchemy import select

from tgshop.db.engine import Database
from tgshop.db.models import Category, Media, Product, User, Variant
from tgshop.domain.catalog import search_key
from tgshop.domain.ledger import EXPENSE, LedgerKind, transfer, wallet
from tgshop.services import ledger

_seq = itertools.count(1)
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


async def make_user(
    db: Database,
    *,
    telegram_id: int | None = None,
    first_name: str = "Alice",
    language_code: str | None = "en",
    username: str | None = None,
) -> User:
    n = next(_seq)
    async with db.transaction() as session:
        user = User(
            telegram_id=telegram_id or 10_000 + n,
            first_name=first_name,
            username=username,
            language_code=language_code,
            referral_code=f"ref{n}",
            created_at=NOW,
            updated_at=NOW,
        )
        session.add(user)
        await session.flush()
        return user


async def make_category(
    db: Database,
    title: str = "Tea",
    *,
    parent_id: int | None = None,
    key: str | None = None,
    is_active: bool = True,
) -> Category:
    n = next(_seq)
    async with db.transaction() as session:
        category = Category(
            key=key or f"cat{n}",
            title=title,
            parent_id=parent_id,
            description="",
            is_active=is_active,
            created_at=NOW,
            updated_at=NOW,
        )
        session.add(category)
        await session.flush()
        return category


async def make_product(
    db: Database,
    title: str = "Sencha",
    *,
    category_id: int | None = None,
    kind: str = "physical",
    description: str = "",
    variants: list[tuple[str, int, int | None]] | None = None,
    currency: str = "USD",
    is_active: bool = True,
) -> Product:
    """variants: (title, price in minor units, stock or None for unlimited)."""
    n = next(_seq)
    variants = variants or [("100 g", 990, 10)]
    async with db.transaction() as session:
        product = Product(
            key=f"p{n}",
            category_id=category_id,
            kind=kind,
            title=title,
            description=description,
            is_active=is_active,
            created_at=NOW,
            updated_at=NOW,
            search_text=search_key(title, description, *(v[0] for v in variants)),
        )
        for pos, (vtitle, price, stock) in enumerate(variants):
            product.variants.append(
                Variant(
                    sku=f"SKU-{n}-{pos}",
                    title=vtitle,
                    price_amount=price,
                    currency=currency,
                    stock_mode="unlimited" if stock is None else "tracked",
                    stock_quantity=stock or 0,
                    position=pos,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
        session.add(product)
        await session.flush()
        await session.refresh(product, ["variants"])
        return product


async def stock_of(db: Database, variant_id: int) -> int:
    async with db.read() as session:
        variant = await session.get(Variant, variant_id)
        assert variant is not None
        return variant.stock_quantity


async def make_images(
    db: Database, product_id: int, count: int, size: tuple[int, int] = (320, 240)
) -> list[int]:
    """``count`` distinct real PNG images (Telegram, and the sandbox, refuse non-images)."""
    async with db.transaction() as session:
        rows = []
        for position in range(count):
            buffer = io.BytesIO()
            Image.new("RGB", size, (40 * position, 120, 200)).save(buffer, format="PNG")
            data = buffer.getvalue()
            rows.append(
                Media(
                    product_id=product_id,
                    position=position,
                    file_name=f"photo{position}.png",
                    mime="image/png",
                    size=len(data),
                    sha256=hashlib.sha256(data).hexdigest(),
                    width=size[0],
                    height=size[1],
                    data=data,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows]


async def give_balance(
    db: Database, user_id: int, amount: int, currency: str = "USD", *, telegram_id: bool = False
) -> None:
    """Credit ``amount`` minor units to a customer's balance, as a staff adjustment would
    (``user_id`` is their Telegram id when ``telegram_id``)."""
    async with db.transaction() as session:
        if telegram_id:
            user_id = (
                await session.execute(select(User.id).where(User.telegram_id == user_id))
            ).scalar_one()
        await ledger.post(
            session,
            kind=LedgerKind.ADJUSTMENT,
            reference=f"test:gift:{next(_seq)}",
            postings=transfer(EXPENSE, wallet(user_id), amount, currency),
            now=NOW,
        )
