"""Placing an order: the checkout's one transaction.

Rules:
- the lines come from the customer's cart (or an explicit list for "buy now"); quantities
  are requests, prices and titles are read from the database and snapshotted on the order;
- stock of every tracked variant is reserved in the same transaction that creates the
  order, with a conditional ``UPDATE ... WHERE stock_quantity >= :n`` per variant in
  ascending id order (a fixed lock order, so concurrent buyers cannot deadlock); stock can
  never go negative and is never oversold;
- if any line cannot be served, nothing is reserved and :class:`OutOfStock` lists *every*
  short line at once, with what is left;
- the order gets a human number, starts ``awaiting_payment`` and expires after the shop's
  ``order_ttl_minutes`` unless paid; the cart lines that were ordered are removed;
- one cart becomes at most one order: checking out locks the cart row, so two checkouts of
  the same cart at once (a double tap, the bot and the Mini App) place one order and the
  other finds the cart empty (:class:`EmptyCart`);
- a request carrying the total the customer confirmed is refused with
  :class:`PriceChanged` when the order would cost anything else (nothing is reserved);
- the manager notification is written to the outbox in the same transaction.

This is the hottest write path, so it runs Core statements built once per service
(:class:`PlacementStatements`) on the session's connection: no ORM unit of work and no
statement construction per order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Delete,
    Insert,
    Select,
    Table,
    Update,
    bindparam,
    delete,
    exists,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from tgshop.config import ShopSettings
from tgshop.db.models import Cart, CartItem, Order, OrderEvent, OrderItem, Product, User, Variant
from tgshop.domain.catalog import StockMode
from tgshop.domain.errors import (
    EmptyCart,
    InvalidRequest,
    NotFound,
    OutOfStock,
    PriceChanged,
    Shortage,
)
from tgshop.domain.money import Money
from tgshop.domain.orders import Actor, OrderStatus, PaymentStatus, format_order_number
from tgshop.services.order_views import OrderEventView, OrderItemView, OrderView
from tgshop.services.outbox import enqueue

NOTIFY_MANAGER_NEW_ORDER = "notify_manager_new_order"


@dataclass(frozen=True)
class OrderLine:
    variant_id: int
    quantity: int


@dataclass(frozen=True)
class PlaceOrderRequest:
    user_id: int
    lines: list[OrderLine] | None = None  # None: order the whole cart
    delivery: dict[str, Any] = field(default_factory=dict)
    # The total (minor units) the customer saw and confirmed; None for callers that show
    # the total only afterwards.
    expected_total: int | None = None


@dataclass(frozen=True)
class _Line:
    variant_id: int
    product_id: int
    sku: str
    title: str
    variant_title: str
    kind: str
    unit_price: int
    currency: str
    tracked: bool
    sellable: bool

    @property
    def label(self) -> str:
        return f"{self.title} ({self.variant_title})"


@dataclass(frozen=True)
class PlacementStatements:
    """Every statement of a checkout, with bound parameters, built once per service."""

    user_exists: Select[Any]
    lock_cart: Select[Any]
    cart_lines: Select[Any]
    lines: Select[Any]
    reserve: Update
    stock_left: Select[Any]
    insert_order: Insert
    set_number: Update
    insert_items: Insert
    insert_event: Insert
    clear_cart_lines: Delete


def build_statements() -> PlacementStatements:
    users, carts = cast(Table, User.__table__), cast(Table, Cart.__table__)
    cart_items, v = cast(Table, CartItem.__table__), cast(Table, Variant.__table__)
    p, orders = cast(Table, Product.__table__), cast(Table, Order.__table__)
    return PlacementStatements(
        user_exists=select(users.c.id).where(users.c.id == bindparam("user_id")),
        lock_cart=select(carts.c.id)
        .where(carts.c.user_id == bindparam("user_id"))
        .with_for_update(),
        cart_lines=select(carts.c.id, cart_items.c.variant_id, cart_items.c.quantity)
        .join(cart_items, cart_items.c.cart_id == carts.c.id)
        .where(carts.c.user_id == bindparam("user_id")),
        lines=select(
            exists().where(users.c.id == bindparam("user_id")),
            v.c.id,
            v.c.product_id,
            v.c.sku,
            p.c.title,
            v.c.title,
            p.c.kind,
            v.c.price_amount,
            v.c.currency,
            v.c.stock_mode,
            v.c.is_active & p.c.is_active,
        )
        .join(p, p.c.id == v.c.product_id)
        .where(v.c.id.in_(bindparam("ids", expanding=True))),
        reserve=update(v)
        .where(v.c.id == bindparam("vid"), v.c.stock_quantity >= bindparam("qty"))
        .values(stock_quantity=v.c.stock_quantity - bindparam("qty")),
        stock_left=select(v.c.stock_quantity).where(v.c.id == bindparam("vid")),
        insert_order=insert(orders).returning(orders.c.id),
        set_number=update(orders)
        .where(orders.c.id == bindparam("oid"))
        .values(number=bindparam("new_number")),
        insert_items=insert(cast(Table, OrderItem.__table__)),
        insert_event=insert(cast(Table, OrderEvent.__table__)),
        clear_cart_lines=delete(cart_items).where(
            cart_items.c.cart_id == bindparam("cid"),
            cart_items.c.variant_id.in_(bindparam("vids", expanding=True)),
        ),
    )


MAX_DELIVERY_FIELDS = 20
MAX_DELIVERY_TEXT = 1000


def _merge(lines: list[OrderLine], shop: ShopSettings) -> dict[int, int]:
    """Merge repeated variants and hold the order to the same limits as a cart."""
    merged: dict[int, int] = {}
    for index, line in enumerate(lines):
        quantity = line.quantity
        if type(quantity) is not int or quantity < 1:
            raise InvalidRequest(f"lines[{index}].quantity must be a whole number of at least 1")
        merged[line.variant_id] = merged.get(line.variant_id, 0) + quantity
    for variant_id, quantity in merged.items():
        if quantity > shop.max_line_quantity:
            raise InvalidRequest(
                f"item {variant_id}: at most {shop.max_line_quantity} per order, asked {quantity}"
            )
    if len(merged) > shop.max_cart_lines:
        raise InvalidRequest(f"an order holds at most {shop.max_cart_lines} different items")
    return merged


def _check_delivery(delivery: dict[str, Any]) -> None:
    """Delivery details are short texts (or coordinates); the bot and Mini App shape them."""
    if len(delivery) > MAX_DELIVERY_FIELDS:
        raise InvalidRequest(f"delivery has more than {MAX_DELIVERY_FIELDS} fields")
    for key, value in delivery.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 32:
            raise InvalidRequest("delivery field names must be 1-32 characters")
        if isinstance(value, bool) or not isinstance(value, str | int | float | type(None)):
            raise InvalidRequest(f"delivery.{key} must be text or a number")
        if isinstance(value, str) and len(value) > MAX_DELIVERY_TEXT:
            raise InvalidRequest(f"delivery.{key} is longer than {MAX_DELIVERY_TEXT} characters")


async def _wanted(
    conn: AsyncConnection, sql: PlacementStatements, request: PlaceOrderRequest, shop: ShopSettings
) -> tuple[int | None, dict[int, int]]:
    if request.lines is not None:
        return None, _merge(request.lines, shop)
    # Lock the cart row first, then read its lines in a statement of their own: a second
    # checkout of the same cart waits here and then sees the lines the first one removed
    # (one order per cart, never the stock reserved twice for one double tap).
    await conn.execute(sql.lock_cart, {"user_id": request.user_id})
    rows = (await conn.execute(sql.cart_lines, {"user_id": request.user_id})).all()
    if not rows:
        return None, {}
    return rows[0][0], _merge([OrderLine(v, q) for _, v, q in rows], shop)


async def _lines(
    conn: AsyncConnection, sql: PlacementStatements, user_id: int, ids: list[int]
) -> tuple[bool | None, dict[int, _Line]]:
    """The lines' current data, and whether the user exists (None when no line was found)."""
    rows = (await conn.execute(sql.lines, {"ids": ids, "user_id": user_id})).all()
    user_exists = bool(rows[0][0]) if rows else None
    return user_exists, {
        r[1]: _Line(
            r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9] == StockMode.TRACKED, bool(r[10])
        )
        for r in rows
    }


async def _reserve(
    conn: AsyncConnection,
    sql: PlacementStatements,
    wanted: dict[int, int],
    lines: dict[int, _Line],
    currency: str,
) -> None:
    """Reserve every tracked line in id order; on any shortage raise with all of them.

    A line priced in another currency than the shop's (left over from a currency change)
    is not for sale: the shop cannot total it.
    """
    shortages: list[Shortage] = []
    for variant_id in sorted(wanted):
        quantity, line = wanted[variant_id], lines.get(variant_id)
        if line is None or not line.sellable or line.currency != currency:
            shortages.append(
                Shortage(variant_id, line.label if line else f"item {variant_id}", quantity, 0)
            )
            continue
        if not line.tracked:
            continue
        result = await conn.execute(sql.reserve, {"vid": variant_id, "qty": quantity})
        if result.rowcount != 1:
            left = (await conn.execute(sql.stock_left, {"vid": variant_id})).scalar_one()
            shortages.append(Shortage(variant_id, line.label, quantity, left))
    if shortages:
        # The caller's transaction rolls back, releasing whatever was reserved above.
        raise OutOfStock(shortages)


async def place_order(
    session: AsyncSession,
    sql: PlacementStatements,
    request: PlaceOrderRequest,
    shop: ShopSettings,
    now: datetime,
) -> OrderView:
    """Create an order and reserve its stock inside the caller's transaction (see rules)."""
    conn = await session.connection()
    _check_delivery(request.delivery)
    cart_id, wanted = await _wanted(conn, sql, request, shop)
    user_exists, lines = (
        await _lines(conn, sql, request.user_id, list(wanted)) if wanted else (None, {})
    )
    if user_exists is None:  # nothing told us; ask (a cold path: empty cart or unknown items)
        user_exists = (
            await conn.execute(sql.user_exists, {"user_id": request.user_id})
        ).first() is not None
    if not user_exists:
        raise NotFound("no such user")
    if not wanted:
        raise EmptyCart("the cart is empty")
    await _reserve(conn, sql, wanted, lines, shop.currency)

    currency = shop.currency
    items: list[dict[str, Any]] = []
    subtotal = Money.zero(currency)
    for variant_id in sorted(wanted):
        line, quantity = lines[variant_id], wanted[variant_id]
        line_total = Money(line.unit_price, line.currency) * quantity
        subtotal = subtotal + line_total
        items.append(
            {
                "variant_id": variant_id,
                "product_id": line.product_id,
                "kind": line.kind,
                "sku": line.sku,
                "title": line.title,
                "variant_title": line.variant_title,
                "unit_price_amount": line.unit_price,
                "quantity": quantity,
                "total_amount": line_total.amount,
                "stock_reserved": quantity if line.tracked else 0,
            }
        )
    if request.expected_total is not None and request.expected_total != subtotal.amount:
        raise PriceChanged(
            f"the order now costs {subtotal}, not the {Money(request.expected_total, currency)}"
            " that was confirmed"
        )
    expires_at = now + timedelta(minutes=shop.order_ttl_minutes)
    order_id = (
        await conn.execute(
            sql.insert_order,
            {
                "user_id": request.user_id,
                "status": OrderStatus.AWAITING_PAYMENT.value,
                "payment_status": PaymentStatus.UNPAID.value,
                "currency": currency,
                "subtotal_amount": subtotal.amount,
                "discount_amount": 0,
                "delivery_amount": 0,
                "total_amount": subtotal.amount,
                "delivery": request.delivery,
                "expires_at": expires_at,
                "created_at": now,
                "updated_at": now,
            },
        )
    ).scalar_one()
    number = format_order_number(shop.order_number_prefix, order_id)
    await conn.execute(sql.set_number, {"oid": order_id, "new_number": number})
    await conn.execute(sql.insert_items, [{"order_id": order_id, **item} for item in items])
    await conn.execute(
        sql.insert_event,
        {
            "order_id": order_id,
            "from_status": None,
            "to_status": OrderStatus.AWAITING_PAYMENT.value,
            "actor": Actor.CUSTOMER.value,
            "actor_user_id": request.user_id,
            "note": None,
            "created_at": now,
        },
    )
    if cart_id is not None:
        await conn.execute(sql.clear_cart_lines, {"cid": cart_id, "vids": list(wanted)})
    await enqueue(
        session,
        NOTIFY_MANAGER_NEW_ORDER,
        {"order_id": order_id},
        now=now,
        dedup_key=f"order:{order_id}:new",
    )
    return OrderView(
        id=order_id,
        number=number,
        user_id=request.user_id,
        status=OrderStatus.AWAITING_PAYMENT,
        payment_status=PaymentStatus.UNPAID,
        total=subtotal,
        items=[
            OrderItemView(
                i["sku"],
                i["title"],
                i["variant_title"],
                i["kind"],
                i["quantity"],
                Money(i["unit_price_amount"], currency),
                Money(i["total_amount"], currency),
            )
            for i in items
        ],
        events=[
            OrderEventView(
                None,
                OrderStatus.AWAITING_PAYMENT.value,
                Actor.CUSTOMER.value,
                request.user_id,
                None,
                now,
            )
        ],
        delivery=dict(request.delivery),
        tracking_number=None,
        created_at=now,
        expires_at=expires_at,
    )
