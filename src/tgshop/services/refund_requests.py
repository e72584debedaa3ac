"""Refund requests: a customer asks, staff decide, the refund job sends the money.

Rules (the policy itself is domain.refunds):
- a customer asks for one or several of their orders at once, with one reason of 3-500
  characters; the request is all or nothing: if any order cannot be asked back, nothing is
  written and every refusal is reported together (:class:`RefundRefused`);
- each order gets its own refund row (``requested``) for the order's paying payment, and the
  manager chat is told through the outbox in the same transaction;
- staff approve in full or in part (any positive amount in the shop currency up to what the
  order still holds) or reject with a reason for the customer; a refund is decided once —
  a second decision (two managers pressing at once) is refused with ConcurrentChange;
- approving writes the ``refund_payment`` job that sends the money and tells the customer;
  every decision is told to the customer and written to the audit log with who made it;
- staff may also issue a refund without a request (``/refund``): no policy window applies,
  it is approved at once;
- orders are locked in id order while their refunds are written, so two requests or
  decisions racing for one order see each other.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from tgshop.config import PaymentsSettings, ShopSettings
from tgshop.db.engine import Database
from tgshop.db.models import AuditLog, Order, Payment, Refund, User
from tgshop.domain.catalog import ProductKind
from tgshop.domain.errors import ConcurrentChange, InvalidRequest, NotFound
from tgshop.domain.money import Money
from tgshop.domain.orders import PaymentStatus
from tgshop.domain.payments import PaymentState
from tgshop.domain.refunds import (
    HOLDS_MONEY,
    Ineligible,
    RefundLine,
    RefundState,
    check_refund_change,
    goes_to_balance,
    refundable,
)
from tgshop.services.outbox import enqueue_many
from tgshop.services.payments import REFUND_PAYMENT
from tgshop.services.ports import Clock

NOTIFY_MANAGER_REFUND = "notify_manager_refund_request"
NOTIFY_CUSTOMER_REFUND = "notify_customer_refund_decision"

MAX_ORDERS_PER_REQUEST = 10
_NUMBER = re.compile(r"[A-Z0-9]{1,32}")
_PAID = frozenset({PaymentStatus.PAID.value, PaymentStatus.PARTIALLY_REFUNDED.value})


class RefundRefused(InvalidRequest):
    """Some of the orders asked for cannot be refunded; ``refused`` names each and why."""

    code = "refund_refused"

    def __init__(self, refused: list[RefusedOrder]) -> None:
        super().__init__("; ".join(f"{r.number}: {r.reason.value}" for r in refused))
        self.refused = refused


@dataclass(frozen=True)
class RefusedOrder:
    number: str
    reason: Ineligible
    closed_at: datetime | None = None  # for window_closed: when the window shut


@dataclass(frozen=True)
class RefundCard:
    """A refund as the manager chat and the customer see it (plain values)."""

    id: int
    status: RefundState
    order_id: int
    number: str
    amount: Money  # its worth in the shop currency
    order_total: Money
    held: Money  # what the order still holds besides this refund
    gateway: str
    reason: str
    note: str | None
    customer_name: str
    customer_username: str | None
    customer_telegram_id: int
    customer_language: str | None
    to_balance: bool  # credited to the balance rather than sent back through the gateway
    decided_by: str | None
    by_staff: bool  # issued by staff rather than asked for by the customer


def parse_order_numbers(text: str) -> list[str]:
    """``A00012, #a00015`` → ``["A00012", "A00015"]`` (upper case, no repeats, in order).
    Raises InvalidRequest naming what was wrong."""
    numbers: list[str] = []
    for part in re.split(r"[\s,;]+", text.strip()):
        number = part.strip().lstrip("#").upper()
        if not number:
            continue
        if not _NUMBER.fullmatch(number):
            raise InvalidRequest(f"{part[:40]!r} is not an order number")
        if number not in numbers:
            numbers.append(number)
    if not numbers:
        raise InvalidRequest("name at least one order number")
    if len(numbers) > MAX_ORDERS_PER_REQUEST:
        raise InvalidRequest(f"at most {MAX_ORDERS_PER_REQUEST} orders at once")
    return numbers


def _reason(text: str) -> str:
    reason = " ".join(text.split())
    if not 3 <= len(reason) <= 500:
        raise InvalidRequest("give a reason of 3-500 characters")
    if any(ord(char) < 32 or ord(char) == 127 for char in reason):
        raise InvalidRequest("the reason must not contain control characters")
    return reason


@dataclass
class _Paid:
    """An order with the payment that paid it and what it still holds."""

    order: Order
    payment: Payment
    held: int


class RefundRequests:
    def __init__(
        self, db: Database, clock: Clock, shop: ShopSettings, payments: PaymentsSettings
    ) -> None:
        self._db = db
        self._clock = clock
        self._shop = shop
        self._payments = payments

    # ------------------------------------------------------------------ customers

    async def check(self, user_id: int, numbers: Sequence[str]) -> None:
        """Raise RefundRefused if any of these orders cannot be asked back now (the bot asks
        before it asks for the reason); writes nothing."""
        async with self._db.read() as session:
            await self._eligible(session, user_id, numbers, lock=False)

    async def request(self, user_id: int, numbers: Sequence[str], reason: str) -> list[RefundCard]:
        """Ask for refunds of the customer's orders ``numbers`` (see module). Raises
        InvalidRequest (a bad reason) or RefundRefused (nothing written)."""
        reason = _reason(reason)
        now = self._clock.now()
        async with self._db.transaction() as session:
            asks = await self._eligible(session, user_id, numbers, lock=True)
            refunds = [
                self._new_refund(paid, amount, reason, user_id, RefundState.REQUESTED, now)
                for paid, amount in asks
            ]
            session.add_all(refunds)
            await session.flush()
            await enqueue_many(
                session,
                [
                    (NOTIFY_MANAGER_REFUND, {"refund_id": r.id}, f"refund:{r.id}:requested")
                    for r in refunds
                ],
                now=now,
            )
            return [await self._card(session, r.id) for r in refunds]

    async def _eligible(
        self, session: AsyncSession, user_id: int, numbers: Sequence[str], *, lock: bool
    ) -> list[tuple[_Paid, int]]:
        if not numbers:
            raise InvalidRequest("name at least one order number")
        rows = {
            order.number: order
            for order in (
                await session.execute(
                    self._orders_query(lock).where(
                        Order.number.in_(list(numbers)), Order.user_id == user_id
                    )
                )
            ).scalars()
        }
        now = self._clock.now()
        asks: list[tuple[_Paid, int]] = []
        refused: list[RefusedOrder] = []
        for number in numbers:
            order = rows.get(number)
            if order is None:
                refused.append(RefusedOrder(number, Ineligible.NOT_FOUND))
                continue
            paid = await self._paid(session, order)
            if paid is None:
                reason = (
                    Ineligible.REFUNDED
                    if order.payment_status == PaymentStatus.REFUNDED.value
                    else Ineligible.NOT_PAID
                )
                refused.append(RefusedOrder(number, reason))
                continue
            if await self._open(session, order.id):
                refused.append(RefusedOrder(number, Ineligible.PENDING))
                continue
            paid_at = paid.payment.confirmed_at or paid.payment.created_at
            verdict = refundable(
                [RefundLine(ProductKind(item.kind), item.total_amount) for item in order.items],
                total=order.total_amount,
                subtotal=order.subtotal_amount,
                held=paid.held,
                paid_at=paid_at,
                now=now,
                windows=self._payments.refund_windows,
            )
            if verdict.refused is not None:
                refused.append(RefusedOrder(number, verdict.refused, verdict.closed_at))
                continue
            asks.append((paid, verdict.amount))
        if refused:
            raise RefundRefused(refused)
        return asks

    # ---------------------------------------------------------------------- staff

    async def approve(
        self, refund_id: int, staff_user_id: int, amount: str | None = None
    ) -> RefundCard:
        """Approve a requested refund, in full or for ``amount`` (shop currency, up to what
        the order holds). Raises NotFound, ConcurrentChange (decided already) or
        InvalidRequest (a bad amount)."""
        now = self._clock.now()
        async with self._db.transaction() as session:
            refund, paid = await self._decidable(session, refund_id)
            value = (
                min(refund.value_amount, paid.held)
                if amount is None
                else self._amount(amount, paid.held)
            )
            refund.value_amount = value
            refund.amount = _in_payment_currency(value, paid.payment)
            self._decide(refund, RefundState.APPROVED, staff_user_id, now)
            await self._after_decision(session, refund, staff_user_id, now, "refund.approved")
            return await self._card(session, refund.id)

    async def reject(self, refund_id: int, staff_user_id: int, reason: str) -> RefundCard:
        """Reject a requested refund with a reason the customer is told. Raises NotFound,
        ConcurrentChange or InvalidRequest (a bad reason)."""
        reason = _reason(reason)
        now = self._clock.now()
        async with self._db.transaction() as session:
            refund, _ = await self._decidable(session, refund_id)
            refund.note = reason
            self._decide(refund, RefundState.REJECTED, staff_user_id, now)
            await self._after_decision(session, refund, staff_user_id, now, "refund.rejected")
            return await self._card(session, refund.id)

    async def issue(
        self, number: str, amount: str | None, reason: str, staff_user_id: int
    ) -> RefundCard:
        """Staff refund an order without a request (no policy window): approved at once,
        for ``amount`` or all the order still holds. Raises NotFound, RefundRefused (not
        paid, nothing left) or InvalidRequest."""
        reason = _reason(reason)
        number = parse_order_numbers(number)[0]
        now = self._clock.now()
        async with self._db.transaction() as session:
            order = (
                await session.execute(self._orders_query(True).where(Order.number == number))
            ).scalar_one_or_none()
            if order is None:
                raise NotFound(f"no order {number}")
            paid = await self._paid(session, order)
            if paid is None or paid.held <= 0:
                refused = Ineligible.NOT_PAID if paid is None else Ineligible.REFUNDED
                if order.payment_status == PaymentStatus.REFUNDED.value:
                    refused = Ineligible.REFUNDED
                raise RefundRefused([RefusedOrder(number, refused)])
            value = paid.held if amount is None else self._amount(amount, paid.held)
            refund = self._new_refund(paid, value, reason, staff_user_id, RefundState.APPROVED, now)
            refund.decided_by, refund.decided_at = staff_user_id, now
            session.add(refund)
            await session.flush()
            await self._after_decision(session, refund, staff_user_id, now, "refund.issued")
            return await self._card(session, refund.id)

    async def card(self, refund_id: int) -> RefundCard:
        async with self._db.read() as session:
            return await self._card(session, refund_id)

    # -------------------------------------------------------------------- helpers

    @staticmethod
    def _orders_query(lock: bool):  # type: ignore[no-untyped-def]
        query = select(Order).options(selectinload(Order.items)).order_by(Order.id)
        return query.with_for_update(of=Order) if lock else query

    @staticmethod
    async def _paid(session: AsyncSession, order: Order) -> _Paid | None:
        """The order's paying payment and what it still holds (which may be nothing); None
        if it was never paid."""
        if order.payment_status not in _PAID:
            return None
        payment = (
            await session.execute(
                select(Payment)
                .where(
                    Payment.order_id == order.id,
                    Payment.status == PaymentState.SUCCEEDED.value,
                    Payment.outcome.is_(None),
                )
                .order_by(Payment.id)
                .limit(1)
            )
        ).scalar_one_or_none()
        if payment is None:
            return None
        out = await session.scalar(
            select(func.coalesce(func.sum(Refund.value_amount), 0)).where(
                Refund.payment_id == payment.id,
                Refund.status.in_([state.value for state in HOLDS_MONEY]),
            )
        )
        return _Paid(order, payment, order.total_amount - int(out or 0))

    @staticmethod
    async def _open(session: AsyncSession, order_id: int) -> bool:
        found = await session.scalar(
            select(Refund.id)
            .where(Refund.order_id == order_id, Refund.status == RefundState.REQUESTED.value)
            .limit(1)
        )
        return found is not None

    async def _decidable(self, session: AsyncSession, refund_id: int) -> tuple[Refund, _Paid]:
        refund = await session.get(Refund, refund_id)
        if refund is None or refund.order_id is None:
            raise NotFound(f"no refund {refund_id}")
        order = (
            await session.execute(self._orders_query(True).where(Order.id == refund.order_id))
        ).scalar_one()
        await session.refresh(refund)  # as it is now that its order is locked
        if refund.status != RefundState.REQUESTED.value:
            raise ConcurrentChange(f"refund {refund_id} is {refund.status} already")
        paid = await self._paid(session, order)
        if paid is None or paid.held <= 0:
            raise ConcurrentChange(f"order {order.number} holds no money any more")
        return refund, paid

    def _amount(self, text: str, held: int) -> int:
        try:
            money = Money.parse(text.strip(), self._shop.currency)
        except ValueError as exc:
            raise InvalidRequest(f"not an amount in {self._shop.currency}: {exc}") from None
        if not 0 < money.amount <= held:
            limit = Money(held, self._shop.currency)
            raise InvalidRequest(f"the amount must be more than zero and at most {limit}")
        return money.amount

    @staticmethod
    def _new_refund(
        paid: _Paid, value: int, reason: str, by: int, state: RefundState, now: datetime
    ) -> Refund:
        return Refund(
            order_id=paid.order.id,
            payment_id=paid.payment.id,
            amount=_in_payment_currency(value, paid.payment),
            currency=paid.payment.currency,
            value_amount=value,
            status=state.value,
            reason=reason,
            requested_by=by,
            created_at=now,
            updated_at=now,
        )

    @staticmethod
    def _decide(refund: Refund, target: RefundState, staff_user_id: int, now: datetime) -> None:
        check_refund_change(RefundState(refund.status), target)
        refund.status = target.value
        refund.decided_by = staff_user_id
        refund.decided_at = now
        refund.updated_at = now

    @staticmethod
    async def _after_decision(
        session: AsyncSession, refund: Refund, staff_user_id: int, now: datetime, action: str
    ) -> None:
        """The jobs a decision causes and its audit row, in the decision's transaction."""
        await session.flush()
        jobs = [
            (
                NOTIFY_CUSTOMER_REFUND,
                {"refund_id": refund.id, "decision": refund.status},
                f"refund:{refund.id}:{refund.status}",
            )
        ]
        if refund.status == RefundState.APPROVED.value:
            jobs.append((REFUND_PAYMENT, {"refund_id": refund.id}, f"refund:{refund.id}"))
        await enqueue_many(session, jobs, now=now)
        session.add(
            AuditLog(
                actor_user_id=staff_user_id,
                action=action,
                entity="refund",
                entity_id=str(refund.id),
                data={
                    "order_id": refund.order_id,
                    "value_amount": refund.value_amount,
                    "amount": refund.amount,
                    "currency": refund.currency,
                    "note": refund.note or refund.reason,
                },
                created_at=now,
            )
        )

    @staticmethod
    async def _card(session: AsyncSession, refund_id: int) -> RefundCard:
        row = (
            await session.execute(
                select(Refund, Order, Payment, User)
                .join(Order, Order.id == Refund.order_id)
                .join(Payment, Payment.id == Refund.payment_id)
                .join(User, User.id == Order.user_id)
                .where(Refund.id == refund_id)
                .execution_options(populate_existing=True)
            )
        ).one_or_none()
        if row is None:
            raise NotFound(f"no refund {refund_id}")
        refund, order, payment, user = row
        decider = await session.get(User, refund.decided_by) if refund.decided_by else None
        out = await session.scalar(
            select(func.coalesce(func.sum(Refund.value_amount), 0)).where(
                Refund.payment_id == payment.id,
                Refund.id != refund.id,
                Refund.status.in_([state.value for state in HOLDS_MONEY]),
            )
        )
        currency = order.currency
        return RefundCard(
            id=refund.id,
            status=RefundState(refund.status),
            order_id=order.id,
            number=order.number or f"#{order.id}",
            amount=Money(refund.value_amount, currency),
            order_total=Money(order.total_amount, currency),
            held=Money(max(order.total_amount - int(out or 0), 0), currency),
            gateway=payment.gateway,
            reason=refund.reason,
            note=refund.note,
            customer_name=" ".join(p for p in (user.first_name, user.last_name) if p),
            customer_username=user.username,
            customer_telegram_id=user.telegram_id,
            customer_language=user.language_code,
            to_balance=goes_to_balance(payment.gateway, refund.amount == payment.amount),
            decided_by=(
                " ".join(p for p in (decider.first_name, decider.last_name) if p)
                if decider is not None
                else None
            ),
            by_staff=refund.requested_by != order.user_id,
        )


def _in_payment_currency(value: int, payment: Payment) -> int:
    """``value`` (shop currency) in the payment's own currency: the whole payment for its
    whole worth, otherwise its share rounded half up (at least one unit)."""
    if value >= payment.value_amount:
        return payment.amount
    if payment.currency == payment.value_currency:
        return value
    share = (payment.amount * value * 2 + payment.value_amount) // (payment.value_amount * 2)
    return min(max(share, 1), payment.amount)
