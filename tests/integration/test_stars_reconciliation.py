"""Reconciling Telegram Stars: a payment whose successful_payment update never arrived is
found in getStarTransactions and taken in once; what we already had changes nothing; each
pass reads only what is new."""

from __future__ import annotations

from sqlalchemy import select, update

from tests.support.factories import make_product, make_user
from tests.support.fakes import FrozenClock, RecordingTelegram
from tgshop.config import PaymentsSettings, ShopSettings
from tgshop.db.engine import Database
from tgshop.db.models import Order, Variant
from tgshop.domain.payments import Gateway
from tgshop.services.order_placement import OrderLine, PlaceOrderRequest
from tgshop.services.orders import OrderService
from tgshop.services.payments import Outcome, PaymentService, ProviderReport
from tgshop.services.ports import StarTransaction
from tgshop.services.reconciliation import StarsReconciler


async def test_a_missed_stars_payment_is_found_and_taken_in_once(
    db: Database, clock: FrozenClock, telegram: RecordingTelegram
) -> None:
    shop = ShopSettings()
    orders = OrderService(db, clock, shop)
    payments = PaymentService(db, clock, shop, PaymentsSettings())
    product = await make_product(db, "Guide", kind="digital", variants=[("PDF", 900, None)])
    async with db.transaction() as session:
        await session.execute(
            update(Variant).where(Variant.id == product.variants[0].id).values(stars_price=30)
        )
    invoices = []
    for n in range(2):
        user = await make_user(db, telegram_id=910_000 + n)
        order = await orders.place_order(
            PlaceOrderRequest(user_id=user.id, lines=[OrderLine(product.variants[0].id, 1)])
        )
        invoices.append((user, order, await payments.stars_invoice(order.id, user.id)))
    (ann, heard, heard_invoice), (bob, missed, missed_invoice) = invoices
    # Ann's payment arrived as an update; Bob's update was lost.
    await payments.confirm(
        ProviderReport(Gateway.STARS, heard_invoice.payload, "stxn-a", 30, "XTR", ann.telegram_id)
    )
    telegram.stars_ledger = [
        StarTransaction("stxn-a", 30, ann.telegram_id, heard_invoice.payload),
        None,  # something that is not a customer's payment (a refund, a withdrawal)
        StarTransaction("stxn-b", 30, bob.telegram_id, missed_invoice.payload),
    ]
    reconciler = StarsReconciler(db, clock, payments, telegram)

    first = await reconciler.run()
    assert (first.read, first.already_known, first.taken_in) == (3, 1, 1)
    async with db.read() as session:
        statuses = dict((await session.execute(select(Order.id, Order.payment_status))).all())
    assert statuses == {heard.id: "paid", missed.id: "paid"}

    # The next pass reads only what is new: nothing, then one duplicate of a known charge.
    again = await reconciler.run()
    assert (again.read, again.taken_in) == (0, 0)
    telegram.stars_ledger.append(
        StarTransaction("stxn-b", 30, bob.telegram_id, missed_invoice.payload)
    )
    later = await reconciler.run()
    assert (later.read, later.already_known, later.taken_in) == (1, 1, 0)
    # And the exactly-once rule holds whatever route a report takes.
    repeat = await payments.confirm(
        ProviderReport(Gateway.STARS, missed_invoice.payload, "stxn-b", 30, "XTR", bob.telegram_id)
    )
    assert repeat.outcome is Outcome.DUPLICATE
