"""Money staff move by hand: an order marked paid (cash, a transfer) and a balance adjusted,
each with a reason, an author, a balanced ledger transaction and an audit row, or nothing
at all. SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.support.factories import make_product, make_user
from tests.support.fakes import FrozenClock
from tgshop.config import PaymentsSettings, ShopSettings
from tgshop.db.engine import Database
from tgshop.db.models import AuditLog, LedgerEntry, LedgerTransaction, Order, Payment
from tgshop.domain.errors import InvalidRequest, NotFound
from tgshop.domain.orders import Actor, OrderStatus
from tgshop.domain.payments import NotPayable
from tgshop.services.ledger import InsufficientFunds
from tgshop.services.order_placement import OrderLine, PlaceOrderRequest
from tgshop.services.orders import OrderService
from tgshop.services.payments import PaymentService
from tgshop.services.wallet_adjustments import WalletAdjustments


async def _order(db: Database, clock: FrozenClock):
    orders = OrderService(db, clock, ShopSettings())
    user = await make_user(db)
    staff = await make_user(db, first_name="Maria")
    product = await make_product(db, "Teapot", kind="physical", variants=[("1 l", 2500, 5)])
    order = await orders.place_order(
        PlaceOrderRequest(user_id=user.id, lines=[OrderLine(product.variants[0].id, 1)])
    )
    return orders, user, staff, order


async def _ledger_sum(db: Database) -> int:
    async with db.read() as session:
        return int(await session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0))))


async def test_staff_mark_an_order_paid_once_with_a_note(db: Database, clock: FrozenClock) -> None:
    _, _, staff, order = await _order(db, clock)
    payments = PaymentService(db, clock, ShopSettings(), PaymentsSettings())
    with pytest.raises(InvalidRequest):
        await payments.mark_paid_by_staff(order.number, staff.id, "  ")
    with pytest.raises(NotFound):
        await payments.mark_paid_by_staff("Z99999", staff.id, "cash on pickup")
    done = await payments.mark_paid_by_staff(order.number.lower(), staff.id, "cash  on pickup")
    assert done.order_id == order.id
    with pytest.raises(NotPayable) as twice:
        await payments.mark_paid_by_staff(order.number, staff.id, "cash again")
    assert twice.value.reason == "paid"
    async with db.read() as session:
        state = (
            await session.execute(
                select(Order.status, Order.payment_status).where(Order.id == order.id)
            )
        ).one()
        payment = (
            await session.execute(select(Payment.gateway, Payment.status, Payment.amount))
        ).one()
        audit = (
            await session.execute(select(AuditLog.action, AuditLog.actor_user_id, AuditLog.data))
        ).one()
        revenue = await session.scalar(
            select(func.sum(LedgerEntry.amount)).where(LedgerEntry.account == "shop:revenue")
        )
    assert tuple(state) == ("confirmed", "paid")
    assert tuple(payment) == ("manual", "succeeded", 2500)
    assert audit.action == "payment.marked_paid" and audit.actor_user_id == staff.id
    assert audit.data["note"] == "cash on pickup"
    assert revenue == 2500 and await _ledger_sum(db) == 0


async def test_a_cancelled_order_cannot_be_marked_paid(db: Database, clock: FrozenClock) -> None:
    orders, user, staff, order = await _order(db, clock)
    await orders.change_status(
        order.id, OrderStatus.CANCELLED, actor=Actor.CUSTOMER, actor_user_id=user.id
    )
    payments = PaymentService(db, clock, ShopSettings(), PaymentsSettings())
    with pytest.raises(NotPayable) as closed:
        await payments.mark_paid_by_staff(order.number, staff.id, "cash")
    assert closed.value.reason == "closed"
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Payment)) == 0


async def test_staff_adjust_a_balance_with_a_reason_never_below_zero(
    db: Database, clock: FrozenClock
) -> None:
    _, user, staff, order = await _order(db, clock)
    adjustments = WalletAdjustments(db, clock, ShopSettings())
    credit = await adjustments.adjust(
        str(user.telegram_id), "+5.00", "sorry for the delay", staff.id
    )
    assert (str(credit.amount), str(credit.balance)) == ("5.00 USD", "5.00 USD")
    debit = await adjustments.adjust(order.number, "-2.5", "typo in the credit", staff.id)
    assert (str(debit.amount), str(debit.balance)) == ("-2.50 USD", "2.50 USD")
    with pytest.raises(InsufficientFunds):
        await adjustments.adjust(order.number, "-3", "too much", staff.id)
    for amount, reason in (("0", "nothing"), ("1.001", "precision"), ("ten", "words"), ("1", "")):
        with pytest.raises(InvalidRequest):
            await adjustments.adjust(order.number, amount, reason, staff.id)
    with pytest.raises(NotFound):
        await adjustments.adjust("123", "1", "who is this", staff.id)
    async with db.read() as session:
        notes = list(
            (
                await session.execute(
                    select(LedgerTransaction.note, LedgerTransaction.created_by).order_by(
                        LedgerTransaction.id
                    )
                )
            ).all()
        )
        audits = await session.scalar(
            select(func.count()).select_from(AuditLog).where(AuditLog.action == "wallet.adjusted")
        )
    assert [tuple(n) for n in notes] == [
        ("sorry for the delay", staff.id),
        ("typo in the credit", staff.id),
    ]
    assert audits == 2 and await _ledger_sum(db) == 0
