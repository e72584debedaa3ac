"""The server-side cart, one per user, shared by every front end.

Rules:
- a line is a variant and a quantity from 1 to the shop's ``max_line_quantity``;
- only an active variant of an active product can be added, and never more than its
  tracked stock (the cart tells how many are left); unlimited variants have no cap;
- a cart holds at most ``max_cart_lines`` different variants;
- the cart stores no prices: a cart view prices its lines with the variants' current
  price, stock and availability;
- the Mini App reads the cart on every screen, so a view may come from this process's
  memory, in two parts:
  - a customer's lines (which variants, how many) for up to ``lines_seconds``
    (``TGSHOP_SHOP_CART_CACHE_SECONDS``). Every change to a cart (here, or an order placed
    from it) is announced through :class:`~tgshop.services.change_notices.ChangeNotices`
    once committed, so the customer's own changes show at once in every process;
  - what a variant is (titles, price, stock, on sale or not) for up to ``facts_seconds``
    (``TGSHOP_SHOP_CATALOG_CACHE_SECONDS``), like the catalog the customer browses; a
    catalog import forgets it at once;
- checkout never uses the memory (``fresh=True``), and placing an order re-reads and
  re-checks everything anyway, so what the memory shows can at worst be refused with a
  clear reason;
- a line whose variant became unavailable stays visible, flagged, and is excluded from
  the total until the customer removes it or the stock returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

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
from tgshop.services.change_notices import CART_TOPIC, CATALOG_TOPIC, ChangeNotices
from tgshop.services.ports import Clock
from tgshop.services.read_cache import ReadCache


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
    lines: tuple[CartLine, ...]  # a view may be shared by callers: nothing changes it
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


@dataclass(frozen=True)
class _Facts:
    """What pricing a cart line needs to know about its variant (the columns of _FACTS)."""

    variant_id: int
    product_id: int
    product_title: str
    variant_title: str
    sku: str
    kind: str
    price_amount: int
    currency: str
    stock_mode: str
    stock_quantity: int
    is_active: bool
    product_active: bool

    @classmethod
    def of(cls, row: Sequence[Any]) -> _Facts:
        return cls(*row[:12])


_Lines = tuple[tuple[int, int], ...]  # (variant id, quantity), in the order they were added

# The columns a cart line needs, not whole rows: a cart is read on every Mini App screen.
_FACTS = (
    Variant.id,
    Variant.product_id,
    Product.title,
    Variant.title,
    Variant.sku,
    Product.kind,
    Variant.price_amount,
    Variant.currency,
    Variant.stock_mode,
    Variant.stock_quantity,
    Variant.is_active,
    Product.is_active,
)
_CART_LINES = (
    select(*_FACTS, CartItem.quantity)
    .join(Cart, Cart.id == CartItem.cart_id)
    .join(Variant, Variant.id == CartItem.variant_id)
    .join(Product, Product.id == Variant.product_id)
    .where(Cart.user_id == bindparam("user_id"))
    .order_by(CartItem.id)
)
_VARIANT_FACTS = (
    select(*_FACTS)
    .join(Product, Product.id == Variant.product_id)
    .where(Variant.id.in_(bindparam("ids", expanding=True)))
)


class CartService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        shop: ShopSettings,
        *,
        lines_seconds: float = 0,
        facts_seconds: float = 0,
        memory_entries: int = 10_000,
        notices: ChangeNotices | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._shop = shop
        self._lines = ReadCache(clock, lines_seconds, max_entries=memory_entries)
        self._facts = ReadCache(clock, facts_seconds, max_entries=memory_entries)
        self._views: dict[int, tuple[_Lines, tuple[_Facts, ...], CartView]] = {}
        self._max_views = memory_entries
        self._notices = notices or ChangeNotices()
        self._notices.on(CART_TOPIC, self._forget_lines)
        self._notices.on(CATALOG_TOPIC, lambda _: self._facts.clear())

    def _forget_lines(self, user_id: int | None) -> None:
        if user_id is None:
            self._lines.clear()
        else:
            self._lines.forget(user_id)

    async def changed(self, user_id: int) -> None:
        """A change to this customer's cart was committed (here or by placing an order)."""
        await self._notices.announce(CART_TOPIC, user_id)

    async def view(self, user_id: int, *, fresh: bool = False) -> CartView:
        """The cart with prices and availability, from memory unless ``fresh`` (see module)."""
        if not fresh and self._lines.enabled:
            lines = self._lines.peek(user_id)
            if lines is not None:
                facts = await self._facts_of(cast(_Lines, lines))
                if facts is not None:
                    return self._priced_once(user_id, cast(_Lines, lines), facts)
        started, generation = self._clock.now(), (self._lines.generation, self._facts.generation)
        async with self._db.core_read() as connection:
            lines, facts = await self._read_lines(connection, user_id)
        self._lines.put(user_id, lines, started, generation[0])
        for fact in facts.values():
            self._facts.put(fact.variant_id, fact, started, generation[1])
        return self._priced(user_id, lines, facts)

    async def _facts_of(self, lines: _Lines) -> dict[int, _Facts] | None:
        """The facts of these lines' variants, reading those not remembered (None when a
        variant is gone: the caller reads the whole cart again)."""
        facts: dict[int, _Facts] = {}
        missing: list[int] = []
        for variant_id, _ in lines:
            fact = self._facts.peek(variant_id)
            if fact is None:
                missing.append(variant_id)
            else:
                facts[variant_id] = cast(_Facts, fact)
        if not missing:
            return facts
        started, generation = self._clock.now(), self._facts.generation
        async with self._db.core_read() as connection:
            rows = (await connection.execute(_VARIANT_FACTS, {"ids": missing})).all()
        for row in rows:
            fact = _Facts.of(row)
            self._facts.put(fact.variant_id, fact, started, generation)
            facts[fact.variant_id] = fact
        return facts if len(facts) == len(lines) else None

    def _priced_once(self, user_id: int, lines: _Lines, facts: dict[int, _Facts]) -> CartView:
        """The same view object as last time when priced from the very same remembered lines
        and facts (so the API can reuse what it rendered from it), else a new one."""
        used = tuple(facts[variant_id] for variant_id, _ in lines)
        kept = self._views.get(user_id)
        if (
            kept is not None
            and kept[0] is lines
            and all(now is then for now, then in zip(used, kept[1], strict=True))
        ):
            return kept[2]
        view = self._priced(user_id, lines, facts)
        if len(self._views) >= self._max_views:
            self._views.clear()
        self._views[user_id] = (lines, used, view)
        return view

    async def add(self, user_id: int, variant_id: int, quantity: int = 1) -> CartView:
        """Add ``quantity`` of a variant (on top of what the cart already has)."""
        self._check_quantity(quantity)
        async with self._db.transaction() as session:
            cart = await self._cart(session, user_id)
            item = await self._item(session, cart.id, variant_id)
            current = item.quantity if item else 0
            await self._store(session, cart, item, variant_id, current + quantity)
            view = await self._view(session, user_id)
        await self.changed(user_id)
        return view

    async def set_quantity(self, user_id: int, variant_id: int, quantity: int) -> CartView:
        """Set a line's quantity; 0 removes the line."""
        if quantity == 0:
            return await self.remove(user_id, variant_id)
        self._check_quantity(quantity)
        async with self._db.transaction() as session:
            cart = await self._cart(session, user_id)
            item = await self._item(session, cart.id, variant_id)
            await self._store(session, cart, item, variant_id, quantity)
            view = await self._view(session, user_id)
        await self.changed(user_id)
        return view

    async def remove(self, user_id: int, variant_id: int) -> CartView:
        async with self._db.transaction() as session:
            cart = await self._cart(session, user_id)
            await session.execute(
                delete(CartItem).where(
                    CartItem.cart_id == cart.id, CartItem.variant_id == variant_id
                )
            )
            view = await self._view(session, user_id)
        await self.changed(user_id)
        return view

    async def clear(self, user_id: int) -> CartView:
        async with self._db.transaction() as session:
            cart = await self._cart(session, user_id)
            await session.execute(delete(CartItem).where(CartItem.cart_id == cart.id))
            view = await self._view(session, user_id)
        await self.changed(user_id)
        return view

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
        return self._priced(user_id, *await self._read_lines(db, user_id))

    @staticmethod
    async def _read_lines(
        db: AsyncSession | AsyncConnection, user_id: int
    ) -> tuple[_Lines, dict[int, _Facts]]:
        rows = (await db.execute(_CART_LINES, {"user_id": user_id})).all()
        lines = tuple((row[0], row[-1]) for row in rows)
        return lines, {row[0]: _Facts.of(row) for row in rows}

    def _priced(self, user_id: int, lines: _Lines, facts: dict[int, _Facts]) -> CartView:
        currency = self._shop.currency
        priced: list[CartLine] = []
        total = Money.zero(currency)
        count = 0
        for variant_id, quantity in lines:
            fact = facts[variant_id]
            available = _available(fact.stock_mode, fact.stock_quantity)
            problem: LineProblem | None = None
            if not _sellable(fact.is_active, fact.product_active, fact.currency, currency):
                problem = LineProblem.UNAVAILABLE
            elif available is not None and quantity > available:
                problem = LineProblem.INSUFFICIENT
            unit = Money(fact.price_amount, fact.currency)
            line_total = unit * quantity
            priced.append(
                CartLine(
                    variant_id,
                    fact.product_id,
                    fact.product_title,
                    fact.variant_title,
                    fact.sku,
                    fact.kind,
                    quantity,
                    unit,
                    line_total,
                    available,
                    problem,
                )
            )
            if problem is None:
                total = total + line_total
                count += quantity
        return CartView(user_id=user_id, lines=tuple(priced), total=total, item_count=count)
