"""What the worker does with money that could not go to its order: the customer is told,
and a refund goes back through Telegram Stars, or to the balance where the gateway cannot
send money back (or is dead-lettered, with the reason, when it cannot be sent at all)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select, update

from tests.integration.test_notify_jobs import make_worker
from tests.support.factories import make_product, make_user
from tests.support.fakes import FrozenClock, RecordingTelegram
from tgshop.app import build_container
from tgshop.config import Settings
from tgshop.db.engine import Database
from tgshop.db.models import OutboxJob, Refund, Variant
from tgshop.domain.orders import Actor, OrderStatus
from tgshop.domain.payments import Gateway
from tgshop.services.order_placement import OrderLine, PlaceOrderRequest
from tgshop.services.payments import Outcome, ProviderReport


async def _late_stars_payment(settings: Settings, db: Database, clock: FrozenClock, telegram):
    container = build_container(settings, db=db, clock=clock, telegram=telegram)
    user = await make_user(db, first_name="Ann")
    product = await make_product(db, "Teapot", kind="digital", variants=[("1 l", 2500, 5)])
    async with db.transaction() as session:
        await session.execute(
            update(Variant).where(Variant.id == product.variants[0].id).values(stars_price=40)
        )
    order = await container.orders.place_order(
        PlaceOrderRequest(user_id=user.id, lines=[OrderLine(product.variants[0].id, 1)])
    )
    invoice = await container.payments.stars_invoice(order.id, user.id)
    await container.orders.change_status(
        order.id, OrderStatus.CANCELLED, actor=Actor.CUSTOMER, actor_user_id=user.id
    )
    confirmation = await container.payments.confirm(
        ProviderReport(Gateway.STARS, invoice.payload, "stxn-late", 40, "XTR", user.telegram_id)
    )
    return container, user, confirmation


async def test_a_late_stars_payment_is_refunded_and_the_customer_told(
    make_settings: Callable[..., Settings],
    db: Database,
    clock: FrozenClock,
    telegram: RecordingTelegram,
) -> None:
    settings = make_settings(payments={"late_money": "refund"})
    container, user, confirmation = await _late_stars_payment(settings, db, clock, telegram)
    assert confirmation.outcome is Outcome.REFUNDING
    worker = make_worker(container)
    await worker.drain()
    assert telegram.star_refunds == [(user.telegram_id, "stxn-late")]
    texts = [m.text for m in telegram.sent if m.chat_id == user.telegram_id]
    assert any("could not go to its order (the order had been cancelled)" in t for t in texts)
    assert any("40 XTR</b> has been refunded" in t for t in texts), texts
    async with db.read() as session:
        assert (await session.execute(select(Refund.status))).scalar_one() == "succeeded"
    # Run again: nothing is refunded twice.
    await worker.drain()
    assert len(telegram.star_refunds) == 1


async def test_a_late_payment_credited_to_the_wallet_says_how_much(
    make_settings: Callable[..., Settings],
    db: Database,
    clock: FrozenClock,
    telegram: RecordingTelegram,
) -> None:
    container, user, confirmation = await _late_stars_payment(make_settings(), db, clock, telegram)
    assert confirmation.outcome is Outcome.CREDITED
    await make_worker(container).drain()
    texts = [m.text for m in telegram.sent if m.chat_id == user.telegram_id]
    (late,) = [text for text in texts if "could not go to its order" in text]
    assert "<b>25.00 USD</b> is on your balance now" in late
    assert telegram.star_refunds == []


async def test_card_money_that_cannot_go_back_through_telegram_goes_to_the_balance(
    make_settings: Callable[..., Settings],
    db: Database,
    clock: FrozenClock,
    telegram: RecordingTelegram,
) -> None:
    container = build_container(make_settings(), db=db, clock=clock, telegram=telegram)
    user = await make_user(db)
    # Card money for an invoice we never made: recorded and to be sent back, but Telegram
    # Payments has no refund API, so it goes to the customer's balance.
    confirmation = await container.payments.confirm(
        ProviderReport(Gateway.TELEGRAM, "tgs_unknown", "tpc-1", 500, "USD", user.telegram_id)
    )
    assert confirmation.outcome is Outcome.REFUNDING
    worker = make_worker(container)
    await worker.drain()
    await worker.drain()  # a second run credits nothing more
    async with db.read() as session:
        refund = (await session.execute(select(Refund.status))).scalar_one()
        job = (
            await session.execute(
                select(OutboxJob.status).where(OutboxJob.kind == "refund_payment")
            )
        ).scalar_one()
    assert (refund, job) == ("succeeded", "done")
    assert (await container.payments.balance(user.id)).amount == 500
    texts = [m.text for m in telegram.sent if m.chat_id == user.telegram_id]
    assert any("<b>5.00 USD</b> has been refunded to your balance" in t for t in texts), texts


async def test_part_of_a_stars_payment_goes_to_the_balance_at_its_own_worth(
    make_settings: Callable[..., Settings],
    db: Database,
    clock: FrozenClock,
    telegram: RecordingTelegram,
) -> None:
    settings = make_settings(payments={"late_money": "refund"})
    container, user, _ = await _late_stars_payment(settings, db, clock, telegram)
    async with db.transaction() as session:  # staff halved it: Stars refund whole payments
        await session.execute(update(Refund).values(amount=20, value_amount=1250))
    await make_worker(container).drain()
    assert telegram.star_refunds == []
    assert (await container.payments.balance(user.id)).amount == 1250
    texts = [m.text for m in telegram.sent if m.chat_id == user.telegram_id]
    assert any("<b>12.50 USD</b> has been refunded to your balance" in t for t in texts), texts


async def test_a_refund_that_cannot_be_sent_is_dead_lettered_with_the_reason(
    make_settings: Callable[..., Settings],
    db: Database,
    clock: FrozenClock,
    telegram: RecordingTelegram,
) -> None:
    settings = make_settings(payments={"late_money": "refund"})
    container, _, _ = await _late_stars_payment(settings, db, clock, telegram)
    async with db.transaction() as session:  # a refund row someone rejected by hand
        await session.execute(update(Refund).values(status="rejected"))
    await make_worker(container).drain()
    async with db.read() as session:
        dead = (
            await session.execute(
                select(OutboxJob.status, OutboxJob.last_error).where(
                    OutboxJob.kind == "refund_payment"
                )
            )
        ).one()
    assert dead.status == "dead"
    assert "is rejected, not approved" in (dead.last_error or "")
    assert telegram.star_refunds == []
