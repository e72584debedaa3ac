"""Checkout: from a cart and the delivery answers to a placed order.

Rules:
- a cart with physical goods needs a name, a phone and an address (or a shared location)
  before it can be ordered; digital goods, subscriptions and services need none of it;
- the customer confirms a total; the order is placed only for exactly that total (a price
  or the cart that changed meanwhile raises PriceChanged and nothing is reserved) — see
  :mod:`tgshop.services.order_placement` for stock, numbering and the manager notification;
- until the payments layer lands, the only way to pay is on delivery / manually: the order
  waits as ``awaiting_payment`` for staff to confirm it;
- the cart is read from the database, never from the cart memory, and placing the order
  announces the cart's change to every process;
- the phone a customer gave is remembered on their profile and offered next time.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update

from tgshop.db.engine import Database
from tgshop.db.models import User
from tgshop.domain.catalog import ProductKind
from tgshop.domain.delivery import DeliveryDetails, DeliveryProblem
from tgshop.domain.errors import EmptyCart
from tgshop.services.cart import CartService, CartView
from tgshop.services.orders import OrderService, OrderView, PlaceOrderRequest


@dataclass(frozen=True)
class CheckoutReview:
    """What checkout needs to know before asking anything."""

    cart: CartView
    needs_delivery: bool
    saved_phone: str | None


def needs_delivery(cart: CartView) -> bool:
    """Whether anything in the cart travels (physical goods)."""
    return any(line.kind == ProductKind.PHYSICAL.value for line in cart.lines)


class CheckoutService:
    def __init__(self, db: Database, carts: CartService, orders: OrderService) -> None:
        self._db = db
        self._carts = carts
        self._orders = orders

    async def review(self, user_id: int) -> CheckoutReview:
        """The cart as it stands, whether delivery details are needed, and the phone we
        remember. An empty cart raises EmptyCart; a cart with problems is returned as it is
        (``cart.can_checkout`` is false) for the front end to show."""
        cart = await self._carts.view(user_id, fresh=True)
        if cart.is_empty:
            raise EmptyCart("the cart is empty")
        async with self._db.read() as session:
            phone = (
                await session.execute(select(User.phone).where(User.id == user_id))
            ).scalar_one_or_none()
        return CheckoutReview(cart, needs_delivery(cart), phone)

    async def place(
        self, user_id: int, details: DeliveryDetails, *, expected_total: int
    ) -> OrderView:
        """Place the cart as an order for ``expected_total`` (see module rules)."""
        cart = await self._carts.view(user_id, fresh=True)
        if needs_delivery(cart):
            for field, value in (
                ("name", details.name),
                ("phone", details.phone),
                ("address", details.address or details.location),
            ):
                if not value:
                    raise DeliveryProblem(field, "missing", f"{field} is needed for delivery")
        order = await self._orders.place_order(
            PlaceOrderRequest(
                user_id, delivery=details.as_order_delivery(), expected_total=expected_total
            )
        )
        await self._carts.changed(user_id)  # the ordered lines left the cart
        if details.phone:
            async with self._db.transaction() as session:
                await session.execute(
                    update(User).where(User.id == user_id).values(phone=details.phone)
                )
        return order
