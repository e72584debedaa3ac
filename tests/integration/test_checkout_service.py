"""The checkout use case: what a cart needs before it can become an order."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.support.factories import make_product, make_user
from tests.support.fakes import FrozenClock
from tgshop.config import ShopSettings
from tgshop.db.engine import Database
from tgshop.db.models import User
from tgshop.domain.delivery import DeliveryDetails, DeliveryProblem
from tgshop.domain.errors import EmptyCart, PriceChanged
from tgshop.services.cart import CartService
from tgshop.services.checkout import CheckoutService
from tgshop.services.orders import OrderService


@pytest.fixture
def services(db: Database, clock: FrozenClock) -> tuple[CartService, CheckoutService]:
    carts = CartService(db, clock, ShopSettings())
    return carts, CheckoutService(db, carts, OrderService(db, clock, ShopSettings()))


async def test_physical_goods_need_a_name_phone_and_address(
    db: Database, services: tuple[CartService, CheckoutService]
) -> None:
    carts, checkout = services
    user = await make_user(db)
    with pytest.raises(EmptyCart):
        await checkout.review(user.id)
    teapot = await make_product(db, "Teapot", variants=[("1 l", 2500, 5)])
    await carts.add(user.id, teapot.variants[0].id, 1)
    review = await checkout.review(user.id)
    assert review.needs_delivery and review.saved_phone is None
    with pytest.raises(DeliveryProblem) as missing:
        await checkout.place(
            user.id, DeliveryDetails(name="Alice", phone="+447911123456"), expected_total=2500
        )
    assert missing.value.field == "address"
    with pytest.raises(PriceChanged):
        await checkout.place(
            user.id,
            DeliveryDetails(name="Alice", phone="+447911123456", address="1 High St"),
            expected_total=2400,
        )
    order = await checkout.place(
        user.id,
        DeliveryDetails(name="Alice", phone="+447911123456", address="1 High St"),
        expected_total=2500,
    )
    assert order.delivery == {"name": "Alice", "phone": "+447911123456", "address": "1 High St"}
    async with db.read() as session:  # offered again next time
        phone = (await session.execute(select(User.phone).where(User.id == user.id))).scalar()
    assert phone == "+447911123456"


async def test_digital_goods_need_no_delivery_details(
    db: Database, services: tuple[CartService, CheckoutService]
) -> None:
    carts, checkout = services
    user = await make_user(db)
    guide = await make_product(db, "Guide", kind="digital", variants=[("PDF", 900, None)])
    await carts.add(user.id, guide.variants[0].id, 1)
    assert not (await checkout.review(user.id)).needs_delivery
    order = await checkout.place(user.id, DeliveryDetails(), expected_total=900)
    assert order.delivery == {} and str(order.total) == "9.00 USD"
