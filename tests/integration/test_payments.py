"""Taking money in exactly once: Stars invoices, pre-checkout, confirmations, late money,
the wallet. Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from tests.support.factories import give_balance, make_product, make_user
from tests.support.fakes import FrozenClock
from tgshop.config import PaymentsSettings, ShopSettings
from tgshop.db.engine import Database
from tgshop.db.models import LedgerEntry, OutboxJob, Payment, Refund, Variant
from tgshop.domain.errors import IllegalTransition, InvalidRequest
from tgshop.domain.ledger import REVENUE, LedgerKind, transfer, wallet
from tgshop.domain.orders import Actor, OrderStatus, PaymentStatus
from tgshop.domain.payments import Gateway, NotPayable
from tgshop.services import ledger
from tgshop.services.gateway_modes import GatewayModes
from tgshop.services.ledger import InsufficientFunds
from tgshop.services.order_placement import OrderLine, PlaceOrderRequest
from tgshop.services.orders import OrderService
from tgshop.services.payments import (
    NOTIFY_LATE_PAYMENT,
    REFUND_PAYMENT,
    Outcome,
    PaymentService,
    ProviderReport,
    Refusal,
)


def _services(
    db: Database, clock: FrozenClock, **payments: object
) -> tuple[OrderService, PaymentService]:
    shop = ShopSettings()
    return OrderService(db, clock, shop), PaymentService(
        db,
        clock,
        shop,
        PaymentsSettings(**payments),  # type: ignore[arg-type]
    )


async def _order(db: Database, orders: OrderService, *, stars: int | None = 40, price: int = 2500):
    user = await make_user(db)
    product = await make_product(db, "Teapot", kind="digital", variants=[("1 l", price, 5)])
    if stars is not None:
        async with db.transaction() as session:
            await session.execute(
                update(Variant)
                .where(Variant.id == product.variants[0].id)
                .values(stars_price=stars)
            )
    order = await orders.place_order(
        PlaceOrderRequest(user_id=user.id, lines=[OrderLine(product.variants[0].id, 2)])
    )
    return user, order


def _report(invoice_payload: str, amount: int, charge: str = "stxn1", user: int | None = None):
    return ProviderReport(
        gateway=Gateway.STARS,
        payload=invoice_payload,
        charge_id=charge,
        amount=amount,
        currency="XTR",
        telegram_user_id=user,
    )


async def _jobs(db: Database, kind: str) -> list[dict[str, object]]:
    async with db.read() as session:
        return list(
            (
                await session.execute(select(OutboxJob.payload).where(OutboxJob.kind == kind))
            ).scalars()
        )


async def _wallet(db: Database, user_id: int) -> int:
    async with db.read() as session:
        return await ledger.wallet_balance(session, user_id, "USD")


async def test_a_stars_payment_pays_the_order_once(db: Database, clock: FrozenClock) -> None:
    orders, payments = _services(db, clock)
    user, order = await _order(db, orders, stars=40)
    invoice = await payments.stars_invoice(order.id, user.id)
    assert (invoice.currency, invoice.amount) == ("XTR", 80)  # 2 × the variant's 40 Stars
    # Asking again gives the same invoice: a double tap creates no second debt.
    assert (await payments.stars_invoice(order.id, user.id)).payload == invoice.payload

    assert await payments.pre_checkout(invoice.payload, user.telegram_id, "XTR", 80) is None
    first = await payments.confirm(_report(invoice.payload, 80))
    assert first.outcome is Outcome.PAID and first.order_id == order.id
    again = await payments.confirm(_report(invoice.payload, 80))
    assert again.outcome is Outcome.DUPLICATE

    paid = await orders.get(order.id)
    assert paid.status is OrderStatus.CONFIRMED and paid.payment_status is PaymentStatus.PAID
    assert [e.to_status for e in paid.events][-1] == "confirmed"
    async with db.read() as session:
        revenue = await session.scalar(
            select(func.sum(LedgerEntry.amount)).where(LedgerEntry.account == REVENUE)
        )
    assert revenue == 5000  # the order's worth in the shop currency, once
    assert await payments.pre_checkout(invoice.payload, user.telegram_id, "XTR", 80) is Refusal.PAID
    with pytest.raises(IllegalTransition, match="refund"):
        await orders.change_status(order.id, OrderStatus.CANCELLED, actor=Actor.STAFF)


async def test_pre_checkout_refuses_what_is_not_payable(db: Database, clock: FrozenClock) -> None:
    orders, payments = _services(db, clock)
    user, order = await _order(db, orders)
    invoice = await payments.stars_invoice(order.id, user.id)
    assert await payments.pre_checkout("tgs_nope", user.telegram_id, "XTR", 80) is Refusal.UNKNOWN
    assert await payments.pre_checkout(invoice.payload, 1, "XTR", 80) is Refusal.NOT_YOURS
    assert await payments.pre_checkout(invoice.payload, user.telegram_id, "XTR", 79) is (
        Refusal.CHANGED
    )
    assert await payments.pre_checkout(invoice.payload, user.telegram_id, "USD", 80) is (
        Refusal.CHANGED
    )
    clock.advance(minutes=31)  # past the order's 30 minutes: its stock is no longer held
    assert await payments.pre_checkout(invoice.payload, user.telegram_id, "XTR", 80) is (
        Refusal.CLOSED
    )
    with pytest.raises(InvalidRequest, match="cannot be paid"):
        await payments.stars_invoice(order.id, user.id)


async def test_money_for_an_expired_order_is_credited_to_the_wallet(
    db: Database, clock: FrozenClock
) -> None:
    orders, payments = _services(db, clock)
    user, order = await _order(db, orders)
    invoice = await payments.stars_invoice(order.id, user.id)
    clock.advance(minutes=31)
    assert await orders.expire_unpaid() == 1
    late = await payments.confirm(_report(invoice.payload, 80))
    assert late.outcome is Outcome.CREDITED and late.reason == "the order is expired"
    assert await _wallet(db, user.id) == 5000
    assert (await orders.get(order.id)).payment_status is PaymentStatus.UNPAID
    assert await _jobs(db, NOTIFY_LATE_PAYMENT) == [
        {"payment_id": late.payment_id, "outcome": "credited", "reason": "expired"}
    ]
    # The same confirmation again credits nothing more.
    assert (await payments.confirm(_report(invoice.payload, 80))).outcome is Outcome.DUPLICATE
    assert await _wallet(db, user.id) == 5000


async def test_with_the_refund_policy_late_money_goes_back(
    db: Database, clock: FrozenClock
) -> None:
    orders, payments = _services(db, clock, late_money="refund")
    user, order = await _order(db, orders)
    invoice = await payments.stars_invoice(order.id, user.id)
    await orders.change_status(
        order.id, OrderStatus.CANCELLED, actor=Actor.CUSTOMER, actor_user_id=user.id
    )
    late = await payments.confirm(_report(invoice.payload, 80))
    assert late.outcome is Outcome.REFUNDING
    async with db.read() as session:
        refund = (
            await session.execute(
                select(Refund.id, Refund.payment_id, Refund.amount, Refund.currency, Refund.status)
            )
        ).one()
    assert tuple(refund)[1:] == (late.payment_id, 80, "XTR", "approved")
    assert await _jobs(db, REFUND_PAYMENT) == [{"refund_id": refund.id}]
    assert await _wallet(db, user.id) == 0


async def test_a_second_charge_and_a_wrong_amount_are_not_kept(
    db: Database, clock: FrozenClock
) -> None:
    orders, payments = _services(db, clock)
    user, order = await _order(db, orders)
    invoice = await payments.stars_invoice(order.id, user.id)
    assert (await payments.confirm(_report(invoice.payload, 80, "c1"))).outcome is Outcome.PAID
    twice = await payments.confirm(_report(invoice.payload, 80, "c2"))
    assert twice.outcome is Outcome.CREDITED and twice.reason == "the invoice was paid twice"
    assert (await payments.confirm(_report(invoice.payload, 80, "c2"))).outcome is (
        Outcome.DUPLICATE
    )
    assert await _wallet(db, user.id) == 5000

    other_user, other = await _order(db, orders)
    other_invoice = await payments.stars_invoice(other.id, other_user.id)
    wrong = await payments.confirm(_report(other_invoice.payload, 79, "c3"))
    assert wrong.outcome is Outcome.REFUNDING and "asked 80 XTR" in (wrong.reason or "")
    assert (await orders.get(other.id)).payment_status is PaymentStatus.UNPAID


async def test_money_for_an_unknown_invoice_is_recorded_and_sent_back(
    db: Database, clock: FrozenClock
) -> None:
    _, payments = _services(db, clock)
    user = await make_user(db)
    known = await payments.confirm(_report("tgs_forged", 10, "c9", user=user.telegram_id))
    assert known.outcome is Outcome.REFUNDING
    async with db.read() as session:
        owner = (
            await session.execute(
                select(Payment.user_id, Payment.order_id).where(Payment.id == known.payment_id)
            )
        ).one()
    assert tuple(owner) == (user.id, None)
    stranger = await payments.confirm(_report("tgs_forged2", 10, "c10", user=999_999_999))
    assert stranger.outcome is Outcome.UNKNOWN and stranger.payment_id is None


async def test_paying_from_the_wallet_is_all_or_nothing(db: Database, clock: FrozenClock) -> None:
    orders, payments = _services(db, clock)
    user, order = await _order(db, orders, stars=None)
    with pytest.raises(InsufficientFunds):
        await payments.pay_from_wallet(order.id, user.id)
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Payment)) == 0
    async with db.transaction() as session:  # staff credit 60.00
        await ledger.post(
            session,
            kind=LedgerKind.ADJUSTMENT,
            reference="test:credit",
            postings=transfer("shop:expense", wallet(user.id), 6000, "USD"),
            now=clock.now(),
        )
    paid = await payments.pay_from_wallet(order.id, user.id)
    assert paid.outcome is Outcome.PAID
    assert await _wallet(db, user.id) == 1000
    assert (await orders.get(order.id)).status is OrderStatus.CONFIRMED
    with pytest.raises(InvalidRequest, match="already paid"):
        await payments.pay_from_wallet(order.id, user.id)


async def test_without_a_stars_price_or_rate_stars_are_refused(
    db: Database, clock: FrozenClock
) -> None:
    orders, payments = _services(db, clock)
    user, order = await _order(db, orders, stars=None, price=1001)
    with pytest.raises(InvalidRequest, match="no Stars rate"):
        await payments.stars_invoice(order.id, user.id)
    _, with_rate = _services(db, clock, stars_rate=Decimal("50"))
    # 2 × 10.01 USD at 50 Stars per dollar = 1001 Stars.
    assert (await with_rate.stars_invoice(order.id, user.id)).amount == 1001


async def test_a_top_up_invoice_is_asked_once_and_bounded(db: Database, clock: FrozenClock) -> None:
    _, payments = _services(db, clock, stars_rate=Decimal(50), topup_max=Decimal(100))
    user = await make_user(db)
    first = await payments.topup_invoice(user.id, Gateway.STARS, 1000)
    again = await payments.topup_invoice(user.id, Gateway.STARS, 1000)
    assert (first.payment_id, first.currency, first.amount) == (again.payment_id, "XTR", 500)
    for amount in (0, -100, 10001):
        with pytest.raises(InvalidRequest):
            await payments.topup_invoice(user.id, Gateway.STARS, amount)
    with pytest.raises(NotPayable) as no_card:
        await payments.topup_invoice(user.id, Gateway.TELEGRAM, 1000)
    assert no_card.value.reason == "switched_off"
    done = await payments.confirm(_report(first.payload, 500, user=user.telegram_id))
    assert done.outcome is Outcome.TOPPED_UP
    assert await _wallet(db, user.id) == 1000
    assert (await payments.confirm(_report(first.payload, 500))).outcome is Outcome.DUPLICATE
    assert await _wallet(db, user.id) == 1000


async def test_a_mixed_payment_takes_the_balance_part_only_when_the_rest_arrives(
    db: Database, clock: FrozenClock
) -> None:
    orders, payments = _services(db, clock)
    user, order = await _order(db, orders, stars=40)  # 50.00 USD, or 80 Stars
    with pytest.raises(NotPayable) as empty:
        await payments.stars_invoice(order.id, user.id, use_balance=True)
    assert empty.value.reason == "no_balance"
    await give_balance(db, user.id, 2000)

    invoice = await payments.stars_invoice(order.id, user.id, use_balance=True)
    assert invoice.amount == 48  # 30.00 of 50.00 is 3/5 of 80 Stars
    assert str(invoice.from_balance) == "20.00 USD"
    again = await payments.stars_invoice(order.id, user.id, use_balance=True)
    assert again.payload == invoice.payload  # a double tap: one payment
    plain = await payments.stars_invoice(order.id, user.id)
    assert plain.payload != invoice.payload and plain.amount == 80
    assert await _wallet(db, user.id) == 2000  # nothing debited while asking

    assert await payments.pre_checkout(invoice.payload, user.telegram_id, "XTR", 48) is None
    paid = await payments.confirm(_report(invoice.payload, 48, user=user.telegram_id))
    assert paid.outcome is Outcome.PAID
    assert await _wallet(db, user.id) == 0
    view = await orders.get(order.id)
    assert (view.status, view.payment_status) == (OrderStatus.CONFIRMED, PaymentStatus.PAID)
    async with db.read() as session:
        revenue = await session.scalar(
            select(func.sum(LedgerEntry.amount)).where(LedgerEntry.account == REVENUE)
        )
        total = await session.scalar(select(func.sum(LedgerEntry.amount)))
    assert (revenue, total) == (5000, 0)  # 20.00 from the balance + 30.00 in Stars
    # The plain Stars invoice, paid too, is money received: credited, never dropped.
    late = await payments.confirm(_report(plain.payload, 80, "stxn2", user.telegram_id))
    assert late.outcome is Outcome.CREDITED


async def test_a_mixed_payment_whose_balance_fell_meanwhile_is_kept_on_the_balance(
    db: Database, clock: FrozenClock
) -> None:
    orders, payments = _services(db, clock)
    user, order = await _order(db, orders, stars=None)  # 50.00 USD
    await give_balance(db, user.id, 2000)
    with pytest.raises(NotPayable) as no_card:
        await payments.card_invoice(order.id, user.id, use_balance=True)
    assert no_card.value.reason == "switched_off"
    _, payments = _services(db, clock, card_provider_token="284685063:TEST:x")
    invoice = await payments.card_invoice(order.id, user.id, use_balance=True)
    assert (invoice.currency, invoice.amount) == ("USD", 3000)

    # She spends the balance on something else before paying the rest by card.
    cup = await make_product(db, "Cup", variants=[("one", 2500, 5)])
    other = await orders.place_order(
        PlaceOrderRequest(user_id=user.id, lines=[OrderLine(cup.variants[0].id, 1)])
    )
    await give_balance(db, user.id, 500)  # 25.00 now
    await payments.pay_from_wallet(other.id, user.id)
    assert await _wallet(db, user.id) == 0
    refused = await payments.pre_checkout(invoice.payload, user.telegram_id, "USD", 3000)
    assert refused is Refusal.BALANCE

    # Telegram took the money anyway (a race past the pre-checkout): it is not lost.
    report = ProviderReport(Gateway.TELEGRAM, invoice.payload, "tpc-1", 3000, "USD", None)
    late = await payments.confirm(report)
    assert late.outcome is Outcome.CREDITED
    assert await _wallet(db, user.id) == 3000
    assert (await orders.get(order.id)).payment_status is PaymentStatus.UNPAID
    jobs = await _jobs(db, NOTIFY_LATE_PAYMENT)
    assert jobs[-1]["reason"] == "balance"
    await give_balance(db, user.id, 2000)  # 50.00 now: covers it all
    with pytest.raises(NotPayable) as covers:
        await payments.card_invoice(order.id, user.id, use_balance=True)
    assert covers.value.reason == "balance_covers"


async def test_a_gateway_mode_switch_reaches_other_processes_within_the_cache_time(
    db: Database, clock: FrozenClock
) -> None:
    seconds = [0.0]
    both = {Gateway.CRYPTOBOT: {"test", "live"}, Gateway.STARS: {"test"}}
    here = GatewayModes(db, clock, "test", both, timer=lambda: seconds[0])
    there = GatewayModes(db, clock, "test", both, timer=lambda: seconds[0])
    assert await there.mode(Gateway.CRYPTOBOT) == "test"
    assert await here.switch(Gateway.CRYPTOBOT, "live", by_user_id=None) == "live"
    assert await here.mode(Gateway.CRYPTOBOT) == "live"  # this process: at once
    assert await there.mode(Gateway.CRYPTOBOT) == "test"  # another: after its cache
    seconds[0] += 2.1
    assert await there.mode(Gateway.CRYPTOBOT) == "live"
    assert await there.mode(Gateway.STARS) == "test"
    assert await there.mode(Gateway.WALLET) == "live"  # balance money is always real
    with pytest.raises(InvalidRequest, match="test or live"):
        await here.switch(Gateway.CRYPTOBOT, "staging", by_user_id=None)
