"""Sending an approved refund back to the customer, through the way the money came.

Rules:
- only an ``approved`` refund is sent; a ``succeeded`` one is done and sending it again
  does nothing, so the job that sends it may run any number of times;
- Telegram Stars go back through refundStarPayment (a whole payment only); YooKassa
  through its refunds API, with ``refund:<id>`` as the idempotency key, in part or in full;
- where the money cannot go back the way it came (CryptoBot, cards through Telegram
  Payments, which have no refund API, the wallet itself, a manual payment, part of a Stars
  payment), it goes to the customer's balance: the ledger moves the refund's worth in the
  shop currency from revenue (the payment had paid an order) or from the gateway's account
  (it never went to an order), under the unique reference ``refund:<id>``, so it is
  credited once;
- a provider that is still processing the refund leaves it ``processing``: the job asks
  again later with the same key and finishes it when the provider says done;
- a mixed payment (the balance paid part of the order) refunded beyond its gateway part
  sends the gateway part back the way it came and credits the rest to the balance, in the
  transaction that marks the refund done (reference ``refund:<id>:balance``);
- when the refund of a payment that paid an order succeeds, the order's payment status
  follows in the same transaction (``partially_refunded``, or ``refunded`` once refunds
  reach its total); an order refunded in full that was not shipped yet is cancelled and its
  stock goes back on sale (goods already sent are the customer's to return by hand).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from tgshop.db.engine import Database
from tgshop.db.models import Order, Payment, Refund, User
from tgshop.domain.errors import InvalidRequest, NotFound
from tgshop.domain.ledger import REVENUE, LedgerKind, external, transfer, wallet
from tgshop.domain.money import Money
from tgshop.domain.orders import Actor, OrderStatus, PaymentStatus, plan_transition
from tgshop.domain.payments import Gateway, PaymentState
from tgshop.domain.refunds import RefundState, goes_to_balance, payment_status_after
from tgshop.services import ledger
from tgshop.services.gateway_modes import Providers
from tgshop.services.orders import write_transition
from tgshop.services.ports import Clock, ProviderError, TelegramClient


class RefundStillProcessing(ProviderError):
    """The provider accepted the refund and has not finished it: ask again later."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True)


class CannotRefund(InvalidRequest):
    """This refund cannot be sent (not approved, a partial Stars refund, no telegram bot):
    staff must look at it."""

    code = "cannot_refund"


@dataclass(frozen=True)
class SentRefund:
    refund_id: int
    amount: Money  # what the customer gets back
    to_balance: bool  # credited to the wallet rather than sent back through the gateway
    telegram_id: int
    locale: str | None
    # A mixed payment sent back through its gateway: the balance part, credited back.
    balance_part: Money | None = None
    already: bool = False  # it had been sent before: nothing happened now


class RefundService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        telegram: TelegramClient | None,
        providers: Providers,
    ) -> None:
        self._db = db
        self._clock = clock
        self._telegram = telegram
        # Each payment goes back through the credentials of the mode it was made in.
        self._providers = providers

    async def send(self, refund_id: int) -> SentRefund:
        """Send one approved refund (see module). Raises NotFound, CannotRefund,
        RefundStillProcessing, ProviderError or TelegramSendError."""
        async with self._db.read() as session:
            refund = await session.get(Refund, refund_id)
            if refund is None:
                raise NotFound(f"refund {refund_id} does not exist")
            payment = await session.get(Payment, refund.payment_id) if refund.payment_id else None
            if payment is None:
                raise CannotRefund(f"refund {refund_id} names no payment")
            user = await session.get(User, payment.user_id)
            assert user is not None  # a foreign key
            telegram_id, locale = user.telegram_id, user.language_code
            user_id = user.id
            status, amount = refund.status, Money(refund.amount, refund.currency)
            gateway, charge_id, mode = payment.gateway, payment.provider_charge_id, payment.mode
            provider_id, provider_refund_id = payment.provider_payment_id, refund.provider_refund_id
            # The order this payment paid (money that arrived too late paid none).
            paid_order = payment.order_id if payment.outcome is None else None
            paid = Money(payment.amount, payment.currency)
            worth = Money(refund.value_amount, payment.value_currency)
            # A mixed payment's balance part comes back to the balance, whatever the gateway.
            extra = Money(max(refund.value_amount - payment.value_amount, 0), worth.currency)
            payment_id, payment_status = payment.id, payment.status
        to_balance = goes_to_balance(gateway, amount == paid)
        shown = worth if to_balance else amount
        if to_balance:
            extra = Money(0, worth.currency)  # all of it goes to the balance already
        sent = SentRefund(
            refund_id, shown, to_balance, telegram_id, locale, extra if extra.amount else None
        )
        if status == RefundState.SUCCEEDED.value:
            return replace(sent, already=True)
        if status not in (RefundState.APPROVED.value, RefundState.PROCESSING.value):
            raise CannotRefund(f"refund {refund_id} is {status}, not approved")
        if payment_status != PaymentState.SUCCEEDED.value:
            raise CannotRefund(f"payment {payment_id} received no money to refund")
        if amount.currency != paid.currency or not 0 < amount.amount <= paid.amount:
            raise CannotRefund(f"refund {refund_id} asks {amount}, the payment was {paid}")
        order_id = paid_order
        if to_balance:
            async with self._db.transaction() as session:
                await ledger.post(
                    session,
                    kind=LedgerKind.REFUND,
                    reference=f"refund:{refund_id}",
                    postings=transfer(
                        REVENUE if order_id else external(gateway),
                        wallet(user_id),
                        worth.amount,
                        worth.currency,
                    ),
                    now=self._clock.now(),
                )
                await self._finish(session, refund_id, None, order_id)
            return sent
        if gateway == Gateway.STARS.value:
            if self._telegram is None:
                raise CannotRefund("TGSHOP_BOT_TOKEN is not set: Stars cannot be refunded")
            if charge_id is None:
                raise CannotRefund(f"payment {payment_id} has no Telegram charge id")
            await self._telegram.refund_star_payment(telegram_id, charge_id)
            provider_refund_id = charge_id
        else:
            provider = self._providers.get(gateway, mode)
            if provider is None or provider_id is None:
                raise CannotRefund(f"{gateway} is not set up here any more: refund it by hand")
            done = await provider.refund(
                provider_id, amount.amount, amount.currency, f"refund:{refund_id}"
            )
            provider_refund_id = done.provider_refund_id
            if not done.done:
                await self._set(refund_id, RefundState.PROCESSING, provider_refund_id)
                raise RefundStillProcessing(f"{gateway} is processing refund {provider_refund_id}")
        async with self._db.transaction() as session:
            if extra.amount:
                await ledger.post(
                    session,
                    kind=LedgerKind.REFUND,
                    reference=f"refund:{refund_id}:balance",
                    postings=transfer(REVENUE, wallet(user_id), extra.amount, extra.currency),
                    now=self._clock.now(),
                )
            await self._finish(session, refund_id, provider_refund_id, order_id)
        return sent

    async def _finish(
        self,
        session: AsyncSession,
        refund_id: int,
        provider_refund_id: str | None,
        order_id: int | None,
    ) -> None:
        """Mark the refund done and bring its order's payment status along (see module)."""
        await self._set(refund_id, RefundState.SUCCEEDED, provider_refund_id, session=session)
        if order_id is None:
            return
        order = (
            await session.execute(
                select(Order)
                .options(selectinload(Order.items))
                .where(Order.id == order_id)
                .with_for_update()
            )
        ).scalar_one()
        refunded = await session.scalar(
            select(func.coalesce(func.sum(Refund.value_amount), 0)).where(
                Refund.order_id == order_id,
                Refund.status == RefundState.SUCCEEDED.value,
                Refund.payment_id.in_(
                    select(Payment.id).where(
                        Payment.order_id == order_id, Payment.outcome.is_(None)
                    )
                ),
            )
        )
        target = payment_status_after(order.total_amount, int(refunded or 0))
        now = self._clock.now()
        if target is PaymentStatus.REFUNDED and order.status == OrderStatus.CONFIRMED.value:
            transition = plan_transition(
                OrderStatus.CONFIRMED, OrderStatus.CANCELLED, Actor.SYSTEM, target
            )
            await write_transition(
                session,
                order.id,
                transition,
                None,
                "refunded in full before it was shipped",
                now,
                payment_status=target,
                items=order.items,
            )
            return
        await session.execute(
            update(Order)
            .where(Order.id == order_id)
            .values(payment_status=target.value, updated_at=now)
            .execution_options(synchronize_session=False)
        )

    async def _set(
        self,
        refund_id: int,
        status: RefundState,
        provider_refund_id: str | None,
        *,
        session: AsyncSession | None = None,
    ) -> None:
        values: dict[str, object] = {"status": status.value, "updated_at": self._clock.now()}
        if provider_refund_id is not None:
            values["provider_refund_id"] = provider_refund_id
        statement = (
            update(Refund)
            .where(Refund.id == refund_id, Refund.status.in_(("approved", "processing")))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if session is not None:
            await session.execute(statement)
            return
        async with self._db.transaction() as own:
            await own.execute(statement)
