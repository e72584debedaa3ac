"""The server-side cart, one per user, shared by every front end.

Rules:
- a line is a variant and a quantity from 1 to the shop's ``max_line_quantity``;
- only an active variant of an active product can be added, and never more than its
  tracked stock (the cart tells how many are left); unlimited variants have no cap;
- a cart holds at most ``max_cart_lines`` different variants;
- prices and totals are always read from the database when the cart is viewed: the cart
  stores no prices, so a price change shows at once;
- a line whose variant became unavailable stays visible, flagged, and is excluded from
  the total until the customer removes it or the stock returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import selectinload

from tgshop.config import ShopSettings
from tgshop.db.engine import Database
from tgshop.db.models import Cart, CartItem, Product, User, Variant
from tgshop.db.upsert import insert_for
from tgshop.domain.catalog import StockMode
from tgshop.domain.errors import InvalidRequest, NotFound, OutOfStock, Shortage
from tgshop.domain.money import Money
from tgshop.services.ports import Clock


class LineProblem(StrEnum):
    UNAVAILABLE = "unavailable"  # variant or product deactivated
    INSUFFICIENT = "insufficient"  # less stock left than the line asks


@dataclass(frozen=True)
class CartLine:
    variant_id: int
    product_id: int
    product_title: str
    variant_title: str
    sku: str
    kind: str
    quantity: int
    unit_price: Money
    line_total: Money
    available: int | None  # None = unlimited
    problem: LineProblem | None


@dataclass(frozen=True)
class CartView:
    user_id: int
    lines: list[CartLine]
    total: Money
    item_count: int

    @property
    def is_empty(self) -> bool:
        return not self.lines

    @property
    def can_checkout(self) -> bool:
        return bool(self.lines) and all(line.problem is None for line in self.lines)


def _available(stock_mode: str, stock_quantity: int) -> int | None:
    return None if stock_mode == StockMode.UNLIMITED else stock_quantity


def _sellable(variant_active: bool, product_active: bool, price_currency: str, shop: str) -> bool:
    """Active, of an active product, and priced in the shop's currency (a variant left over
    from a currency change cannot be totalled, so it is not for sale)."""
    return variant_active and product_active and price_currency == shop


# The columns a cart line needs, not whole rows: a cart is read on every Mini App screen.
_CART_LINES = (
    select(
        Variant.id,
        Variant.product_id,
        Product.title.label("product_title"),
        Variant.title,
        Variant.sku,
        Product.kind,
        CartItem.quantity,
        Variant.price_amount,
        Variant.currency,
        Variant.stock_mode,
        Variant.stock_quantity,
        Variant.is_active,
        Product.is_active.label("product_active"),
    )
    .join(Cart, Cart.id == CartItem.cart_id)
    .join(Variant, Variant.id == CartItem.variant_id)
    .join(Product, Product.id == Variant.product_id)
    .where(Cart.user_id == bindparam("user_id"))
    .order_by(CartItem.id)
)


class CartService:
    def __init__(self, db: Database, clock: Clock, shop: ShopSettings) -> None:
        self._db = db
        self._clock = clock
        self._shop = shop

    async def view(self, user_id: int) -> CartView:
        """The cart with prices and availability read now."""
        async with self._db.core_read() as connection:
            return await self._view(connection, user_id)

    async def add(self, user_id: int, variant_id: int, quantity: int = 1) -> CartView:
        """Add ``quantity`` of a variant (on top of what the cart already has)."""
        self._check_quantity(quantity)
        async with self._db.transaction() as session:
            cart = await self._cart(session, user_id)
            item = await self._item(session, cart.id, variant_id)
            current = item.quantity if item else 0
            await self._store(session, cart, item, variant_id, current + quantity)
            return await self._view(session, user_id)

    async def set_quantity(self, user_id: int, variant_id: int, quantity: int) -> CartView:
        """Set a line's quantity; 0 removes the line."""
        if quantity == 0:
            return await self.remove(user_id, variant_id)
        self._check_quantity(quantity)
        async with self._db.transaction() as session:
            cart = await self._cart(session, user_id)
            item = await self._item(session, cart.id, variant_id)
            await self._store(session, cart, item, variant_id, quantity)
            return await self._view(session, user_id)

    async def remove(self, user_id: int, variant_id: int) -> CartView:
        async with self._db.transaction() as session:
            cart = await self._cart(session, user_id)
            await session.execute(
                delete(CartItem).where(
                    CartItem.cart_id == cart.id, CartItem.variant_id == variant_id
                )
            )
            return await self._view(session, user_id)

    async def clear(self, user_id: int) -> CartView:
        async with self._db.transaction() as session:
            cart = await self._cart(session, user_id)
            await session.execute(delete(CartItem).where(CartItem.cart_id == cart.id))
            return await self._view(session, user_id)

    def _check_quantity(self, quantity: int) -> None:
        if not 1 <= quantity <= self._shop.max_line_quantity:
            raise InvalidRequest(f"quantity must be between 1 and {self._shop.max_line_quantity}")

    async def _cart(self, session: AsyncSession, user_id: int) -> Cart:
        """The user's cart, created if needed, and row-locked until the transaction ends so
        concurrent changes to one cart (a double tap, bot and Mini App at once) queue up."""
        locked = select(Cart).where(Cart.user_id == user_id).with_for_update()
        cart = (await session.execute(locked)).scalar_one_or_none()
        if cart is not None:
            return cart
        if await session.get(User, user_id) is None:
            raise NotFound("no such user")
        now = self._clock.now()
        await session.execute(
            insert_for(session, Cart.__table__)
            .values(user_id=user_id, created_at=now, updated_at=now)
            .on_conflict_do_nothing(index_elements=["user_id"])
        )
        return (await session.execute(locked)).scalar_one()

    @staticmethod
    async def _item(session: AsyncSession, cart_id: int, variant_id: int) -> CartItem | None:
        return (
            await session.execute(
                select(CartItem).where(
                    CartItem.cart_id == cart_id, CartItem.variant_id == variant_id
                )
            )
        ).scalar_one_or_none()

    async def _store(
        self,
        session: AsyncSession,
        cart: Cart,
        item: CartItem | None,
        variant_id: int,
        quantity: int,
    ) -> None:
        variant = (
            await session.execute(
                select(Variant)
                .options(selectinload(Variant.product))
                .where(Variant.id == variant_id)
            )
        ).scalar_one_or_none()
        if variant is None or not _sellable(
            variant.is_active, variant.product.is_active, variant.currency, self._shop.currency
        ):
            raise NotFound("this item is not available")
        self._check_quantity(quantity)
        available = _available(variant.stock_mode, variant.stock_quantity)
        if available is not None and quantity > available:
            title = f"{variant.product.title} ({variant.title})"
            raise OutOfStock([Shortage(variant.id, title, quantity, available)])
        now = self._clock.now()
        if item is None:
            lines = (
                await session.execute(select(func.count()).where(CartItem.cart_id == cart.id))
            ).scalar_one()
            if lines >= self._shop.max_cart_lines:
                raise InvalidRequest(
                    f"a cart holds at most {self._shop.max_cart_lines} different items"
                )
            session.add(
                CartItem(
                    cart_id=cart.id,
                    variant_id=variant_id,
                    quantity=quantity,
                    created_at=now,
                    updated_at=now,
                )
            )
        else:
            item.quantity = quantity
            item.updated_at = now
        cart.updated_at = now
        await session.flush()

    async def _view(self, db: AsyncSession | AsyncConnection, user_id: int) -> CartView:
        rows = (await db.execute(_CART_LINES, {"user_id": user_id})).all()
        lines: list[CartLine] = []
        total = Money.zero(self._shop.currency)
        count = 0
        for row in rows:
            available = _available(row.stock_mode, row.stock_quantity)
            problem: LineProblem | None = None
            if not _sellable(row.is_active, row.product_active, row.currency, self._shop.currency):
                problem = LineProblem.UNAVAILABLE
            elif available is not None and row.quantity > available:
                problem = LineProblem.INSUFFICIENT
            unit = Money(row.price_amount, row.currency)
            line_total = unit * row.quantity
            lines.append(
                CartLine(
                    row.id,
                    row.product_id,
                    row.product_title,
                    row.title,
                    row.sku,
                    row.kind,
                    row.quantity,
                    unit,
                    line_total,
                    available,
                    problem,
                )
            )
            if problem is None:
                total = total + line_total
                count += row.quantity
        return CartView(user_id=user_id, lines=lines, total=total, item_count=count)
