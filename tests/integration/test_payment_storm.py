"""A storm of payment confirmations on PostgreSQL, where transactions really overlap:
1,000 confirmations for 300 orders — second charges for the same invoice among them, 30 %
exact duplicates, shuffled, 50 at a time — while customers cancel some of the orders.

Afterwards: every charge was taken in exactly once, the ledger balances, each order was
paid at most once, and no order is both cancelled and charged without its money going back
to the customer."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import pytest
from sqlalchemy import func, select, update

from tests.support import databases
from tests.support.factories import make_product, make_user
from tests.support.fakes import FrozenClock
from tgshop.config import PaymentsSettings, ShopSettings
from tgshop.db.engine import Database
from tgshop.db.models import LedgerEntry, LedgerTransaction, Order, Payment, Variant
from tgshop.domain.errors import ConcurrentChange, IllegalTransition
from tgshop.domain.ledger import REVENUE
from tgshop.domain.orders import Actor, OrderStatus
from tgshop.domain.payments import Gateway
from tgshop.services.order_placement import OrderLine, PlaceOrderRequest
from tgshop.services.orders import OrderService
from tgshop.services.payments import Outcome, PaymentService, ProviderReport

ORDERS = 300
CONFIRMATIONS = 1_000
DUPLICATE_SHARE = 0.3
AT_ONCE = 50
PRICE = 1_000  # 10.00 USD, 2 Stars
STARS = 2


@pytest.mark.postgres
async def test_a_storm_of_confirmations_credits_each_charge_once(
    db: Database, db_url: str, clock: FrozenClock
) -> None:
    rng = random.Random(20261123)
    shop = ShopSettings()
    product = await make_product(db, "Pass", kind="digital", variants=[("one", PRICE, None)])
    async with db.transaction() as session:
        await session.execute(
            update(Variant).where(Variant.id == product.variants[0].id).values(stars_price=STARS)
        )
    users = [await make_user(db, telegram_id=700_000 + i) for i in range(ORDERS)]
    orders = OrderService(db, clock, shop)
    payments = PaymentService(db, clock, shop, PaymentsSettings())
    placed = []
    for user in users:
        order = await orders.place_order(
            PlaceOrderRequest(user_id=user.id, lines=[OrderLine(product.variants[0].id, 1)])
        )
        invoice = await payments.stars_invoice(order.id, user.id)
        placed.append((user, order, invoice))

    # 700 distinct charges: one per order, the rest second (or third) charges of a random
    # invoice; then 300 exact repeats of random ones; shuffled.
    unique = CONFIRMATIONS - int(CONFIRMATIONS * DUPLICATE_SHARE)
    reports = []
    for n in range(unique):
        user, _, invoice = placed[n] if n < ORDERS else rng.choice(placed)
        reports.append(
            ProviderReport(
                gateway=Gateway.STARS,
                payload=invoice.payload,
                charge_id=f"stxn-{n}",
                amount=STARS,
                currency="XTR",
                telegram_user_id=user.telegram_id,
            )
        )
    stream: list[ProviderReport | int] = [
        *reports,
        *(rng.choice(reports) for _ in range(CONFIRMATIONS - unique)),
    ]
    cancellers = rng.sample(placed, 60)
    stream += [order.id for _, order, _ in cancellers]  # customers cancelling meanwhile
    rng.shuffle(stream)
    owner = {order.id: user.id for user, order, _ in placed}

    crowd = databases.database_for(db_url, pool_size=AT_ONCE, max_overflow=0)
    storm_payments = PaymentService(crowd, clock, shop, PaymentsSettings())
    storm_orders = OrderService(crowd, clock, shop)
    gate = asyncio.Semaphore(AT_ONCE)

    async def one(item: ProviderReport | int) -> str:
        async with gate:
            if isinstance(item, int):
                try:
                    await storm_orders.change_status(
                        item, OrderStatus.CANCELLED, actor=Actor.CUSTOMER, actor_user_id=owner[item]
                    )
                    return "cancelled"
                except (IllegalTransition, ConcurrentChange):
                    return "too late to cancel"
            return (await storm_payments.confirm(item)).outcome.value

    try:
        outcomes = Counter(await asyncio.gather(*(one(item) for item in stream)))
    finally:
        await crowd.dispose()

    async with db.read() as session:
        charges = list(
            (
                await session.execute(
                    select(Payment.provider_charge_id).where(
                        Payment.provider_charge_id.is_not(None)
                    )
                )
            ).scalars()
        )
        # Every distinct charge recorded exactly once; repeats changed nothing.
        assert sorted(charges) == sorted(r.charge_id for r in reports)
        assert outcomes[Outcome.DUPLICATE.value] == CONFIRMATIONS - unique
        # The ledger balances as a whole and transaction by transaction.
        assert await session.scalar(select(func.sum(LedgerEntry.amount))) == 0
        unbalanced = await session.scalar(
            select(func.count()).select_from(
                select(LedgerEntry.transaction_id)
                .group_by(LedgerEntry.transaction_id, LedgerEntry.currency)
                .having(func.sum(LedgerEntry.amount) != 0)
                .subquery()
            )
        )
        assert unbalanced == 0
        # Each succeeded payment moved money exactly once (paid, credited or refunding).
        succeeded = await session.scalar(
            select(func.count()).select_from(Payment).where(Payment.status == "succeeded")
        )
        assert succeeded == unique
        posted = await session.scalar(select(func.count()).select_from(LedgerTransaction))
        assert posted == outcomes[Outcome.PAID.value] + outcomes[Outcome.CREDITED.value]
        assert posted == unique  # credit policy: nothing is left for a refund
        # Each order paid at most once; revenue is exactly the paid orders' totals.
        paid = (
            await session.execute(
                select(Order.id, Order.status).where(Order.payment_status == "paid")
            )
        ).all()
        assert len(paid) == outcomes[Outcome.PAID.value]
        revenue = await session.scalar(
            select(func.sum(LedgerEntry.amount)).where(LedgerEntry.account == REVENUE)
        )
        assert revenue == PRICE * len(paid)
        # No order is both cancelled and charged: a paid order was not cancelled, and the
        # money for every cancelled order went to its customer's wallet.
        assert all(status == OrderStatus.CONFIRMED.value for _, status in paid)
        cancelled = set(
            (await session.execute(select(Order.id).where(Order.status == "cancelled"))).scalars()
        )
        assert len(cancelled) == outcomes["cancelled"] > 0
        kept_for_cancelled = await session.scalar(
            select(func.count())
            .select_from(LedgerEntry)
            .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
            .join(Payment, LedgerTransaction.reference == func.concat("payment:", Payment.id))
            .where(Payment.order_id.in_(cancelled), LedgerEntry.account == REVENUE)
        )
        assert kept_for_cancelled == 0


@pytest.mark.postgres
async def test_concurrent_wallet_payments_never_overdraw(
    db: Database, db_url: str, clock: FrozenClock
) -> None:
    """One customer, 20 unpaid orders of 10.00 and a balance of 50.00, all paid from the
    balance at the same moment: exactly five succeed and the balance ends at zero."""
    from tgshop.domain.ledger import LedgerKind, transfer, wallet
    from tgshop.services import ledger
    from tgshop.services.ledger import InsufficientFunds

    shop = ShopSettings()
    product = await make_product(db, "Pass", kind="digital", variants=[("one", PRICE, None)])
    user = await make_user(db, telegram_id=800_001)
    orders = OrderService(db, clock, shop)
    placed = [
        await orders.place_order(
            PlaceOrderRequest(user_id=user.id, lines=[OrderLine(product.variants[0].id, 1)])
        )
        for _ in range(20)
    ]
    async with db.transaction() as session:
        await ledger.post(
            session,
            kind=LedgerKind.ADJUSTMENT,
            reference="test:gift",
            postings=transfer("shop:expense", wallet(user.id), 5 * PRICE, "USD"),
            now=clock.now(),
        )
    crowd = databases.database_for(db_url, pool_size=20, max_overflow=0)
    payments = PaymentService(crowd, clock, shop, PaymentsSettings())

    async def pay(order_id: int) -> str:
        try:
            await payments.pay_from_wallet(order_id, user.id)
            return "paid"
        except InsufficientFunds:
            return "short"

    try:
        outcomes = Counter(await asyncio.gather(*(pay(order.id) for order in placed)))
    finally:
        await crowd.dispose()
    assert outcomes == {"paid": 5, "short": 15}
    async with db.read() as session:
        assert await ledger.wallet_balance(session, user.id, "USD") == 0
        paid = await session.scalar(
            select(func.count()).select_from(Order).where(Order.payment_status == "paid")
        )
    assert paid == 5
