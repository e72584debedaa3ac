"""Refund requests end to end below the chat: a customer asks within the policy window,
staff approve in part or in full or reject, the refund job's service sends the money, the
order's payment status follows and a fully refunded unshipped order gives its stock back.
SQLite and PostgreSQL; races between two decisions and two requests run on both."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from tests.support import databases
from tests.support.factories import give_balance, make_product, make_user, stock_of
from tests.support.fakes import FrozenClock, RecordingTelegram
from tgshop.config import PaymentsSettings, ShopSettings
from tgshop.db.engine import Database
from tgshop.db.models import AuditLog, LedgerEntry, Order, OutboxJob, Refund
from tgshop.domain.errors import ConcurrentChange, InvalidRequest, NotFound
from tgshop.domain.payments import Gateway
from tgshop.domain.refunds import Ineligible
from tgshop.services.gateway_modes import Providers
from tgshop.services.order_placement import OrderLine, PlaceOrderRequest
from tgshop.services.orders import OrderService
from tgshop.services.payments import PaymentService, ProviderReport
from tgshop.services.refund_requests import (
    NOTIFY_CUSTOMER_REFUND,
    NOTIFY_MANAGER_REFUND,
    RefundRefused,
    RefundRequests,
    parse_order_numbers,
)
from tgshop.services.refunds import CannotRefund, RefundService


class Shop:
    def __init__(self, db: Database, clock: FrozenClock) -> None:
        self.db = db
        self.clock = clock
        self.orders = OrderService(db, clock, ShopSettings())
        self.payments = PaymentService(db, clock, ShopSettings(), PaymentsSettings())
        self.requests = RefundRequests(db, clock, ShopSettings(), PaymentsSettings())
        self.refunds = RefundService(db, clock, None, Providers())

    async def paid_order(self, user_id: int, staff_id: int, *lines: tuple[int, int]) -> str:
        order = await self.orders.place_order(
            PlaceOrderRequest(user_id=user_id, lines=[OrderLine(v, q) for v, q in lines])
        )
        await self.payments.mark_paid_by_staff(order.number, staff_id, "cash on pickup")
        return order.number

    async def order(self, number: str) -> Order:
        async with self.db.read() as session:
            order = (
                await session.execute(select(Order).where(Order.number == number))
            ).scalar_one()
            session.expunge(order)
            return order

    async def jobs(self, kind: str) -> list[dict]:
        async with self.db.read() as session:
            return list(
                (
                    await session.execute(select(OutboxJob.payload).where(OutboxJob.kind == kind))
                ).scalars()
            )


async def _world(db: Database, clock: FrozenClock):
    shop = Shop(db, clock)
    ann = await make_user(db, first_name="Ann")
    ben = await make_user(db, first_name="Ben", telegram_id=777_002)
    maria = await make_user(db, first_name="Maria", telegram_id=777_003)
    teapot = await make_product(db, "Teapot", kind="physical", variants=[("1 l", 2500, 5)])
    ebook = await make_product(db, "Tea e-book", kind="digital", variants=[("PDF", 500, None)])
    return shop, ann, ben, maria, teapot.variants[0].id, ebook.variants[0].id


async def test_partial_then_full_refund_to_the_balance_returns_stock_at_the_end(
    db: Database, clock: FrozenClock
) -> None:
    shop, ann, _, maria, teapot, _ = await _world(db, clock)
    number = await shop.paid_order(ann.id, maria.id, (teapot, 2))
    assert await stock_of(db, teapot) == 3

    asked = await shop.requests.request(ann.id, [number], "  the lid  is cracked ")
    assert len(asked) == 1 and str(asked[0].amount) == "50.00 USD"
    assert asked[0].reason == "the lid is cracked"
    assert await shop.jobs(NOTIFY_MANAGER_REFUND) == [{"refund_id": asked[0].id}]

    with pytest.raises(InvalidRequest, match=r"at most 50\.00 USD"):
        await shop.requests.approve(asked[0].id, maria.id, "50.01")
    with pytest.raises(InvalidRequest, match="not an amount"):
        await shop.requests.approve(asked[0].id, maria.id, "ten")
    part = await shop.requests.approve(asked[0].id, maria.id, "10")
    assert part.status.value == "approved" and str(part.amount) == "10.00 USD"
    assert part.decided_by == "Maria" and part.to_balance
    with pytest.raises(ConcurrentChange):  # decided once
        await shop.requests.reject(asked[0].id, maria.id, "changed my mind")
    assert {"refund_id": part.id, "decision": "approved"} in await shop.jobs(NOTIFY_CUSTOMER_REFUND)
    assert await shop.jobs("refund_payment") == [{"refund_id": part.id}]

    sent = await shop.refunds.send(part.id)
    assert sent.to_balance and str(sent.amount) == "10.00 USD"
    assert (await shop.refunds.send(part.id)).already  # the job may run twice
    assert str(await shop.payments.balance(ann.id)) == "10.00 USD"
    order = await shop.order(number)
    assert (order.status, order.payment_status) == ("confirmed", "partially_refunded")
    assert await stock_of(db, teapot) == 3  # money only: the teapots are still sold

    rest = await shop.requests.request(ann.id, [number], "the other one leaks")
    assert str(rest[0].amount) == "40.00 USD"  # what the order still holds
    await shop.requests.approve(rest[0].id, maria.id)
    await shop.refunds.send(rest[0].id)
    order = await shop.order(number)
    assert (order.status, order.payment_status) == ("cancelled", "refunded")
    assert await stock_of(db, teapot) == 5  # never shipped: back on sale
    assert str(await shop.payments.balance(ann.id)) == "50.00 USD"

    with pytest.raises(RefundRefused) as nothing_left:
        await shop.requests.request(ann.id, [number], "again please")
    assert nothing_left.value.refused[0].reason is Ineligible.REFUNDED
    async with db.read() as session:
        assert await session.scalar(select(func.sum(LedgerEntry.amount))) == 0
        revenue = await session.scalar(
            select(func.sum(LedgerEntry.amount)).where(LedgerEntry.account == "shop:revenue")
        )
        actions = list((await session.execute(select(AuditLog.action))).scalars())
    assert revenue == 0
    assert actions.count("refund.approved") == 2


async def test_a_request_is_all_or_nothing_and_names_every_problem(
    db: Database, clock: FrozenClock
) -> None:
    shop, ann, ben, maria, teapot, ebook = await _world(db, clock)
    good = await shop.paid_order(ann.id, maria.id, (teapot, 1))
    ebook_only = await shop.paid_order(ann.id, maria.id, (ebook, 1))
    unpaid = (
        await shop.orders.place_order(
            PlaceOrderRequest(user_id=ann.id, lines=[OrderLine(teapot, 1)])
        )
    ).number
    bens = await shop.paid_order(ben.id, maria.id, (teapot, 1))

    with pytest.raises(RefundRefused) as refused:
        await shop.requests.request(ann.id, [good, ebook_only, unpaid, bens, "Z99999"], "broken")
    reasons = {item.number: item.reason for item in refused.value.refused}
    assert reasons == {
        ebook_only: Ineligible.WINDOW_CLOSED,  # digital goods: 0 days by default
        unpaid: Ineligible.NOT_PAID,
        bens: Ineligible.NOT_FOUND,  # someone else's order is not named as such
        "Z99999": Ineligible.NOT_FOUND,
    }
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Refund)) == 0

    await shop.requests.request(ann.id, [good], "broken")
    with pytest.raises(RefundRefused) as twice:
        await shop.requests.request(ann.id, [good], "still broken")
    assert twice.value.refused[0].reason is Ineligible.PENDING

    with pytest.raises(InvalidRequest, match="3-500"):
        await shop.requests.request(ann.id, [good], "no")
    assert parse_order_numbers("a00001, #A00002 a00001;A00003") == ["A00001", "A00002", "A00003"]
    with pytest.raises(InvalidRequest, match="not an order number"):
        parse_order_numbers("A0001 <script>")
    with pytest.raises(InvalidRequest, match="at most 10"):
        parse_order_numbers(" ".join(f"A{i:05d}" for i in range(11)))


async def test_the_window_runs_from_payment_and_mixed_orders_ask_for_their_open_lines(
    db: Database, clock: FrozenClock
) -> None:
    shop, ann, _, maria, teapot, ebook = await _world(db, clock)
    mixed = await shop.paid_order(ann.id, maria.id, (teapot, 1), (ebook, 2))  # 25 + 10
    clock.advance(days=13, hours=23)
    asked = await shop.requests.request(ann.id, [mixed], "not what I expected")
    assert str(asked[0].amount) == "25.00 USD"  # the teapot; the e-books' window was 0 days
    await shop.requests.reject(asked[0].id, maria.id, "  used  item ")
    card = await shop.requests.card(asked[0].id)
    assert (card.status.value, card.note) == ("rejected", "used item")
    assert {"refund_id": card.id, "decision": "rejected"} in await shop.jobs(NOTIFY_CUSTOMER_REFUND)
    assert await shop.jobs("refund_payment") == []
    with pytest.raises(CannotRefund):  # a rejected refund is never sent
        await shop.refunds.send(card.id)

    clock.advance(hours=2)  # 14 days and an hour after payment
    with pytest.raises(RefundRefused) as late:
        await shop.requests.request(ann.id, [mixed], "not what I expected")
    assert late.value.refused[0].reason is Ineligible.WINDOW_CLOSED
    assert late.value.refused[0].closed_at is not None

    # Staff can still refund it (no window for them), in part.
    issued = await shop.requests.issue(mixed.lower(), "5.00", "goodwill", maria.id)
    assert issued.by_staff and issued.status.value == "approved"
    await shop.refunds.send(issued.id)
    assert (await shop.order(mixed)).payment_status == "partially_refunded"
    with pytest.raises(InvalidRequest, match=r"at most 30\.00 USD"):
        await shop.requests.issue(mixed, "30.01", "goodwill", maria.id)
    with pytest.raises(NotFound):
        await shop.requests.issue("Z99999", None, "goodwill", maria.id)


async def test_two_managers_deciding_at_once_decide_once(db: Database, db_url: str) -> None:
    clock = FrozenClock()
    shop, ann, _, maria, teapot, _ = await _world(db, clock)
    nick = await make_user(db, first_name="Nick", telegram_id=777_004)
    numbers = [await shop.paid_order(ann.id, maria.id, (teapot, 1)) for _ in range(4)]
    asked = await shop.requests.request(ann.id, numbers, "moving abroad")
    crowd = databases.database_for(db_url, pool_size=10, max_overflow=0)
    try:
        requests = RefundRequests(crowd, clock, ShopSettings(), PaymentsSettings())

        async def decide(refund_id: int, by: int, approve: bool) -> str:
            try:
                if approve:
                    await requests.approve(refund_id, by)
                else:
                    await requests.reject(refund_id, by, "out of policy")
                return "decided"
            except ConcurrentChange:
                return "refused"

        outcomes = await asyncio.gather(
            *(
                decide(card.id, who, approve)
                for card in asked
                for who, approve in ((maria.id, True), (nick.id, False))
            )
        )
        # Two customers racing to ask for one order: one request.
        extra = await shop.paid_order(ann.id, maria.id, (teapot, 1))

        async def ask() -> str:
            try:
                await requests.request(ann.id, [extra], "two taps")
                return "asked"
            except RefundRefused:
                return "refused"

        asks = await asyncio.gather(ask(), ask(), ask())
    finally:
        await crowd.dispose()
    assert outcomes.count("decided") == 4 and outcomes.count("refused") == 4
    assert asks.count("asked") == 1
    async with db.read() as session:
        decided = list(
            (
                await session.execute(select(Refund.status).where(Refund.status != "requested"))
            ).scalars()
        )
        jobs = await session.scalar(
            select(func.count()).select_from(OutboxJob).where(OutboxJob.kind == "refund_payment")
        )
    assert len(decided) == 4
    assert jobs == decided.count("approved")


async def test_a_mixed_stars_payment_comes_back_in_stars_and_to_the_balance(
    db: Database, clock: FrozenClock, telegram: RecordingTelegram
) -> None:
    shop, ann, _, maria, teapot, _ = await _world(db, clock)
    payments = PaymentService(db, clock, ShopSettings(), PaymentsSettings(stars_rate="2"))
    await give_balance(db, ann.id, 1000)
    order = await shop.orders.place_order(
        PlaceOrderRequest(user_id=ann.id, lines=[OrderLine(teapot, 1)])
    )  # 25.00: 10.00 from the balance, 15.00 in Stars at 2 a dollar
    invoice = await payments.stars_invoice(order.id, ann.id, use_balance=True)
    assert invoice.amount == 30
    await payments.confirm(
        ProviderReport(Gateway.STARS, invoice.payload, "stxn-mixed", 30, "XTR", ann.telegram_id)
    )
    assert (await payments.balance(ann.id)).amount == 0

    asked = await shop.requests.request(ann.id, [order.number], "arrived broken")
    assert str(asked[0].amount) == "25.00 USD"  # the whole order, both parts
    await shop.requests.approve(asked[0].id, maria.id)
    sent = await RefundService(db, clock, telegram, Providers()).send(asked[0].id)
    assert telegram.star_refunds == [(ann.telegram_id, "stxn-mixed")]
    assert not sent.to_balance and str(sent.amount) == "30 XTR"
    assert str(sent.balance_part) == "10.00 USD"
    assert (await payments.balance(ann.id)).amount == 1000
    view = await shop.order(order.number)
    assert (view.status, view.payment_status) == ("cancelled", "refunded")
    async with db.read() as session:
        assert await session.scalar(select(func.sum(LedgerEntry.amount))) == 0
